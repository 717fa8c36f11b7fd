"""Self-repair: how much of an ablated head's direct effect the rest of the model restores.

Zero-ablating a head set S (METHODS.md, "Circuits"):

- total effect = metric(ablated) − metric(clean), the metric a logit difference
  (``logit[target] − logit[distractor]`` at the metric's position);
- direct effect = −Σ_{h∈S} DLA_h, the heads' direct logit attribution on the clean run (what
  the logit difference would lose if nothing downstream reacted);
- self-repair = total − direct (positive when the model makes up for part of the loss);
- per head g, ΔDLA_g = DLA_g(ablated run) − DLA_g(clean run), each DLA through the final norm
  with the scale of its own run. Backup heads have ΔDLA_g with the sign that compensates (the
  sign of −direct). For g ∈ S, ΔDLA_g = −DLA_g.

Σ_{g∉S} ΔDLA_g is the part of the self-repair done by heads directly (attr
``self_repair_heads``); the rest (``self_repair_other``) is done by the MLPs, the
embeddings' path and the change of the final norm's scale.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("circuits-4l")
>>> m = hw.Metric("logit_diff", target=" Mary", distractor=" John")
>>> prompt = "When Mary and John went to the store, John gave a drink to"
>>> cube = hw.scores.self_repair(hm, prompt, m, heads=[(2, 3)])
>>> cube.attrs["ablated"], cube.attrs["units"]
('[[2, 3]]', 'logit')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets.scores import _run

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["self_repair"]

Head = tuple[int, int]


def self_repair(
    hm: Any,
    prompt: str | Sequence[str],
    metric: Any,
    heads: Iterable[Head],
    *,
    progress: bool | None = None,
) -> xr.DataArray:
    """Total effect, direct effect and self-repair of zero-ablating ``heads`` together, and
    every head's change of direct logit attribution (who compensates); see the module doc.

    Parameters
    ----------
    hm
        The bound model (with a final norm, LayerNorm or RMSNorm).
    prompt
        A prompt, or a list of prompts (every number is then the mean over prompts).
    metric
        A ``logit_diff`` :class:`~headwidgets.metrics.Metric` (or one per prompt): the
        direct effect is in logits, so the metric must be too.
    heads
        The (layer, head) pairs ablated together.

    Returns
    -------
    xarray.DataArray
        A (layer, head) cube named ``self_repair`` of ΔDLA_g (logits); attrs
        ``total_effect``, ``direct_effect``, ``self_repair``, ``self_repair_heads``,
        ``self_repair_other``, ``metric_clean``, ``metric_ablated`` and ``ablated`` (the
        heads, as a list of [layer, head]).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> m = hw.Metric("logit_diff", target=" Mary", distractor=" John")
    >>> cube = self_repair(hm, "When Mary and John went to the store, John gave a drink to",
    ...                    m, heads=[(2, 3), (3, 0)])
    >>> cube.dims, cube.attrs["units"]
    (('layer', 'head'), 'logit')
    """
    hm.require_lm_head("self_repair")
    from headwidgets.cubes import make_cube
    from headwidgets.interventions import Intervention
    from headwidgets.metrics import as_metric
    from headwidgets.scores.direct import _decompose

    prompts, _ = _run.as_prompt_list(prompt)
    if not all(isinstance(p, str) for p in prompts):
        raise TypeError("self_repair takes prompts as text (the engine tokenizes them)")
    metrics = [as_metric(m) for m in _run.per_prompt(metric, len(prompts), "metric")]
    for m in metrics:
        if m.kind != "logit_diff":
            raise ValueError(
                f"self_repair compares the metric with direct logit attribution, so the metric "
                f"must be 'logit_diff' (target − distractor), got {m.kind!r}"
            )
    ablated = _run.head_list(hm, heads)
    spec = Intervention.zero(ablated)
    inside = np.zeros((len(prompts), int(hm.n_layers), int(hm.n_heads)))
    numbers = np.zeros((len(prompts), 3))  # metric clean, metric ablated, direct effect
    rows = list(zip(prompts, metrics, strict=True))
    for row, (text, m) in enumerate(_run.progress_bar(rows, progress, "self-repair")):
        assert isinstance(text, str)
        target, distractor = m.token_ids(hm)
        assert target is not None
        clean = _decompose(hm, text, target, distractor)
        with hm.intervene(spec):
            edited = _decompose(hm, text, target, distractor)
        position = m.position
        dla_clean = clean["heads"][:, position].numpy()  # (L, H)
        dla_edited = edited["heads"][:, position].numpy()
        inside[row] = dla_edited - dla_clean
        direct = -float(sum(dla_clean[layer, head] for layer, head in ablated))
        numbers[row] = (
            float(clean["actual"][position]),
            float(edited["actual"][position]),
            direct,
        )
    delta = inside.mean(axis=0)
    m_clean, m_ablated, direct = numbers.mean(axis=0)
    total = m_ablated - m_clean
    repair = total - direct
    others = [
        (layer, head)
        for layer in range(int(hm.n_layers))
        for head in range(int(hm.n_heads))
        if (layer, head) not in set(ablated)
    ]
    by_heads = float(sum(delta[layer, head] for layer, head in others))
    extra = {
        "total_effect": float(total),
        "direct_effect": float(direct),
        "self_repair": float(repair),
        "self_repair_heads": by_heads,
        "self_repair_other": float(repair - by_heads),
        "metric_clean": float(m_clean),
        "metric_ablated": float(m_ablated),
        "ablated": [list(h) for h in ablated],
        "n_prompts": len(prompts),
    }
    attrs = _run.score_attrs(
        hm,
        "self-repair: zero-ablate the heads together; total = m(ablated) - m(clean), "
        "direct = -sum of their DLA on the clean run, self-repair = total - direct; cells: "
        "DLA(ablated run) - DLA(clean run) per head, each through its own run's final norm"
        + (f"; mean over {len(prompts)} prompts" if len(prompts) > 1 else ""),
        "change in direct logit attribution when the heads are ablated",
        "logit",
        metric=metrics[0].describe(),
        intervention=spec.to_json(),
        prompts=prompt,
        extra=extra,
        heads=[list(h) for h in ablated],
    )
    coords: dict[str, Any] = {}
    if len(prompts) == 1:
        coords["prompt_text"] = prompts[0]
    return make_cube(delta.astype(np.float32), ("layer", "head"), coords, "self_repair", attrs)
