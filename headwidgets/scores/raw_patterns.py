"""Raw attention patterns as a (layer, head, query, key) cube, for the heads asked for.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> hw.attention(hm, "ba be bi ba be bi", heads=[(1, 0)]).dims
('layer', 'head', 'query', 'key')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets.scores import _run
from headwidgets.scores._run import PaddingSide, Prompt
from headwidgets.vocab import check_head_list

if TYPE_CHECKING:
    import torch
    import xarray as xr

__all__ = ["attention"]


def _head_grid(
    hm: Any, heads: Iterable[tuple[int, int]] | None
) -> tuple[list[int], list[int], np.ndarray]:
    layers, n_heads = list(range(hm.n_layers)), int(hm.n_heads)
    if heads is None:
        return layers, list(range(n_heads)), np.ones((len(layers), n_heads), dtype=bool)
    pairs = {(p.layer, p.head) for p in check_head_list(heads, int(hm.n_layers), n_heads)}
    sel_layers = sorted({layer for layer, _ in pairs})
    sel_heads = sorted({head for _, head in pairs})
    asked = np.array([[(la, he) in pairs for he in sel_heads] for la in sel_layers])
    return sel_layers, sel_heads, asked


def attention(
    hm: Any,
    prompt: Prompt | Sequence[Prompt],
    heads: Iterable[tuple[int, int]] | None = None,
    *,
    batch_size: int = 16,
    padding_side: PaddingSide | None = None,
    progress: bool | None = None,
) -> xr.DataArray:
    """Raw attention patterns (layer, head, query, key) of the heads asked for.

    The cube covers the asked layers × asked heads; cells of that grid that were not asked
    for are NaN. Eager attention is on for this call only. Coords ``token`` (query) and
    ``key_token`` (key) hold the token texts; a list of prompts adds a ``prompt`` dim.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> cube = hw.attention(hm, "When Mary and John went", heads=[(1, 2), (3, 0)])
    >>> cube.sizes["query"], cube["token"].values.tolist()[:3]
    (6, ['<bos>', 'When', 'Mary'])
    """
    from headwidgets.cubes import make_cube

    layers, head_ids, asked = _head_grid(hm, heads)
    prompt_list, single = _run.as_prompt_list(prompt)
    rows = [_run.encode(hm, p) for p in prompt_list]
    where = {layer: i for i, layer in enumerate(layers)}

    def keep(layer: int, A: torch.Tensor, p: int) -> torch.Tensor | None:
        return A[head_ids] if layer in where else None

    raw = _run.stream(hm, rows, {"attention": keep}, batch_size, padding_side, progress)
    data = raw["attention"][layers].transpose(0, 2, 3, 4, 1)  # (L', H', T, T, P)
    data[~asked] = np.nan
    width = data.shape[2]
    tokens = np.full((width, len(rows)), "", dtype=object)
    for p, row in enumerate(rows):
        tokens[: len(row), p] = row.tokens
    coords: dict[str, Any] = {
        "layer": layers,
        "head": head_ids,
        "query": np.arange(width),
        "key": np.arange(width),
        "token": (("query", "prompt"), tokens.astype(str)),
        "key_token": (("key", "prompt"), tokens.astype(str)),
        "prompt_text": ("prompt", np.asarray([r.text for r in rows], dtype=str)),
    }
    heads_json = [
        [la, he] for la in layers for he in head_ids if asked[where[la], head_ids.index(he)]
    ]
    attrs = _run.score_attrs(
        hm,
        "attention pattern (eager)",
        "attention probability",
        "probability",
        prompts=prompt,
        heads=heads_json,
    )
    cube = make_cube(data, ("layer", "head", "query", "key", "prompt"), coords, "attention", attrs)
    if single:
        n = len(rows[0])
        cube = cube.isel(prompt=0, drop=True).isel(query=slice(0, n), key=slice(0, n))
        cube = cube.assign_coords(prompt_text=rows[0].text)
    return cube
