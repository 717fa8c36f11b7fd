"""Score cubes: build, validate, save, load, rank and compare labeled head scores.

A cube is an :class:`xarray.DataArray` whose dims start ``("layer", "head")`` and continue
with any of ``"query"``, ``"key"``, ``"prompt"``, ``"scale"``, ``"model"`` (in that order).
Position, layer, head and prompt coords are integers; the text of each position lives in the
non-dimension coord ``token`` (along ``query``, or along ``key`` when there is no ``query``;
a cube with both also carries ``key_token`` along ``key``) and the prompts in ``prompt_text``.
Attributes are JSON-safe and always include :data:`REQUIRED_ATTRS`.

Example
-------
>>> import numpy as np
>>> from headwidgets.cubes import make_cube, top_heads
>>> cube = make_cube(np.arange(6.0).reshape(2, 3), ("layer", "head"), name="demo")
>>> top_heads(cube, 2).to_dict("records")
[{'layer': 1, 'head': 2, 'value': 5.0}, {'layer': 1, 'head': 1, 'value': 4.0}]
"""

from __future__ import annotations

from headwidgets.cubes.build import (
    DIM_ORDER,
    REQUIRED_ATTRS,
    UNKNOWN,
    as_cube,
    check_cube,
    make_cube,
    model_attrs,
)
from headwidgets.cubes.io import cube_names, load_cube, save_cube
from headwidgets.cubes.ranking import compare, overlap, overlap_table, top_heads

__all__ = [
    "DIM_ORDER",
    "REQUIRED_ATTRS",
    "UNKNOWN",
    "as_cube",
    "check_cube",
    "compare",
    "cube_names",
    "load_cube",
    "make_cube",
    "model_attrs",
    "overlap",
    "overlap_table",
    "save_cube",
    "top_heads",
]
