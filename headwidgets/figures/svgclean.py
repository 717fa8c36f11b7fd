"""Make bokeh's SVG print-ready: one copy of each label, vector colour bars.

BokehJS's SVG backend writes every label twice: the text filled, then the same text again
with an invisible stroke. Viewers show one, but text extraction (``pdftotext``, screen
readers, search) finds every label twice, and Chromium prints the stroked copy as Type 3
fonts, which camera-ready checkers flag. Colour bars come as an embedded 96-ppi PNG, and the
fonts are only named. The functions here remove the invisible copies, redraw each colour-bar
image as vector rectangles, one per colour run of the image (the same colours, now
resolution-free), and embed the glyphs the labels use (a subset of each font, see
:mod:`headwidgets.figures.fontsubset`), so the SVG looks the same on a machine without DejaVu.

Example
-------
>>> svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10">'
...        '<text fill="#000" stroke="none" x="1" y="9">a</text>'
...        '<text fill="none" stroke="rgb(0,0,0)" stroke-opacity="0" x="1" y="9">a</text></svg>')
>>> clean_svg(svg).count("<text")
1
"""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET

import numpy as np

from headwidgets.figures.fontsubset import font_file, subset

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
_SVG = f"{{{SVG_NS}}}"
_PNG_PREFIX = "data:image/png;base64,"
#: a colour run is drawn this much (in the image's own units) into the next one, so no
#: viewer shows a hairline seam between two rectangles
_OVERLAP = 0.25


def _invisible(node: ET.Element) -> bool:
    """A text drawn with no fill and no visible stroke (BokehJS's second copy)."""
    if node.get("fill") != "none":
        return False
    stroke = node.get("stroke")
    return stroke in (None, "none") or node.get("stroke-opacity") in ("0", "0.0")


def _number(node: ET.Element, key: str, default: float = 0.0) -> float:
    text = node.get(key)
    return float(text) if text else default


def _runs(colors: list[tuple[int, ...]]) -> list[tuple[int, int, tuple[int, ...]]]:
    """(start, length, rgba) of each run of equal colours."""
    runs: list[tuple[int, int, tuple[int, ...]]] = []
    for i, color in enumerate(colors):
        if runs and runs[-1][2] == color:
            start, length, _ = runs[-1]
            runs[-1] = (start, length + 1, color)
        else:
            runs.append((i, 1, color))
    return runs


def _vector_bar(node: ET.Element) -> ET.Element | None:
    """A ``<g>`` of rectangles drawing the same colours as a colour-bar ``<image>``, or None
    when the image is not a one-directional colour ramp (left as it is)."""
    from PIL import Image

    href = node.get("href") or node.get(f"{{{XLINK_NS}}}href") or ""
    if not href.startswith(_PNG_PREFIX):
        return None
    with Image.open(io.BytesIO(base64.b64decode(href[len(_PNG_PREFIX) :]))) as image:
        pixels = np.asarray(image.convert("RGBA"))
    h_px, w_px = pixels.shape[:2]
    if not w_px or not h_px:
        return None
    uniform_rows = bool((pixels == pixels[:, :1]).all())  # colours change down the bar
    uniform_columns = bool((pixels == pixels[:1]).all())  # colours change along it
    if not (uniform_rows or uniform_columns):
        return None
    vertical = uniform_rows and (h_px >= w_px or not uniform_columns)
    along = [tuple(int(c) for c in p) for p in (pixels[:, 0] if vertical else pixels[0])]
    x0, y0 = _number(node, "x"), _number(node, "y")
    width, height = _number(node, "width", w_px), _number(node, "height", h_px)
    step = (height / h_px) if vertical else (width / w_px)
    group = ET.Element(f"{_SVG}g", {"class": "hw-colorbar"})
    for key in ("transform", "clip-path", "opacity"):
        if node.get(key) is not None:
            group.set(key, str(node.get(key)))
    runs = _runs(along)
    for i, (start, length, (r, g, b, a)) in enumerate(runs):
        extra = _OVERLAP if i < len(runs) - 1 else 0.0
        offset, size = start * step, length * step + extra
        attrs = {
            "x": f"{x0:g}" if vertical else f"{x0 + offset:.4g}",
            "y": f"{y0 + offset:.4g}" if vertical else f"{y0:g}",
            "width": f"{width:g}" if vertical else f"{size:.4g}",
            "height": f"{size:.4g}" if vertical else f"{height:g}",
            "fill": f"#{r:02x}{g:02x}{b:02x}",
            "stroke": "none",
        }
        if a < 255:
            attrs["fill-opacity"] = f"{a / 255:.3g}"
        ET.SubElement(group, f"{_SVG}rect", attrs)
    return group


