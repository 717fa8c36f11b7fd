"""The vocabulary: heads, prompts, edit modes and metrics, defined once for the whole package.

Everything that names a head, an edit mode or a metric reads it from here: the engine's
validation, the widgets' menus (the front end gets :func:`mode_rows` through a trait), the
command line's choices and the labels in figures and captions.

- **Heads.** :class:`Head` is a ``(layer, head)`` pair. :func:`parse_head` reads ``(3, 0)``,
  ``[3, 0]``, ``"3.0"``, ``"L3H0"``, ``"L3.H0"`` and ``"L3 H0"``; :func:`parse_heads` a list of
  them or one string (``"1.2, L0H3"``); :func:`check_head` also checks that the head exists.
  Heads are shown one way everywhere: :func:`head_label` ``"L3 H0"``.
- **Prompts.** :data:`Prompt` is a text or a list of token ids.
- **Edit modes.** :data:`MODES` in menu order: the head-output modes (``scale``, ``zero``,
  ``mean``, ``resample``, ``add``, ``inject``) and the inside-attention modes (``sink``,
  ``temperature``, ``mix``, ``window``), each with its parameter's symbol, range, step, start
  and neutral value. ``resample`` is the one name of "z replaced by z of another prompt";
  activation patching is ``resample`` from the clean prompt (``patch`` is read as ``resample``).
- **Metrics.** :data:`METRIC_KINDS`, their labels and units, :data:`DEFAULT_METRIC` and
  :func:`default_metric` (what a view measures when it is not told).

Nothing here imports torch, xarray or another headwidgets module.

Example
-------
>>> parse_head("L3H0"), parse_head("3.0"), parse_head((3, 0))
(Head(layer=3, head=0), Head(layer=3, head=0), Head(layer=3, head=0))
>>> str(Head(3, 0))
'L3 H0'
>>> [m.name for m in MODES.values() if m.site == "attention"]
['sink', 'temperature', 'mix', 'window']
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple, get_args

__all__ = [
    "ABLATION_MODES",
    "ATTENTION_MODES",
    "ATTENTION_SYMBOLS",
    "DEFAULT_METRIC",
    "DEFAULT_MODE",
    "HEAD_FORMS",
    "METRIC_KINDS",
    "METRIC_LABELS",
    "METRIC_UNITS",
    "METRIC_WORDS",
    "MODES",
    "MODE_ALIASES",
    "NEEDS_TARGET",
    "NO_INTERVENTION",
    "Z_MODES",
    "AblationMode",
    "Head",
    "MetricKind",
    "Mode",
    "Prompt",
    "Prompts",
    "Site",
    "Slider",
    "check_head",
    "check_head_list",
    "check_heads",
    "check_pair",
    "default_metric",
    "default_metrics",
    "head_label",
    "head_set",
    "mode_rows",
    "parse_head",
    "parse_heads",
]

# ======================================================================================
# Heads
# ======================================================================================

#: how a head may be written, for error messages
HEAD_FORMS = '(3, 0), [3, 0], "3.0", "L3H0", "L3.H0" or "L3 H0"'

# one head in a string: "L3H0", "L3.H0", "L3 H0" (any case) or "3.0"; nothing else
_HEAD_TEXT = re.compile(r"[Ll]\s*(\d+)\s*\.?\s*[Hh]\s*(\d+)|(\d+)\.(\d+)")
_SEPARATORS = re.compile(r"[\s,;]*")


class Head(NamedTuple):
    """One attention head: ``(layer, head)``, both counted from 0.

    A plain tuple (``layer, head = h`` and ``(3, 0) == Head(3, 0)`` work); ``str()`` gives the
    label shown everywhere, ``"L3 H0"``.

    Example
    -------
    >>> h = Head(3, 0)
    >>> h == (3, 0), h.layer, str(h)
    (True, 3, 'L3 H0')
    """

    layer: int
    head: int

    def __str__(self) -> str:
        return head_label(self.layer, self.head)

    @property
    def label(self) -> str:
        """``"L3 H0"``: the head's label (:func:`head_label`)."""
        return head_label(self.layer, self.head)


def head_label(layer: int, head: int) -> str:
    """The one way a head is shown: ``"L3 H0"`` (widgets, captions, legends, messages).

    Example
    -------
    >>> head_label(3, 0)
    'L3 H0'
    """
    return f"L{int(layer)} H{int(head)}"


