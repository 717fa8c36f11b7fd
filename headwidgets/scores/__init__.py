"""Head scores as labeled xarray cubes, one function per score of METHODS.md.

Attention statistics (one forward pass, eager attention for that call only):
:func:`previous_token`, :func:`induction`, :func:`duplicate_token`, :func:`sink`,
:func:`self_attention` (also ``scores.self``), :func:`entropy`, :func:`attention_distance`,
:func:`future_influence`, :func:`token_set`, :func:`retrieval`, several at once with
:func:`pattern_scores`, raw patterns with :func:`attention`.
Weights only: :func:`ov_copying`.
Causal: :func:`ablation_effect`, :func:`activation_patching`, :func:`scale_response`,
:func:`patch_heads` (a head set at once), :func:`attribution_patching`,
:func:`direct_logit_attribution` (:func:`direct_effects` for every component).
Circuits: :func:`path_patching` (sender head → receiver q/k/v or → logits),
:func:`path_intervention` (one path as an intervention, to run live),
:func:`self_repair` (total vs direct effect of an ablation, who compensates),
:func:`head_set_search` (greedy minimal head sets against size-matched random sets),
:func:`attention_rollout` (a (query, key) cube, under an intervention).

Inside attention: :func:`capture` (q, k, v, logits, patterns of chosen heads),
:func:`qk_frequency` (rotary frequency shares of attention logits),
:func:`attention_sweep` (a pattern edit of every head at every value, one batched pass).
Controls: :func:`random_heads`, :func:`topk_vs_random`.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> cube = hw.scores.induction(hm, reduce="mean")
>>> hw.top_heads(cube, 2).columns.tolist()
['layer', 'head', 'value']
"""

from __future__ import annotations

from headwidgets.scores import reductions
from headwidgets.scores.attribution import attribution_patching
from headwidgets.scores.causal import (
    ablation_effect,
    activation_patching,
    patch_heads,
    scale_response,
)
from headwidgets.scores.circuits import path_patching
from headwidgets.scores.controls import TopKControl, random_heads, topk_vs_random
from headwidgets.scores.direct import direct_effects, direct_logit_attribution
from headwidgets.scores.head_sets import head_set_search
from headwidgets.scores.inside import attention_sweep, capture, qk_frequency
from headwidgets.scores.paths import path_intervention
from headwidgets.scores.patterns import (
    STATISTICS,
    attention,
    attention_distance,
    duplicate_token,
    entropy,
    future_influence,
    induction,
    pattern_scores,
    previous_token,
    self,
    self_attention,
    sink,
    token_set,
)
from headwidgets.scores.retrieval import retrieval
from headwidgets.scores.rollout import attention_rollout
from headwidgets.scores.self_repair import self_repair
from headwidgets.scores.weights import ov_copying, ov_eigenvalues, value_weight

__all__ = [
    "STATISTICS",
    "TopKControl",
    "ablation_effect",
    "activation_patching",
    "attention",
    "attention_distance",
    "attention_rollout",
    "attention_sweep",
    "attribution_patching",
    "capture",
    "direct_effects",
    "direct_logit_attribution",
    "duplicate_token",
    "entropy",
    "future_influence",
    "head_set_search",
    "induction",
    "ov_copying",
    "ov_eigenvalues",
    "patch_heads",
    "path_intervention",
    "path_patching",
    "pattern_scores",
    "previous_token",
    "qk_frequency",
    "random_heads",
    "reductions",
    "retrieval",
    "scale_response",
    "self",
    "self_attention",
    "self_repair",
    "sink",
    "token_set",
    "topk_vs_random",
    "value_weight",
]
