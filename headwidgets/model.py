"""HeadModel: a live transformers model bound with its tokenizer, ready for head edits.

>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")                            # a shipped model, no download
>>> hm.n_layers, hm.n_heads                                  # doctest: +SKIP
(2, 4)
>>> with hm.intervene(hw.Intervention.zero([(1, 0)])):
...     out = hm.model(hm.tokenize("t1 t2 t3").input_ids)     # plain HF call, head 1.0 off

The model runs as it is: no forward pass is re-implemented. Heads are reached at the input of
the attention output projection (see ``architectures.py``); hooks live in ``interventions.py``.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from headwidgets import architectures as arch
from headwidgets import interventions as att
from headwidgets import interventions as iv
from headwidgets.graphs import BatchGraphs
from headwidgets.interventions import compile_vectors
from headwidgets.metrics import Metric, as_metric

if TYPE_CHECKING:
    import torch
    import xarray as xr
    from torch import nn

Prompt = str


@dataclass(frozen=True)
class Tokens:
    """A tokenized prompt: ``input_ids`` (1, T) on the model's input device, token texts."""

    input_ids: torch.Tensor
    tokens: list[str]

    def __getitem__(self, key: str) -> Any:  # mapping-style access: tok["input_ids"]
        return getattr(self, key)

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class RunResult:
    """Outputs of :meth:`HeadModel.run` (tensors on the CPU, float32)."""

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


_TOKEN_CACHE = 64
"""Prompts whose tokenization a HeadModel remembers (least recently used are dropped)."""
_TOKEN_IDS = 1024
"""Target strings whose token id a HeadModel remembers (no more are added past this)."""
_PLAN_CACHE = 4
"""Compiled spec lists a HeadModel keeps on the GPU for repeated batched runs."""


@dataclass
class _Plan:
    """Compiled edits of one ``run_batch`` spec list (see :meth:`HeadModel._plan`)."""

    first: list[int]
    """Per spec (input order): the layer where its row joins the growing batch."""
    order: list[int]
    """Spec indices sorted by join layer (row r + 1 of the batch is spec order[r])."""
    order_t: torch.Tensor
    edits: dict[int, iv.LayerEdit]
    cached: bool
    chunks: dict[tuple[int, int], tuple[dict[int, int], dict[int, iv.LayerEdit]]] = field(
        default_factory=dict
    )
    """(start, stop) -> (rows joining per layer, the chunk's edits), filled when cached."""


