"""Prompt sets: the ready-made sets the scores take, and the task generators behind them.

- :mod:`headwidgets.datasets.sets` — :class:`PromptSet` / :class:`Prompts` and the sets
  (:func:`ioi`, :func:`successor`, :func:`repeated_tokens`, :func:`needle_haystack`) for any
  model;
- :mod:`headwidgets.datasets.tasks` — the seeded generators the shipped models were trained
  and measured with (IOI templates and names, successor runs, the zoo vocabularies), on the
  word lists and templates of :mod:`headwidgets.datasets.words`.

Example
-------
>>> from headwidgets import datasets
>>> ds = datasets.ioi(2, seed=0)
>>> len(ds), ds.targets[0].startswith(" ")
(2, True)
"""

from __future__ import annotations

from headwidgets.datasets import tasks
from headwidgets.datasets.sets import (
    Prompts,
    PromptSet,
    ioi,
    needle_haystack,
    repeated_tokens,
    successor,
)

__all__ = [
    "PromptSet",
    "Prompts",
    "ioi",
    "needle_haystack",
    "repeated_tokens",
    "successor",
    "tasks",
]
