"""Tests of headwidgets.figures.export (and its browser): SVG, PNG, PDF and HTML files, the
camera-ready checks, data beside the figure.

Tests that render need a headless Chromium and chromedriver (``apt-get install chromium
chromium-driver``) and are skipped without them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import xarray as xr

import headwidgets as hw
from headwidgets import figures
from headwidgets.figures import BrowserNotFoundError, find_browser
from headwidgets.figures import browser as export_browser
from tests.figures._helpers import SVG, TOKENS, _is_rect, _svg_tree, _text_boxes, _texts


@pytest.mark.browser
def test_svg_heatmap_has_one_vector_shape_per_cell(
    score: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    path = hw.export(figures.head_heatmap(score), tmp_path / "heads.svg")
    root = _svg_tree(path)
    filled = [
        node
        for node in root.iter(f"{SVG}path")
        if node.get("fill") not in (None, "none") and _is_rect(node.get("d", ""))
    ]
    by_layer = Counter(node.get("clip-path") for node in filled)
    assert max(by_layer.values()) == 12 * 12  # the glyph layer: one rectangle per head
    assert len(list(root.iter(f"{SVG}image"))) <= 1  # only the color bar's gradient is raster


@pytest.mark.browser
def test_svg_has_axis_and_token_labels_as_text(
    score: xr.DataArray, pattern: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    heads = _texts(_svg_tree(hw.export(figures.head_heatmap(score), tmp_path / "heads.svg")))
    assert {"layer", "head", "induction score [attention]", "11"} <= set(heads)
    fig = figures.attention_pattern(pattern, layer=0, head=1)
    text = _texts(_svg_tree(hw.export(fig, tmp_path / "pattern.svg")))
    assert {"query", "key"} <= set(text)
    for token in TOKENS:
        assert text.count(token.strip()) >= 2  # on the query axis and on the key axis


@pytest.mark.browser
def test_svg_carries_the_cubes_provenance(
    effect: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    root = _svg_tree(hw.export(figures.head_heatmap(effect), tmp_path / "effect.svg"))
    meta = json.loads(root.find(f"{SVG}metadata").text)  # type: ignore[union-attr, arg-type]
    assert meta["model"] == "toy-12l"
    assert json.loads(meta["intervention"]) == json.loads(effect.attrs["intervention"])


@pytest.mark.browser
def test_png_has_the_requested_pixel_size(
    score: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    from PIL import Image

    fig = figures.head_heatmap(score)
    with Image.open(hw.export(fig, tmp_path / "heads.png", pixel_ratio=2)) as image:
        assert image.size == (2 * fig.width, 2 * fig.height)
        assert round(image.info["dpi"][0]) == 192
    with Image.open(
        hw.export(fig, tmp_path / "small.png", pixel_ratio=1.5, width=300, height=200)
    ) as im:
        assert im.size == (450, 300)
    with Image.open(hw.export(fig, tmp_path / "print.png")) as image:  # print resolution
        assert round(image.info["dpi"][0]) == 300
        assert image.size == (round(fig.width * 300 / 96), round(fig.height * 300 / 96))
    assert (fig.width, fig.height) != (300, 200)  # the override is for that export only


@pytest.mark.browser
def test_pdf_export_is_one_page_of_the_figures_size(
    score: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    fig = figures.head_heatmap(score)
    data = hw.export(fig, tmp_path / "heads.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", data)) == 1
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert box is not None
    width_pt, height_pt = (float(v) for v in box.groups())
    assert width_pt == pytest.approx(fig.width * 0.75, abs=1.5)  # 96 px = 72 pt
    assert height_pt == pytest.approx(fig.height * 0.75, abs=1.5)


def _pdf_fonts(path: Path) -> list[dict[str, str]]:
    """``pdffonts`` rows as {name, type, emb}; skipped without poppler-utils."""
    import shutil
    import subprocess

    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts not found: apt-get install poppler-utils")
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    rows = []
    for line in out.stdout.splitlines()[2:]:
        # name, type (may contain spaces), encoding, emb, sub, uni, object ID
        match = re.match(r"(\S+)\s+(.+?)\s{2,}(\S+)\s+(yes|no)\s+(yes|no)\s+(yes|no)", line)
        assert match, line
        rows.append({"name": match[1], "type": match[2], "emb": match[4]})
    return rows


def _pdf_text(path: Path) -> str:
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not found: apt-get install poppler-utils")
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def camera_ready(
    effect: xr.DataArray,
    per_token: xr.DataArray,
    tmp_path_factory: pytest.TempPathFactory,
    browser: None,
) -> dict[str, Path]:
    """A heatmap (vertical colour bar) and a token strip (horizontal one) as SVG and PDF,
    exported once for the tests below."""
    out = tmp_path_factory.mktemp("camera_ready")
    figs = {"heatmap": figures.head_heatmap(effect), "tokens": figures.token_strip(per_token)}
    return {
        f"{name}{suffix}": hw.export(fig, out / f"{name}{suffix}")
        for name, fig in figs.items()
        for suffix in (".svg", ".pdf")
    }


@pytest.mark.browser
def test_pdf_embeds_every_font_and_has_no_type3_font(camera_ready: dict[str, Path]) -> None:
    for name in ("heatmap.pdf", "tokens.pdf"):
        fonts = _pdf_fonts(camera_ready[name])
        assert fonts, name
        assert [f for f in fonts if "Type 3" in f["type"] or f["emb"] != "yes"] == [], fonts


@pytest.mark.browser
def test_pdf_text_has_each_label_once(camera_ready: dict[str, Path]) -> None:
    words = Counter(_pdf_text(camera_ready["heatmap.pdf"]).split())
    assert words["layer"] == 1 and words["head"] == 1, words
    assert words["10"] == 2  # layer 10 and head 10, nothing more
    tokens = Counter(_pdf_text(camera_ready["tokens.pdf"]).split())
    assert tokens["Mary"] == 2 and tokens["John"] == 2, tokens  # each appears twice in TOKENS


@pytest.mark.browser
def test_svg_has_single_text_and_vector_colour_bars(camera_ready: dict[str, Path]) -> None:
    for name in ("heatmap.svg", "tokens.svg"):
        root = _svg_tree(camera_ready[name])
        texts = [node for node in root.iter(f"{SVG}text") if node.get("fill") != "none"]
        assert len(texts) == len(list(root.iter(f"{SVG}text"))), name  # no invisible copies
        assert list(root.iter(f"{SVG}image")) == [], name  # no raster
        (bar,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "hw-colorbar"]
        colors = {rect.get("fill") for rect in bar.iter(f"{SVG}rect")}
        assert len(colors) >= 50, (name, len(colors))  # a smooth ramp, not a few bands
    heads = Counter(_texts(_svg_tree(camera_ready["heatmap.svg"])))
    assert heads["layer"] == heads["head"] == 1


def _luminance(color: str) -> float:
    if color.startswith("rgb"):
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", color)[:3])
    else:
        r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.browser
def test_dark_svg_has_no_dark_text(effect: xr.DataArray, tmp_path: Path, browser: None) -> None:
    grid = figures.panel(
        [figures.head_heatmap(effect, highlight=[(1, 1)], style=figures.DARK),
         figures.layer_profile(effect, style=figures.DARK)],
        style=figures.DARK,
    )  # fmt: skip
    root = _svg_tree(hw.export(grid, tmp_path / "dark.svg"))
    fills = [node.get("fill", "") for node in root.iter(f"{SVG}text")]
    assert fills and [f for f in fills if _luminance(f) < 0.5] == []
    assert list(root.iter(f"{SVG}image")) == []  # legend swatches and color bar: vectors


@pytest.mark.browser
def test_the_readme_paper_figure_passes_the_camera_ready_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: None
) -> None:
    from tests.test_readme import readme_blocks

    (block,) = [b for b in readme_blocks() if "hw.figures.panel(" in b.code]
    assert len([line for line in block.code.splitlines() if line.strip()]) <= 5
    monkeypatch.chdir(tmp_path)
    exec(compile(block.code, "README.md", "exec"), {})
    pdf = tmp_path / "induction.pdf"
    assert [f for f in _pdf_fonts(pdf) if "Type 3" in f["type"] or f["emb"] != "yes"] == []
    words = Counter(_pdf_text(pdf).split())
    assert words["head"] == 1 and words["(a)"] == words["(b)"] == 1, words
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf.read_bytes())
    assert box is not None and float(box[1]) / 72 == pytest.approx(3.25, abs=0.1)  # one column
    assert hw.cubes.cube_names(tmp_path / "induction.nc") == ["a_induction", "b_induction"]


@pytest.mark.browser
def test_a_figure_can_be_shown_again_after_an_export(
    score: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    fig = figures.head_heatmap(score)
    hw.export(fig, tmp_path / "heads.svg")
    assert fig.document is None  # show(fig) in a notebook would fail on a figure in a document


@pytest.mark.browser
def test_html_opens_offline_in_chromium_without_network_requests(
    effect: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    path = hw.export(figures.head_heatmap(effect), tmp_path / "heads.html")
    browser_path, _ = find_browser()
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = chromium.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.route(
                re.compile(r"^(?!file:|data:|blob:|about:|https?://(localhost|127\.0\.0\.1)).*"),
                lambda route: route.abort(),
            )
            page.goto(path.as_uri())
            page.wait_for_function(
                "typeof Bokeh !== 'undefined' && Bokeh.documents.length > 0 "
                "&& Bokeh.documents[0].is_idle",
                timeout=10_000,
            )
            assert page.locator("canvas").count() >= 1  # drawn (CSS locators pierce shadow DOM)
        finally:
            chromium.close()
    local = re.compile(r"^(file:|data:|blob:|about:|https?://(localhost|127\.0\.0\.1)[:/])")
    assert requests and all(local.match(url) for url in requests), requests


@pytest.mark.browser
def test_the_old_scale_keyword_still_sets_the_pixel_ratio_with_a_future_warning(
    score: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    from PIL import Image

    fig = figures.head_heatmap(score)
    with pytest.warns(FutureWarning, match="renamed to `pixel_ratio`"):
        path = hw.export(fig, tmp_path / "heads.png", scale=2)
    with Image.open(path) as image:
        assert image.size == (2 * fig.width, 2 * fig.height)


def test_pixel_ratio_and_its_old_name_scale_are_not_taken_together(
    score: xr.DataArray, tmp_path: Path
) -> None:
    with pytest.raises(TypeError, match="pixel_ratio only"):
        hw.export(figures.head_heatmap(score), tmp_path / "heads.png", pixel_ratio=2, scale=2)


def test_html_export_needs_no_browser(
    score: xr.DataArray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWIDGETS_CHROMIUM", str(tmp_path / "no-such-browser"))
    page = hw.export(figures.head_heatmap(score), tmp_path / "heads.html").read_text()
    assert "<script src=" not in page.replace('<script src="data:', "")  # BokehJS is inline
    assert 'name="headwidgets"' in page


def test_missing_browser_error_says_what_to_install(
    score: xr.DataArray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWIDGETS_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(BrowserNotFoundError, match="apt-get install chromium chromium-driver"):
        find_browser()


def test_exported_data_reloads_identical_to_the_cube(effect: xr.DataArray, tmp_path: Path) -> None:
    fig = figures.head_heatmap(effect)
    hw.export(fig, tmp_path / "given.html", data=effect)
    xr.testing.assert_identical(hw.load_cube(tmp_path / "given.nc"), effect)
    hw.export(fig, tmp_path / "own.html", data=True)  # the cube the figure was built from
    xr.testing.assert_identical(hw.load_cube(tmp_path / "own.nc"), effect)


def test_unknown_export_format_lists_the_formats(score: xr.DataArray, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'\.jpg'.*'\.svg', '\.png', '\.pdf', '\.html'"):
        hw.export(figures.head_heatmap(score), tmp_path / "heads.jpg")


@pytest.mark.browser
def test_svg_labels_keep_their_extent_when_a_viewer_substitutes_the_font(
    camera_ready: dict[str, Path], tmp_path: Path
) -> None:
    original = camera_ready["heatmap.svg"]
    text = original.read_text(encoding="utf-8")
    assert 'font-family="DejaVu Sans' in text
    substituted = tmp_path / "substituted.svg"
    substituted.write_text(re.sub(r'font-family="[^"]*"', 'font-family="Liberation Mono"', text))
    before, after = _text_boxes(original)["boxes"], _text_boxes(substituted)["boxes"]
    rotated = [
        abs(float((re.findall(r"[-\d.e]+", node.get("transform", "")) or ["1", "0"])[1])) > 0.5
        for node in _svg_tree(original).iter(f"{SVG}text")
    ]
    assert len(before) == len(after) == len(rotated) > 20
    for a, b, turned in zip(before, after, rotated, strict=True):
        ends = ("top", "bottom") if turned else ("left", "right")  # along the text
        assert [b[end] for end in ends] == pytest.approx([a[end] for end in ends], abs=0.6), a


_FONTS = """
const done = arguments[arguments.length - 1];
const faces = [...document.fonts];
Promise.all(faces.map((face) => face.load().catch(() => null))).then(() => done(
  faces.map((face) => ({family: face.family, status: face.status}))));
"""


@pytest.mark.browser
def test_svg_embeds_the_glyphs_of_its_fonts_and_a_browser_loads_them(
    camera_ready: dict[str, Path], tmp_path: Path
) -> None:
    text = camera_ready["tokens.svg"].read_text(encoding="utf-8")
    assert text.count("@font-face") == 2  # the labels' sans and the tokens' mono font
    # renamed, the families can only come from the SVG itself, not from the machine
    alone = tmp_path / "alone.svg"
    alone.write_text(text.replace("DejaVu Sans", "Embedded Only"), encoding="utf-8")
    with export_browser._driver(1.0) as driver:
        export_browser._BROWSER.host_uses = 0
        driver.get(alone.as_uri())
        faces = driver.execute_async_script(_FONTS)
    assert sorted(f["family"].strip('"') for f in faces) == ["Embedded Only", "Embedded Only Mono"]
    assert {f["status"] for f in faces} == {"loaded"}, faces  # valid fonts
