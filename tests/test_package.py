"""The package surface: light import, lazy public names."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_importing_headwidgets_loads_no_heavy_library() -> None:
    code = (
        "import sys, headwidgets; "
        "heavy = [m for m in ('torch', 'transformers', 'xarray', 'bokeh') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "name", ["bind", "load", "Intervention", "Metric", "save_cube", "export", "Explorer", "models"]
)
def test_public_names_resolve_lazily(name: str) -> None:
    import headwidgets as hw

    assert getattr(hw, name) is not None
    assert name in dir(hw)


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    import headwidgets as hw

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        hw.nope  # noqa: B018
