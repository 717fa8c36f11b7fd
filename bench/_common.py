"""Shared benchmark helpers: random-init models built from configs, timing, tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def word_tokenizer(n_words: int) -> Any:
    """A WordLevel tokenizer 'w0'.. with a BOS, so prompts of exactly n tokens are easy."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3}
    vocab.update({f"w{i}": i + 4 for i in range(n_words)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )


def build(shape: str, device: str, dtype: Any, quick: bool = False) -> Any:
    """A bound random-init model: 'gpt2-small' (12x12) or 'llama-1b' (16 x 32 heads, GQA 8)."""
    import torch
    import transformers as T

    import headwidgets as hw

    torch.manual_seed(0)
    if shape == "gpt2-small":
        small = {"n_layer": 2, "n_embd": 96, "vocab_size": 1000} if quick else {}
        config = T.GPT2Config(**{"n_layer": 12, "n_head": 12, "n_embd": 768, **small})
        with torch.device(device):
            model = T.GPT2LMHeadModel(config)
    elif shape == "llama-1b":
        config = T.LlamaConfig(
            num_hidden_layers=2 if quick else 16,
            num_attention_heads=32,
            num_key_value_heads=8,
            hidden_size=2048 if not quick else 128,
            intermediate_size=8192 if not quick else 256,
            vocab_size=128256 if not quick else 1000,
            max_position_embeddings=4096,
        )
        with torch.device(device):
            model = T.LlamaForCausalLM(config)
    else:
        raise ValueError(f"unknown shape {shape!r}; valid: gpt2-small, llama-1b")
    model = model.to(device=device, dtype=dtype).eval()
    return hw.bind(model, word_tokenizer(512), name=f"random-{shape}")


def prompt(n_tokens: int) -> str:
    """n_tokens - 1 words after the BOS: exactly n_tokens tokens."""
    return " ".join(f"w{(7 * i) % 512}" for i in range(n_tokens - 1))


def timeit(fn: Callable[[], Any], reps: int, warmup: int = 3) -> dict[str, float]:
    """Median and p95 wall time in ms (device synchronized)."""
    import torch

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))],
        "reps": reps,
    }


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = ["| what | median ms | p95 ms |", "|---|---|---|"]
    for name, t in rows:
        lines.append(f"| {name} | {t['median_ms']:.2f} | {t['p95_ms']:.2f} |")
    return "\n".join(lines)
