"""Exporting a widget's current view: HeadGrid / Explorer ``export`` and the Export button.

SVG exports need a headless Chromium and chromedriver (skipped without them, as in
tests/figures/); HTML and the error paths need none.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

import headwidgets as hw
from headwidgets.figures import BrowserNotFoundError, figure_metadata, find_browser
from headwidgets.widgets import Explorer, HeadGrid
from tests.test_widgets import cube, hm, text  # noqa: F401  (fixtures)

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def browser() -> None:
    try:
        find_browser()
    except BrowserNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture()
def explorer(hm: Any, text: str) -> Explorer:  # noqa: F811
    ex = Explorer(hm, text, target="w3", distractor="w7")
    ex.grid.selected = [[1, 2], [0, 1]]
    ex.controls.edits = [
        {"layer": 1, "head": 2, "mode": "scale", "alpha": 0.5},
        {"layer": 0, "head": 1, "mode": "zero", "alpha": 0.0},
    ]
    return ex


def grid_cube(n_layers: int = 3, n_heads: int = 5) -> xr.DataArray:
    rng = np.random.default_rng(0)
    return cube(rng.normal(size=(n_layers, n_heads)), name="effect")


def svg_shapes(path: Path) -> tuple[int, int]:
    """(cells: filled rectangles of the largest glyph layer, outlines: unfilled 2 px rects)."""
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    rect = re.compile(r"M [\d.e-]+ [\d.e-]+( L [\d.e-]+ [\d.e-]+){3,4}( Z)?")
    filled: Counter[str | None] = Counter()
    outlines = 0
    for node in root.iter(f"{SVG}path"):
        if not rect.fullmatch(node.get("d", "").strip()):
            continue
        if node.get("fill") not in (None, "none") and node.get("fill-opacity") == "1":
            filled[node.get("clip-path")] += 1
        elif node.get("fill") == "none" and node.get("stroke-width") == "2":
            outlines += 1
    return max(filled.values(), default=0), outlines


def svg_text(path: Path) -> list[str]:
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    return ["".join(node.itertext()).strip() for node in root.iter(f"{SVG}text")]


def svg_metadata(path: Path) -> dict[str, Any]:
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    return json.loads(root.find(f"{SVG}metadata").text)  # type: ignore[union-attr, arg-type]


def answers_of(grid: HeadGrid) -> list[dict[str, Any]]:
    """Capture what the grid sends to the browser."""
    sent: list[dict[str, Any]] = []
    grid.send = lambda msg, buffers=None: sent.append(msg)  # type: ignore[method-assign]
    return sent


def click_export(grid: HeadGrid) -> dict[str, Any]:
    """What the front end's Export button does: one message; return the answer."""
    sent = answers_of(grid)
    grid._handle_message(grid, {"type": "export"}, [])
    assert len(sent) == 1
    return sent[0]


# -- HeadGrid.export --------------------------------------------------------------------------


@pytest.mark.browser
def test_grid_svg_has_one_rect_per_cell_and_outlines_the_selected_heads(
    tmp_path: Path, browser: None
) -> None:
    grid = HeadGrid(grid_cube(3, 5), selected=[(0, 4), (2, 1), (1, 0)])
    path = grid.export(tmp_path / "grid.svg")
    assert path == tmp_path / "grid.svg" and path.is_file()
    cells, outlines = svg_shapes(path)
    assert cells == 3 * 5
    assert outlines == 3
    assert svg_metadata(path)["highlight"] == [[0, 4], [1, 0], [2, 1]]


@pytest.mark.browser
def test_grid_export_with_nothing_selected_outlines_nothing(tmp_path: Path, browser: None) -> None:
    cells, outlines = svg_shapes(HeadGrid(grid_cube(2, 4)).export(tmp_path / "none.svg"))
    assert (cells, outlines) == (8, 0)


def test_grid_export_writes_the_cube_beside_the_figure(tmp_path: Path) -> None:
    data = grid_cube()
    grid = HeadGrid(data, selected=[(1, 1)])
    path = grid.export(tmp_path / "grid.html")
    saved = hw.load_cube(path.with_suffix(".nc"))
    xr.testing.assert_equal(saved, grid.cube)
    assert json.loads(saved.attrs["intervention"]) == {"edits": []}  # a bare cube names none
    assert not (tmp_path / "nodata.nc").exists()
    HeadGrid(data).export(tmp_path / "nodata.html", data=False)
    assert (tmp_path / "nodata.html").is_file() and not (tmp_path / "nodata.nc").exists()


