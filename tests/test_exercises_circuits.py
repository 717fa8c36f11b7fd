"""The exercise checks of notebook 07 (path patching, steering) accept right answers and name
the typical wrong ones.

As in ``test_exercises.py``: a mistake raises an ``AssertionError`` that starts with ❌ (here
also with the hint that names it), a right answer prints ✅, and ``...`` (or a function that
still returns nothing) prints "not answered yet".
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

import headwidgets as hw
from headwidgets import zoo
from headwidgets.datasets import tasks
from headwidgets.datasets.tasks import induction_vocab
from headwidgets.exercises import circuits

SENDER, RECEIVER = (0, 1), (1, 1)
HEAD = (2, 3)


def _model(name: str) -> Any:
    if name not in zoo.models():
        pytest.skip(f"shipped model {name} missing; build it with `make models`")
    return hw.load(name, device="cpu")


@pytest.fixture(scope="module")
def hm() -> Any:
    return _model("induction-2l")


@pytest.fixture(scope="module")
def cm() -> Any:
    return _model("circuits-4l")


@pytest.fixture(scope="module")
def pair() -> tuple[str, str, Any]:
    """One repeated-sequence prompt, its corruption (the token before the earlier occurrence
    of the last token replaced) and the induction logit difference."""
    words = [w for w in induction_vocab() if not w.startswith("<")]
    rng = random.Random(0)
    r = rng.sample(words, 10)
    other = rng.choice([w for w in words if w not in r])
    clean = r + r[:6]
    bad = list(clean)
    bad[5] = other
    metric = hw.Metric("logit_diff", target=" " + r[6], distractor=" " + r[5])
    return " ".join(clean), " ".join(bad), metric


@pytest.fixture(scope="module")
def sets() -> tuple[list[str], list[str]]:
    """IOI prompts with subject A (positive) and subject B (negative), held-out names."""
    rng = random.Random(1)

    def fill(template: str, subject: str) -> str:
        place, thing = rng.choice(tasks.PLACES), rng.choice(tasks.OBJECTS)
        return template.format(A="Derek", B="Luis", S=subject, place=place, object=thing)

    train = tasks.ioi_templates("train")[:4]
    return [fill(t, "Derek") for t in train], [fill(t, "Luis") for t in train]


def _passes(capsys: pytest.CaptureFixture[str], check: Any, *args: Any, **kwargs: Any) -> str:
    check(*args, **kwargs)
    out = capsys.readouterr().out
    assert "✅ correct!" in out
    return out


def _fails(check: Any, *args: Any, match: str = "", **kwargs: Any) -> None:
    with pytest.raises(AssertionError, match="❌ not quite") as info:
        check(*args, **kwargs)
    assert match in str(info.value), str(info.value)


def test_unanswered_exercises_say_so(capsys, hm, cm, pair, sets):
    clean, corrupt, metric = pair
    path = {"sender": SENDER, "receiver": RECEIVER}
    circuits.check_path_normalisation(..., hm, clean, corrupt, metric, **path)
    circuits.check_path_normalisation(lambda p, c, b: None, hm, clean, corrupt, metric, **path)
    circuits.check_steering_vector(..., cm, *sets, HEAD)
    circuits.check_steering_vector(lambda hm, p, n, h: None, cm, *sets, HEAD)
    out = capsys.readouterr().out
    assert out.count("not answered yet") == 4, out
    assert "❌" not in out and "✅" not in out
    with pytest.raises(ValueError, match=r"exercises are 1\.\.2"):
        circuits.show_solution(3)


# --- exercise 1: the path's share of the corruption effect -----------------------------------


def test_path_normalisation_check_accepts_equivalent_formulas(capsys, hm, pair):
    clean, corrupt, metric = pair
    path = {"sender": SENDER, "receiver": RECEIVER}
    out = _passes(capsys, circuits.check_path_normalisation, circuits.solution_1, hm, *pair, **path)
    assert "0.1 → k of 1.1" in out

    def negated(patched, m_clean, m_corrupt):
        return (m_clean - patched) / (m_clean - m_corrupt)

    _passes(capsys, circuits.check_path_normalisation, negated, hm, clean, corrupt, metric, **path)
    # the library's value on the real path is what the check compares with
    library = hw.scores.path_patching(
        hm, clean, corrupt, metric, receivers=[RECEIVER], inputs=("k",), normalize=True
    )
    assert float(library.sel(layer=0, head=1).squeeze()) > 0.3


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda p, c, b: (c - p) / (b - c), "sign is flipped"),
        (lambda p, c, b: (p - c) / c, "not by m_clean"),
        (lambda p, c, b: (p - b) / (c - b), "activation patching's normalisation"),
        (lambda p, c, b: p - c, "0 when the patched run"),
    ],
    ids=["wrong sign", "divided by m_clean", "clean-corrupt swap", "unnormalised"],
)
def test_path_normalisation_check_names_the_mistake(hm, pair, wrong, hint):
    path = {"sender": SENDER, "receiver": RECEIVER}
    _fails(circuits.check_path_normalisation, wrong, hm, *pair, match=hint, **path)


def test_path_normalisation_check_rejects_a_non_number(hm, pair):
    path = {"sender": SENDER, "receiver": RECEIVER}
    _fails(circuits.check_path_normalisation, lambda p, c, b: "half", hm, *pair, **path)


# --- exercise 2: a steering vector by hand ---------------------------------------------------


def _z(hm: Any, prompt: str, head: tuple[int, int]) -> np.ndarray:
    return hm.head_z(prompt)[head[0], -1, head[1]].numpy()


def test_steering_vector_check_accepts_a_tensor_an_array_or_a_list(capsys, cm, sets):
    out = _passes(capsys, circuits.check_steering_vector, circuits.solution_2, cm, *sets, HEAD)
    assert "head 2.3" in out

    def as_list(hm, positive, negative, head):
        pos = np.mean([_z(hm, p, head) for p in positive], axis=0)
        neg = np.mean([_z(hm, p, head) for p in negative], axis=0)
        return (pos - neg).tolist()

    _passes(capsys, circuits.check_steering_vector, as_list, cm, *sets, HEAD)


def _reversed(hm, positive, negative, head):
    return -np.asarray(circuits.solution_2(hm, positive, negative, head))


def _single(hm, positive, negative, head):
    return _z(hm, positive[0], head) - _z(hm, negative[0], head)


def _summed(hm, positive, negative, head):
    pos = np.sum([_z(hm, p, head) for p in positive], axis=0)
    return pos - np.sum([_z(hm, p, head) for p in negative], axis=0)


def _first_position(hm, positive, negative, head):
    def mean(prompts):
        return np.mean([hm.head_z(p)[head[0], 0, head[1]].numpy() for p in prompts], axis=0)

    return mean(positive) - mean(negative)


def _every_position(hm, positive, negative, head):
    def mean(prompts):
        return np.stack([hm.head_z(p)[head[0], -1, head[1]].numpy() for p in prompts])

    return mean(positive) - mean(negative)  # (prompts, D): not averaged


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (_reversed, "reversed"),
        (_single, "one prompt of each set"),
        (_summed, "MEAN of each set"),
        (_first_position, "LAST position"),
        (_every_position, "one vector of the head's width"),
    ],
    ids=["reversed", "single prompt", "summed", "first position", "not averaged"],
)
def test_steering_vector_check_names_the_mistake(cm, sets, wrong, hint):
    _fails(circuits.check_steering_vector, wrong, cm, *sets, HEAD, match=hint)
