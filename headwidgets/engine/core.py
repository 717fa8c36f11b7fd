"""The engine class: a bound model that runs prompts, edited or not, through one path.

``Engine`` = ``Binding`` (model, tokenizer, head layout, tokens, caches, the one forward) →
``Sites`` (edits and reads at the head output and inside attention) → ``Batching`` (N specs as
one forward, chunked, CUDA graphs) → here: :meth:`Engine.run` and greedy generation. Tensors
in, tensors out: the engine imports neither xarray nor the scores (``hw.HeadModel`` adds the
cube-returning ``sweep`` and ``capture`` on top, in ``headwidgets/model.py``).

Example
-------
>>> import headwidgets as hw
>>> engine = hw.load("induction-2l", device="cpu")          # an hw.HeadModel: an Engine
>>> isinstance(engine, Engine)
True
>>> ids = engine.tokenize("a b c a b").input_ids
>>> len(engine.generate(ids, 3)) <= 3
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwidgets import interventions as iv
from headwidgets.engine import forward as fw
from headwidgets.engine.batching import Batching
from headwidgets.engine.binding import Prompt

if TYPE_CHECKING:
    import torch


@dataclass
class RunResult:
    """Outputs of :meth:`Engine.run` (tensors on the CPU, float32)."""

    logits: torch.Tensor
    """(B, T, V); a model without an LM head (``hm.has_lm_head`` False) gives its last
    hidden state (B, T, d_model) here"""
    input_ids: torch.Tensor
    """(B, T), right-padded"""
    attention_mask: torch.Tensor
    """(B, T), 1 for real tokens"""
    tokens: list[list[str]]
    patterns: torch.Tensor | None = None
    """(B, L, H, T, T) attention probabilities when asked for"""


class Engine(Batching):
    """A transformers model and its tokenizer, with head-level edits, run through one path.

    ``hw.HeadModel`` is this class with the cube-returning conveniences; use ``hw.bind`` or
    ``hw.load`` to get one.
    """

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, {self.layout.model_type}, "
            f"layers={self.n_layers}, heads={self.n_heads}, kv_heads={self.n_kv_heads}, "
            f"head_dim={self.head_dim}, device={self.device}, dtype={self.dtype})"
        )

    def run(
        self,
        prompts: Prompt | Sequence[Prompt],
        intervention: iv.Intervention | None = None,
        patterns: bool = False,
    ) -> RunResult:
        """Run one or several prompts (right-padded), optionally edited and with patterns."""
        import torch

        batch = [prompts] if isinstance(prompts, str) else list(prompts)
        if not batch:
            raise ValueError("no prompts given")
        toks = [self.tokenize(p) for p in batch]
        padded = self.pad([t.input_ids[0].tolist() for t in toks], "right")
        ids, mask = padded.input_ids, padded.attention_mask
        collected: dict[int, torch.Tensor] = {}

        def keep(layer: int, probs: torch.Tensor) -> None:
            collected[layer] = probs.detach().float().cpu()

        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if intervention is not None:
                stack.enter_context(self.intervene(intervention))
            if patterns:
                stack.enter_context(self.capture_patterns(keep))
            logits = self.forward(ids, attention_mask=mask)
        stacked = None
        if patterns:
            stacked = torch.stack([collected[layer] for layer in range(self.n_layers)], dim=1)
        tokens = [t.tokens for t in toks]
        return RunResult(logits.float().cpu(), ids.cpu(), mask.cpu(), tokens, stacked)

    # -- generation --------------------------------------------------------------------
    def prefill(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Logits (1, T, V) of a prompt's forward and the KV cache it filled, which
        :meth:`generate` continues from (``start``); edits are on when the caller's are."""
        return fw.prefill(self.model, input_ids)

    def generate(
        self,
        input_ids: torch.Tensor,
        n_new: int,
        intervention: iv.Intervention | None = None,
        start: tuple[int, Any] | None = None,
    ) -> list[int]:
        """Greedy next tokens after ``input_ids`` (1, T) on the model's own KV cache: at most
        ``n_new``, ending after the end-of-text token or at the context limit; under
        ``intervention`` for every step when given. ``start``: the first new token and the
        cache of a :meth:`prefill` that already read the prompt (used once)."""
        import torch

        eos = getattr(self.tokenizer, "eos_token_id", None)
        edited = self.intervene(intervention) if intervention else contextlib.nullcontext()
        with torch.no_grad(), edited:
            return fw.greedy(self.model, input_ids, n_new, eos=eos, limit=self.n_ctx, start=start)
