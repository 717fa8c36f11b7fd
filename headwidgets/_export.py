"""Export bokeh figures to SVG, PNG, PDF and self-contained HTML (the machinery behind hw.export).

SVG, PNG and PDF are rendered by a headless Chromium driven through selenium's chromedriver.
One browser is started on the first export and reused by every later one (it is closed when
Python exits); it keeps a page with BokehJS loaded, so after start-up an export only draws the
figure (~0.2 s for a 32 x 32 heatmap). PDF is the SVG printed by Chromium (vector, one page of
the figure's size). HTML export needs no browser: BokehJS is inlined, so the file opens
offline and loads nothing.

Every export embeds the figure's provenance (the cube's model, method, intervention, ...):
``<metadata>`` (JSON) in SVG, a ``headwidgets`` text chunk in PNG, a ``<meta>`` tag in HTML;
a PDF gets the figure's title.

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

import atexit
import base64
import html
import io
import json
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import xarray as xr
    from bokeh.models import Plot
    from bokeh.models.ui import UIElement
    from selenium.webdriver.remote.webdriver import WebDriver

__all__ = ["BrowserNotFoundError", "close_browser", "export", "figure_metadata", "find_browser"]

ExportFormat = Literal["svg", "png", "pdf", "html"]
FORMATS: tuple[str, ...] = (".svg", ".png", ".pdf", ".html")

#: flags every export browser starts with (``--no-sandbox`` is added when running as root)
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--force-device-scale-factor=1",
)
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_DRIVERS = ("chromedriver", "chromium.chromedriver")
INSTALL_HINT = (
    "install them with `apt-get install chromium chromium-driver` (Debian/Ubuntu), "
    "or point HEADWIDGETS_CHROMIUM and HEADWIDGETS_CHROMEDRIVER at a Chrome/Chromium and its "
    "matching chromedriver; HTML export works without a browser"
)


#: widths of a two-column paper in inches: one column, and the whole text width
COLUMN_INCHES, TEXT_INCHES = 3.25, 6.75
#: a figure size: CSS pixels (96 per inch), ``"column"``, ``"text"``, or a length with its
#: unit (``"3.25in"``, ``"8cm"``, ``"85mm"``, ``"240pt"``, ``"300px"``)
Size = int | float | str
_UNITS_PX = (("in", 96.0), ("cm", 96 / 2.54), ("mm", 96 / 25.4), ("pt", 96 / 72), ("px", 1.0))


def css_pixels(size: Size, what: str = "width") -> int:
    """A figure size in CSS pixels (96 per inch, what bokeh and the exports use).

    Example
    -------
    >>> css_pixels("column"), css_pixels("text"), css_pixels("2in"), css_pixels(300)
    (312, 648, 192, 300)
    """
    if isinstance(size, str):
        text = size.strip().lower()
        if text in ("column", "text"):
            return round(96 * (COLUMN_INCHES if text == "column" else TEXT_INCHES))
        for unit, px in _UNITS_PX:
            number = text.removesuffix(unit).strip()
            if text.endswith(unit) and number.replace(".", "", 1).isdigit() and float(number):
                return round(float(number) * px)
    elif not isinstance(size, bool) and isinstance(size, (int, float)) and size > 0:
        return round(float(size))
    raise ValueError(
        f"unknown {what} {size!r}; use 'column' ({COLUMN_INCHES} in), 'text' ({TEXT_INCHES} in), "
        "a length such as '3.25in', '8cm', '85mm', '240pt', or CSS pixels (96 per inch)"
    )


class BrowserNotFoundError(RuntimeError):
    """No headless Chromium/Chrome (or no chromedriver) was found for SVG/PNG/PDF export."""


def _executable(env: str, fixed: str, names: tuple[str, ...]) -> str | None:
    override = os.environ.get(env)
    if override:
        return override if os.access(override, os.X_OK) else None
    if os.access(fixed, os.X_OK):
        return fixed
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def find_browser() -> tuple[str, str]:
    """Paths of the Chromium/Chrome binary and of its chromedriver used for exports.

    Looks at ``$HEADWIDGETS_CHROMIUM`` / ``$HEADWIDGETS_CHROMEDRIVER`` first, then
    ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``, then the PATH.

    Raises
    ------
    BrowserNotFoundError
        When either is missing; the message says what to install.

    Example
    -------
    >>> browser, driver = find_browser()  # doctest: +SKIP
    >>> browser, driver  # doctest: +SKIP
    ('/usr/bin/chromium', '/usr/bin/chromedriver')
    """
    browser = _executable("HEADWIDGETS_CHROMIUM", "/usr/bin/chromium", _BROWSERS)
    driver = _executable("HEADWIDGETS_CHROMEDRIVER", "/usr/bin/chromedriver", _DRIVERS)
    missing = [
        what
        for what, found in (("a Chromium/Chrome browser", browser), ("chromedriver", driver))
        if found is None
    ]
    if browser is None or driver is None:
        raise BrowserNotFoundError(
            f"SVG, PNG and PDF export need a headless Chromium and its chromedriver; "
            f"{' and '.join(missing)} not found (looked at $HEADWIDGETS_CHROMIUM, "
            f"$HEADWIDGETS_CHROMEDRIVER, /usr/bin and PATH for {', '.join(_BROWSERS + _DRIVERS)}): "
            f"{INSTALL_HINT}"
        )
    return browser, driver


# ---------------------------------------------------------------------------------------------
# the shared browser


class _Browser:
    """One headless Chromium for the whole process, started lazily, closed at exit."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.driver: WebDriver | None = None
        self.scale = 1.0
        self.host: Path | None = None  # the page with BokehJS that SVG exports draw in
        self.host_uses = 0  # exports since the host page was loaded; 0: load it first

    def start(self) -> WebDriver:
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.chrome.webdriver import WebDriver as Chrome

        browser, chromedriver = find_browser()
        options = Options()
        options.binary_location = browser
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            options.add_argument("--no-sandbox")  # Chromium refuses to start as root otherwise
        try:
            driver = Chrome(service=Service(chromedriver), options=options)
        except Exception as error:  # selenium raises several types; all mean "no browser"
            raise BrowserNotFoundError(
                f"could not start {browser} through {chromedriver} ({error}); the two must be "
                f"matching versions: {INSTALL_HINT}"
            ) from error
        self.driver, self.scale, self.host_uses = driver, 1.0, 0
        return driver

    def get(self, scale: float = 1.0) -> WebDriver:
        driver = self.driver if self.driver is not None else self.start()
        if scale != self.scale:
            # change the device pixel ratio in place instead of starting a second browser
            metrics = {"width": 0, "height": 0, "deviceScaleFactor": scale, "mobile": False}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # type: ignore[attr-defined]
            self.scale = scale
        return driver

    def close(self) -> None:
        with self.lock:
            if self.driver is not None:
                try:
                    self.driver.quit()
                finally:
                    self.driver = None


