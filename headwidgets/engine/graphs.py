"""CUDA graphs of the engine: a captured forward, replayed with new inputs and edits.

:class:`BatchGraphs` keeps the captured batched forwards of ``hm.run_batch`` (a repeated
sweep replays one, z edits and inside-attention edits alike); :func:`capture_graph` captures
any fixed-shape forward (the refresh path, ``engine.refresh.Refresher``, and the benchmarks
use it). Nothing here knows a model class: a batched forward is described by the bound
model it runs (``hm``: its ``model``, ``out_projs``, ``n_heads``, ``layout`` and the one
``forward``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from headwidgets import interventions as iv
from headwidgets.engine.caches import LRU

T = TypeVar("T")

if TYPE_CHECKING:
    import torch


class BatchGraphs:
    """CUDA graphs of batched forwards (sweeps), keyed by shape, captured on second use.

    A batched run is static in shape once its row count, join layers, kept logits and edit
    layout are fixed, so a repeated sweep (the Explorer re-sweeping, a dataset of equal-length
    prompts) replays one captured graph: the prompt ids and every edit tensor are copied into
    static buffers first. A shape seen once runs eagerly (capturing costs a few forwards);
    the second time it is captured; at most ``size`` graphs are kept (least recently used).

    Inside-attention edits (an ``interventions.Compiled`` of the chunk, kept between repeated
    runs by ``hm._compile_attention``) are part of the key by identity: the key holds the
    object, so its id cannot be reused, and other attention edits never replay its graph.
    Their device tensors are read by the graph in place (never copied). A shape whose
    attention edits cannot be captured (a host sync in the attention function) stays eager,
    silently; the z graphs are unaffected.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.cache: LRU[Any, _Captured] = LRU(size)
        """the captured graphs by shape, least recently used first"""
        self._seen: LRU[Any, int] = LRU(64)  # shapes run once (captured the second time)
        self._eager: LRU[Any, bool] = LRU(64)  # attention shapes that could not be captured
        self.disabled = False

    @staticmethod
    def key(
        ids: torch.Tensor,
        keep: int,
        joins: dict[int, int],
        edits: dict[int, iv.LayerEdit],
        patterns: iv.Compiled | None = None,
    ) -> Any:
        layout = tuple(
            (
                layer,
                tuple(e.scale.shape),
                None if e.replacement is None else tuple(e.replacement.shape),
                None if e.offset is None else tuple(e.offset.shape),
            )
            for layer, e in sorted(edits.items())
        )
        inside = patterns if patterns else None  # hashed by identity (eq=False)
        return (tuple(ids.shape), keep, tuple(sorted(joins.items())), layout, inside)

    def run(
        self,
        hm: Any,
        ids: torch.Tensor,
        keep: int,
        joins: dict[int, int],
        edits: dict[int, iv.LayerEdit],
        eager: Any,
        patterns: iv.Compiled | None = None,
    ) -> torch.Tensor:
        """The logits of the batched forward, replayed from a graph when one fits.

        ``patterns``: the chunk's inside-attention edits (None or empty: none)."""
        key = self.key(ids, keep, joins, edits, patterns)
        captured = self.cache.get(key)
        if captured is None and not self.disabled and self._capturable(key, patterns):
            seen = (self._seen.get(key) or 0) + 1
            self._seen.put(key, seen)
            if seen >= 2:
                try:
                    captured = _Captured(hm, ids, keep, joins, edits, patterns)
                except Exception as err:  # an optimisation only: stay eager
                    if patterns:  # expected for some attention edits: this shape stays eager
                        self._eager.put(key, True)
                    else:
                        self.disabled = True
                        warnings.warn(f"CUDA graph capture of sweeps failed ({err})", stacklevel=3)
                else:
                    self.cache.put(key, captured)
        if captured is None:
            return eager()  # type: ignore[no-any-return]
        return captured.replay(ids, edits)

    def _capturable(self, key: Any, patterns: iv.Compiled | None) -> bool:
        """Whether this shape may be captured: attention edits that name keys by token
        string follow the ids on the host (a sync per forward), and a shape whose capture
        failed once stays eager."""
        if not patterns:
            return True
        return not patterns.uses_strings and self._eager.get(key) is None


class _Captured:
    """One captured batched forward with its static inputs."""

    def __init__(
        self,
        hm: Any,
        ids: torch.Tensor,
        keep: int,
        joins: dict[int, int],
        edits: dict[int, iv.LayerEdit],
        patterns: iv.Compiled | None = None,
    ) -> None:
        import torch

        self.ids = ids.clone()
        self.patterns = patterns  # read in place by the graph: kept alive with it
        self._sources: dict[int, iv.LayerEdit] = {}  # what each buffer was last copied from
        weights = {layer: hm.out_projs[layer].weight for layer in edits}
        self.buffers = {
            layer: _clone(edit.to(weights[layer].device, weights[layer].dtype))
            for layer, edit in edits.items()
        }
        blocks = hm.model.get_submodule(hm.layout.blocks_path)

        def forward() -> torch.Tensor:
            with (
                torch.no_grad(),
                iv.grow_batch(blocks, joins),
                hm.attention_site(patterns),
                iv.apply_placed_edits(
                    hm.model, hm.out_projs, hm.n_heads, self.buffers, track_offset=False
                ),
            ):
                return hm.forward(self.ids, keep)

        self.graph, self.out = capture_graph(forward, warmup=2)

    def replay(self, ids: torch.Tensor, edits: dict[int, iv.LayerEdit]) -> torch.Tensor:
        self.ids.copy_(ids)
        for layer, edit in edits.items():
            if self._sources.get(layer) is edit:
                continue  # the buffers already hold this (cached, never written) edit
            self._sources[layer] = edit
            buf = self.buffers[layer]
            buf.scale.copy_(edit.scale)
            if edit.replace_mask is not None and buf.replace_mask is not None:
                buf.replace_mask.copy_(edit.replace_mask)
            if edit.replacement is not None and buf.replacement is not None:
                buf.replacement.copy_(edit.replacement)
            if edit.offset is not None and buf.offset is not None:
                buf.offset.copy_(edit.offset)
        self.graph.replay()
        return self.out


def capture_graph(forward: Callable[[], T], warmup: int = 3) -> tuple[torch.cuda.CUDAGraph, T]:
    """Run ``forward`` ``warmup`` times on a side stream (allocator, lazy init), then capture
    one call as a CUDA graph. Returns the graph and that call's output, which every
    ``graph.replay()`` overwrites in place."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            forward()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = forward()
    return graph, out


def _clone(edit: iv.LayerEdit) -> iv.LayerEdit:
    return iv.LayerEdit(
        edit.scale.clone(),
        None if edit.replace_mask is None else edit.replace_mask.clone(),
        None if edit.replacement is None else edit.replacement.clone(),
        None if edit.offset is None else edit.offset.clone(),
    )
