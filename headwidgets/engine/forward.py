"""The one forward, the one greedy-generation loop and the one padder of the package.

Every run of a bound model (batched sweeps and their CUDA graphs, the refresh path, the
widgets' live run, the scores, retrieval's generation, the zoo's measurements) calls
:func:`forward` (through ``hm.forward``) and generates with :func:`greedy` (``hm.generate``),
so baseline and intervened outputs always come from the same numerics. Batches are padded by
:func:`pad`. Nothing here registers a hook: edits are on when the caller's ``with`` blocks
(``hm.intervene``, ``interventions``) are.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l", device="cpu")
>>> batch = pad(hm.tokenizer, [[1, 2, 3], [4]], "left", hm.device)
>>> batch.attention_mask.tolist(), batch.spans
([[1, 1, 1], [0, 0, 1]], [(0, 3), (2, 3)])
>>> logits = forward(hm.model, batch.input_ids, attention_mask=batch.attention_mask,
...                  position_ids=batch.position_ids, keep=1)
>>> logits.shape[:2]
torch.Size([2, 1])
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from headwidgets._compat import cache_kwargs, output_cache

if TYPE_CHECKING:
    import torch

PaddingSide = Literal["left", "right"]


@dataclass
class Batch:
    """A padded batch: tensors on the model's device and each row's real span."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor | None
    """positions counting real tokens only (left padding); None when every row starts at 0"""
    spans: list[tuple[int, int]]
    """(start, stop) of each row's real tokens"""


def pad_id(tokenizer: Any) -> int:
    """The id that fills padding: the tokenizer's pad token, else its end of text, else 0."""
    found = getattr(tokenizer, "pad_token_id", None)
    if found is None:
        found = getattr(tokenizer, "eos_token_id", None) or 0
    return int(found)


def pad(
    tokenizer: Any, rows: Sequence[Sequence[int]], side: PaddingSide, device: torch.device
) -> Batch:
    """Pad token-id rows to one width on ``side``; the attention mask hides the padding and,
    for left padding, ``position_ids`` count real tokens only, so every row sees the
    positions it would see alone."""
    import torch

    if side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {side!r}")
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id(tokenizer), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    spans = []
    for row, tokens in enumerate(rows):
        start = width - len(tokens) if side == "left" else 0
        ids[row, start : start + len(tokens)] = torch.as_tensor(list(tokens), dtype=torch.long)
        mask[row, start : start + len(tokens)] = 1
        spans.append((start, start + len(tokens)))
    position_ids = None
    if side == "left" and any(s for s, _ in spans):
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return Batch(
        ids.to(device),
        mask.to(device),
        None if position_ids is None else position_ids.to(device),
        spans,
    )


@functools.lru_cache(maxsize=64)
def _parameters(model_type: Any) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(model_type.forward).parameters)
    except (TypeError, ValueError):  # pragma: no cover - a forward without a signature
        return frozenset()


def logits_of(out: Any) -> torch.Tensor:
    """The model's logits; a bare encoder (no LM head) gives its last hidden state."""
    logits = getattr(out, "logits", None)
    result: torch.Tensor = logits if logits is not None else out.last_hidden_state
    return result


def call(
    model: Any,
    input_ids: torch.Tensor,
    *,
    attention_mask: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    keep: int | None = None,
    cache: bool = False,
    past: Any = None,
) -> Any:
    """The model's own output of one forward (what :func:`forward` reads its logits from).

    No KV cache is filled unless ``cache`` (nothing continues from a plain forward, and
    filling one costs two copies a layer); ``past`` continues from a returned cache. With
    ``keep``, a model that can computes the logits of the last ``keep`` positions only.
    """
    model_type: Any = type(model)
    params = _parameters(model_type)
    kwargs: dict[str, Any] = {"input_ids": input_ids}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask
    if position_ids is not None:
        if "position_ids" not in params:
            raise ValueError(
                f"{type(model).__name__} takes no position_ids, so left padding would shift "
                "positions; use padding_side='right'"
            )
        kwargs["position_ids"] = position_ids
    if "use_cache" in params:
        kwargs["use_cache"] = bool(cache)
    if past is not None:
        kwargs.update(cache_kwargs(model, past))
    if keep is not None and "logits_to_keep" in params:
        kwargs["logits_to_keep"] = int(keep)
    return model(**kwargs)


def forward(
    model: Any,
    input_ids: torch.Tensor,
    *,
    attention_mask: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    keep: int | None = None,
) -> torch.Tensor:
    """Logits (B, ``keep`` or T, V) of one forward of ``input_ids`` (B, T), no KV cache.

    A model without an LM head gives its last hidden state. Gradients flow unless the caller
    runs under ``torch.no_grad()``.
    """
    out = call(
        model, input_ids, attention_mask=attention_mask, position_ids=position_ids, keep=keep
    )
    logits = logits_of(out)
    return logits if keep is None else logits[:, logits.shape[1] - int(keep) :]


def prefill(model: Any, input_ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """Logits (1, T, V) of a prompt and the KV cache that :func:`greedy` continues from."""
    out = call(model, input_ids, cache=True)
    return logits_of(out), output_cache(out)


def greedy(
    model: Any,
    input_ids: torch.Tensor,
    n_new: int,
    *,
    eos: int | None = None,
    limit: int | None = None,
    start: tuple[int, Any] | None = None,
) -> list[int]:
    """``n_new`` greedy tokens after ``input_ids`` (1, T), on the model's own KV cache.

    Stops after ``eos`` (included) and before the context ``limit``. ``start``: the first new
    token and the KV cache of a :func:`prefill` that already read the prompt (a cache is
    extended in place: pass it once).
    """
    import torch

    if n_new <= 0:
        return []
    if start is None:
        logits, past = prefill(model, input_ids)
        out_ids = [int(logits[0, -1].argmax())]
    else:
        out_ids, past = [int(start[0])], start[1]
    n_prompt = int(input_ids.shape[1])
    while len(out_ids) < n_new and out_ids[-1] != eos:
        if limit is not None and n_prompt + len(out_ids) >= limit:
            break
        step = torch.tensor([[out_ids[-1]]], device=input_ids.device)
        out = call(model, step, cache=True, past=past)
        past = output_cache(out)
        out_ids.append(int(logits_of(out)[0, -1].argmax()))
    return out_ids
