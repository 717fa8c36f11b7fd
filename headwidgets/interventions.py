"""Head interventions: immutable specs and the ONLY place headwidgets registers hooks.

An :class:`Intervention` maps (layer, head) to an edit of that head's output ``z`` at the head
site (the input of the attention output projection, see ``architectures.py``):

- ``scale α``: α·z (0 = zero ablation, 0<α<1 dampens, α>1 amplifies, α<0 flips)
- ``zero``: the same as ``scale 0``
- ``mean``: z replaced by its mean over reference prompts (pooled, or per position)
- ``resample``: z replaced by the z of another prompt (a corrupted run)
- ``patch``: z replaced by the z of a cached run (activation patching)
- ``add``: z + α·v, v a steering vector in head-output space (:meth:`Intervention.add`)
- ``inject``: (1 − α)·z + α·ē, ē the mean z at the last token of few-shot prompts
  (task-vector injection, :meth:`Intervention.inject`)

Each edit can be restricted to query positions. Specs are plain data (JSON round trip).
Every hook registered here is removed when its ``with`` block exits, exceptions included.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from headwidgets import attention_site as att
from headwidgets._compat import call_offset
from headwidgets.attention_site import AttentionEdit, MixTarget
from headwidgets.attention_vectors import Target, VectorEdit, vector_edits

if TYPE_CHECKING:
    import torch
    from torch import nn

EditMode = Literal["scale", "zero", "mean", "resample", "patch", "add", "inject"]
EDIT_MODES: tuple[str, ...] = get_args(EditMode)
Head = tuple[int, int]


@dataclass(frozen=True)
class HeadEdit:
    """One edit of one head's output z.

    Parameters
    ----------
    layer, head
        Which head (query head for GQA models).
    mode
        ``"scale"``, ``"zero"``, ``"mean"``, ``"resample"``, ``"patch"``, ``"add"`` or
        ``"inject"``.
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
        The prompt whose z replaces this head's z for ``"resample"`` and ``"patch"``.
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
        for name in ("layer", "head"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
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
        elif self.mode in ("resample", "patch"):
            if not isinstance(self.source, str) or not self.source:
                raise ValueError(f"mode {self.mode!r} needs source=<prompt>, a non-empty string")

    @property
    def replaces(self) -> bool:
        """True for modes that replace z (mean, resample, patch) rather than scale it."""
        return self.mode in ("mean", "resample", "patch")

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
        if self.mode in ("resample", "patch"):
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Intervention:
    """An immutable set of head edits; the empty spec changes nothing.

    ``edits`` act on head outputs z (this module); ``attention`` holds edits inside
    attention (patterns, see ``attention_site.py``), which act on A before z = A·V. One
    spec may hold both (``a | b``); per head and site, a later edit wins.

    Example
    -------
    >>> spec = Intervention.scale({(0, 1): 0.0, (1, 3): 2.0})
    >>> spec.heads == frozenset({(0, 1), (1, 3)})
    True
    >>> Intervention.from_json(spec.to_json()) == spec
    True
    >>> both = spec | Intervention.temperature({(1, 0): 2.0})
    >>> Intervention.from_json(both.to_json()) == both, len(both)
    (True, 3)
    """

    edits: tuple[HeadEdit, ...] = field(default_factory=tuple)
    attention: tuple[AttentionEdit | VectorEdit, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        edits = tuple(self.edits)
        for edit in edits:
            if not isinstance(edit, HeadEdit):
                raise TypeError(f"edits must be HeadEdit objects, got {type(edit).__name__}")
        by_head: dict[Head, HeadEdit] = {}
        for edit in edits:  # a later edit of the same head wins
            by_head[(edit.layer, edit.head)] = edit
        object.__setattr__(self, "edits", tuple(by_head[k] for k in sorted(by_head)))
        inside: dict[tuple[int, int, str], AttentionEdit | VectorEdit] = {}
        for item in tuple(self.attention):  # per head: one pattern edit and one per q/k/v
            if isinstance(item, AttentionEdit):
                inside[(item.layer, item.head, "pattern")] = item
            elif isinstance(item, VectorEdit):
                inside[(item.layer, item.head, item.target)] = item
            else:
                raise TypeError(
                    "attention must be AttentionEdit or VectorEdit objects, "
                    f"got {type(item).__name__}"
                )
        object.__setattr__(self, "attention", tuple(inside[k] for k in sorted(inside)))

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def scale(
        cls, alphas: Mapping[Head, float], positions: Sequence[int] | None = None
    ) -> Intervention:
        """Multiply each head's z by its α: ``{(layer, head): alpha}``."""
        pos = tuple(positions) if positions is not None else None
        return cls(tuple(HeadEdit(*_head(k), "scale", a, pos) for k, a in alphas.items()))

    @classmethod
    def zero(cls, heads: Iterable[Head], positions: Sequence[int] | None = None) -> Intervention:
        """Zero-ablate heads."""
        pos = tuple(positions) if positions is not None else None
        return cls(tuple(HeadEdit(*_head(k), "zero", 0.0, pos) for k in heads))

    @classmethod
    def mean(
        cls,
        heads: Iterable[Head],
        reference: Sequence[str],
        per_position: bool = False,
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """Replace heads' z by its mean over ``reference`` prompts."""
        pos = tuple(positions) if positions is not None else None
        ref = (reference,) if isinstance(reference, str) else tuple(reference)
        return cls(
            tuple(
                HeadEdit(*_head(k), "mean", positions=pos, reference=ref, per_position=per_position)
                for k in heads
            )
        )

    @classmethod
    def resample(
        cls, heads: Iterable[Head], source: str, positions: Sequence[int] | None = None
    ) -> Intervention:
        """Replace heads' z by the z of ``source`` (another prompt, same length)."""
        pos = tuple(positions) if positions is not None else None
        return cls(
            tuple(HeadEdit(*_head(k), "resample", positions=pos, source=source) for k in heads)
        )

    @classmethod
    def patch(
        cls, heads: Iterable[Head], source: str, positions: Sequence[int] | None = None
    ) -> Intervention:
        """Patch heads' z from a cached run of ``source`` (activation patching)."""
        pos = tuple(positions) if positions is not None else None
        return cls(tuple(HeadEdit(*_head(k), "patch", positions=pos, source=source) for k in heads))

    @classmethod
    def add(
        cls,
        vectors: Mapping[Head, Sequence[float]],
        alpha: float | Mapping[Head, float] = 1.0,
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """Steer heads: z + α·v per head, ``{(layer, head): vector}`` (v of the head's width).

        ``alpha`` is one number or ``{(layer, head): alpha}`` (each head its own α). Build v
        from contrastive prompts with :func:`headwidgets.steering.steering_vectors`.

        Example
        -------
        >>> spec = Intervention.add({(1, 0): [0.5, -1.0]}, alpha=2.0)
        >>> Intervention.from_json(spec.to_json()) == spec
        True
        """
        pos = tuple(positions) if positions is not None else None
        return cls(
            tuple(
                HeadEdit(*_head(k), "add", _alpha(alpha, k), pos, vector=tuple(v))
                for k, v in vectors.items()
            )
        )

    @classmethod
    def inject(
        cls,
        alphas: Mapping[Head, float],
        reference: Sequence[str],
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """Task-vector injection: (1 − α)·z + α·ē per head, ``{(layer, head): alpha}``;
        ē = the head's mean z at the last token of the few-shot ``reference`` prompts.

        Example
        -------
        >>> spec = Intervention.inject({(1, 0): 0.5, (1, 2): 1.0}, ["a b : c", "d e : f"])
        >>> Intervention.from_json(spec.to_json()) == spec
        True
        """
        pos = tuple(positions) if positions is not None else None
        ref = (reference,) if isinstance(reference, str) else tuple(reference)
        return cls(
            tuple(HeadEdit(*_head(k), "inject", a, pos, reference=ref) for k, a in alphas.items())
        )

    @classmethod
    def single(cls, layer: int, head: int, mode: EditMode = "zero", **kwargs: Any) -> Intervention:
        """One edit of one head, e.g. ``Intervention.single(1, 2, "scale", alpha=2.0)``."""
        return cls((HeadEdit(layer, head, mode, **kwargs),))

    # -- edits inside attention (attention_site.py; METHODS "Inside attention") ----------
    @classmethod
    def temperature(
        cls, taus: Mapping[Head, float], positions: Sequence[int] | None = None
    ) -> Intervention:
        """A' = softmax(L/τ) per head: ``{(layer, head): tau}``, τ > 0 (τ < 1 sharpens)."""
        return cls(attention=att.edits("temperature", taus, positions))

    @classmethod
    def sink(
        cls, betas: Mapping[Head, float], positions: Sequence[int] | None = None
    ) -> Intervention:
        """Attention to position 0 times β, renormalised: ``{(layer, head): beta}``, β ≥ 0."""
        return cls(attention=att.edits("sink", betas, positions))

    @classmethod
    def reweight(
        cls,
        gains: Mapping[Head, float],
        keys: Sequence[int | str],
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """Attention to ``keys`` (positions or token strings) times g, renormalised; g = 0
        knocks the keys out."""
        return cls(attention=att.edits("reweight", gains, positions, keys=tuple(keys)))

    @classmethod
    def mix(
        cls,
        ts: Mapping[Head, float],
        toward: MixTarget = "identity",
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """A' = (1 − t)·A + t·P, P = ``"identity"``, ``"uniform"`` or ``"previous"``; t ∈ [0, 1].

        Example
        -------
        >>> import headwidgets as hw
        >>> hm = hw.load("induction-2l")
        >>> with hm.intervene(Intervention.mix({(1, 0): 1.0}, toward="identity")):
        ...     cubes = hm.capture("ba be bi bo ba be bi bo", ["pattern"], heads=[(1, 0)])
        >>> pattern = cubes["pattern"].sel(layer=1, head=0).values   # every row on itself
        >>> bool((pattern.diagonal() == 1.0).all())
        True
        """
        return cls(attention=att.edits("mix", ts, positions, toward=toward))

    @classmethod
    def window(
        cls,
        widths: Mapping[Head, int],
        sinks: int = 1,
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """A streaming head: keep keys k < sinks or q − k < width, renormalised; width ≥ 1.

        Example
        -------
        >>> spec = Intervention.window({(1, 0): 4}, sinks=1) | Intervention.zero([(0, 1)])
        >>> [e.kind for e in spec.attention], len(spec.edits)
        (['window'], 1)
        """
        return cls(attention=att.edits("window", widths, positions, sinks=sinks))

    @classmethod
    def qkv_add(
        cls,
        target: Target,
        alphas: Mapping[Head, float],
        direction: Sequence[float],
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """x + α·d on q (query heads) or k / v (key/value heads: a whole GQA group)."""
        return cls(attention=vector_edits(target, "add", alphas, direction, None, positions))

    @classmethod
    def qkv_project(
        cls,
        target: Target,
        heads: Iterable[Head],
        direction: Sequence[float],
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """x − (x·d̂)d̂ on q (query heads) or k / v (key/value heads)."""
        return cls(attention=vector_edits(target, "project", heads, direction, None, positions))

    @classmethod
    def qkv_patch(
        cls,
        target: Target,
        heads: Iterable[Head],
        source: str,
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """q, k or v of ``source``'s clean run in place of this run's (same positions)."""
        return cls(attention=vector_edits(target, "patch", heads, None, source, positions))

    # -- combination and views ----------------------------------------------------------
    def __or__(self, other: Intervention) -> Intervention:
        if not isinstance(other, Intervention):
            return NotImplemented
        return Intervention(self.edits + other.edits, self.attention + other.attention)

    def __len__(self) -> int:
        return len(self.edits) + len(self.attention)

    def __bool__(self) -> bool:
        return bool(self.edits) or bool(self.attention)

    @property
    def heads(self) -> frozenset[Head]:
        """The (layer, head) pairs this spec edits (at either site)."""
        z_heads = {(e.layer, e.head) for e in self.edits}
        return frozenset(z_heads | {(e.layer, e.head) for e in self.attention})

    @property
    def layers(self) -> tuple[int, ...]:
        """Layers with at least one non-identity edit (at either site), sorted."""
        z_layers = {e.layer for e in self.edits if not e.is_identity}
        return tuple(sorted(z_layers | {e.layer for e in self.attention if not e.is_identity}))

    # -- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"edits": [e.to_dict() for e in self.edits]}
        if self.attention:
            out["attention"] = [e.to_dict() for e in self.attention]
        return out

    def to_json(self) -> str:
        """Compact JSON; ``Intervention.from_json`` reads it back equal."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Intervention:
        edits = []
        for item in data.get("edits", []):
            item = dict(item)
            for key in ("positions", "reference", "vector"):
                if item.get(key) is not None:
                    item[key] = tuple(item[key])
            edits.append(HeadEdit(**item))
        inside = tuple(
            VectorEdit.from_dict(item) if "target" in item else AttentionEdit.from_dict(item)
            for item in data.get("attention", [])
        )
        return cls(tuple(edits), inside)

    @classmethod
    def from_json(cls, text: str) -> Intervention:
        return cls.from_dict(json.loads(text))


def _alpha(alpha: float | Mapping[Head, float], head: Any) -> float:
    """One α for every head, or this head's α from a ``{(layer, head): alpha}`` mapping."""
    if isinstance(alpha, Mapping):
        if head not in alpha:
            raise ValueError(f"alpha has no entry for head {head!r}; give one α per head")
        return alpha[head]
    return alpha


def _head(key: Any) -> Head:
    try:
        layer, head = key
    except (TypeError, ValueError):
        raise ValueError(f"a head is a (layer, head) pair, got {key!r}") from None
    return layer, head


def check_spec(spec: Intervention, n_layers: int, n_heads: int) -> None:
    """Raise ValueError when a spec names a head the model does not have."""
    if not isinstance(spec, Intervention):
        raise TypeError(f"expected an Intervention, got {type(spec).__name__}")
    for edit in spec.edits:
        if edit.layer >= n_layers:
            raise ValueError(
                f"unknown head ({edit.layer}, {edit.head}): layer {edit.layer} is out of range; "
                f"valid layers are 0..{n_layers - 1}"
            )
        if edit.head >= n_heads:
            raise ValueError(
                f"unknown head ({edit.layer}, {edit.head}): head {edit.head} is out of range; "
                f"valid heads are 0..{n_heads - 1}"
            )
    att.check_heads([spec], n_layers, n_heads)


# ======================================================================================
# Compiled edits: per-layer tensors for N rows (N = 1 broadcasts over any batch)
# ======================================================================================


@dataclass
class LayerEdit:
    """The edit of one layer for N rows.

    ``scale`` is (N, T or 1, H); ``replace_mask`` (N, T or 1, H) bool and ``replacement``
    (N, T or 1, H, D) are None when no row replaces z in this layer; ``offset`` (N, T or 1,
    H, D) is added after scaling (``add`` and ``inject``), None when no row adds. The edited
    z is ``z·scale + offset``, then replaced where ``replace_mask``. ``T`` covers absolute
    positions 0..T-1; positions past it are left unedited by position-restricted edits.
    """

    scale: torch.Tensor
    replace_mask: torch.Tensor | None = None
    replacement: torch.Tensor | None = None
    offset: torch.Tensor | None = None

    def select(self, rows: torch.Tensor | slice) -> LayerEdit:
        """The edit of the given rows (for chunked runs), in that order."""

        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else (t if t.shape[0] == 1 else t[rows])

        scale = pick(self.scale)
        assert scale is not None
        return LayerEdit(scale, pick(self.replace_mask), pick(self.replacement), pick(self.offset))

    def to(self, device: Any, dtype: Any) -> LayerEdit:
        return LayerEdit(
            self.scale.to(device=device, dtype=dtype),
            None if self.replace_mask is None else self.replace_mask.to(device),
            None if self.replacement is None else self.replacement.to(device=device, dtype=dtype),
            None if self.offset is None else self.offset.to(device=device, dtype=dtype),
        )

    @property
    def positional(self) -> bool:
        """True when the edit differs between positions (needs the absolute offset)."""
        return (
            self.scale.shape[1] > 1
            or (self.replace_mask is not None and self.replace_mask.shape[1] > 1)
            or (self.offset is not None and self.offset.shape[1] > 1)
        )

    def apply(self, z: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Edit z (B, T, ...) whose first position is the absolute position ``offset``.

        z is (B, T, H, D) (a view of the head site's input); rows past the edit's N are
        never asked for, rows fewer than N take the edit's first rows (growing batch).
        """
        import torch

        n_rows, n_pos = z.shape[0], z.shape[1]
        # a growing batch (see grow_batch) reaches early layers with its first rows only
        scale = _window(_first(self.scale, n_rows), offset, n_pos, fill=1.0)
        out = z * scale.unsqueeze(-1)
        if self.offset is not None:
            out = out + _window(_first(self.offset, n_rows), offset, n_pos, fill=0.0)
        if self.replace_mask is not None and self.replacement is not None:
            mask = _window(_first(self.replace_mask, n_rows), offset, n_pos, fill=False)
            repl = _window(_first(self.replacement, n_rows), offset, n_pos, fill=0.0)
            out = torch.where(mask.unsqueeze(-1), repl, out)
        return out


def _first(t: torch.Tensor, n_rows: int) -> torch.Tensor:
    return t if t.shape[0] in (1, n_rows) else t[:n_rows]


def _window(t: torch.Tensor, offset: int, n_pos: int, fill: float | bool) -> torch.Tensor:
    """Positions offset..offset+n_pos of a (N, T or 1, ...) tensor; pad past T with fill."""
    import torch

    if t.shape[1] == 1:
        return t
    if offset == 0 and t.shape[1] == n_pos:
        return t
    part = t[:, offset : offset + n_pos]
    missing = n_pos - part.shape[1]
    if missing > 0:
        pad = torch.full((t.shape[0], missing, *t.shape[2:]), fill, dtype=t.dtype, device=t.device)
        part = torch.cat([part, pad], dim=1)
    return part


ZSource = Callable[[str], "torch.Tensor"]
"""prompt -> z of a clean run, (L, T, H, D)."""


def compile_specs(
    specs: Sequence[Intervention],
    n_layers: int,
    n_heads: int,
    head_dim: int,
    n_pos: int | None,
    z_of: ZSource,
) -> dict[int, LayerEdit]:
    """Per-layer edit tensors for N specs (row i = spec i).

    ``n_pos`` is the length of the edited prompt (None when unknown, e.g. under
    ``intervene``, where position-restricted edits then cover the positions they name).
    Layers where every edit is the identity get no entry (and no hook).
    """
    import torch

    n_rows = len(specs)
    for spec in specs:
        check_spec(spec, n_layers, n_heads)
    layers = sorted({e.layer for spec in specs for e in spec.edits if not e.is_identity})
    uses_positions = any(e.positions is not None for s in specs for e in s.edits)
    uses_per_pos = any(
        e.replaces and (e.mode != "mean" or e.per_position) for s in specs for e in s.edits
    )
    if uses_positions or uses_per_pos:
        if n_pos is None:
            # the prompts these edits copy from fix the length where one is given
            lengths = [z_of(e.source).shape[1] for s in specs for e in s.edits if e.source]
            lengths += [
                z_of(r).shape[1]
                for s in specs
                for e in s.edits
                if e.mode == "mean" and e.per_position
                for r in (e.reference or ())
            ]
            from_end = sorted(
                {p for s in specs for e in s.edits for p in e.positions or () if p < 0}
            )
            if from_end and not lengths:
                raise ValueError(
                    f"positions {from_end} count from the end of the prompt, but under "
                    "hm.intervene (and hm.run, which uses it) there is no fixed length: give "
                    "absolute positions 0..T-1, or use hm.run_batch / hm.sweep, which know "
                    "the prompt's length"
                )
            needed = [max(e.positions) + 1 for s in specs for e in s.edits if e.positions]
            needed += lengths
            n_pos = max(needed) if needed else 1
        width = n_pos
    else:
        width = 1
    plans: dict[int, LayerEdit] = {}
    for layer in layers:
        scale = torch.ones(n_rows, width, n_heads)
        mask: torch.Tensor | None = None
        repl: torch.Tensor | None = None
        added: torch.Tensor | None = None
        rows, heads, alphas = [], [], []
        for row, spec in enumerate(specs):
            for edit in spec.edits:
                if edit.layer != layer or edit.is_identity:
                    continue
                if edit.mode in ("add", "inject"):  # z·scale + offset
                    where = _positions(edit.positions, width)
                    if added is None:
                        added = torch.zeros(n_rows, width, n_heads, head_dim)
                    added[row, where, edit.head] = _added(edit, z_of, head_dim)
                    if edit.mode == "inject":
                        scale[row, where, edit.head] = 1.0 - edit.alpha
                    continue
                if not edit.replaces and edit.positions is None:
                    rows.append(row)
                    heads.append(edit.head)
                    alphas.append(edit.alpha)
                    continue
                where = _positions(edit.positions, width)
                if not edit.replaces:
                    scale[row, where, edit.head] = edit.alpha
                    continue
                if mask is None or repl is None:
                    mask = torch.zeros(n_rows, width, n_heads, dtype=torch.bool)
                    repl = torch.zeros(n_rows, width, n_heads, head_dim)
                value = _replacement(edit, z_of, width)  # (width, D)
                repl[row, where, edit.head] = value[where].float()
                mask[row, where, edit.head] = True
        if rows:  # all whole-prompt scale edits of this layer in one write
            index = (torch.tensor(rows), slice(None), torch.tensor(heads))
            scale[index] = torch.tensor(alphas, dtype=scale.dtype).unsqueeze(-1)
        plans[layer] = LayerEdit(scale, mask, repl, added)
    return plans


def _positions(positions: tuple[int, ...] | None, width: int) -> Any:
    if positions is None:
        return slice(None)
    bad = [p for p in positions if not -width <= p < width]
    if bad:
        raise ValueError(
            f"positions {bad} are out of range for a prompt of {width} tokens "
            f"(valid: 0..{width - 1}, or negative from the end)"
        )
    return [p % width for p in positions]


def _added(edit: HeadEdit, z_of: ZSource, head_dim: int) -> torch.Tensor:
    """The (D,) term an ``add`` (α·v) or ``inject`` (α·ē) edit adds to the scaled z."""
    import torch

    if edit.mode == "add":
        vector = torch.tensor(edit.vector or ())
        if vector.numel() != head_dim:
            raise ValueError(
                f"head ({edit.layer}, {edit.head}): the add vector has {vector.numel()} numbers "
                f"but the heads are {head_dim} wide"
            )
        return edit.alpha * vector
    last = [z_of(p)[edit.layer, -1, edit.head].float() for p in edit.reference or ()]
    return edit.alpha * torch.stack(last).mean(dim=0)


def _replacement(edit: HeadEdit, z_of: ZSource, width: int) -> torch.Tensor:
    """The (width, D) replacement z of one edit (broadcast when pooled)."""
    import torch

    if edit.mode == "mean":
        zs = [z_of(p)[edit.layer, :, edit.head] for p in edit.reference or ()]
        if not edit.per_position:
            pooled = torch.cat(zs, dim=0).float().mean(dim=0)
            return pooled.expand(width, -1)
        short = [len(z) for z in zs if len(z) < width]
        if short:
            raise ValueError(
                f"per-position mean needs reference prompts of at least {width} tokens; "
                f"got one of {min(short)} tokens"
            )
        return torch.stack([z[:width].float() for z in zs]).mean(dim=0)
    assert edit.source is not None
    z = z_of(edit.source)[edit.layer, :, edit.head].float()
    if z.shape[0] != width and width != 1:
        raise ValueError(
            f"{edit.mode} source has {z.shape[0]} tokens but the prompt has {width}; "
            f"{edit.mode} needs prompts of equal length (source: {edit.source!r})"
        )
    return z


# ======================================================================================
# Hooks: every registration lives below, and every one is removed on exit
# ======================================================================================

SiteFn = Callable[[int, "torch.Tensor"], "torch.Tensor | None"]
"""(layer, z (B, T, H, D)) -> edited z, or None to leave it."""


class _Offset:
    """Absolute position of the current call's first token (non-zero while generating)."""

    value: int = 0


@contextlib.contextmanager
def _track_offset(model: nn.Module) -> Iterator[_Offset]:
    offset = _Offset()

    def pre(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        offset.value = call_offset(args, kwargs)

    handle = model.register_forward_pre_hook(pre, with_kwargs=True)
    try:
        yield offset
    finally:
        handle.remove()


@contextlib.contextmanager
def site_hooks(
    model: nn.Module,
    out_projs: Sequence[nn.Module],
    n_heads: int,
    fn: Callable[[int, torch.Tensor, int], torch.Tensor | None],
    layers: Iterable[int] | None = None,
    track_offset: bool = True,
) -> Iterator[None]:
    """Call ``fn(layer, z, offset)`` at the head site of each layer during forwards.

    ``z`` is a (B, T, H, D) view of the output projection's input. When ``fn`` returns a
    tensor, it replaces z as that input. ``offset`` is the absolute position of the call's
    first token (0 unless ``track_offset`` and a KV cache is in use).
    """
    handles = []
    chosen = range(len(out_projs)) if layers is None else sorted(set(layers))
    with (
        _track_offset(model) if track_offset else contextlib.nullcontext(_Offset()) as offset,
        _require_sites(model, out_projs, chosen) as fired,
    ):
        try:
            for layer in chosen:

                def pre(
                    module: nn.Module, args: tuple[Any, ...], layer: int = layer
                ) -> tuple[Any, ...] | None:
                    fired.add(layer)
                    new = fn(layer, args[0].unflatten(-1, (n_heads, -1)), offset.value)
                    return None if new is None else (new.flatten(-2), *args[1:])

                handles.append(out_projs[layer].register_forward_pre_hook(pre))
            yield
        finally:
            for handle in handles:
                handle.remove()


@contextlib.contextmanager
def _require_sites(
    model: nn.Module, out_projs: Sequence[nn.Module], layers: Iterable[int]
) -> Iterator[set[int]]:
    """Raise after a forward of ``model`` in which a hooked head site did not run.

    Yields the set the site hooks add their layer to. A forward that bypasses the output
    projection (a re-implemented attention, a swapped module) would otherwise edit nothing
    and say nothing.
    """
    wanted = set(layers)
    fired: set[int] = set()

    def pre(module: nn.Module, args: tuple[Any, ...]) -> None:
        fired.clear()

    def post(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        missed = sorted(wanted - fired)
        if missed:
            names = ", ".join(type(out_projs[layer]).__name__ for layer in missed[:3])
            raise RuntimeError(
                f"the head site of layer(s) {missed} did not run during this forward, so "
                f"their edits were not applied: the model no longer calls the bound output "
                f"projection ({names}) of those layers. Was a module replaced after "
                "binding? Bind the model again (hw.bind) to find its current projections."
            )

    handles = [model.register_forward_pre_hook(pre), model.register_forward_hook(post)]
    try:
        yield fired
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def apply_edits(
    model: nn.Module,
    out_projs: Sequence[nn.Module],
    n_heads: int,
    plans: Mapping[int, LayerEdit],
) -> Iterator[None]:
    """Apply compiled per-layer edits while the block runs."""
    placed: dict[int, LayerEdit] = {}
    for layer, plan in plans.items():
        weight: Any = out_projs[layer].weight
        # offloaded weights live on "meta": such a plan moves to z's device in the hook
        placed[layer] = (
            plan if weight.device.type == "meta" else plan.to(weight.device, weight.dtype)
        )
    with apply_placed_edits(model, out_projs, n_heads, placed):
        yield


@contextlib.contextmanager
def apply_placed_edits(
    model: nn.Module,
    out_projs: Sequence[nn.Module],
    n_heads: int,
    placed: dict[int, LayerEdit],
    track_offset: bool | None = None,
) -> Iterator[None]:
    """Apply per-layer edits as they are: the tensors are read at every forward, so a caller
    may rewrite them in place between forwards (CUDA-graph refresh).

    ``track_offset`` (default: when an edit is positional) follows the absolute position
    under a KV cache; pass False where no cache is used (it reads the cache position on the
    host, which a CUDA graph capture forbids).
    """
    if track_offset is None:
        track_offset = any(plan.positional for plan in placed.values())

    def fn(layer: int, z: torch.Tensor, offset: int) -> torch.Tensor:
        plan = placed[layer]
        if plan.scale.device != z.device or plan.scale.dtype != z.dtype:
            # the layer runs elsewhere than its weights live (accelerate offload): follow z
            plan = placed[layer] = plan.to(z.device, z.dtype)
        return plan.apply(z, offset)

    with site_hooks(model, out_projs, n_heads, fn, layers=placed, track_offset=track_offset):
        yield


@contextlib.contextmanager
def pattern_hooks(
    attention_modules: Sequence[nn.Module],
    fn: Callable[[int, torch.Tensor], None],
) -> Iterator[None]:
    """Call ``fn(layer, probs (B, H, Tq, Tk))`` with each attention module's probabilities.

    Needs eager attention (the caller switches it on); raises if a module returns none.
    """
    handles = []
    try:
        for layer, module in enumerate(attention_modules):

            def post(module: nn.Module, args: Any, output: Any, layer: int = layer) -> None:
                probs = output[1] if isinstance(output, tuple) and len(output) > 1 else None
                if probs is None:
                    raise RuntimeError(
                        f"layer {layer}: the attention module {type(module).__name__} returned "
                        "no attention probabilities (is eager attention on?)"
                    )
                fn(layer, probs)

            handles.append(module.register_forward_hook(post))
        yield
    finally:
        for handle in handles:
            handle.remove()


# ======================================================================================
# Hooks for the scores (issue 4: attribution patching and direct logit attribution).
# Same rules as above: registered only inside a ``with`` block, all removed on exit.
# ======================================================================================


@contextlib.contextmanager
def z_perturbations(
    model: nn.Module,
    out_projs: Sequence[nn.Module],
    n_heads: int,
) -> Iterator[tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]]:
    """Add a zero leaf ``delta`` (requires grad) to each layer's z, for ``torch.autograd.grad``.

    Yields two dicts filled during the forward, layer -> (B, T, H, D): the values of z
    (detached) and the deltas. The forward uses ``z + delta`` with z still attached to the
    layers below, so ``∂metric/∂delta`` is the total derivative with respect to the head
    outputs, through every later layer and every later head. (Replacing z by a detached leaf
    instead would cut the paths through later heads.) Run the forward under
    ``torch.enable_grad()``; values are unchanged since the deltas are zero.
    """
    import torch

    values: dict[int, torch.Tensor] = {}
    deltas: dict[int, torch.Tensor] = {}

    def fn(layer: int, z: torch.Tensor, offset: int) -> torch.Tensor:
        delta = torch.zeros_like(z, requires_grad=True)
        values[layer] = z.detach()
        deltas[layer] = delta
        return z + delta

    with site_hooks(model, out_projs, n_heads, fn):
        yield values, deltas


@contextlib.contextmanager
def capture_inputs(
    modules: Sequence[nn.Module],
    fn: Callable[[int, torch.Tensor], None],
) -> Iterator[None]:
    """Call ``fn(index, hidden_states)`` with the first input of each module before it runs.

    Used to read the residual stream at block inputs and at the final norm's input.
    """
    handles = []
    try:
        for index, module in enumerate(modules):

            def pre(
                module: nn.Module,
                args: tuple[Any, ...],
                kwargs: dict[str, Any],
                index: int = index,
            ) -> None:
                hidden = args[0] if args else kwargs.get("hidden_states")
                if hidden is None:
                    raise RuntimeError(
                        f"{type(module).__name__} was called without hidden states to capture"
                    )
                fn(index, hidden)

            handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def grow_batch(blocks: Sequence[nn.Module], joins: Mapping[int, int]) -> Iterator[None]:
    """Grow the batch inside one forward: block l's input gains ``joins[l]`` copies of row 0.

    Rows of a sweep share everything below their first edited layer, so a forward may start
    with one row (the clean carrier, row 0, never edited) and let each row join at the first
    layer it edits: the layers below run once instead of once per row. Only the hidden
    state is expanded; masks and position embeddings of batch 1 broadcast.
    """
    import torch

    handles = []
    try:
        for layer, count in joins.items():
            if count <= 0:
                continue

            def pre(
                module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], count: int = count
            ) -> tuple[tuple[Any, ...], dict[str, Any]]:
                if args:
                    hidden = args[0]
                    grown = torch.cat([hidden, hidden[:1].expand(count, *hidden.shape[1:])])
                    return (grown, *args[1:]), kwargs
                hidden = kwargs["hidden_states"]
                grown = torch.cat([hidden, hidden[:1].expand(count, *hidden.shape[1:])])
                return args, {**kwargs, "hidden_states": grown}

            handles.append(blocks[layer].register_forward_pre_hook(pre, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
