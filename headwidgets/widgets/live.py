"""The compute behind the live widgets: one prompt on one model, baseline and intervened.

``LiveRun`` runs the baseline once per prompt and each intervention once (results cached by
the spec's JSON). A refresh is ONE forward pass of the prompt (patterns captured in the same
pass when an AttentionView shares the run; on CUDA without patterns, the engine's
CUDA-graph ``Refresher``); the few greedy generation steps are cached per intervention and
computed after the refresh has been sent (see :func:`defer`), so a slider drag never waits
for them.

The views that share a run (an Explorer's OutputView and AttentionView) also share the
browser request being served (:attr:`LiveRun.request`), so that a refresh it triggered
answers with the request's id.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwidgets.engine.refresh import Refresher
from headwidgets.interventions import AttentionEdit
from headwidgets.vocab import ATTENTION_SYMBOLS, head_label

if TYPE_CHECKING:
    import torch

    from headwidgets.interventions import Intervention
    from headwidgets.model import HeadModel


@dataclass
class Outputs:
    """One forward of the prompt: logits (T, V), patterns (L, H, T, T) or None; CPU float32."""

    logits: torch.Tensor
    patterns: torch.Tensor | None
    ms: float


def spec_key(spec: Intervention | None) -> str:
    """Cache key of a spec ('' for no edits)."""
    return spec.to_json() if spec else ""


class LiveRun:
    """Baseline and intervened runs of one prompt, cached: what live views of a prompt share.

    Pass one to an :class:`~headwidgets.widgets.OutputView` and an
    :class:`~headwidgets.widgets.AttentionView` of the same prompt (``live=run``) and a
    control change costs one forward pass for both (what the Explorer does).

    Parameters
    ----------
    hm
        A bound model.
    prompt
        The prompt text.
    n_generate
        Greedy tokens generated after the prompt (0 for an encoder).
    patterns
        Capture the attention patterns in every run (an AttentionView shows the intervened
        run).
    cache_size
        Runs kept per cache (least recently used dropped).

    Example
    -------
    >>> run = LiveRun(hm, "a b c a b")                                 # doctest: +SKIP
    >>> run.outputs(hw.Intervention.zero([(1, 0)])).logits.shape        # doctest: +SKIP
    torch.Size([5, 512])
    >>> run.generation(hw.Intervention.zero([(1, 0)]))                  # doctest: +SKIP
    [17, 4, 17, 4, 17, 4, 17, 4]
    """

    def __init__(
        self,
        hm: HeadModel,
        prompt: str,
        n_generate: int = 8,
        patterns: bool = False,
        cache_size: int = 64,
    ) -> None:
        self.hm = hm
        self.prompt = prompt
        self.n_generate = int(n_generate) if hm.is_causal else 0
        #: capture patterns in every run (an AttentionView shares this run)
        self.patterns = bool(patterns)
        tokens = hm.tokenize(prompt)
        self.input_ids = tokens.input_ids
        self.tokens: list[str] = list(tokens.tokens)
        self._cache: OrderedDict[str, Outputs] = OrderedDict()
        self._generated: OrderedDict[str, list[int]] = OrderedDict()
        self._cache_size = cache_size
        self._decoded: dict[int, str] = {}
        # KV cache of the latest forward, so its generation skips re-reading the prompt
        self._kv: tuple[str, Any] | None = None
        self._graphed: Any = None  # Refresher on CUDA, False when not used
        #: the browser request being served, ``{"id", "t0", "origin"}`` or None: set by whoever
        #: forwards a control's request to the views of this run (the Explorer), so that the
        #: refresh it triggers answers with the request's id (the front end then measures
        #: control event → DOM updated)
        self.request: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def decode(self, token_id: int) -> str:
        """Text of one token id (cached)."""
        text = self._decoded.get(token_id)
        if text is None:
            text = self.hm.tokenizer.decode([int(token_id)])
            self._decoded[token_id] = text
        return text

    def outputs(self, spec: Intervention | None = None, patterns: bool = False) -> Outputs:
        """Logits (and patterns) of the prompt under ``spec``: one forward, cached."""
        key = spec_key(spec)
        hit = self._cache.get(key)
        if hit is not None and (hit.patterns is not None or not (patterns or self.patterns)):
            self._cache.move_to_end(key)
            return hit
        result = self._forward(spec, patterns or self.patterns)
        _put(self._cache, key, result, self._cache_size)
        return result

    def generated(self, spec: Intervention | None = None) -> list[int] | None:
        """The cached greedy continuation under ``spec``, or None when not computed yet."""
        return self._generated.get(spec_key(spec))

    def generation(self, spec: Intervention | None = None) -> list[int]:
        """``n_generate`` greedy tokens after the prompt under ``spec`` (cached)."""
        key = spec_key(spec)
        hit = self._generated.get(key)
        if hit is None:
            hit = self._greedy(spec)
            _put(self._generated, key, hit, self._cache_size)
        return hit

    def _refresher(self) -> Any:
        """The engine's CUDA-graph refresh path for this prompt (None off CUDA or on failure)."""
        if self._graphed is False:
            return None
        if self._graphed is None:
            self._graphed = False
            if self.hm.device.type == "cuda":
                try:
                    self._graphed = Refresher(self.hm, self.prompt, logits_to_keep=None)
                except Exception:  # an optimisation only: the eager path is always there
                    self._graphed = False
        return self._graphed or None

    def _forward(self, spec: Intervention | None, patterns: bool) -> Outputs:
        import torch

        hm = self.hm
        refresher = None if patterns else self._refresher()
        if refresher is not None:  # on CUDA: a replayed graph, no patterns, no KV cache
            start = time.perf_counter()
            logits = refresher.logits(spec)
            self._kv = None
            return Outputs(logits, None, (time.perf_counter() - start) * 1000)
        collected: dict[int, torch.Tensor] = {}

        def keep(layer: int, probs: torch.Tensor) -> None:
            collected[layer] = probs[0].detach().float().cpu()

        start = time.perf_counter()
        keep_kv = self.n_generate > 0
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if spec:
                stack.enter_context(hm.intervene(spec))
            if patterns:
                stack.enter_context(hm.capture_patterns(keep))
            if keep_kv:  # the engine's forward, keeping the KV cache its generation continues
                out, past = hm.prefill(self.input_ids)
            else:
                out, past = hm.forward(self.input_ids), None
            logits = out[0].float().cpu()
        self._kv = (spec_key(spec), past) if keep_kv else None
        stacked = None
        if patterns:
            stacked = torch.stack([collected[layer] for layer in range(hm.n_layers)])
        return Outputs(logits, stacked, (time.perf_counter() - start) * 1000)

    def _greedy(self, spec: Intervention | None) -> list[int]:
        """The engine's greedy decoding (``hm.generate``), the edits on for every step."""
        if self.n_generate <= 0:
            return []
        key = spec_key(spec)
        kv, self._kv = self._kv, None  # a cache is extended in place: use it once
        hit = self._cache.get(key)
        start = None
        if kv is not None and kv[0] == key and hit is not None:
            start = (int(hit.logits[-1].argmax()), kv[1])  # the refresh read the prompt
        return self.hm.generate(self.input_ids, self.n_generate, spec, start=start)


