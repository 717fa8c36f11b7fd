"""Attention-statistic scores: every head from ONE forward pass, reduced layer by layer.

The model runs once per batch of prompts with eager attention switched on for that call only
(``hm.capture_patterns``); each layer's probabilities are reduced on the device as soon as the
layer has computed them and then dropped, so the extra memory is about one layer of attention
probabilities. The statistics themselves are the pure functions of :mod:`.reductions`.

A single prompt gives a (layer, head) cube, a list of prompts adds a ``prompt`` dim (or pass
``reduce="mean"``/``"median"``); ``per_query=True`` keeps the query positions.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> cubes = hw.scores.pattern_scores(
...     hm, hw.datasets.repeated_tokens(hm), names=["induction", "previous_token"], reduce="mean"
... )
>>> cubes["induction"].dims
('layer', 'head')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from headwidgets.scores import _run
from headwidgets.scores._run import PaddingSide, Prompt, Reduce
from headwidgets.scores.raw_patterns import attention
from headwidgets.scores.statistics import (
    DEFAULT_STATISTICS,
    STATISTIC_INFO,
    STATISTICS,
    Statistic,
    layer_reducers,
    repeat_period,
)

if TYPE_CHECKING:
    import xarray as xr


__all__ = [
    "STATISTICS",
    "attention",
    "attention_distance",
    "duplicate_token",
    "entropy",
    "future_influence",
    "induction",
    "pattern_scores",
    "previous_token",
    "repeat_period",
    "self_attention",
    "sink",
    "token_set",
]


def pattern_scores(
    hm: Any,
    prompts: Prompt | Sequence[Prompt],
    names: Sequence[Statistic] = DEFAULT_STATISTICS,  # type: ignore[assignment]
    *,
    per_query: bool = False,
    reduce: Reduce | None = None,
    period: int | None = None,
    window: int = 64,
    tokens: Iterable[int | str] | None = None,
    batch_size: int = 16,
    padding_side: PaddingSide | None = None,
    progress: bool | None = None,
) -> dict[str, xr.DataArray]:
    """Several attention statistics of every head from ONE forward pass per batch.

    Parameters
    ----------
    hm
        A bound :class:`~headwidgets.model.HeadModel`.
    prompts
        A prompt (text or token ids) or a list of prompts (adds a ``prompt`` dim).
    names
        Statistics among :data:`STATISTICS` (see METHODS.md); ``induction`` and
        ``duplicate_token`` need BOS + R + R prompts, ``token_set`` needs ``tokens``.
    per_query
        Keep query positions (``future_influence``: key positions) instead of averaging.
    reduce
        ``"mean"`` or ``"median"`` over prompts (NaN-aware) instead of a ``prompt`` dim.
    period
        Length of R for induction/duplicate_token (default: inferred from each prompt).
    window
        Distance cap W of ``attention_distance``.
    tokens
        ``token_set``'s S: key positions (int, negative from the end) and/or token texts
        (compared without surrounding whitespace).
    batch_size, padding_side, progress
        Prompts per forward, ``"left"``/``"right"`` (default: the tokenizer's), tqdm bar
        (default: on when there is more than one batch).

    Returns
    -------
    dict of str to xarray.DataArray
        One cube per statistic, named after it.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> cubes = pattern_scores(hm, ["Mary and John", "Monday Tuesday"], names=["sink", "self"])
    >>> cubes["sink"].dims
    ('layer', 'head', 'prompt')
    """
    names = list(dict.fromkeys(names))
    prompt_list, single = _run.as_prompt_list(prompts)
    rows = [_run.encode(hm, p) for p in prompt_list]
    reducers = layer_reducers(hm, rows, names, period, window, tokens)
    values = _run.stream(hm, rows, reducers, batch_size, padding_side, progress)
    out: dict[str, xr.DataArray] = {}
    for name in names:
        info = STATISTIC_INFO[name]
        params: dict[str, Any] = {"per_query": per_query, "n_prompts": len(rows)}
        if name == "attention_distance":
            params["window"] = window
        if name in ("induction", "duplicate_token"):
            params["period"] = period
        if name == "token_set":
            params["tokens"] = list(tokens or [])
        attrs = _run.score_attrs(
            hm,
            f"attention statistic {name}",
            info.long_name,
            info.units,
            prompts=prompts,
            **params,
        )
        out[name] = _run.position_cube(
            values[name], rows, single, name, attrs, per_query, info.axis, reduce
        )
    return out


def _one(name: Statistic, hm: Any, prompts: Any, **kwargs: Any) -> xr.DataArray:
    return pattern_scores(hm, prompts, names=[name], **kwargs)[name]


def previous_token(hm: Any, prompts: Prompt | Sequence[Prompt], **kwargs: Any) -> xr.DataArray:
    """Previous-token score ``A[q, q-1]`` (q ≥ 1) of every head; keywords as in
    :func:`pattern_scores`.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> previous_token(hm, "a b c d").dims
    ('layer', 'head')
    """
    return _one("previous_token", hm, prompts, **kwargs)


def _repeated(hm: Any, prompts: Any) -> Any:
    if prompts is not None:
        return prompts
    from headwidgets.datasets import repeated_tokens

    return repeated_tokens(hm)


def induction(
    hm: Any, prompts: Prompt | Sequence[Prompt] | None = None, **kwargs: Any
) -> xr.DataArray:
    """Induction score on BOS + R + R: ``A[q, q-n+1]`` for q in the second copy.

    ``prompts=None`` uses ``hw.datasets.repeated_tokens(hm)`` (8 prompts, ``prompt`` dim);
    keywords as in :func:`pattern_scores` (``period``, ``reduce``, ``per_query``, ...).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> induction(hm, reduce="mean").attrs["reduce"]
    'mean over 8 prompts'
    """
    return _one("induction", hm, _repeated(hm, prompts), **kwargs)


def duplicate_token(
    hm: Any, prompts: Prompt | Sequence[Prompt] | None = None, **kwargs: Any
) -> xr.DataArray:
    """Duplicate-token score on BOS + R + R: ``A[q, q-n]`` for q in the second copy.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> duplicate_token(hm, "a b c a b c").dims
    ('layer', 'head')
    """
    return _one("duplicate_token", hm, _repeated(hm, prompts), **kwargs)


def sink(hm: Any, prompts: Prompt | Sequence[Prompt], **kwargs: Any) -> xr.DataArray:
    """Attention-sink score ``A[q, 0]`` (q ≥ 1 for causal models).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> sink(hm, "a b c", per_query=True).dims
    ('layer', 'head', 'query')
    """
    return _one("sink", hm, prompts, **kwargs)


def self_attention(hm: Any, prompts: Prompt | Sequence[Prompt], **kwargs: Any) -> xr.DataArray:
    """Self-attention score ``A[q, q]`` (q ≥ 1 for causal models); the cube is named ``self``.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> self_attention(hm, "a b c").name
    'self'
    """
    return _one("self", hm, prompts, **kwargs)


def entropy(
    hm: Any, prompts: Prompt | Sequence[Prompt], normalized: bool = False, **kwargs: Any
) -> xr.DataArray:
    """Attention entropy in nats; ``normalized=True`` divides by log(number of keys) (cube
    ``normalized_entropy``).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> float(entropy(hm, "a b c", normalized=True).max()) <= 1.0
    True
    """
    return _one("normalized_entropy" if normalized else "entropy", hm, prompts, **kwargs)


def attention_distance(
    hm: Any, prompts: Prompt | Sequence[Prompt], window: int = 64, **kwargs: Any
) -> xr.DataArray:
    """Mean attended distance ``Σ_k A[q,k] min(q-k, window)`` (q ≥ 1 for causal models).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> float(attention_distance(hm, "a b c d", window=2).max()) <= 2.0
    True
    """
    return _one("attention_distance", hm, prompts, window=window, **kwargs)


def future_influence(hm: Any, prompts: Prompt | Sequence[Prompt], **kwargs: Any) -> xr.DataArray:
    """Per key k, the mean over q > k of ``A[q, k]``; ``per_query=True`` keeps a ``key`` dim.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> future_influence(hm, "a b c", per_query=True).dims
    ('layer', 'head', 'key')
    """
    return _one("future_influence", hm, prompts, **kwargs)


def token_set(
    hm: Any, prompts: Prompt | Sequence[Prompt], tokens: Iterable[int | str], **kwargs: Any
) -> xr.DataArray:
    """Attention to a set S of positions (int) or tokens (text): ``Σ_{k∈S} A[q, k]``.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> token_set(hm, "When Mary and John went", tokens=["Mary", "John"]).dims
    ('layer', 'head')
    """
    return _one("token_set", hm, prompts, tokens=tokens, **kwargs)


self = self_attention  # ``hw.scores.self(...)``: the METHODS.md name (not a keyword)
