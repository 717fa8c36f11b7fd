"""``headwidgets scores``: attention statistics, weight and causal scores of a prompt set."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

from headwidgets.cli._common import (
    CLIError,
    load_model,
    log,
    out_paths,
    reduce_arg,
    save_cubes,
    token_list,
)
from headwidgets.cli.prompts import PromptFile, check_prompts, read_prompts

WEIGHT_SCORES = ("ov_copying",)


RAW = ("attention",)  # raw patterns (layer, head, query, key, prompt), for `figure --kind pattern`


CAUSAL_SCORES = (
    "retrieval",
    "ablation_effect",
    "activation_patching",
    "attribution_patching",
    "direct_logit_attribution",
)


def pattern_names() -> tuple[str, ...]:
    from headwidgets.scores.statistics import STATISTICS

    return tuple(STATISTICS)


def score_names(names: Sequence[str]) -> list[str]:
    valid = [*pattern_names(), *RAW, *WEIGHT_SCORES, *CAUSAL_SCORES]
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise CLIError(f"unknown score {unknown[0]!r}; valid scores: {', '.join(valid)}")
    return list(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    names = score_names(args.names)
    paths = out_paths(args.out, names)
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    check_prompts(args.prompts)
    hm = load_model(args)
    prompts = read_prompts(args.prompts, hm, args.seed)
    log(args, f"{len(prompts.prompts)} prompts from {prompts.source}")
    reduce = reduce_arg(args.reduce)
    progress = not args.quiet
    cubes: dict[str, Any] = {}
    start = time.perf_counter()

    pattern = [name for name in names if name in pattern_names()]
    if pattern:
        from headwidgets.scores.patterns import pattern_scores

        cubes.update(
            pattern_scores(
                hm,
                prompts.prompts,
                names=pattern,  # type: ignore[arg-type]
                per_query=args.per_query,
                reduce=reduce,
                window=args.window,
                tokens=token_list(args.tokens),
                batch_size=args.batch_size,
                progress=progress,
            )
        )
    for name in names:
        if name in pattern:
            continue
        if name == "attention":  # every prompt keeps its own pattern: no reduction
            cubes[name] = score_function(name)(
                hm, prompts.prompts, batch_size=args.batch_size, progress=progress
            )
        elif name in WEIGHT_SCORES:
            cubes[name] = score_function(name)(hm, k=args.k)
        else:
            cubes[name] = causal_score(name, hm, prompts, args, reduce, progress)
    log(args, f"computed {', '.join(names)} in {time.perf_counter() - start:.1f} s")
    for path in save_cubes({name: cubes[name] for name in names}, paths):
        print(path)
    return 0


def score_function(name: str) -> Callable[..., Any]:
    """``hw.scores.<name>``."""
    from headwidgets import scores

    found: Callable[..., Any] = getattr(scores, name)
    return found


def causal_score(
    name: str,
    hm: Any,
    prompts: PromptFile,
    args: argparse.Namespace,
    reduce: Any,
    progress: bool,
) -> Any:
    fn = score_function(name)
    common = {"reduce": reduce, "progress": progress}
    if name == "retrieval":
        needles = prompts.needles or prompts.targets
        if needles is None:
            raise CLIError(
                f"retrieval needs the needle of each prompt: use @needle, or add the needle "
                f"text as a tab-separated second column to {prompts.source}"
            )
        return fn(hm, prompts.prompts, needles, batch_size=args.batch_size, **common)
    metrics = prompts.metrics(args.metric)  # checks that there are targets
    if name == "direct_logit_attribution":
        return fn(hm, prompts.prompts, prompts.targets, prompts.distractors, **common)
    if name == "ablation_effect":
        return fn(hm, prompts.prompts, metrics, **common)
    if prompts.corrupted is None:
        raise CLIError(
            f"{name} needs corrupted prompts: use @ioi or @successor, or add a 4th "
            f"tab-separated column to {prompts.source}"
        )
    return fn(hm, prompts.prompts, prompts.corrupted, metrics, **common)
