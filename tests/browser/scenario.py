"""The model and prompts the browser tests and the refresh benchmark run on.

A shipped model when one is present (``circuits-4l``, else ``induction-2l``); a random-init
tiny GPT-2 otherwise, so the tests also run in a checkout whose models are not trained yet.
The notebook cells and the test process build the very same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "headwidgets" / "zoo"
XSS_PROMPT = "When Mary <img src=x onerror=alert(1)> and <script>alert(2)</script> John went"


@dataclass(frozen=True)
class Scenario:
    model: str
    load: str  # Python expression that evaluates to the HeadModel
    prompt: str
    target: str | None
    distractor: str | None

    def head_model(self) -> Any:
        """The same model, loaded in this process."""
        namespace: dict[str, Any] = {}
        exec(f"import headwidgets as hw\nhm = {self.load}", namespace)
        return namespace["hm"]

    def setup_cell(self, threads: int | None = None) -> str:
        lines = [
            "import sys",
            f"sys.path.insert(0, {str(ROOT)!r})",
            "import headwidgets as hw",
        ]
        if threads:
            lines += ["import torch", f"torch.set_num_threads({threads})"]
        lines += [
            f"hm = {self.load}",
            f"PROMPT = {self.prompt!r}",
        ]
        return "\n".join(lines)

    def explorer_cell(self, heads: list[tuple[int, int]] | None = None) -> str:
        extra = f", heads={heads!r}" if heads else ""
        return (
            f"ex = hw.Explorer(hm, PROMPT, target={self.target!r}, "
            f"distractor={self.distractor!r}{extra})\nex"
        )


def scenario() -> Scenario:
    """The shipped model when present, else the tiny random-init stand-in."""
    if (ZOO / "circuits-4l" / "model.safetensors").is_file():
        return Scenario(
            "circuits-4l",
            'hw.load("circuits-4l", device="cpu")',
            "When Mary and John went to the store, John gave a drink to",
            " Mary",
            " John",
        )
    if (ZOO / "induction-2l" / "model.safetensors").is_file():
        return Scenario(
            "induction-2l",
            'hw.load("induction-2l", device="cpu")',
            "ka ro vi tu ne be ka ro vi tu ne",
            " be",
            None,
        )
    return Scenario(
        "tiny-gpt2 (random init)",
        "__import__('tests._tiny', fromlist=['tiny']).tiny('gpt2')",
        "w1 w5 w9 w13 w17 w1 w5 w9 w13",
        "w17",
        "w3",
    )
