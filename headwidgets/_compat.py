"""What differs between the transformers releases headwidgets supports, in one place.

transformers 5.x renamed the KV cache from ``past_key_values`` to ``cache`` (the old name
still works for a while, with a warning in every user's notebook) and stopped passing
``cache_position`` to the model. Nothing here reads a private keyword by name only: the cache
is found among a call's arguments by its type.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any


@functools.cache
def _cache_type() -> type | None:
    # imported on first use: ``import headwidgets.interventions`` stays free of transformers
    try:
        from transformers.cache_utils import Cache
    except ImportError:  # pragma: no cover - every supported release has it
        return None
    return Cache


def is_cache(value: object) -> bool:
    """True for a transformers KV cache object (by type, else by its ``get_seq_length``)."""
    cache_type = _cache_type()
    if cache_type is not None and isinstance(value, cache_type):
        return True
    return callable(getattr(value, "get_seq_length", None)) and hasattr(value, "update")


@functools.lru_cache(maxsize=64)
def _cache_keyword(forward_type: Any) -> str:
    try:
        params = inspect.signature(forward_type.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - a forward without a signature
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """The keyword a model's ``forward`` takes its KV cache under: ``{"cache": cache}``.

    ``cache`` on transformers releases that renamed it, ``past_key_values`` before.
    """
    model_type: Any = type(model)
    return {_cache_keyword(model_type): cache}


def output_cache(output: Any) -> Any:
    """The KV cache a forward returned (``output.cache``, or ``past_key_values`` before)."""
    fields = getattr(output, "__dataclass_fields__", None) or {}
    if "cache" in fields:
        return output.cache
    if isinstance(output, Mapping) and "cache" in output:
        return output["cache"]
    return output.past_key_values


def call_offset(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """Absolute position of the first token of a model call (non-zero while decoding).

    Read from ``cache_position`` where a release still passes it, else from the length of the
    KV cache found among the call's arguments by its type (whatever its keyword), else 0.
    """
    cache_position = kwargs.get("cache_position")
    if cache_position is not None and getattr(cache_position, "numel", lambda: 0)():
        return int(cache_position.reshape(-1)[0])
    for value in (*kwargs.values(), *args):
        if value is not None and is_cache(value):
            return int(value.get_seq_length())
    return 0
