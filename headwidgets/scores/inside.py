"""Reads inside attention as cubes: q, k, v, logits and patterns of chosen heads, and the
rotary-frequency split of attention logits (METHODS.md, "Inside attention").

Everything is read in ONE forward pass through headwidgets' attention function
(``interventions/attention.py``): the user's kernel does the attention (sdpa stays sdpa) and
only the chosen heads' logits and patterns are computed, never every head's. Inside
``with hm.intervene(spec):`` the reads see the edited q, k, v and the edited patterns.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> cubes = hm.capture("ba be bi ba be bi", ["q", "pattern"], heads=[(1, 0)])
>>> cubes["q"].dims, cubes["pattern"].dims
(('layer', 'head', 'query', 'dim'), ('layer', 'head', 'query', 'key'))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from headwidgets.interventions import PatternKind
from headwidgets.scores import _run

if TYPE_CHECKING:
    import torch
    import xarray as xr

__all__ = ["READS", "attention_sweep", "capture", "qk_frequency"]

Read = Literal["q", "k", "v", "logits", "pattern"]
READS: tuple[str, ...] = ("q", "k", "v", "logits", "pattern")
_LONG = {
    "q": "query vectors after rotary embeddings",
    "k": "key vectors (per key/value head) after rotary embeddings",
    "v": "value vectors (per key/value head)",
    "logits": "attention logits q·k·scaling (masked keys: -inf)",
    "pattern": "attention probabilities",
}


def capture(
    hm: Any,
    prompt: str,
    what: Sequence[str] = READS,
    heads: Iterable[tuple[int, int]] | None = None,
) -> dict[str, xr.DataArray]:
    """q, k, v, logits and patterns of chosen query heads, one cube per read.

    Parameters
    ----------
    hm
        The bound model (a model type with the inside-attention site).
    prompt
        One prompt.
    what
        Any of ``"q"``, ``"k"``, ``"v"``, ``"logits"``, ``"pattern"``.
    heads
        Query heads (layer, head); default all. ``k`` and ``v`` cubes hold the key/value
        heads these query heads read (``head`` is then a key/value head: attr ``head_kind``).

    Returns
    -------
    dict of xarray.DataArray
        ``q``: (layer, head, query, dim); ``k``, ``v``: (layer, head, key, dim); ``logits``,
        ``pattern``: (layer, head, query, key). Cells of heads not asked for are NaN;
        ``token`` (and ``key_token``) coords give the text of each position.
    """
    import torch

    from headwidgets.cubes import make_cube

    unknown = [w for w in what if w not in READS]
    if unknown or not what:
        raise ValueError(f"unknown reads {unknown}; valid reads: {', '.join(READS)}")
    chosen = _run.head_list(hm, heads)
    rep = hm.n_heads // hm.n_kv_heads
    tok = hm.tokenize(prompt)
    n_pos = len(tok)
    per_layer: dict[int, list[int]] = {}
    for layer, head in chosen:
        per_layer.setdefault(layer, []).append(head)
    shapes = {
        "q": (hm.n_layers, hm.n_heads, n_pos, hm.head_dim),
        "k": (hm.n_layers, hm.n_kv_heads, n_pos, hm.head_dim),
        "v": (hm.n_layers, hm.n_kv_heads, n_pos, hm.head_dim),
        "logits": (hm.n_layers, hm.n_heads, n_pos, n_pos),
        "pattern": (hm.n_layers, hm.n_heads, n_pos, n_pos),
    }
    grids = {w: np.full(shapes[w], np.nan, dtype=np.float32) for w in what}

    def read(layer: int, call: Any) -> None:
        q_heads = per_layer[layer]
        kv_heads = sorted({head // rep for head in q_heads})
        for name, value, index in (("q", call.q, q_heads), ("k", call.k, kv_heads)):
            if name in grids:
                grids[name][layer, index] = _numpy(value[0, index])
        if "v" in grids:
            grids["v"][layer, kv_heads] = _numpy(call.v[0, kv_heads])
        if "logits" in grids or "pattern" in grids:
            logits, probs = call.pattern(q_heads)
            if "logits" in grids:
                grids["logits"][layer, q_heads] = _numpy(logits[0])
            if "pattern" in grids:
                grids["pattern"][layer, q_heads] = _numpy(probs[0])

    with torch.no_grad(), hm.capture_attention(read, layers=sorted(per_layer)):
        hm.forward(tok.input_ids)
    tokens = np.asarray(tok.tokens, dtype=str)
    out: dict[str, xr.DataArray] = {}
    for name, grid in grids.items():
        positions = "key" if name in ("k", "v") else "query"
        if name in ("logits", "pattern"):
            dims: tuple[str, ...] = ("layer", "head", "query", "key")
            coords: dict[str, Any] = {"token": ("query", tokens), "key_token": ("key", tokens)}
        else:
            dims = ("layer", "head", positions, "dim")
            coords = {"token": (positions, tokens)}
        coords["prompt_text"] = prompt
        attrs = _run.score_attrs(
            hm,
            f"read inside attention: {name}",
            _LONG[name],
            "probability" if name == "pattern" else "activation",
            extra={"head_kind": "key/value head" if name in ("k", "v") else "query head"},
            heads=[list(h) for h in chosen],
        )
        out[name] = make_cube(grid, dims, coords, name, attrs)
    return out


def _numpy(t: torch.Tensor) -> np.ndarray:
    return np.asarray(t.detach().float().cpu().numpy())


# ======================================================================================
# qk_frequency: the share of each rotary frequency pair in a head's attention logit
# ======================================================================================

_HALF = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "phi3", "gpt_neox")
"""Model types whose rotary embedding pairs dimension i with i + R/2 (``rotate_half``)."""
_INTERLEAVED = ("gptj",)
"""Model types whose rotary embedding pairs dimensions 2i and 2i + 1."""


def rotary_pairs(hm: Any) -> tuple[np.ndarray, int]:
    """The rotary frequency index of each of a head's dims, and the number of frequencies.

    Dims past the rotary part (partial rotary embeddings) get index F (the non-rotary part).
    Raises ValueError for models without rotary embeddings, naming those with them.
    """
    from headwidgets.architectures import text_config

    model_type = hm.layout.model_type
    config = text_config(hm.model.config)
    head_dim = hm.head_dim
    if model_type in _INTERLEAVED:
        rotary = int(getattr(config, "rotary_dim", None) or head_dim)
        index = np.arange(head_dim) // 2
    elif model_type in _HALF:
        rope = getattr(config, "rope_parameters", None) or {}
        factor = rope.get("partial_rotary_factor", None) if isinstance(rope, dict) else None
        factor = factor or getattr(config, "partial_rotary_factor", None) or 1.0
        rotary = int(head_dim * float(factor))
        index = np.arange(head_dim) % max(rotary // 2, 1)
    else:
        raise ValueError(
            f"qk_frequency needs rotary position embeddings; {model_type!r} has none. "
            f"Model types with them: {', '.join(sorted(_HALF + _INTERLEAVED))}"
        )
    n_freq = rotary // 2
    index = np.where(np.arange(head_dim) < rotary, index, n_freq)
    return index, n_freq


def qk_frequency(
    hm: Any,
    prompt: str,
    pairs: Sequence[tuple[int, int]] | None = None,
    heads: Iterable[tuple[int, int]] | None = None,
) -> xr.DataArray:
    """Share of each rotary frequency pair f in a head's attention logit q·k.

    q·k = Σ_f q_f·k_f over the rotary frequency pairs f (plus the non-rotary dims of
    partial rotary embeddings, the last ``frequency``); the share of f is
    ``q_f·k_f / q·k``, averaged over the (query, key) ``pairs`` (default: every query with
    every key it sees, k ≤ q). Frequency 0 rotates fastest.

    Returns
    -------
    xarray.DataArray
        (layer, head, frequency) cube named ``qk_frequency``; attr ``non_rotary`` says
        whether the last frequency holds non-rotary dims.

    Example
    -------
    >>> import headwidgets as hw
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> tokenizer = hw.load("induction-2l").tokenizer         # a rotary model of our own:
    >>> config = LlamaConfig(num_hidden_layers=1, num_attention_heads=2, hidden_size=16,
    ...                      intermediate_size=32, vocab_size=len(tokenizer))
    >>> hm = hw.bind(LlamaForCausalLM(config), tokenizer)
    >>> cube = hw.scores.qk_frequency(hm, "ba be bi ba be bi")
    >>> cube.dims, cube.sizes["frequency"]
    (('layer', 'head', 'frequency'), 4)
    """
    import torch

    from headwidgets.cubes import make_cube

    index, n_freq = rotary_pairs(hm)
    non_rotary = bool((index == n_freq).any())
    n_buckets = n_freq + int(non_rotary)
    chosen = _run.head_list(hm, heads)
    n_pos = len(hm.tokenize(prompt))
    if pairs is None:
        pairs = [(q, k) for q in range(n_pos) for k in range(q + 1)]
    bad = [p for p in pairs if not (0 <= p[0] < n_pos and 0 <= p[1] < n_pos)]
    if bad or not pairs:
        raise ValueError(
            f"pairs {bad[:3]} are out of range: (query, key) positions are 0..{n_pos - 1}"
        )
    queries = torch.tensor([p[0] for p in pairs])
    keys = torch.tensor([p[1] for p in pairs])
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(index), n_buckets).float()  # (D, F)
    read = capture(hm, prompt, ("q", "k"), chosen)
    rep = hm.n_heads // hm.n_kv_heads
    values = np.full((len(chosen), n_buckets), np.nan, dtype=np.float32)
    for row, (layer, head) in enumerate(chosen):
        q = torch.from_numpy(read["q"].values[layer, head])[queries]  # (P, D)
        k = torch.from_numpy(read["k"].values[layer, head // rep])[keys]
        parts = (q * k) @ one_hot  # (P, F)
        share = parts / parts.sum(dim=-1, keepdim=True)
        values[row] = share.mean(dim=0).numpy()
    attrs = _run.score_attrs(
        hm,
        "share of each rotary frequency pair f in q·k: q_f·k_f / q·k, mean over pairs",
        "share of the attention logit",
        "fraction",
        non_rotary=non_rotary,
        n_pairs=len(pairs),
        heads=[list(h) for h in chosen],
    )
    grid = _run.head_grid(hm, chosen, values)
    coords = {"frequency": np.arange(n_buckets), "prompt_text": prompt}
    return make_cube(grid, ("layer", "head", "frequency"), coords, "qk_frequency", attrs)


# ======================================================================================
# attention_sweep: one pattern edit of every head at every value, one batched pass
# ======================================================================================


def attention_sweep(
    hm: Any,
    prompt: str | Sequence[str],
    metric: Any,
    kind: PatternKind = "sink",
    values: Sequence[float] = (0.0, 0.5, 1.0, 2.0),
    heads: Iterable[tuple[int, int]] | None = None,
    *,
    reduce: _run.Reduce | None = None,
    progress: bool | None = None,
    **options: Any,
) -> xr.DataArray:
    """metric(one head's pattern edited at value v) − metric(clean): a (layer, head, scale)
    cube, every head × every value in ONE batched pass per prompt (a ZeroTuning-style
    sink β cube with the defaults).

    Parameters
    ----------
    kind, values
        The pattern edit (``"sink"``, ``"temperature"``, ``"reweight"``, ``"mix"``,
        ``"window"``) and its parameter values (the ``scale`` coord).
    options
        The edit's other arguments: ``keys=`` (reweight), ``toward=`` (mix), ``sinks=``
        (window), ``positions=`` (query positions).
    metric, prompt, reduce, progress
        As for :func:`~headwidgets.scores.ablation_effect` (a list of prompts adds a
        ``prompt`` dim, or is reduced with ``reduce="mean"``/``"median"``).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> m = hw.Metric("logit_diff", target=" Mary", distractor=" John")
    >>> cube = hw.scores.attention_sweep(
    ...     hm, "When Mary and John went to the store, John gave a drink to", m, "sink", [0.0, 1.0]
    ... )
    >>> cube.dims, float(abs(cube.sel(scale=1.0)).max()) < 1e-4
    (('layer', 'head', 'scale'), True)
    """
    from headwidgets.cubes import make_cube
    from headwidgets.interventions import Intervention
    from headwidgets.interventions.attention_edits import edits
    from headwidgets.metrics import as_metric

    given, single = _run.as_prompt_list(prompt)
    prompts = [p for p in given if isinstance(p, str)]
    if len(prompts) != len(given):
        raise TypeError("attention_sweep takes prompts as text (the engine tokenizes them)")
    metrics = [as_metric(m) for m in _run.per_prompt(metric, len(prompts), "metric")]
    chosen = _run.head_list(hm, heads)
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values is empty; give the edit's parameter values to sweep")
    specs = [
        Intervention(attention=edits(kind, {head: value}, **options))
        for head in chosen
        for value in values
    ]
    cubes = []
    rows = list(zip(prompts, metrics, strict=True))
    for text, m in _run.progress_bar(rows, progress, f"{kind} sweep"):
        measured, clean = hm.sweep_values(text, m, specs)
        effect = (measured - clean).float().numpy().reshape(len(chosen), len(values))
        attrs = _run.score_attrs(
            hm,
            f"single-head {kind} edit inside attention at each value, one batched pass",
            f"change in {m.describe()} when the head's pattern is edited",
            m.units,
            metric=m.describe(),
            intervention=_run.params_json(per_head={"kind": kind, **_plain(options)}),
            extra={"metric_clean": float(clean)},
            kind=kind,
            values=values,
            heads=[list(h) for h in chosen],
        )
        grid = _run.head_grid(hm, chosen, effect)
        coords = {"scale": np.asarray(values), "prompt_text": text}
        cubes.append(make_cube(grid, ("layer", "head", "scale"), coords, "attention_sweep", attrs))
    if single:
        return cubes[0]
    return _run.stack_prompts(cubes, prompts, reduce)


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple | list) else v for k, v in options.items()}
