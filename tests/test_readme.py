"""Every ```bash and ```python block of the README runs as written, on the shipped models.

Only the statements that :data:`SKIP` names are left out, each for its stated reason; a block
whose every statement is left out is reported as skipped, with the reasons. ``headwidgets``
commands run in-process through ``headwidgets.cli.main`` (no subprocess per command).
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from headwidgets.cli import main
from headwidgets.figures import BrowserNotFoundError, find_browser

README = Path(__file__).resolve().parent.parent / "README.md"

SKIP: tuple[tuple[str, str], ...] = (
    (r"^make demo\b", "starts a JupyterLab server that runs until it is stopped"),
    (r"^make test\b", "runs the whole test suite, this test included"),
    (
        r"^headwidgets demo\b",
        "starts a JupyterLab server that runs until it is stopped (its command line is "
        "checked by `headwidgets demo --dry-run` in test_cli.py)",
    ),
    (r"hw\.load\(\"[\w.-]+/[\w.-]+\"", "loads a model from the Hugging Face hub (internet)"),
    (r"device=\"cuda|device_map=", "needs a GPU"),
)
"""(pattern searched in a statement, why it is not run here); the first match gives the reason."""

_FENCE = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)
_HEADING = re.compile(r"^#{1,6} (.+)$", re.M)


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    section: str
    """The heading above the block."""
    language: str
    code: str
    line: int
    """README line of the block's first code line."""

    @property
    def id(self) -> str:
        return f"{self.language}@{self.line}:{self.section}"


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        headings = _HEADING.findall(text[: match.start()])
        line = text.count("\n", 0, match.start(2)) + 1
        section = headings[-1] if headings else ""
        blocks.append(Block(section, match.group(1), match.group(2), line))
    return blocks


def skip_reason(statement: str) -> str | None:
    for pattern, reason in SKIP:
        if re.search(pattern, statement, re.M):
            return reason
    return None


def bash_commands(code: str) -> list[str]:
    """The block's commands: continuation lines joined, comment-only lines dropped."""
    joined = re.sub(r"\\\n", " ", code)
    return [line.strip() for line in joined.splitlines() if shlex.split(line, comments=True)]


def _run_bash(block: Block, capsys: pytest.CaptureFixture[str]) -> list[str]:
    skipped = []
    for command in bash_commands(block.code):
        reason = skip_reason(command)
        if reason is not None:
            skipped.append(f"{command!r}: {reason}")
            continue
        argv = shlex.split(command, comments=True)
        if argv[0] == "headwidgets":
            status = main(argv[1:])
            err = capsys.readouterr().err
            assert status == 0, f"README line {block.line}: `{command}` failed:\n{err}"
            outputs = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in ("-o", "--out")]
            for out in outputs:
                assert Path(out).exists(), f"`{command}` did not write {out}"
        else:
            done = subprocess.run(
                ["bash", "-ec", command],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
                env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
            )
            assert done.returncode == 0, f"`{command}` failed:\n{done.stderr}"
    return skipped


def _run_python(block: Block) -> tuple[list[str], dict[str, object]]:
    tree = ast.parse(block.code)
    kept, skipped = [], []
    for node in tree.body:
        statement = ast.get_source_segment(block.code, node) or ""
        reason = skip_reason(statement)
        if reason is None:
            kept.append(node)
        else:
            skipped.append(f"{statement.splitlines()[0]!r}: {reason}")
    namespace: dict[str, object] = {}
    if kept:
        module = ast.increment_lineno(ast.Module(body=kept, type_ignores=[]), block.line - 1)
        exec(compile(module, str(README), "exec"), namespace)
    return skipped, namespace


@pytest.mark.parametrize("block", readme_blocks(), ids=lambda block: block.id)
def test_every_readme_code_block_runs_as_written(
    block: Block,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if re.search(r"\.(svg|png|pdf)\b", block.code):
        try:
            find_browser()
        except BrowserNotFoundError as err:  # pragma: no cover - make test installs chromium
            pytest.skip(f"the block exports a figure, which needs chromium: {err}")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    if block.language == "bash":
        skipped = _run_bash(block, capsys)
        ran = len(bash_commands(block.code)) > len(skipped)
    else:
        skipped, namespace = _run_python(block)
        ran = len(ast.parse(block.code).body) > len(skipped)
    if block.section == "Ten lines":
        assert (tmp_path / "effect.svg").stat().st_size > 1000
        assert (tmp_path / "effect.nc").is_file()
        assert getattr(namespace["effect"], "dims", None) == ("layer", "head")
    if not ran:
        pytest.skip("every statement is left out: " + "; ".join(skipped))


def test_the_readme_has_the_blocks_this_test_runs() -> None:
    blocks = readme_blocks()
    sections = {block.section for block in blocks}
    assert {"Two commands", "Ten lines", "Notebooks and the command line"} <= sections
    assert any("headwidgets figure" in block.code for block in blocks)


def test_the_ten_line_example_is_at_most_twelve_lines() -> None:
    (code,) = [block.code for block in readme_blocks() if block.section == "Ten lines"]
    assert len([line for line in code.splitlines() if line.strip()]) <= 12


def test_the_skip_list_leaves_out_hub_gpu_and_server_lines_only() -> None:
    assert skip_reason('hm = hw.load("meta-llama/Llama-3.2-1B")') is not None
    assert skip_reason("headwidgets demo            # = make demo") is not None
    assert skip_reason('hm = hw.load("circuits-4l")') is None
    assert skip_reason("headwidgets models") is None
    assert skip_reason("headwidgets figure effect.nc --kind heatmap --out effect.svg") is None
