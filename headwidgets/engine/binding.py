"""Binding: a transformers model and its tokenizer, its head layout, tokens and caches.

The first layer of the engine class (``Binding`` → ``Sites`` → ``Batching`` → ``Engine``):
what a bound model is (its head layout from ``architectures.py``, device, dtype), how prompts
become tokens (cached), and the one forward every run goes through (``engine/forward.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwidgets import architectures as arch
from headwidgets.engine import forward as fw
from headwidgets.engine.caches import LRU
from headwidgets.engine.graphs import BatchGraphs

if TYPE_CHECKING:
    import torch
    from torch import nn

Prompt = str  # what the engine tokenizes: text (the scores also take token ids, vocab.Prompt)

_TOKEN_CACHE = 64
"""Prompts whose tokenization a bound model remembers (least recently used are dropped)."""
_TOKEN_IDS = 1024
"""Target strings whose token id a bound model remembers."""
_Z_CACHE = 64
"""Prompts whose clean head outputs z a bound model remembers."""
_QKV_CACHE = 16
"""Prompts whose clean q, k, v a bound model remembers."""
_PLAN_CACHE = 4
"""Compiled spec lists (and compiled attention edits) kept on the GPU for repeated runs."""


@dataclass(frozen=True)
class Tokens:
    """A tokenized prompt: ``input_ids`` (1, T) on the model's input device, token texts."""

    input_ids: torch.Tensor
    tokens: list[str]

    def __getitem__(self, key: str) -> Any:  # mapping-style access: tok["input_ids"]
        return getattr(self, key)

    def __len__(self) -> int:
        return len(self.tokens)


