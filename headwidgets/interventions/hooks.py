"""Hooks: the ONLY code in headwidgets that registers hooks on a model.

Both sites are reached from here: the head output z (:func:`site_hooks`, the output
projection's input; :func:`apply_edits` applies compiled z edits there) and, for the
inside-attention site (``attention.py``), what its ``with`` block needs around each forward:
the call's position (:func:`position_offsets`), its token ids (:func:`track_ids`) and the
count check (:func:`require_sites`). Every site checks that it ran: after a forward under
an edit, each edited layer's site must have run, or the forward raises. Every hook is
registered inside a ``with`` block and removed on exit, exceptions included.

Positions count from each row's first real token: :class:`Offset` holds the call's offset
in the sequence (a KV cache's length while generating) and each row's left padding, read
from the call's 2-D ``attention_mask``; the position of token t of row r is
``value + t − pad[r]``, so a left-padded batch is edited as each prompt alone.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from headwidgets._compat import call_offset
from headwidgets.interventions.compile import LayerEdit

if TYPE_CHECKING:
    import torch
    from torch import nn

SiteFn = Callable[[int, "torch.Tensor", Any], "torch.Tensor | None"]
"""(layer, z (B, T, H, D), start: int or (B,) per row) -> edited z, or None to leave it."""


class Offset:
    """Where the current call's tokens sit: ``value`` is the index of its first token in the
    sequence (non-zero while decoding with a KV cache), ``pad`` (B,) each row's left padding
    (None when no row is left-padded)."""

    def __init__(self) -> None:
        self.value = 0
        self.pad: torch.Tensor | None = None

    @property
    def start(self) -> int | torch.Tensor:
        """Position of the call's first token: an int, or (B,) per row under left padding."""
        return self.value if self.pad is None else self.value - self.pad


@functools.lru_cache(maxsize=64)
def _mask_index(forward_type: Any) -> int | None:
    """Where ``attention_mask`` sits among a model's positional arguments (None: nowhere)."""
    try:
        names = [p for p in inspect.signature(forward_type.forward).parameters if p != "self"]
    except (TypeError, ValueError):  # pragma: no cover - a forward without a signature
        return None
    return names.index("attention_mask") if "attention_mask" in names else None