_SMALL = 64  # images up to this many pixels a side are legend swatches: redrawn pixel-exact


def _vector_pixels(node: ET.Element) -> ET.Element | None:
    """A ``<g>`` of rectangles that draws a small ``<image>`` (a legend swatch, which BokehJS
    rasterises) pixel for pixel: equal colors of a row in one rectangle, equal rows merged."""
    from PIL import Image

    href = node.get("href") or node.get(f"{{{XLINK_NS}}}href") or ""
    if not href.startswith(_PNG_PREFIX):
        return None
    with Image.open(io.BytesIO(base64.b64decode(href[len(_PNG_PREFIX) :]))) as image:
        pixels = np.asarray(image.convert("RGBA"))
    h_px, w_px = pixels.shape[:2]
    if not (0 < w_px <= _SMALL and 0 < h_px <= _SMALL):
        return None
    sx = _number(node, "width", w_px) / w_px
    sy = _number(node, "height", h_px) / h_px
    x0, y0 = _number(node, "x"), _number(node, "y")
    rows = [
        [(start, length, color) for start, length, color in _runs([tuple(int(c) for c in p)
         for p in pixels[y]]) if color[3] > 0]
        for y in range(h_px)
    ]  # fmt: skip
    group = ET.Element(f"{_SVG}g", {"class": "hw-swatch"})
    for key in ("transform", "clip-path", "opacity"):
        if node.get(key) is not None:
            group.set(key, str(node.get(key)))
    done: set[tuple[int, int, int, tuple[int, ...]]] = set()
    for y, runs in enumerate(rows):
        for start, length, color in runs:
            if (y, start, length, color) in done:
                continue
            height = 1
            while y + height < h_px and (start, length, color) in rows[y + height]:
                done.add((y + height, start, length, color))
                height += 1
            r, g, b, a = color
            attrs = {
                "x": f"{x0 + start * sx:.4g}",
                "y": f"{y0 + y * sy:.4g}",
                "width": f"{length * sx:.4g}",
                "height": f"{height * sy:.4g}",
                "fill": f"#{r:02x}{g:02x}{b:02x}",
                "stroke": "none",
            }
            if a < 255:
                attrs["fill-opacity"] = f"{a / 255:.3g}"
            ET.SubElement(group, f"{_SVG}rect", attrs)
    return group


def _family(node: ET.Element) -> str:
    return (node.get("font-family") or "").split(",")[0].strip().strip("'\"")


def _embed_fonts(root: ET.Element) -> None:
    """A ``@font-face`` with the subset of each font the labels use, so the SVG looks the
    same where that font is not installed (fonts this machine lacks are only named)."""
    texts: dict[str, str] = {}
    for node in root.iter(f"{_SVG}text"):
        family = _family(node)
        if family:
            texts[family] = texts.get(family, "") + "".join(node.itertext())
    rules = []
    for family, text in sorted(texts.items()):
        path = font_file(family)
        data = subset(path.read_bytes(), text) if path is not None else None
        if data is not None:
            encoded = base64.b64encode(data).decode("ascii")
            rules.append(
                f'@font-face {{ font-family: "{family}"; '
                f'src: url("data:font/ttf;base64,{encoded}") format("truetype"); }}'
            )
    if not rules:
        return
    defs = root.find(f"{_SVG}defs")
    if defs is None:
        defs = ET.Element(f"{_SVG}defs")
        root.insert(0, defs)
    style = ET.SubElement(defs, f"{_SVG}style", {"type": "text/css"})
    style.text = " ".join(rules)


def clean_svg(svg: str, embed_fonts: bool = True) -> str:
    """``svg`` with BokehJS's invisible duplicate labels removed, colour-bar images redrawn
    as vector rectangles and (``embed_fonts``) the glyphs of its fonts embedded (see the
    module docstring)."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(svg)
    parents = {child: parent for parent in root.iter() for child in parent}
    for node in list(root.iter(f"{_SVG}text")):
        if _invisible(node):
            parents[node].remove(node)
    for node in list(root.iter(f"{_SVG}image")):
        vector = _vector_bar(node) or _vector_pixels(node)
        if vector is not None:
            parent = parents[node]
            parent.insert(list(parent).index(node), vector)
            parent.remove(node)
    if embed_fonts:
        _embed_fonts(root)
    return ET.tostring(root, encoding="unicode")
