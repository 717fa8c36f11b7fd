"""Live Jupyter widgets for attention heads (anywidget).

- :class:`HeadGrid` — layer × head heatmap of any cube; click, shift-click, drag to select.
- :class:`HeadControls` — α slider and mode per head; reset, ablate top-k, ablate k random.
- :class:`OutputView` — tokens, next-token top-k, greedy generation, metrics; baseline vs
  intervened.
- :class:`AttentionView` — query × key pattern of the selected heads.
- :class:`ScaleResponseView` — the metric against the selected heads' α, live (bokeh).
- :class:`PathMatrix` — path patching as a sender × receiver matrix; a click patches a path.
- :class:`Explorer` / :func:`explore` — all of them bound to one model and prompt.
- :class:`LiveRun` — the cached baseline and intervened runs of one prompt that live views
  share (``live=``): one forward per change for all of them.

Example
-------
>>> import headwidgets as hw
>>> hw.explore("circuits-4l", "When Mary and John went to the store, John gave a drink to",
...            target=" Mary", distractor=" John")                       # doctest: +SKIP
"""

from __future__ import annotations

from headwidgets.widgets.attentionview import AttentionView
from headwidgets.widgets.explorer import Explorer, explore
from headwidgets.widgets.headcontrols import HeadControls
from headwidgets.widgets.headgrid import HeadGrid
from headwidgets.widgets.live import LiveRun
from headwidgets.widgets.outputview import OutputView
from headwidgets.widgets.pathmatrix import PathMatrix
from headwidgets.widgets.scaleresponse import ScaleResponseView

__all__ = [
    "AttentionView",
    "Explorer",
    "HeadControls",
    "HeadGrid",
    "LiveRun",
    "OutputView",
    "PathMatrix",
    "ScaleResponseView",
    "explore",
]
