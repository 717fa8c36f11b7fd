"""The inside-attention site: headwidgets' attention function and the block that switches
a model to it.

The second site next to the head output z (``hooks.py``, ``compile.py``). ONE attention
function, registered with transformers' ``AttentionInterface`` under :data:`NAME`, is switched
on only inside :func:`switched` (the user's ``attn_implementation`` is restored on every exit
path, exceptions included). It receives q (after rotary embeddings), k and v per key/value
head, the mask and the scaling. Every layer first runs the user's own kernel (sdpa stays
sdpa, eager stays eager; a flash or flex kernel is replaced by sdpa inside the block, whose
masks this function can read); only the edited (row, head) pairs of the edited layers are
recomputed from q, k, v (``attention_call.py``) and spliced into its output, so editing one
head does not make the model eager. Pattern edits are defined in ``attention_edits.py``;
q/k/v edits (``vectors.py``) change q, k, v before the kernel runs; readers
(``HeadModel.capture_attention``) see each call after the edits. Models whose attention does
not dispatch through the interface (``gpt_neo`` in transformers 5.x) get
:class:`AttentionSiteError` naming those that do.

Positions count from each row's first real token (the KV-cache offset and left padding are
followed, ``hooks.Offset``), so generation with a cache equals uncached generation under
the same edits, and a left-padded batch is edited as each prompt alone.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> spec = hw.Intervention.sink({(1, 0): 0.0}) | hw.Intervention.zero([(0, 1)])
>>> with hm.intervene(spec):                     # attention edit + z edit, one block
...     out = hm.model(hm.tokenize("ba be bi ba be bi").input_ids)
>>> hm.model.config._attn_implementation         # the user's kernel is back
'sdpa'
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwidgets.interventions.attention_call import Pairs, Read, edit_heads, gather_pairs
from headwidgets.interventions.attention_edits import LayerPatternEdit
from headwidgets.interventions.hooks import Ids, Offset, require_sites
from headwidgets.interventions.vectors import TargetEdit

if TYPE_CHECKING:
    import torch
    from torch import nn


NAME = "headwidgets"
"""The name headwidgets' attention function is registered under (AttentionInterface)."""

SUPPORTED_MODEL_TYPES: tuple[str, ...] = (
    "bert",
    "distilbert",
    "gemma",
    "gemma2",
    "gpt2",
    "gpt_neox",
    "gptj",
    "llama",
    "mistral",
    "olmo",
    "opt",
    "phi3",
    "qwen2",
    "qwen3",
    "roberta",
)
"""Model types of the architecture table whose attention dispatches through transformers'
``AttentionInterface`` (checked against transformers by the tests); ``gpt_neo`` does not."""


class AttentionSiteError(ValueError):
    """The model's attention does not dispatch through transformers' AttentionInterface."""


@dataclass(eq=False)
class _LayerSite:
    """What one ``with`` block does at one layer: pattern edits, q/k/v edits, a reader."""

    plan: LayerPatternEdit | None
    layer: int
    offset: Offset
    ids: Ids | None
    placed: dict[Any, Any]
    ran: set[int]
    vectors: dict[str, TargetEdit] | None = None
    reader: Callable[[int, Read], None] | None = None

    def pairs(self, n_rows: int, device: Any) -> Pairs | None:
        """The pairs this layer edits in a batch of ``n_rows`` (cached per size and device)."""
        assert self.plan is not None
        key = (n_rows, device)
        gathered = self.plan.gathered
        if key not in gathered:
            gathered[key] = gather_pairs(self.plan, n_rows, device)
        return gathered[key]  # type: ignore[no-any-return]

    def vectors_on(self, device: Any) -> dict[str, TargetEdit]:
        assert self.vectors is not None
        key = ("vectors", device)
        placed = self.placed.get(key)
        if placed is None:
            placed = self.placed[key] = {t: e.to(device) for t, e in self.vectors.items()}
        return placed  # type: ignore[no-any-return]


_SITES: dict[int, list[_LayerSite]] = {}
"""id(attention module) -> the sites active on it (inner ``with`` blocks last)."""
_KERNEL: dict[int, str] = {}
"""id(attention module) -> the user's kernel for it ("sdpa" or "eager")."""
_MASK: dict[int, str] = {}
"""id(config) -> the mask format of the user's kernel ("sdpa" or "eager")."""
_registered = False


