"""Next-token metrics (METHODS.md "Metrics"), computed on logits of N rows at once.

A :class:`Metric` is plain data: its kind, the target/distractor tokens and the position.
``metric.compute(hm, logits, input_ids)`` returns one value per row.

Example
-------
>>> m = Metric("logit_diff", target=" Mary", distractor=" John")
>>> values = m.compute(hm, logits, input_ids)        # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwidgets.vocab import DEFAULT_METRIC, METRIC_KINDS, METRIC_UNITS, NEEDS_TARGET, MetricKind

if TYPE_CHECKING:
    import torch

Token = str | int


@dataclass(frozen=True)
class Metric:
    """A next-token metric at one position (default the last).

    Parameters
    ----------
    kind
        ``logit_diff`` (target − distractor logit), ``prob`` / ``logprob`` of the target,
        ``loss`` (mean next-token NLL over positions ``start``..``end``), ``kl``
        (KL(baseline ‖ intervened) of the next-token distribution), ``accuracy``
        (top-1 == target, 0 or 1), ``rank`` (0 = the target is the top token).
    target, distractor
        Single tokens, as text (``" Mary"``) or ids. ``logit_diff`` needs both.
    position
        Query position whose next-token distribution is measured (negative from the end).
    start, end
        ``loss`` only: predicting tokens ``start+1``..``end`` (Python slice of positions whose
        logits are used, default all but the last).
    """

    kind: MetricKind = DEFAULT_METRIC
    target: Token | None = None
    distractor: Token | None = None
    position: int = -1
    start: int = 0
    end: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in METRIC_KINDS:
            raise ValueError(
                f"unknown metric {self.kind!r}; valid metrics: {', '.join(METRIC_KINDS)}"
            )
        if self.kind in NEEDS_TARGET and self.target is None:
            raise ValueError(f"metric {self.kind!r} needs a target token (target=' word')")
        if self.kind == "logit_diff" and self.distractor is None:
            raise ValueError("metric 'logit_diff' needs a distractor token (distractor=' word')")

    @property
    def name(self) -> str:
        return self.kind

    @property
    def units(self) -> str:
        return METRIC_UNITS[self.kind]

    @property
    def needs_baseline(self) -> bool:
        return self.kind == "kl"

    def describe(self) -> str:
        """Human-readable label, e.g. ``logit_diff(' Mary' - ' John')``."""
        if self.kind == "logit_diff":
            return f"logit_diff({self.target!r} - {self.distractor!r})"
        if self.kind in NEEDS_TARGET:
            return f"{self.kind}({self.target!r})"
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "distractor": self.distractor,
            "position": self.position,
            "start": self.start,
            "end": self.end,
        }

    def logits_to_keep(self, n_pos: int) -> int:
        """How many trailing positions of logits this metric needs on an n_pos prompt."""
        if self.kind == "loss":
            return n_pos
        position = self.position if self.position < 0 else self.position - n_pos
        if not -n_pos <= position < 0:
            raise ValueError(
                f"position {self.position} is out of range for a prompt of {n_pos} tokens"
            )
        return -position

    def token_ids(self, hm: Any) -> tuple[int | None, int | None]:
        """Resolve target and distractor to ids (single tokens only)."""
        return _resolve(hm, self.target), _resolve(hm, self.distractor)

    def compute(
        self,
        hm: Any,
        logits: torch.Tensor,
        input_ids: torch.Tensor,
        baseline_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The metric for each row: (N,) float32.

        ``logits`` is (N, T', V) holding the last T' positions of an input of
        ``input_ids.shape[-1]`` tokens (T' = T when all are kept).
        """
        import torch

        require = getattr(hm, "require_lm_head", None)
        if require is not None:
            require(f"metric {self.kind!r}")
        n_pos = int(input_ids.shape[-1])
        logits = logits.float()
        if self.kind == "loss":
            if logits.shape[1] != n_pos:
                raise ValueError("metric 'loss' needs the logits of every position")
            ids = input_ids.reshape(-1, n_pos).to(logits.device)
            end = n_pos - 1 if self.end is None else min(self.end, n_pos - 1)
            if not 0 <= self.start < end:
                raise ValueError(
                    f"loss range start={self.start}, end={self.end} is empty for a prompt of "
                    f"{n_pos} tokens"
                )
            logp = torch.log_softmax(logits[:, self.start : end], dim=-1)
            nexts = ids[:, self.start + 1 : end + 1].expand(logits.shape[0], -1)
            nll = -logp.gather(-1, nexts.unsqueeze(-1)).squeeze(-1)
            return nll.mean(dim=-1)
        position = self.position if self.position < 0 else self.position - n_pos
        if -position > logits.shape[1]:
            raise ValueError(f"position {self.position} was not kept in the logits")
        last = logits[:, position]  # (N, V)
        if self.kind == "kl":
            if baseline_logits is None:
                raise ValueError("metric 'kl' needs baseline logits")
            base = torch.log_softmax(baseline_logits.float()[:, position].to(last.device), -1)
            cur = torch.log_softmax(last, dim=-1)
            return (base.exp() * (base - cur)).sum(dim=-1)
        target, distractor = self.token_ids(hm)
        assert target is not None
        if self.kind == "logit_diff":
            assert distractor is not None
            return last[:, target] - last[:, distractor]
        if self.kind == "prob":
            return torch.softmax(last, dim=-1)[:, target]
        if self.kind == "logprob":
            return torch.log_softmax(last, dim=-1)[:, target]
        if self.kind == "accuracy":
            return (last.argmax(dim=-1) == target).float()
        # rank: how many tokens have a strictly larger logit than the target
        return (last > last[:, target : target + 1]).sum(dim=-1).float()


def _resolve(hm: Any, token: Token | None) -> int | None:
    if token is None:
        return None
    if isinstance(token, int) and not isinstance(token, bool):
        vocab = int(hm.vocab_size)
        if not 0 <= token < vocab:
            raise ValueError(f"token id {token} is out of range; valid ids are 0..{vocab - 1}")
        return token
    if isinstance(token, str):
        return int(hm.token_id(token))
    raise TypeError(f"a target is a token string or an id, got {token!r}")


def as_metric(metric: Metric | str, **kwargs: Any) -> Metric:
    """Accept a Metric or a kind name plus keyword arguments."""
    if isinstance(metric, Metric):
        if kwargs:
            raise TypeError("give either a Metric or a kind with keyword arguments, not both")
        return metric
    if isinstance(metric, str):
        return Metric(metric, **kwargs)  # type: ignore[arg-type]
    raise TypeError(f"metric must be a Metric or one of {METRIC_KINDS}, got {metric!r}")