_BROWSER = _Browser()


def close_browser() -> None:
    """Quit the shared export browser (done automatically when Python exits).

    Example
    -------
    >>> close_browser()  # the next SVG/PNG export starts a new one
    """
    _BROWSER.close()


atexit.register(close_browser)


@contextmanager
def _driver(scale: float = 1.0) -> Iterator[WebDriver]:
    with _BROWSER.lock:
        try:
            driver = _BROWSER.get(scale)
            driver.execute_script("return 1")
        # the browser or chromedriver died (crash, killed, quit elsewhere): selenium raises
        # WebDriverException, urllib3 a connection error; either way start a fresh one
        except Exception:
            if _BROWSER.driver is None:
                raise  # it never started: the error says why
            try:
                _BROWSER.close()
            except Exception:
                _BROWSER.driver = None
            driver = _BROWSER.get(scale)
        yield driver


# ---------------------------------------------------------------------------------------------
# figure metadata and data


_CUBES: weakref.WeakKeyDictionary[Any, xr.DataArray | xr.Dataset] = weakref.WeakKeyDictionary()
_META_TAG = "headwidgets"


def remember(fig: Any, cube: xr.DataArray | xr.Dataset | None, meta: Mapping[str, Any]) -> None:
    """Attach provenance (and the cube for ``data=True``) to a figure built from a cube."""
    if cube is not None:
        _CUBES[fig] = cube
    fig.tags = [t for t in fig.tags if not (isinstance(t, dict) and _META_TAG in t)]
    fig.tags.append({_META_TAG: dict(meta)})


