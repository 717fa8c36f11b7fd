"""Probe: how much would ``torch.compile`` speed up the 1.2B Llama sweep's layers?

Times the 16 decoder layers of a random-init Llama-1.2B shape (bf16) on a 512 x 64 batch —
the row count of the 512-head sweep — eagerly and compiled, without hooks. Not part of the
engine; the numbers are in bench/RESULTS.md (issue 8 follow-up). Needs a CUDA GPU::

    python bench/probe_compile.py
"""

from __future__ import annotations

import time
from typing import Any


def main() -> None:
    import torch
    import transformers as T

    torch.manual_seed(0)
    config = T.LlamaConfig(
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        hidden_size=2048,
        intermediate_size=8192,
        vocab_size=128256,
        max_position_embeddings=2048,
    )
    model = T.LlamaForCausalLM(config).to("cuda", torch.bfloat16).eval()
    ids = torch.randint(0, 1000, (512, 64), device="cuda")

    def bench(fn: Any, n: int = 10) -> float:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return 1000 * sorted(times)[n // 2]

    body = model.model

    def layers_only(h: Any, pos: Any) -> Any:
        for layer in body.layers:
            h = layer(h, position_embeddings=pos, attention_mask=None, position_ids=None)
            h = h[0] if isinstance(h, tuple) else h
        return h

    with torch.no_grad():
        full = bench(lambda: model(input_ids=ids, logits_to_keep=1, use_cache=False).logits)
        print(f"eager 512x64 full forward: {full:.1f} ms")
        h0 = body.embed_tokens(ids)
        pos = body.rotary_emb(h0, torch.arange(64, device="cuda")[None])
        print(f"eager layers only: {bench(lambda: layers_only(h0, pos)):.1f} ms")
        start = time.time()
        compiled = torch.compile(layers_only)
        compiled(h0, pos)
        print(f"compile: {time.time() - start:.1f} s")
        print(f"compiled layers only (default mode): {bench(lambda: compiled(h0, pos)):.1f} ms")


if __name__ == "__main__":
    main()
