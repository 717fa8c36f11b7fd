"""One path at a time: pass 1 of path patching, and the intervention that patches a path live.

:func:`headwidgets.scores.path_patching` measures every sender's path at once (batched);
the live widgets patch ONE path on the clean prompt and run the model under it. Both use
:func:`sender_inputs` (pass 1) here, so the live value is the cube's cell (METHODS.md,
"Circuits").

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> spec = hw.scores.path_intervention(hm, "ba be bi bo ba be bi", "ba be bi bo bu be bi",
...                                    (0, 1), (1, 0), "k")
>>> [(e.layer, e.head, e.target, e.op) for e in spec.attention]
[(1, 0, 'k', 'patch')]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

from headwidgets import interventions as iv
from headwidgets.interventions import VectorEdit
from headwidgets.scores import _run

if TYPE_CHECKING:
    import torch

__all__ = ["DIRECT", "INPUTS", "Input", "path_intervention", "sender_inputs"]

Input = Literal["q", "k", "v"]
INPUTS: tuple[str, ...] = get_args(Input)
DIRECT = "logits"
"""The receiver label (and input label) of the direct path sender → logits."""
Head = tuple[int, int]


def _inputs(inputs: Any) -> tuple[str, ...]:
    chosen = (inputs,) if isinstance(inputs, str) else tuple(inputs)
    bad = [x for x in chosen if x not in INPUTS]
    if not chosen or bad or len(set(chosen)) != len(chosen):
        raise ValueError(
            f"inputs must be a non-empty selection of {INPUTS} without repeats, got {inputs!r}"
        )
    return chosen


def path_intervention(
    hm: Any,
    clean: str,
    corrupt: str,
    sender: Head,
    receiver: Head | str,
    input: str = "k",
) -> iv.Intervention:
    """The intervention that patches ONE path on the clean prompt, to run live.

    - receiver (layer, head), input x ∈ {q, k, v}: pass 1 of :func:`path_patching` is run
      for this sender alone, and the spec SETS the receiver's x (all positions; for k and v
      its key/value head) to the recorded values; everything else is the clean run. Running
      the clean prompt under it is pass 2: its metric change is the cube's cell.
    - receiver ``"logits"`` (the direct path): the sender's z from ``corrupt`` (resample)
      and every head of the later layers frozen at the clean run (patch from ``clean``).
      Unlike the cube's direct cell (final norm scale frozen, the unembedding only), the MLPs
      after the sender and the final norm recompute, so the two differ on models whose MLPs
      or norm react to the sender's change.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> spec = path_intervention(hm, "ba be bi bo ba be bi", "ba be bi bo bu be bi",
    ...                          (0, 1), "logits")
    >>> [(e.layer, e.head, e.mode) for e in spec.edits][:2]
    [(0, 1, 'resample'), (1, 0, 'resample')]
    """
    s_layer, s_head = _run.head_list(hm, [sender])[0]
    n_tokens = len(hm.tokenize(clean))
    if len(hm.tokenize(corrupt)) != n_tokens:
        raise ValueError(
            f"clean and corrupted prompts must have the same number of tokens "
            f"({n_tokens} vs {len(hm.tokenize(corrupt))}): {clean!r} / {corrupt!r}"
        )
    if receiver == DIRECT:
        later = [(layer, h) for layer in range(s_layer + 1, hm.n_layers) for h in range(hm.n_heads)]
        frozen = iv.Intervention.patch(later, clean) if later else iv.Intervention()
        return iv.Intervention.resample([(s_layer, s_head)], corrupt) | frozen
    if isinstance(receiver, str):
        raise ValueError(f"a receiver is a (layer, head) pair or {DIRECT!r}, got {receiver!r}")
    r_layer, r_head = _run.head_list(hm, [receiver])[0]
    (x,) = _inputs(input)
    if s_layer >= r_layer:
        raise ValueError(
            f"no path from {s_layer}.{s_head} to {r_layer}.{r_head}: a sender must be in an "
            "earlier layer than its receiver"
        )
    index = r_head if x == "q" else r_head // (int(hm.n_heads) // int(hm.n_kv_heads))
    site = (r_layer, x, index)
    values = sender_inputs(hm, clean, corrupt, [(s_layer, s_head)], [site], 1)[site][0]
    rows = tuple(tuple(row) for row in values.cpu().tolist())
    edit = VectorEdit(r_layer, index, x, "patch", values=rows)  # type: ignore[arg-type]
    return iv.Intervention(attention=(edit,))


def sender_inputs(
    hm: Any,
    good: str,
    bad: str,
    senders: Sequence[Head],
    sites: Sequence[tuple[int, str, int]],
    size: int,
) -> dict[tuple[int, str, int], torch.Tensor]:
    """Pass 1: per site (layer, input, q or kv head), the receiver input (S, T, D) of every
    sender's run (the clean prompt, the sender's z from ``bad``, every other head's z frozen
    at the clean run); batched, ``size`` rows per forward."""
    import torch

    n_heads = int(hm.n_heads)
    top = max(layer for layer, _, _ in sites)
    input_ids = hm.tokenize(good).input_ids
    z_clean, z_bad = hm.head_z(good), hm.head_z(bad)  # (L, T, H, D)
    s_layer = torch.tensor([layer for layer, _ in senders])
    s_head = torch.tensor([head for _, head in senders])
    chunk = {"rows": torch.arange(0)}

    def freeze(layer: int, z: torch.Tensor, offset: int) -> torch.Tensor:
        # row r: its sender's z from the corrupted run, every head of a later layer at its
        # clean value (O(T·H·D) per layer, not a replacement per row)
        rows = chunk["rows"]
        later = (s_layer[rows] < layer).to(z.device)
        clean = z_clean[layer].to(z.device, z.dtype)
        out = torch.where(later[:, None, None, None], clean.expand_as(z), z)
        own = (s_layer[rows] == layer).nonzero().flatten()
        if own.numel():
            heads = s_head[rows][own]
            out[own.to(z.device), :, heads.to(z.device)] = (
                z_bad[layer][:, heads].transpose(0, 1).to(z.device, z.dtype)
            )
        return out

    found: dict[tuple[int, str, int], list[torch.Tensor]] = {site: [] for site in sites}
    by_layer: dict[int, list[tuple[int, str, int]]] = {}
    for site in sites:
        by_layer.setdefault(site[0], []).append(site)

    def read(layer: int, call: iv.Read) -> None:
        for site in by_layer[layer]:
            _, x, index = site
            found[site].append(getattr(call, x)[:, index].detach().float().clone())

    with (
        torch.no_grad(),
        iv.site_hooks(hm.model, hm.out_projs, n_heads, freeze, range(top), False),
        hm.attention_site(readers=dict.fromkeys(by_layer, read)),
    ):
        for start in range(0, len(senders), size):
            chunk["rows"] = torch.arange(start, min(start + size, len(senders)))
            hm.forward(input_ids.expand(len(chunk["rows"]), -1), 1)
    return {site: torch.cat(parts) for site, parts in found.items()}
