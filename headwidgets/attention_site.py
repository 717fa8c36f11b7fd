"""The inside-attention site: edits of one head's attention pattern, and reads of q, k, v.

The second site next to the head output z (``interventions.py``). Where z edits act on a
head's output after attention, these act inside it: on the logits L = q·k·scaling + mask and
the pattern A = softmax(L) of one (layer, query head), optionally restricted to query
positions (METHODS.md, "Inside attention"):

- ``temperature τ``: A' = softmax(L/τ) (masked keys stay masked), τ > 0
- ``sink β``: A'[q, 0] = β·A[q, 0], renormalised, β ≥ 0
- ``reweight g`` on keys S (positions or token strings): A'[q, k] = g·A[q, k] for k ∈ S,
  renormalised; g = 0 knocks S out
- ``mix t`` toward P: A' = (1 − t)·A + t·P, P = identity, uniform over visible keys, or the
  previous token (P[0, 0] = 1), t ∈ [0, 1]
- ``window w, sinks s``: keep keys k < s or q − k < w, renormalised (a streaming head), w ≥ 1

After an edit, a row whose edited mass would be 0 (e.g. sink β=0 at q=0) is left as it was.
Neutral settings (τ=1, β=1, g=1, t=0, w ≥ length) reproduce the unedited run.

How it runs: ONE attention function, registered with transformers' ``AttentionInterface``
under :data:`NAME`, is switched on only inside :func:`switched` (the user's
``attn_implementation`` is restored on every exit path, exceptions included). It receives
q (after rotary embeddings), k and v per key/value head, the mask and the scaling. Every
layer first runs the user's own kernel (sdpa stays sdpa, eager stays eager; a flash or flex
kernel is replaced by sdpa inside the block, whose masks this function can read); only the
edited (row, head) pairs of the edited layers are recomputed from q, k, v and spliced into its
output, so editing one head does not make the model eager. q/k/v edits
(``attention_vectors.py``) change q, k, v before the kernel runs; readers
(``HeadModel.capture_attention``) see each call after the edits. Models whose attention does
not dispatch through the interface (``gpt_neo`` in transformers 5.x) get
:class:`AttentionSiteError` naming those that do.

Positions are absolute (the KV-cache offset is followed), so generation with a cache equals
uncached generation under the same edits.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> spec = hw.Intervention.sink({(1, 0): 0.0}) | hw.Intervention.zero([(0, 1)])
>>> with hm.intervene(spec):                     # attention edit + z edit, one block
...     out = hm.model(hm.tokenize("ba be bi ba be bi").input_ids)
>>> hm.model.config._attn_implementation         # the user's kernel is back
'sdpa'
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from headwidgets._compat import call_offset
from headwidgets.attention_vectors import TargetEdit

if TYPE_CHECKING:
    import torch
    from torch import nn

PatternKind = Literal["temperature", "sink", "reweight", "mix", "window"]
PATTERN_KINDS: tuple[str, ...] = get_args(PatternKind)
MixTarget = Literal["identity", "uniform", "previous"]
MIX_TARGETS: tuple[str, ...] = get_args(MixTarget)
Head = tuple[int, int]

NAME = "headwidgets"
"""The name headwidgets' attention function is registered under (AttentionInterface)."""

SUPPORTED_MODEL_TYPES: tuple[str, ...] = (
    "bert",
    "distilbert",
    "gemma",
    "gemma2",
    "gpt2",
    "gpt_neox",
    "gptj",
    "llama",
    "mistral",
    "olmo",
    "opt",
    "phi3",
    "qwen2",
    "qwen3",
    "roberta",
)
"""Model types of the architecture table whose attention dispatches through transformers'
``AttentionInterface`` (checked against transformers by the tests); ``gpt_neo`` does not."""


class AttentionSiteError(ValueError):
    """The model's attention does not dispatch through transformers' AttentionInterface."""


