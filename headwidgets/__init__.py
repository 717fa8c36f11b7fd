"""headwidgets — Jupyter widgets for attention heads.

Bind a live transformers model, score every head into labeled xarray cubes, and
select, ablate or amplify heads while outputs and metrics refresh inline.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")                       # shipped, no download
>>> spec = hw.Intervention.scale({(1, 2): 0.0})         # zero-ablate head 1.2
>>> with hm.intervene(spec):
...     logits = hm.model(hm.tokenize("a b c a b")["input_ids"]).logits

Nothing heavy is imported here: torch, transformers, xarray and bokeh load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily on first attribute access)
_LAZY: dict[str, str] = {
    # binding and the engine
    "HeadModel": "headwidgets.model",
    "bind": "headwidgets.model",
    "load": "headwidgets.model",
    "Intervention": "headwidgets.interventions",
    "HeadEdit": "headwidgets.interventions",
    "Metric": "headwidgets.metrics",
    "Head": "headwidgets.vocab",
    # shipped models
    "models": "headwidgets.zoo",
    # cubes
    "check_cube": "headwidgets.cubes",
    "save_cube": "headwidgets.cubes",
    "load_cube": "headwidgets.cubes",
    "top_heads": "headwidgets.cubes",
    "compare": "headwidgets.cubes",
    "overlap": "headwidgets.cubes",
    "overlap_table": "headwidgets.cubes",
    # scores
    "attention": "headwidgets.scores.patterns",
    "random_heads": "headwidgets.scores.controls",
    "topk_vs_random": "headwidgets.scores.controls",
    # figures
    "export": "headwidgets.figures",
    # widgets
    "HeadGrid": "headwidgets.widgets",
    "HeadControls": "headwidgets.widgets",
    "OutputView": "headwidgets.widgets",
    "AttentionView": "headwidgets.widgets",
    "Explorer": "headwidgets.widgets",
    "ScaleResponseView": "headwidgets.widgets",
    "PathMatrix": "headwidgets.widgets",
    "explore": "headwidgets.widgets",
}
_SUBMODULES = {"scores", "metrics", "figures", "datasets", "cubes", "widgets", "zoo", "steering"}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"headwidgets.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'headwidgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