def _put(cache: OrderedDict[str, Any], key: str, value: Any, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def defer(callback: Callable[[], None]) -> None:
    """Run ``callback`` after the current message has been answered.

    Inside a kernel the callback goes on the event loop, so the refresh that scheduled it is
    sent first; with no running loop (plain Python, tests) it runs at once.
    """
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
        return
    loop.call_soon(callback)


def summarize(spec: Intervention | None) -> str:
    """Short human text of a spec: ``"L0 H1 ×0, L1 H2 mean"`` ("" for no edits)."""
    if not spec:
        return ""
    parts = []
    for edit in spec.edits:
        if edit.is_identity:
            continue
        name = head_label(edit.layer, edit.head)
        if edit.mode == "scale":
            parts.append(f"{name} ×{edit.alpha:g}")
        else:
            parts.append(f"{name} {edit.mode}")
    for inside in spec.attention:  # edits inside attention: "L1 H0 sink β=0"
        name = head_label(inside.layer, inside.head)
        if isinstance(inside, AttentionEdit):
            symbol = ATTENTION_SYMBOLS[inside.kind]
            parts.append(f"{name} {inside.kind} {symbol}={inside.value:g}")
        else:  # a q/k/v edit
            parts.append(f"{name} {inside.target} {inside.op}")
    return ", ".join(parts)