def left_padding(
    model: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> torch.Tensor | None:
    """Each row's left padding (B,) from a call's 2-D ``attention_mask``; None when there is
    no such mask or no row starts with padding."""
    import torch

    mask = kwargs.get("attention_mask")
    if mask is None:
        model_type: Any = type(model)
        index = _mask_index(model_type)
        mask = args[index] if index is not None and index < len(args) else None
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
        return None
    if not bool((mask[:, 0] == 0).any()):
        return None  # no row starts with padding (right-padded or none)
    return (mask != 0).int().argmax(dim=-1)  # leading zeros; an all-padding row: 0


@contextlib.contextmanager
def position_offsets(model: nn.Module) -> Iterator[Offset]:
    """Keep an :class:`Offset` up to date with every forward of ``model`` in the block."""
    offset = Offset()

    def pre(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        offset.value = call_offset(args, kwargs)
        offset.pad = left_padding(module, args, kwargs)

    handle = model.register_forward_pre_hook(pre, with_kwargs=True)
    try:
        yield offset
    finally:
        handle.remove()


class Ids:
    """The token ids of every position so far in the current sequence (for string keys)."""

    def __init__(self) -> None:
        self.value: torch.Tensor | None = None


@contextlib.contextmanager
def track_ids(model: nn.Module) -> Iterator[Ids]:
    """Follow the token ids of the current sequence across KV-cache steps (string keys)."""
    import torch

    ids = Ids()

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


@contextlib.contextmanager
def site_hooks(
    model: nn.Module,
    out_projs: Sequence[nn.Module],
    n_heads: int,
    fn: SiteFn,
    layers: Iterable[int] | None = None,
    track_offset: bool = True,
) -> Iterator[None]:
    """Call ``fn(layer, z, start)`` at the head site of each layer during forwards.

    ``z`` is a (B, T, H, D) view of the output projection's input. When ``fn`` returns a
    tensor, it replaces z as that input. ``start`` is the position of the call's first
    token (:attr:`Offset.start`: 0 unless ``track_offset`` and a KV cache or left padding
    is in use).
    """
    handles = []
    chosen = range(len(out_projs)) if layers is None else sorted(set(layers))
    with (
        position_offsets(model) if track_offset else contextlib.nullcontext(Offset()) as offset,
        require_sites(model, chosen, _missed_head_site(out_projs)) as fired,
    ):
        try:
            for layer in chosen:

                def pre(
                    module: nn.Module, args: tuple[Any, ...], layer: int = layer
                ) -> tuple[Any, ...] | None:
                    fired.add(layer)
                    new = fn(layer, args[0].unflatten(-1, (n_heads, -1)), offset.start)
                    return None if new is None else (new.flatten(-2), *args[1:])

                handles.append(out_projs[layer].register_forward_pre_hook(pre))
            yield
        finally:
            for handle in handles:
                handle.remove()


def _missed_head_site(out_projs: Sequence[nn.Module]) -> Callable[[list[int]], Exception]:
    def error(missed: list[int]) -> Exception:
        names = ", ".join(type(out_projs[layer]).__name__ for layer in missed[:3])
        return RuntimeError(
            f"the head site of layer(s) {missed} did not run during this forward, so "
            f"their edits were not applied: the model no longer calls the bound output "
            f"projection ({names}) of those layers. Was a module replaced after "
            "binding? Bind the model again (hw.bind) to find its current projections."
        )

    return error


@contextlib.contextmanager
def require_sites(
    model: nn.Module, layers: Iterable[int], error: Callable[[list[int]], Exception]
) -> Iterator[set[int]]:
    """Raise ``error(missed layers)`` after a forward of ``model`` in which a site did not run.

    Yields the set the site adds its layer to each time it runs; every site (the head
    output, inside attention) checks itself with it. A forward that bypasses the site (a
    re-implemented attention, a swapped module) would otherwise edit nothing and say nothing.
    """
    wanted = set(layers)
    fired: set[int] = set()

    def pre(module: nn.Module, args: tuple[Any, ...]) -> None:
        fired.clear()

    def post(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        missed = sorted(wanted - fired)
        if missed:
            raise error(missed)

    handles = [model.register_forward_pre_hook(pre), model.register_forward_hook(post)]
    try:
        yield fired
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def apply_edits(
    model: nn.Module,
    out_projs: Sequence[nn.Module],
    n_heads: int,
    plans: Mapping[int, LayerEdit],
) -> Iterator[None]:
    """Apply compiled per-layer edits while the block runs."""
    placed: dict[int, LayerEdit] = {}
    for layer, plan in plans.items():
        weight: Any = out_projs[layer].weight
        # offloaded weights live on "meta": such a plan moves to z's device in the hook
        placed[layer] = (
            plan if weight.device.type == "meta" else plan.to(weight.device, weight.dtype)
        )
    with apply_placed_edits(model, out_projs, n_heads, placed):
        yield


@contextlib.contextmanager
def apply_placed_edits(
    model: nn.Module,
    out_projs: Sequence[nn.Module],
    n_heads: int,
    placed: dict[int, LayerEdit],
    track_offset: bool | None = None,
) -> Iterator[None]:
    """Apply per-layer edits as they are: the tensors are read at every forward, so a caller
    may rewrite them in place between forwards (CUDA-graph refresh).

    ``track_offset`` (default: when an edit is positional) follows the position under a KV
    cache and left padding; pass False where neither is used (it reads the cache position
    and the attention mask on the host, which a CUDA graph capture forbids).
    """
    if track_offset is None:
        track_offset = any(plan.positional for plan in placed.values())

    def fn(layer: int, z: torch.Tensor, offset: int | torch.Tensor) -> torch.Tensor:
        plan = placed[layer]
        if plan.scale.device != z.device or plan.scale.dtype != z.dtype:
            # the layer runs elsewhere than its weights live (accelerate offload): follow z
            plan = placed[layer] = plan.to(z.device, z.dtype)
        return plan.apply(z, offset)

    with site_hooks(model, out_projs, n_heads, fn, layers=placed, track_offset=track_offset):
        yield


@contextlib.contextmanager
def pattern_hooks(
    attention_modules: Sequence[nn.Module],
    fn: Callable[[int, torch.Tensor], None],
) -> Iterator[None]:
    """Call ``fn(layer, probs (B, H, Tq, Tk))`` with each attention module's probabilities.

    Needs eager attention (the caller switches it on); raises if a module returns none.
    """
    handles = []
    try:
        for layer, module in enumerate(attention_modules):

            def post(module: nn.Module, args: Any, output: Any, layer: int = layer) -> None:
                probs = output[1] if isinstance(output, tuple) and len(output) > 1 else None
                if probs is None:
                    raise RuntimeError(
                        f"layer {layer}: the attention module {type(module).__name__} returned "
                        "no attention probabilities (is eager attention on?)"
                    )
                fn(layer, probs)

            handles.append(module.register_forward_hook(post))
        yield
    finally:
        for handle in handles:
            handle.remove()


# -- hooks for the scores: attribution patching, direct logit attribution, path patching --


@contextlib.contextmanager
def z_perturbations(
    model: nn.Module,
    out_projs: Sequence[nn.Module],
    n_heads: int,
) -> Iterator[tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]]:
    """Add a zero leaf ``delta`` (requires grad) to each layer's z, for ``torch.autograd.grad``.

    Yields two dicts filled during the forward, layer -> (B, T, H, D): the values of z
    (detached) and the deltas. The forward uses ``z + delta`` with z still attached to the
    layers below, so ``∂metric/∂delta`` is the total derivative with respect to the head
    outputs, through every later layer and every later head. (Replacing z by a detached leaf
    instead would cut the paths through later heads.) Run the forward under
    ``torch.enable_grad()``; values are unchanged since the deltas are zero.
    """
    import torch

    values: dict[int, torch.Tensor] = {}
    deltas: dict[int, torch.Tensor] = {}

    def fn(layer: int, z: torch.Tensor, offset: int | torch.Tensor) -> torch.Tensor:
        delta = torch.zeros_like(z, requires_grad=True)
        values[layer] = z.detach()
        deltas[layer] = delta
        return z + delta

    with site_hooks(model, out_projs, n_heads, fn):
        yield values, deltas


@contextlib.contextmanager
def capture_inputs(
    modules: Sequence[nn.Module],
    fn: Callable[[int, torch.Tensor], None],
) -> Iterator[None]:
    """Call ``fn(index, hidden_states)`` with the first input of each module before it runs.

    Used to read the residual stream at block inputs and at the final norm's input.
    """
    handles = []
    try:
        for index, module in enumerate(modules):

            def pre(
                module: nn.Module,
                args: tuple[Any, ...],
                kwargs: dict[str, Any],
                index: int = index,
            ) -> None:
                hidden = args[0] if args else kwargs.get("hidden_states")
                if hidden is None:
                    raise RuntimeError(
                        f"{type(module).__name__} was called without hidden states to capture"
                    )
                fn(index, hidden)

            handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def grow_batch(blocks: Sequence[nn.Module], joins: Mapping[int, int]) -> Iterator[None]:
    """Grow the batch inside one forward: block l's input gains ``joins[l]`` copies of row 0.

    Rows of a sweep share everything below their first edited layer, so a forward may start
    with one row (the clean carrier, row 0, never edited) and let each row join at the first
    layer it edits: the layers below run once instead of once per row. Only the hidden
    state is expanded; masks and position embeddings of batch 1 broadcast.
    """
    import torch

    handles = []
    try:
        for layer, count in joins.items():
            if count <= 0:
                continue

            def pre(
                module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], count: int = count
            ) -> tuple[tuple[Any, ...], dict[str, Any]]:
                if args:
                    hidden = args[0]
                    grown = torch.cat([hidden, hidden[:1].expand(count, *hidden.shape[1:])])
                    return (grown, *args[1:]), kwargs
                hidden = kwargs["hidden_states"]
                grown = torch.cat([hidden, hidden[:1].expand(count, *hidden.shape[1:])])
                return args, {**kwargs, "hidden_states": grown}

            handles.append(blocks[layer].register_forward_pre_hook(pre, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