# ======================================================================================
# Spec: one pattern edit of one (layer, query head)
# ======================================================================================


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
        Query positions the edit applies to (None: all). Negative counts from the end.
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
        for name in ("layer", "head"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
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
    check_heads(specs, n_layers, n_heads)
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


def check_heads(specs: Sequence[Any], n_layers: int, n_heads: int) -> None:
    """Raise ValueError when a pattern edit names a head the model does not have."""
    for spec in specs:
        for e in _patterns(spec):
            if e.layer >= n_layers:
                raise ValueError(
                    f"unknown head ({e.layer}, {e.head}): layer {e.layer} is out of range; "
                    f"valid layers are 0..{n_layers - 1}"
                )
            if e.head >= n_heads:
                raise ValueError(
                    f"unknown head ({e.layer}, {e.head}): head {e.head} is out of range; "
                    f"valid query heads are 0..{n_heads - 1}"
                )


# ======================================================================================
# The registered attention function and the ``with`` block that switches a model to it
# ======================================================================================


class _Ids:
    """The token ids of every position so far in the current sequence (for string keys)."""

    def __init__(self) -> None:
        self.value: torch.Tensor | None = None


@dataclass(eq=False)
class _Pairs:
    """The (row, query head) pairs one layer edits for a batch of B rows, with each pair's
    parameters, gathered once on the host and kept on the device (no sync per forward)."""

    rows: torch.Tensor
    heads: torch.Tensor
    spec_rows: list[int]
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
    strings: bool
    kinds: frozenset[str]
    """The edits some pair makes (the others' steps are skipped: fewer launches)."""


def _gather_pairs(plan: LayerPatternEdit, n_rows: int, device: Any) -> _Pairs | None:
    import torch

    edited = _rows(plan.edited, n_rows).expand(n_rows, -1)
    found = edited.nonzero()
    if found.numel() == 0:
        return None
    rows, heads = found[:, 0], found[:, 1]
    spec_rows = rows if plan.edited.shape[0] > 1 else torch.zeros_like(rows)

    def take(t: torch.Tensor, units: bool = True) -> torch.Tensor:
        picked = t[spec_rows, heads]
        if units and picked.dim() == 1:
            picked = picked.reshape(-1, 1, 1)
        return picked.to(device, non_blocking=True)

    return _Pairs(
        rows=rows.to(device),
        heads=heads.to(device),
        spec_rows=spec_rows.tolist(),
        tau=take(plan.tau),
        beta=take(plan.beta),
        gain=take(plan.gain),
        mix_t=take(plan.mix_t),
        mix_to=take(plan.mix_to),
        width=take(plan.width),
        sinks=take(plan.sinks),
        queries=take(plan.queries),
        queries_rest=take(plan.queries_rest, units=False),
        keys=take(plan.keys),
        key_ids=take(plan.key_ids),
        strings=bool((plan.key_ids[spec_rows, heads] >= 0).any()),
        kinds=frozenset(
            kind
            for kind, used in (
                ("temperature", (plan.tau[spec_rows, heads] != 1).any()),
                ("sink", (plan.beta[spec_rows, heads] != 1).any()),
                ("reweight", (plan.gain[spec_rows, heads] != 1).any()),
                ("window", (plan.width[spec_rows, heads] > 0).any()),
                ("mix", (plan.mix_t[spec_rows, heads] != 0).any()),
            )
            if bool(used)
        ),
    )


@dataclass(eq=False)
class _LayerSite:
    """What one ``with`` block does at one layer: pattern edits, q/k/v edits, a reader."""

    plan: LayerPatternEdit | None
    layer: int
    offset: Any
    ids: _Ids | None
    placed: dict[Any, Any]
    ran: set[int]
    vectors: dict[str, TargetEdit] | None = None
    reader: Callable[[int, Read], None] | None = None

    def pairs(self, n_rows: int, device: Any) -> _Pairs | None:
        """The pairs this layer edits in a batch of ``n_rows`` (cached per size and device)."""
        assert self.plan is not None
        key = (n_rows, device)
        gathered = self.plan.gathered
        if key not in gathered:
            gathered[key] = _gather_pairs(self.plan, n_rows, device)
        return gathered[key]  # type: ignore[no-any-return]

    def vectors_on(self, device: Any) -> dict[str, TargetEdit]:
        assert self.vectors is not None
        key = ("vectors", device)
        placed = self.placed.get(key)
        if placed is None:
            placed = self.placed[key] = {t: e.to(device) for t, e in self.vectors.items()}
        return placed  # type: ignore[no-any-return]


class Read:
    """One attention call as a reader sees it (after q/k/v and pattern edits).

    ``q`` (B, Hq, Tq, D) after rotary embeddings, ``k`` and ``v`` (B, Hkv, Tk, D);
    ``queries`` and ``keys`` their absolute positions. :meth:`pattern` gives the logits and
    the pattern of chosen query heads only (edited where a pattern edit acted).
    """

    def __init__(
        self,
        module: nn.Module,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None,
        scaling: float | None,
        kwargs: dict[str, Any],
        offset: int,
    ) -> None:
        import torch

        self.module, self.q, self.k, self.v, self.mask = module, q, k, v, mask
        self.scaling = q.shape[-1] ** -0.5 if scaling is None else scaling
        self.kwargs = kwargs
        n_q, n_k = q.shape[2], k.shape[2]
        self.queries = torch.arange(n_q, device=q.device) + offset
        shift = offset + n_q - n_k if n_k < offset + n_q else 0  # a window cache keeps the last
        self.keys = torch.arange(n_k, device=q.device) + shift
        self.keep_edited = False
        self.edited: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        """(row, query head) -> (edited pattern (Tq, Tk), where the edit acted (Tq,))."""

    def logits(self, rows: torch.Tensor, heads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, visible keys), (P, Tq, Tk), of the (row, query head) pairs given:
        float32, masked keys at -inf."""
        import torch

        rep = self.q.shape[1] // self.k.shape[1]
        q = self.q[rows, heads].float()
        k = self.k[rows, heads // rep].float()
        logits = (q @ k.transpose(-1, -2)) * self.scaling
        softcap = self.kwargs.get("softcap")
        if softcap is not None:
            logits = torch.tanh(logits / softcap) * softcap
        visible = _visible(self.module, self.mask, self.kwargs, self.queries, self.keys)
        visible = visible[:, 0][rows if visible.shape[0] > 1 else torch.zeros_like(rows)]
        if self.mask is not None and self.mask.dtype != torch.bool:
            mask = self.mask[:, 0][rows if self.mask.shape[0] > 1 else torch.zeros_like(rows)]
            logits = logits + mask.float()
        return logits.masked_fill(~visible, float("-inf")), visible

    def pattern(self, heads: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, pattern) of the given query heads, (B, h, Tq, Tk) float32."""
        import torch

        n_rows, device = self.q.shape[0], self.q.device
        index = torch.tensor(list(heads), dtype=torch.long, device=device)
        rows = torch.arange(n_rows, device=device).repeat_interleave(len(heads))
        logits, _ = self.logits(rows, index.repeat(n_rows))  # every row with every head
        probs = torch.softmax(logits, dim=-1)
        asked = index.repeat(n_rows)
        for pair, (row, head) in enumerate(zip(rows.tolist(), asked.tolist(), strict=True)):
            if (row, head) in self.edited:
                new, where = self.edited[(row, head)]
                probs[pair] = torch.where(where[:, None], new, probs[pair])
        shape = (n_rows, len(heads), *logits.shape[1:])
        return logits.reshape(shape), probs.reshape(shape)


_SITES: dict[int, list[_LayerSite]] = {}
"""id(attention module) -> the sites active on it (inner ``with`` blocks last)."""
_KERNEL: dict[int, str] = {}
"""id(attention module) -> the user's kernel for it ("sdpa" or "eager")."""
_MASK: dict[int, str] = {}
"""id(config) -> the mask format of the user's kernel ("sdpa" or "eager")."""
_registered = False


def _register() -> None:
    """Register :data:`NAME` with transformers' attention and mask interfaces (once)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, attention_forward)
    AttentionMaskInterface.register(NAME, _mask)
    _registered = True


def _mask(*args: Any, **kwargs: Any) -> Any:
    """The mask the user's kernel would get (sdpa's may be None: causal, no padding)."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    kind = _MASK.get(id(kwargs.get("config")), "sdpa")
    return ALL_MASK_ATTENTION_FUNCTIONS[kind](*args, **kwargs)


