"""The import-direction test: dependencies point one way, and no module imports itself back.

Layers, from the bottom (docs/ARCHITECTURE.md):

1. ``architectures``, ``_compat``, the ``zoo`` package's paths, ``vocab``: data, release
   differences and the vocabulary (heads, prompts, edit modes, metrics)
2. the engine: the ``engine`` package (binding, the one forward, batching, CUDA graphs, the
   refresh path, caches), the ``interventions`` package (spec, compile, hooks, both sites),
   ``metrics`` — tensors in, tensors out; no xarray
3. ``cubes``, ``datasets``: labeled cubes and prompt sets
4. ``scores``, ``steering``, the ``figures`` package (builders, style, export), and ``model``:
   ``hw.HeadModel``, the engine plus its cube-returning ``sweep``/``capture``
5. ``widgets``, ``cli``, ``exercises``, the zoo's recipes (``zoo.train``, ``measure``, ...)

A module may import its own layer and the layers below, never above. Every import counts,
also one inside a function or under ``TYPE_CHECKING``: a hidden import is still an arrow.

``KNOWN_UPWARD`` lists the arrows that break the rule today, each to be removed by moving code
(the architecture issue). The test fails on a new one, and on a listed one that is gone (so the
list only shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "headwidgets"

LAYERS: dict[str, int] = {
    "headwidgets.architectures": 1,
    "headwidgets._compat": 1,
    "headwidgets.zoo": 1,
    "headwidgets.jupyter_nodelay": 1,
    "headwidgets.vocab": 1,  # Head, Prompt, edit modes, metric names: said once
    "headwidgets.metrics": 2,
    "headwidgets.interventions": 2,  # the package: spec, compile, hooks, both sites
    "headwidgets.engine": 2,  # binding, forward, batching, graphs, refresh, caches
    "headwidgets.cubes": 3,
    "headwidgets.datasets": 3,
    "headwidgets.scores": 4,
    "headwidgets.steering": 4,  # steering vectors from prompt sets
    "headwidgets.model": 4,  # HeadModel: the engine + sweep/capture returning score cubes
    "headwidgets.figures": 4,  # the package: builders, style, export
    "headwidgets.widgets": 5,
    "headwidgets.cli": 5,
    "headwidgets.exercises": 5,
    "headwidgets.zoo.": 5,  # the zoo's submodules: recipes and measurements
    "headwidgets": 6,  # the package face (lazy public API) and __main__
    "headwidgets.__main__": 6,
}
ENGINE_LAYER = 2

# (importer, imported): arrows that run upward today; each is a piece of code to move
KNOWN_UPWARD: set[tuple[str, str]] = set()
# engine modules that still name xarray: none
KNOWN_XARRAY: set[str] = set()
# cycles that exist today (each a set of modules that import each other): none
KNOWN_CYCLES: list[set[str]] = []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    if module.startswith("headwidgets.zoo."):
        return LAYERS["headwidgets.zoo."]
    if module == "headwidgets":
        return LAYERS[module]
    placed = [name for name in LAYERS if name != "headwidgets"]
    found = [name for name in placed if module == name or module.startswith(name + ".")]
    if not found:
        raise AssertionError(
            f"{module} has no layer: add it to LAYERS in tests/test_architecture.py "
            "(and to the table in docs/ARCHITECTURE.md)"
        )
    return LAYERS[max(found, key=len)]


def imports(path: Path) -> set[str]:
    """Every headwidgets module ``path`` imports, wherever the import statement stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            for alias in node.names:  # `from headwidgets import interventions` names a module
                if (PACKAGE.parent / (base.replace(".", "/") + f"/{alias.name}.py")).is_file() or (
                    PACKAGE.parent / base.replace(".", "/") / alias.name / "__init__.py"
                ).is_file():
                    found.add(f"{base}.{alias.name}")
    return {name for name in found if name == "headwidgets" or name.startswith("headwidgets.")}


def graph() -> dict[str, set[str]]:
    return {
        module_name(path): imports(path) - {module_name(path)}
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def test_imports_point_down_the_layers() -> None:
    upward = set()
    for module, targets in graph().items():
        for target in targets:
            if target == "headwidgets" and module != "headwidgets.__main__":
                continue  # `import headwidgets as hw` inside a function: the lazy public face
            if layer_of(target) > layer_of(module):
                upward.add((module, target))
    new = sorted(upward - KNOWN_UPWARD)
    assert not new, f"imports that run up the layers (see docs/ARCHITECTURE.md): {new}"
    gone = sorted(KNOWN_UPWARD - upward)
    assert not gone, f"fixed, so take them off KNOWN_UPWARD: {gone}"


def test_every_module_has_a_layer() -> None:
    for module in graph():
        layer_of(module)


def test_the_engine_imports_no_xarray() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        if layer_of(module) > ENGINE_LAYER:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "xarray" or name.startswith("xarray.") for name in names):
                offenders.append(module)
    assert set(offenders) == KNOWN_XARRAY, f"engine modules import xarray: {sorted(set(offenders))}"


def _cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in edges:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back() -> None:
    # a package's __init__ re-exporting its own submodules is not a cycle of the design
    edges = {
        module: {t for t in targets if not t.startswith(module + ".")}
        for module, targets in graph().items()
        if module != "headwidgets"
    }
    cycles = _cycles(edges)
    new = [c for c in cycles if c not in KNOWN_CYCLES]
    assert not new, f"import cycles: {[sorted(c) for c in new]}"
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    assert not gone, f"fixed, so take them off KNOWN_CYCLES: {gone}"


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("headwidgets.engine.core", 2),
        ("headwidgets.interventions.hooks", 2),
        ("headwidgets.model", 4),
        ("headwidgets.figures.heatmap", 4),
        ("headwidgets.zoo.train", 5),
    ],
)
def test_modules_are_placed_in_their_layer(module: str, layer: int) -> None:
    assert layer_of(module) == layer


def test_the_engine_package_imports_neither_scores_nor_xarray_nor_widgets() -> None:
    """``headwidgets.engine`` is tensors in, tensors out: whatever returns a cube or shows a
    widget sits above it (``hw.HeadModel`` in ``model.py`` adds the cube-returning calls)."""
    banned = ("headwidgets.scores", "headwidgets.widgets", "headwidgets.model", "xarray")
    engine = PACKAGE / "engine"
    offenders = []
    for path in sorted(engine.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set(imports(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names.add(node.module or "")
        for name in sorted(names):
            if any(name == b or name.startswith(b + ".") for b in banned):
                offenders.append((module_name(path), name))
    assert not offenders, f"the engine imports what sits above it: {offenders}"
