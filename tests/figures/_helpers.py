"""Cube builders and SVG readers the figure tests share."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

import headwidgets as hw
from headwidgets.figures import browser as export_browser

SVG = "{http://www.w3.org/2000/svg}"
TOKENS = [
    "<s>",
    " Mary",
    " and",
    " John",
    " went",
    " to",
    " the",
    " store",
    ",",
    " John",
    " gave",
    " Mary",
]


def _attrs(**extra: Any) -> dict[str, Any]:
    attrs = {
        "model": "toy-12l",
        "revision": "",
        "dtype": "float32",
        "method": "induction",
        "metric": "",
        "intervention": "null",
        "headwidgets_version": hw.__version__,
        "long_name": "induction score",
        "units": "attention",
    }
    attrs.update(extra)
    return attrs


def _heads(values: np.ndarray, name: str = "induction", **attrs: Any) -> xr.DataArray:
    layers, heads = values.shape
    return xr.DataArray(
        values,
        dims=("layer", "head"),
        coords={"layer": np.arange(layers), "head": np.arange(heads)},
        name=name,
        attrs=_attrs(**attrs),
    )


def _svg_tree(path: Path) -> ET.Element:
    return ET.fromstring(path.read_text(encoding="utf-8"))


def _texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()).strip() for node in root.iter(f"{SVG}text")]


def _is_rect(d: str) -> bool:
    return bool(re.fullmatch(r"M [\d.e-]+ [\d.e-]+( L [\d.e-]+ [\d.e-]+){4} Z", d.strip()))


_TEXT_BOXES = """
const svg = document.querySelector("svg");
const boxes = [];
for (const node of svg.querySelectorAll("text")) {
  const box = node.getBBox(), m = node.getCTM();
  const xs = [], ys = [];
  for (const [x, y] of [[box.x, box.y], [box.x + box.width, box.y],
                        [box.x, box.y + box.height], [box.x + box.width, box.y + box.height]]) {
    xs.push(m.a * x + m.c * y + m.e); ys.push(m.b * x + m.d * y + m.f);
  }
  boxes.push({text: node.textContent, left: Math.min(...xs), right: Math.max(...xs),
              top: Math.min(...ys), bottom: Math.max(...ys)});
}
return {width: svg.width.baseVal.value, height: svg.height.baseVal.value, boxes};
"""


def _text_boxes(path: Path) -> dict[str, Any]:
    """Every text's bounding box on the SVG's canvas, measured by the export browser."""
    with export_browser._driver(1.0) as driver:
        export_browser._BROWSER.host_uses = 0  # the next export loads its host page again
        driver.get(path.as_uri())
        return dict(driver.execute_script(_TEXT_BOXES))


def _panels(grid: Any) -> list[Any]:
    return [fig for line in grid.children for fig in line.children]