def _index(value: Any) -> int:
    """An int index from an int, a numpy/torch integer or an integral float (JSON numbers)."""
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"not an integer: {value!r}")
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise TypeError(f"not an integer: {value!r}")
    return operator.index(value)


def parse_head(value: Any, what: str = "head") -> Head:
    """Read one head from any accepted form; raise ValueError saying which forms are valid.

    Accepted: a :class:`Head`, a pair of ints (``(3, 0)``, ``[3, 0]``, numpy ints, integral
    floats), or a string ``"3.0"``, ``"L3H0"``, ``"L3.H0"``, ``"L3 H0"`` (any case, spaces
    around the parts allowed). Negative indices are refused.

    Example
    -------
    >>> parse_head("L3.H0")
    Head(layer=3, head=0)
    >>> parse_head("3")
    Traceback (most recent call last):
    ...
    ValueError: cannot read head '3': write a head as (3, 0), [3, 0], "3.0", "L3H0", "L3.H0" or "L3 H0"
    """  # noqa: E501
    if isinstance(value, Head):
        return value
    if isinstance(value, str):
        match = _HEAD_TEXT.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"cannot read {what} {value!r}: write a head as {HEAD_FORMS}")
        groups = [g for g in match.groups() if g is not None]
        return Head(int(groups[0]), int(groups[1]))
    try:
        layer, head = value
        pair = Head(_index(layer), _index(head))
    except (TypeError, ValueError):
        raise ValueError(
            f"a {what} is a (layer, head) pair of ints, got {value!r}; write a head as {HEAD_FORMS}"
        ) from None
    return pair


def parse_heads(values: str | Iterable[Any], what: str = "head") -> list[Head]:
    """Read several heads: an iterable of heads, or one string such as ``"1.2, L0H3 L2 H1"``.

    In a string, heads are separated by commas, semicolons or spaces. Order and duplicates are
    kept (:func:`check_heads` drops duplicates).

    Example
    -------
    >>> parse_heads("1.2,0.3")
    [Head(layer=1, head=2), Head(layer=0, head=3)]
    >>> parse_heads("L1 H2 L0H3")
    [Head(layer=1, head=2), Head(layer=0, head=3)]
    >>> parse_heads([(1, 2), "0.3"])
    [Head(layer=1, head=2), Head(layer=0, head=3)]
    """
    if isinstance(values, str):
        heads: list[Head] = []
        end = 0
        for match in _HEAD_TEXT.finditer(values):
            gap = values[end : match.start()]
            if not _SEPARATORS.fullmatch(gap) or (heads and not gap):
                break
            groups = [g for g in match.groups() if g is not None]
            heads.append(Head(int(groups[0]), int(groups[1])))
            end = match.end()
        rest = values[end:]
        if not _SEPARATORS.fullmatch(rest) or (not heads and values.strip()):
            bad = (rest if heads else values).strip(" ,;")
            raise ValueError(
                f"cannot read {what} {bad.split(',')[0].strip()!r} in {values!r}: write heads as "
                '"3.0", "L3H0", "L3.H0" or "L3 H0", separated by commas or spaces'
            )
        return heads
    if isinstance(values, Mapping) or not isinstance(values, Iterable):
        raise ValueError(f"heads are a list of {what}s ({HEAD_FORMS}), got {values!r}")
    return [parse_head(value, what) for value in values]


def _span(values: Sequence[int]) -> str:
    """``'0..3'`` for a contiguous range, else the list."""
    items = [int(v) for v in values]
    if items and items == list(range(items[0], items[0] + len(items))):
        return f"{items[0]}..{items[-1]}"
    return str(items)


def check_head(
    value: Any,
    layers: int | Sequence[int],
    heads: int | Sequence[int],
    what: str = "head",
    *,
    missing: str = "does not exist",
) -> Head:
    """:func:`parse_head`, then check the head exists; the error names the valid range.

    ``layers`` and ``heads`` are counts (a model's ``n_layers``, ``n_heads``) or the valid
    labels (a cube's coordinates). ``missing`` words the error: ``"does not exist"`` (a label
    a cube does not have) or ``"is out of range"`` (an index past a model's size).

    Example
    -------
    >>> check_head("1.2", 2, 4)
    Head(layer=1, head=2)
    >>> check_head((5, 0), range(2), range(4))
    Traceback (most recent call last):
    ...
    ValueError: unknown head (5, 0): layer 5 does not exist; valid layers are 0..1
    """
    pair = parse_head(value, what)
    valid_layers = range(layers) if isinstance(layers, int) else layers
    valid_heads = range(heads) if isinstance(heads, int) else heads
    if pair.layer not in valid_layers:
        raise ValueError(
            f"unknown head ({pair.layer}, {pair.head}): layer {pair.layer} {missing}; "
            f"valid layers are {_span(valid_layers)}"
        )
    if pair.head not in valid_heads:
        raise ValueError(
            f"unknown head ({pair.layer}, {pair.head}): head {pair.head} {missing}; "
            f"valid heads are {_span(valid_heads)}"
        )
    return pair


