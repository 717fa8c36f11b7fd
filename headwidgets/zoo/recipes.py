"""The shipped models' recipes: hyper-parameters, tokenizers, model configs and training batches.

:mod:`headwidgets.zoo.train` runs them (``python -m headwidgets.zoo.train``); the task
generators the batches draw from are in :mod:`headwidgets.datasets.tasks`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from headwidgets.datasets import tasks

__all__ = [
    "RECIPES",
    "Batch",
    "Recipe",
    "build_tokenizer",
    "circuits_batch",
    "circuits_model",
    "induction_batch",
    "induction_model",
    "pad_rows",
    "save_tokenizer",
]

Batch = tuple[torch.Tensor, torch.Tensor]  # input_ids (B, T), labels (B, T) with -100 ignored


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one shipped model."""

    name: str
    seed: int
    steps: int
    lr: float
    warmup: int
    batch_size: int
    weight_decay: float = 0.01
    model: tuple[tuple[str, Any], ...] = ()
    """Overrides of the model config (see :func:`induction_model`, :func:`circuits_model`)."""
    seq_len: int = 128
    """Training sequence length of ``induction-2l`` (BOS included)."""
    alternation: float = 0.2
    """``induction-2l``: probability that a chunk is an alternation ``x y x y ...``."""
    copies: float = 0.5
    """``induction-2l``: probability that a chunk copies an earlier span."""
    max_copy: int = 40
    """``induction-2l``: longest copied span (copies are 2..``max_copy`` tokens long)."""
    mix: tuple[tuple[str, float], ...] = ()
    """Task shares of ``circuits-4l`` batches (default :data:`CIRCUITS_MIX`)."""


RECIPES: dict[str, Recipe] = {
    "induction-2l": Recipe(
        "induction-2l",
        seed=1,
        steps=2500,
        lr=1e-3,
        warmup=100,
        batch_size=64,
        seq_len=128,
    ),
    "circuits-4l": Recipe(
        "circuits-4l",
        seed=2,
        steps=6000,
        lr=2e-3,
        warmup=200,
        batch_size=64,
        model=(("num_attention_heads", 4), ("num_key_value_heads", 2), ("head_dim", 32)),
    ),
}

# --------------------------------------------------------------------------------------------
# tokenizers
# --------------------------------------------------------------------------------------------


