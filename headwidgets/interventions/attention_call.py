"""One call of headwidgets' attention function: what a reader sees, and the edited heads.

:class:`Read` is one layer's attention call (q after rotary embeddings, k, v, the mask, the
scaling, and the positions of its queries and keys); :func:`edit_heads` recomputes the
(row, query head) pairs a layer's pattern edits touch from q, k, v and splices them into the
kernel's output, so the other pairs are never computed twice (``attention_edits.py`` has the
definitions). Positions count from each row's first real token: under left padding a row's
padding has negative positions, which no position-restricted edit names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwidgets.interventions.attention_edits import LayerPatternEdit

if TYPE_CHECKING:
    import torch
    from torch import nn


class Read:
    """One attention call as a reader sees it (after q/k/v and pattern edits).

    ``q`` (B, Hq, Tq, D) after rotary embeddings, ``k`` and ``v`` (B, Hkv, Tk, D);
    ``queries`` (B or 1, Tq) and ``keys`` (B or 1, Tk) their positions, counted from each
    row's first real token (``query_index`` / ``key_index``, (T,): their index in the
    sequence, padding included). :meth:`pattern` gives the logits and the pattern of chosen
    query heads only (edited where a pattern edit acted).
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
        pad: torch.Tensor | None = None,
    ) -> None:
        import torch

        self.module, self.q, self.k, self.v, self.mask = module, q, k, v, mask
        self.scaling = q.shape[-1] ** -0.5 if scaling is None else scaling
        self.kwargs = kwargs
        n_q, n_k = q.shape[2], k.shape[2]
        self.query_index = torch.arange(n_q, device=q.device) + offset
        shift = offset + n_q - n_k if n_k < offset + n_q else 0  # a window cache keeps the last
        self.key_index = torch.arange(n_k, device=q.device) + shift
        if pad is None:
            self.queries, self.keys = self.query_index[None], self.key_index[None]
        else:
            if pad.shape[0] != q.shape[0]:
                raise ValueError(
                    f"the attention mask has {pad.shape[0]} rows but the attention call has "
                    f"{q.shape[0]}; pass one mask row per batch row"
                )
            pad = pad.to(q.device)[:, None]
            self.queries, self.keys = self.query_index[None] - pad, self.key_index[None] - pad
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
        visible = _visible(self.module, self.mask, self.kwargs, self.query_index, self.key_index)
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


