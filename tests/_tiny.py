"""Random-init tiny models of every supported architecture, and a word-level tokenizer.

Nothing is downloaded: configs are built here, weights are random with a fixed seed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

VOCAB = 100


@cache
def word_tokenizer(n_words: int = VOCAB - 4) -> Any:
    """A WordLevel tokenizer: '<bos>' first, words 'w0'..'w{n-1}', whitespace split."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3}
    vocab.update({f"w{i}": i + 4 for i in range(n_words)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def configs() -> dict[str, tuple[Any, Any]]:
    """model_type -> (config, model class), tiny shapes, GQA where the family has it."""
    import transformers as T

    c: dict[str, Any] = {
        "vocab_size": VOCAB,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
    }
    llama_like = {
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
        **c,
    }
    return {
        "gpt2": (
            T.GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=64, **c),
            T.GPT2LMHeadModel,
        ),
        "gpt_neo": (
            T.GPTNeoConfig(
                num_layers=2,
                attention_types=[[["global", "local"], 1]],
                num_heads=4,
                hidden_size=32,
                max_position_embeddings=64,
                window_size=8,
                **c,
            ),
            T.GPTNeoForCausalLM,
        ),
        "gpt_neox": (
            T.GPTNeoXConfig(
                num_hidden_layers=2,
                num_attention_heads=4,
                hidden_size=32,
                intermediate_size=64,
                max_position_embeddings=64,
                **c,
            ),
            T.GPTNeoXForCausalLM,
        ),
        "gptj": (
            T.GPTJConfig(n_layer=2, n_head=4, n_embd=32, rotary_dim=4, n_positions=64, **c),
            T.GPTJForCausalLM,
        ),
        "opt": (
            T.OPTConfig(
                num_hidden_layers=2,
                num_attention_heads=4,
                hidden_size=32,
                ffn_dim=64,
                word_embed_proj_dim=32,
                max_position_embeddings=64,
                **c,
            ),
            T.OPTForCausalLM,
        ),
        "llama": (T.LlamaConfig(**llama_like), T.LlamaForCausalLM),
        "mistral": (T.MistralConfig(**llama_like), T.MistralForCausalLM),
        "qwen2": (T.Qwen2Config(**llama_like), T.Qwen2ForCausalLM),
        "qwen3": (T.Qwen3Config(head_dim=16, **llama_like), T.Qwen3ForCausalLM),
        "gemma": (
            T.GemmaConfig(head_dim=16, **{**llama_like, "num_key_value_heads": 1}),
            T.GemmaForCausalLM,
        ),
        "gemma2": (
            T.Gemma2Config(head_dim=16, sliding_window=8, **llama_like),
            T.Gemma2ForCausalLM,
        ),
        "phi3": (T.Phi3Config(**llama_like), T.Phi3ForCausalLM),
        "olmo": (T.OlmoConfig(**llama_like), T.OlmoForCausalLM),
        "bert": (
            T.BertConfig(
                num_hidden_layers=2,
                num_attention_heads=4,
                hidden_size=32,
                intermediate_size=64,
                max_position_embeddings=64,
                **c,
            ),
            T.BertForMaskedLM,
        ),
        "roberta": (
            T.RobertaConfig(
                num_hidden_layers=2,
                num_attention_heads=4,
                hidden_size=32,
                intermediate_size=64,
                max_position_embeddings=70,
                **c,
            ),
            T.RobertaForMaskedLM,
        ),
        "distilbert": (
            T.DistilBertConfig(
                n_layers=2, n_heads=4, dim=32, hidden_dim=64, max_position_embeddings=64, **c
            ),
            T.DistilBertForMaskedLM,
        ),
    }


ARCHS = sorted(configs())


def tiny_model(model_type: str, seed: int = 0) -> Any:
    """A random-init tiny model of ``model_type`` in eval mode, fp32, on the CPU."""
    import torch

    config, cls = configs()[model_type]
    torch.manual_seed(seed)
    model = cls(config).eval()
    # random-init biases are zero in several families; make them non-zero so bias bugs show
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.02)
    return model


def tiny(model_type: str = "gpt2", seed: int = 0) -> Any:
    """A bound HeadModel of a tiny random-init model."""
    import headwidgets as hw

    return hw.bind(tiny_model(model_type, seed), word_tokenizer(), name=f"tiny-{model_type}")


def prompt(n: int = 12, seed: int = 0) -> str:
    """A prompt of n random words (n tokens after the BOS)."""
    import random

    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(VOCAB - 4)}" for _ in range(n))


def hook_count(model: Any) -> int:
    """Forward, pre-forward and backward hooks registered anywhere in ``model``."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def checksum(model: Any) -> list[Any]:
    """A copy of every parameter (compare with ``torch.equal`` to prove nothing changed)."""
    return [p.detach().clone() for p in model.parameters()]
