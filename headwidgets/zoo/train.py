"""Recipe: rebuild the shipped models from scratch (fixed seeds, CPU, a few minutes each).

Usage::

    python -m headwidgets.zoo.train all            # what `make models` runs
    python -m headwidgets.zoo.train induction-2l
    python -m headwidgets.zoo.train circuits-4l --out /tmp/zoo --steps 500

Each model is written in standard Hugging Face format (``config.json``, ``model.safetensors``,
``generation_config.json``, ``tokenizer.json``, ``tokenizer_config.json``) into
``headwidgets/zoo/<name>/`` (or ``--out/<name>``); the hand-written model card ``README.md``
there is left untouched. Training runs with 2 torch threads by default (``--threads``); with the
same torch version and thread count the weights are reproduced.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from headwidgets.datasets import tasks
from headwidgets.zoo import ROOT

__all__ = ["RECIPES", "Recipe", "build_tokenizer", "main", "train"]

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


def _save_tokenizer(tokenizer, out: Path) -> None:
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


def _pad(rows: list[list[int]], pad_id: int) -> Batch:
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
    return _pad(rows, 3)


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
    return _pad([e.ids for e in encs], tokenizer.pad_token_id)


# --------------------------------------------------------------------------------------------
# evaluation during training (no dependency on the engine)
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def _ioi_eval(model, tokenizer, split: str, n: int = 200, seed: int = 999) -> dict[str, float]:
    prompts = tasks.ioi_prompts(n, seed, split)  # type: ignore[arg-type]
    return _next_token_eval(model, tokenizer, prompts)


@torch.no_grad()
def _next_token_eval(model, tokenizer, prompts: list[dict[str, str]]) -> dict[str, float]:
    encs = tokenizer.backend_tokenizer.encode_batch([p["prompt"] for p in prompts])
    ids, _ = _pad([e.ids for e in encs], tokenizer.pad_token_id)
    last = torch.tensor([len(e.ids) - 1 for e in encs])
    dev = next(model.parameters()).device
    logits = model(input_ids=ids.to(dev)).logits.cpu()[torch.arange(len(prompts)), last]
    tgt = torch.tensor([tokenizer.convert_tokens_to_ids(p["target"].strip()) for p in prompts])
    dis = torch.tensor([tokenizer.convert_tokens_to_ids(p["distractor"].strip()) for p in prompts])
    rows = torch.arange(len(prompts))
    acc = (logits.argmax(-1) == tgt).float().mean().item()
    diff = (logits[rows, tgt] - logits[rows, dis]).mean().item()
    return {"acc": acc, "logit_diff": diff}


@torch.no_grad()
def _induction_eval(model, n: int = 30, rows: int = 16, seed: int = 999) -> dict[str, float]:
    """Copy losses on BOS + R + R, best previous-token score in layer 0 and best scores of
    layer 1 at the canonical induction offset (q-n+1) and at the shifted one (q-n+2)."""
    g = torch.Generator().manual_seed(seed)
    n_special = len(tasks.SPECIAL_TOKENS)
    r = torch.stack(
        [torch.randperm(len(tasks.induction_vocab()), generator=g)[:n] for _ in range(rows)]
    )
    ids = torch.cat([torch.zeros(rows, 1, dtype=torch.long), r + n_special, r + n_special], 1)
    dev = next(model.parameters()).device
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    out = model(input_ids=ids.to(dev), output_attentions=True)
    model.set_attn_implementation(before)
    logp = out.logits.float().cpu().log_softmax(-1)
    nll = -logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]  # nll[:, t] predicts token t+1
    att = [a.float().cpu() for a in out.attentions]  # per layer (B, H, T, T)
    q = torch.arange(n + 1, 2 * n)
    q1 = torch.arange(1, 2 * n + 1)
    return {
        "loss_first": nll[:, 1:n].mean().item(),
        "loss_second": nll[:, n + 1 : 2 * n].mean().item(),
        "prev_L0": att[0][..., q1, q1 - 1].mean((0, -1)).max().item(),
        "ind_L1": att[-1][..., q, q - n + 1].mean((0, -1)).max().item(),
        "ind_L1_shift": att[-1][..., q, q - n + 2].mean((0, -1)).max().item(),
    }


# --------------------------------------------------------------------------------------------
# training loop
# --------------------------------------------------------------------------------------------


def train(
    model: torch.nn.Module,
    recipe: Recipe,
    batch_fn: Callable[[random.Random], Batch],
    eval_fn: Callable[[], dict[str, float]],
    steps: int | None = None,
    log_every: int = 500,
) -> dict[str, float]:
    """AdamW with linear warm-up and cosine decay; next-token loss on every non-pad position.

    Returns
    -------
    dict
        The last evaluation, plus ``train_seconds``.
    """
    steps = recipe.steps if steps is None else steps
    rng = random.Random(recipe.seed)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=recipe.lr,
        betas=(0.9, 0.98),
    )

    def lr_at(step: int) -> float:
        if step < recipe.warmup:
            return recipe.lr * (step + 1) / recipe.warmup
        frac = (step - recipe.warmup) / max(1, steps - recipe.warmup)
        return recipe.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))

    t0 = time.time()
    model.train()
    running = 0.0
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        ids, labels = batch_fn(rng)
        dev = next(model.parameters()).device
        loss = model(input_ids=ids.to(dev), labels=labels.to(dev)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            model.eval()
            metrics = eval_fn()
            model.train()
            shown = " ".join(f"{k}={v:.3f}" for k, v in metrics.items())
            print(
                f"[{recipe.name}] step {step + 1}/{steps} loss={running:.3f} {shown} "
                f"({time.time() - t0:.0f}s)",
                flush=True,
            )
    model.eval()
    result = eval_fn()
    result["train_seconds"] = time.time() - t0
    return result


def _save(model, tokenizer, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    _save_tokenizer(tokenizer, out)


def build(
    name: str,
    out_root: Path,
    steps: int | None = None,
    recipe: Recipe | None = None,
    device: str = "cpu",
) -> dict[str, float]:
    """Train one shipped model from scratch and write it to ``out_root / name``."""
    recipe = RECIPES[name] if recipe is None else recipe
    torch.manual_seed(recipe.seed)
    if name == "induction-2l":
        tokenizer = build_tokenizer(tasks.induction_vocab(), INDUCTION_CTX)
        model = induction_model(**dict(recipe.model))
        model.to(device)
        result = train(
            model,
            recipe,
            lambda rng: induction_batch(
                rng,
                recipe.batch_size,
                recipe.seq_len,
                recipe.alternation,
                recipe.copies,
                recipe.max_copy,
            ),
            lambda: _induction_eval(model),
            steps,
        )
    elif name == "circuits-4l":
        tokenizer = build_tokenizer(tasks.circuits_vocab(), CIRCUITS_CTX)
        model = circuits_model(**dict(recipe.model))
        model.to(device)

        def evaluate() -> dict[str, float]:
            held = _ioi_eval(model, tokenizer, "heldout")
            train_ioi = _ioi_eval(model, tokenizer, "train")
            succ = _next_token_eval(model, tokenizer, tasks.successor_prompts(200, 999))
            return {
                "ioi_train_acc": train_ioi["acc"],
                "ioi_heldout_acc": held["acc"],
                "ioi_heldout_diff": held["logit_diff"],
                "successor_acc": succ["acc"],
            }

        result = train(
            model,
            recipe,
            lambda rng: circuits_batch(tokenizer, rng, recipe.batch_size, dict(recipe.mix)),
            evaluate,
            steps,
        )
    else:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(RECIPES)}")
    _save(model.cpu(), tokenizer, out_root / name)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[{name}] {n_params} parameters, wrote {out_root / name}: {result}", flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``python -m headwidgets.zoo.train``)."""
    parser = argparse.ArgumentParser(prog="python -m headwidgets.zoo.train", description=__doc__)
    parser.add_argument("model", choices=["all", *RECIPES], help="which model to rebuild")
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the zoo)")
    parser.add_argument("--steps", type=int, default=None, help="override the number of steps")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--device", default="cpu", help="torch device to train on (default cpu)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = list(RECIPES) if args.model == "all" else [args.model]
    t0 = time.time()
    for name in names:
        build(name, args.out, args.steps, device=args.device)
    print(f"done in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
