"""OutputView: tokens, next-token top-k, greedy generation and metrics, baseline vs intervened."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets

from headwidgets.interventions import Intervention, check_spec
from headwidgets.metrics import as_metric
from headwidgets.vocab import METRIC_KINDS, METRIC_LABELS, default_metrics
from headwidgets.widgets._base import LiveWidget, error_text
from headwidgets.widgets._common import css, esm, finite_or_none, float32_buffer
from headwidgets.widgets.live import LiveRun, defer, spec_key, summarize

if TYPE_CHECKING:
    import torch

    from headwidgets.metrics import Metric
    from headwidgets.model import HeadModel


class OutputView(LiveWidget):
    """The model's outputs on a prompt, without edits (baseline) and under an intervention.

    Shows the prompt's tokens (colored by a per-token score), the next-token top-k with
    probabilities, a short greedy continuation with the differing tokens marked, and metrics
    with their deltas. Set :attr:`intervention` to refresh.

    Parameters
    ----------
    hm
        A bound model (``hw.load(...)`` / ``hw.bind(...)``).
    prompt
        The prompt text.
    target, distractor
        Single tokens (``" Mary"``) for the logit diff and target prob metrics.
    metrics
        Metric kinds to show (default: logit_diff and prob when a target is given, loss, kl).
    top_k
        How many next tokens to list (default 10).
    n_generate
        Greedy tokens to generate (default 8; 0 turns generation off).
    token_scores
        A per-token score (length T) to color the prompt's tokens; default: the change in
        log-probability of each actual next token under the intervention.
    intervention
        The edits to apply (default none).
    live
        A :class:`~headwidgets.widgets.LiveRun` of the same prompt to share with other views
        (one forward per change for all of them; what Explorer does).

    Example
    -------
    >>> view = OutputView(hm, "When Mary and John went to the store, John gave a drink to",
    ...                   target=" Mary", distractor=" John")            # doctest: +SKIP
    >>> view.intervention = hw.Intervention.zero([(3, 1)])               # doctest: +SKIP
    >>> view.metric_values["logit_diff"]                                 # doctest: +SKIP
    {'baseline': 3.1, 'intervened': 1.2}
    """

    _esm = esm("outputview.js")
    _css = css()

    prompt = traitlets.Unicode(help="The prompt text (str).").tag(sync=True)
    target = traitlets.Unicode(
        None, allow_none=True, help="Target token for the metrics, e.g. ' Mary' (str or None)."
    ).tag(sync=True)
    distractor = traitlets.Unicode(
        None, allow_none=True, help="Distractor token for the logit diff (str or None)."
    ).tag(sync=True)
    metrics = traitlets.List(
        traitlets.Unicode(), help="Metric kinds shown, e.g. ['logit_diff', 'loss', 'kl']."
    ).tag(sync=True)
    top_k = traitlets.Int(10, help="Number of next tokens listed (int, default 10).").tag(sync=True)
    n_generate = traitlets.Int(8, help="Greedy tokens generated (int, default 8; 0 = off).").tag(
        sync=True
    )
    token_scores = traitlets.Any(
        None, help="Per-token score (length T) coloring the prompt; None = Δ log p(next token)."
    )
    intervention = traitlets.Instance(
        Intervention, help="The edits applied (Intervention; default: none). Not synced."
    )
    metric_values = traitlets.Dict(
        help="{metric: {'baseline': float, 'intervened': float}} of the last refresh (read-only)."
    ).tag(sync=True)
    error = traitlets.Unicode("", help="The last refresh error ('' = none).").tag(sync=True)
    _result = traitlets.Dict(help="Everything the front end draws (see outputview.js).").tag(
        sync=True
    )
    _generation = traitlets.Dict(
        help="Greedy continuations {key, baseline, intervened, *_ids}; key = the spec's JSON."
    ).tag(sync=True)

    def __init__(
        self,
        hm: HeadModel,
        prompt: str,
        *,
        target: str | None = None,
        distractor: str | None = None,
        metrics: Sequence[str] | None = None,
        top_k: int = 10,
        n_generate: int = 8,
        token_scores: Any = None,
        intervention: Intervention | None = None,
        live: LiveRun | None = None,
    ) -> None:
        hm.require_lm_head("the OutputView (next tokens, generation, metrics)")
        self.hm = hm
        self._run: LiveRun | None = live
        self._version = 0
        super().__init__(
            prompt=prompt,
            target=target,
            distractor=distractor,
            metrics=list(metrics) if metrics is not None else default_metrics(target, distractor),
            top_k=top_k,
            n_generate=n_generate,
            token_scores=token_scores,
            intervention=intervention if intervention is not None else Intervention(),
        )
        self.refresh()

    # -- validation ------------------------------------------------------------------
    @traitlets.validate("metrics")
    def _check_metrics(self, proposal: Any) -> list[str]:
        kinds = list(proposal["value"])
        bad = [k for k in kinds if k not in METRIC_KINDS]
        if bad:
            raise ValueError(f"unknown metrics {bad}; valid metrics: {', '.join(METRIC_KINDS)}")
        return kinds

    @traitlets.validate("top_k", "n_generate")
    def _check_counts(self, proposal: Any) -> int:
        value = int(proposal["value"])
        name = proposal["trait"].name
        if value < 0 or (name == "top_k" and value == 0):
            raise ValueError(f"{name} must be a positive int, got {value}")
        return value

    @traitlets.validate("intervention")
    def _check_intervention(self, proposal: Any) -> Intervention:

        spec = proposal["value"]
        check_spec(spec, self.hm.n_layers, self.hm.n_heads)
        return spec

    @traitlets.observe(
        "prompt", "target", "distractor", "metrics", "top_k", "n_generate", "token_scores"
    )
    def _settings_changed(self, change: Any) -> None:
        if self._result:  # after __init__
            self.refresh()

    @traitlets.observe("intervention")
    def _intervention_changed(self, change: Any) -> None:
        if self._result:
            self.refresh()

    # -- compute -------------------------------------------------------------------------
    @property
    def live(self) -> LiveRun:
        """The cached runs of this prompt (shared with an AttentionView in an Explorer)."""
        run = self._run
        n_generate = self.n_generate if self.hm.is_causal else 0
        if run is None or run.prompt != self.prompt or run.n_generate != n_generate:
            patterns = run.patterns if run is not None else False
            run = LiveRun(self.hm, self.prompt, n_generate=self.n_generate, patterns=patterns)
            self._run = run
        return run

    def metric_objects(self) -> list[Metric]:
        """The Metric objects behind :attr:`metrics`."""

        out = []
        for kind in self.metrics:
            if kind == "logit_diff":
                out.append(as_metric(kind, target=self.target, distractor=self.distractor))
            elif kind in ("prob", "logprob", "accuracy", "rank"):
                out.append(as_metric(kind, target=self.target))
            else:
                out.append(as_metric(kind))
        return out

    def refresh(self) -> None:
        """Recompute the intervened outputs and send them (the baseline is cached).

        The greedy continuation follows in a second update once this one is sent (at once
        when it is cached). Errors are shown in the widget (``error``) and raised.
        """
        self._version += 1
        with self._showing_errors():
            result = self._compute()
        ready: list[int] | None = None
        with self.hold_sync():
            self.error = ""
            self.metric_values = {
                m["name"]: {"baseline": m["baseline"], "intervened": m["intervened"]}
                for m in result["metrics"]
            }
            self._result = result
            if self.live.n_generate > 0:
                ready = self.live.generated(self.intervention)
                if ready is not None:
                    self._send_generation(ready)
        if self.live.n_generate > 0 and ready is None:
            version = self._version
            defer(lambda: self._generate(version))

    def _generate(self, version: int) -> None:
        """The deferred second phase: skipped when a newer refresh has superseded it."""
        if version != self._version:
            return
        try:
            ids = self.live.generation(self.intervention)
        except Exception as exc:
            self.error = error_text(exc)
            return
        if version == self._version:
            self._send_generation(ids)

    def _send_generation(self, ids: list[int]) -> None:
        live = self.live
        base = live.generation(None)
        self._generation = {
            "key": spec_key(self.intervention),
            "baseline": [live.decode(i) for i in base],
            "intervened": [live.decode(i) for i in ids],
            "baseline_ids": base,
            "intervened_ids": ids,
        }

    def _compute(self) -> dict[str, Any]:
        import torch

        start = time.perf_counter()
        live = self.live
        spec = self.intervention
        base = live.outputs(None)
        cur = live.outputs(spec) if spec else base
        base_probs = torch.softmax(base.logits[-1], dim=-1)
        cur_probs = torch.softmax(cur.logits[-1], dim=-1)
        k = min(self.top_k, base_probs.shape[-1])
        intervened = self._topk(cur_probs, k)
        intervened["baseline_probs"] = float32_buffer(base_probs[intervened["ids"]])[0]
        scores, label = self._token_scores(base.logits, cur.logits)
        return {
            "prompt": self.prompt,
            "tokens": live.tokens,
            "tokens_spaced": _needs_spaces(live.tokens, self.prompt),
            "topk": {"baseline": self._topk(base_probs, k), "intervened": intervened},
            "metrics": self._metrics(base.logits, cur.logits),
            "scores": None if scores is None else float32_buffer(scores)[0],
            "scores_label": label,
            "generation_key": spec_key(spec) if live.n_generate > 0 else None,
            "intervention": summarize(spec),
            "request": live.request,
            "ms": (time.perf_counter() - start) * 1000,
        }

    def _topk(self, probs: torch.Tensor, k: int) -> dict[str, Any]:
        import torch

        top = torch.topk(probs, k)
        return {
            "tokens": [self.live.decode(int(i)) for i in top.indices],
            "ids": [int(i) for i in top.indices],
            "probs": float32_buffer(top.values)[0],
        }

    def _metrics(self, base: torch.Tensor, cur: torch.Tensor) -> list[dict[str, Any]]:
        rows = []
        ids = self.live.input_ids
        for metric in self.metric_objects():
            if metric.kind == "loss" and base.shape[0] < 2:
                continue  # a one-token prompt has no next-token loss
            b = metric.compute(self.hm, base[None], ids, base[None])
            c = metric.compute(self.hm, cur[None], ids, base[None])
            rows.append(
                {
                    "name": metric.kind,
                    "label": METRIC_LABELS.get(metric.kind, metric.kind),
                    "description": metric.describe(),
                    "units": metric.units,
                    "baseline": finite_or_none(b[0]),
                    "intervened": finite_or_none(c[0]),
                }
            )
        return rows

    def _token_scores(self, base: torch.Tensor, cur: torch.Tensor) -> tuple[Any, str]:
        import torch

        n_tokens = base.shape[0]
        if self.token_scores is not None:
            values = np.asarray(
                self.token_scores.detach().cpu().numpy()
                if hasattr(self.token_scores, "detach")
                else self.token_scores,
                dtype=np.float64,
            ).reshape(-1)
            if values.shape[0] != n_tokens:
                raise ValueError(
                    f"token_scores has {values.shape[0]} values but the prompt has "
                    f"{n_tokens} tokens"
                )
            return values, "score"
        if not self.intervention or n_tokens < 2:
            return None, ""
        nexts = self.live.input_ids[0, 1:].to(base.device)
        lp_base = torch.log_softmax(base[:-1], -1).gather(-1, nexts[:, None])[:, 0]
        lp_cur = torch.log_softmax(cur[:-1], -1).gather(-1, nexts[:, None])[:, 0]
        delta = torch.cat([lp_cur - lp_base, torch.tensor([float("nan")])])
        return delta.numpy(), "Δ log p(next token)"


def _needs_spaces(tokens: Sequence[str], prompt: str) -> bool:
    """True when the tokens carry no whitespace of their own (word-level tokenizers): the
    front end then puts gaps between them so that words stay apart."""
    return " " in prompt and not any(t[:1].isspace() or t[-1:].isspace() for t in tokens)