def _kernel(module: nn.Module) -> Callable[..., Any]:
    """The function the module would run under the user's own attention implementation."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    name = _KERNEL.get(id(module), "sdpa")
    if name == "eager":
        own = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
        return own if callable(own) else eager_attention
    return ALL_ATTENTION_FUNCTIONS[name]  # type: ignore[no-any-return]


def eager_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain eager attention (for modules whose family defines none of its own)."""
    import torch

    rep = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(rep, 1), value.repeat_interleave(rep, 1)
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    logits = (query @ key.transpose(-1, -2)) * scale
    if attention_mask is not None:
        logits = _add_mask(logits, attention_mask)
    probs = torch.softmax(logits.float(), dim=-1).to(query.dtype)
    return (probs @ value).transpose(1, 2).contiguous(), probs


def _add_mask(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    import torch

    if mask.dtype == torch.bool:
        return logits.masked_fill(~mask, float("-inf"))
    return logits + mask


def attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """headwidgets' attention function (registered as :data:`NAME`).

    Runs the user's kernel on every head, then recomputes the heads the active sites edit
    from q (B, Hq, Tq, D), k and v (B, Hkv, Tk, D) and splices them into its output
    (B, Tq, Hq, D) and, when the kernel returns them, into its probabilities.
    """
    sites = _SITES.get(id(module), ())
    if not sites:
        return _kernel(module)(  # type: ignore[no-any-return]
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    offset = int(sites[0].offset.value)
    call = Read(module, query, key, value, attention_mask, scaling, kwargs, offset)
    call.keep_edited = any(site.reader is not None for site in sites)
    for site in sites:
        site.ran.add(site.layer)
        if site.vectors:
            placed = site.vectors_on(query.device)
            if "q" in placed:
                call.q = placed["q"].apply(call.q, call.queries)
            if "k" in placed:
                call.k = placed["k"].apply(call.k, call.keys)
            if "v" in placed:
                call.v = placed["v"].apply(call.v, call.keys)
    out, weights = _kernel(module)(
        module, call.q, call.k, call.v, attention_mask, scaling=scaling, dropout=dropout, **kwargs
    )
    for site in sites:
        if site.plan is not None:
            out, weights = _edit_heads(site, call, out, weights)
    for site in sites:
        if site.reader is not None:
            site.reader(site.layer, call)
    return out, weights


def _rows(t: torch.Tensor, n_rows: int) -> torch.Tensor:
    """Rows of an (N, ...) edit tensor for a batch of n_rows (N = 1 broadcasts)."""
    if t.shape[0] in (1, n_rows):
        return t
    if t.shape[0] < n_rows:
        raise ValueError(
            f"the attention edits have {t.shape[0]} rows but the batch has {n_rows}; "
            "give one spec per row, or one spec for every row"
        )
    return t[:n_rows]  # a growing batch reaches early layers with its first rows only


def _edit_heads(
    site: _LayerSite,
    call: Read,
    out: torch.Tensor,
    weights: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Recompute the (row, head) pairs ``site`` edits from the call's q, k, v and splice
    them into ``out`` (B, Tq, Hq, D) and ``weights``; the other pairs are never computed."""
    import torch

    pairs = site.pairs(call.q.shape[0], call.q.device)
    if pairs is None:
        return out, weights
    rows, heads = pairs.rows, pairs.heads
    rep = call.q.shape[1] // call.k.shape[1]
    q_abs, k_abs = call.queries, call.keys
    v = call.v[rows, heads // rep].float()  # (P, Tk, D)
    logits, visible = call.logits(rows, heads)  # (P, Tq, Tk)
    kinds = pairs.kinds
    if "temperature" in kinds:
        logits = logits / pairs.tau
    probs = torch.softmax(logits, dim=-1)  # τ = 1: the pattern itself
    if kinds & {"sink", "reweight", "window"}:
        weighted = probs
        if "sink" in kinds:
            weighted = torch.where(k_abs == 0, weighted * pairs.beta, weighted)
        if "reweight" in kinds:
            chosen = _key_set(site, pairs, k_abs)  # (P, 1, Tk)
            weighted = torch.where(chosen, weighted * pairs.gain, weighted)
        if "window" in kinds:
            width, sinks = pairs.width, pairs.sinks
            distance = q_abs[:, None] - k_abs[None, :]
            weighted = weighted * ((width == 0) | (k_abs < sinks) | (distance < width))
        mass = weighted.sum(dim=-1, keepdim=True)
        tiny = torch.finfo(mass.dtype).tiny
        probs = torch.where(mass > 0, weighted / mass.clamp_min(tiny), probs)
    if "mix" in kinds:
        target = _mix_target(pairs.mix_to, visible, q_abs, k_abs)
        probs = (1 - pairs.mix_t) * probs + pairs.mix_t * target
    z = probs @ v  # (P, Tq, D)
    queries = pairs.queries  # (P, Q)
    inside = q_abs < queries.shape[-1]
    picked = queries[:, q_abs.clamp_max(queries.shape[-1] - 1)]
    applies = torch.where(inside, picked, pairs.queries_rest[:, None])  # (P, Tq)
    if call.keep_edited:  # a reader will ask for the edited patterns
        for pair, (row, head) in enumerate(zip(rows.tolist(), heads.tolist(), strict=True)):
            call.edited[(row, head)] = probs[pair], applies[pair]
    out = out.clone()
    current = out[rows, :, heads]  # (P, Tq, D)
    out[rows, :, heads] = torch.where(applies[..., None], z.to(out.dtype), current)
    if weights is not None:
        weights = weights.clone()
        old = weights[rows, heads]
        weights[rows, heads] = torch.where(applies[..., None], probs.to(weights.dtype), old)
    return out, weights


def _visible(
    module: nn.Module,
    mask: torch.Tensor | None,
    kwargs: dict[str, Any],
    q_abs: torch.Tensor,
    k_abs: torch.Tensor,
) -> torch.Tensor:
    """Which keys each query may see: (B or 1, 1, Tq, Tk) bool."""
    import torch

    if mask is not None:
        if mask.dtype == torch.bool:
            return mask
        return mask > torch.finfo(mask.dtype).min / 2
    causal = kwargs.get("is_causal")
    causal = getattr(module, "is_causal", True) if causal is None else causal
    if causal:
        return (k_abs[None, :] <= q_abs[:, None])[None, None]
    return torch.ones(1, 1, len(q_abs), len(k_abs), dtype=torch.bool, device=q_abs.device)


def _mix_target(
    code: torch.Tensor, visible: torch.Tensor, q_abs: torch.Tensor, k_abs: torch.Tensor
) -> torch.Tensor:
    """P for each head: identity (0), uniform over visible keys (1), previous token (2)."""
    identity = (k_abs[None, :] == q_abs[:, None]).float()
    previous = (k_abs[None, :] == (q_abs[:, None] - 1).clamp_min(0)).float()
    uniform = visible.float() / visible.float().sum(dim=-1, keepdim=True).clamp_min(1)
    return (code == 0) * identity + (code == 1) * uniform + (code == 2) * previous


def _key_set(site: _LayerSite, pairs: _Pairs, k_abs: torch.Tensor) -> torch.Tensor:
    """Reweighted keys (P, 1, Tk): listed positions and positions of listed tokens."""
    import torch

    listed = pairs.keys  # (P, K)
    inside = k_abs < listed.shape[-1]
    chosen = torch.where(inside, listed[:, k_abs.clamp_max(listed.shape[-1] - 1)], False)
    if pairs.strings:
        key_ids = pairs.key_ids  # (P, J)
        ids = site.ids.value if site.ids is not None else None
        if ids is None:
            raise ValueError("reweight keys given as token strings need a call with input_ids")
        ids = ids[:, k_abs].to(key_ids.device)  # (B or 1, Tk)
        rows = pairs.rows
        ids = ids[rows if ids.shape[0] > 1 else torch.zeros_like(rows)]  # (P, Tk)
        match = (ids[:, :, None] == key_ids[:, None, :]) & (key_ids[:, None, :] >= 0)
        _check_found(site, pairs, match)
        chosen = chosen | match.any(dim=-1)
    return chosen[:, None, :]


def _check_found(site: _LayerSite, pairs: _Pairs, match: torch.Tensor) -> None:
    """Raise when a token-string key occurs nowhere in the prompt."""
    found = match.any(dim=1)  # (P, J)
    missing = (pairs.key_ids >= 0) & ~found
    if not bool(missing.any()):
        return
    pair, slot = (int(i) for i in missing.nonzero()[0])
    row, head = pairs.spec_rows[pair], int(pairs.heads[pair])
    assert site.plan is not None
    plan = site.plan
    texts = plan.key_texts[0] if len(plan.key_texts) == 1 else plan.key_texts[row]
    text = texts[head][slot] if head < len(texts) and slot < len(texts[head]) else "?"
    raise ValueError(
        f"reweight key {text!r} (layer {site.layer}, head {head}) does not occur in the prompt; "
        "give a token string the prompt contains, or key positions"
    )


def check_dispatch(model: nn.Module) -> None:
    """Raise :class:`AttentionSiteError` unless ``model``'s attention uses the interface."""
    can_set = getattr(type(model), "_can_set_attn_implementation", None)
    if callable(can_set) and can_set():
        return
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", type(model).__name__)
    raise AttentionSiteError(
        f"{type(model).__name__} (model_type={model_type!r}) does not dispatch its attention "
        "through transformers' AttentionInterface, so headwidgets cannot edit inside its "
        "attention (edits of the head output z still work). Model types with the "
        f"inside-attention site: {', '.join(SUPPORTED_MODEL_TYPES)}."
    )


@contextlib.contextmanager
def switched(
    model: nn.Module,
    attention_modules: Sequence[nn.Module],
    plans: Mapping[int, LayerPatternEdit],
    offset: Any,
    ids: _Ids | None = None,
    vectors: Mapping[int, dict[str, TargetEdit]] | None = None,
    readers: Mapping[int, Callable[[int, Read], None]] | None = None,
) -> Iterator[None]:
    """Run ``model`` with headwidgets' attention function inside the block.

    ``plans`` (layer -> compiled pattern edits) and ``vectors`` (layer -> compiled q/k/v
    edits, ``attention_vectors.py``) act on the layers' attention; ``readers`` (layer ->
    ``fn(layer, Read)``) see each call after the edits. ``offset.value`` (an object with an
    int ``value``, e.g. from ``interventions._track_offset``) is
    the absolute position of each call's first token. The user's ``attn_implementation`` is
    restored on exit (exceptions included); nested blocks stack (an inner block's edit of a
    head acts after the outer one's). Every edited layer must run its attention through the
    function during each forward, or the forward raises.
    """
    _register()
    check_dispatch(model)
    config: Any = model.config
    before = config._attn_implementation
    outer = before != NAME
    pushed: list[tuple[int, _LayerSite]] = []
    configs = {id(m.config): m.config for m in model.modules() if hasattr(m, "config")}
    configs[id(config)] = config
    ran: set[int] = set()
    handles: list[Any] = []
    vectors = vectors or {}
    readers = readers or {}
    edited = set(plans) | set(vectors)
    try:
        for layer in sorted(edited | set(readers)):
            site = _LayerSite(
                plans.get(layer),
                layer,
                offset,
                ids,
                {},
                ran,
                vectors.get(layer),
                readers.get(layer),
            )
            key = id(attention_modules[layer])
            _SITES.setdefault(key, []).append(site)
            pushed.append((key, site))
        if edited | set(readers):

            def start(module: nn.Module, args: Any, kwargs: Any) -> None:
                ran.clear()

            def finish(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
                missing = sorted((edited | set(readers)) - ran)
                if missing:
                    raise AttentionSiteError(
                        f"layers {missing} have attention edits but their attention did not run "
                        f"through headwidgets' attention function; model types with the "
                        f"inside-attention site: {', '.join(SUPPORTED_MODEL_TYPES)}"
                    )

            handles.append(model.register_forward_pre_hook(start, with_kwargs=True))
            handles.append(model.register_forward_hook(finish, with_kwargs=True))
        if outer:
            kernel = before if before in ("eager", "sdpa") else "sdpa"
            for module in attention_modules:
                _KERNEL[id(module)] = kernel
            for key in configs:
                _MASK[key] = kernel
            model.set_attn_implementation(NAME)  # type: ignore[operator]
            if config._attn_implementation != NAME:
                raise AttentionSiteError(
                    f"{type(model).__name__} did not switch to headwidgets' attention function; "
                    f"model types with the inside-attention site: "
                    f"{', '.join(SUPPORTED_MODEL_TYPES)}"
                )
        yield
    finally:
        for handle in handles:
            handle.remove()
        for key, site in pushed:
            stack = _SITES.get(key, [])
            stack[:] = [other for other in stack if other is not site]
            if not stack:
                _SITES.pop(key, None)
        if outer:
            try:
                if config._attn_implementation != before:
                    model.set_attn_implementation(before)  # type: ignore[operator]
            finally:
                for module in attention_modules:
                    _KERNEL.pop(id(module), None)
                for key in configs:
                    _MASK.pop(key, None)


@contextlib.contextmanager
def track_ids(model: nn.Module) -> Iterator[_Ids]:
    """Follow the token ids of the current sequence across KV-cache steps (string keys)."""
    import torch

    ids = _Ids()

    def pre(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        new = kwargs.get("input_ids", args[0] if args else None)
        if not isinstance(new, torch.Tensor):
            ids.value = None
            return
        seen = call_offset(args, kwargs)
        if seen and ids.value is not None and ids.value.shape[1] == seen:
            ids.value = torch.cat([ids.value, new.to(ids.value.device)], dim=1)
        else:
            ids.value = new

    handle = model.register_forward_pre_hook(pre, with_kwargs=True)
    try:
        yield ids
    finally:
        handle.remove()


@dataclass(eq=False)
class Compiled:
    """The inside-attention edits of N spec rows: pattern and q/k/v edits per layer."""

    patterns: dict[int, LayerPatternEdit]
    vectors: dict[int, dict[str, TargetEdit]]
    chunks: dict[Any, Compiled] = field(default_factory=dict)
    """Selected rows (see :meth:`select`) by the caller's key, kept for repeated runs."""

    def __bool__(self) -> bool:
        return bool(self.patterns) or bool(self.vectors)

    def select(self, rows: Any, key: Any = None) -> Compiled:
        """The edits of the given rows (chunked runs), in that order; with a ``key``, the
        selection is kept and returned again for the same key."""
        if key is not None and key in self.chunks:
            return self.chunks[key]
        chosen = Compiled(
            {layer: e.select(rows) for layer, e in self.patterns.items()},
            {layer: {t: e.select(rows) for t, e in d.items()} for layer, d in self.vectors.items()},
        )
        if key is not None:
            self.chunks[key] = chosen
        return chosen

    @property
    def uses_strings(self) -> bool:
        """Whether a reweight names keys by token string (the ids must be followed)."""
        return any(bool((plan.key_ids >= 0).any()) for plan in self.patterns.values())


@contextlib.contextmanager
def eager_kernel(model: nn.Module, attention_modules: Sequence[nn.Module]) -> Iterator[None]:
    """While headwidgets' function is on, run eager attention as the user's kernel inside the
    block (attention probabilities for pattern scores, edited where pattern edits act)."""
    configs = {id(m.config) for m in model.modules() if hasattr(m, "config")}
    configs.add(id(model.config))
    kernels = {id(m): _KERNEL.get(id(m)) for m in attention_modules}
    masks = {key: _MASK.get(key) for key in configs}
    try:
        for module in attention_modules:
            _KERNEL[id(module)] = "eager"
        for key in configs:
            _MASK[key] = "eager"
        yield
    finally:
        for key, kernel in kernels.items():
            if kernel is None:
                _KERNEL.pop(key, None)
            else:
                _KERNEL[key] = kernel
        for key, mask in masks.items():
            if mask is None:
                _MASK.pop(key, None)
            else:
                _MASK[key] = mask
