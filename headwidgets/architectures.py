"""Where each architecture keeps its heads: a data table, not code paths.

Every architecture is reached at ONE site: the input of the attention output projection
(``c_proj``, ``o_proj``, ``dense``, ``out_proj``, ...). There the tensor is the concatenation of
the per-head outputs ``z`` (batch × position × heads·head_dim), so head ``h`` is the exact slice
``[..., h * head_dim:(h + 1) * head_dim]``. Slicing the projection's *output* would mix heads.

The table gives, per ``config.model_type``, the attention module and output projection paths
relative to one block, and which config keys hold the head counts. Blocks are found as the
``nn.ModuleList`` whose length is the number of layers. Models that are not in the table get a
generic search; if it fails, :class:`UnsupportedArchitectureError` lists the supported types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


class UnsupportedArchitectureError(ValueError):
    """The model has no attention output projection headwidgets can find."""


@dataclass(frozen=True)
class ArchSpec:
    """Where one architecture keeps its heads (paths are relative to one block)."""

    attention: str
    """The attention module; with eager attention its forward returns (output, probs, ...)."""
    out_proj: str
    """The attention output projection; its INPUT is the concatenated head outputs z."""
    qkv: tuple[str, ...] = ()
    """Query/key/value projections (one fused path, or three paths q, k, v)."""
    causal: bool = True
    """Decoder (causal) or encoder (bidirectional)."""


_LLAMA_LIKE = ArchSpec(
    "self_attn",
    "self_attn.o_proj",
    ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
)
_BERT_LIKE = ArchSpec(
    "attention.self",
    "attention.output.dense",
    ("attention.self.query", "attention.self.key", "attention.self.value"),
    causal=False,
)

ARCHITECTURES: dict[str, ArchSpec] = {
    "gpt2": ArchSpec("attn", "attn.c_proj", ("attn.c_attn",)),
    "gpt_neo": ArchSpec(
        "attn.attention",
        "attn.attention.out_proj",
        ("attn.attention.q_proj", "attn.attention.k_proj", "attn.attention.v_proj"),
    ),
    "gpt_neox": ArchSpec("attention", "attention.dense", ("attention.query_key_value",)),
    "gptj": ArchSpec("attn", "attn.out_proj", ("attn.q_proj", "attn.k_proj", "attn.v_proj")),
    "opt": ArchSpec(
        "self_attn",
        "self_attn.out_proj",
        ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    ),
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
    "olmo": _LLAMA_LIKE,
    "phi3": ArchSpec("self_attn", "self_attn.o_proj", ("self_attn.qkv_proj",)),
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
    "distilbert": ArchSpec(
        "attention",
        "attention.out_lin",
        ("attention.q_lin", "attention.k_lin", "attention.v_lin"),
        causal=False,
    ),
}
"""Supported ``config.model_type`` values and where their heads are."""

_HEAD_KEYS = ("num_attention_heads", "n_head", "n_heads", "num_heads")
_KV_KEYS = ("num_key_value_heads", "n_kv_heads", "num_kv_heads", "multi_query_group_num")
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "n_layers", "num_layers")
_CTX_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length")
# generic search: names an attention output projection goes by, and names attention goes by
_PROJ_NAMES = ("o_proj", "out_proj", "c_proj", "dense", "out_lin", "wo", "proj")
_ATTN_NAMES = ("self_attn", "attn", "attention", "self_attention", "mixer")


def supported_model_types() -> list[str]:
    """The ``config.model_type`` values in the table, sorted."""
    return sorted(ARCHITECTURES)


def _config_value(config: Any, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def text_config(config: Any) -> Any:
    """The text part of a (possibly multimodal) config."""
    getter = getattr(config, "get_text_config", None)
    return getter() if callable(getter) else config


def get_module(root: nn.Module, path: str) -> nn.Module:
    """``root.get_submodule(path)`` with an error naming the path."""
    try:
        return root.get_submodule(path)
    except AttributeError as err:
        raise UnsupportedArchitectureError(
            f"{type(root).__name__} has no submodule {path!r}"
        ) from err


def find_blocks(model: nn.Module, n_layers: int) -> tuple[str, list[nn.Module]]:
    """The path and modules of the transformer block list (a ModuleList of ``n_layers``)."""
    from torch import nn

    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers and n_layers > 0:
            return name, list(module)
    raise UnsupportedArchitectureError(
        f"{type(model).__name__}: found no list of {n_layers} transformer blocks. "
        f"Supported model types: {', '.join(supported_model_types())}."
    )


FINAL_NORMS = ("ln_f", "norm", "final_layer_norm", "final_norm", "final_layernorm")
"""Names of the norm between the last block and the unembedding (on the blocks' parent)."""
INPUT_NORMS = ("ln_1", "input_layernorm", "attention_norm", "ln_attn", "self_attn_layer_norm")
"""Names of a block's norm in front of attention."""


def is_conv1d(module: nn.Module) -> bool:
    """GPT-2's ``Conv1D``: a Linear whose weight is stored (in, out)."""
    return type(module).__name__ == "Conv1D"


def linear_weight(module: nn.Module) -> Any:
    """The (out, in) weight of a Linear-like projection (nn.Linear or GPT-2's Conv1D)."""
    weight: Any = module.weight
    return weight.T if is_conv1d(module) else weight


def projection_in_features(module: nn.Module) -> int | None:
    """Input width of a Linear-like projection (nn.Linear or GPT-2's Conv1D)."""
    width: Any = getattr(module, "in_features", None)
    if width is None and is_conv1d(module):
        width = getattr(module, "nx", None)
    return None if width is None else int(width)


def first_module(parent: nn.Module, names: tuple[str, ...]) -> nn.Module | None:
    """The first of ``names`` that ``parent`` has as a submodule (norm lookups), else None."""
    for name in names:
        module = getattr(parent, name, None)
        if module is not None:
            return module  # type: ignore[no-any-return]
    return None


def generic_spec(block: nn.Module, width: int) -> ArchSpec | None:
    """Search one block for an attention output projection taking ``width`` inputs.

    Returns None when nothing fits. The projection must sit inside a submodule whose name
    looks like attention and be called like one of the usual projection names.
    """
    candidates: list[tuple[str, str]] = []
    for name, module in block.named_modules():
        parts = name.split(".")
        if len(parts) < 2 or parts[-1] not in _PROJ_NAMES:
            continue
        attn_idx = [i for i, part in enumerate(parts[:-1]) if part in _ATTN_NAMES]
        if not attn_idx or projection_in_features(module) != width:
            continue
        candidates.append((".".join(parts[: attn_idx[-1] + 1]), name))
    if not candidates:
        return None
    attention, out_proj = candidates[0]
    return ArchSpec(attention, out_proj)


@dataclass(frozen=True)
class Layout:
    """Resolved head layout of one bound model."""

    spec: ArchSpec
    blocks_path: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_model: int
    n_ctx: int | None
    model_type: str


def resolve(model: nn.Module) -> Layout:
    """Find where ``model`` keeps its heads.

    Raises
    ------
    UnsupportedArchitectureError
        When neither the table nor the generic search finds an attention output projection;
        the message lists the supported model types.
    """
    config = text_config(getattr(model, "config", None))
    supported = ", ".join(supported_model_types())
    if config is None:
        raise UnsupportedArchitectureError(
            f"{type(model).__name__} has no `config`; headwidgets needs a Hugging Face "
            f"transformers model. Supported model types: {supported}."
        )
    model_type = str(getattr(config, "model_type", "") or "")
    n_layers = _config_value(config, _LAYER_KEYS)
    n_heads = _config_value(config, _HEAD_KEYS)
    if n_layers is None or n_heads is None:
        raise UnsupportedArchitectureError(
            f"{type(model).__name__} (model_type={model_type!r}): its config names no layer "
            f"or head count. Supported model types: {supported}."
        )
    blocks_path, blocks = find_blocks(model, n_layers)
    spec = ARCHITECTURES.get(model_type)
    if spec is None:
        hidden = _config_value(config, ("hidden_size", "n_embd", "d_model", "dim"))
        head_dim = getattr(config, "head_dim", None)
        width = n_heads * head_dim if isinstance(head_dim, int) else hidden
        spec = generic_spec(blocks[0], width) if width else None
        if spec is None:
            raise UnsupportedArchitectureError(
                f"{type(model).__name__} (model_type={model_type!r}) is not supported: no "
                f"attention output projection found by the generic search. Supported model "
                f"types: {supported}."
            )
    out_proj = get_module(blocks[0], spec.out_proj)
    width = projection_in_features(out_proj)
    if width is None or width % n_heads:
        raise UnsupportedArchitectureError(
            f"{type(model).__name__}: the output projection {spec.out_proj!r} takes {width} "
            f"inputs, not a multiple of {n_heads} heads."
        )
    d_model = int(linear_weight(out_proj).shape[0])
    n_kv = _config_value(config, _KV_KEYS) or n_heads
    if n_heads % n_kv:
        raise UnsupportedArchitectureError(
            f"{n_heads} query heads cannot share {n_kv} key/value heads evenly."
        )
    causal = spec.causal and not bool(getattr(config, "is_encoder_decoder", False))
    if causal != spec.causal:
        spec = ArchSpec(spec.attention, spec.out_proj, spec.qkv, causal)
    return Layout(
        spec=spec,
        blocks_path=blocks_path,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=width // n_heads,
        d_model=d_model,
        n_ctx=_config_value(config, _CTX_KEYS),
        model_type=model_type,
    )
