"""The prompt-file format of the command line: a file of prompts (tab-separated target,
distractor and corrupted columns), ``-`` for stdin, or a built-in set ``@ioi:32``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwidgets.cli._common import CLIError
from headwidgets.vocab import DEFAULT_METRIC

BUILTIN_SETS = ("repeated", "ioi", "successor", "needle")


@dataclass
class PromptFile:
    """Prompts read from a file or built in, with optional per-prompt targets."""

    prompts: list[str]
    targets: list[str] | None = None
    distractors: list[str] | None = None
    corrupted: list[str] | None = None
    source: str = ""
    needles: list[str] | None = None

    def metrics(self, kind: str | None) -> list[Any]:
        from headwidgets.metrics import Metric

        if self.targets is None:
            raise CLIError(
                f"causal scores need a target per prompt: use @ioi or @successor, or add "
                f"tab-separated target/distractor columns to {self.source}"
            )
        if kind is None:
            kind = DEFAULT_METRIC if self.distractors is not None else "logprob"
        distractors: Sequence[str | None] = self.distractors or [None] * len(self.targets)
        return [
            Metric(kind, target=t, distractor=d)  # type: ignore[arg-type]
            for t, d in zip(self.targets, distractors, strict=True)
        ]


def read_lines(spec: str) -> list[str]:
    if spec == "-":
        text = sys.stdin.read()
    else:
        path = Path(spec)
        if not path.is_file():
            raise CLIError(
                f"no prompt file {spec!r} (one prompt per line, or @repeated, @ioi, ...)"
            )
        text = path.read_text(encoding="utf-8")
    lines = [line.rstrip("\r\n") for line in text.splitlines()]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise CLIError(f"the prompt file {spec!r} has no prompts")
    return lines


def builtin_set(spec: str) -> tuple[str, int] | None:
    """``("ioi", 32)`` for ``"@ioi:32"``; None for a file; CLIError for an unknown set."""
    if not spec.startswith("@"):
        return None
    name, _, count = spec[1:].partition(":")
    if name not in BUILTIN_SETS or (count and not count.isdigit()) or count == "0":
        valid = ", ".join(f"@{s}" for s in BUILTIN_SETS)
        raise CLIError(f"unknown prompt set {spec!r}; valid: {valid} (with :N for N prompts)")
    return name, int(count) if count else 8


def check_prompts(spec: str) -> None:
    """Fail on a bad prompt argument before the (slow) model load."""
    if builtin_set(spec) is None and spec != "-" and not Path(spec).is_file():
        raise CLIError(f"no prompt file {spec!r} (one prompt per line, or @repeated, @ioi, ...)")


def read_prompts(spec: str, hm: Any, seed: int) -> PromptFile:
    from headwidgets import datasets

    builtin = builtin_set(spec)
    if builtin is not None:
        name, n = builtin
        if name == "repeated":
            return PromptFile(datasets.repeated_tokens(hm, n=n, seed=seed), source=spec)
        if name == "needle":
            found = datasets.needle_haystack(n, seed=seed, hm=hm)
            return PromptFile(list(found.prompts), source=spec, needles=found.needles)
        if name == "ioi":
            found = datasets.ioi(n, seed=seed, hm=hm)
        else:
            found = datasets.successor(n, seed=seed, hm=hm)
        return PromptFile(
            list(found.prompts), found.targets, found.distractors, found.corrupted, spec
        )
    rows = [line.split("\t") for line in read_lines(spec)]
    width = {len(row) for row in rows}
    if len(width) > 1:
        raise CLIError(f"{spec}: every line needs the same number of tab-separated columns")
    columns = list(zip(*rows, strict=True))
    if len(columns) > 4:
        raise CLIError(f"{spec}: at most 4 columns (prompt, target, distractor, corrupted)")

    def column(i: int) -> list[str] | None:
        return list(columns[i]) if len(columns) > i else None

    return PromptFile(list(columns[0]), column(1), column(2), column(3), spec)
