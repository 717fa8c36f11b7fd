"""Edits of one head's attention pattern inside attention: the spec and its tensors.

Where z edits act on a head's output after attention, these act inside it: on the logits
L = q·k·scaling + mask and the pattern A = softmax(L) of one (layer, query head),
optionally restricted to query positions (METHODS.md, "Inside attention"):

- ``temperature τ``: A' = softmax(L/τ) (masked keys stay masked), τ > 0
- ``sink β``: A'[q, 0] = β·A[q, 0], renormalised, β ≥ 0
- ``reweight g`` on keys S (positions or token strings): A'[q, k] = g·A[q, k] for k ∈ S,
  renormalised; g = 0 knocks S out
- ``mix t`` toward P: A' = (1 − t)·A + t·P, P = identity, uniform over visible keys, or the
  previous token (P[0, 0] = 1), t ∈ [0, 1]
- ``window w, sinks s``: keep keys k < s or q − k < w, renormalised (a streaming head), w ≥ 1

After an edit, a row whose edited mass would be 0 (e.g. sink β=0 at q=0) is left as it was.
Neutral settings (τ=1, β=1, g=1, t=0, w ≥ length) reproduce the unedited run. Positions
(query and key) count from each row's first real token. The math runs in
``attention_call.py``, inside headwidgets' attention function (``attention.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from headwidgets.vocab import check_pair

if TYPE_CHECKING:
    import torch

PatternKind = Literal["temperature", "sink", "reweight", "mix", "window"]
PATTERN_KINDS: tuple[str, ...] = get_args(PatternKind)
MixTarget = Literal["identity", "uniform", "previous"]
MIX_TARGETS: tuple[str, ...] = get_args(MixTarget)
Head = tuple[int, int]


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


@dataclass(frozen=True)
class AttentionEdit:
    """One edit of one head's attention pattern (immutable, JSON via ``to_dict``).

    Parameters
    ----------
    layer, head
        Which head (a query head for GQA models).
    kind
        ``"temperature"``, ``"sink"``, ``"reweight"``, ``"mix"`` or ``"window"``.
    value
        The edit's parameter: τ > 0 (temperature), β ≥ 0 (sink), gain g ≥ 0 (reweight),
        t ∈ [0, 1] (mix), width w ≥ 1 (window, an integer).
    positions
        Query positions the edit applies to (None: all), counted from the first real token.
    keys
        ``reweight`` only: key positions (ints) and/or token strings (each a single token;
        every position holding that token is in the set).
    toward
        ``mix`` only: ``"identity"``, ``"uniform"`` or ``"previous"``.
    sinks
        ``window`` only: the first ``sinks`` keys stay visible (≥ 0).
    """

    layer: int
    head: int
    kind: PatternKind
    value: float
    positions: tuple[int, ...] | None = None
    keys: tuple[int | str, ...] | None = None
    toward: MixTarget | None = None
    sinks: int = 0

    def __post_init__(self) -> None:
        check_pair(self.layer, self.head)
        if self.kind not in PATTERN_KINDS:
            raise ValueError(
                f"unknown attention edit {self.kind!r}; valid kinds: {', '.join(PATTERN_KINDS)}"
            )
        value = _number(self.kind, self.value)
        if self.kind == "temperature" and not value > 0:
            raise ValueError(f"temperature τ must be > 0 (valid range: τ > 0), got {value:g}")
        if self.kind == "sink" and value < 0:
            raise ValueError(f"sink β must be >= 0 (valid range: β ≥ 0), got {value:g}")
        if self.kind == "reweight" and value < 0:
            raise ValueError(f"reweight gain must be >= 0 (valid range: g ≥ 0), got {value:g}")
        if self.kind == "mix" and not 0.0 <= value <= 1.0:
            raise ValueError(f"mix t must be in [0, 1] (valid range: 0 ≤ t ≤ 1), got {value:g}")
        if self.kind == "window" and (value < 1 or value != int(value)):
            raise ValueError(
                f"window width must be an integer >= 1 (valid range: w ≥ 1), got {value:g}"
            )
        object.__setattr__(self, "value", value)
        if self.positions is not None:
            positions = tuple(self.positions)
            if not positions or not all(
                isinstance(p, int) and not isinstance(p, bool) for p in positions
            ):
                raise ValueError(
                    f"positions must be a non-empty sequence of ints, got {self.positions!r}"
                )
            if min(positions) < 0:
                raise ValueError(
                    f"positions are absolute query positions >= 0, got {self.positions!r}"
                )
            object.__setattr__(self, "positions", tuple(sorted(set(positions))))
        if self.kind == "reweight":
            keys = self.keys
            if keys is None or isinstance(keys, str | int) or not tuple(keys):
                raise ValueError(
                    "reweight needs keys=[...], a non-empty list of key positions or token strings"
                )
            for key in keys:
                ok = isinstance(key, str) and key != ""
                ok = ok or (isinstance(key, int) and not isinstance(key, bool) and key >= 0)
                if not ok:
                    raise ValueError(
                        "a reweight key is a position >= 0 or a non-empty token string, "
                        f"got {key!r}"
                    )
            object.__setattr__(self, "keys", tuple(keys))
        elif self.keys is not None:
            raise ValueError(f"keys= belongs to reweight, not {self.kind}")
        if self.kind == "mix":
            if self.toward not in MIX_TARGETS:
                raise ValueError(
                    f"mix needs toward= one of {', '.join(MIX_TARGETS)}, got {self.toward!r}"
                )
        elif self.toward is not None:
            raise ValueError(f"toward= belongs to mix, not {self.kind}")
        if isinstance(self.sinks, bool) or not isinstance(self.sinks, int) or self.sinks < 0:
            raise ValueError(f"sinks must be an int >= 0, got {self.sinks!r}")
        if self.kind != "window" and self.sinks:
            raise ValueError(f"sinks= belongs to window, not {self.kind}")

    @property
    def is_identity(self) -> bool:
        """True for settings that change nothing whatever the prompt (τ=1, β=1, g=1, t=0)."""
        neutral = {"temperature": 1.0, "sink": 1.0, "reweight": 1.0, "mix": 0.0}
        return neutral.get(self.kind) == self.value

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (only the fields that matter for the kind)."""
        out: dict[str, Any] = {
            "layer": self.layer,
            "head": self.head,
            "kind": self.kind,
            "value": self.value,
        }
        if self.positions is not None:
            out["positions"] = list(self.positions)
        if self.keys is not None:
            out["keys"] = list(self.keys)
        if self.toward is not None:
            out["toward"] = self.toward
        if self.kind == "window":
            out["sinks"] = self.sinks
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttentionEdit:
        item = dict(data)
        for key in ("positions", "keys"):
            if item.get(key) is not None:
                item[key] = tuple(item[key])
        return cls(**item)


