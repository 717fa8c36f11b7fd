"""The roles of the heads of ``circuits-4l`` in indirect object identification, measured.

The model card (``zoo/circuits-4l/README.md``) and notebook 03 name heads and say what each
does; every such statement is computed here, with the public scores and interventions, and
checked by ``tests/test_circuits_4l_roles.py``. Heads are named by a **threshold** on a
measurement, never as the top-k of a ranking, so a head with a noise-level value is never
named.

Positions in an IOI prompt ("When Mary and John went to the store, John gave a drink to"):
``io`` and ``s1`` the first mention of each name, ``s2`` the second mention of the subject,
``article`` the last "a"/"the" (before the object, two or three tokens before the end),
``verb`` the token before it ("gave", "showed", "give", ...) and ``end`` the last token.

Direct logit attribution is split against a neutral third name C that does not occur in the
prompt (``item["c"]``): DLA(IO − C) > 0 means a head raises the indirect object, DLA(S − C) < 0
means it lowers the subject; DLA(IO − S) = DLA(IO − C) − DLA(S − C) cannot tell the two apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from headwidgets import Intervention
from headwidgets.scores.direct import direct_effects, direct_logit_attribution

__all__ = [
    "ABLATION_THRESHOLD",
    "DLA_THRESHOLD",
    "POSITIONS",
    "ablation_grid",
    "attention_grid",
    "attention_grids",
    "heads_above",
    "logit_diffs",
    "mlp_direct_effects",
    "positions",
    "split_dla",
]

Head = tuple[int, int]
Grid = list[list[float]]

POSITIONS = ("io", "s1", "s2", "verb", "article", "end")
"""Named positions of an IOI prompt (see the module docstring)."""

DLA_THRESHOLD = 0.5
"""|mean DLA| (logits) above which a head is said to write into the logits directly."""

ABLATION_THRESHOLD = 1.5
"""|change of the mean logit difference| above which zero-ablating one head is said to matter."""

_ARTICLES = ("a", "the")


def positions(hm: Any, item: dict[str, str]) -> dict[str, int]:
    """The named :data:`POSITIONS` of one IOI item (from :func:`tasks.ioi_prompts`)."""
    tokens = list(hm.tokenize(item["prompt"]).tokens)
    s2 = len(tokens) - 1 - tokens[::-1].index(item["s"])
    article = max(i for i, word in enumerate(tokens) if word in _ARTICLES)
    return {
        "io": tokens.index(item["io"]),
        "s1": tokens.index(item["s"]),
        "s2": s2,
        "verb": article - 1,
        "article": article,
        "end": len(tokens) - 1,
    }


def _round(values: Any) -> Grid:
    return [[round(float(v), 4) for v in row] for row in np.asarray(values)]


def heads_above(grid: Grid, threshold: float) -> list[Head]:
    """The heads whose value's magnitude is above ``threshold``, in (layer, head) order."""
    return [
        (layer, head)
        for layer, row in enumerate(grid)
        for head, value in enumerate(row)
        if abs(value) > threshold
    ]


def split_dla(hm: Any, items: Sequence[dict[str, str]]) -> dict[str, Grid]:
    """Mean DLA per head for IO − S, IO − C and S − C (C: the neutral third name)."""

    prompts = [item["prompt"] for item in items]
    names = {key: [" " + item[key] for item in items] for key in ("io", "s", "c")}
    out = {}
    for label, target, distractor in (("io_s", "io", "s"), ("io_c", "io", "c"), ("s_c", "s", "c")):
        cube = direct_logit_attribution(
            hm, prompts, names[target], names[distractor], reduce="mean", progress=False
        )
        out[label] = _round(cube.transpose("layer", "head").values)
    return out


def mlp_direct_effects(
    hm: Any, items: Sequence[dict[str, str]], intervention: Any = None
) -> dict[str, list[float]]:
    """Mean direct effect of each layer's MLP on IO − S, IO − C and S − C."""

    sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(hm.n_layers))
    for item in items:
        for label, target, distractor in (
            ("io_s", "io", "s"),
            ("io_c", "io", "c"),
            ("s_c", "s", "c"),
        ):
            if intervention is None:
                table = direct_effects(
                    hm, item["prompt"], " " + item[target], " " + item[distractor]
                )
            else:
                with hm.intervene(intervention):
                    table = direct_effects(
                        hm, item["prompt"], " " + item[target], " " + item[distractor]
                    )
            mlp = table[table["component"] == "mlp"].sort_values("layer")
            sums[label] += mlp["value"].to_numpy()
    return {
        label: [round(float(v) / len(items), 4) for v in total] for label, total in sums.items()
    }


def attention_grids(
    hm: Any, items: Sequence[dict[str, str]], pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Grid]:
    """Mean attention of every head from the named position ``query`` to ``key``, for each
    ``(query, key)`` pair (one forward pass per prompt for all pairs)."""
    totals = {pair: np.zeros((hm.n_layers, hm.n_heads)) for pair in pairs}
    for item in items:
        where = positions(hm, item)
        pattern = hm.run(item["prompt"], patterns=True).patterns[0]  # (layer, head, query, key)
        for query, key in pairs:
            totals[(query, key)] += pattern[:, :, where[query], where[key]].numpy()
    return {pair: _round(total / len(items)) for pair, total in totals.items()}


def attention_grid(hm: Any, items: Sequence[dict[str, str]], query: str, key: str) -> Grid:
    """Mean attention of every head from the named position ``query`` to ``key``."""
    return attention_grids(hm, items, [(query, key)])[(query, key)]


def _groups(hm: Any, items: Sequence[dict[str, str]], at: str) -> dict[tuple[int, int], list[int]]:
    """Item indices grouped by (length, position of ``at``), so a batch shares its positions."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        where = positions(hm, item)
        groups[(where["end"], where[at])].append(index)
    return groups


def logit_diffs(
    hm: Any,
    items: Sequence[dict[str, str]],
    heads: Sequence[Head] = (),
    at: str | None = None,
) -> np.ndarray:
    """logit(IO) − logit(S) at the last position of each item, with ``heads`` zero-ablated
    (at every position, or only at the named position ``at``)."""
    import torch

    out = np.zeros(len(items))
    for (end, position), indices in _groups(hm, items, at or "end").items():
        spec = None
        if heads:
            spec = Intervention.zero(heads, positions=None if at is None else [position])
        run = hm.run([items[i]["prompt"] for i in indices], intervention=spec)
        logits = run.logits[:, end]
        rows = torch.arange(len(indices))
        io = torch.tensor([hm.token_id(" " + items[i]["io"]) for i in indices])
        s = torch.tensor([hm.token_id(" " + items[i]["s"]) for i in indices])
        out[indices] = (logits[rows, io] - logits[rows, s]).numpy()
    return out


def ablation_grid(hm: Any, items: Sequence[dict[str, str]], at: str | None = None) -> Grid:
    """Change of the mean logit difference when one head is zero-ablated (everywhere or at
    the named position ``at`` only), for every head."""
    base = logit_diffs(hm, items).mean()
    return _round(
        [
            [
                logit_diffs(hm, items, [(layer, head)], at).mean() - base
                for head in range(hm.n_heads)
            ]
            for layer in range(hm.n_layers)
        ]
    )