def figure_metadata(fig: Any) -> dict[str, Any]:
    """The provenance a figure builder stored on ``fig`` (``{}`` for other figures).

    Example
    -------
    >>> from bokeh.plotting import figure
    >>> figure_metadata(figure())
    {}
    """
    for obj in [fig, *getattr(fig, "children", [])]:
        for tag in getattr(obj, "tags", []):
            if isinstance(tag, dict) and _META_TAG in tag:
                return dict(tag[_META_TAG])
    return {}


def _is_dataset(data: Any) -> bool:
    return type(data).__name__ == "Dataset" and hasattr(data, "data_vars")


def _write_data(data: Any, fig: Any, path: Path) -> Path | None:
    if data is None or data is False:
        return None
    if data is True:
        if fig not in _CUBES:
            raise ValueError(
                "data=True writes the cube a headwidgets figure was built from, but this figure "
                "was not built by headwidgets.figures; pass the cube itself: data=cube"
            )
        data = _CUBES[fig]
    from headwidgets.cubes import save_cube

    return save_cube(data, path.with_suffix(".nc"))


# ---------------------------------------------------------------------------------------------
# formats


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


# bokeh's get_svg() and export_png() load a fresh page with all of BokehJS inlined (1.3 MB) for
# every figure, ~0.6 s before anything is drawn. Instead the browser keeps one host page with
# BokehJS loaded; each export embeds the figure there (json_item), makes the same call those
# functions make (view.export("svg") / view.export("png") at devicePixelRatio = scale) and
# removes it again: ~0.2 s for a 32 x 32 heatmap.
_EXPORT_SCRIPT = r"""
const item = JSON.parse(arguments[0]), format = arguments[1];
// Each visible label gets the length it has here (DejaVu Sans, which BokehJS placed it for)
// as textLength, so a viewer that substitutes another font keeps every label's extent and
// right-aligned labels stay aligned.
const pinTextLengths = (source) => {
  const svg = new DOMParser().parseFromString(source, "image/svg+xml").documentElement;
  const host = document.createElement("div");
  host.style.cssText = "position: absolute; left: -10000px; top: 0";
  host.appendChild(svg);
  document.body.appendChild(host);
  for (const text of svg.querySelectorAll("text")) {
    if (text.getAttribute("fill") === "none" || !text.textContent) continue;
    const length = text.getComputedTextLength();
    if (length > 0) {
      text.setAttribute("textLength", length.toFixed(2));
      text.setAttribute("lengthAdjust", "spacingAndGlyphs");
    }
  }
  host.remove();
  return new XMLSerializer().serializeToString(svg);
};
const done = arguments[arguments.length - 1];
const root = document.getElementById("root");
root.replaceChildren();
const target = document.createElement("div");
root.appendChild(target);
Bokeh.embed.embed_item(item, target).then((views) => {
  const view = views.roots[0];
  const doc = view.model.document;
  const finish = () => {
    let result;
    try {
      if (format === "svg") {
        result = {svg: pinTextLengths(view.export("svg").ctx.get_serialized_svg(true))};
      } else {
        const layer = view.export("png", true);
        const {width, height} = layer.bbox;
        result = {png: layer.canvas.toDataURL("image/png"), width, height};
      }
    } catch (error) {
      result = {error: String((error && error.stack) || error)};
    }
    views.clear();
    const at = Bokeh.documents.indexOf(doc);
    if (at >= 0) Bokeh.documents.splice(at, 1);
    root.replaceChildren();
    done(result);
  };
  if (doc.is_idle) finish(); else doc.idle.connect(finish);
}).catch((error) => done({error: String((error && error.stack) || error)}));
"""
_HOST_RELOAD_EVERY = 200  # exports between fresh host pages (bounds any leak in the page)


def _host_page() -> Path:
    from bokeh.resources import INLINE

    folder = Path(tempfile.mkdtemp(prefix="headwidgets-export-"))
    atexit.register(shutil.rmtree, folder, True)
    page = folder / "host.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<style>html, body { margin: 0; padding: 0 }</style>"
        f"{INLINE.render_js()}</head><body><div id='root'></div></body></html>",
        encoding="utf-8",
    )
    return page


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