def _visible(
    module: nn.Module,
    mask: torch.Tensor | None,
    kwargs: dict[str, Any],
    q_index: torch.Tensor,
    k_index: torch.Tensor,
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
        return (k_index[None, :] <= q_index[:, None])[None, None]
    return torch.ones(1, 1, len(q_index), len(k_index), dtype=torch.bool, device=q_index.device)


@dataclass(eq=False)
class Pairs:
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


def gather_pairs(plan: LayerPatternEdit, n_rows: int, device: Any) -> Pairs | None:
    """The pairs ``plan`` edits in a batch of ``n_rows``, on ``device`` (None: no pair)."""
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

    return Pairs(
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


def _per_pair(positions: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """(B or 1, T) positions -> (P or 1, T): each pair's row."""
    return positions if positions.shape[0] == 1 else positions[rows]


def _lookup(table: torch.Tensor, positions: torch.Tensor, rest: Any) -> torch.Tensor:
    """``table`` (P, K) read at ``positions`` (P or 1, T): positions outside 0..K-1 (past the
    listed ones, or a row's padding) take ``rest``."""
    import torch

    size = table.shape[-1]
    index = positions.clamp(0, size - 1).expand(table.shape[0], -1)
    inside = (positions >= 0) & (positions < size)
    return torch.where(inside, table.gather(1, index), rest)


def edit_heads(
    plan: LayerPatternEdit,
    pairs: Pairs,
    layer: int,
    ids: torch.Tensor | None,
    call: Read,
    out: torch.Tensor,
    weights: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Recompute the (row, head) ``pairs`` of ``plan`` from the call's q, k, v and splice
    them into ``out`` (B, Tq, Hq, D) and ``weights``; the other pairs are never computed.
    ``ids`` (B or 1, sequence) are the token ids so far (token-string keys need them)."""
    import torch

    rows, heads = pairs.rows, pairs.heads
    rep = call.q.shape[1] // call.k.shape[1]
    q_pos = _per_pair(call.queries, rows)[:, :, None]  # (P or 1, Tq, 1)
    k_pos = _per_pair(call.keys, rows)[:, None, :]  # (P or 1, 1, Tk)
    v = call.v[rows, heads // rep].float()  # (P, Tk, D)
    logits, visible = call.logits(rows, heads)  # (P, Tq, Tk)
    kinds = pairs.kinds
    if "temperature" in kinds:
        logits = logits / pairs.tau
    probs = torch.softmax(logits, dim=-1)  # τ = 1: the pattern itself
    if kinds & {"sink", "reweight", "window"}:
        weighted = probs
        if "sink" in kinds:
            weighted = torch.where(k_pos == 0, weighted * pairs.beta, weighted)
        if "reweight" in kinds:
            chosen = _key_set(plan, pairs, layer, ids, call, k_pos[:, 0])  # (P, 1, Tk)
            weighted = torch.where(chosen, weighted * pairs.gain, weighted)
        if "window" in kinds:
            width, sinks = pairs.width, pairs.sinks
            weighted = weighted * ((width == 0) | (k_pos < sinks) | (q_pos - k_pos < width))
        mass = weighted.sum(dim=-1, keepdim=True)
        tiny = torch.finfo(mass.dtype).tiny
        probs = torch.where(mass > 0, weighted / mass.clamp_min(tiny), probs)
    if "mix" in kinds:
        target = _mix_target(pairs.mix_to, visible, q_pos, k_pos)
        probs = (1 - pairs.mix_t) * probs + pairs.mix_t * target
    z = probs @ v  # (P, Tq, D)
    applies = _lookup(pairs.queries, q_pos[:, :, 0], pairs.queries_rest[:, None])  # (P, Tq)
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


def _mix_target(
    code: torch.Tensor, visible: torch.Tensor, q_pos: torch.Tensor, k_pos: torch.Tensor
) -> torch.Tensor:
    """P for each head: identity (0), uniform over visible keys (1), previous token (2)."""
    identity = (k_pos == q_pos).float()
    previous = (k_pos == (q_pos - 1).clamp_min(0)).float()
    uniform = visible.float() / visible.float().sum(dim=-1, keepdim=True).clamp_min(1)
    return (code == 0) * identity + (code == 1) * uniform + (code == 2) * previous


def _key_set(
    plan: LayerPatternEdit,
    pairs: Pairs,
    layer: int,
    ids: torch.Tensor | None,
    call: Read,
    k_pos: torch.Tensor,
) -> torch.Tensor:
    """Reweighted keys (P, 1, Tk): listed positions and positions of listed tokens."""
    chosen = _lookup(pairs.keys, k_pos, False)  # (P, Tk)
    if pairs.strings:
        import torch

        key_ids = pairs.key_ids  # (P, J)
        if ids is None:
            raise ValueError("reweight keys given as token strings need a call with input_ids")
        ids = ids[:, call.key_index].to(key_ids.device)  # (B or 1, Tk)
        rows = pairs.rows
        ids = ids[rows if ids.shape[0] > 1 else torch.zeros_like(rows)]  # (P, Tk)
        match = (ids[:, :, None] == key_ids[:, None, :]) & (key_ids[:, None, :] >= 0)
        _check_found(plan, pairs, layer, match)
        chosen = chosen | match.any(dim=-1)
    return chosen[:, None, :]


def _check_found(plan: LayerPatternEdit, pairs: Pairs, layer: int, match: torch.Tensor) -> None:
    """Raise when a token-string key occurs nowhere in the prompt."""
    found = match.any(dim=1)  # (P, J)
    missing = (pairs.key_ids >= 0) & ~found
    if not bool(missing.any()):
        return
    pair, slot = (int(i) for i in missing.nonzero()[0])
    row, head = pairs.spec_rows[pair], int(pairs.heads[pair])
    texts = plan.key_texts[0] if len(plan.key_texts) == 1 else plan.key_texts[row]
    text = texts[head][slot] if head < len(texts) and slot < len(texts[head]) else "?"
    raise ValueError(
        f"reweight key {text!r} (layer {layer}, head {head}) does not occur in the prompt; "
        "give a token string the prompt contains, or key positions"
    )
