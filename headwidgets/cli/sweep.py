"""``headwidgets sweep``: every head edited one at a time, one batched pass."""

from __future__ import annotations

import argparse
import time

from headwidgets.cli._common import CLIError, load_model, log, out_paths, save
from headwidgets.cli.prompts import read_lines
from headwidgets.vocab import METRIC_KINDS


def run(args: argparse.Namespace) -> int:
    from headwidgets.metrics import Metric

    paths = out_paths(args.out, ["ablation_effect"])
    if args.metric not in METRIC_KINDS:
        raise CLIError(f"unknown metric {args.metric!r}; valid metrics: {', '.join(METRIC_KINDS)}")
    metric = Metric(
        args.metric,  # type: ignore[arg-type]
        target=args.target,
        distractor=args.distractor,
        position=args.position,
    )
    reference = read_lines(args.reference) if args.reference else None
    if args.mode == "mean" and not reference:
        raise CLIError("--mode mean needs --reference FILE (prompts to average over)")
    if args.mode == "resample" and not args.source:
        raise CLIError("--mode resample needs --source TEXT (the prompt z comes from)")
    hm = load_model(args)
    if metric.target is not None:
        metric.token_ids(hm)  # fail on a multi-token target before the sweep
    start = time.perf_counter()
    cube = hm.sweep(
        args.prompt,
        metric,
        mode=args.mode,
        alpha=args.alpha,
        reference=reference,
        source=args.source,
    )
    clean = cube.attrs.get("metric_clean")
    log(
        args,
        f"swept {hm.n_layers * hm.n_heads} heads in {time.perf_counter() - start:.2f} s"
        + (f"; clean {metric.describe()} = {float(clean):.4g}" if clean is not None else ""),
    )
    print(save(cube, paths["ablation_effect"]))
    return 0
