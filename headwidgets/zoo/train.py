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
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from headwidgets.datasets import tasks
from headwidgets.zoo import ROOT
from headwidgets.zoo.recipes import (
    CIRCUITS_CTX,
    INDUCTION_CTX,
    RECIPES,
    Batch,
    Recipe,
    build_tokenizer,
    circuits_batch,
    circuits_model,
    induction_batch,
    induction_model,
    pad_rows,
    save_tokenizer,
)

__all__ = ["RECIPES", "Recipe", "build_tokenizer", "main", "train"]

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
    ids, _ = pad_rows([e.ids for e in encs], tokenizer.pad_token_id)
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
    try:
        out = model(input_ids=ids.to(dev), output_attentions=True)
    finally:
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
    save_tokenizer(tokenizer, out)


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