def test_grid_export_takes_pixel_ratio_and_its_old_name_scale_with_a_future_warning(
    tmp_path: Path,
) -> None:
    grid = HeadGrid(grid_cube())
    assert grid.export(tmp_path / "new.html", data=False, pixel_ratio=2).is_file()
    with pytest.warns(FutureWarning, match="renamed to `pixel_ratio`"):
        assert grid.export(tmp_path / "old.html", data=False, scale=2).is_file()


def test_grid_exports_a_dataarray_from_elsewhere_with_its_provenance_unknown(
    tmp_path: Path,
) -> None:
    plain = xr.DataArray(
        np.arange(6.0).reshape(3, 2),
        dims=("head", "layer"),
        coords={"layer": [0.0, 1.0]},
        attrs={"source": "scores.csv", "rows": np.arange(2)},  # not JSON as they are
    )
    path = HeadGrid(plain, selected=[(1, 2)]).export(tmp_path / "plain.html")
    saved = hw.load_cube(path.with_suffix(".nc"))
    assert saved.dims == ("layer", "head") and saved.attrs["model"] == "unknown"
    assert saved.attrs["source"] == "scores.csv" and saved.attrs["rows"] == [0, 1]


def test_grid_figure_follows_the_grids_color_scale_and_limits() -> None:
    grid = HeadGrid(cube(np.abs(grid_cube().values)), color_scale="diverging", vmin=-1, vmax=4)
    mapper = grid.figure().select_one({"name": "cells"}).glyph.fill_color["transform"]
    assert (mapper.low, mapper.high) == (-1.0, 4.0)
    assert tuple(mapper.palette) == hw.figures.DIVERGING  # although every value is positive
    grid.color_scale, grid.vmin, grid.vmax = "sequential", 0.5, None
    mapper = grid.figure().select_one({"name": "cells"}).glyph.fill_color["transform"]
    assert mapper.low == 0.5 and mapper.palette[0] != hw.figures.DIVERGING[0]


def test_grid_figure_passes_builder_options_and_rejects_unknown_ones() -> None:
    grid = HeadGrid(grid_cube())
    assert grid.figure(title="my heads", width=500).title.text == "my heads"
    with pytest.raises(TypeError, match="colour"):
        grid.figure(colour="red")


def test_export_path_defaults_to_the_cube_name_and_follows_a_new_cube() -> None:
    grid = HeadGrid(cube(name="Δ logit diff"))
    assert grid.export_path == "headwidgets-logit-diff.svg"
    grid.cube = cube(name="induction")
    assert grid.export_path == "headwidgets-induction.svg"
    grid.export_path = "figs/mine.png"
    grid.cube = cube(name="other")
    assert grid.export_path == "figs/mine.png"  # a path the user chose is kept
    assert HeadGrid(cube(), export_path="x.pdf").export_path == "x.pdf"


# -- Explorer.export: the interventions in caption, metadata and data ------------------------


def test_explorer_figure_outlines_the_selection_and_captions_the_edits(
    explorer: Explorer,
) -> None:
    fig = explorer.figure()
    caption = fig.select_one({"name": "caption"}).text
    assert caption == "interventions: L0 H1 zero, L1 H2 ×0.5"
    highlight = fig.select_one({"name": "highlight"}).data_source.data
    assert sorted(zip(highlight["y"], highlight["x"], strict=True)) == [(0, 1), (1, 2)]
    meta = figure_metadata(fig)
    spec = hw.Intervention.from_json(meta["intervention"])
    assert spec == explorer.controls.intervention
    assert meta["caption"] == caption


def test_explorer_export_writes_the_intervention_into_the_data(
    explorer: Explorer, tmp_path: Path
) -> None:
    path = explorer.export(tmp_path / "ex.html")
    saved = hw.load_cube(path.with_suffix(".nc"))
    assert hw.Intervention.from_json(saved.attrs["intervention"]) == explorer.intervention
    # the sweep's own per-head edit is kept under another name
    assert json.loads(saved.attrs["cube_intervention"]) == json.loads(
        explorer.cube.attrs["intervention"]
    )
    np.testing.assert_array_equal(saved.values, explorer.cube.values)
    tag = re.search(r'<meta name="headwidgets" content="([^"]*)">', path.read_text())
    assert tag is not None
    assert json.loads(html.unescape(tag[1]))["caption"] == "interventions: L0 H1 zero, L1 H2 ×0.5"


@pytest.mark.browser
def test_explorer_svg_shows_the_caption_and_carries_the_intervention(
    explorer: Explorer, tmp_path: Path, browser: None
) -> None:
    path = explorer.export(tmp_path / "ex.svg")
    n_layers, n_heads = explorer.cube.shape
    assert svg_shapes(path) == (n_layers * n_heads, 2)
    assert "interventions: L0 H1 zero, L1 H2 ×0.5" in svg_text(path)
    meta = svg_metadata(path)
    assert hw.Intervention.from_json(meta["intervention"]) == explorer.intervention
    saved = hw.load_cube(path.with_suffix(".nc"))
    assert hw.Intervention.from_json(saved.attrs["intervention"]) == explorer.intervention