def check_pair(
    layer: Any,
    head: Any,
    n_layers: int | None = None,
    n_heads: int | None = None,
    heads: str = "heads",
    what: str = "",
) -> None:
    """Raise unless ``(layer, head)`` names a head: ints >= 0, and within the model's range
    where ``n_layers`` / ``n_heads`` are given.

    ``heads`` names the heads counted by ``n_heads`` in the message (``"query heads"``,
    ``"key/value heads"``); ``what`` names the edit (``"in a k edit"``). Every edit spec checks
    its head with it (type and sign when it is built, the range when it is compiled for a
    model), so every edit says the same thing in the same words.

    Example
    -------
    >>> check_pair(1, 7, n_layers=2, n_heads=4)
    Traceback (most recent call last):
    ...
    ValueError: unknown head (1, 7): head 7 is out of range; valid heads are 0..3
    >>> check_pair(0, 2, n_layers=2, n_heads=2, heads="key/value heads", what="in a k edit")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown head (0, 2) in a k edit: ...; valid key/value heads are 0..1
    """
    for name, value in (("layer", layer), ("head", head)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    where = f"unknown head ({layer}, {head})" + (f" {what}" if what else "")
    if n_layers is not None and layer >= n_layers:
        raise ValueError(
            f"{where}: layer {layer} is out of range; valid layers are 0..{n_layers - 1}"
        )
    if n_heads is not None and head >= n_heads:
        raise ValueError(
            f"{where}: head {head} is out of range; valid {heads} are 0..{n_heads - 1}"
        )


def check_heads(
    values: str | Iterable[Any],
    layers: int | Sequence[int],
    heads: int | Sequence[int],
    what: str = "head",
    *,
    missing: str = "does not exist",
) -> list[Head]:
    """:func:`check_head` for each head; duplicates dropped, the first keeps its place.

    Example
    -------
    >>> check_heads([(1, 2), "L0H3", "1.2"], 2, 4)
    [Head(layer=1, head=2), Head(layer=0, head=3)]
    """
    out: list[Head] = []
    for value in parse_heads(values, what) if isinstance(values, str) else values:
        pair = check_head(value, layers, heads, what, missing=missing)
        if pair not in out:
            out.append(pair)
    return out


def head_set(heads: Any, what: str = "head") -> list[Head]:
    """The distinct heads of ``heads``, sorted: None (no heads), an ``Intervention`` (its
    ``heads``), a table with ``layer`` and ``head`` columns (``top_heads``), a string
    (:func:`parse_heads`) or an iterable of heads in any form :func:`parse_head` reads.

    Example
    -------
    >>> head_set([(1, 2), "0.3", "L1H2"])
    [Head(layer=0, head=3), Head(layer=1, head=2)]
    >>> head_set(None)
    []
    """
    if heads is None:
        return []
    if hasattr(heads, "columns"):  # a table (pandas DataFrame) of heads
        missing = {"layer", "head"} - set(heads.columns)
        if missing:
            raise ValueError(f"a head table needs columns 'layer' and 'head'; missing {missing}")
        heads = list(zip(heads["layer"], heads["head"], strict=True))
    elif hasattr(heads, "heads") and not isinstance(heads, (set, frozenset, list, tuple)):
        heads = heads.heads  # an Intervention
    try:
        return sorted(set(parse_heads(heads, what)))
    except ValueError as err:
        raise ValueError(f"heads are (layer, head) pairs: {err}") from None


def check_head_list(heads: Any, n_layers: int, n_heads: int) -> list[Head]:
    """:func:`head_set` of a model's heads, every one checked at once: the error lists all
    the heads that do not exist and the valid ranges.

    Example
    -------
    >>> check_head_list([(1, 0), (0, 9), (5, 0)], 2, 4)
    Traceback (most recent call last):
    ...
    ValueError: unknown heads [(0, 9), (5, 0)]; valid layers are 0..1, heads 0..3
    """
    pairs = head_set(heads)
    if not pairs:
        raise ValueError("heads is empty; pass (layer, head) pairs or None for every head")
    bad = [(p.layer, p.head) for p in pairs if not (p.layer < n_layers and p.head < n_heads)]
    if bad:
        raise ValueError(
            f"unknown heads {bad}; valid layers are 0..{n_layers - 1}, heads 0..{n_heads - 1}"
        )
    return pairs


# ======================================================================================
# Prompts and the empty intervention
# ======================================================================================

#: a prompt: its text, or its token ids
Prompt = str | Sequence[int]
#: one prompt or several
Prompts = Prompt | Sequence[Prompt]

#: the JSON of the intervention that edits nothing (``Intervention().to_json()``)
NO_INTERVENTION = '{"edits":[]}'

# ======================================================================================
# Edit modes
# ======================================================================================

Site = Literal["z", "attention"]


@dataclass(frozen=True)
class Slider:
    """The parameter of a mode, as a slider: its symbol, range, start value, neutral value.

    ``neutral`` is the value at which the edit changes nothing, None when no value does (a
    ``window`` hides keys of long prompts at any width).
    """

    symbol: str
    low: float
    high: float
    start: float
    neutral: float | None
    step: float = 0.01


@dataclass(frozen=True)
class Mode:
    """One edit mode as the controls offer it.

    Attributes
    ----------
    name
        The mode's name (a ``HeadEdit`` mode for site ``"z"``, an ``AttentionEdit`` kind for
        site ``"attention"``).
    site
        ``"z"`` (the head output) or ``"attention"`` (inside the head's attention).
    summary
        What the mode does, in one line.
    slider
        Its parameter (α, β, τ, t, w); None: the mode has none.
    needs
        What the mode needs besides the head ('' = nothing): ``reference`` prompts,
        a ``source`` prompt, steering ``vector``\\ s or few-shot ``task_prompts``.
    value
        The ``alpha`` a control of a mode without a slider carries (``zero``: 0).
    """

    name: str
    site: Site
    summary: str
    slider: Slider | None = None
    needs: str = ""
    value: float = 1.0

    @property
    def start(self) -> float:
        """The ``alpha`` of a control when this mode is picked."""
        return self.slider.start if self.slider is not None else self.value

    @property
    def neutral(self) -> float | None:
        """The ``alpha`` at which the edit changes nothing (None: every value edits)."""
        return self.slider.neutral if self.slider is not None else None


_WINDOW = Slider("w", 1, 64, 64, None, step=1)  # the window's width: whole keys
_INJECT = Slider("α", 0, 1, 0, 0)
#: every mode the controls offer, in menu order; the first is the default (α = 1: untouched)
MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("scale", "z", "α·z: 0 ablates, <1 dampens, >1 amplifies", Slider("α", -1, 3, 1, 1)),
        Mode("zero", "z", "z = 0 (the same as scale 0)", value=0.0),
        Mode("mean", "z", "z replaced by its mean over reference prompts", needs="reference"),
        Mode("resample", "z", "z replaced by the z of another prompt", needs="source"),
        Mode("add", "z", "z + α·v, v a steering vector", Slider("α", -3, 3, 0, 0), "vector"),
        Mode("inject", "z", "(1 − α)·z + α·ē, ē: few-shot mean", _INJECT, "task_prompts"),
        Mode("sink", "attention", "attention to the first token × β", Slider("β", 0, 2, 1, 1)),
        Mode("temperature", "attention", "softmax(logits / τ)", Slider("τ", 0.05, 4, 1, 1)),
        Mode("mix", "attention", "the pattern mixed toward the identity", Slider("t", 0, 1, 0, 0)),
        Mode("window", "attention", "only the first key and the last w keys visible", _WINDOW),
    )
}
#: the mode a new control starts in (at its neutral value: the head untouched)
DEFAULT_MODE = "scale"
#: the head-output modes (``HeadEdit`` modes) the controls offer
Z_MODES: tuple[str, ...] = tuple(m.name for m in MODES.values() if m.site == "z")
#: the inside-attention modes the controls offer
ATTENTION_MODES: tuple[str, ...] = tuple(m.name for m in MODES.values() if m.site == "attention")
AblationMode = Literal["zero", "mean", "resample", "scale"]
#: the modes of a single-head sweep (``hm.sweep``, ``headwidgets sweep --mode``)
ABLATION_MODES: tuple[str, ...] = get_args(AblationMode)
#: other names read as a mode: ``patch`` is resampling from the clean prompt
MODE_ALIASES: dict[str, str] = {"patch": "resample"}
#: the symbol of each inside-attention edit kind's value (``reweight`` has no control)
ATTENTION_SYMBOLS: dict[str, str] = {
    **{m.name: m.slider.symbol for m in MODES.values() if m.slider and m.site == "attention"},
    "reweight": "g",
}


