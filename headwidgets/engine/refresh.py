"""The refresh path: one prompt, re-run under changing interventions as fast as possible.

A :class:`Refresher` holds static per-layer edit buffers (scale, replace mask, replacement,
offset) wired into every head site. A new intervention is written into the buffers in place,
and the forward runs either eagerly or — on CUDA, where shapes are static — as a replayed CUDA
graph captured once (no Python, no kernel launches per layer). Any failure to capture falls
back cleanly to the eager path with the same buffers; the results agree within dtype
tolerance (tested on the GPU).

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("circuits-4l")
>>> r = Refresher(hm, "When Mary and John went to the store, John gave a drink to")
>>> logits = r.logits(hw.Intervention.scale({(3, 0): 0.0}))   # (logits_to_keep, V) float32
>>> logits.shape == (1, hm.vocab_size)
True
"""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Any, Literal

from headwidgets import interventions as iv
from headwidgets.engine.graphs import capture_graph

if TYPE_CHECKING:
    import torch

    from headwidgets.engine.core import Engine

GraphMode = Literal["auto", "on", "off"]


class Refresher:
    """Fast repeated runs of one prompt under changing interventions.

    Parameters
    ----------
    hm
        The bound model.
    prompt
        The prompt (fixed for the refresher's life).
    logits_to_keep
        Trailing positions whose logits come back (default 1: the next-token distribution).
    cuda_graph
        ``"auto"`` (default): capture a CUDA graph when the model is on one CUDA device;
        ``"off"``: always eager; ``"on"``: raise if capture fails.
    """

    def __init__(
        self,
        hm: Engine,
        prompt: str,
        logits_to_keep: int | None = 1,
        cuda_graph: GraphMode = "auto",
    ) -> None:
        import torch

        if cuda_graph not in ("auto", "on", "off"):
            raise ValueError(f"cuda_graph must be 'auto', 'on' or 'off', got {cuda_graph!r}")
        self.hm = hm
        self.prompt = prompt
        self.tokens = hm.tokenize(prompt)
        self.n_pos = len(self.tokens)
        self.keep = self.n_pos if logits_to_keep is None else int(logits_to_keep)
        if not 1 <= self.keep <= self.n_pos:
            raise ValueError(f"logits_to_keep must be in 1..{self.n_pos}, got {logits_to_keep}")
        heads, head_dim = hm.n_heads, hm.head_dim
        self._buffers: dict[int, iv.LayerEdit] = {}
        for layer, proj in enumerate(hm.out_projs):
            device, dtype = proj.weight.device, proj.weight.dtype
            if device.type == "meta":
                device = hm.device
            self._buffers[layer] = iv.LayerEdit(
                torch.ones(1, self.n_pos, heads, device=device, dtype=dtype),
                torch.zeros(1, self.n_pos, heads, device=device, dtype=torch.bool),
                torch.zeros(1, self.n_pos, heads, head_dim, device=device, dtype=dtype),
                torch.zeros(1, self.n_pos, heads, head_dim, device=device, dtype=dtype),
            )
        self._written: dict[int, iv.LayerEdit | None] = dict.fromkeys(self._buffers)
        devices = {proj.weight.device for proj in hm.out_projs} | {hm.device}
        one_cuda_device = len(devices) == 1 and hm.device.type == "cuda"
        self._graph: Any = None
        self._graph_out: torch.Tensor | None = None
        self.uses_cuda_graph = False
        if cuda_graph == "on" and not one_cuda_device:
            raise ValueError("cuda_graph='on' needs the model on one CUDA device")
        if cuda_graph != "off" and one_cuda_device:
            try:
                self._capture()
                self.uses_cuda_graph = True
            except Exception as err:  # capture is an optimisation: fall back to eager
                self._graph, self._graph_out = None, None
                if cuda_graph == "on":
                    raise
                warnings.warn(
                    f"CUDA graph capture failed ({err}); refreshing eagerly", stacklevel=2
                )

    # -- buffers -----------------------------------------------------------------------
    def _write(self, spec: iv.Intervention) -> None:
        """Write ``spec`` into the static buffers (identity everywhere it does not edit)."""
        hm = self.hm
        plans = iv.compile_specs(
            [spec], hm.n_layers, hm.n_heads, hm.head_dim, self.n_pos, hm.head_z
        )
        for layer, buf in self._buffers.items():
            plan = plans.get(layer)
            if plan is None and self._written[layer] is None:
                continue  # identity before and after: nothing to write
            self._written[layer] = plan
            assert buf.replace_mask is not None and buf.replacement is not None
            assert buf.offset is not None
            if plan is None:
                buf.scale.fill_(1.0)
                buf.replace_mask.fill_(False)
                buf.offset.fill_(0.0)
                continue
            buf.scale.copy_(plan.scale.expand(1, self.n_pos, -1))
            if plan.offset is None:
                buf.offset.fill_(0.0)
            else:
                buf.offset.copy_(plan.offset.expand(1, self.n_pos, -1, -1))
            if plan.replace_mask is None or plan.replacement is None:
                buf.replace_mask.fill_(False)
            else:
                buf.replace_mask.copy_(plan.replace_mask.expand(1, self.n_pos, -1))
                buf.replacement.copy_(plan.replacement.expand(1, self.n_pos, -1, -1))

    @contextlib.contextmanager
    def _hooks(self) -> Any:
        hm = self.hm
        with iv.apply_placed_edits(
            hm.model, hm.out_projs, hm.n_heads, self._buffers, track_offset=False
        ):
            yield

    def _eager(self) -> torch.Tensor:
        import torch

        with torch.no_grad(), self._hooks():
            return self.hm.forward(self.tokens.input_ids, self.keep)

    def _capture(self) -> None:
        self._write(iv.Intervention())
        self._graph, self._graph_out = capture_graph(self._eager)

    # -- public ------------------------------------------------------------------------
    def _inside(self, spec: iv.Intervention) -> torch.Tensor:
        """An edit inside attention (``interventions.attention``): eager, through ``intervene``."""
        import torch

        with torch.no_grad(), self.hm.intervene(spec):
            return self.hm.forward(self.tokens.input_ids, self.keep)

    def logits(self, spec: iv.Intervention | None = None) -> torch.Tensor:
        """Logits (logits_to_keep, V) of the prompt under ``spec``, float32 on the CPU."""
        if spec is not None and spec.attention:
            return self._inside(spec)[0].float().cpu()
        self._write(spec or iv.Intervention())
        if self._graph is not None and self._graph_out is not None:
            self._graph.replay()
            out = self._graph_out
        else:
            out = self._eager()
        return out[0].float().cpu()

    def logits_on_device(self, spec: iv.Intervention | None = None) -> torch.Tensor:
        """Like :meth:`logits` but left on the device (no copy; overwritten by the next call
        when a CUDA graph is in use)."""
        if spec is not None and spec.attention:
            return self._inside(spec)[0]
        self._write(spec or iv.Intervention())
        if self._graph is not None and self._graph_out is not None:
            self._graph.replay()
            return self._graph_out[0]
        return self._eager()[0]