def build_tokenizer(words: Sequence[str], model_max_length: int):  # -> PreTrainedTokenizerFast
    """Word-level tokenizer: one token per whitespace/punctuation-separated word, BOS first.

    Parameters
    ----------
    words : sequence of str
        Word tokens (special tokens are prepended: ``<bos>`` = 0, ``<eos>`` = 1, ``<unk>`` = 2,
        ``<pad>`` = 3).
    model_max_length : int
        Maximum sequence length recorded in the tokenizer config.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        ``tokenizer("When Mary and John")`` gives ``<bos> When Mary and John``;
        ``tokenizer.encode(" Mary", add_special_tokens=False)`` is one token.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate([*tasks.SPECIAL_TOKENS, *words])}
    if len(vocab) != len(tasks.SPECIAL_TOKENS) + len(words):
        raise ValueError("duplicate words in the vocabulary")
    tok = Tokenizer(models.WordLevel(vocab, unk_token=tasks.UNK))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+|[^\w\s]+: "store," -> "store" ","
    tok.post_processor = processors.TemplateProcessing(
        single=f"{tasks.BOS} $A",
        pair=f"{tasks.BOS} $A $B",
        special_tokens=[(tasks.BOS, vocab[tasks.BOS])],
    )
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=tasks.BOS,
        eos_token=tasks.EOS,
        unk_token=tasks.UNK,
        pad_token=tasks.PAD,
        model_max_length=model_max_length,
    )


def save_tokenizer(tokenizer, out: Path) -> None:
    """Write ``tokenizer`` into ``out`` in Hugging Face format (``tokenizer.json`` + config)."""
    tokenizer.save_pretrained(out)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"  # loadable by transformers 4.x as well
    cfg["add_bos_token"] = True
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------

INDUCTION_CTX = 128
CIRCUITS_CTX = 256


def induction_model(**overrides: Any):
    """A fresh ``induction-2l``: GPT-2, 2 layers x 4 heads, d_model 128, small MLP."""
    from transformers import GPT2Config, GPT2LMHeadModel

    n_vocab = len(tasks.SPECIAL_TOKENS) + len(tasks.induction_vocab())
    kwargs: dict[str, Any] = dict(
        vocab_size=n_vocab,
        n_positions=INDUCTION_CTX,
        n_embd=128,
        n_layer=2,
        n_head=4,
        n_inner=256,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=3,
        tie_word_embeddings=True,
    )
    kwargs.update(overrides)
    return GPT2LMHeadModel(GPT2Config(**kwargs))


def circuits_model(**overrides: Any):
    """A fresh ``circuits-4l``: Llama, 4 layers, 8 query / 4 key-value heads of 16, d_model 128."""
    from transformers import LlamaConfig, LlamaForCausalLM

    n_vocab = len(tasks.SPECIAL_TOKENS) + len(tasks.circuits_vocab())
    kwargs: dict[str, Any] = dict(
        vocab_size=n_vocab,
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=16,
        max_position_embeddings=CIRCUITS_CTX,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        attention_dropout=0.0,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=3,
    )
    kwargs.update(overrides)
    return LlamaForCausalLM(LlamaConfig(**kwargs))


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def pad_rows(rows: list[list[int]], pad_id: int) -> Batch:
    """Right-pad token rows with ``pad_id`` into (input_ids, labels); labels are -100 on the
    padding, so the loss ignores it (training batches, not the engine's left padding)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        labels[i, : len(r)] = torch.tensor(r)
    return ids, labels


def induction_batch(
    rng: random.Random,
    batch_size: int,
    seq_len: int,
    alternation: float = 0.2,
    copies: float = 0.5,
    max_copy: int = 40,
) -> Batch:
    """Random-token sequences with repeated spans at random places (ids directly, BOS = 0).

    Each row is ``BOS`` followed by chunks until ``seq_len`` tokens: with probability
    ``alternation`` an alternation ``x y x y ...`` of 4..8 tokens, with probability ``copies``
    a copy of an earlier span of the row (2..``max_copy`` tokens, from a random place), else
    1..10 fresh uniformly random tokens.

    Why: repeats never sit at a fixed period or position, so only content-based induction
    (attend to the token right after the earlier occurrence of the current token) predicts
    them. Alternations are the one place where a previous-token head pays off on its own (the
    next token is the one before the current one), so layer 0 grows a previous-token head
    early and the layer-1 induction head forms on top of it (K-composition) within a few
    hundred steps instead of after a long plateau. Without alternations the same model
    plateaus for thousands of steps and settles on weaker positional shortcuts.
    """
    n_special = len(tasks.SPECIAL_TOKENS)
    n_words = len(tasks.induction_vocab())
    length = seq_len - 1

    def fresh(k: int) -> list[int]:
        return [n_special + rng.randrange(n_words) for _ in range(k)]

    rows = []
    for _ in range(batch_size):
        seq: list[int] = []
        while len(seq) < length:
            u = rng.random()
            if u < alternation:
                k = rng.randint(4, 8)
                seq += (fresh(2) * k)[:k]
            elif len(seq) >= 4 and u < alternation + copies:
                k = rng.randint(2, min(max_copy, len(seq)))
                start = rng.randrange(len(seq) - k + 1)
                seq += seq[start : start + k]
            else:
                seq += fresh(rng.randint(1, 10))
        rows.append([0, *seq[:length]])
    return pad_rows(rows, 3)


CIRCUITS_MIX: dict[str, float] = {
    "ioi": 0.45,
    "successor": 0.15,
    "repeat": 0.15,
    "copy": 0.1,
    "sentences": 0.15,
}
"""Share of training batches per task for ``circuits-4l`` (one task per batch)."""


def circuits_texts(task: str, n: int, seed: int) -> list[str]:
    """Training texts of one ``circuits-4l`` task (IOI uses the train split only)."""
    rng = random.Random(f"{task}-{seed}")
    if task == "ioi":
        return [f"{p['prompt']}{p['target']} ." for p in tasks.ioi_prompts(n, seed, "train")]
    if task == "successor":
        return [" ".join([*run, nxt]) for _, run, nxt in tasks.successor_runs(n, seed, 1, 11)]
    if task == "repeat":
        words = tasks.content_words()
        out = []
        for _ in range(n):
            r = [rng.choice(words) for _ in range(rng.randint(3, 20))]
            out.append(" ".join(r * rng.choice((2, 2, 3))))
        return out
    if task == "copy":
        return [p["text"] for p in tasks.copy_prompts(n, seed)]
    if task == "sentences":
        sents = tasks.plain_sentences(3 * n, seed)
        out = []
        for i in range(n):
            k = rng.randint(1, 3)
            text = " ".join(sents[3 * i : 3 * i + k])
            # repeat a sentence now and then so that names are copied from context too
            out.append(f"{text} {text}" if rng.random() < 0.3 else text)
        return out
    raise ValueError(f"unknown task {task!r}")


def circuits_batch(
    tokenizer, rng: random.Random, batch_size: int, mix: dict[str, float] | None = None
) -> Batch:
    """One batch of a task drawn from ``mix`` (default :data:`CIRCUITS_MIX`), tokenized."""
    mix = CIRCUITS_MIX if not mix else mix
    names = list(mix)
    task = rng.choices(names, weights=[mix[t] for t in names])[0]
    texts = circuits_texts(task, batch_size, rng.randrange(2**31))
    encs = tokenizer.backend_tokenizer.encode_batch(texts)
    return pad_rows([e.ids for e in encs], tokenizer.pad_token_id)
