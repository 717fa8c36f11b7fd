"""HeadControls: a mode menu and the slider of its parameter per head; reset, top-k, random-k.

Modes act at the head output z (``scale`` α, ``zero``, ``mean``, ``resample``, ``add``,
``inject``) or inside the head's attention (``sink`` β, ``temperature`` τ, ``mix`` t toward
the identity pattern, ``window`` w with one sink key: a streaming head). The modes, their
parameters, ranges, start and neutral values are the vocabulary's
(:data:`headwidgets.vocab.MODES`); the front end reads them from the ``_parameters`` trait.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets
import xarray as xr

from headwidgets.interventions import AttentionSiteError, Intervention, check_dispatch
from headwidgets.vocab import check_head, check_heads, mode_rows
from headwidgets.widgets._base import LiveWidget
from headwidgets.widgets._common import css, esm
from headwidgets.widgets._controls import (
    CONTROL_MODES,
    attention_control,
    check_control,
    controls_intervention,
    default_control,
    edit_control,
    unusable_modes,
)

if TYPE_CHECKING:
    from headwidgets.model import HeadModel

__all__ = ["CONTROL_MODES", "HeadControls"]


class HeadControls(LiveWidget):
    """Sliders and mode menus for heads: the interactive way to build an :class:`Intervention`.

    Each head with a control has a mode and, where the mode has one, a parameter on a slider
    (the edit's ``alpha`` field). At the head output: ``scale`` α (1 leaves the head untouched,
    0 ablates it, between 0 and 1 dampens, above 1 amplifies, below 0 flips it), ``zero``,
    ``mean``, ``resample``, and the steering edits ``add`` α (z + α·v, the head's vector in
    ``steering``; 0 = untouched) and ``inject`` α ((1 − α)·z + α·ē, ē = the head's mean output
    at the last token of ``task_prompts``; 0 = untouched). Inside the head's attention
    (models whose attention dispatches through transformers' AttentionInterface): ``sink`` β
    (attention to the first token × β, renormalised; 1 = untouched), ``temperature`` τ
    (softmax(L/τ); 1 = untouched), ``mix`` t (the pattern mixed toward the identity;
    0 = untouched), ``window`` w (only the first key and the last w keys stay visible: a
    streaming head). For a key/value-grouped (GQA) model these
    act on the selected query head only.

    Parameters
    ----------
    hm
        A bound model (its shape validates the heads).
    heads
        Heads that get a control, ``[(layer, head), ...]`` (α = 1 each).
    cube
        A (layer, head) cube for "ablate top-k" (ranked by |value|).
    reference
        Reference prompts for ``mean`` (z replaced by its mean over them, pooled over
        positions). Without them ``mean`` is disabled.
    source
        A prompt of the same length for ``resample`` (z replaced by its z on ``source``).
        Without it ``resample`` is disabled.
    steering
        ``{(layer, head): vector}`` (each of the head's width) for ``add``, e.g. from
        :func:`headwidgets.steering.steering_vectors`. Without it ``add`` is disabled.
    task_prompts
        Few-shot prompts whose mean head output ``inject`` mixes in. Without them ``inject``
        is disabled.
    alpha_range
        Slider range, default (−1, 3).
    alpha_step
        Slider step, default 0.01.
    k, seed
        Defaults of the "ablate top-k" / "ablate k random" controls.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> controls = HeadControls(hm, heads=[(1, 0), (1, 3)])
    >>> controls.edits = [{"layer": 1, "head": 0, "mode": "scale", "alpha": 0.0}]
    >>> controls.intervention.to_json()
    '{"edits":[{"alpha":0.0,"head":0,"layer":1,"mode":"scale"}]}'
    """

    _esm = esm("headcontrols.js")
    _css = css()

    edits = traitlets.List(
        traitlets.Dict(),
        help="One control per head: [{'layer', 'head', 'mode', 'alpha'}, ...]. Default [].",
    ).tag(sync=True)
    alpha_min = traitlets.Float(-1.0, help="Low end of the α sliders (float, default -1).").tag(
        sync=True
    )
    alpha_max = traitlets.Float(3.0, help="High end of the α sliders (float, default 3).").tag(
        sync=True
    )
    alpha_step = traitlets.Float(0.01, help="Step of the α sliders (float, default 0.01).").tag(
        sync=True
    )
    k = traitlets.Int(3, help="How many heads 'ablate top-k' / 'ablate k random' take.").tag(
        sync=True
    )
    seed = traitlets.Int(0, help="Seed of 'ablate k random' (int, default 0).").tag(sync=True)
    reference = traitlets.List(
        traitlets.Unicode(), help="Reference prompts for mode 'mean' (list of str)."
    )
    source = traitlets.Unicode(
        None, allow_none=True, help="Source prompt for mode 'resample' (str or None)."
    )
    cube = traitlets.Instance(
        xr.DataArray, allow_none=True, help="(layer, head) cube ranked by 'ablate top-k'."
    )
    error = traitlets.Unicode("", help="The last error from a request ('' = none).").tag(sync=True)
    _modes = traitlets.Dict(help="{mode: '' if usable else why not}.").tag(sync=True)
    _parameters = traitlets.List(
        traitlets.Dict(),
        help="The modes in menu order: [{mode, site, summary, symbol, low, high, step, start, "
        "neutral, needs}] (headwidgets.vocab.mode_rows).",
    ).tag(sync=True)
    _has_cube = traitlets.Bool(False, help="Whether 'ablate top-k' has a cube.").tag(sync=True)

    def __init__(
        self,
        hm: HeadModel,
        *,
        heads: Iterable[Any] = (),
        cube: Any = None,
        reference: Sequence[str] | None = None,
        source: str | None = None,
        steering: Mapping[Any, Sequence[float]] | None = None,
        task_prompts: Sequence[str] | None = None,
        alpha_range: tuple[float, float] = (-1.0, 3.0),
        alpha_step: float = 0.01,
        k: int = 3,
        seed: int = 0,
    ) -> None:
        self.hm = hm
        #: ``{(layer, head): vector}`` of mode ``add`` (not synced: vectors stay in Python)
        self.steering: dict[tuple[int, int], tuple[float, ...]] = {}
        for key, vector in (steering or {}).items():
            layer, head = check_head(key, hm.n_layers, hm.n_heads)
            head_key = (layer, head)
            if len(vector) != hm.head_dim:
                raise ValueError(
                    f"the steering vector of head {head_key} has {len(vector)} values; a head's "
                    f"output has {hm.head_dim}"
                )
            self.steering[head_key] = tuple(float(v) for v in vector)
        #: few-shot prompts of mode ``inject``
        self.task_prompts: tuple[str, ...] = tuple(task_prompts or ())
        low, high = (float(v) for v in alpha_range)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"alpha_range must be (low, high) with low < high, got {alpha_range}")
        if alpha_step <= 0:
            raise ValueError(f"alpha_step must be > 0, got {alpha_step}")
        super().__init__(
            alpha_min=low,
            alpha_max=high,
            alpha_step=float(alpha_step),
            k=k,
            seed=seed,
            reference=list(reference or []),
            source=source,
        )
        if cube is not None:
            from headwidgets.widgets.headgrid import as_head_cube

            self.cube = as_head_cube(cube)
        self._update_modes()
        self.select(heads)
        self._serve("request", "response", self._apply_request, self._answer)

    # -- state ---------------------------------------------------------------------------
    @property
    def heads(self) -> list[tuple[int, int]]:
        """Heads that have a control, in order."""
        return [(e["layer"], e["head"]) for e in self.edits]

    @property
    def intervention(self) -> Intervention:
        """The Intervention the controls describe (heads at their neutral value are left out)."""
        return controls_intervention(
            self.edits,
            reference=self.reference,
            source=self.source,
            steering=self.steering,
            task_prompts=self.task_prompts,
        )

    @intervention.setter
    def intervention(self, spec: Intervention) -> None:
        if not isinstance(spec, Intervention):
            raise TypeError(f"expected an Intervention, got {type(spec).__name__}")
        edits = [attention_control(pattern) for pattern in spec.attention]
        for edit in spec.edits:
            control = edit_control(edit)
            mode = control["mode"]
            if mode == "mean" and list(edit.reference or ()) != self.reference:
                self.reference = list(edit.reference or ())
            if mode == "resample" and edit.source != self.source:
                self.source = edit.source
            if mode == "add":
                self.steering[(edit.layer, edit.head)] = tuple(edit.vector or ())
            if mode == "inject":
                self.task_prompts = tuple(edit.reference or ())
                self._update_modes()
            edits.append(control)
        self.edits = edits

    def select(self, heads: Iterable[Any]) -> None:
        """Give exactly these heads a control; heads kept keep their settings, new ones α = 1."""
        valid = check_heads(heads, self.hm.n_layers, self.hm.n_heads)
        current = {(e["layer"], e["head"]): e for e in self.edits}
        self.edits = [
            current.get((layer, head), default_control(layer, head)) for layer, head in valid
        ]

    def reset(self) -> None:
        """Every head back to α = 1 (untouched); the heads keep their controls."""
        self.edits = [default_control(e["layer"], e["head"]) for e in self.edits]

    def ablate_top_k(self, k: int | None = None) -> list[tuple[int, int]]:
        """Zero (α = 0) the k heads with the largest |value| in :attr:`cube`; returns them."""
        if self.cube is None:
            raise ValueError("ablate top-k needs a cube: HeadControls(hm, cube=...)")
        k = self._check_k(k)
        values = np.asarray(self.cube.values, dtype=np.float64)
        layers = [int(v) for v in self.cube["layer"].values]
        heads = [int(v) for v in self.cube["head"].values]
        magnitude = np.where(np.isfinite(values), np.abs(values), -np.inf).reshape(-1)
        ranked = [int(i) for i in np.argsort(-magnitude, kind="stable")]
        best = [i for i in ranked if np.isfinite(magnitude[i])][:k]
        chosen = [(layers[i // len(heads)], heads[i % len(heads)]) for i in best]
        self.edits = [default_control(layer, head, alpha=0.0) for layer, head in chosen]
        return chosen

    def ablate_random(self, k: int | None = None, seed: int | None = None) -> list[tuple[int, int]]:
        """Zero (α = 0) k heads drawn without replacement with ``seed``; returns them.

        The same seed always draws the same heads (numpy ``default_rng``), the control for a
        top-k ablation.
        """
        k = self._check_k(k)
        seed = self.seed if seed is None else int(seed)
        n_total = self.hm.n_layers * self.hm.n_heads
        rng = np.random.default_rng(seed)
        flat = sorted(int(i) for i in rng.choice(n_total, size=min(k, n_total), replace=False))
        chosen = [(i // self.hm.n_heads, i % self.hm.n_heads) for i in flat]
        with self.hold_trait_notifications():
            self.seed = seed
            self.edits = [default_control(layer, head, alpha=0.0) for layer, head in chosen]
        return chosen

    def _check_k(self, k: int | None) -> int:
        k = self.k if k is None else int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        return k

    # -- validation ----------------------------------------------------------------------
    @traitlets.validate("edits")
    def _check_edits(self, proposal: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: dict[tuple[int, int], int] = {}
        for item in proposal["value"]:
            edit = check_control(
                item, self.hm.n_layers, self.hm.n_heads, self._modes, self.steering
            )
            layer, head = edit["layer"], edit["head"]
            if (layer, head) in seen:  # a later edit of the same head wins
                out[seen[(layer, head)]] = edit
            else:
                seen[(layer, head)] = len(out)
                out.append(edit)
        return out

    @traitlets.validate("cube")
    def _check_cube(self, proposal: Any) -> xr.DataArray | None:
        if proposal["value"] is None:
            return None
        from headwidgets.widgets.headgrid import as_head_cube

        return as_head_cube(proposal["value"])

    @traitlets.observe("cube", "reference", "source", "alpha_min", "alpha_max", "alpha_step")
    def _update_modes(self, change: Any = None) -> None:
        self._has_cube = self.cube is not None
        try:
            check_dispatch(self.hm.model)
            inside = ""
        except AttentionSiteError:
            inside = (
                f"{self.hm.layout.model_type} does not run its attention through "
                "transformers' AttentionInterface, so there is no inside-attention site"
            )
        self._parameters = mode_rows(
            scale={"low": self.alpha_min, "high": self.alpha_max, "step": self.alpha_step}
        )
        self._modes = unusable_modes(
            inside,
            reference=self.reference,
            source=self.source,
            steering=self.steering,
            task_prompts=self.task_prompts,
        )

    # -- the live loop -------------------------------------------------------------------
    def _apply_request(self, content: dict[str, Any]) -> None:
        """Apply one request from the browser: the whole control state, or an action."""
        action = content.get("action")
        if action == "topk":
            self.ablate_top_k(content.get("k"))
        elif action == "random":
            self.ablate_random(content.get("k"), content.get("seed"))
        elif action is None and isinstance(content.get("edits"), list):
            self.edits = content["edits"]
        else:
            raise ValueError(f"unknown request {action!r}")

    def _answer(self, fields: dict[str, Any], error: str) -> dict[str, Any]:
        """Every answer carries the edits Python holds now (the front end adopts them)."""
        self.error = error
        return {"edits": self.edits}
