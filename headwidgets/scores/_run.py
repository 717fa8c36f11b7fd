"""Prompt handling shared by the scores: encoding, progress, one-pass streaming, attrs.

A prompt is text (tokenized by the bound tokenizer, special tokens included) or a list of
token ids (used as given). Batches are padded on the left or the right by the engine's one
padder (``hm.pad``): the attention mask hides the padding and, for left padding,
``position_ids`` count real tokens only, so every prompt sees the positions it would see
alone. Results are reported on real positions (position 0 = the prompt's first token).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from headwidgets.engine.forward import PaddingSide
from headwidgets.vocab import NO_INTERVENTION, Prompt, check_head_list

if TYPE_CHECKING:
    import torch

    from headwidgets.engine.forward import Batch

Reduce = Literal["mean", "median"]
T = TypeVar("T")


@dataclass(frozen=True)
class Encoded:
    """One prompt as token ids, the text of each position, and the prompt's text."""

    ids: list[int]
    tokens: list[str]
    text: str

    def __len__(self) -> int:
        return len(self.ids)


def _is_ids(prompt: Any) -> bool:
    if hasattr(prompt, "tolist") and hasattr(prompt, "ndim"):
        return int(prompt.ndim) == 1
    return (
        isinstance(prompt, Sequence)
        and not isinstance(prompt, str)
        and len(prompt) > 0
        and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in prompt)
    )


def as_prompt_list(prompts: Any) -> tuple[list[Prompt], bool]:
    """``(prompts as a list, True if a single prompt was given)``.

    Example
    -------
    >>> as_prompt_list("a b"), as_prompt_list([1, 2]), as_prompt_list(["a", "b"])
    ((['a b'], True), ([[1, 2]], True), (['a', 'b'], False))
    """
    if isinstance(prompts, str) or _is_ids(prompts):
        return [prompts.tolist() if hasattr(prompts, "tolist") else prompts], True
    if hasattr(prompts, "ndim") and int(prompts.ndim) == 2:
        return [list(row) for row in prompts.tolist()], False
    if isinstance(prompts, Iterable) and not isinstance(prompts, Mapping):
        items = list(prompts)
        if not items:
            raise ValueError("no prompts given; pass a string, a list of token ids, or a list")
        for item in items:
            if not (isinstance(item, str) or _is_ids(item)):
                raise TypeError(
                    f"a prompt is a string or a list of token ids, got {type(item).__name__}"
                )
        return [i.tolist() if hasattr(i, "tolist") else i for i in items], False
    raise TypeError(f"prompts must be a string, token ids or a list of them, got {prompts!r}")


def encode(hm: Any, prompt: Prompt) -> Encoded:
    """Tokenize text with ``hm.tokenize`` or take token ids as they are."""
    if isinstance(prompt, str):
        tok = hm.tokenize(prompt)
        return Encoded([int(i) for i in tok.input_ids[0].tolist()], list(tok.tokens), prompt)
    ids = [int(i) for i in prompt]
    vocab = int(getattr(hm, "vocab_size", 0) or 0)
    bad = [i for i in ids if i < 0 or (vocab and i >= vocab)]
    if bad:
        raise ValueError(f"token ids {bad[:5]} are out of range; valid ids are 0..{vocab - 1}")
    n_ctx = getattr(hm, "n_ctx", None)
    if n_ctx is not None and len(ids) > n_ctx:
        raise ValueError(f"the prompt has {len(ids)} tokens but the context is {n_ctx}")
    tokens = [hm.tokenizer.decode([i]) for i in ids]
    return Encoded(ids, tokens, hm.tokenizer.decode(ids))


def padding_side(hm: Any, side: PaddingSide | None) -> PaddingSide:
    if side is None:
        side = getattr(hm.tokenizer, "padding_side", "right") or "right"
    if side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {side!r}")
    return side  # type: ignore[return-value]


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]


def progress_bar(items: Sequence[T], enabled: bool | None, desc: str) -> Iterable[T]:
    """A tqdm bar over ``items`` (default: shown when there is more than one item)."""
    if enabled is None:
        enabled = len(items) > 1
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)


