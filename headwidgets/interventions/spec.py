"""The intervention: an immutable set of head edits at both sites (JSON round trip).

An :class:`Intervention` maps (layer, head) to edits of the head output z
(:class:`HeadEdit`, ``z_edits.py``) and edits inside attention: of the pattern
(:class:`AttentionEdit`, ``attention_edits.py``) and of q, k, v (:class:`VectorEdit`,
``vectors.py``). Specs are plain data; :func:`check_spec` checks one against a model's
shape, ``compile.py`` and ``attention.py`` turn them into tensors and ``hooks.py`` applies
them inside a ``with`` block.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headwidgets.interventions.attention_edits import AttentionEdit, MixTarget, edits
from headwidgets.interventions.vectors import Target, VectorEdit, vector_edits
from headwidgets.interventions.z_edits import EditMode, HeadEdit
from headwidgets.vocab import check_pair

Head = tuple[int, int]


@dataclass(frozen=True)
class Intervention:
    """An immutable set of head edits; the empty spec changes nothing.

    ``edits`` act on head outputs z (``z_edits.py``); ``attention`` holds edits inside
    attention (patterns and q/k/v, ``attention_edits.py``, ``vectors.py``), which act on A
    before z = A·V. One
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
        """Activation patching: heads' z taken from a run of ``source`` (the clean prompt).

        The same edit as :meth:`resample` (one behaviour, one name: the edits say
        ``"resample"``); kept under the name the patching literature uses."""
        return cls.resample(heads, source, positions)

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

    # -- edits inside attention (attention_edits.py; METHODS "Inside attention") ----------
    @classmethod
    def temperature(
        cls, taus: Mapping[Head, float], positions: Sequence[int] | None = None
    ) -> Intervention:
        """A' = softmax(L/τ) per head: ``{(layer, head): tau}``, τ > 0 (τ < 1 sharpens)."""
        return cls(attention=edits("temperature", taus, positions))

    @classmethod
    def sink(
        cls, betas: Mapping[Head, float], positions: Sequence[int] | None = None
    ) -> Intervention:
        """Attention to position 0 times β, renormalised: ``{(layer, head): beta}``, β ≥ 0."""
        return cls(attention=edits("sink", betas, positions))

    @classmethod
    def reweight(
        cls,
        gains: Mapping[Head, float],
        keys: Sequence[int | str],
        positions: Sequence[int] | None = None,
    ) -> Intervention:
        """Attention to ``keys`` (positions or token strings) times g, renormalised; g = 0
        knocks the keys out."""
        return cls(attention=edits("reweight", gains, positions, keys=tuple(keys)))

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
        return cls(attention=edits("mix", ts, positions, toward=toward))

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
        return cls(attention=edits("window", widths, positions, sinks=sinks))

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
    """Raise ValueError when a spec's z or pattern edits name a head the model does not have
    (q/k/v edits are checked where they compile: k and v count key/value heads)."""
    if not isinstance(spec, Intervention):
        raise TypeError(f"expected an Intervention, got {type(spec).__name__}")
    for edit in spec.edits:
        check_pair(edit.layer, edit.head, n_layers, n_heads)
    for item in spec.attention:
        if isinstance(item, AttentionEdit):
            check_pair(item.layer, item.head, n_layers, n_heads, heads="query heads")
