"""The README's code runs as written (the "Ten lines" example)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from headwidgets._export import BrowserNotFoundError, find_browser

README = Path(__file__).resolve().parent.parent / "README.md"


def _block_after(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_the_ten_line_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        find_browser()
    except BrowserNotFoundError as err:  # pragma: no cover - make test installs chromium
        pytest.skip(f"hw.export needs chromium: {err}")
    code = _block_after("## Ten lines")
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert (tmp_path / "effect.svg").stat().st_size > 1000
    assert (tmp_path / "effect.nc").is_file()
    effect = namespace["effect"]
    assert getattr(effect, "dims", None) == ("layer", "head")
    assert os.path.basename(str(namespace["hm"].name)) == "circuits-4l"
