"""CUDA sanity check of the inside-attention site (bf16 and fp32, sdpa kernel on the GPU).

Neutral edits equal the unedited run; KV-cache generation equals uncached generation under
pattern and q/k/v edits; a batched sweep row equals its single edited run.
Usage (repo root): ``PYTHONPATH=$PWD python3 bench/check_attention_cuda.py``
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
import headwidgets as hw
from headwidgets import Intervention
from tests._tiny import prompt, tiny_model, word_tokenizer


def main() -> None:
    for dtype in (torch.float32, torch.bfloat16):
        model = tiny_model("llama").to("cuda", dtype)
        hm = hw.bind(model, word_tokenizer(), name="tiny-llama")
        ids = hm.tokenize(prompt(12)).input_ids
        every = {(layer, head): 1.0 for layer in range(2) for head in range(4)}
        with torch.no_grad():
            plain = hm.model(input_ids=ids).logits
            with hm.intervene(Intervention.sink(every)):
                neutral = hm.model(input_ids=ids).logits
        direction = torch.linspace(-1, 1, hm.head_dim).tolist()
        spec = (
            Intervention.window({(0, 1): 3}, sinks=1)
            | Intervention.sink({(1, 0): 0.0})
            | Intervention.qkv_add("k", {(0, 1): 2.0}, direction)
        )
        with torch.no_grad(), hm.intervene(spec):
            cached = hm.model.generate(ids, max_new_tokens=10, do_sample=False, use_cache=True)
            uncached = hm.model.generate(ids, max_new_tokens=10, do_sample=False, use_cache=False)
            single = hm.model(input_ids=ids).logits[0, -1]
        batched = hm.run_batch(prompt(12), [Intervention(), spec], logits_to_keep=1)[1, -1]
        print(
            dtype,
            "neutral max |diff|",
            float((neutral - plain).abs().max()),
            "cached == uncached",
            bool(torch.equal(cached, uncached)),
            "batched vs single max |diff|",
            float((batched.float().cpu() - single.float().cpu()).abs().max()),
            "kernel after",
            hm.model.config._attn_implementation,
        )


if __name__ == "__main__":
    main()