RowFn = Callable[[int, "torch.Tensor", int], "torch.Tensor | None"]
"""(layer, A (H, n, n) of one unpadded prompt, prompt index) -> statistic (H', n[, n])."""


def _reduce_batch(
    hm: Any, batch: Batch, part: Sequence[int], reducers: Mapping[str, RowFn]
) -> dict[str, dict[int, list[torch.Tensor | None]]]:
    """One forward of ``batch`` (the engine's, ``hm.forward``); each layer's probabilities
    reduced per prompt on the device."""
    import torch

    found: dict[str, dict[int, list[torch.Tensor | None]]] = {k: {} for k in reducers}

    def collect(layer: int, probs: torch.Tensor) -> None:
        probs = probs.detach()
        for row, prompt_index in enumerate(part):
            start, stop = batch.spans[row]
            A = probs[row, :, start:stop, start:stop]
            for name, fn in reducers.items():
                value = fn(layer, A, prompt_index)
                found[name].setdefault(layer, []).append(None if value is None else value.float())

    with torch.no_grad(), hm.capture_patterns(collect):
        hm.forward(
            batch.input_ids,
            1,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
        )
    return found


def stream(
    hm: Any,
    rows: Sequence[Encoded],
    reducers: Mapping[str, RowFn],
    batch_size: int = 16,
    side: PaddingSide | None = None,
    progress: bool | None = None,
    desc: str = "patterns",
) -> dict[str, np.ndarray]:
    """Run every prompt once with pattern capture; reduce each layer as it is computed.

    Each reducer sees one prompt's attention at a time, sliced to its real tokens, and returns
    a tensor whose trailing dims are positions (or None to skip that layer). Results are
    ``(L, P, H', Tmax[, Tmax])`` float32 arrays, NaN where a prompt is shorter or a layer was
    skipped. Only the current layer's probabilities are alive at any time.
    """
    side = padding_side(hm, side)
    n_layers, width = int(hm.n_layers), max(len(r) for r in rows)
    out: dict[str, np.ndarray] = {}
    index = list(range(len(rows)))
    for part in progress_bar(chunks(index, batch_size), progress, desc):
        batch = hm.pad([rows[i].ids for i in part], side)
        found = _reduce_batch(hm, batch, part, reducers)
        for name, by_layer in found.items():
            for layer, values in by_layer.items():
                for row, value in enumerate(values):
                    if value is None:
                        continue
                    if name not in out:
                        extra = (width,) * (value.ndim - 1)
                        shape = (n_layers, len(rows), value.shape[0], *extra)
                        out[name] = np.full(shape, np.nan, dtype=np.float32)
                    tail = [slice(0, n) for n in value.shape[1:]]
                    region: tuple[Any, ...] = (layer, part[row], slice(None), *tail)
                    out[name][region] = value.cpu().numpy()
    return out