def test_an_explorer_export_says_its_edits_are_not_applied_to_the_values_shown(
    explorer: Explorer, tmp_path: Path
) -> None:
    from headwidgets.widgets._exporting import NOT_APPLIED_NOTE

    fig = explorer.figure()
    assert fig.select_one({"name": "caption_note"}).text == NOT_APPLIED_NOTE
    assert figure_metadata(fig)["caption_note"] == NOT_APPLIED_NOTE
    saved = hw.load_cube(explorer.export(tmp_path / "ex.html").with_suffix(".nc"))
    assert saved.attrs["intervention_applied"] is False


def test_an_explorer_export_under_edits_plots_the_sweep_computed_under_them(
    explorer: Explorer, tmp_path: Path
) -> None:
    from headwidgets.widgets._exporting import APPLIED_NOTE

    path = explorer.export(tmp_path / "edited.html", under_edits=True)
    saved = hw.load_cube(path.with_suffix(".nc"))
    assert saved.attrs["intervention_applied"] is True
    assert hw.Intervention.from_json(saved.attrs["intervention"]) == explorer.intervention
    own = json.loads(saved.attrs["cube_intervention"])  # what the values were computed under
    assert hw.Intervention.from_json(json.dumps(own["under"])) == explorer.intervention
    tag = re.search(r'<meta name="headwidgets" content="([^"]*)">', path.read_text())
    assert tag is not None and json.loads(html.unescape(tag[1]))["caption_note"] == APPLIED_NOTE


def test_under_edits_for_a_cube_the_user_gave_says_it_cannot_recompute_it(
    hm: Any,  # noqa: F811
    text: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    given = hm.sweep(text, "loss", mode="zero")
    ex = Explorer(hm, text, cube=given, heads=[(0, 0)])
    with pytest.raises(ValueError, match="cannot recompute"):
        ex.export(tmp_path / "x.html", under_edits=True)


def test_an_explorer_without_edits_says_so(hm: Any, text: str, tmp_path: Path) -> None:  # noqa: F811
    ex = Explorer(hm, text, target="w3", distractor="w7", heads=[(0, 0)])
    assert ex.figure().select_one({"name": "caption"}).text == "interventions: none"


def test_a_long_intervention_is_shortened_in_the_caption_but_whole_in_the_data(
    explorer: Explorer,
    hm: Any,  # noqa: F811
) -> None:
    every = [(layer, head) for layer in range(hm.n_layers) for head in range(hm.n_heads)]
    explorer.controls.intervention = hw.Intervention.scale(dict.fromkeys(every, 0.25))
    fig = explorer.figure()
    caption = fig.select_one({"name": "caption"}).text
    assert re.fullmatch(r"interventions: .*, \+\d+ more", caption)
    assert len(hw.Intervention.from_json(figure_metadata(fig)["intervention"])) == len(every)


# -- the Export button ------------------------------------------------------------------------


def test_the_export_button_writes_export_path_and_reports_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the kernel's working directory
    grid = HeadGrid(grid_cube(), selected=[(1, 2)], export_path="heads.html")
    answer = click_export(grid)
    assert (tmp_path / "heads.html").is_file() and (tmp_path / "heads.nc").is_file()
    assert grid.export_error == ""
    assert grid.export_status.startswith(f"wrote heads.html and heads.nc in {tmp_path}")
    assert answer == {"type": "exported", "status": grid.export_status, "error": None}


@pytest.mark.browser
def test_the_export_button_writes_the_default_svg_into_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: None
) -> None:
    monkeypatch.chdir(tmp_path)
    grid = HeadGrid(grid_cube(), selected=[(1, 2)])
    click_export(grid)
    written = tmp_path / "headwidgets-effect.svg"
    assert svg_shapes(written) == (15, 1)
    xr.testing.assert_equal(hw.load_cube(written.with_suffix(".nc")), grid.cube)


def test_the_explorers_export_button_names_the_current_interventions(
    explorer: Explorer, tmp_path: Path
) -> None:
    explorer.grid.export_path = str(tmp_path / "button.html")
    # a slider moved in the browser: the grid's button must see the new edits
    explorer.controls.edits = [{"layer": 1, "head": 2, "mode": "scale", "alpha": 2.0}]
    click_export(explorer.grid)
    saved = hw.load_cube(tmp_path / "button.nc")
    assert hw.Intervention.from_json(saved.attrs["intervention"]) == hw.Intervention.scale(
        {(1, 2): 2.0}
    )