def edits(
    kind: PatternKind,
    values: Mapping[Head, float],
    positions: Sequence[int] | None = None,
    **extra: Any,
) -> tuple[AttentionEdit, ...]:
    """One :class:`AttentionEdit` of ``kind`` per ``{(layer, head): value}`` item."""
    if not isinstance(values, Mapping):
        raise TypeError(
            f"{kind} takes {{(layer, head): value}}, got {type(values).__name__}; "
            f"e.g. Intervention.{kind}({{(1, 0): ...}})"
        )
    pos = tuple(positions) if positions is not None else None
    out = []
    for key, value in values.items():
        try:
            layer, head = key
        except (TypeError, ValueError):
            raise ValueError(f"a head is a (layer, head) pair, got {key!r}") from None
        out.append(AttentionEdit(layer, head, kind, value, pos, **extra))
    return tuple(out)


# ======================================================================================
# Compiled edits: per-layer tensors for N rows (N = 1 broadcasts over any batch)
# ======================================================================================

_MIX_CODE = {name: code for code, name in enumerate(MIX_TARGETS)}


@dataclass(eq=False)
class LayerPatternEdit:
    """The pattern edits of one layer for N rows, over the layer's H query heads.

    Every field is (N, H) unless said otherwise; a head a row does not edit has neutral
    values and ``edited`` False. ``queries`` (N, H, Q) marks the absolute query positions
    0..Q-1 an edit applies to (positions ≥ Q: applies when ``queries_rest``).
    ``keys`` (N, H, K) marks reweighted key positions; ``key_ids`` (N, H, J) token ids whose
    positions are reweighted too (-1 pads).
    """

    edited: torch.Tensor
    tau: torch.Tensor
    beta: torch.Tensor
    gain: torch.Tensor
    mix_t: torch.Tensor
    mix_to: torch.Tensor
    width: torch.Tensor
    sinks: torch.Tensor
    queries: torch.Tensor
    queries_rest: torch.Tensor
    keys: torch.Tensor
    key_ids: torch.Tensor
    key_texts: tuple[tuple[tuple[str, ...], ...], ...]
    """Per row and head, the token strings behind ``key_ids`` (for error messages)."""
    gathered: dict[Any, Any] = field(default_factory=dict)
    """(batch rows, device) -> the edited pairs and their parameters on the device (filled
    at run time, kept with the plan so a repeated sweep gathers and copies them once)."""

    def select(self, rows: torch.Tensor | slice) -> LayerPatternEdit:
        """The edit of the given rows (chunked runs), in that order."""
        import torch

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t if t.shape[0] == 1 else t[rows]

        if isinstance(rows, slice):
            index = list(range(len(self.key_texts)))[rows]
        else:
            index = [int(r) for r in torch.as_tensor(rows).reshape(-1)]
        texts = (
            self.key_texts if len(self.key_texts) == 1 else tuple(self.key_texts[i] for i in index)
        )
        picked: dict[str, Any] = {name: pick(getattr(self, name)) for name in self._tensors()}
        return LayerPatternEdit(**picked, key_texts=texts)

    @staticmethod
    def _tensors() -> tuple[str, ...]:
        return (
            "edited",
            "tau",
            "beta",
            "gain",
            "mix_t",
            "mix_to",
            "width",
            "sinks",
            "queries",
            "queries_rest",
            "keys",
            "key_ids",
        )


