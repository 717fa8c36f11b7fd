"""``headwidgets demo`` (= ``make demo``): JupyterLab on the quickstart notebook."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from headwidgets.cli._common import CLIError


def _notebooks_dir() -> Path | None:
    """``notebooks/`` of the working directory or of the source checkout, if present."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "notebooks" / "01_quickstart.ipynb").is_file():
            return root / "notebooks"
    return None


def demo_command(notebook: str | None = None, lab_args: Sequence[str] = ()) -> list[str]:
    """The command line that ``headwidgets demo`` (and ``make demo``) runs."""
    if notebook is None:
        folder = _notebooks_dir()
        if folder is None:
            raise CLIError(
                "no notebooks/01_quickstart.ipynb here; run `headwidgets demo` in a checkout "
                "of the headwidgets repository, or pass --notebook PATH"
            )
        path = folder / "01_quickstart.ipynb"
    else:
        path = Path(notebook)
        if not path.is_file():
            raise CLIError(f"no notebook at {notebook!r}")
    extra = [a for a in lab_args if a != "--"]
    # Jupyter refuses to start as root (containers, cloud machines) without this flag
    root = ["--allow-root"] if getattr(os, "geteuid", lambda: 1)() == 0 else []
    # an absolute file under an explicit root: jupyter_server joins a relative file path to
    # the root it derived from that same path, and the page then asks for a file that is not
    # there (a 404 and the launcher instead of the notebook)
    # and the URL the server prints (what a user clicks in a terminal, and what a browser
    # opens where the redirect file cannot be used) must be the notebook, not the launcher
    path = path.resolve()
    root_dir = f"--ServerApp.root_dir={path.parent}"
    default_url = f"--LabApp.default_url=/lab/tree/{path.name}"
    lab = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", *root, root_dir, default_url]
    return [*lab, str(path), *extra]


def run(args: argparse.Namespace) -> int:
    command = demo_command(args.notebook, args.lab_args)
    if args.dry_run:
        print(shlex.join(command))
        return 0
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        raise CLIError("JupyterLab is not installed: pip install 'headwidgets[notebook]'")
    return subprocess.call(command)
