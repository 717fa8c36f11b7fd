"""The shipped notebooks execute top to bottom, headless, on the shipped models.

Each notebook runs in a fresh kernel of this Python (a kernelspec written to a temporary
``JUPYTER_PATH``) from a temporary copy of ``notebooks/``, so the files it writes under ``out/``
never land in the checkout. ``HEADWIDGETS_FAST=1`` selects the notebooks' small settings; the
course notebooks run with ``HEADWIDGETS_SOLUTIONS=1`` so every exercise is filled in from
``headwidgets.exercises`` and every check must pass, and once unanswered (no traceback). The
checks themselves are tested in ``test_exercises.py``. Widget-display cells run (the widgets are
built and their state computed); only a browser would render them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
# which shipped models each notebook loads (it is skipped with a reason when one is missing)
MODELS = {
    "01_quickstart.ipynb": ("circuits-4l",),
    "02_induction_heads.ipynb": ("induction-2l",),
    "03_indirect_object_identification.ipynb": ("circuits-4l",),
    "04_figures_for_papers.ipynb": ("induction-2l",),
    "05_sweeps_at_scale.ipynb": ("circuits-4l", "induction-2l"),
    "06_inside_attention.ipynb": ("induction-2l", "circuits-4l"),
    "07_circuits.ipynb": ("induction-2l", "circuits-4l"),
}
CELL_TIMEOUT = 300  # seconds per cell

pytestmark = pytest.mark.notebook


def _missing_models(names: tuple[str, ...]) -> list[str]:
    from headwidgets import zoo

    return [name for name in names if name not in zoo.models()]


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A kernelspec that runs this interpreter (the venv's python and its ipykernel)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "headwidgets-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "headwidgets tests", "language": "python"})
    )
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root), previous]))
    yield "headwidgets-test"
    if previous is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = previous


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of notebooks/ (with solutions/, without out/) to execute in."""
    target = tmp_path_factory.mktemp("notebooks") / "notebooks"
    shutil.copytree(
        NOTEBOOKS,
        target,
        ignore=shutil.ignore_patterns("out", ".ipynb_checkpoints", "__pycache__"),
    )
    return target


def _execute(path: Path, kernel_name: str, workdir: Path, **env: str) -> Any:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(workdir / path.name, as_version=4)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        client = NotebookClient(
            nb,
            kernel_name=kernel_name,
            timeout=CELL_TIMEOUT,
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def _text(nb: Any) -> str:
    """All text the code cells printed or returned."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif "data" in output:
                parts.append(str(output["data"].get("text/plain", "")))
    return "\n".join(parts)


def _stderr(nb: Any) -> list[str]:
    """Every stderr output of the run, as "cell N: text" (warnings land here)."""
    return [
        f"cell {index}: {output.get('text', '')}"
        for index, cell in enumerate(nb.cells)
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    ]


def test_every_notebook_is_listed_with_the_models_it_loads() -> None:
    assert [p.name for p in PATHS] == list(MODELS)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs; clear them"
            assert cell.execution_count is None, f"{path.name} cell {index} has a count"
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state; clear it"


# course notebooks: run with every exercise filled in; how many checks print ✅ in each
COURSE = {
    "02_induction_heads.ipynb": 9,  # exercises 1, 2 (two checks), 3 to 8
    "03_indirect_object_identification.ipynb": 5,  # exercises 1 to 5
    "06_inside_attention.ipynb": 2,  # exercises 1 and 2
    "07_circuits.ipynb": 2,  # exercises 1 and 2
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [p for p in PATHS if p.name not in COURSE],
    ids=[p.stem for p in PATHS if p.name not in COURSE],
)
def test_notebook_runs_top_to_bottom(path: Path, kernel_name: str, workdir: Path) -> None:
    missing = _missing_models(MODELS[path.name])
    if missing:
        pytest.skip(f"shipped model(s) {missing} missing; build them with `make models`")
    nb = _execute(path, kernel_name, workdir, HEADWIDGETS_FAST="1")
    assert "Traceback" not in _text(nb)
    assert _stderr(nb) == [], "a user would see these in red boxes"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COURSE), ids=[Path(name).stem for name in COURSE])
def test_course_notebook_checks_pass_with_the_solutions(
    name: str, kernel_name: str, workdir: Path
) -> None:
    path = NOTEBOOKS / name
    missing = _missing_models(MODELS[path.name])
    if missing:
        pytest.skip(f"shipped model(s) {missing} missing; build them with `make models`")
    nb = _execute(path, kernel_name, workdir, HEADWIDGETS_FAST="1", HEADWIDGETS_SOLUTIONS="1")
    text = _text(nb)
    assert _stderr(nb) == [], "a user would see these in red boxes"
    assert "Traceback" not in text
    assert "not answered yet" not in text
    assert text.count("✅ correct!") == COURSE[name], text


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COURSE), ids=[Path(name).stem for name in COURSE])
def test_course_notebook_runs_unanswered_without_errors(
    name: str, kernel_name: str, workdir: Path
) -> None:
    """A student's first run (every ``...`` still in place) shows no traceback."""
    path = NOTEBOOKS / name
    missing = _missing_models(MODELS[path.name])
    if missing:
        pytest.skip(f"shipped model(s) {missing} missing; build them with `make models`")
    nb = _execute(path, kernel_name, workdir, HEADWIDGETS_FAST="1", HEADWIDGETS_SOLUTIONS="0")
    text = _text(nb)
    assert _stderr(nb) == [], "a user would see these in red boxes"
    assert "Traceback" not in text and "not answered yet" in text
