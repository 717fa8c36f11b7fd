"""Path patching at GPT-2-small shape (12 layers x 12 heads, random weights, no download).

Times ``hw.scores.path_patching`` for the direct path and for every head of the last three
layers as receivers (q, k and v): one batched pass 1 for all senders and one batched pass 2
per receiver input. Run: ``python bench/bench_circuits.py [cuda|cpu] [n_tokens]``.
"""

from __future__ import annotations

import sys
import time

import torch
import transformers as T

import headwidgets as hw
from tests._tiny import word_tokenizer


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")
    n_tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    config = T.GPT2Config(n_layer=12, n_head=12, n_embd=768, n_positions=256, vocab_size=100)
    torch.manual_seed(0)
    hm = hw.bind(T.GPT2LMHeadModel(config).eval().to(device), word_tokenizer(), name="gpt2-shape")
    clean = " ".join(f"w{i % 90}" for i in range(n_tokens))
    corrupt = " ".join(f"w{(i * 7) % 90}" for i in range(n_tokens))
    metric = hw.Metric("logit_diff", target="w1", distractor="w2")
    receivers = [(layer, head) for layer in (9, 10, 11) for head in range(12)]
    for label, kwargs in (
        ("direct path, 144 senders", {}),
        ("36 receivers x q,k,v", {"receivers": receivers}),
    ):
        for attempt in ("warm-up", "timed"):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            cube = hw.scores.path_patching(hm, clean, corrupt, metric, **kwargs)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            if attempt == "timed":
                print(
                    f"{label}: {seconds:.2f} s on {device}, {n_tokens + 1} tokens, "
                    f"cube {dict(cube.sizes)}"
                )


if __name__ == "__main__":
    main()