def nanreduce(values: np.ndarray, axis: int, how: Reduce = "mean") -> np.ndarray:
    """NaN-aware mean/median that returns NaN (without a warning) for all-NaN slices."""
    import warnings

    if how not in ("mean", "median"):
        raise ValueError(f"reduce must be 'mean' or 'median', got {how!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fn = np.nanmean if how == "mean" else np.nanmedian
        return np.asarray(fn(values, axis=axis), dtype=np.float32)


def params_json(**params: Any) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def prompt_set(prompts: Any) -> str:
    """JSON of where ``prompts`` came from: a dataset generator's ``source`` (generator, seed,
    parameters) and the number of prompts; ``generator`` is null for prompts given by hand.

    Example
    -------
    >>> prompt_set(["a b", "c d"])
    '{"generator": null, "n": 2}'
    >>> from headwidgets.datasets import ioi
    >>> json.loads(prompt_set(ioi(2, seed=3)))["seed"]
    3
    """
    source = getattr(prompts, "source", None)
    listed, _ = as_prompt_list(prompts)
    described: dict[str, Any] = {"generator": None}
    if isinstance(source, Mapping):
        described.update(source)
    described["n"] = len(listed)
    return params_json(**described)


def enclosing_intervention(hm: Any) -> str:
    """JSON of the intervention every run of ``hm`` is under now: the specs of enclosing
    ``with hm.intervene(spec):`` blocks (one spec, or ``{"stack": [...]}`` for nested
    blocks), or :data:`NO_INTERVENTION`."""
    specs = [s for s in getattr(hm, "active_interventions", ()) if len(s)]
    if not specs:
        return NO_INTERVENTION
    if len(specs) == 1:
        return str(specs[0].to_json())
    return json.dumps({"stack": [json.loads(s.to_json()) for s in specs]})


def score_attrs(
    hm: Any,
    method: str,
    long_name: str,
    units: str,
    metric: str = "",
    intervention: str = NO_INTERVENTION,
    extra: Mapping[str, Any] | None = None,
    prompts: Any = None,
    forward: bool = True,
    **params: Any,
) -> dict[str, Any]:
    """The attrs of a score cube: model identity, method, units, the call's parameters (as
    JSON in ``params``) and ``extra`` attrs (per-run numbers such as the clean metric).

    ``intervention`` is what the score itself edits (a sweep's per-head edit); runs made
    inside ``with hm.intervene(spec):`` record that spec too: alone when the score edits
    nothing, else as ``{"under": spec, ...the score's own edit}``. ``prompts`` (the prompts
    as given) are described in the ``prompt_set`` attr (see :func:`prompt_set`).
    ``forward=False``: a weights-only score, which no intervention changes.
    """
    from headwidgets.cubes import model_attrs

    enclosing = enclosing_intervention(hm) if forward else NO_INTERVENTION
    if enclosing != NO_INTERVENTION:
        if intervention == NO_INTERVENTION:
            intervention = enclosing
        else:
            own = json.loads(intervention)
            intervention = json.dumps({"under": json.loads(enclosing), **own}, sort_keys=True)
    attrs = {
        **(extra or {}),
        **model_attrs(hm),
        "method": method,
        "metric": metric,
        "intervention": intervention,
        "long_name": long_name,
        "units": units,
        "params": params_json(**params),
    }
    if prompts is not None:
        attrs["prompt_set"] = prompt_set(prompts)
    return attrs


def position_cube(
    values: np.ndarray,
    rows: Sequence[Encoded],
    single: bool,
    name: str,
    attrs: Mapping[str, Any],
    per_query: bool,
    axis: Literal["query", "key"] = "query",
    reduce: Reduce | None = None,
) -> Any:
    """A cube from per-position values ``(L, P, H, T)``: averaged over the defined positions
    (``per_query=False``) or kept along ``axis``; a ``prompt`` dim for several prompts."""
    from headwidgets.cubes import make_cube

    width = values.shape[-1]
    coords: dict[str, Any] = {}
    if per_query:
        data = values.transpose(0, 2, 3, 1)  # (L, H, T, P)
        dims: tuple[str, ...] = ("layer", "head", axis, "prompt")
        tokens = np.full((width, len(rows)), "", dtype=object)
        for p, row in enumerate(rows):
            tokens[: len(row), p] = row.tokens
        coords[axis] = np.arange(width)
        coords["token"] = ((axis, "prompt"), tokens.astype(str))
    else:
        data = nanreduce(values, axis=-1).transpose(0, 2, 1)  # (L, H, P)
        dims = ("layer", "head", "prompt")
    coords["prompt_text"] = ("prompt", np.asarray([r.text for r in rows], dtype=str))
    cube = make_cube(data, dims, coords, name=name, attrs=attrs)
    if single:
        cube = cube.isel(prompt=0, drop=True)
        cube = cube.assign_coords(prompt_text=rows[0].text)
        if per_query:
            cube = cube.isel({axis: slice(0, len(rows[0]))})
    elif reduce is not None:
        order = cube.dims.index("prompt")
        reduced = nanreduce(cube.values, axis=order, how=reduce)
        kept = {str(k): v for k, v in cube.coords.items() if "prompt" not in v.dims}
        attrs = {**cube.attrs, "reduce": f"{reduce} over {len(rows)} prompts"}
        dims = tuple(str(d) for d in cube.dims if d != "prompt")
        cube = make_cube(reduced, dims, kept, name=name, attrs=attrs)
    return cube


def head_list(hm: Any, heads: Iterable[tuple[int, int]] | None) -> list[tuple[int, int]]:
    """All heads (layer-major) or the given heads, validated and sorted."""
    n_layers, n_heads = int(hm.n_layers), int(hm.n_heads)
    if heads is None:
        return [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    return [(p.layer, p.head) for p in check_head_list(heads, n_layers, n_heads)]


def head_grid(hm: Any, heads: Sequence[tuple[int, int]], values: np.ndarray) -> np.ndarray:
    """Scatter per-head values ``(len(heads), ...)`` into a NaN ``(L, H, ...)`` grid."""
    grid = np.full((int(hm.n_layers), int(hm.n_heads), *values.shape[1:]), np.nan, np.float32)
    for (layer, head), value in zip(heads, values, strict=True):
        grid[layer, head] = value
    return grid


def per_prompt(value: Any, n: int, what: str) -> list[Any]:
    """``value`` repeated for ``n`` prompts, or a list of ``n`` values checked for length."""
    if isinstance(value, (list, tuple)) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"{n} prompts but {len(value)} {what}s; give one {what} per prompt")
        return list(value)
    return [value] * n


def stack_prompts(cubes: Sequence[Any], texts: Sequence[str], reduce: Reduce | None) -> Any:
    """Concatenate per-prompt cubes along a ``prompt`` dim (or reduce over it)."""
    import pandas as pd
    import xarray as xr

    from headwidgets.cubes import DIM_ORDER, check_cube

    drop = [c for c in ("prompt_text", "token", "key_token") if c in cubes[0].coords]
    parts = [c.drop_vars(drop, errors="ignore") for c in cubes]
    cube = xr.concat(
        parts,
        dim=pd.Index(np.arange(len(parts)), name="prompt"),
        join="outer",
        combine_attrs="drop",
    )
    cube = cube.assign_coords(prompt_text=("prompt", np.asarray(list(texts), dtype=str)))
    if "token" in cubes[0].coords and cubes[0]["token"].dims == ("query",):
        tokens = np.full((cube.sizes["query"], len(cubes)), "", dtype=object)
        for p, part in enumerate(cubes):
            tokens[: part.sizes["query"], p] = part["token"].values
        cube = cube.assign_coords(token=(("query", "prompt"), tokens.astype(str)))
    cube = cube.transpose(*[d for d in DIM_ORDER if d in cube.dims])
    attrs: dict[str, Any] = {}
    for key in cubes[0].attrs:
        values = [c.attrs.get(key) for c in cubes]
        same = all(v == values[0] for v in values)
        attrs[key] = values[0] if same else json.dumps(values, default=str)
    if "long_name" in attrs and any(c.attrs.get("long_name") != attrs["long_name"] for c in cubes):
        # per-prompt titles (they name each prompt's tokens) stay in long_names; the title of
        # the stacked cube is short, so that grids and figures can show it
        attrs["long_names"] = attrs["long_name"]
        label = str(cubes[0].name or "score").replace("_", " ")
        attrs["long_name"] = (
            f"{label}, {reduce} over {len(cubes)} prompts" if reduce else f"{label}, per prompt"
        )
    cube.attrs = attrs
    if reduce is not None:
        how = cube.median if reduce == "median" else cube.mean
        reduced = how("prompt", skipna=True, keep_attrs=True).drop_vars(
            ["prompt_text", "token"], errors="ignore"
        )
        reduced.attrs["reduce"] = f"{reduce} over {len(cubes)} prompts"
        cube = reduced
    return check_cube(cube.rename(cubes[0].name), require=())
