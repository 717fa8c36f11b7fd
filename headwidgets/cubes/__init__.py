"""Score cubes: build, validate, save, load, rank and compare labeled head scores."""

from __future__ import annotations

from headwidgets.cubes.build import (
    DIM_ORDER,
    REQUIRED_ATTRS,
    UNKNOWN,
    as_cube,
    check_cube,
    compare,
    cube_names,
    load_cube,
    make_cube,
    model_attrs,
    overlap,
    overlap_table,
    save_cube,
    top_heads,
)

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
