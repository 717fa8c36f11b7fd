"""Tests of headwidgets.figures.svgclean: print-ready SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from tests.figures._helpers import SVG


def test_clean_svg_redraws_a_colour_ramp_image_as_rectangles_of_its_colours() -> None:
    import base64
    import io

    from PIL import Image

    from headwidgets.figures.svgclean import clean_svg

    ramp = np.zeros((40, 4, 3), dtype=np.uint8)
    ramp[:, :, 0] = np.repeat(np.arange(0, 200, 10, dtype=np.uint8), 2)[:, None]  # 20 bands
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    href = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="50" height="100"><image width="10" '
        f'height="80" transform="matrix(1, 0, 0, 1, 30, 10)" href="{href}"/></svg>'
    )
    root = ET.fromstring(clean_svg(svg))
    assert list(root.iter(f"{SVG}image")) == []
    (bar,) = root.iter(f"{SVG}g")
    assert bar.get("transform") == "matrix(1, 0, 0, 1, 30, 10)"
    rects = list(bar.iter(f"{SVG}rect"))
    assert [r.get("fill") for r in rects] == [f"#{v:02x}0000" for v in range(0, 200, 10)]
    assert float(rects[-1].get("y", 0)) + float(rects[-1].get("height", 0)) == 80  # the bar's end