TokenId = Callable[[str], int]
"""text -> its single token id (raises when the text is not one token)."""


def compile_patterns(
    specs: Sequence[Any],
    n_layers: int,
    n_heads: int,
    token_id: TokenId,
) -> dict[int, LayerPatternEdit]:
    """Per-layer pattern-edit tensors for N specs (row i = ``specs[i].attention``).

    Layers no row edits get no entry. Raises ValueError for heads the model does not have.
    """
    import torch

    n_rows = len(specs)
    for spec in specs:
        for e in _patterns(spec):
            check_pair(e.layer, e.head, n_layers, n_heads, heads="query heads")
    layers = sorted({e.layer for spec in specs for e in _patterns(spec)})
    plans: dict[int, LayerPatternEdit] = {}
    for layer in layers:
        chosen = [
            (row, e) for row, spec in enumerate(specs) for e in _patterns(spec) if e.layer == layer
        ]
        n_q = max((max(e.positions) + 1 for _, e in chosen if e.positions), default=1)
        n_k = max(
            (
                max((k for k in e.keys if isinstance(k, int)), default=0) + 1
                for _, e in chosen
                if e.keys
            ),
            default=1,
        )
        n_j = max((sum(isinstance(k, str) for k in e.keys) for _, e in chosen if e.keys), default=0)
        shape = (n_rows, n_heads)
        plan = LayerPatternEdit(
            edited=torch.zeros(shape, dtype=torch.bool),
            tau=torch.ones(shape),
            beta=torch.ones(shape),
            gain=torch.ones(shape),
            mix_t=torch.zeros(shape),
            mix_to=torch.zeros(shape, dtype=torch.long),
            width=torch.zeros(shape, dtype=torch.long),
            sinks=torch.zeros(shape, dtype=torch.long),
            queries=torch.ones((*shape, n_q), dtype=torch.bool),
            queries_rest=torch.ones(shape, dtype=torch.bool),
            keys=torch.zeros((*shape, n_k), dtype=torch.bool),
            key_ids=torch.full((*shape, max(n_j, 1)), -1, dtype=torch.long),
            key_texts=(),
        )
        texts: list[list[tuple[str, ...]]] = [[() for _ in range(n_heads)] for _ in range(n_rows)]
        for row, e in chosen:
            head = e.head
            plan.edited[row, head] = True
            if e.positions is not None:
                plan.queries[row, head] = False
                plan.queries[row, head, list(e.positions)] = True
                plan.queries_rest[row, head] = False
            if e.kind == "temperature":
                plan.tau[row, head] = e.value
            elif e.kind == "sink":
                plan.beta[row, head] = e.value
            elif e.kind == "reweight":
                plan.gain[row, head] = e.value
                ints = [k for k in e.keys or () if isinstance(k, int)]
                strs = [k for k in e.keys or () if isinstance(k, str)]
                if ints:
                    plan.keys[row, head, ints] = True
                if strs:
                    plan.key_ids[row, head, : len(strs)] = torch.tensor([token_id(s) for s in strs])
                    texts[row][head] = tuple(strs)
            elif e.kind == "mix":
                plan.mix_t[row, head] = e.value
                plan.mix_to[row, head] = _MIX_CODE[str(e.toward)]
            elif e.kind == "window":
                plan.width[row, head] = int(e.value)
                plan.sinks[row, head] = e.sinks
        plan.key_texts = tuple(tuple(row) for row in texts)
        plans[layer] = plan
    return plans


def _patterns(spec: Any) -> list[AttentionEdit]:
    return [e for e in spec.attention if isinstance(e, AttentionEdit)]
