"""The vocabulary: heads, prompts, edit modes and metrics, defined once for the whole package.

Everything that names a head, an edit mode or a metric reads it from here: the engine's
validation, the widgets' menus (the front end gets :func:`mode_rows` through a trait), the
command line's choices and the labels in figures and captions.

- **Heads.** :class:`Head` is a ``(layer, head)`` pair. :func:`parse_head` reads ``(3, 0)``,
  ``[3, 0]``, ``"3.0"``, ``"L3H0"``, ``"L3.H0"`` and ``"L3 H0"``; :func:`parse_heads` a list of
  them or one string (``"1.2, L0H3"``); :func:`check_head` also checks that the head exists.
  Heads are shown one way everywhere: :func:`head_label` ``"L3 H0"``.
- **Prompts.** :data:`Prompt` is a text or a list of token ids.
- **Edit modes.** :data:`MODES` in menu order: the head-output modes (``scale``, ``zero``,
  ``mean``, ``resample``, ``add``, ``inject``) and the inside-attention modes (``sink``,
  ``temperature``, ``mix``, ``window``), each with its parameter's symbol, range, step, start
  and neutral value. ``resample`` is the one name of "z replaced by z of another prompt";
  activation patching is ``resample`` from the clean prompt (``patch`` is read as ``resample``).
- **Metrics.** :data:`METRIC_KINDS`, their labels and units, :data:`DEFAULT_METRIC` and
  :func:`default_metric` (what a view measures when it is not told).

Nothing here imports torch, xarray or another headwidgets module.

Example
-------
>>> parse_head("L3H0"), parse_head("3.0"), parse_head((3, 0))
(Head(layer=3, head=0), Head(layer=3, head=0), Head(layer=3, head=0))
>>> str(Head(3, 0))
'L3 H0'
>>> [m.name for m in MODES.values() if m.site == "attention"]
['sink', 'temperature', 'mix', 'window']
"""

from __future__ import annotations

from headwidgets.vocab.heads import (
    HEAD_FORMS,
    Head,
    check_head,
    check_head_list,
    check_heads,
    check_pair,
    head_label,
    head_set,
    parse_head,
    parse_heads,
)
from headwidgets.vocab.metrics import (
    DEFAULT_METRIC,
    METRIC_KINDS,
    METRIC_LABELS,
    METRIC_UNITS,
    METRIC_WORDS,
    NEEDS_TARGET,
    MetricKind,
    default_metric,
    default_metrics,
)
from headwidgets.vocab.modes import (
    ABLATION_MODES,
    ATTENTION_MODES,
    ATTENTION_SYMBOLS,
    DEFAULT_MODE,
    MODE_ALIASES,
    MODES,
    NO_INTERVENTION,
    Z_MODES,
    AblationMode,
    Mode,
    Prompt,
    Prompts,
    Site,
    Slider,
    mode_rows,
)

__all__ = [
    "ABLATION_MODES",
    "ATTENTION_MODES",
    "ATTENTION_SYMBOLS",
    "DEFAULT_METRIC",
    "DEFAULT_MODE",
    "HEAD_FORMS",
    "METRIC_KINDS",
    "METRIC_LABELS",
    "METRIC_UNITS",
    "METRIC_WORDS",
    "MODES",
    "MODE_ALIASES",
    "NEEDS_TARGET",
    "NO_INTERVENTION",
    "Z_MODES",
    "AblationMode",
    "Head",
    "MetricKind",
    "Mode",
    "Prompt",
    "Prompts",
    "Site",
    "Slider",
    "check_head",
    "check_head_list",
    "check_heads",
    "check_pair",
    "default_metric",
    "default_metrics",
    "head_label",
    "head_set",
    "mode_rows",
    "parse_head",
    "parse_heads",
]
