"""GPU suite (issue 8): refresh and sweeps side by side with the baselines, in ONE run.

Same random-init model and tokens for every row:

- plain HF forward; the same replayed as a CUDA graph (the floor)
- refresh: a new per-head intervention -> logits, through ``Refresher`` (CUDA graph)
- the per-head hooked loop (144 forwards) and nnsight's traced forward when installed
- the all-heads sweep as one batched forward, with and without prefix reuse (growing batch)
- Llama-shaped 1.2B (16 layers x 32 heads, GQA 8): the 512-head sweep at 64 tokens
- peak GPU memory of all attention statistics on a 2048-token prompt vs keeping every
  layer's attention probabilities (HF ``output_attentions=True``, what a full cache holds)

    python bench/bench_gpu.py            # on the GPU machine, prints markdown tables
    python bench/bench_gpu.py --quick    # CPU smoke run (CI)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _cuda_graph_forward(hm: Any, ids: Any) -> Any:
    """A replay function for the plain forward captured as a CUDA graph (no hooks)."""
    import torch

    from headwidgets.engine.graphs import capture_graph

    def forward() -> Any:
        with torch.no_grad():
            return hm.model(input_ids=ids, logits_to_keep=1, use_cache=False).logits

    graph, _ = capture_graph(forward)
    return graph.replay


def _sweep(hm: Any, text: str, ids: Any, metric: Any, specs: Any, grow: bool, graphs: bool) -> Any:
    """A timed callable: the all-heads sweep, with or without prefix reuse and CUDA graphs."""

    def run() -> Any:
        hm.cuda_graphs = graphs
        return hm.run_batch(
            text, specs, 1, lambda lg, base: metric.compute(hm, lg, ids, base), grow=grow
        )

    return run


def gpt2_rows(dtype_name: str, n_tokens: int, quick: bool, reps: int) -> dict[str, Any]:
    import torch
    from _common import build, prompt, timeit

    import headwidgets as hw
    from headwidgets.engine.refresh import Refresher

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    hm = build("gpt2-small", device, getattr(torch, dtype_name), quick=quick)
    text = prompt(n_tokens)
    ids = hm.tokenize(text).input_ids
    metric = hw.Metric("logit_diff", target="w1", distractor="w2")
    specs = hm.single_head_specs("zero")
    rows: dict[str, Any] = {}

    def plain() -> None:
        with torch.no_grad():
            hm.model(input_ids=ids, use_cache=False)

    rows["plain HF forward"] = timeit(plain, reps)
    if cuda:
        rows["plain forward as a CUDA graph (floor)"] = timeit(_cuda_graph_forward(hm, ids), reps)
    refresher = Refresher(hm, text)
    toggle = [
        hw.Intervention.scale({(hm.n_layers - 1, 3): 0.0}),
        hw.Intervention.scale({(0, 1): 2.0}),
    ]
    state = {"i": 0}

    def refresh() -> None:
        state["i"] ^= 1
        refresher.logits_on_device(toggle[state["i"]])

    rows[f"refresh: new intervention -> logits (CUDA graph: {refresher.uses_cuda_graph})"] = timeit(
        refresh, reps
    )

    def loop() -> None:
        with torch.no_grad():
            for spec in specs:
                with hm.intervene(spec):
                    hm.model(input_ids=ids, use_cache=False)

    rows[f"{len(specs)} hooked forwards one after another"] = timeit(loop, max(3, reps // 10), 1)
    try:
        from nnsight import NNsight

        traced = NNsight(hm.model)
        width = hm.head_dim

        def nnsight_one() -> None:
            with torch.no_grad(), traced.trace(ids):
                site = traced.transformer.h[0].attn.c_proj
                site.input[:, :, 3 * width : 4 * width] = 0
                traced.lm_head.output.save()

        rows["nnsight: one traced forward with one head zeroed"] = timeit(nnsight_one, reps)
    except Exception as err:  # optional peer: recorded as missing
        rows["nnsight: one traced forward with one head zeroed"] = {"error": str(err)[:120]}

    def sweep(grow: bool, graphs: bool) -> Any:
        return _sweep(hm, text, ids, metric, specs, grow, graphs)

    label = f"all-heads sweep, ONE batched forward ({len(specs)} rows)"
    rows[f"{label}, eager, no prefix reuse"] = timeit(sweep(False, False), reps)
    rows[f"{label}, eager, prefix reuse (a first sweep)"] = timeit(sweep(True, False), reps)
    rows[f"{label}, prefix reuse, repeated (CUDA graph; default)"] = timeit(sweep(True, True), reps)
    return rows


def llama_rows(quick: bool, reps: int) -> dict[str, Any]:
    import torch
    from _common import build, prompt, timeit

    import headwidgets as hw

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    hm = build("llama-1b", device, dtype, quick=quick)
    text = prompt(64)
    ids = hm.tokenize(text).input_ids
    metric = hw.Metric("logit_diff", target="w1", distractor="w2")
    specs = hm.single_head_specs("zero")
    rows: dict[str, Any] = {}

    def plain() -> None:
        with torch.no_grad():
            hm.model(input_ids=ids, use_cache=False)

    rows["Llama-1.2B shape, bf16 forward, 64 tokens"] = timeit(plain, reps)

    def sweep(grow: bool, graphs: bool) -> Any:
        return _sweep(hm, text, ids, metric, specs, grow, graphs)

    n = len(specs)
    fewer = max(3, reps // 3)
    rows[f"{n}-head sweep, eager, no prefix reuse"] = timeit(sweep(False, False), fewer)
    rows[f"{n}-head sweep, eager, prefix reuse (a first sweep)"] = timeit(sweep(True, False), fewer)
    rows[f"{n}-head sweep, prefix reuse, repeated (CUDA graph; default)"] = timeit(
        sweep(True, True), fewer
    )
    return rows


def memory_rows(quick: bool) -> dict[str, Any]:
    """Peak extra GPU memory: all attention statistics vs keeping every layer's patterns."""
    import torch

    if not torch.cuda.is_available():
        return {}
    from _common import build, prompt

    import headwidgets as hw

    hm = build("llama-1b" if not quick else "gpt2-small", "cuda", torch.bfloat16, quick=quick)
    n_tokens = 2048
    text = prompt(n_tokens)
    ids = hm.tokenize(text).input_ids
    out: dict[str, Any] = {"tokens": n_tokens}

    def peak(fn: Any) -> float:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20

    def all_patterns() -> None:
        with torch.no_grad(), hm.eager_attention():
            hm.model(input_ids=ids, output_attentions=True, logits_to_keep=1)

    def statistics() -> None:
        hw.scores.patterns.pattern_scores(
            hm, text, ["previous_token", "sink", "self", "entropy", "attention_distance"]
        )

    def plain() -> None:
        with torch.no_grad(), hm.eager_attention():
            hm.model(input_ids=ids, logits_to_keep=1)

    out["plain eager forward (MiB)"] = peak(plain)
    out["all attention statistics, every head (MiB)"] = peak(statistics)
    out["every layer's attention probabilities kept (MiB)"] = peak(all_patterns)
    one_layer = hm.n_heads * n_tokens * n_tokens * 2 / 2**20
    out["one layer of attention probabilities, bf16 (MiB)"] = one_layer
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import platform

    import torch

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny models, few reps (CI, CPU)")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", choices=["gpt2", "llama", "memory"], default=None)
    args = parser.parse_args(argv)
    reps = args.reps or (2 if args.quick else 50)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.machine()
    result: dict[str, Any] = {"device": device, "torch": torch.__version__}
    try:
        import transformers

        result["transformers"] = transformers.__version__
        import nnsight

        result["nnsight"] = nnsight.__version__
    except Exception:
        pass
    print(json.dumps(result))
    configs = [("float32", 32), ("bfloat16", 32), ("float32", 256), ("bfloat16", 256)]
    if args.quick:
        configs = configs[:1]
    for dtype_name, n_tokens in configs if args.only in (None, "gpt2") else []:
        rows = gpt2_rows(dtype_name, 12 if args.quick else n_tokens, args.quick, reps)
        result[f"gpt2-small {dtype_name} {n_tokens} tokens"] = rows
        _print(f"GPT-2-small shape, {dtype_name}, {n_tokens} tokens", rows)
    if args.only in (None, "llama"):
        rows = llama_rows(args.quick, reps)
        result["llama-1b bf16 64 tokens"] = rows
        _print("Llama-shaped 1.2B, bf16, 64 tokens", rows)
    if args.only in (None, "memory"):
        mem = memory_rows(args.quick)
        result["memory"] = mem
        print(json.dumps(mem, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return result


def _print(title: str, rows: dict[str, Any]) -> None:
    print(f"\n### {title}\n| what | median ms | p95 ms |\n|---|---|---|")
    for name, t in rows.items():
        if "error" in t:
            print(f"| {name} | n/a ({t['error']}) | |")
        else:
            print(f"| {name} | {t['median_ms']:.3f} | {t['p95_ms']:.3f} |")


if __name__ == "__main__":
    main()