class Binding:
    """A transformers model and its tokenizer, bound: head layout, tokens, caches, forward."""

    model: Any
    """The bound transformers model (in eval mode; its weights are never written)."""

    def __init__(self, model: nn.Module, tokenizer: Any, name: str | None = None) -> None:
        import torch

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if tokenizer is None or not callable(getattr(tokenizer, "encode", None)):
            raise TypeError("tokenizer must be a transformers tokenizer (with .encode)")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.layout = arch.resolve(model)
        config = self.model.config
        self.name = name or str(getattr(config, "_name_or_path", "") or type(model).__name__)
        blocks: Any = self.model.get_submodule(self.layout.blocks_path)
        spec = self.layout.spec
        self.out_projs: list[Any] = [arch.get_module(b, spec.out_proj) for b in blocks]
        self.attention_modules = [arch.get_module(b, spec.attention) for b in blocks]
        embeddings = self.model.get_input_embeddings()
        self.vocab_size = int(embeddings.weight.shape[0])
        if len(tokenizer) > self.vocab_size:
            raise ValueError(
                f"mismatched tokenizer: it has {len(tokenizer)} tokens but the model's embedding "
                f"has {self.vocab_size} rows; pass the tokenizer that belongs to this model"
            )
        self._graphs = BatchGraphs()
        devices = {p.weight.device for p in self.out_projs} | {self.device}
        self._one_device = len(devices) == 1
        # prompt -> (ids, token texts); text -> id; prompt -> z, q/k/v; specs -> compiled edits
        self._token_cache: LRU[str, tuple[list[int], tuple[str, ...]]] = LRU(_TOKEN_CACHE)
        self._token_ids: LRU[str, int] = LRU(_TOKEN_IDS)
        self._tokens_of = tokenizer  # the tokenizer those caches belong to
        self._z_cache: LRU[str, torch.Tensor] = LRU(_Z_CACHE)
        self._qkv_cache: LRU[str, dict[str, torch.Tensor]] = LRU(_QKV_CACHE)
        self._plan_cache: LRU[Any, Any] = LRU(_PLAN_CACHE)
        self._attention_cache: LRU[Any, Any] = LRU(_PLAN_CACHE)

    # -- shape of the model -----------------------------------------------------------
    n_layers = property(lambda self: self.layout.n_layers, doc="Number of layers.")
    n_heads = property(lambda self: self.layout.n_heads, doc="Query heads per layer.")
    n_kv_heads = property(lambda self: self.layout.n_kv_heads, doc="Key/value heads per layer.")
    head_dim = property(lambda self: self.layout.head_dim, doc="Width of one head's z.")
    d_model = property(lambda self: self.layout.d_model, doc="Residual stream width.")
    n_ctx = property(lambda self: self.layout.n_ctx, doc="Max positions (None if unknown).")
    is_causal = property(lambda self: self.layout.spec.causal, doc="Decoder (True) or encoder.")

    @property
    def has_lm_head(self) -> bool:
        """Whether the model maps hidden states to token logits (False: a bare encoder)."""
        return self.model.get_output_embeddings() is not None

    def require_lm_head(self, what: str) -> None:
        """Raise a ValueError saying that ``what`` needs next-token logits this model lacks."""
        if self.has_lm_head:
            return
        raise ValueError(
            f"{what} needs token logits, but {self.name} is a bare "
            f"{type(self.model).__name__} without a language-model head (its checkpoint has "
            f"none), so next-token logits, generation and metrics are unavailable; attention "
            f"scores, patterns and head edits work. Load a checkpoint with a masked-LM or "
            f"causal-LM head for {what}."
        )

    @property
    def device(self) -> torch.device:
        """Device of the input embeddings (where prompts go)."""
        return self.model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        dtype: torch.dtype = self.out_projs[0].weight.dtype
        return dtype

    @property
    def cuda_graphs(self) -> bool:
        """Whether repeated batched runs on CUDA replay captured graphs (default True).

        Set it to False to run every batched forward eagerly (benchmarks, debugging). It
        turns itself off, with a warning, if a capture ever fails. No effect on the CPU.
        """
        return not self._graphs.disabled

    @cuda_graphs.setter
    def cuda_graphs(self, value: bool) -> None:
        self._graphs.disabled = not value

    @property
    def caches(self) -> dict[str, LRU[Any, Any]]:
        """The bound model's caches by name, each an :class:`~headwidgets.engine.caches.LRU`
        of fixed size: ``tokens``, ``token_ids``, ``z``, ``qkv``, ``plans`` (compiled spec
        lists on the GPU), ``attention`` (compiled attention edits), ``graphs`` (captured CUDA
        graphs of batched runs). Read their sizes, or ``clear()`` one to forget it."""
        return {
            "tokens": self._token_cache,
            "token_ids": self._token_ids,
            "z": self._z_cache,
            "qkv": self._qkv_cache,
            "plans": self._plan_cache,
            "attention": self._attention_cache,
            "graphs": self._graphs.cache,
        }

    # -- tokens ------------------------------------------------------------------------
    def _follow_tokenizer(self) -> None:
        """Forget what was remembered under a tokenizer that was replaced after binding."""
        if self._tokens_of is not self.tokenizer:
            self._token_cache.clear()
            self._token_ids.clear()
            self._attention_cache.clear()  # reweight keys given as token strings
            self._tokens_of = self.tokenizer

    def tokenize(self, prompt: Prompt) -> Tokens:
        """Token ids (1, T) and the text of each position (special tokens included)."""
        import torch

        if not isinstance(prompt, str):
            raise TypeError(f"a prompt is a string, got {type(prompt).__name__}")
        self._follow_tokenizer()
        cached = self._token_cache.get(prompt)
        if cached is None:
            if not prompt.strip():
                raise ValueError("the prompt is empty; give at least one token of text")
            ids = list(self.tokenizer(prompt)["input_ids"])
            if not ids:
                raise ValueError(f"the prompt {prompt!r} tokenizes to no tokens")
            if self.n_ctx is not None and len(ids) > self.n_ctx:
                raise ValueError(
                    f"the prompt has {len(ids)} tokens but {self.name} has a context of "
                    f"{self.n_ctx} positions; shorten the prompt"
                )
            cached = ids, tuple(self.tokenizer.decode([i]) for i in ids)
            self._token_cache.put(prompt, cached)
        ids, texts = cached
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        return Tokens(input_ids, list(texts))

    def token_id(self, text: str) -> int:
        """The id of a single-token string such as ``" Mary"``.

        Raises ValueError, saying how the text tokenizes, when it is not exactly one token.
        """
        known = self._token_ids.get(text) if self._tokens_of is self.tokenizer else None
        if known is not None:
            return known
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            pieces = [self.tokenizer.decode([i]) for i in ids]
            raise ValueError(
                f"target {text!r} must be a single token, but it tokenizes to {len(ids)}: "
                f"{pieces}; choose a single-token target"
            )
        self._token_ids.put(text, int(ids[0]))
        return int(ids[0])

    def pad(self, rows: Sequence[Sequence[int]], side: fw.PaddingSide = "right") -> fw.Batch:
        """Token-id rows padded to one width on ``side``, on the model's device (the one
        padder: ``engine.forward.pad``)."""
        return fw.pad(self.tokenizer, rows, side, self.device)

    # -- the one forward -------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        keep: int | None = None,
        *,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, ``keep`` or T, V) of one forward of ``input_ids`` (B, T), no KV cache.

        The one forward of the package (``engine.forward.forward``): edits are on when the
        caller's ``with hm.intervene(...)`` (or other site) blocks are; with ``keep`` the
        model computes the last ``keep`` positions' logits only, when it can. A model without
        an LM head gives its last hidden state. Gradients flow unless under ``no_grad``.
        """
        return fw.forward(
            self.model,
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            keep=keep,
        )
