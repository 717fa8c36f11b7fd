"""Edits of a head's output z, the head-output site (the input of the attention output
projection, see ``architectures.py``), where head h is an exact slice:

- ``scale α``: α·z (0 = zero ablation, 0<α<1 dampens, α>1 amplifies, α<0 flips)
- ``zero``: the same as ``scale 0``
- ``mean``: z replaced by its mean over reference prompts (pooled, or per position)
- ``resample``: z replaced by the z of another prompt (a corrupted run)
- ``patch``: z replaced by the z of a cached run (activation patching)
- ``add``: z + α·v, v a steering vector in head-output space (:meth:`Intervention.add`)
- ``inject``: (1 − α)·z + α·ē, ē the mean z at the last token of few-shot prompts
  (task-vector injection, :meth:`Intervention.inject`)

Each edit can be restricted to query positions, counted from each row's first real token.
``compile.py`` turns these specs into per-layer tensors; ``hooks.py`` applies them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from headwidgets.vocab import MODE_ALIASES, check_pair

EditMode = Literal["scale", "zero", "mean", "resample", "add", "inject"]
EDIT_MODES: tuple[str, ...] = get_args(EditMode)


@dataclass(frozen=True)
class HeadEdit:
    """One edit of one head's output z.

    Parameters
    ----------
    layer, head
        Which head (query head for GQA models).
    mode
        ``"scale"``, ``"zero"``, ``"mean"``, ``"resample"``, ``"add"`` or ``"inject"``
        (``"patch"`` is read as ``"resample"``: activation patching is resampling a head's z
        from the clean prompt, one behaviour with one name).
    alpha
        The factor for ``"scale"``, the size of ``vector`` for ``"add"`` and the mixing
        weight for ``"inject"`` (finite). Ignored by the other modes.
    positions
        Query positions the edit applies to (None: all positions).
    reference
        Reference prompts for ``"mean"``; the few-shot prompts for ``"inject"`` (ē = the
        mean of this head's z at their last tokens).
    per_position
        ``"mean"`` only: mean per position (prompts must be as long as the edited prompt)
        instead of pooled over positions.
    source
        The prompt whose z replaces this head's z for ``"resample"``.
    vector
        ``"add"`` only: v, as many numbers as the head's width (z + α·v).
    """

    layer: int
    head: int
    mode: EditMode = "scale"
    alpha: float = 1.0
    positions: tuple[int, ...] | None = None
    reference: tuple[str, ...] | None = None
    per_position: bool = False
    source: str | None = None
    vector: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_pair(self.layer, self.head)
        object.__setattr__(self, "mode", MODE_ALIASES.get(self.mode, self.mode))
        if self.mode not in EDIT_MODES:
            raise ValueError(f"unknown mode {self.mode!r}; valid modes: {', '.join(EDIT_MODES)}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float):
            raise TypeError(f"alpha must be a number, got {self.alpha!r}")
        if not math.isfinite(self.alpha):
            raise ValueError(f"alpha must be finite, got {self.alpha}")
        if abs(self.alpha) > 1e30:
            raise ValueError(f"alpha must be within ±1e30, got {self.alpha:g}")
        object.__setattr__(self, "alpha", float(self.alpha))
        if self.mode == "zero":
            object.__setattr__(self, "alpha", 0.0)
        if self.positions is not None:
            positions = tuple(self.positions)
            if not positions or not all(
                isinstance(p, int) and not isinstance(p, bool) for p in positions
            ):
                raise ValueError(
                    f"positions must be a non-empty sequence of ints, got {self.positions!r}"
                )
            object.__setattr__(self, "positions", tuple(sorted(set(positions))))
        if self.mode in ("mean", "inject"):
            if not self.reference or isinstance(self.reference, str):
                raise ValueError(
                    f"mode {self.mode!r} needs reference=[prompt, ...], a non-empty list of prompts"
                )
            object.__setattr__(self, "reference", tuple(str(p) for p in self.reference))
        if self.mode == "add":
            if self.vector is None or isinstance(self.vector, str):
                raise ValueError("mode 'add' needs vector=[...], one number per head dimension")
            vector = tuple(float(x) for x in self.vector)
            if not vector or not all(math.isfinite(x) for x in vector):
                raise ValueError("vector must be a non-empty list of finite numbers")
            object.__setattr__(self, "vector", vector)
        elif self.vector is not None:
            raise ValueError(f"vector= belongs to mode 'add', not {self.mode!r}")
        elif self.mode == "resample":
            if not isinstance(self.source, str) or not self.source:
                raise ValueError(f"mode {self.mode!r} needs source=<prompt>, a non-empty string")

    @property
    def replaces(self) -> bool:
        """True for modes that replace z (mean, resample) rather than scale it."""
        return self.mode in ("mean", "resample")

    @property
    def is_identity(self) -> bool:
        """True for ``scale 1``, ``add`` and ``inject`` with α = 0: the edit changes nothing."""
        if self.mode in ("add", "inject"):
            return self.alpha == 0.0
        return self.mode == "scale" and self.alpha == 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (only the fields that matter for the mode)."""
        out: dict[str, Any] = {"layer": self.layer, "head": self.head, "mode": self.mode}
        if self.mode in ("scale", "add", "inject"):
            out["alpha"] = self.alpha
        if self.mode == "add":
            out["vector"] = list(self.vector or ())
        if self.mode == "inject":
            out["reference"] = list(self.reference or ())
        if self.positions is not None:
            out["positions"] = list(self.positions)
        if self.mode == "mean":
            out["reference"] = list(self.reference or ())
            out["per_position"] = self.per_position
        if self.mode == "resample":
            out["source"] = self.source
        return out
