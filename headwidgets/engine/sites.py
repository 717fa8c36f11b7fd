"""The two sites of a bound model: edits and reads at the head output and inside attention.

The second layer of the engine class (``Binding`` → ``Sites`` → ``Batching`` → ``Engine``).
Heads are reached at the input of the attention output projection (``architectures.py``) and
inside attention (``interventions/attention.py``); every hook is registered by
``interventions/hooks.py`` and removed when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from headwidgets import architectures as arch
from headwidgets import interventions as iv
from headwidgets.engine.binding import Binding, Prompt
from headwidgets.interventions import compile_vectors

if TYPE_CHECKING:
    import torch
    from torch import nn

S = TypeVar("S", bound="Sites")


class Sites(Binding):
    """Edits (:meth:`intervene`) and reads (:meth:`capture_z`, :meth:`capture_attention`,
    :meth:`capture_patterns`, :meth:`head_z`, :meth:`head_qkv`) at the two sites."""

    @contextlib.contextmanager
    def intervene(self: S, spec: iv.Intervention) -> Iterator[S]:
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
            self.attention_site(self._compile_attention([spec])),
            iv.apply_edits(self.model, self.out_projs, self.n_heads, plans),
        ):
            active.append(spec)
            try:
                yield self
            finally:
                active.pop()

    def _compile_attention(
        self, specs: Sequence[iv.Intervention], n_pos: int | None = None
    ) -> iv.Compiled:
        """Pattern and q/k/v edits of N specs (row i = spec i; ``attention_site``,
        ``interventions.vectors``); empty when no spec edits inside attention.

        With ``n_pos`` (a batched run), the compiled edits of the last few spec lists are
        kept, with their device copies, so a repeated sweep compiles and copies them once;
        patch edits (activations of other prompts) are compiled every time.
        """
        if not any(spec.attention for spec in specs):
            return iv.Compiled({}, {})
        self._follow_tokenizer()
        key = (tuple(specs), n_pos, self.device)
        cached = self._attention_cache.get(key) if n_pos is not None else None
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        compiled = iv.Compiled(
            iv.compile_patterns(specs, self.n_layers, self.n_heads, self.token_id),
            compile_vectors(
                specs, self.n_layers, self.n_heads, self.n_kv_heads, self.head_dim, self.head_qkv
            ),
        )
        patches = any(getattr(e, "op", None) == "patch" for s in specs for e in s.attention)
        if n_pos is not None and not patches:
            self._attention_cache.put(key, compiled)
        return compiled

    @contextlib.contextmanager
    def attention_site(
        self,
        compiled: iv.Compiled | None = None,
        readers: Mapping[int, Callable[[int, iv.Read], None]] | None = None,
    ) -> Iterator[None]:
        """Run the inside-attention site during forwards in the block: ``compiled`` edits (an
        ``interventions.Compiled``, row i of the batch = its row i) and ``readers`` (layer ->
        ``fn(layer, read)``, see :meth:`capture_attention`). Nothing is switched on when both
        are empty; the user's ``attn_implementation`` is restored on exit."""
        if not compiled and not readers:
            yield
            return
        compiled = compiled or iv.Compiled({}, {})
        with contextlib.ExitStack() as stack:
            offset = stack.enter_context(iv.position_offsets(self.model))
            ids = stack.enter_context(iv.track_ids(self.model)) if compiled.uses_strings else None
            stack.enter_context(
                iv.switched(
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
        self, fn: Callable[[int, iv.Read], None], layers: Sequence[int] | None = None
    ) -> Iterator[None]:
        """Call ``fn(layer, read)`` with each attention call of ``layers`` (default all)
        during forwards in the block: ``read.q`` (after rotary embeddings), ``read.k``,
        ``read.v`` and ``read.pattern(heads)`` (logits and pattern of chosen query heads
        only). Runs headwidgets' attention function (``interventions/attention.py``); the user's
        kernel does the attention and ``attn_implementation`` is restored on exit."""
        chosen = range(self.n_layers) if layers is None else layers
        with self.attention_site(readers=dict.fromkeys(chosen, fn)):
            yield

    def head_qkv(self, prompt: Prompt) -> dict[str, torch.Tensor]:
        """q (L, Hq, T, D) after rotary embeddings, k and v (L, Hkv, T, D) of a clean run,
        float32 on the CPU (cached; read inside attention, the user's kernel untouched)."""
        import torch

        cached = self._qkv_cache.get(prompt)
        if cached is not None:
            return cached
        seen: dict[str, dict[int, torch.Tensor]] = {"q": {}, "k": {}, "v": {}}

        def read(layer: int, call: iv.Read) -> None:
            for name, value in (("q", call.q), ("k", call.k), ("v", call.v)):
                seen[name][layer] = value[0].detach().float().cpu()

        with torch.no_grad(), self.capture_attention(read):
            self.forward(self.tokenize(prompt).input_ids)
        result = {
            name: torch.stack([per[layer] for layer in range(self.n_layers)])
            for name, per in seen.items()
        }
        self._qkv_cache.put(prompt, result)
        return result

    # -- the head output site ----------------------------------------------------------
    def head_z(self, prompt: Prompt) -> torch.Tensor:
        """Per-head outputs z of a clean run: (L, T, H, D) float32 on the CPU (cached)."""
        import torch

        cached = self._z_cache.get(prompt)
        if cached is not None:
            return cached
        tok = self.tokenize(prompt)
        zs: dict[int, torch.Tensor] = {}

        def keep(layer: int, z: torch.Tensor) -> None:
            zs[layer] = z[0].detach().float().cpu()

        with torch.no_grad(), self.capture_z(keep):
            self.forward(tok.input_ids)
        result = torch.stack([zs[layer] for layer in range(self.n_layers)])
        self._z_cache.put(prompt, result)
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
        if before == iv.NAME:  # inside attention edits: keep them, with eager as the kernel
            with iv.eager_kernel(self.model, self.attention_modules):
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

    # -- weights -----------------------------------------------------------------------
    def out_proj_weight(self, layer: int) -> torch.Tensor:
        """W_O of one layer, (d_model, H·D) in nn.Linear convention (y = W z)."""
        weight: torch.Tensor = arch.linear_weight(self.out_projs[layer])
        return weight

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
        return arch.first_module(base, arch.FINAL_NORMS)
