"""ScaleResponseView: the metric against the selected heads' scale α, live (bokeh in Jupyter).

The figure is :func:`headwidgets.figures.scale_response`, embedded through jupyter_bokeh's
``BokehModel`` with BokehJS loaded INLINE (nothing from the network). The curves cost one
batched forward pass per newly selected head (cached); moving an α slider costs nothing but
a marker move: only the markers' ``ColumnDataSource`` changes, the figure is not rebuilt.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets
import numpy as np
import traitlets
import xarray as xr

from headwidgets.figures import HOUSE_STYLE, scale_response
from headwidgets.figures.style import house_style, styled_figure
from headwidgets.metrics import as_metric
from headwidgets.scores.causal import scale_response as sweep
from headwidgets.vocab import check_head, head_label
from headwidgets.widgets._base import error_text
from headwidgets.widgets.live import defer

if TYPE_CHECKING:
    from bokeh.models import ColumnDataSource

    from headwidgets.metrics import Metric
    from headwidgets.model import HeadModel
    from headwidgets.widgets.headcontrols import HeadControls

#: one line of the figure: its label, its heads (scaled together), its (scale,) curve
Line = tuple[str, list[tuple[int, int]], xr.DataArray]
#: α grid of the curves: the sliders' default range, −1 to 3 in steps of 0.25
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.linspace(-1.0, 3.0, 17))
_BOKEHJS_LOADED = False


def load_bokehjs() -> bool:
    """Put BokehJS into the notebook page, inline (no CDN), once per kernel.

    Does nothing outside a Jupyter kernel. Returns whether it published it now.

    Example
    -------
    >>> load_bokehjs()   # not in a kernel: nothing to load into
    False
    """
    global _BOKEHJS_LOADED
    if _BOKEHJS_LOADED:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipywidgets needs IPython
        return False
    shell = get_ipython()  # type: ignore[no-untyped-call]
    if shell is None or not hasattr(shell, "kernel"):
        return False
    from bokeh.io.notebook import load_notebook
    from bokeh.resources import INLINE

    load_notebook(resources=INLINE, hide_banner=True)
    _BOKEHJS_LOADED = True
    return True


class ScaleResponseView(ipywidgets.VBox):
    """The metric as each selected head's α varies, with a marker at the current α.

    One line per head (that head scaled alone, the others untouched) or, with
    ``together=True``, one line for the head set scaled as one. A diamond on each line marks
    the current α (``zero`` counts as α = 0; ``mean``/``resample`` heads have no marker; a
    set whose heads disagree has none). Markers sit on the curve, linearly interpolated
    between grid points.

    Parameters
    ----------
    hm
        A bound model.
    prompt
        The prompt text.
    heads
        Heads to draw, ``[(layer, head), ...]`` (ignored with ``controls``).
    metric
        A :class:`~headwidgets.Metric` or a metric kind (``"loss"``, ``"logit_diff"``, ...);
        keyword arguments such as ``target=" Mary"`` complete a kind.
    alpha
        The α marked at the start (ignored with ``controls``).
    controls
        A :class:`HeadControls` to follow: its heads are drawn, its sliders move the markers.
    alphas
        The α grid of the curves (default −1 to 3 in steps of 0.25).
    together
        One line for the head set instead of one per head.
    width, height
        Figure size in CSS pixels.

    Example
    -------
    >>> view = ScaleResponseView(hm, "ka ro vi tu ka ro vi", [(1, 0)], "loss")  # doctest: +SKIP
    >>> view.edits = [{"layer": 1, "head": 0, "mode": "scale", "alpha": 0.5}]  # doctest: +SKIP
    >>> view.markers.data["scale"]                                              # doctest: +SKIP
    [0.5]
    """

    edits = traitlets.List(
        traitlets.Dict(),
        help="Heads and their controls, as HeadControls.edits: [{'layer', 'head', 'mode', "
        "'alpha'}, ...]. Heads set the lines; α (mode 'scale', 'zero' = 0) the markers.",
    )
    together = traitlets.Bool(False, help="One line for the head set (bool, default False).")
    error = traitlets.Unicode("", help="The last error ('' = none), shown under the figure.")

    def __init__(
        self,
        hm: HeadModel,
        prompt: str,
        heads: Iterable[Any] = (),
        metric: Metric | str = "loss",
        *,
        alpha: float = 1.0,
        controls: HeadControls | None = None,
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        together: bool = False,
        width: int = 420,
        height: int = 260,
        **metric_kwargs: Any,
    ) -> None:
        from jupyter_bokeh import BokehModel

        self.hm = hm
        self.prompt = prompt
        self.metric = as_metric(metric, **metric_kwargs)
        grid = np.unique(np.asarray([float(a) for a in alphas], dtype=np.float64))
        if grid.size < 2 or not np.all(np.isfinite(grid)):
            raise ValueError(f"alphas must be at least two finite numbers, got {alphas!r}")
        self.alphas = grid
        self.size = (int(width), int(height))
        self._cache: OrderedDict[Any, xr.DataArray] = OrderedDict()
        self._lines: list[Line] = []  # what the figure shows now
        self._drawn: Any = (bool(together), ())
        self._pending = False
        #: the bokeh figure shown now (rebuilt only when the heads change)
        self.figure: Any = self._placeholder()
        #: the markers' data (scale, value, color, head); updated in place as α moves
        self.markers: ColumnDataSource | None = None
        self.note = ipywidgets.Label(layout=ipywidgets.Layout(margin="0 0 0 8px"))
        self.plot = BokehModel(self.figure)
        super().__init__([self.plot, self.note], together=together)
        self.add_class("hw-scale-response")
        self._show()
        load_bokehjs()
        if controls is not None:
            traitlets.dlink((controls, "edits"), (self, "edits"))
        else:
            self.edits = [
                {"layer": int(la), "head": int(he), "mode": "scale", "alpha": float(alpha)}
                for la, he in heads
            ]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        load_bokehjs()
        return super()._repr_mimebundle_(**kwargs)

    # -- state ---------------------------------------------------------------------------
    @property
    def heads(self) -> list[tuple[int, int]]:
        """Heads with a line, in order."""
        return [(e["layer"], e["head"]) for e in self.edits]

    @traitlets.validate("edits")
    def _check_edits(self, proposal: Any) -> list[dict[str, Any]]:
        out = []
        for item in proposal["value"]:
            if not isinstance(item, dict):
                raise ValueError(f"an edit is a dict with layer, head, mode, alpha; got {item!r}")
            layer, head = check_head(
                (item.get("layer"), item.get("head")),
                range(self.hm.n_layers),
                range(self.hm.n_heads),
            )
            alpha = float(item.get("alpha", 1.0))
            out.append(
                {"layer": layer, "head": head, "mode": item.get("mode", "scale"), "alpha": alpha}
            )
        return out

    @traitlets.observe("edits", "together")
    def _changed(self, change: Any) -> None:
        if (self.together, tuple(self.heads)) == self._drawn:
            self._move_markers()  # a slider moved: data only, no forward, no new figure
        elif not self._pending:
            self._pending = True
            defer(self._redraw)  # after the refresh the same change triggered

    @traitlets.observe("error", "together")
    def _show(self, change: Any = None) -> None:
        if self.error:
            self.note.value = self.error
        elif self.together:
            self.note.value = "the heads scaled together; ◆ = their current α"
        else:
            self.note.value = "each head scaled alone; ◆ = its current α"

    # -- drawing -------------------------------------------------------------------------
    def _redraw(self) -> None:

        self._pending = False
        key = (self.together, tuple(self.heads))
        try:
            lines = self._curves(self.heads)
            if lines:
                fig = scale_response(
                    {label: curve for label, _, curve in lines},
                    title="heads scaled together" if self.together else "each head scaled alone",
                    width=self.size[0],
                    height=self.size[1],
                )
            else:
                fig = self._placeholder()
            self._use(fig, lines)
            self._drawn = key
            self.error = ""
        except Exception as exc:  # shown in the widget
            self.error = error_text(exc)
        self._move_markers()

    def _curves(self, heads: list[tuple[int, int]]) -> list[Line]:
        """(label, heads, 1-D curve) per line; computes what the cache lacks in one pass."""

        if not heads:
            return []
        if self.together:
            key = tuple(sorted(heads))
            if key not in self._cache:
                self._cache[key] = sweep(
                    self.hm, self.prompt, self.metric, heads, list(self.alphas)
                )
            self._cache.move_to_end(key)
            label = " + ".join(head_label(layer, head) for layer, head in heads)
            lines = [(label, list(heads), self._cache[key])]
        else:
            missing = [h for h in heads if h not in self._cache]
            if missing:
                grid = sweep(
                    self.hm, self.prompt, self.metric, missing, list(self.alphas), together=False
                )
                for layer, head in missing:
                    self._cache[(layer, head)] = grid.sel(layer=layer, head=head)
            lines = [(head_label(la, he), [(la, he)], self._cache[(la, he)]) for la, he in heads]
        while len(self._cache) > 256:
            self._cache.popitem(last=False)
        return lines

    def _placeholder(self) -> Any:
        from bokeh.models.annotations import Label

        s = house_style(None)
        fig = styled_figure(s, self.size[0], self.size[1], None)
        fig.xaxis.axis_label, fig.yaxis.axis_label = "scale α", self.metric.describe()
        fig.add_layout(
            Label(
                x=10,
                y=10,
                x_units="screen",
                y_units="screen",
                text="select heads to see how the metric responds to their α",
                text_font=s["font"],
                text_font_size=s["label_font_size"],
                text_color="#666666",
            )
        )
        return fig

    def _use(self, fig: Any, lines: list[Line]) -> None:
        """Show ``fig`` with a marker source for ``lines``."""
        from bokeh.models import ColumnDataSource, HoverTool

        markers = ColumnDataSource(
            {"scale": [], "value": [], "color": [], "head": []}, name="alpha-markers"
        )
        if lines:
            dots = fig.scatter(
                "scale",
                "value",
                source=markers,
                marker="diamond",
                size=14,
                fill_color="color",
                line_color="#ffffff",
                line_width=1.5,
                name="alpha",
            )
            tips = [("head", "@head"), ("α", "@scale{0.00}"), ("value", "@value{0.0000}")]
            fig.add_tools(HoverTool(renderers=[dots], tooltips=tips))
        old = self.plot._document
        if old is not None:
            old.remove_on_change(self.plot)  # the old figure never changes again
        self.figure, self.markers, self._lines = fig, markers, lines
        self.plot.update_from_model(fig)

    def _alpha(self, heads: list[tuple[int, int]]) -> float | None:
        """The common α of ``heads`` (zero = 0), or None (mean/resample, or they differ)."""
        by_head = {(e["layer"], e["head"]): e for e in self.edits}
        values = set()
        for head in heads:
            edit = by_head.get(head)
            if edit is None or edit["mode"] not in ("scale", "zero"):
                return None
            values.add(0.0 if edit["mode"] == "zero" else float(edit["alpha"]))
        return values.pop() if len(values) == 1 else None

    def _move_markers(self) -> None:

        if self.markers is None:
            return
        colors = HOUSE_STYLE["lines"]  # scale_response's line colors, in line order
        rows: dict[str, list[Any]] = {"scale": [], "value": [], "color": [], "head": []}
        for i, (label, heads, curve) in enumerate(self._lines):
            alpha = self._alpha(heads)
            if alpha is None or not self.alphas[0] <= alpha <= self.alphas[-1]:
                continue
            scales = np.asarray(curve["scale"].values, dtype=float)
            value = float(np.interp(alpha, scales, np.asarray(curve.values, dtype=float)))
            rows["scale"].append(alpha)
            rows["value"].append(value)
            rows["color"].append(colors[i % len(colors)])
            rows["head"].append(label)
        if rows != self.markers.data:
            self.markers.data = rows
