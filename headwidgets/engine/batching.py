"""Batched runs: N specs on one prompt as one forward of N rows, chunked to fit memory.

The third layer of the engine class (``Binding`` → ``Sites`` → ``Batching`` → ``Engine``).
Rows share the layers below their first edit (the batch grows as rows join:
``interventions.grow_batch``); the rows per forward are planned from the free memory
(:meth:`Batching.chunk_rows`) and halved on out-of-memory; on one CUDA device a repeated
shape replays a captured graph (``engine/graphs.py``) and its compiled edits stay on the GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwidgets import interventions as iv
from headwidgets.engine.binding import Prompt
from headwidgets.engine.sites import Sites
from headwidgets.metrics import Metric
from headwidgets.vocab import MODE_ALIASES

if TYPE_CHECKING:
    import torch


@dataclass
class _Plan:
    """Compiled edits of one ``run_batch`` spec list (see :meth:`Batching._plan`)."""

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


class Batching(Sites):
    """:meth:`run_batch` and what sweeps build on it (:meth:`sweep_values`)."""

    def chunk_rows(self, n_pos: int, keep: int) -> int:
        """Rows of an ``n_pos``-token prompt (``keep`` logits each) that one forward fits:
        half the free GPU memory, or ~2 GB on the CPU; between 1 and 1024."""
        import torch

        elem = torch.finfo(self.dtype).bits // 8
        per_row = elem * n_pos * (self.d_model * 24 + 2 * self.n_heads * n_pos)
        per_row += 4 * keep * self.vocab_size * 2
        budget = 2 * 1024**3
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            budget = int(free * 0.5)
        return max(1, min(1024, budget // max(per_row, 1)))

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
        size = chunk_size or self.chunk_rows(n_pos, keep)
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
                patterns: iv.Compiled = patterns,
            ) -> torch.Tensor:
                with (
                    torch.no_grad(),
                    iv.grow_batch(blocks, joins),
                    self.attention_site(patterns),
                    iv.apply_edits(self.model, self.out_projs, self.n_heads, edits),
                ):
                    return self.forward(tok.input_ids, keep)

            try:
                with torch.no_grad():
                    if self.device.type == "cuda" and self._one_device:
                        logits = self._graphs.run(
                            self, tok.input_ids, keep, joins, edits, eager, patterns
                        )
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
        plan: _Plan | None = self._plan_cache.get(key)
        if plan is not None:
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
            self._plan_cache.put(key, plan)
        return plan

    def single_head_specs(
        self,
        mode: iv.EditMode = "zero",
        alpha: float = 0.0,
        reference: Sequence[Prompt] | None = None,
        source: Prompt | None = None,
    ) -> list[iv.Intervention]:
        """One spec per head (layer-major order): the rows of an all-heads sweep."""
        extra: dict[str, Any] = {}
        mode = MODE_ALIASES.get(mode, mode)  # type: ignore[assignment]
        if mode == "scale":
            extra["alpha"] = alpha
        elif mode == "mean":
            extra["reference"] = tuple(reference or ())
        elif mode == "resample":
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