_SLIDER = ("symbol", "low", "high", "step")


def mode_rows(**overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The modes as JSON rows for the front end, in menu order; ``overrides`` per mode.

    Each row: ``mode``, ``site``, ``summary``, ``needs``, the slider's ``symbol``, ``low``,
    ``high``, ``step`` (None without a slider), ``start`` and ``neutral``.

    Example
    -------
    >>> mode_rows(scale={"low": -2.0})[0]["low"]
    -2.0
    """
    rows = []
    for mode in MODES.values():
        slider = asdict(mode.slider) if mode.slider is not None else dict.fromkeys(_SLIDER)
        row: dict[str, Any] = {"mode": mode.name, "site": mode.site, "summary": mode.summary}
        row["needs"] = mode.needs
        row.update(slider, start=mode.start, neutral=mode.neutral)
        rows.append({**row, **overrides.get(mode.name, {})})
    return rows


# ======================================================================================
# Metrics
# ======================================================================================

MetricKind = Literal["logit_diff", "prob", "logprob", "loss", "kl", "accuracy", "rank"]
#: every metric kind
METRIC_KINDS: tuple[str, ...] = get_args(MetricKind)
#: what each metric is called in views and legends
METRIC_LABELS: dict[str, str] = {
    "logit_diff": "logit diff",
    "prob": "target prob",
    "logprob": "target log-prob",
    "loss": "loss",
    "kl": "KL vs baseline",
    "accuracy": "accuracy",
    "rank": "target rank",
}
#: each metric in words, for figure labels (``logit_diff(' Mary' - ' John')`` reads
#: ``logit difference ' Mary' − ' John'``)
METRIC_WORDS: dict[str, str] = {
    "logit_diff": "logit difference",
    "logprob": "log-probability of",
    "prob": "probability of",
    "loss": "loss",
    "kl": "KL divergence",
    "accuracy": "accuracy",
    "rank": "rank of",
}
#: each metric's units (the cubes' ``units`` attr)
METRIC_UNITS: dict[str, str] = {
    "logit_diff": "logit",
    "prob": "probability",
    "logprob": "nats",
    "loss": "nats",
    "kl": "nats",
    "accuracy": "fraction",
    "rank": "rank",
}
#: the metrics that need a target token
NEEDS_TARGET: frozenset[str] = frozenset({"logit_diff", "prob", "logprob", "accuracy", "rank"})
#: THE default metric where one is needed and a target and distractor are known
DEFAULT_METRIC: MetricKind = "logit_diff"


def default_metric(target: object, distractor: object) -> MetricKind:
    """The metric to measure when none is named: what the given tokens allow.

    ``logit_diff`` with a target and a distractor, ``prob`` with a target only, else ``loss``.

    Example
    -------
    >>> default_metric(" Mary", " John"), default_metric(" Mary", None), default_metric(None, None)
    ('logit_diff', 'prob', 'loss')
    """
    if target is not None and distractor is not None:
        return DEFAULT_METRIC
    if target is not None:
        return "prob"
    return "loss"


def default_metrics(target: object, distractor: object) -> list[MetricKind]:
    """The metrics a view shows when none are named: :func:`default_metric` first (when it
    needs a target, so the target's probability too), then the loss and the KL.

    Example
    -------
    >>> default_metrics(" Mary", " John")
    ['logit_diff', 'prob', 'loss', 'kl']
    >>> default_metrics(None, None)
    ['loss', 'kl']
    """
    kinds: list[MetricKind] = []
    if target is not None and distractor is not None:
        kinds.append("logit_diff")
    if target is not None:
        kinds.append("prob")
    return [*kinds, "loss", "kl"]
