"""Engine benchmark: plain forward, hooks at scale 1, the per-head hooked loop, batched sweep.

All measured side by side in one run, on the same random-init GPT-2-small-shaped model and the
same 32 tokens. Quick mode (CI, CPU) shrinks the model and the repetitions and only checks
that everything executes.

    python bench/bench_engine.py --quick                     # CI
    python bench/bench_engine.py --device cuda --dtype float32   # the GPU machine
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> dict:
    import torch
    from _common import build, prompt, table, timeit

    import headwidgets as hw
    from headwidgets import interventions as iv

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny model, few reps (CI)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    args = parser.parse_args(argv)

    dtype = getattr(torch, args.dtype)
    hm = build("gpt2-small", args.device, dtype, quick=args.quick)
    text = prompt(args.tokens)
    ids = hm.tokenize(text).input_ids
    reps = args.reps or (3 if args.quick else 30)
    metric = hw.Metric("logit_diff", target="w1", distractor="w2")
    specs = hm.single_head_specs("zero")
    ones = {layer: iv.LayerEdit(torch.ones(1, 1, hm.n_heads)) for layer in range(hm.n_layers)}

    def plain() -> None:
        with torch.no_grad():
            hm.model(input_ids=ids)

    def hooked_scale_one() -> None:
        with torch.no_grad(), iv.apply_edits(hm.model, hm.out_projs, hm.n_heads, ones):
            hm.model(input_ids=ids)

    def loop() -> None:
        with torch.no_grad():
            for spec in specs:
                with hm.intervene(spec):
                    hm.model(input_ids=ids)

    def batched() -> None:
        hm.sweep_values(text, metric, specs)

    rows = [
        ("plain HF forward", timeit(plain, reps)),
        ("forward, scale-1 hooks on every output projection", timeit(hooked_scale_one, reps)),
        (f"{len(specs)} hooked forwards one after another", timeit(loop, max(3, reps // 5), 1)),
        (f"all-heads sweep as ONE batched forward ({len(specs)} rows)", timeit(batched, reps)),
    ]
    ratio_hooks = rows[1][1]["median_ms"] / rows[0][1]["median_ms"]
    ratio_sweep = rows[2][1]["median_ms"] / rows[3][1]["median_ms"]
    device = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor()
    )
    print(f"device: {device} | torch {torch.__version__} | {args.dtype} | {args.tokens} tokens")
    print(f"model: {hm}")
    print(table(rows))
    print(f"hook overhead at scale 1: {100 * (ratio_hooks - 1):+.1f}% (target <= +10%)")
    print(f"batched sweep vs hooked loop: {ratio_sweep:.1f}x faster (target >= 30x on GPU fp32)")
    result = {
        "device": device,
        "dtype": args.dtype,
        "tokens": args.tokens,
        "rows": dict(rows),
        "hook_overhead": ratio_hooks - 1,
        "sweep_speedup": ratio_sweep,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
