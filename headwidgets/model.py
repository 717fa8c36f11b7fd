"""HeadModel: a live transformers model bound with its tokenizer, ready for head edits.

>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")                            # a shipped model, no download
>>> hm.n_layers, hm.n_heads                                  # doctest: +SKIP
(2, 4)
>>> with hm.intervene(hw.Intervention.zero([(1, 0)])):
...     out = hm.model(hm.tokenize("t1 t2 t3").input_ids)     # plain HF call, head 1.0 off

The model runs as it is: no forward pass is re-implemented. Heads are reached at the input of
the attention output projection (see ``architectures.py``); hooks live in
``interventions/hooks.py``.

``HeadModel`` is the engine (``headwidgets/engine/``: binding, the one forward, batching,
caches; tensors in, tensors out) plus the conveniences that return labeled cubes,
:meth:`HeadModel.sweep` and :meth:`HeadModel.capture`, which call the scores; so this module
sits above ``scores`` in the layers (docs/ARCHITECTURE.md), and the engine below them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from headwidgets import architectures as arch
from headwidgets import zoo
from headwidgets.engine.binding import Prompt, Tokens
from headwidgets.engine.core import Engine, RunResult
from headwidgets.metrics import Metric, as_metric
from headwidgets.scores.causal import ablation_effect
from headwidgets.scores.inside import capture as capture_inside

if TYPE_CHECKING:
    import xarray as xr
    from torch import nn

__all__ = ["HeadModel", "Prompt", "RunResult", "Tokens", "bind", "load"]


class HeadModel(Engine):
    """A transformers model and its tokenizer, with head-level edits.

    Use :func:`bind` for a model you already loaded and :func:`load` to load one. Everything
    but :meth:`sweep` and :meth:`capture` (which return labeled cubes) is the engine's
    (:class:`headwidgets.engine.core.Engine`).
    """

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
        return ablation_effect(
            self,
            prompt,
            as_metric(metric, **metric_kwargs),
            mode=mode,
            alpha=alpha,
            reference=reference,
            source=source,
        )

    def capture(
        self,
        prompt: Prompt,
        what: Sequence[str] = ("q", "k", "v", "logits", "pattern"),
        heads: Sequence[tuple[int, int]] | None = None,
    ) -> dict[str, xr.DataArray]:
        """q, k, v, attention logits and patterns of chosen heads as labeled cubes (one
        forward pass); see :func:`headwidgets.scores.inside.capture`."""
        return capture_inside(self, prompt, what, heads)


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

    try:
        return str(zoo.path(name_or_path))  # type: ignore[attr-defined]
    except ValueError:
        return name_or_path