def _register() -> None:
    """Register :data:`NAME` with transformers' attention and mask interfaces (once)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, attention_forward)
    AttentionMaskInterface.register(NAME, _mask)
    _registered = True


def _mask(*args: Any, **kwargs: Any) -> Any:
    """The mask the user's kernel would get (sdpa's may be None: causal, no padding)."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    kind = _MASK.get(id(kwargs.get("config")), "sdpa")
    return ALL_MASK_ATTENTION_FUNCTIONS[kind](*args, **kwargs)


def _kernel(module: nn.Module) -> Callable[..., Any]:
    """The function the module would run under the user's own attention implementation."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    name = _KERNEL.get(id(module), "sdpa")
    if name == "eager":
        own = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
        return own if callable(own) else eager_attention
    return ALL_ATTENTION_FUNCTIONS[name]  # type: ignore[no-any-return]


def eager_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain eager attention (for modules whose family defines none of its own)."""
    import torch

    rep = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(rep, 1), value.repeat_interleave(rep, 1)
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    logits = (query @ key.transpose(-1, -2)) * scale
    if attention_mask is not None:
        logits = _add_mask(logits, attention_mask)
    probs = torch.softmax(logits.float(), dim=-1).to(query.dtype)
    return (probs @ value).transpose(1, 2).contiguous(), probs


