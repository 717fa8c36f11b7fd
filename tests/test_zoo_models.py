"""The shipped models: loadable offline, and their circuits are where the model cards say.

All data here is generated with seeds the training recipe never uses, and the IOI prompts use
names and template combinations held out of IOI training.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import headwidgets as hw  # noqa: E402
from headwidgets import zoo  # noqa: E402
from headwidgets.datasets import tasks  # noqa: E402
from headwidgets.scores.direct import direct_logit_attribution  # noqa: E402

SEED = 424242  # never used by headwidgets.zoo.train
N_REPEAT = 30  # length of R in BOS + R + R


@pytest.fixture(scope="module")
def induction_hm():
    return hw.load("induction-2l", device="cpu")


@pytest.fixture(scope="module")
def circuits_hm():
    return hw.load("circuits-4l", device="cpu")


# ---------------------------------------------------------------------------------------------
# helpers (METHODS.md definitions, computed from the engine's outputs)
# ---------------------------------------------------------------------------------------------


def _repeat_prompts(n: int = 24) -> list[str]:
    return tasks.repeated_tokens(n, N_REPEAT, seed=SEED, vocab="induction-2l")


def _copy_losses(hm, prompts: list[str], intervention=None) -> tuple[float, float]:
    """Mean next-token loss on the first and on the second copy of R (BOS + R + R).

    Targets R[1:] of each copy; R[0] of a copy is not predictable from its context.
    """
    out = hm.run(prompts, intervention=intervention)
    n = N_REPEAT
    assert out.input_ids.shape[1] == 2 * n + 1, "each word must be one token, BOS first"
    logp = out.logits.log_softmax(-1)
    nll = -logp[:, :-1].gather(-1, out.input_ids[:, 1:, None])[..., 0]  # nll[:, t] -> token t+1
    first = nll[:, 1:n].mean().item()  # targets at positions 2..n
    second = nll[:, n + 1 : 2 * n].mean().item()  # targets at positions n+2..2n
    return first, second


def _induction_scores(hm, prompts: list[str]):
    """(L, H) mean of A[q, q-n+1] over q in the second copy; and previous-token A[q, q-1]."""
    pat = hm.run(prompts, patterns=True).patterns  # (B, L, H, T, T)
    n = N_REPEAT
    q = torch.arange(n + 1, 2 * n + 1)
    induction = pat[..., q, q - n + 1].mean(dim=(0, -1))
    q1 = torch.arange(1, 2 * n + 1)
    previous = pat[..., q1, q1 - 1].mean(dim=(0, -1))
    return induction, previous


def _last_logits(hm, prompts: list[str], intervention=None):
    out = hm.run(prompts, intervention=intervention)
    last = out.attention_mask.sum(-1) - 1
    return out.logits[torch.arange(len(prompts)), last]


def _ids(hm, strings: list[str]):
    return torch.tensor([hm.token_id(s) for s in strings])


def _logit_diffs(hm, items: list[dict], intervention=None):
    logits = _last_logits(hm, [p["prompt"] for p in items], intervention)
    rows = torch.arange(len(items))
    target = _ids(hm, [p["target"] for p in items])
    distractor = _ids(hm, [p["distractor"] for p in items])
    return logits, logits[rows, target] - logits[rows, distractor], target


def _mean_dla(hm, items: list[dict]):
    """(L, H) direct logit attribution to logit[IO] - logit[S] at the last position, mean."""
    cube = direct_logit_attribution(
        hm,
        [p["prompt"] for p in items],
        [p["target"] for p in items],
        [p["distractor"] for p in items],
        reduce="mean",
        progress=False,
    )
    return torch.as_tensor(cube.transpose("layer", "head").values)


# ---------------------------------------------------------------------------------------------
# the zoo itself
# ---------------------------------------------------------------------------------------------


def test_models_lists_both_shipped_models_with_a_description():
    listed = hw.models()
    assert {"induction-2l", "circuits-4l"} <= set(listed)
    assert all(isinstance(text, str) and text for text in listed.values())
    assert "induction-2l" in str(listed) and "circuits-4l" in repr(listed)


def test_path_of_an_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="induction-2l") as info:
        zoo.path("no-such-model")
    assert "circuits-4l" in str(info.value)


def test_shipped_weights_total_at_most_20_mb():
    total = sum(zoo.path(name).joinpath("model.safetensors").stat().st_size for name in zoo.MODELS)
    assert total <= 20 * 2**20


@pytest.mark.parametrize(
    ("name", "cls"), [("induction-2l", "GPT2LMHeadModel"), ("circuits-4l", "LlamaForCausalLM")]
)
def test_shipped_model_loads_with_plain_transformers_offline(name, cls, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = AutoModelForCausalLM.from_pretrained(zoo.path(name))
    tokenizer = AutoTokenizer.from_pretrained(zoo.path(name))
    assert type(model).__name__ == cls
    ids = tokenizer("a b c a b" if name == "induction-2l" else "Monday Tuesday")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), model.config.vocab_size)
    assert torch.isfinite(logits).all()


def test_induction_tokenizer_gives_one_token_per_word_after_bos(induction_hm):
    tok = induction_hm.tokenize("a b c a b")
    assert tok.tokens == ["<bos>", "a", "b", "c", "a", "b"]


def test_circuits_tokenizer_gives_word_tokens_and_single_token_names(circuits_hm):
    tok = circuits_hm.tokenize("When Mary and John went to the store, John gave a drink to")
    assert tok.tokens[0] == "<bos>"
    assert tok.tokens[1:] == "When Mary and John went to the store , John gave a drink to".split()
    tokenizer = circuits_hm.tokenizer
    for name in tasks.NAMES_TRAIN + tasks.NAMES_HELDOUT:
        assert len(tokenizer.encode(" " + name, add_special_tokens=False)) == 1, name


def test_heldout_ioi_names_and_templates_never_occur_in_ioi_training_data():
    train = tasks.ioi_prompts(2000, seed=1, split="train")
    held_names = set(tasks.NAMES_HELDOUT)
    assert not any({p["io"], p["s"], p["c"]} & held_names for p in train)
    assert not set(tasks.ioi_templates("train")) & set(tasks.ioi_templates("heldout"))
    held = tasks.ioi_prompts(200, seed=SEED, split="heldout")
    assert all(p["io"] in held_names and p["s"] in held_names for p in held)


# ---------------------------------------------------------------------------------------------
# induction-2l
# ---------------------------------------------------------------------------------------------


def test_induction_2l_best_layer1_head_has_induction_score_above_0_7(induction_hm):
    induction, _ = _induction_scores(induction_hm, _repeat_prompts())
    assert induction[1].max().item() >= 0.7, induction


def test_induction_2l_layer0_has_a_previous_token_head(induction_hm):
    _, previous = _induction_scores(induction_hm, _repeat_prompts())
    assert previous[0].max().item() >= 0.5, previous
    assert previous[0].max() > previous[1].max()


def test_induction_2l_second_copy_loss_is_2_nats_below_first_copy(induction_hm):
    first, second = _copy_losses(induction_hm, _repeat_prompts())
    assert first - second >= 2.0, (first, second)


def test_induction_2l_zeroing_top2_induction_heads_breaks_only_the_second_copy(induction_hm):
    prompts = _repeat_prompts()
    induction, _ = _induction_scores(induction_hm, prompts)
    top2 = [(1, int(h)) for h in induction[1].argsort(descending=True)[:2]]
    first, second = _copy_losses(induction_hm, prompts)
    first_abl, second_abl = _copy_losses(induction_hm, prompts, hw.Intervention.zero(top2))
    assert second_abl - second >= 1.0, (second, second_abl)
    assert abs(first_abl - first) < 0.3, (first, first_abl)


def test_induction_2l_layer1_heads_read_the_previous_token_head_through_their_keys(induction_hm):
    """K-composition: zeroing 0.1 where the keys are (first copy) removes the induction
    pattern; zeroing it where the queries are (second copy) leaves it."""
    prompts = _repeat_prompts(8)
    n = N_REPEAT
    clean, _ = _induction_scores(induction_hm, prompts)
    sides = {}
    for side, positions in (("key", range(1, n + 1)), ("query", range(n + 1, 2 * n + 1))):
        with induction_hm.intervene(hw.Intervention.zero([(0, 1)], positions=positions)):
            sides[side], _ = _induction_scores(induction_hm, prompts)
    assert clean[1].min() > 0.8, clean
    assert sides["key"][1].max() < 0.3, sides["key"]
    assert sides["query"][1].min() > 0.7, sides["query"]


# ---------------------------------------------------------------------------------------------
# circuits-4l
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heldout_ioi():
    return tasks.ioi_prompts(200, seed=SEED, split="heldout")


def test_circuits_4l_heldout_ioi_top1_accuracy_at_least_95_percent(circuits_hm, heldout_ioi):
    logits, _, target = _logit_diffs(circuits_hm, heldout_ioi)
    accuracy = (logits.argmax(-1) == target).float().mean().item()
    assert accuracy >= 0.95, accuracy


def test_circuits_4l_heldout_ioi_mean_logit_diff_at_least_2(circuits_hm, heldout_ioi):
    _, diffs, _ = _logit_diffs(circuits_hm, heldout_ioi)
    assert diffs.mean().item() >= 2.0, diffs.mean()


def test_circuits_4l_zeroing_the_heads_above_the_dla_threshold_halves_the_logit_diff(
    circuits_hm, heldout_ioi
):
    from headwidgets.zoo import roles

    dla = _mean_dla(circuits_hm, heldout_ioi[:100])
    direct = roles.heads_above(dla.tolist(), roles.DLA_THRESHOLD)
    _, clean, _ = _logit_diffs(circuits_hm, heldout_ioi)
    _, ablated, _ = _logit_diffs(circuits_hm, heldout_ioi, hw.Intervention.zero(direct))
    reduction = 1 - ablated.mean().item() / clean.mean().item()
    assert reduction >= 0.5, (direct, clean.mean(), ablated.mean())


def test_circuits_4l_successor_accuracy_at_least_90_percent(circuits_hm):
    items = tasks.successor_prompts(200, seed=SEED)
    logits, _, target = _logit_diffs(circuits_hm, items)
    accuracy = (logits.argmax(-1) == target).float().mean().item()
    assert accuracy >= 0.9, accuracy


def test_circuits_4l_still_does_induction_on_repeated_words(circuits_hm):
    prompts = tasks.repeated_tokens(16, 20, seed=SEED, vocab="circuits-4l")
    out = circuits_hm.run(prompts)
    logp = out.logits.log_softmax(-1)
    nll = -logp[:, :-1].gather(-1, out.input_ids[:, 1:, None])[..., 0]
    first, second = nll[:, 1:20].mean().item(), nll[:, 21:40].mean().item()
    assert first - second >= 2.0 and math.isfinite(second), (first, second)


def test_the_training_eval_restores_the_attention_implementation_when_the_forward_fails():
    from headwidgets.zoo import recipes, train

    model = recipes.induction_model()
    model.set_attn_implementation("sdpa")  # the eval switches to eager for the patterns

    def failing_forward(*args, **kwargs):
        raise RuntimeError("the forward failed")

    model.forward = failing_forward
    with pytest.raises(RuntimeError, match="the forward failed"):
        train._induction_eval(model, n=4, rows=2)
    assert model.config._attn_implementation == "sdpa"