def test_a_failed_export_is_reported_in_the_widget_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    grid = HeadGrid(grid_cube(), export_path="heads.jpg")
    answer = click_export(grid)
    assert grid.export_error.startswith("export failed: ValueError: unknown figure format '.jpg'")
    assert grid.export_status == ""
    assert answer["error"] == grid.export_error and answer["status"] is None
    assert list(tmp_path.iterdir()) == []
    grid.export_path = "heads.html"  # the next export clears the error
    click_export(grid)
    assert grid.export_error == "" and grid.export_status.startswith("wrote heads.html")


def test_a_missing_browser_is_reported_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contextlib import contextmanager

    from headwidgets.figures import browser

    @contextmanager
    def no_browser(pixel_ratio: float = 1.0) -> Any:
        raise BrowserNotFoundError("SVG, PNG and PDF export need a headless Chromium: install it")
        yield

    monkeypatch.setattr(browser, "_driver", no_browser)
    grid = HeadGrid(grid_cube(), export_path=str(tmp_path / "heads.svg"))
    click_export(grid)
    assert "BrowserNotFoundError" in grid.export_error and "install" in grid.export_error


def test_other_messages_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    grid = HeadGrid(grid_cube())
    sent = answers_of(grid)
    grid._handle_message(grid, {"type": "request"}, [])
    grid._handle_message(grid, "export", [])
    assert sent == [] and list(tmp_path.iterdir()) == []


# -- in JupyterLab: the button, and the live bokeh curve ---------------------------------------


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_in_jupyterlab_the_button_exports_and_the_curve_follows_the_slider(
    tmp_path: Path,
) -> None:
    from tests.browser.jupyter import (
        cell_errors,
        chromium,
        jupyter_server,
        missing_requirements,
        new_page,
        open_and_run_all,
        wait_kernel_idle,
        write_notebook,
    )
    from tests.browser.scenario import scenario

    why_not = missing_requirements()
    if why_not:
        pytest.skip(why_not)
    case = scenario()
    explorer_cell = case.explorer_cell([(0, 0)]).replace(")\nex", ", curve=True)\nex")
    write_notebook(tmp_path / "export.ipynb", [case.setup_cell(), explorer_cell])
    with (
        chromium() as browser,
        jupyter_server("lab", tmp_path) as server,
        new_page(browser) as (page, log),
    ):
        open_and_run_all(page, server, "export.ipynb")
        page.wait_for_selector(".hw-explorer .hw-headgrid canvas[data-geometry]", timeout=120_000)
        wait_kernel_idle(page)
        assert cell_errors(page) == []
        markers = """() => {
            const docs = (window.Bokeh && window.Bokeh.documents) || [];
            for (const doc of docs) {
                const source = doc.get_model_by_name("alpha-markers");
                if (source) return Array.from(source.data.scale ?? []);
            }
            return null;
        }"""
        page.wait_for_function(f"() => JSON.stringify(({markers})()) === '[1]'", timeout=60_000)

        # the slider moves the marker in the page (a patch of the bokeh document)
        row = page.locator(".hw-explorer .hw-control-row[data-layer='0'][data-head='0']")
        row.locator("input[type=range]").evaluate(
            "(el) => { el.value = '0.5'; el.dispatchEvent(new Event('input', {bubbles: true}));"
            " el.dispatchEvent(new Event('change', {bubbles: true})); }"
        )
        page.wait_for_function(f"() => JSON.stringify(({markers})()) === '[0.5]'", timeout=60_000)

        # the Export button writes into the notebook's directory and says so
        grid = page.locator(".hw-explorer .hw-headgrid")
        button = grid.locator("button.hw-export")
        assert button.text_content() == "Export SVG"
        button.click()
        status = grid.locator(".hw-export-status")
        status.filter(has_text="wrote").wait_for(timeout=60_000)
        written = sorted(p.name for p in tmp_path.glob("headwidgets-*"))
        assert written == ["headwidgets-ablation_effect.nc", "headwidgets-ablation_effect.svg"]
        assert "headwidgets-ablation_effect.svg" in status.text_content()
        assert grid.locator(".hw-export-error").text_content() == ""
        saved = hw.load_cube(tmp_path / "headwidgets-ablation_effect.nc")
        assert hw.Intervention.from_json(saved.attrs["intervention"]) == hw.Intervention.scale(
            {(0, 0): 0.5}
        )
        assert log.outside_localhost() == []  # BokehJS came inline, nothing from a CDN
        assert log.own_errors() == []