def _add_mask(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    import torch

    if mask.dtype == torch.bool:
        return logits.masked_fill(~mask, float("-inf"))
    return logits + mask


def attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """headwidgets' attention function (registered as :data:`NAME`).

    Runs the user's kernel on every head, then recomputes the heads the active sites edit
    from q (B, Hq, Tq, D), k and v (B, Hkv, Tk, D) and splices them into its output
    (B, Tq, Hq, D) and, when the kernel returns them, into its probabilities.
    """
    sites = _SITES.get(id(module), ())
    if not sites:
        return _kernel(module)(  # type: ignore[no-any-return]
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    offset = sites[0].offset
    call = Read(
        module, query, key, value, attention_mask, scaling, kwargs, offset.value, offset.pad
    )
    call.keep_edited = any(site.reader is not None for site in sites)
    for site in sites:
        site.ran.add(site.layer)
        if site.vectors:
            placed = site.vectors_on(query.device)
            if "q" in placed:
                call.q = placed["q"].apply(call.q, call.queries)
            if "k" in placed:
                call.k = placed["k"].apply(call.k, call.keys)
            if "v" in placed:
                call.v = placed["v"].apply(call.v, call.keys)
    out, weights = _kernel(module)(
        module, call.q, call.k, call.v, attention_mask, scaling=scaling, dropout=dropout, **kwargs
    )
    for site in sites:
        if site.plan is not None:
            pairs = site.pairs(call.q.shape[0], call.q.device)
            if pairs is not None:
                ids = site.ids.value if site.ids is not None else None
                out, weights = edit_heads(site.plan, pairs, site.layer, ids, call, out, weights)
    for site in sites:
        if site.reader is not None:
            site.reader(site.layer, call)
    return out, weights


def check_dispatch(model: nn.Module) -> None:
    """Raise :class:`AttentionSiteError` unless ``model``'s attention uses the interface."""
    can_set = getattr(type(model), "_can_set_attn_implementation", None)
    if callable(can_set) and can_set():
        return
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", type(model).__name__)
    raise AttentionSiteError(
        f"{type(model).__name__} (model_type={model_type!r}) does not dispatch its attention "
        "through transformers' AttentionInterface, so headwidgets cannot edit inside its "
        "attention (edits of the head output z still work). Model types with the "
        f"inside-attention site: {', '.join(SUPPORTED_MODEL_TYPES)}."
    )


def _missed_attention(missed: list[int]) -> Exception:
    return AttentionSiteError(
        f"layers {missed} have attention edits but their attention did not run "
        f"through headwidgets' attention function; model types with the "
        f"inside-attention site: {', '.join(SUPPORTED_MODEL_TYPES)}"
    )


@contextlib.contextmanager
def switched(
    model: nn.Module,
    attention_modules: Sequence[nn.Module],
    plans: Mapping[int, LayerPatternEdit],
    offset: Offset,
    ids: Ids | None = None,
    vectors: Mapping[int, dict[str, TargetEdit]] | None = None,
    readers: Mapping[int, Callable[[int, Read], None]] | None = None,
) -> Iterator[None]:
    """Run ``model`` with headwidgets' attention function inside the block.

    ``plans`` (layer -> compiled pattern edits) and ``vectors`` (layer -> compiled q/k/v
    edits, ``vectors.py``) act on the layers' attention; ``readers`` (layer ->
    ``fn(layer, Read)``) see each call after the edits. ``offset`` (``hooks.position_offsets``)
    says where each call's tokens sit (KV-cache offset, left padding). The user's
    ``attn_implementation`` is restored on exit (exceptions included); nested blocks stack
    (an inner block's edit of a head acts after the outer one's). Every edited layer must
    run its attention through the function during each forward, or the forward raises.
    """
    _register()
    check_dispatch(model)
    config: Any = model.config
    before = config._attn_implementation
    outer = before != NAME
    pushed: list[tuple[int, _LayerSite]] = []
    configs = {id(m.config): m.config for m in model.modules() if hasattr(m, "config")}
    configs[id(config)] = config
    vectors = vectors or {}
    readers = readers or {}
    wanted = set(plans) | set(vectors) | set(readers)
    try:
        with contextlib.ExitStack() as stack:
            ran = (
                stack.enter_context(require_sites(model, wanted, _missed_attention))
                if wanted
                else set()
            )
            for layer in sorted(wanted):
                site = _LayerSite(
                    plans.get(layer),
                    layer,
                    offset,
                    ids,
                    {},
                    ran,
                    vectors.get(layer),
                    readers.get(layer),
                )
                key = id(attention_modules[layer])
                _SITES.setdefault(key, []).append(site)
                pushed.append((key, site))
            if outer:
                kernel = before if before in ("eager", "sdpa") else "sdpa"
                for module in attention_modules:
                    _KERNEL[id(module)] = kernel
                for key in configs:
                    _MASK[key] = kernel
                model.set_attn_implementation(NAME)  # type: ignore[operator]
                if config._attn_implementation != NAME:
                    raise AttentionSiteError(
                        f"{type(model).__name__} did not switch to headwidgets' attention "
                        f"function; model types with the inside-attention site: "
                        f"{', '.join(SUPPORTED_MODEL_TYPES)}"
                    )
            yield
    finally:
        for key, site in pushed:
            stack_ = _SITES.get(key, [])
            stack_[:] = [other for other in stack_ if other is not site]
            if not stack_:
                _SITES.pop(key, None)
        if outer:
            try:
                if config._attn_implementation != before:
                    model.set_attn_implementation(before)  # type: ignore[operator]
            finally:
                for module in attention_modules:
                    _KERNEL.pop(id(module), None)
                for key in configs:
                    _MASK.pop(key, None)


@dataclass(eq=False)
class Compiled:
    """The inside-attention edits of N spec rows: pattern and q/k/v edits per layer."""

    patterns: dict[int, LayerPatternEdit]
    vectors: dict[int, dict[str, TargetEdit]]
    chunks: dict[Any, Compiled] = field(default_factory=dict)
    """Selected rows (see :meth:`select`) by the caller's key, kept for repeated runs."""

    def __bool__(self) -> bool:
        return bool(self.patterns) or bool(self.vectors)

    def select(self, rows: Any, key: Any = None) -> Compiled:
        """The edits of the given rows (chunked runs), in that order; with a ``key``, the
        selection is kept and returned again for the same key."""
        if key is not None and key in self.chunks:
            return self.chunks[key]
        chosen = Compiled(
            {layer: e.select(rows) for layer, e in self.patterns.items()},
            {layer: {t: e.select(rows) for t, e in d.items()} for layer, d in self.vectors.items()},
        )
        if key is not None:
            self.chunks[key] = chosen
        return chosen

    @property
    def uses_strings(self) -> bool:
        """Whether a reweight names keys by token string (the ids must be followed)."""
        return any(bool((plan.key_ids >= 0).any()) for plan in self.patterns.values())


@contextlib.contextmanager
def eager_kernel(model: nn.Module, attention_modules: Sequence[nn.Module]) -> Iterator[None]:
    """While headwidgets' function is on, run eager attention as the user's kernel inside the
    block (attention probabilities for pattern scores, edited where pattern edits act)."""
    configs = {id(m.config) for m in model.modules() if hasattr(m, "config")}
    configs.add(id(model.config))
    kernels = {id(m): _KERNEL.get(id(m)) for m in attention_modules}
    masks = {key: _MASK.get(key) for key in configs}
    try:
        for module in attention_modules:
            _KERNEL[id(module)] = "eager"
        for key in configs:
            _MASK[key] = "eager"
        yield
    finally:
        for key, kernel in kernels.items():
            if kernel is None:
                _KERNEL.pop(key, None)
            else:
                _KERNEL[key] = kernel
        for key, mask in masks.items():
            if mask is None:
                _MASK.pop(key, None)
            else:
                _MASK[key] = mask
