"""Multi-GPU (issue 9): a random-init Llama-8B-shaped model sharded over the GPUs of one host.

accelerate places the layers (``device_map``); headwidgets' hooks follow each layer's device.
Times the all-heads sweep (32 layers x 32 heads = 1024 rows, 64 tokens, bf16) and all
attention statistics of every head on a 1024-token prompt, with peak memory per GPU.

    python bench/bench_multigpu.py             # on a machine with >= 2 GPUs
    python bench/bench_multigpu.py --quick     # CPU smoke run (CI): tiny shape, one device
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def build_sharded(quick: bool) -> Any:
    import torch
    import transformers as T
    from _common import word_tokenizer
    from accelerate import dispatch_model, infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    import headwidgets as hw

    shape: dict[str, Any] = {
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "vocab_size": 128256,
        "max_position_embeddings": 8192,
    }
    if quick:
        shape.update(num_hidden_layers=2, hidden_size=128, intermediate_size=256, vocab_size=1000)
    config = T.LlamaConfig(**shape)
    n_gpus = torch.cuda.device_count()
    dtype = torch.bfloat16 if n_gpus else torch.float32
    with torch.device("meta"):
        model = T.LlamaForCausalLM(config).to(dtype)
    if n_gpus >= 2:  # split the layers evenly over the GPUs (the model would fit on one)
        no_split = ["LlamaDecoderLayer"]
        max_memory = get_balanced_memory(model, no_split_module_classes=no_split)
        device_map = infer_auto_device_map(
            model, max_memory=max_memory, no_split_module_classes=no_split
        )
    else:
        device_map = {"": 0 if n_gpus else "cpu"}
    # materialise each module where it will run, with small random weights
    for name, module in model.named_modules():
        owner = max((k for k in device_map if name.startswith(k)), key=len, default="")
        device = device_map.get(owner, "cpu")
        if list(module.parameters(recurse=False)) or list(module.buffers(recurse=False)):
            module.to_empty(
                device=f"cuda:{device}" if isinstance(device, int) else device, recurse=False
            )
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.02)
    rotary = model.model.rotary_emb  # its inv_freq buffer must be computed, not random
    model.model.rotary_emb = type(rotary)(config).to(model.model.embed_tokens.weight.device)
    model = dispatch_model(model, device_map=device_map)
    return hw.bind(model.eval(), word_tokenizer(512), name="random-llama-8b"), device_map


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch
    from _common import prompt, timeit

    import headwidgets as hw

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    hm, device_map = build_sharded(args.quick)
    devices = sorted({str(v) for v in device_map.values()})
    text = prompt(64)
    ids = hm.tokenize(text).input_ids
    metric = hw.Metric("logit_diff", target="w1", distractor="w2")
    specs = hm.single_head_specs("zero")
    n_gpus = torch.cuda.device_count()
    for i in range(n_gpus):
        torch.cuda.reset_peak_memory_stats(i)
    result: dict[str, Any] = {"devices": devices, "model": repr(hm), "heads": len(specs)}
    layers = [str(device_map.get(f"model.layers.{i}", device_map.get("", "?"))) for i in range(32)]
    result["layers per device"] = {d: layers.count(d) for d in devices}
    result["sweep"] = timeit(
        lambda: hm.run_batch(text, specs, 1, lambda lg, b: metric.compute(hm, lg, ids, b)),
        reps=1 if args.quick else 5,
        warmup=1,
    )
    long_text = prompt(64 if args.quick else 1024)
    result["attention statistics"] = timeit(
        lambda: hw.scores.patterns.pattern_scores(hm, long_text, ["previous_token", "sink"]),
        reps=1 if args.quick else 3,
        warmup=1,
    )
    result["peak GiB per GPU"] = [torch.cuda.max_memory_allocated(i) / 2**30 for i in range(n_gpus)]
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
