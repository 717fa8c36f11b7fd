"""Explorer: HeadGrid, HeadControls, OutputView and AttentionView bound to one model and prompt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets
import numpy as np
import xarray as xr

from headwidgets.metrics import Metric
from headwidgets.model import HeadModel, load
from headwidgets.vocab import default_metric, default_metrics
from headwidgets.widgets.attentionview import AttentionView
from headwidgets.widgets.headcontrols import HeadControls
from headwidgets.widgets.headgrid import HeadGrid
from headwidgets.widgets.live import LiveRun
from headwidgets.widgets.outputview import OutputView
from headwidgets.widgets.pathmatrix import PathMatrix
from headwidgets.widgets.scaleresponse import ScaleResponseView

if TYPE_CHECKING:
    from headwidgets.interventions import Intervention
    from headwidgets.model import HeadModel


class Explorer(ipywidgets.HBox):
    """Select heads in a heatmap, turn them down, off or up, and watch the outputs refresh.

    The four parts are widgets of their own (``grid``, ``controls``, ``output``,
    ``attention``) and hold all the state; the Explorer only links them: selecting heads in
    the grid gives them controls and shows their patterns; moving a control refreshes the
    outputs and patterns under the new intervention.

    Parameters
    ----------
    hm
        A bound model (``hw.load("circuits-4l")``).
    prompt
        The prompt text.
    target, distractor
        Single tokens (``" Mary"``, ``" John"``) for logit diff and target prob.
    cube
        The (layer, head) cube in the grid. Default: the ablation effect of every head,
        ``hm.sweep(prompt, metric, mode="zero")``, on the logit diff (target and distractor
        given), the target prob (target only) or the loss.
    reference
        Reference prompts for mode ``mean`` (default: the prompt itself, pooled over positions).
    source
        A prompt of the same length for mode ``resample`` (default: none, mode disabled).
    steering, task_prompts
        Per-head steering vectors for mode ``add`` and few-shot prompts for mode ``inject``
        (see :class:`HeadControls`; default: none, modes disabled).
    heads
        Heads selected at the start.
    metrics, top_k, n_generate
        See :class:`OutputView`.
    curve
        Also show a live :class:`ScaleResponseView` (``curve``): the default cube's metric
        against each selected head's α, a marker following each slider. Off by default: it
        costs one batched forward pass per newly selected head (moving a slider costs none).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")                                       # doctest: +SKIP
    >>> ex = hw.Explorer(hm, "When Mary and John went to the store, John gave a drink to",
    ...                  target=" Mary", distractor=" John")              # doctest: +SKIP
    >>> ex                                                                # doctest: +SKIP
    >>> ex.controls.intervention      # what the sliders describe now     # doctest: +SKIP
    >>> ex.export("ioi-heads.svg")    # heatmap + edits caption + .nc    # doctest: +SKIP
    """

    def __init__(
        self,
        hm: HeadModel,
        prompt: str,
        target: str | None = None,
        distractor: str | None = None,
        cube: Any = None,
        *,
        reference: Sequence[str] | None = None,
        source: str | None = None,
        steering: Mapping[Any, Sequence[float]] | None = None,
        task_prompts: Sequence[str] | None = None,
        heads: Sequence[Any] = (),
        metrics: Sequence[str] | None = None,
        top_k: int = 10,
        n_generate: int = 8,
        curve: bool = False,
        corrupt: str | None = None,
        paths: Any = None,
    ) -> None:
        self.hm = hm
        metric = self.default_metric(target, distractor)
        # what export(under_edits=True) needs to recompute the default cube
        self._sweep: tuple[str, Metric] | None = (prompt, metric) if cube is None else None
        if cube is None:
            cube = hm.sweep(prompt, metric, mode="zero")
        live = LiveRun(hm, prompt, n_generate=n_generate)
        self._live = live
        self.grid = HeadGrid(cube, selected=heads)
        self.controls = HeadControls(
            hm,
            heads=self.grid.selected,
            cube=self.grid.cube,
            reference=list(reference) if reference is not None else [prompt],
            source=source,
            steering=steering,
            task_prompts=task_prompts,
        )
        self.output = OutputView(
            hm,
            prompt,
            target=target,
            distractor=distractor,
            metrics=metrics if metrics is not None else default_metrics(target, distractor),
            top_k=top_k,
            n_generate=n_generate,
            live=live,
        )
        self.attention = AttentionView(hm, prompt, heads=self.grid.selected, run="both", live=live)
        #: the live scale-response figure (``curve=True``), else None
        self.curve: ScaleResponseView | None = None
        if curve:
            low, high = self.controls.alpha_min, self.controls.alpha_max
            alphas = sorted({*np.linspace(low, high, 17).round(6).tolist(), 0.0, 1.0})
            self.curve = ScaleResponseView(
                hm, prompt, metric=metric, controls=self.controls, alphas=alphas
            )
        left = ipywidgets.VBox(
            [self.grid, self.controls, self.attention],
            layout=ipywidgets.Layout(flex="0 1 520px", min_width="360px"),
        )
        #: the path matrix (``corrupt=`` or ``paths=``), else None
        self.paths: PathMatrix | None = None
        if corrupt is None and paths is not None:
            first = paths if isinstance(paths, xr.DataArray) else next(iter(paths), None)
            corrupt = getattr(first, "attrs", {}).get("corrupt")
            if corrupt is None:
                raise ValueError("paths= needs corrupt= (the cube has no 'corrupt' attr)")
        if corrupt is not None:
            self.paths = PathMatrix(hm, prompt, corrupt, metric, paths, live=live)
        self._patching = False
        right = ipywidgets.VBox(
            [self.output, *(v for v in (self.curve, self.paths) if v is not None)],
            layout=ipywidgets.Layout(flex="1 1 480px", min_width="360px"),
        )
        super().__init__(
            [left, right],
            layout=ipywidgets.Layout(flex_flow="row wrap", align_items="flex-start", width="100%"),
        )
        self.add_class("hw-explorer")
        self.grid.observe(self._selection_changed, "selected")
        self.controls.observe(self._edits_changed, "edits")
        self.attention.observe(self._patterns_needed, "run")
        if self.paths is not None:
            self.paths.observe(self._path_changed, "intervention")
        self._patterns_needed()
        self.grid.intervention = self.controls.intervention

    def _patterns_needed(self, change: Any = None) -> None:
        # capture patterns in the refresh's forward only while the AttentionView shows the
        # intervened run of some head (one forward serves both views then)
        shown = self.attention.run in ("intervened", "both")
        self._live.patterns = bool(self.attention.heads) and shown

    @staticmethod
    def default_metric(target: str | None, distractor: str | None) -> Metric:
        """The metric of the default cube: logit diff, target prob, or loss
        (:func:`headwidgets.vocab.default_metric`)."""
        kind = default_metric(target, distractor)
        return Metric(
            kind,
            target=target if kind != "loss" else None,
            distractor=distractor if kind == "logit_diff" else None,
        )

    @property
    def intervention(self) -> Intervention:
        """The intervention the outputs show: the controls', or the patched path's."""
        if self.paths is not None and self.paths.path:
            return self.paths.intervention
        return self.controls.intervention

    @property
    def cube(self) -> xr.DataArray:
        """The cube shown in the grid."""
        return self.grid.cube

    def figure(self, **kwargs: Any) -> Any:
        """The current view as a bokeh figure: the grid's heatmap, selected heads outlined, a
        caption naming the controls' interventions. Arguments as in :meth:`HeadGrid.figure`.

        Example
        -------
        >>> fig = ex.figure(width=500)                      # doctest: +SKIP
        >>> fig.select_one({"name": "caption"}).text        # doctest: +SKIP
        'interventions: L3 H1 zero'
        """
        self.grid.intervention = self.controls.intervention
        return self.grid.figure(**kwargs)

    def edited_cube(self) -> xr.DataArray:
        """The default cube (each head's zero-ablation effect) recomputed under the controls'
        current edits: ``hm.sweep`` inside ``with hm.intervene(ex.intervention):``. Its
        ``intervention`` attr records the edits it was computed under.

        Raises ValueError for an Explorer given its own ``cube`` (headwidgets cannot know
        how to recompute it).
        """
        if self._sweep is None:
            raise ValueError(
                "this Explorer shows a cube you gave, which headwidgets cannot recompute; "
                "compute it under the edits yourself (with hm.intervene(ex.intervention): ...) "
                "and export a HeadGrid of it, or export with under_edits=False"
            )
        prompt, metric = self._sweep
        with self.hm.intervene(self.controls.intervention):
            return self.hm.sweep(prompt, metric, mode="zero")

    def export(
        self,
        path: str | Path | None = None,
        data: Any = True,
        *,
        under_edits: bool = False,
        **kwargs: Any,
    ) -> Path:
        """Write the current view (:meth:`figure`) and its data: the edits named everywhere.

        The figure's caption names the interventions of the controls (``L1 H2 ×0.5, ...``);
        their JSON is in the figure's metadata and, with ``data=True`` (default), in the
        ``intervention`` attr of the cube written beside it as ``.nc``. A second caption
        line (and the ``.nc``'s ``intervention_applied`` attr) says whether the heatmap's
        values were computed under those edits. By default they are not (the grid shows the
        sweep of the unedited model: "edits not applied"); ``under_edits=True`` recomputes
        the default cube under the edits first (:meth:`edited_cube`, one batched sweep).
        Other arguments as in :meth:`HeadGrid.export` (default path: ``grid.export_path``,
        which the grid's Export button writes too).

        Example
        -------
        >>> ex.controls.intervention = hw.Intervention.zero([(3, 1)])  # doctest: +SKIP
        >>> ex.export("ioi.svg")                                       # doctest: +SKIP
        PosixPath('ioi.svg')
        >>> ex.export("ioi-edited.svg", under_edits=True)              # doctest: +SKIP
        PosixPath('ioi-edited.svg')
        """
        self.grid.intervention = self.controls.intervention
        if not under_edits:
            return self.grid.export(path, data, **kwargs)
        view = HeadGrid(
            self.edited_cube(),
            color_scale=self.grid.color_scale,
            vmin=self.grid.vmin,
            vmax=self.grid.vmax,
            selected=self.grid.selected,
            export_path=self.grid.export_path,
        )
        view.intervention = self.controls.intervention
        return view.export(path, data, **kwargs)

    def _selection_changed(self, change: Any) -> None:
        self.attention.heads = change["new"]
        self._patterns_needed()
        self.controls.select(change["new"])

    def _path_changed(self, change: Any) -> None:
        # one intervention at a time: a patched path replaces the controls' edits
        if change["new"]:
            self._patching = True
            try:
                self.grid.selected = []
            finally:
                self._patching = False
        self._show(change["new"] or self.controls.intervention)

    def _edits_changed(self, change: Any) -> None:
        heads = [[e["layer"], e["head"]] for e in change["new"]]
        if heads != self.grid.selected:
            self.grid.selected = heads
        if self._patching:
            return
        if self.paths is not None and self.paths.path and change["new"]:
            self.paths.path = {}  # editing a head unpatches the path
        spec = self.controls.intervention
        self.grid.intervention = spec  # named by the grid's Export button
        self._show(spec)

    def _show(self, spec: Intervention) -> None:
        errors: list[Exception] = []
        # the browser request the controls serve (None for a change made in Python) goes with
        # the change to the views' runs: their refresh answers with its id
        runs = [self.output.live, self.attention.live]
        for run in runs:
            run.request = self.controls.request
        try:
            for view in (self.output, self.attention):
                try:
                    view.intervention = spec
                except Exception as exc:  # each view shows its own error; report the first
                    errors.append(exc)
        finally:
            for run in runs:
                run.request = None
        if errors:
            raise errors[0]


def explore(
    model: Any,
    prompt: str,
    target: str | None = None,
    distractor: str | None = None,
    cube: Any = None,
    **kwargs: Any,
) -> Explorer:
    """The one-liner: an :class:`Explorer` on a model (a shipped model's name works too).

    Parameters
    ----------
    model
        A :class:`HeadModel`, or a name/path for ``hw.load`` (``"circuits-4l"``).
    prompt, target, distractor, cube, **kwargs
        See :class:`Explorer`.

    Example
    -------
    >>> import headwidgets as hw
    >>> hw.explore("circuits-4l", "When Mary and John went to the store, John gave a drink to",
    ...            target=" Mary", distractor=" John")                   # doctest: +SKIP
    """

    if isinstance(model, str):
        model = load(model)
    elif not isinstance(model, HeadModel):
        raise TypeError(
            f"explore needs a HeadModel or a model name, got {type(model).__name__}; "
            "bind a loaded model first: hw.bind(model, tokenizer)"
        )
    return Explorer(model, prompt, target, distractor, cube, **kwargs)
