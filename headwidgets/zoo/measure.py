"""Measure the circuits of the shipped models with headwidgets itself (numbers for the cards).

Usage::

    python -m headwidgets.zoo.measure all            # prints a summary per model
    python -m headwidgets.zoo.measure circuits-4l --json /tmp/circuits.json

Everything goes through the public engine (:func:`headwidgets.load`, ``hm.run``,
:class:`headwidgets.Intervention`) and the score functions of :mod:`headwidgets.scores`
(``previous_token``, ``induction``, ``duplicate_token``, ``direct_logit_attribution``), on data
generated with :data:`SEED`, a seed the training recipe never uses; IOI numbers are on the
held-out split (names and template combinations never seen in IOI training). The roles of the
IOI heads (:mod:`headwidgets.zoo.roles`) are named by thresholds, never as a top-k.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headwidgets import Intervention, scores
from headwidgets.datasets import tasks
from headwidgets.scores.direct import direct_logit_attribution
from headwidgets.zoo import MODELS, roles

__all__ = ["SEED", "main", "measure", "measure_circuits", "measure_induction"]

SEED = 424242
"""Seed of every measurement set (the tests use the same)."""

Head = tuple[int, int]


def _grid(cube: Any) -> list[list[float]]:
    values = cube.transpose("layer", "head").values
    return [[round(float(v), 4) for v in row] for row in values]


def _top(grid: list[list[float]], k: int, layer: int | None = None) -> list[Head]:
    cells = [
        (value, (li, h))
        for li, row in enumerate(grid)
        for h, value in enumerate(row)
        if layer is None or li == layer
    ]
    return [cell for _, cell in sorted(cells, reverse=True)[:k]]


def _nll(hm: Any, prompts: list[str], intervention: Any = None) -> Any:
    out = hm.run(prompts, intervention=intervention)
    logp = out.logits.log_softmax(-1)
    return -logp[:, :-1].gather(-1, out.input_ids[:, 1:, None])[..., 0]


def _copy_losses(hm: Any, prompts: list[str], n: int, intervention: Any = None) -> list[float]:
    nll = _nll(hm, prompts, intervention)
    return [round(nll[:, 1:n].mean().item(), 4), round(nll[:, n + 1 : 2 * n].mean().item(), 4)]


def measure_induction(hm: Any, n: int = 30, n_prompts: int = 24) -> dict[str, Any]:
    """Scores and ablations of ``induction-2l`` on BOS + R + R (len(R) = ``n``)."""

    prompts = tasks.repeated_tokens(n_prompts, n, seed=SEED, vocab="induction-2l")
    prev = _grid(scores.previous_token(hm, prompts, reduce="mean"))
    ind = _grid(scores.induction(hm, prompts, reduce="mean", period=n))
    dup = _grid(scores.duplicate_token(hm, prompts, reduce="mean", period=n))
    clean = _copy_losses(hm, prompts, n)
    top2 = _top(ind, 2, layer=1)
    single = {
        f"{layer}.{head}": _copy_losses(hm, prompts, n, Intervention.zero([(layer, head)]))
        for layer in range(hm.n_layers)
        for head in range(hm.n_heads)
    }
    return {
        "prompts": f"{n_prompts} x BOS + R + R, len(R) = {n}, seed {SEED}",
        "previous_token": prev,
        "induction": ind,
        "duplicate_token": dup,
        "loss_first_second": clean,
        "top2_induction": top2,
        "loss_top2_zeroed": _copy_losses(hm, prompts, n, Intervention.zero(top2)),
        "loss_one_head_zeroed": single,
    }


def _last_logits(hm: Any, prompts: list[str], intervention: Any = None) -> Any:
    import torch

    out = hm.run(prompts, intervention=intervention)
    last = out.attention_mask.sum(-1) - 1
    return out.logits[torch.arange(len(prompts)), last]


def _next_token(hm: Any, items: list[dict], intervention: Any = None) -> dict[str, float]:
    import torch

    logits = _last_logits(hm, [p["prompt"] for p in items], intervention)
    rows = torch.arange(len(items))
    target = torch.tensor([hm.token_id(p["target"]) for p in items])
    distractor = torch.tensor([hm.token_id(p["distractor"]) for p in items])
    diff = logits[rows, target] - logits[rows, distractor]
    return {
        "accuracy": round((logits.argmax(-1) == target).float().mean().item(), 4),
        "logit_diff": round(diff.mean().item(), 4),
    }


def _dla(hm: Any, items: list[dict]) -> list[list[float]]:

    cube = direct_logit_attribution(
        hm,
        [p["prompt"] for p in items],
        [p["target"] for p in items],
        [p["distractor"] for p in items],
        reduce="mean",
        progress=False,
    )
    return _grid(cube)


def _attention_to(hm: Any, items: list[dict], word_key: str) -> list[list[float]]:
    """Mean attention from the last position to the (first) position of ``item[word_key]``."""
    import torch

    total = torch.zeros(hm.n_layers, hm.n_heads)
    for p in items:
        out = hm.run(p["prompt"], patterns=True)
        tokens = out.tokens[0]
        pos = tokens.index(p[word_key].strip())
        total += out.patterns[0, :, :, -1, pos]
    return [[round(float(v), 4) for v in row] for row in total / len(items)]


def _ablation_grid(hm: Any, items: list[dict], key: str) -> list[list[float]]:

    base = _next_token(hm, items)[key]
    return [
        [
            round(_next_token(hm, items, Intervention.zero([(layer, head)]))[key] - base, 4)
            for head in range(hm.n_heads)
        ]
        for layer in range(hm.n_layers)
    ]


_PAIRS = [("end", "article"), ("end", "end"), ("article", "s2"), ("article", "verb")]


def _ioi_roles(hm: Any, items: list[dict]) -> dict[str, Any]:
    """Split DLA, attention between named positions, position-restricted ablations, the MLPs'
    direct effects, backup and a random-head control (see :mod:`headwidgets.zoo.roles`)."""

    split = roles.split_dla(hm, items)
    direct = roles.heads_above(split["io_s"], roles.DLA_THRESHOLD)
    needed = roles.ablation_grid(hm, items)
    clean = roles.logit_diffs(hm, items)
    ablated = roles.logit_diffs(hm, items, direct)
    with hm.intervene(Intervention.zero(direct)):
        after = roles.split_dla(hm, items)["io_s"]
    others = [
        abs(after[layer][head] - split["io_s"][layer][head])
        for layer in range(hm.n_layers)
        for head in range(hm.n_heads)
        if (layer, head) not in direct
    ]
    random_drops = [
        float(
            clean.mean()
            - roles.logit_diffs(hm, items, scores.random_heads(len(direct), seed, hm=hm)).mean()
        )
        for seed in range(20)
    ]
    few = items[:50]
    return {
        "ioi_roles_prompts": f"{len(items)} held-out IOI prompts, seed {SEED}",
        "ioi_dla_io_c": split["io_c"],
        "ioi_dla_s_c": split["s_c"],
        "ioi_direct_heads": direct,
        "ioi_needed_heads": roles.heads_above(needed, roles.ABLATION_THRESHOLD),
        **{
            f"ioi_attention_{query}_to_{key}": grid
            for (query, key), grid in roles.attention_grids(hm, items, _PAIRS).items()
        },
        "ioi_ablation_at_article": roles.ablation_grid(hm, items, at="article"),
        "ioi_ablation_at_end": roles.ablation_grid(hm, items, at="end"),
        "ioi_mlp_direct_effects": roles.mlp_direct_effects(hm, few),
        "ioi_mlp_direct_effects_3_1_zeroed": roles.mlp_direct_effects(
            hm, few, Intervention.zero([(3, 1)])
        ),
        "ioi_direct_heads_backup": {
            "summed_dla": round(sum(split["io_s"][layer][head] for layer, head in direct), 4),
            "drop": round(float(clean.mean() - ablated.mean()), 4),
            "largest_dla_change_other_heads": round(max(others), 4),
        },
        "ioi_direct_heads_vs_random": {
            "drop": round(float(clean.mean() - ablated.mean()), 4),
            "random_mean": round(float(np.mean(random_drops)), 4),
            "random_std": round(float(np.std(random_drops, ddof=1)), 4),
        },
    }


def measure_circuits(hm: Any, n_ioi: int = 200) -> dict[str, Any]:
    """IOI, successor and induction measurements of ``circuits-4l``."""

    held = tasks.ioi_prompts(n_ioi, seed=SEED, split="heldout")
    train = tasks.ioi_prompts(n_ioi, seed=SEED, split="train")
    held_names = tasks.ioi_prompts(n_ioi, seed=SEED, split="train", names=tasks.NAMES_HELDOUT)
    held_templates = tasks.ioi_prompts(n_ioi, seed=SEED, split="heldout", names=tasks.NAMES_TRAIN)
    dla = _dla(hm, held[:100])
    direct = roles.heads_above(dla, roles.DLA_THRESHOLD)
    succ = tasks.successor_prompts(200, seed=SEED)
    succ_dla = _dla(hm, succ[:100])
    repeat = tasks.repeated_tokens(16, 20, seed=SEED, vocab="circuits-4l")
    repeat25 = tasks.repeated_tokens(16, 25, seed=SEED, vocab="circuits-4l")
    sentences = tasks.plain_sentences(32, seed=SEED)
    return {
        "ioi_heldout": _next_token(hm, held),
        "ioi_train_split": _next_token(hm, train),
        "ioi_heldout_names_train_templates": _next_token(hm, held_names),
        "ioi_train_names_heldout_templates": _next_token(hm, held_templates),
        "ioi_dla": dla,
        "ioi_direct_heads_zeroed": _next_token(hm, held, Intervention.zero(direct)),
        **_ioi_roles(hm, held[:100]),
        "ioi_attention_last_to_io": _attention_to(hm, held[:50], "io"),
        "ioi_attention_last_to_s": _attention_to(hm, held[:50], "s"),
        "ioi_ablation_logit_diff": _ablation_grid(hm, held, "logit_diff"),
        "successor": _next_token(hm, succ),
        "successor_dla": succ_dla,
        "successor_ablation_accuracy": _ablation_grid(hm, succ, "accuracy"),
        "previous_token": _grid(scores.previous_token(hm, sentences, reduce="mean")),
        "induction_len20": _grid(scores.induction(hm, repeat, reduce="mean", period=20)),
        "induction_len25": _grid(scores.induction(hm, repeat25, reduce="mean", period=25)),
        "duplicate_token": _grid(scores.duplicate_token(hm, repeat, reduce="mean", period=20)),
        "repeat_loss_first_second": _copy_losses(hm, repeat, 20),
    }


def measure(name: str) -> dict[str, Any]:
    """All measurements of one shipped model (loaded on the CPU in float32)."""
    import headwidgets as hw

    hm = hw.load(name, device="cpu")
    n_params = sum(p.numel() for p in hm.model.parameters())
    size = (hw.zoo.path(name) / "model.safetensors").stat().st_size
    result: dict[str, Any] = {"model": name, "parameters": n_params, "safetensors_bytes": size}
    if name == "induction-2l":
        result.update(measure_induction(hm))
    elif name == "circuits-4l":
        result.update(measure_circuits(hm))
    else:
        raise ValueError(f"no measurements defined for {name!r}")
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"## {result['model']}")
    for key, value in result.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            print(f"{key}:")
            for layer, row in enumerate(value):
                print(f"  L{layer}: " + " ".join(f"{v:+.3f}" for v in row))
        else:
            print(f"{key}: {value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``python -m headwidgets.zoo.measure``)."""

    parser = argparse.ArgumentParser(prog="python -m headwidgets.zoo.measure", description=__doc__)
    parser.add_argument("model", choices=["all", *MODELS])
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    names = list(MODELS) if args.model == "all" else [args.model]
    results = {name: measure(name) for name in names}
    for result in results.values():
        _print(result)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