def _draw(obj: UIElement, format: Literal["svg", "png"], scale: float, width: int | None,
          height: int | None, timeout: float) -> dict[str, Any]:  # fmt: skip
    """Draw ``obj`` in the host page at ``scale`` device pixels per CSS pixel."""
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
    with _driver(scale) as driver:
        if _BROWSER.host_uses % _HOST_RELOAD_EVERY == 0:
            if _BROWSER.host is None or not _BROWSER.host.exists():
                _BROWSER.host = _host_page()
            driver.get(_BROWSER.host.as_uri())
        _BROWSER.host_uses += 1
        driver.set_script_timeout(timeout)
        result = driver.execute_async_script(_EXPORT_SCRIPT, item, format)
    if not isinstance(result, dict) or format not in result:
        error = result.get("error") if isinstance(result, dict) else result
        raise RuntimeError(f"BokehJS could not draw the figure as {format.upper()}: {error}")
    return result


def _svg(obj: UIElement, width: int | None, height: int | None, timeout: float) -> str:
    from headwidgets._svgclean import clean_svg

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


def _png(obj: UIElement, path: Path, scale: float, width: int | None, height: int | None,
         timeout: float, meta: Mapping[str, Any]) -> None:  # fmt: skip
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    # the browser draws at devicePixelRatio = scale, so the canvas already has print resolution
    result = _draw(obj, "png", scale, width, height, timeout)
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
    size = (round(float(result["width"]) * scale), round(float(result["height"]) * scale))
    if image.size != size:  # rounding of fractional scales: at most a pixel
        image = image.resize(size, Image.Resampling.LANCZOS)
    info = PngInfo()
    info.add_text("Software", "headwidgets (bokeh, headless Chromium)")
    if meta:
        info.add_text(_META_TAG, json.dumps(meta, sort_keys=True))
    dpi = round(96 * scale)  # 96 CSS px per inch, so the PNG prints at the figure's size
    image.save(path, pnginfo=info, dpi=(dpi, dpi))


def _pdf(svg: str, path: Path, title: str) -> None:
    from selenium.webdriver.common.print_page_options import PrintOptions

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
    options = PrintOptions()
    options.page_width = width * 2.54 / 96  # cm
    options.page_height = height * 2.54 / 96
    options.margin_top = options.margin_bottom = options.margin_left = options.margin_right = 0
    options.background = True
    options.shrink_to_fit = False
    with tempfile.TemporaryDirectory(prefix="headwidgets-") as tmp:
        page_path = Path(tmp) / "figure.html"
        page_path.write_text(page, encoding="utf-8")
        with _driver(1.0) as driver:
            _BROWSER.host_uses = 0
            driver.get(page_path.as_uri())
            encoded = driver.print_page(options)
    path.write_bytes(base64.b64decode(encoded))


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
    scale: float | None = None,
    *,
    dpi: float = 300.0,
    width: Size | None = None,
    height: Size | None = None,
    timeout: float = 10.0,
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
    scale
        PNG only: pixels per CSS pixel (default ``dpi / 96``). The PNG is
        ``width·scale × height·scale`` pixels and carries ``96·scale`` dpi, so it prints at
        the figure's size (96 CSS px = 1 inch).
    dpi
        PNG only, when ``scale`` is not given: print resolution (default 300, what journals
        ask for).
    width, height
        Size for this export only (default: the figure's own size): CSS pixels,
        ``"column"``, ``"text"`` or a length such as ``"3.25in"`` (see :func:`css_pixels`).
    timeout
        Seconds to wait for BokehJS to render in the browser.

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
    if scale is None:
        if not dpi > 0:
            raise ValueError(f"dpi must be > 0, got {dpi}")
        scale = dpi / 96
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    meta = figure_metadata(fig)
    width = css_pixels(width) if width is not None else None
    height = css_pixels(height, "height") if height is not None else None
    if data is not None and not isinstance(data, bool) and not _is_dataset(data):
        from headwidgets.cubes import as_cube

        data = as_cube(data, require=())  # fail before drawing, not after
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        title = str(meta.get("title") or meta.get("long_name") or "headwidgets figure")
        with _sized(fig, width, height):
            page = _html(fig, title, meta)
        path.write_text(page, encoding="utf-8")
    elif suffix == ".png":
        _png(fig, path, scale, width, height, timeout, meta)
    else:
        svg = _with_svg_metadata(_svg(fig, width, height, timeout), meta)
        if suffix == ".svg":
            path.write_text(svg, encoding="utf-8")
        else:
            _pdf(svg, path, str(meta.get("title") or meta.get("long_name") or "headwidgets figure"))
    _write_data(data, fig, path)
    return path
