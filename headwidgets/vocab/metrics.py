"""Metric names, labels, words, units and the default metric (see :mod:`headwidgets.vocab`)."""

from __future__ import annotations

from typing import Literal, get_args

# ======================================================================================
# Metrics
# ======================================================================================

MetricKind = Literal["logit_diff", "prob", "logprob", "loss", "kl", "accuracy", "rank"]
#: every metric kind
METRIC_KINDS: tuple[str, ...] = get_args(MetricKind)
#: what each metric is called in views and legends
METRIC_LABELS: dict[str, str] = {
    "logit_diff": "logit diff",
    "prob": "target prob",
    "logprob": "target log-prob",
    "loss": "loss",
    "kl": "KL vs baseline",
    "accuracy": "accuracy",
    "rank": "target rank",
}
#: each metric in words, for figure labels (``logit_diff(' Mary' - ' John')`` reads
#: ``logit difference ' Mary' − ' John'``)
METRIC_WORDS: dict[str, str] = {
    "logit_diff": "logit difference",
    "logprob": "log-probability of",
    "prob": "probability of",
    "loss": "loss",
    "kl": "KL divergence",
    "accuracy": "accuracy",
    "rank": "rank of",
}
#: each metric's units (the cubes' ``units`` attr)
METRIC_UNITS: dict[str, str] = {
    "logit_diff": "logit",
    "prob": "probability",
    "logprob": "nats",
    "loss": "nats",
    "kl": "nats",
    "accuracy": "fraction",
    "rank": "rank",
}
#: the metrics that need a target token
NEEDS_TARGET: frozenset[str] = frozenset({"logit_diff", "prob", "logprob", "accuracy", "rank"})
#: THE default metric where one is needed and a target and distractor are known
DEFAULT_METRIC: MetricKind = "logit_diff"


def default_metric(target: object, distractor: object) -> MetricKind:
    """The metric to measure when none is named: what the given tokens allow.

    ``logit_diff`` with a target and a distractor, ``prob`` with a target only, else ``loss``.

    Example
    -------
    >>> default_metric(" Mary", " John"), default_metric(" Mary", None), default_metric(None, None)
    ('logit_diff', 'prob', 'loss')
    """
    if target is not None and distractor is not None:
        return DEFAULT_METRIC
    if target is not None:
        return "prob"
    return "loss"


def default_metrics(target: object, distractor: object) -> list[MetricKind]:
    """The metrics a view shows when none are named: :func:`default_metric` first (when it
    needs a target, so the target's probability too), then the loss and the KL.

    Example
    -------
    >>> default_metrics(" Mary", " John")
    ['logit_diff', 'prob', 'loss', 'kl']
    >>> default_metrics(None, None)
    ['loss', 'kl']
    """
    kinds: list[MetricKind] = []
    if target is not None and distractor is not None:
        kinds.append("logit_diff")
    if target is not None:
        kinds.append("prob")
    return [*kinds, "loss", "kl"]
