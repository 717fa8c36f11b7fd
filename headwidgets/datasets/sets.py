"""The ready-made prompt sets for the scores: induction, IOI, successor, needle in a haystack.

For the shipped models the prompts come from the generators they were trained with
(:mod:`headwidgets.datasets.tasks`), so every word is one token of their vocabulary. For any other
model (``hm`` given) the same English templates are used and filtered to prompts whose names
and targets are single tokens of that tokenizer; random-token prompts draw from tokens that
survive a decode/encode round trip.

Every set is a :class:`PromptSet`: iterate it for the prompts, use ``.corrupted`` for
patching and ``.metrics()`` for per-prompt metrics.

Example
-------
>>> from headwidgets import datasets
>>> ds = datasets.ioi(2, seed=0)
>>> len(ds), ds.targets[0].startswith(" ")
(2, True)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwidgets.datasets import tasks
from headwidgets.metrics import Metric
from headwidgets.vocab import DEFAULT_METRIC

__all__ = ["PromptSet", "Prompts", "ioi", "needle_haystack", "repeated_tokens", "successor"]

_ZOO = ("induction-2l", "circuits-4l")


class Prompts(list[str]):
    """A list of prompt texts that remembers how it was made (``source``: the generator, its
    seed and parameters); a score computed on it records ``source`` in its ``prompt_set``
    attr.

    Example
    -------
    >>> prompts = repeated_tokens(n=2, length=3, seed=5)
    >>> len(prompts), prompts.source["generator"], prompts.source["seed"]
    (2, 'repeated_tokens', 5)
    """

    def __init__(self, prompts: Iterable[str] = (), source: dict[str, Any] | None = None):
        super().__init__(prompts)
        #: how the prompts were made: ``{"generator": ..., "seed": ..., ...}``
        self.source: dict[str, Any] = dict(source or {})


@dataclass(frozen=True)
class PromptSet:
    """Prompts with (optionally) targets, distractors, corrupted counterparts and needles.

    Iterating yields the prompts, so a ``PromptSet`` can be passed wherever a list of prompts
    is expected. ``source`` says how it was made (generator, seed, parameters); scores
    computed on the set record it in their ``prompt_set`` attr.
    """

    name: str
    prompts: list[str]
    targets: list[str] | None = None
    distractors: list[str] | None = None
    corrupted: list[str] | None = None
    needles: list[str] | None = None
    answers: list[str] | None = None
    info: list[dict[str, Any]] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prompts)

    def __iter__(self) -> Iterator[str]:
        return iter(self.prompts)

    def __getitem__(self, index: int) -> str:
        return self.prompts[index]

    def metrics(self, kind: str = DEFAULT_METRIC, position: int = -1) -> list[Any]:
        """One :class:`~headwidgets.metrics.Metric` per prompt (its own target/distractor).

        Example
        -------
        >>> ds = ioi(1)
        >>> ds.metrics()[0].target == ds.targets[0]
        True
        """

        if self.targets is None:
            raise ValueError(f"the prompt set {self.name!r} has no targets")
        distractors: list[str | None] = [None] * len(self.targets)
        if self.distractors is not None:
            distractors = list(self.distractors)
        return [
            Metric(kind, target=t, distractor=d, position=position)  # type: ignore[arg-type]
            for t, d in zip(self.targets, distractors, strict=True)
        ]


def _zoo_name(hm: Any) -> str | None:
    if hm is None:
        return None
    name = Path(str(getattr(hm, "name", ""))).name
    return name if name in _ZOO else None


def _adds_bos(tokenizer: Any) -> bool:
    bos = getattr(tokenizer, "bos_token_id", None)
    ids = tokenizer("x")["input_ids"]
    return bos is not None and bool(ids) and ids[0] == bos


class _PlainTokens:
    """Random token ids that are one alphanumeric word and encode back to themselves.

    Candidates are checked lazily as they are drawn, so a 50k vocabulary costs only the
    draws a prompt needs.
    """

    def __init__(self, tokenizer: Any, vocab_size: int, rng: random.Random) -> None:
        self.tokenizer, self.rng = tokenizer, rng
        self.size = min(vocab_size, len(tokenizer))
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.verdict: dict[int, bool] = {}

    def plain(self, i: int) -> bool:
        if i not in self.verdict:
            text = self.tokenizer.decode([i])
            self.verdict[i] = (
                i not in self.special
                and text.strip().isalnum()
                and self.tokenizer.encode(text, add_special_tokens=False) == [i]
            )
        return self.verdict[i]

    def sample(self, k: int) -> list[int]:
        chosen: list[int] = []
        for _ in range(200 * k + 1000):
            i = self.rng.randrange(self.size)
            if i not in chosen and self.plain(i):
                chosen.append(i)
                if len(chosen) == k:
                    return chosen
        raise ValueError(f"the tokenizer has too few plain word tokens for {k} distinct ones")


def repeated_tokens(
    hm: Any = None, n: int = 8, length: int | None = None, seed: int = 0
) -> list[str]:
    """BOS + R + R prompts (R = ``length`` distinct random tokens), the induction setting.

    Parameters
    ----------
    hm
        The bound model (None: the ``induction-2l`` vocabulary).
    n, length, seed
        Number of prompts, tokens in R (default ``min(20, (n_ctx - 1) // 2)``), seed.

    Returns
    -------
    Prompts
        A list of text that tokenizes to exactly BOS + R + R with the model's tokenizer (the
        BOS text is written out when the tokenizer does not add one); ``.source`` records the
        generator, seed and length.

    Example
    -------
    >>> prompts = repeated_tokens(n=2, length=3)
    >>> words = prompts[0].split(); words[:3] == words[3:]
    True
    """
    if length is None:
        n_ctx = getattr(hm, "n_ctx", None) or 41
        length = max(1, min(20, (int(n_ctx) - 1) // 2))
    zoo = _zoo_name(hm)
    source = {"generator": "repeated_tokens", "seed": seed, "n": n, "length": length}
    source["vocab"] = (zoo or "induction-2l") if hm is None or zoo is not None else "tokenizer"
    if hm is None or zoo is not None:
        return Prompts(tasks.repeated_tokens(n, length, seed=seed, vocab=zoo or "induction-2l"),
                       source)  # fmt: skip
    tokenizer = hm.tokenizer
    pool = _PlainTokens(tokenizer, int(hm.vocab_size), random.Random(f"repeat-{seed}"))
    bos = "" if _adds_bos(tokenizer) else (getattr(tokenizer, "bos_token", None) or "")
    out: list[str] = []
    for _ in range(n):
        for _attempt in range(50):
            r = pool.sample(length)
            text = tokenizer.decode(r + r)
            if tokenizer.encode(text, add_special_tokens=False) == r + r:
                out.append(bos + text)
                break
        else:
            raise ValueError("could not build random-token prompts that re-tokenize exactly")
    return Prompts(out, source)


def _single(hm: Any, text: str) -> bool:
    """True when ``text`` is one known token (not the unknown token) of ``hm``'s tokenizer."""
    try:
        token = hm.token_id(text)
    except ValueError:
        return False
    return token != getattr(hm.tokenizer, "unk_token_id", None)


def _same_length(hm: Any, a: str, b: str) -> bool:
    return len(hm.tokenize(a)) == len(hm.tokenize(b))


def _fitting_set(
    name: str,
    n: int,
    draw: Callable[[int], Iterable[dict[str, Any]]],
    fits: Callable[[dict[str, Any]], bool] | None,
    error: str,
    source: dict[str, Any],
) -> PromptSet:
    """The first ``n`` items of ``draw(0)``, ``draw(1)``, ... (at most 100 rounds) that ``fits``
    (every item when None), as a PromptSet of their prompt/target/distractor/corrupted."""
    rows: list[dict[str, Any]] = []
    for round_ in range(100):
        rows += [item for item in draw(round_) if fits is None or fits(item)]
        if len(rows) >= n:
            break
    if len(rows) < n:
        raise ValueError(error)
    rows = rows[:n]
    return PromptSet(
        name,
        [r["prompt"] for r in rows],
        [r["target"] for r in rows],
        [r["distractor"] for r in rows],
        [r["corrupted"] for r in rows],
        info=rows,
        source={"generator": name, **source, "n": n},
    )


def ioi(n: int = 8, seed: int = 0, split: tasks.Split = "train", hm: Any = None) -> PromptSet:
    """Indirect-object identification prompts with ABC-corrupted counterparts.

    ``"When Mary and John went to the store, John gave a drink to"`` → target ``" Mary"``,
    distractor ``" John"``; the corrupted prompt replaces the second ``John`` by a third name.
    With a non-shipped ``hm``, prompts whose names are not single tokens are skipped.

    Example
    -------
    >>> ds = ioi(1)
    >>> ds.prompts[0].endswith(" to"), ds.corrupted[0] != ds.prompts[0]
    (True, True)
    """
    check = hm is not None and _zoo_name(hm) is None

    def fits(item: dict[str, Any]) -> bool:
        return all(_single(hm, " " + item[k]) for k in ("io", "s", "c")) and _same_length(
            hm, item["prompt"], item["corrupted"]
        )

    return _fitting_set(
        "ioi",
        n,
        lambda round_: tasks.ioi_prompts(
            n * 2 if check else n, seed=seed + 7919 * round_, split=split
        ),
        fits if check else None,
        "the tokenizer splits too many names; no IOI prompts fit it",
        {"seed": seed, "split": split, "filtered_for": "tokenizer" if check else None},
    )


def successor(
    n: int = 8, seed: int = 0, kinds: Sequence[str] | None = None, hm: Any = None
) -> PromptSet:
    """Successor prompts (``"Monday Tuesday Wednesday"`` → ``" Thursday"``).

    The distractor is the last item of the run; the corrupted prompt is the run shifted one
    item back (``"Sunday Monday Tuesday"``), whose answer is the clean distractor, so the
    logit difference flips sign between clean and corrupted runs.

    Example
    -------
    >>> ds = successor(1, kinds=["days"])
    >>> ds.corrupted[0].split()[1:] == ds.prompts[0].split()[:-1]
    True
    """
    check = hm is not None and _zoo_name(hm) is None

    def draw(round_: int) -> Iterator[dict[str, Any]]:
        for kind, run, nxt in tasks.successor_runs(n * 2, seed=seed + 7919 * round_, kinds=kinds):
            items, cyclic = tasks.SUCCESSOR_LISTS[kind]
            start = items.index(run[0])
            if start == 0 and not cyclic:
                continue
            back = [items[(start - 1 + i) % len(items)] for i in range(len(run))]
            yield {
                "prompt": " ".join(run),
                "target": " " + nxt,
                "distractor": " " + run[-1],
                "corrupted": " ".join(back),
                "kind": kind,
            }

    def fits(item: dict[str, Any]) -> bool:
        return (
            _single(hm, item["target"])
            and _single(hm, item["distractor"])
            and _same_length(hm, item["prompt"], item["corrupted"])
        )

    return _fitting_set(
        "successor",
        n,
        draw,
        fits if check else None,
        "no successor prompts fit this tokenizer",
        {"seed": seed, "kinds": list(kinds) if kinds is not None else None,
         "filtered_for": "tokenizer" if check else None},
    )  # fmt: skip


def needle_haystack(
    n: int = 4,
    seed: int = 0,
    hm: Any = None,
    haystack: int = 6,
    needle_length: int = 3,
    depth: float | None = None,
) -> PromptSet:
    """Needle-in-a-haystack prompts for the retrieval score.

    A needle of ``needle_length`` random content words sits at relative ``depth`` (default
    random) among ``haystack`` filler sentences; the prompt ends with a cue whose correct
    continuation copies the needle. The shipped ``circuits-4l`` vocabulary uses its copy task
    (needle ``"copy : w1 w2 w3"``, cue ``"again :"``); other models get
    ``"The secret words are w1 w2 w3 ."`` and the cue ``"The secret words are"``.

    Example
    -------
    >>> ds = needle_haystack(1, needle_length=2)
    >>> ds.needles[0] in ds.prompts[0], ds.answers[0] == " " + ds.needles[0]
    (True, True)
    """
    english = hm is not None and _zoo_name(hm) is None
    rng = random.Random(f"needle-{seed}")
    words = list(tasks.NOUNS) if english else tasks.content_words()
    prompts, needles = [], []
    for i in range(n):
        filler = tasks.plain_sentences(haystack, seed=seed * 1000 + i)
        if english:
            filler = [f"{s[0].upper()}{s[1:-2]}." for s in filler]
        needle = " ".join(rng.sample(words, needle_length))
        where = rng.randint(0, haystack) if depth is None else round(depth * haystack)
        if english:
            parts = [*filler[:where], f"The secret words are {needle} .", *filler[where:]]
            prompt = " ".join(parts) + " The secret words are"
        else:
            parts = [*filler[:where], f"copy : {needle}", *filler[where:]]
            prompt = " ".join(parts) + " again :"
        prompts.append(prompt)
        needles.append(needle)
    return PromptSet(
        "needle_haystack",
        prompts,
        targets=[" " + s.split()[0] for s in needles],
        needles=needles,
        answers=[" " + s for s in needles],
        source={"generator": "needle_haystack", "seed": seed, "n": n, "haystack": haystack,
                "needle_length": needle_length, "depth": depth,
                "language": "english" if english else "circuits-4l"},
    )  # fmt: skip
