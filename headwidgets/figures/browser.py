"""The headless Chromium behind SVG, PNG and PDF export.

One browser is started (through selenium's chromedriver) on the first export and reused by
every later one; it is closed when Python exits. It keeps a page with BokehJS loaded, so after
start-up an export only draws the figure (~0.2 s for a 32 x 32 heatmap): :func:`draw` embeds
a figure there and returns its SVG or PNG; :func:`print_pdf` prints a page to PDF.

Example
-------
>>> browser, driver = find_browser()  # doctest: +SKIP
>>> browser, driver  # doctest: +SKIP
('/usr/bin/chromium', '/usr/bin/chromedriver')
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

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
        self.pixel_ratio = 1.0  # the page's device pixel ratio (PNG pixels per CSS pixel)
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
        self.driver, self.pixel_ratio, self.host_uses = driver, 1.0, 0
        return driver

    def get(self, pixel_ratio: float = 1.0) -> WebDriver:
        driver = self.driver if self.driver is not None else self.start()
        if pixel_ratio != self.pixel_ratio:
            # change the device pixel ratio in place instead of starting a second browser
            metrics = {"width": 0, "height": 0, "deviceScaleFactor": pixel_ratio, "mobile": False}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # type: ignore[attr-defined]
            self.pixel_ratio = pixel_ratio
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
def _driver(pixel_ratio: float = 1.0) -> Iterator[WebDriver]:
    with _BROWSER.lock:
        try:
            driver = _BROWSER.get(pixel_ratio)
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
            driver = _BROWSER.get(pixel_ratio)
        yield driver


# ---------------------------------------------------------------------------------------------
# drawing in the host page


# bokeh's get_svg() and export_png() load a fresh page with all of BokehJS inlined (1.3 MB) for
# every figure, ~0.6 s before anything is drawn. Instead the browser keeps one host page with
# BokehJS loaded; each export embeds the figure there (json_item), makes the same call those
# functions make (view.export("svg") / view.export("png") at devicePixelRatio = pixel_ratio) and
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


def draw(
    item: str, format: Literal["svg", "png"], pixel_ratio: float, timeout: float
) -> dict[str, Any]:
    """Draw a figure (bokeh's ``json_item``, as JSON) in the host page at ``pixel_ratio``
    device pixels per CSS pixel: ``{"svg": ...}`` or ``{"png": data URL, "width", "height"}``.
    """
    with _driver(pixel_ratio) as driver:
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


def print_pdf(page: str, width: float, height: float) -> bytes:
    """The PDF Chromium prints of the HTML ``page``: one page of ``width`` × ``height`` CSS
    pixels, no margins, backgrounds printed."""
    from selenium.webdriver.common.print_page_options import PrintOptions

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
    return base64.b64decode(encoded)
