"""Export bokeh figures to SVG, PNG, PDF and self-contained HTML (the machinery behind hw.export).

SVG, PNG and PDF are drawn by a headless Chromium (:mod:`headwidgets.figures.browser`). SVG
is cleaned afterwards (:mod:`headwidgets.figures.svgclean`: each label once, vector colour
bars, the glyphs of its fonts embedded); PDF is that SVG printed by Chromium (vector, one
page of the figure's size). HTML export needs no browser: BokehJS is inlined, so the file
opens offline and loads nothing.

Every export embeds the figure's provenance (:mod:`headwidgets.figures.provenance`: the
cube's model, method, intervention, ...): ``<metadata>`` (JSON) in SVG, a ``headwidgets``
text chunk in PNG, a ``<meta>`` tag in HTML; a PDF gets the figure's title.

Example
-------
>>> import numpy as np, tempfile
>>> from bokeh.plotting import figure
>>> fig = figure(width=200, height=150, toolbar_location=None)
>>> _ = fig.line(np.arange(3), np.arange(3))
>>> path = export(fig, tempfile.mkdtemp() + "/line.html")   # no browser needed for HTML
>>> "Bokeh" in path.read_text()
True
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import xarray as xr

from headwidgets.cubes import as_cube
from headwidgets.figures import browser
from headwidgets.figures.provenance import _META_TAG, _is_dataset, _write_data, figure_metadata
from headwidgets.figures.style import Size, css_pixels
from headwidgets.figures.svgclean import clean_svg

if TYPE_CHECKING:
    from bokeh.models import Plot
    from bokeh.models.ui import UIElement

FORMATS: tuple[str, ...] = (".svg", ".png", ".pdf", ".html")


def _renamed_scale(pixel_ratio: float | None, scale: float | None) -> float | None:
    """``pixel_ratio``, or the value of its old keyword ``scale`` with a FutureWarning.

    The PNG pixel ratio was called ``scale``, a word that names an edit mode and a cube dim
    everywhere else in the package.
    """
    if scale is None:
        return pixel_ratio
    if pixel_ratio is not None:
        raise TypeError("pass pixel_ratio only; scale is its old name")
    warnings.warn(
        "the export keyword `scale` was renamed to `pixel_ratio` (PNG pixels per CSS pixel); "
        "`scale=` will stop working in a later release",
        FutureWarning,
        stacklevel=3,
    )
    return scale


def _plots(obj: Any) -> list[Plot]:
    from bokeh.models import Plot

    if isinstance(obj, Plot):
        return [obj]
    return list(obj.select({"type": Plot}))


@contextmanager
def _print_ready(obj: Any, backend: Literal["svg"] | None) -> Iterator[None]:
    """Hide toolbars (and switch to the SVG backend) for the export only, then restore."""
    saved = [(plot, plot.toolbar_location, plot.output_backend) for plot in _plots(obj)]
    try:
        for plot, _, _ in saved:
            plot.toolbar_location = None
            if backend is not None:
                plot.output_backend = backend
        yield
    finally:
        for plot, location, old_backend in saved:
            plot.toolbar_location = location
            plot.output_backend = old_backend


@contextmanager
def _sized(obj: Any, width: int | None, height: int | None) -> Iterator[None]:
    """Give a plot another size for one export only."""
    plots = _plots(obj)[:1] if (width or height) else []
    saved = [(plot, plot.width, plot.height) for plot in plots]
    try:
        for plot, _, _ in saved:
            plot.width = width or plot.width
            plot.height = height or plot.height
        yield
    finally:
        for plot, old_width, old_height in saved:
            plot.width, plot.height = old_width, old_height


def _draw(obj: UIElement, format: Literal["svg", "png"], pixel_ratio: float, width: int | None,
          height: int | None, timeout: float) -> dict[str, Any]:  # fmt: skip
    """Draw ``obj`` in the browser at ``pixel_ratio`` device pixels per CSS pixel."""
    from bokeh.embed import json_item

    # the plot keeps its canvas backend even for SVG: view.export("svg") repaints it into an
    # SVG context either way, but with output_backend="svg" BokehJS lays out any legend in a
    # side panel (above/below/right) with a collapsed, zero-height frame
    with _print_ready(obj, None), _sized(obj, width, height):
        owner = obj.document
        item = json.dumps(json_item(obj))  # type: ignore[arg-type]
        if owner is None and obj.document is not None:
            # json_item put the figure in a document of its own: take it out again, so the
            # figure can still be shown (show(fig)) or exported after this export
            obj.document.remove_root(obj)
    return browser.draw(item, format, pixel_ratio, timeout)


def _svg(obj: UIElement, width: int | None, height: int | None, timeout: float) -> str:
    # one copy of each label, vector colour bars (BokehJS writes neither)
    return clean_svg(str(_draw(obj, "svg", 1.0, width, height, timeout)["svg"]))


def _with_svg_metadata(svg: str, meta: Mapping[str, Any]) -> str:
    start = svg.index("<svg")
    end = svg.index(">", start)
    head = svg[start:end]
    extra = ""
    if "viewBox" not in head and 'width="' in head and 'height="' in head:
        width = head.split('width="', 1)[1].split('"', 1)[0]
        height = head.split('height="', 1)[1].split('"', 1)[0]
        extra = f' viewBox="0 0 {width} {height}"'
    inner = ""
    if meta:
        title = meta.get("title") or meta.get("long_name") or "headwidgets figure"
        inner = (
            f"<title>{html.escape(str(title))}</title>"
            f"<metadata>{html.escape(json.dumps(meta, sort_keys=True))}</metadata>"
        )
    return svg[:end] + extra + ">" + inner + svg[end + 1 :]


def _png(obj: UIElement, path: Path, pixel_ratio: float, width: int | None, height: int | None,
         timeout: float, meta: Mapping[str, Any]) -> None:  # fmt: skip
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    # the browser draws at devicePixelRatio = pixel_ratio: the canvas has print resolution
    result = _draw(obj, "png", pixel_ratio, width, height, timeout)
    data = base64.b64decode(str(result["png"]).split(",", 1)[1])
    drawn = Image.open(io.BytesIO(data)).convert("RGBA")
    # the canvas is transparent where nothing is drawn (its outermost half pixel, the gaps
    # between panels): lay it on the figure's own background (white by default)
    plots = _plots(obj)
    paper = str(plots[0].border_fill_color) if plots else "white"
    try:
        under = Image.new("RGBA", drawn.size, paper)
    except ValueError:  # a color name PIL does not know
        under = Image.new("RGBA", drawn.size, "white")
    image = Image.alpha_composite(under, drawn).convert("RGB")
    ratio = pixel_ratio
    size = (round(float(result["width"]) * ratio), round(float(result["height"]) * ratio))
    if image.size != size:  # rounding of fractional pixel ratios: at most a pixel
        image = image.resize(size, Image.Resampling.LANCZOS)
    info = PngInfo()
    info.add_text("Software", "headwidgets (bokeh, headless Chromium)")
    if meta:
        info.add_text(_META_TAG, json.dumps(meta, sort_keys=True))
    dpi = round(96 * pixel_ratio)  # 96 CSS px per inch, so the PNG prints at the figure's size
    image.save(path, pnginfo=info, dpi=(dpi, dpi))


def _pdf(svg: str, path: Path, title: str) -> None:
    head = svg[svg.index("<svg") : svg.index(">", svg.index("<svg"))]
    width = float(head.split('width="', 1)[1].split('"', 1)[0])
    height = float(head.split('height="', 1)[1].split('"', 1)[0])
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>"
        f"@page {{ size: {width}px {height}px; margin: 0 }}"
        "html, body { margin: 0; padding: 0; overflow: hidden }"
        "svg { display: block }"
        f"</style></head><body>{svg}</body></html>"
    )
    path.write_bytes(browser.print_pdf(page, width, height))


def _html(obj: UIElement, title: str, meta: Mapping[str, Any]) -> str:
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    page = file_html(obj, resources=INLINE, title=title)
    if meta:
        tag = (
            f'<meta name="{_META_TAG}" '
            f'content="{html.escape(json.dumps(meta, sort_keys=True), quote=True)}">'
        )
        page = page.replace("<head>", "<head>\n    " + tag, 1)
    return page


def export(
    fig: UIElement,
    path: str | os.PathLike[str],
    data: xr.DataArray | xr.Dataset | bool | None = None,
    pixel_ratio: float | None = None,
    *,
    dpi: float = 300.0,
    width: Size | None = None,
    height: Size | None = None,
    timeout: float = 10.0,
    scale: float | None = None,
) -> Path:
    """Write a bokeh figure to ``.svg``, ``.png``, ``.pdf`` or ``.html`` (by suffix).

    Parameters
    ----------
    fig
        A bokeh figure (or layout), e.g. from :func:`headwidgets.figures.head_heatmap`.
    path
        Output file; the suffix picks the format. Missing parent folders are created.
    data
        A cube to write beside the figure as netCDF (``name.nc``, read back with
        :func:`headwidgets.load_cube`), a Dataset of cubes, or ``True`` for the cube the
        figure was built from (for a :func:`~headwidgets.figures.panel`, a Dataset with the
        cube of every panel).
    pixel_ratio
        PNG only: pixels per CSS pixel (default ``dpi / 96``). The PNG is
        ``width·pixel_ratio × height·pixel_ratio`` pixels and carries ``96·pixel_ratio`` dpi,
        so it prints at the figure's size (96 CSS px = 1 inch).
    dpi
        PNG only, when ``pixel_ratio`` is not given: print resolution (default 300, what
        journals ask for).
    width, height
        Size for this export only (default: the figure's own size): CSS pixels,
        ``"column"``, ``"text"`` or a length such as ``"3.25in"`` (see :func:`css_pixels`).
    timeout
        Seconds to wait for BokehJS to render in the browser.
    scale
        The old name of ``pixel_ratio``: still accepted, with a FutureWarning.

    Returns
    -------
    pathlib.Path
        The figure's path.

    Raises
    ------
    BrowserNotFoundError
        For SVG/PNG/PDF when no Chromium/chromedriver is installed (the message says what to
        install). HTML never needs a browser.

    Notes
    -----
    SVG is drawn by bokeh's SVG backend, so glyphs are vector shapes and labels are text
    (one copy each; colour bars are vector rectangles too). PDF is that SVG printed by
    Chromium: vector, fonts embedded as TrueType subsets (no Type 3 fonts).
    The toolbar is hidden in SVG, PNG and PDF. HTML is self-contained (BokehJS inlined) and
    keeps hover tooltips. Provenance (model, method, intervention, ...) is embedded in the file.

    Example
    -------
    >>> import tempfile, numpy as np
    >>> import headwidgets as hw
    >>> from headwidgets.cubes import make_cube
    >>> from headwidgets.figures import head_heatmap
    >>> cube = make_cube(np.random.rand(2, 4), ("layer", "head"), name="induction")
    >>> out = tempfile.mkdtemp()
    >>> hw.export(head_heatmap(cube), out + "/heads.html", data=cube).name
    'heads.html'
    >>> hw.export(head_heatmap(cube), out + "/heads.svg")  # doctest: +SKIP
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unknown figure format {suffix!r} for {path}; expected one of {FORMATS}")
    pixel_ratio = _renamed_scale(pixel_ratio, scale)
    if pixel_ratio is None:
        if not dpi > 0:
            raise ValueError(f"dpi must be > 0, got {dpi}")
        pixel_ratio = dpi / 96
    if not pixel_ratio > 0:
        raise ValueError(f"pixel_ratio must be > 0, got {pixel_ratio}")
    meta = figure_metadata(fig)
    width = css_pixels(width) if width is not None else None
    height = css_pixels(height, "height") if height is not None else None
    if data is not None and not isinstance(data, bool) and not _is_dataset(data):
        data = as_cube(data, require=())  # fail before drawing, not after
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        title = str(meta.get("title") or meta.get("long_name") or "headwidgets figure")
        with _sized(fig, width, height):
            page = _html(fig, title, meta)
        path.write_text(page, encoding="utf-8")
    elif suffix == ".png":
        _png(fig, path, pixel_ratio, width, height, timeout, meta)
    else:
        svg = _with_svg_metadata(_svg(fig, width, height, timeout), meta)
        if suffix == ".svg":
            path.write_text(svg, encoding="utf-8")
        else:
            _pdf(svg, path, str(meta.get("title") or meta.get("long_name") or "headwidgets figure"))
    _write_data(data, fig, path)
    return path