class HeadModel:
    """A transformers model and its tokenizer, with head-level edits.

    Use :func:`bind` for a model you already loaded and :func:`load` to load one.
    """

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
        self._z_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._qkv_cache: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self._graphs = BatchGraphs()
        devices = {p.weight.device for p in self.out_projs} | {self.device}
        self._one_device = len(devices) == 1
        # prompt -> (ids, token texts); text -> id; specs -> compiled edits (see run_batch)
        self._token_cache: OrderedDict[str, tuple[list[int], tuple[str, ...]]] = OrderedDict()
        self._token_ids: dict[str, int] = {}
        self._tokens_of = tokenizer  # the tokenizer those caches belong to
        self._plan_cache: OrderedDict[Any, _Plan] = OrderedDict()
        self._attention_cache: OrderedDict[Any, att.Compiled] = OrderedDict()

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

    def __repr__(self) -> str:
        return (
            f"HeadModel({self.name!r}, {self.layout.model_type}, layers={self.n_layers}, "
            f"heads={self.n_heads}, kv_heads={self.n_kv_heads}, head_dim={self.head_dim}, "
            f"device={self.device}, dtype={self.dtype})"
        )

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
            self._token_cache[prompt] = cached
            while len(self._token_cache) > _TOKEN_CACHE:
                self._token_cache.popitem(last=False)
        else:
            self._token_cache.move_to_end(prompt)
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
        if len(self._token_ids) < _TOKEN_IDS:
            self._token_ids[text] = int(ids[0])
        return int(ids[0])

    def _batch(self, prompts: Sequence[Prompt]) -> tuple[torch.Tensor, torch.Tensor, list]:
        """Right-padded ids and mask for several prompts, plus token texts."""
        import torch

        toks = [self.tokenize(p) for p in prompts]
        width = max(len(t) for t in toks)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id or 0
        ids = torch.full((len(toks), width), int(pad), dtype=torch.long)
        mask = torch.zeros((len(toks), width), dtype=torch.long)
        for row, tok in enumerate(toks):
            ids[row, : len(tok)] = tok.input_ids[0].cpu()
            mask[row, : len(tok)] = 1
        return ids.to(self.device), mask.to(self.device), [t.tokens for t in toks]

    # -- running -----------------------------------------------------------------------
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
        ids, mask, tokens = self._batch(batch)
        collected: dict[int, torch.Tensor] = {}

        def keep(layer: int, probs: torch.Tensor) -> None:
            collected[layer] = probs.detach().float().cpu()

        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if intervention is not None:
                stack.enter_context(self.intervene(intervention))
            if patterns:
                stack.enter_context(self.capture_patterns(keep))
            out = self.model(input_ids=ids, attention_mask=mask)
        stacked = None
        if patterns:
            stacked = torch.stack([collected[layer] for layer in range(self.n_layers)], dim=1)
        return RunResult(_logits(out).float().cpu(), ids.cpu(), mask.cpu(), tokens, stacked)

    @contextlib.contextmanager
    def intervene(self, spec: iv.Intervention) -> Iterator[HeadModel]:
        """Apply ``spec`` to every forward of ``self.model`` inside the block.

        Works for plain ``model(...)`` and ``model.generate(...)`` calls; every hook is
        removed on exit, also when the block raises. Position-restricted and replacing edits
        refer to absolute positions (generation continues past them unedited). Scores
        computed inside the block record ``spec`` in their ``intervention`` attr (the specs
        of the enclosing blocks are in :attr:`active_interventions` meanwhile).
        """
        plans = iv.compile_specs(
            [spec], self.n_layers, self.n_heads, self.head_dim, None, self.head_z
        )
        active: list[iv.Intervention] = self.__dict__.setdefault("active_interventions", [])
        with (
            self._attention_edits([spec]),
            iv.apply_edits(self.model, self.out_projs, self.n_heads, plans),
        ):
            active.append(spec)
            try:
                yield self
            finally:
                active.pop()

    @contextlib.contextmanager
    def _attention_edits(self, specs: Sequence[iv.Intervention]) -> Iterator[None]:
        """The inside-attention site for N specs (row i = spec i); nothing when none has one.

        The model runs headwidgets' attention function inside the block (the user's
        ``attn_implementation`` is restored on exit); see ``attention_site.py``.
        """
        with self._attention_site(self._compile_attention(specs)):
            yield

    def _compile_attention(
        self, specs: Sequence[iv.Intervention], n_pos: int | None = None
    ) -> att.Compiled:
        """Pattern and q/k/v edits of N specs (``attention_site``, ``attention_vectors``).

        With ``n_pos`` (a batched run), the compiled edits of the last few spec lists are
        kept, with their device copies, so a repeated sweep compiles and copies them once;
        patch edits (activations of other prompts) are compiled every time.
        """
        if not any(spec.attention for spec in specs):
            return att.Compiled({}, {})
        self._follow_tokenizer()
        key = (tuple(specs), n_pos, self.device)
        cached = self._attention_cache.get(key) if n_pos is not None else None
        if cached is not None:
            self._attention_cache.move_to_end(key)
            return cached
        compiled = att.Compiled(
            att.compile_patterns(specs, self.n_layers, self.n_heads, self.token_id),
            compile_vectors(
                specs, self.n_layers, self.n_heads, self.n_kv_heads, self.head_dim, self.head_qkv
            ),
        )
        patches = any(getattr(e, "op", None) == "patch" for s in specs for e in s.attention)
        if n_pos is not None and not patches:
            self._attention_cache[key] = compiled
            while len(self._attention_cache) > _PLAN_CACHE:
                self._attention_cache.popitem(last=False)
        return compiled

    @contextlib.contextmanager
    def _attention_site(
        self,
        compiled: att.Compiled | None = None,
        readers: Mapping[int, Callable[[int, att.Read], None]] | None = None,
    ) -> Iterator[None]:
        """Compiled inside-attention edits and readers on the model inside the block."""
        if not compiled and not readers:
            yield
            return
        compiled = compiled or att.Compiled({}, {})
        with contextlib.ExitStack() as stack:
            offset = stack.enter_context(iv._track_offset(self.model))
            ids = stack.enter_context(att.track_ids(self.model)) if compiled.uses_strings else None
            stack.enter_context(
                att.switched(
                    self.model,
                    self.attention_modules,
                    compiled.patterns,
                    offset,
                    ids,
                    compiled.vectors,
                    readers,
                )
            )
            yield

    @contextlib.contextmanager
    def capture_attention(
        self, fn: Callable[[int, att.Read], None], layers: Sequence[int] | None = None
    ) -> Iterator[None]:
        """Call ``fn(layer, read)`` with each attention call of ``layers`` (default all)
        during forwards in the block: ``read.q`` (after rotary embeddings), ``read.k``,
        ``read.v`` and ``read.pattern(heads)`` (logits and pattern of chosen query heads
        only). Runs headwidgets' attention function (``attention_site.py``); the user's
        kernel does the attention and ``attn_implementation`` is restored on exit."""
        chosen = range(self.n_layers) if layers is None else layers
        with self._attention_site(readers=dict.fromkeys(chosen, fn)):
            yield

    def capture(
        self,
        prompt: Prompt,
        what: Sequence[str] = ("q", "k", "v", "logits", "pattern"),
        heads: Sequence[tuple[int, int]] | None = None,
    ) -> dict[str, xr.DataArray]:
        """q, k, v, attention logits and patterns of chosen heads as labeled cubes (one
        forward pass); see :func:`headwidgets.scores.inside.capture`."""
        from headwidgets.scores.inside import capture

        return capture(self, prompt, what, heads)

    def head_qkv(self, prompt: Prompt) -> dict[str, torch.Tensor]:
        """q (L, Hq, T, D) after rotary embeddings, k and v (L, Hkv, T, D) of a clean run,
        float32 on the CPU (cached; read inside attention, the user's kernel untouched)."""
        import torch

        cached = self._qkv_cache.get(prompt)
        if cached is not None:
            return cached
        seen: dict[str, dict[int, torch.Tensor]] = {"q": {}, "k": {}, "v": {}}

        def read(layer: int, call: att.Read) -> None:
            for name, value in (("q", call.q), ("k", call.k), ("v", call.v)):
                seen[name][layer] = value[0].detach().float().cpu()

        with torch.no_grad(), self.capture_attention(read):
            self.model(input_ids=self.tokenize(prompt).input_ids)
        result = {
            name: torch.stack([per[layer] for layer in range(self.n_layers)])
            for name, per in seen.items()
        }
        self._qkv_cache[prompt] = result
        while len(self._qkv_cache) > 16:
            self._qkv_cache.popitem(last=False)
        return result

    def run_batch(
        self,
        prompt: Prompt,
        specs: Sequence[iv.Intervention],
        logits_to_keep: int | None = None,
        reduce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        chunk_size: int | None = None,
        grow: bool = True,
    ) -> torch.Tensor:
        """Run N specs on one prompt as ONE forward pass of N rows (chunked to fit memory).

        Returns the logits (N, T or ``logits_to_keep``, V) as float32 on the CPU, or, with
        ``reduce(logits, baseline_logits)``, the concatenated per-row reductions computed on
        the device (what sweeps use: only the metric leaves the GPU). On out-of-memory the
        chunk is halved and retried.

        Rows share everything below the first layer they edit: with ``grow`` (default) the
        forward starts from one clean row and each row joins at its first edited layer
        (``interventions.grow_batch``), so the shared prefix of layers runs once.
        """
        import torch

        specs = list(specs)
        if not specs:
            raise ValueError("no specs given; pass a list of Intervention objects")
        tok = self.tokenize(prompt)
        n_pos = len(tok)
        keep = n_pos if logits_to_keep is None else int(logits_to_keep)
        if not 1 <= keep <= n_pos:
            raise ValueError(f"logits_to_keep must be in 1..{n_pos}, got {logits_to_keep}")
        plan = self._plan(specs, n_pos, grow)
        first, order = plan.first, plan.order
        inside = self._compile_attention([iv.Intervention(), *(specs[i] for i in order)], n_pos)
        blocks = self.model.get_submodule(self.layout.blocks_path)
        size = chunk_size or self._chunk_rows(n_pos, keep)
        outputs: list[torch.Tensor] = []
        start = 0
        while start < len(order):
            stop = min(start + size, len(order))
            chunk = plan.chunks.get((start, stop))
            rows: Any = slice(0, stop + 1)  # the carrier and this chunk's rows
            if start:
                rows = torch.cat(
                    [torch.zeros(1, dtype=torch.long), torch.arange(start + 1, stop + 1)]
                )
            patterns = inside.select(rows, key=(start, stop))
            if chunk is None:
                counts: dict[int, int] = {}
                for i in order[start:stop]:
                    counts[first[i]] = counts.get(first[i], 0) + 1
                chunk = counts, {layer: e.select(rows) for layer, e in plan.edits.items()}
                if plan.cached:
                    plan.chunks[(start, stop)] = chunk
            joins, edits = chunk

            def eager(
                joins: dict[int, int] = joins,
                edits: dict = edits,
                patterns: att.Compiled = patterns,
            ) -> torch.Tensor:
                with (
                    torch.no_grad(),
                    iv.grow_batch(blocks, joins),
                    self._attention_site(patterns),
                    iv.apply_edits(self.model, self.out_projs, self.n_heads, edits),
                ):
                    return self._forward(tok.input_ids, keep)

            try:
                with torch.no_grad():
                    if self.device.type == "cuda" and self._one_device and not patterns:
                        logits = self._graphs.run(self, tok.input_ids, keep, joins, edits, eager)
                    else:
                        logits = eager()
                    if reduce is None:
                        part = logits[1:].float()
                    else:
                        part = reduce(logits[1:], logits[:1])
                outputs.append(part.cpu())
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                size = max(1, size // 2)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            start = stop
        result = torch.cat(outputs, dim=0)
        unsorted = torch.empty_like(result)
        unsorted[plan.order_t] = result
        return unsorted

    def _plan(self, specs: list[iv.Intervention], n_pos: int, grow: bool) -> _Plan:
        """The compiled edits of ``specs`` on an ``n_pos``-token prompt, rows sorted by join layer.

        Specs that only scale or zero heads do not depend on the prompt's text, so on a single
        CUDA device their edits are kept on the GPU for the next call with the same specs (a
        repeated sweep then skips compiling and the host-to-device copies). Mean, resample
        and patch edits hold activations of other prompts and are compiled every time.
        """
        import torch

        key = (tuple(specs), n_pos, grow, self.device, self.dtype)
        plan = self._plan_cache.get(key)
        if plan is not None:
            self._plan_cache.move_to_end(key)
            return plan
        for spec in specs:
            iv.check_spec(spec, self.n_layers, self.n_heads)
        first = [min(spec.layers, default=self.n_layers - 1) if grow else 0 for spec in specs]
        order = sorted(range(len(specs)), key=first.__getitem__)
        # row 0: the clean carrier every other row starts from; rows sorted by join layer
        edits = iv.compile_specs(
            [iv.Intervention(), *(specs[i] for i in order)],
            self.n_layers,
            self.n_heads,
            self.head_dim,
            n_pos,
            self.head_z,
        )
        cached = (
            self.device.type == "cuda"
            and self._one_device
            and not any(e.replaces for spec in specs for e in spec.edits)
        )
        if cached:
            edits = {
                layer: e.to(self.out_projs[layer].weight.device, self.out_projs[layer].weight.dtype)
                for layer, e in edits.items()
            }
        plan = _Plan(first, order, torch.tensor(order), edits, cached)
        if cached:
            self._plan_cache[key] = plan
            while len(self._plan_cache) > _PLAN_CACHE:
                self._plan_cache.popitem(last=False)
        return plan

    def _forward(self, input_ids: torch.Tensor, keep: int) -> torch.Tensor:
        """Logits of the last ``keep`` positions (asks HF for no more when it can)."""
        n_pos = input_ids.shape[1]
        if not self.is_causal:
            return _logits(self.model(input_ids=input_ids))[:, n_pos - keep :]
        # no KV cache: nothing continues from here, and filling one costs two copies a layer
        out = self.model(input_ids=input_ids, logits_to_keep=keep, use_cache=False)
        return _logits(out)[:, -keep:]

    def _chunk_rows(self, n_pos: int, keep: int) -> int:
        """Rows per forward that fit: half the free GPU memory, or ~2 GB on the CPU."""
        import torch

        elem = torch.finfo(self.dtype).bits // 8
        per_row = elem * n_pos * (self.d_model * 24 + 2 * self.n_heads * n_pos)
        per_row += 4 * keep * self.vocab_size * 2
        budget = 2 * 1024**3
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            budget = int(free * 0.5)
        return max(1, min(1024, budget // max(per_row, 1)))

    def sweep(
        self,
        prompt: Prompt,
        metric: Metric | str,
        mode: Literal["zero", "mean", "resample", "scale"] = "zero",
        alpha: float = 0.0,
        reference: Sequence[Prompt] | None = None,
        source: Prompt | None = None,
        **metric_kwargs: Any,
    ) -> xr.DataArray:
        """metric(edited) − metric(clean) for every single head: a (layer, head) cube.

        One batched pass over all heads (see ``scores.causal.ablation_effect``).
        """
        from headwidgets.scores.causal import ablation_effect

        return ablation_effect(
            self,
            prompt,
            as_metric(metric, **metric_kwargs),
            mode=mode,
            alpha=alpha,
            reference=reference,
            source=source,
        )

    def single_head_specs(
        self,
        mode: iv.EditMode = "zero",
        alpha: float = 0.0,
        reference: Sequence[Prompt] | None = None,
        source: Prompt | None = None,
    ) -> list[iv.Intervention]:
        """One spec per head (layer-major order): the rows of an all-heads sweep."""
        extra: dict[str, Any] = {}
        if mode == "scale":
            extra["alpha"] = alpha
        elif mode == "mean":
            extra["reference"] = tuple(reference or ())
        elif mode in ("resample", "patch"):
            extra["source"] = source
        return [
            iv.Intervention.single(layer, head, mode, **extra)
            for layer in range(self.n_layers)
            for head in range(self.n_heads)
        ]

    def sweep_values(
        self,
        prompt: Prompt,
        metric: Metric,
        specs: Sequence[iv.Intervention],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(metric of each spec (N,), clean metric ()) from one batched pass.

        The clean value comes from the batch's own clean row, so both see the same numerics.
        """
        tok = self.tokenize(prompt)
        keep = metric.logits_to_keep(len(tok))
        clean: list[torch.Tensor] = []

        def reduce(logits: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
            if not clean:
                clean.append(metric.compute(self, baseline, tok.input_ids, baseline)[0].cpu())
            return metric.compute(self, logits, tok.input_ids, baseline)

        values = self.run_batch(prompt, specs, keep, reduce)
        return values, clean[0]

    # -- reading heads -----------------------------------------------------------------
    def head_z(self, prompt: Prompt) -> torch.Tensor:
        """Per-head outputs z of a clean run: (L, T, H, D) float32 on the CPU (cached)."""
        import torch

        if prompt in self._z_cache:
            self._z_cache.move_to_end(prompt)
            return self._z_cache[prompt]
        tok = self.tokenize(prompt)
        zs: dict[int, torch.Tensor] = {}

        def keep(layer: int, z: torch.Tensor) -> None:
            zs[layer] = z[0].detach().float().cpu()

        with torch.no_grad(), self.capture_z(keep):
            self.model(input_ids=tok.input_ids)
        result = torch.stack([zs[layer] for layer in range(self.n_layers)])
        self._z_cache[prompt] = result
        while len(self._z_cache) > 64:
            self._z_cache.popitem(last=False)
        return result

    @contextlib.contextmanager
    def capture_z(self, fn: Callable[[int, torch.Tensor], None]) -> Iterator[None]:
        """Call ``fn(layer, z (B, T, H, D))`` at each head site during forwards in the block."""

        def site(layer: int, z: torch.Tensor, offset: int) -> None:
            fn(layer, z)

        with iv.site_hooks(self.model, self.out_projs, self.n_heads, site):
            yield

    @contextlib.contextmanager
    def eager_attention(self) -> Iterator[None]:
        """Switch the model to eager attention inside the block; restore the user's setting."""
        config = self.model.config
        before = getattr(config, "_attn_implementation", None)
        setter = getattr(self.model, "set_attn_implementation", None)
        if before == att.NAME:  # inside attention edits: keep them, with eager as the kernel
            with att.eager_kernel(self.model, self.attention_modules):
                yield
            return
        if before == "eager" or not callable(setter):
            yield
            return
        setter("eager")
        try:
            yield
        finally:
            setter(before)

    @contextlib.contextmanager
    def capture_patterns(self, fn: Callable[[int, torch.Tensor], None]) -> Iterator[None]:
        """Call ``fn(layer, probs (B, H, Tq, Tk))`` per layer; eager attention in the block."""
        with self.eager_attention(), iv.pattern_hooks(self.attention_modules, fn):
            yield

    def out_proj_weight(self, layer: int) -> torch.Tensor:
        """W_O of one layer, (d_model, H·D) in nn.Linear convention (y = W z)."""
        proj = self.out_projs[layer]
        weight: torch.Tensor = proj.weight
        return weight.T if type(proj).__name__ == "Conv1D" else weight

    def unembed(self) -> torch.Tensor:
        """W_U: (V, d_model), the rows that map the final residual to logits."""
        self.require_lm_head("the unembedding W_U")
        head = self.model.get_output_embeddings()
        weight: torch.Tensor = head.weight
        return weight

    @property
    def final_norm(self) -> nn.Module | None:
        """The norm applied to the residual stream before the unembedding, if any."""
        parent = self.layout.blocks_path.rsplit(".", 1)[0] if "." in self.layout.blocks_path else ""
        base = self.model.get_submodule(parent) if parent else self.model
        for name in ("ln_f", "norm", "final_layer_norm", "final_norm", "final_layernorm"):
            module = getattr(base, name, None)
            if module is not None:
                return module
        return None


def _logits(out: Any) -> torch.Tensor:
    """The model's logits; a bare encoder (no LM head) gives its last hidden state."""
    logits = getattr(out, "logits", None)
    result: torch.Tensor = logits if logits is not None else out.last_hidden_state
    return result


# ======================================================================================
# Binding and loading
# ======================================================================================


def bind(model: nn.Module, tokenizer: Any, name: str | None = None) -> HeadModel:
    """Bind a model you already loaded (any supported transformers model) and its tokenizer.

    Example
    -------
    >>> from transformers import AutoModelForCausalLM, AutoTokenizer
    >>> from headwidgets import zoo
    >>> path = zoo.path("induction-2l")          # or a hub id such as "gpt2"
    >>> hm = bind(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path))
    >>> hm.n_layers, hm.n_heads
    (2, 4)
    """
    return HeadModel(model, tokenizer, name=name)


def load(
    name_or_path: str,
    device: str | None = None,
    dtype: Any = None,
    device_map: Any = None,
    **kwargs: Any,
) -> HeadModel:
    """Load a model by shipped-model name, local directory or hub id, and bind it.

    Parameters
    ----------
    name_or_path
        ``"induction-2l"`` / ``"circuits-4l"`` (shipped, see ``hw.models()``), a local
        directory, or a hub id such as ``"gpt2"`` (needs the internet the first time).
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``; default CUDA when available.
    dtype
        ``torch.float32`` (default on the CPU), ``torch.bfloat16``, ``"bfloat16"``, ...
        On CUDA the default is the checkpoint's half-precision dtype when it has one.
    device_map
        Passed to ``from_pretrained`` (e.g. ``"auto"`` to shard over several GPUs with
        accelerate); ``device`` is then ignored.

    Decoders load with their causal-LM head and encoders with their masked-LM head. An
    encoder checkpoint saved without one (``architectures`` names no LM head, e.g. a
    sentence-embedding BERT) is bound as its base model, with no randomly initialised head:
    ``hm.has_lm_head`` is False, attention scores, patterns and head edits work, and what
    needs token logits (metrics, sweeps, the OutputView) raises a ValueError saying so.
    Loading a local checkpoint shows no progress bar.
    """
    import torch
    import transformers

    path = _resolve_path(name_or_path)
    config = transformers.AutoConfig.from_pretrained(path, **kwargs)
    if device is None and device_map is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; e.g. 'float32', 'bfloat16', 'float16'")
        dtype = getattr(torch, dtype)
    if dtype is None:
        # `dtype` since transformers 4.56; reading `torch_dtype` there logs a deprecation
        saved = config.dtype if hasattr(config, "dtype") else config.torch_dtype
        on_gpu = device_map is not None or (device or "").startswith("cuda")
        half = (torch.bfloat16, torch.float16, "bfloat16", "float16")
        dtype = (
            (getattr(torch, saved) if isinstance(saved, str) else saved)
            if (on_gpu and saved in half)
            else torch.float32
        )
    spec = arch.ARCHITECTURES.get(str(getattr(config, "model_type", "")))
    auto: Any = transformers.AutoModelForCausalLM
    if spec is not None and not spec.causal:
        # an encoder saved without its masked-LM head (a sentence-embedding checkpoint) is
        # bound as its base model: a randomly initialised head would make up next tokens
        head = _saved_with_lm_head(config)
        auto = transformers.AutoModelForMaskedLM if head else transformers.AutoModel
    load_kwargs: dict[str, Any] = {"dtype": dtype, **kwargs}
    if device_map is not None:
        load_kwargs["device_map"] = device_map
    with _quiet_local_load(os.path.isdir(path)):
        model = auto.from_pretrained(path, **load_kwargs)
    if device_map is None:
        model = model.to(device)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    return HeadModel(model, tokenizer, name=name_or_path)


_LM_HEAD_CLASSES = ("ForMaskedLM", "ForPreTraining", "ForCausalLM", "LMHeadModel")
"""Endings of the architecture names whose checkpoints carry a language-model head."""


def _saved_with_lm_head(config: Any) -> bool:
    """Whether the checkpoint's ``architectures`` name a class with an LM head (unknown: yes)."""
    names = list(getattr(config, "architectures", None) or [])
    return not names or any(name.endswith(_LM_HEAD_CLASSES) for name in names)


@contextlib.contextmanager
def _quiet_local_load(local: bool) -> Iterator[None]:
    """No "Loading weights" progress bar for a local checkpoint (stderr noise in a notebook).

    A hub id keeps transformers' bars: there they show the download.
    """
    from transformers.utils import logging as hf_logging

    active = hf_logging.is_progress_bar_enabled()
    if local and active:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if local and active:
            hf_logging.enable_progress_bar()


def _resolve_path(name_or_path: str) -> str:
    """A shipped model's directory, else the argument (local directory or hub id)."""
    if os.path.isdir(name_or_path):
        return name_or_path
    from headwidgets import zoo

    try:
        return str(zoo.path(name_or_path))  # type: ignore[attr-defined]
    except ValueError:
        return name_or_path
