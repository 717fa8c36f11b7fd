"""The inside-attention site beside the head-output (z) site on the GPU.

All-heads sweeps as ONE batched forward per shape (rows join at their first edited layer):
z zero ablation, sink β = 0 and temperature τ = 2 inside attention (the attention function
recomputes only the edited heads, the other heads run the user's sdpa kernel). By default a
repeated sweep replays a CUDA graph, the attention sweeps too; the ``eager`` rows turn the
graphs off (``hm.cuda_graphs = False``). Target (issue 17): the attention sweeps within 2× of
the z sweep. Usage (repo root, ``PYTHONPATH=$PWD``):

    python3 bench/bench_attention.py [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from _common import build, prompt, timeit


def rows(shape: str, device: str, dtype: Any, n_tokens: int, quick: bool, reps: int) -> dict:
    import torch

    import headwidgets as hw
    from headwidgets import Intervention

    hm = build(shape, device, dtype, quick=quick)
    text = prompt(n_tokens)
    ids = hm.tokenize(text).input_ids
    metric = hw.Metric("logit_diff", target=" w1", distractor=" w2")
    heads = [(layer, head) for layer in range(hm.n_layers) for head in range(hm.n_heads)]
    specs = {
        "z zero": [Intervention.zero([h]) for h in heads],
        "sink 0": [Intervention.sink({h: 0.0}) for h in heads],
        "temperature 2": [Intervention.temperature({h: 2.0}) for h in heads],
    }
    out: dict[str, Any] = {}

    def plain() -> None:
        with torch.no_grad():
            hm.model(input_ids=ids)

    out["plain forward"] = timeit(plain, reps)
    for name, batch in specs.items():

        def sweep(batch: list = batch) -> None:
            hm.sweep_values(text, metric, batch)

        out[f"all-heads sweep, {name} ({len(batch)} rows)"] = timeit(sweep, reps)
    if device == "cuda":  # every sweep without its CUDA graph (eager)
        for name, batch in specs.items():

            def eager(batch: list = batch) -> None:
                hm.cuda_graphs = False
                try:
                    hm.sweep_values(text, metric, batch)
                finally:
                    hm.cuda_graphs = True

            out[f"all-heads sweep, {name}, eager ({len(batch)} rows)"] = timeit(eager, reps)
    z = out[f"all-heads sweep, z zero ({len(heads)} rows)"]["median_ms"]
    for name in ("sink 0", "temperature 2"):
        key = f"all-heads sweep, {name} ({len(heads)} rows)"
        out[key]["ratio_to_z"] = out[key]["median_ms"] / z
    return out


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    reps = 2 if args.quick else args.reps
    result = {}
    for shape, dtype, tokens in [
        ("gpt2-small", torch.bfloat16, 64),
        ("gpt2-small", torch.float32, 64),
        ("llama-1b", torch.bfloat16, 64),
    ]:
        key = f"{shape} {str(dtype).removeprefix('torch.')} {tokens} tokens"
        result[key] = rows(shape, args.device, dtype, tokens, args.quick, reps)
        print(key)
        for name, row in result[key].items():
            ratio = f"  ({row['ratio_to_z']:.2f}x z)" if "ratio_to_z" in row else ""
            print(f"  {name}: {row['median_ms']:.2f} ms{ratio}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
