"""Tests of headwidgets.figures.command: ``headwidgets figure`` drawing a saved cube."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import xarray as xr

import headwidgets as hw
from headwidgets import figures
from headwidgets.cli import main


def test_figure_command_draws_a_saved_cube_and_writes_its_data(
    effect: xr.DataArray, tmp_path: Path
) -> None:
    hw.save_cube(effect, tmp_path / "effect.nc")
    out = figures.figure_command(
        tmp_path / "effect.nc",
        "heatmap",
        tmp_path / "out" / "fig.html",
        highlight="9.6,0.1",
        data=True,
        title=None,
    )
    assert out.exists()
    meta = re.search(r'name="headwidgets" content="([^"]*)"', out.read_text())
    assert meta is not None and "[9, 6]" in meta.group(1).replace("&quot;", '"')
    xr.testing.assert_identical(hw.load_cube(tmp_path / "out" / "fig.nc"), effect)
    with pytest.raises(ValueError, match=r"unknown figure kind 'bars'.*'heatmap'"):
        figures.figure_command(tmp_path / "effect.nc", "bars", tmp_path / "x.svg")


def test_figure_command_draws_the_cube_var_names_from_a_file_of_several(
    effect: xr.DataArray, tmp_path: Path
) -> None:
    doubled = (effect * 2).rename("doubled").assign_attrs(effect.attrs)
    both = hw.save_cube(xr.Dataset({"effect": effect, "doubled": doubled}), tmp_path / "b.nc")
    out = figures.figure_command(both, "heatmap", tmp_path / "f.html", var="doubled", data=True)
    xr.testing.assert_identical(hw.load_cube(out.with_suffix(".nc")), doubled)
    with pytest.raises(ValueError, match=r"holds the cubes \['doubled', 'effect'\]"):
        figures.figure_command(both, "heatmap", tmp_path / "g.html")
    diff = figures.figure_command(
        both, "difference", tmp_path / "d.html", other=both, var="effect", data=True
    )
    assert float(abs(hw.load_cube(diff.with_suffix(".nc"))).max()) == 0.0


def test_figure_command_reads_the_old_scale_keyword_with_a_future_warning(
    effect: xr.DataArray, tmp_path: Path
) -> None:
    hw.save_cube(effect, tmp_path / "effect.nc")
    with pytest.warns(FutureWarning, match="renamed to `pixel_ratio`"):
        out = figures.figure_command(
            tmp_path / "effect.nc", "heatmap", tmp_path / "f.html", scale=2
        )
    assert out.exists()


def test_the_command_line_reads_the_old_scale_option_with_a_future_warning(
    effect: xr.DataArray, tmp_path: Path
) -> None:
    cube = str(hw.save_cube(effect, tmp_path / "effect.nc"))
    assert main(["figure", cube, "--out", str(tmp_path / "new.html"), "--pixel-ratio", "2"]) == 0
    with pytest.warns(FutureWarning, match="renamed to --pixel-ratio"):
        assert main(["figure", cube, "--out", str(tmp_path / "old.html"), "--scale", "2"]) == 0
    assert (tmp_path / "old.html").is_file()
