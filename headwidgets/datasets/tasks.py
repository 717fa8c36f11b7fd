"""Data generators for the shipped models: word lists, templates, splits and prompt sets.

Everything here is pure Python (no torch), deterministic for a given ``seed``, and public:
the training recipe (:mod:`headwidgets.zoo.train`), the tests and the ready-made prompt sets in
:mod:`headwidgets.datasets` all draw from the same generators.

Prompt-set generators return plain dictionaries so they are easy to inspect and to serialize.
Targets and distractors carry a leading space (``" Mary"``), the usual convention for next-token
targets; both shipped tokenizers encode such a string as exactly one token.

Splits
------
``split="train"`` draws from what the models were trained on; ``split="heldout"`` draws IOI
prompts from names and template combinations that never occur in IOI training. The held-out
names are still in the vocabulary and occur in the other training tasks (repeated text,
copying, plain sentences), so their embeddings are trained, but never in an IOI sentence.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from headwidgets.datasets.words import (
    ACTIONS,
    ADJECTIVES,
    BOS,
    DAYS,
    EOS,
    INTROS,
    LETTERS,
    MONTHS,
    NAMES_HELDOUT,
    NAMES_TRAIN,
    NOUNS,
    NUMBERS,
    OBJECTS,
    PAD,
    PLACES,
    SENTENCES,
    SPECIAL_TOKENS,
    SUCCESSOR_LISTS,
    UNK,
    VERBS,
    circuits_vocab,
    content_words,
    induction_vocab,
)

__all__ = [
    "ACTIONS",
    "ADJECTIVES",
    "BOS",
    "DAYS",
    "EOS",
    "INTROS",
    "LETTERS",
    "MONTHS",
    "NAMES_HELDOUT",
    "NAMES_TRAIN",
    "NOUNS",
    "NUMBERS",
    "OBJECTS",
    "PAD",
    "PLACES",
    "SPECIAL_TOKENS",
    "SUCCESSOR_LISTS",
    "UNK",
    "VERBS",
    "circuits_vocab",
    "content_words",
    "copy_prompts",
    "induction_vocab",
    "ioi_prompts",
    "ioi_templates",
    "plain_sentences",
    "repeated_tokens",
    "successor_prompts",
    "successor_runs",
]

Split = Literal["train", "heldout", "all"]


def _is_heldout_template(intro: int, action: int) -> bool:
    # 16 of the 80 (intro, action) pairs; every intro and every action still occurs in
    # training with other partners. The canonical "When A and B went to the store, B gave a
    # drink to" (0, 0) is a training template.
    return (intro + 3 * action) % 5 == 2


def ioi_templates(split: Split = "train") -> list[str]:
    """IOI templates of a split, as format strings with fields A, B, S, place and object.

    Parameters
    ----------
    split : {"train", "heldout", "all"}
        ``"heldout"`` templates are (intro, action) combinations never seen in training.

    Returns
    -------
    list of str
        Format strings such as ``"When {A} and {B} went to the {place}, {S} gave a {object} to"``.
    """
    out = []
    for i, intro in enumerate(INTROS):
        for j, action in enumerate(ACTIONS):
            held = _is_heldout_template(i, j)
            if split == "all" or (split == "heldout") == held:
                out.append(intro + action)
    return out


def _names(split: Split) -> tuple[str, ...]:
    if split == "train":
        return NAMES_TRAIN
    if split == "heldout":
        return NAMES_HELDOUT
    if split == "all":
        return NAMES_TRAIN + NAMES_HELDOUT
    raise ValueError(f"split must be 'train', 'heldout' or 'all', not {split!r}")


def ioi_prompts(
    n: int,
    seed: int = 0,
    split: Split = "train",
    names: Sequence[str] | None = None,
    templates: Sequence[str] | None = None,
) -> list[dict[str, str]]:
    """Indirect-object-identification prompts.

    Parameters
    ----------
    n : int
        Number of prompts.
    seed : int
        Seed of the generator; the same seed gives the same prompts.
    split : {"train", "heldout", "all"}
        ``"heldout"`` uses names and template combinations never used in IOI training.
    names : sequence of str, optional
        Override the names of the split (at least three).
    templates : sequence of str, optional
        Override the templates of the split (format strings as from :func:`ioi_templates`).

    Returns
    -------
    list of dict
        Each with ``prompt`` (e.g. ``"When Mary and John went to the store, John gave a drink
        to"``), ``target`` (the indirect object, ``" Mary"``), ``distractor`` (the subject,
        ``" John"``), ``corrupted`` (the same prompt with the second subject replaced by a third
        name, so that no name is repeated), ``io``, ``s``, ``c`` (the three names), ``template``
        and ``order`` (``"ABBA"`` when the IO is named first, else ``"BABA"``).
    """
    rng = random.Random(f"ioi-{split}-{seed}")
    names = list(names) if names is not None else list(_names(split))
    templates = list(templates) if templates is not None else ioi_templates(split)
    out = []
    for _ in range(n):
        template = rng.choice(templates)
        io, s, c = rng.sample(names, 3)
        place = rng.choice(PLACES)
        obj = rng.choice(OBJECTS)
        order = rng.choice(("ABBA", "BABA"))
        a, b = (io, s) if order == "ABBA" else (s, io)
        fields = {"A": a, "B": b, "place": place, "object": obj}
        prompt = template.format(S=s, **fields)
        corrupted = template.format(S=c, **fields)
        out.append(
            {
                "prompt": prompt,
                "target": " " + io,
                "distractor": " " + s,
                "corrupted": corrupted,
                "io": io,
                "s": s,
                "c": c,
                "template": template,
                "order": order,
            }
        )
    return out


def successor_runs(
    n: int, seed: int = 0, min_len: int = 2, max_len: int = 5, kinds: Sequence[str] | None = None
) -> list[tuple[str, list[str], str]]:
    """Runs of consecutive items of an ordered list, each with the item that follows.

    Parameters
    ----------
    n : int
        Number of runs.
    seed : int
        Seed of the generator.
    min_len, max_len : int
        Inclusive range of the run length (items in the prompt).
    kinds : sequence of str, optional
        Keys of :data:`SUCCESSOR_LISTS` (default all: days, months, numbers, letters). Days and
        months wrap around (Sunday -> Monday); numbers (one..twenty) and letters do not.

    Returns
    -------
    list of (kind, run, next_item)
    """
    rng = random.Random(f"successor-{seed}")
    kinds = list(kinds) if kinds is not None else list(SUCCESSOR_LISTS)
    out = []
    for _ in range(n):
        kind = rng.choice(kinds)
        items, cyclic = SUCCESSOR_LISTS[kind]
        length = rng.randint(min_len, min(max_len, len(items) - 1))
        if cyclic:
            start = rng.randrange(len(items))
            seq = [items[(start + i) % len(items)] for i in range(length + 1)]
        else:
            start = rng.randrange(len(items) - length)
            seq = list(items[start : start + length + 1])
        out.append((kind, seq[:-1], seq[-1]))
    return out


def successor_prompts(
    n: int, seed: int = 0, min_len: int = 2, max_len: int = 5, kinds: Sequence[str] | None = None
) -> list[dict[str, str]]:
    """Successor prompts: ``"Monday Tuesday Wednesday"`` -> ``" Thursday"``.

    Parameters
    ----------
    n : int
        Number of prompts.
    seed : int
        Seed of the generator.
    min_len, max_len : int
        Inclusive range of the number of items in the prompt.
    kinds : sequence of str, optional
        Any of ``"days"``, ``"months"``, ``"numbers"`` (one..twenty), ``"letters"`` (A..Z).

    Returns
    -------
    list of dict
        Each with ``prompt``, ``target`` (the next item, with a leading space), ``distractor``
        (the last item of the prompt repeated, with a leading space) and ``kind``.
    """
    return [
        {
            "prompt": " ".join(run),
            "target": " " + nxt,
            "distractor": " " + run[-1],
            "kind": kind,
        }
        for kind, run, nxt in successor_runs(n, seed, min_len, max_len, kinds)
    ]


# --------------------------------------------------------------------------------------------
# repeated text, copying and plain sentences
# --------------------------------------------------------------------------------------------


def _vocab(vocab: Sequence[str] | str) -> list[str]:
    if isinstance(vocab, str):
        if vocab == "induction-2l":
            return induction_vocab()
        if vocab == "circuits-4l":
            return content_words()
        raise ValueError(
            f"vocab must be a word list, 'induction-2l' or 'circuits-4l', not {vocab!r}"
        )
    return list(vocab)


def repeated_tokens(
    n: int,
    length: int,
    seed: int = 0,
    vocab: Sequence[str] | str = "induction-2l",
    repeats: int = 2,
    distinct: bool = True,
) -> list[str]:
    """Random token sequences R repeated: ``R R`` (the METHODS.md induction setting).

    With the tokenizer's BOS this gives BOS + R + R; in the second copy the query at position
    q attends to q - length + 1 if the head is an induction head.

    Parameters
    ----------
    n : int
        Number of prompts.
    length : int
        Number of tokens in R.
    seed : int
        Seed of the generator.
    vocab : sequence of str or {"induction-2l", "circuits-4l"}
        Words to draw from; a model name picks that model's vocabulary of content words.
    repeats : int
        How many copies of R.
    distinct : bool
        Draw R without replacement, so every token of R is unambiguous.

    Returns
    -------
    list of str
        Space-separated words; each word is one token of the named model.
    """
    words = _vocab(vocab)
    rng = random.Random(f"repeat-{seed}")
    out = []
    for _ in range(n):
        r = rng.sample(words, length) if distinct else [rng.choice(words) for _ in range(length)]
        out.append(" ".join(r * repeats))
    return out


def plain_sentences(n: int, seed: int = 0, names: Sequence[str] | None = None) -> list[str]:
    """Simple one-clause sentences (``"Harry found a cup at the park ."``).

    Names are drawn from all 120 names (training and held-out); these sentences never have the
    IOI structure.

    Parameters
    ----------
    n : int
        Number of sentences.
    seed : int
        Seed of the generator.
    names : sequence of str, optional
        Names to draw from (default all names).

    Returns
    -------
    list of str
    """
    rng = random.Random(f"sentence-{seed}")
    pool = list(names) if names is not None else [*NAMES_TRAIN, *NAMES_HELDOUT]
    out = []
    for _ in range(n):
        name, name2 = rng.sample(pool, 2)
        out.append(
            rng.choice(SENTENCES).format(
                name=name,
                name2=name2,
                verb=rng.choice(VERBS),
                adj=rng.choice(ADJECTIVES),
                noun=rng.choice(NOUNS),
                place=rng.choice(PLACES),
                object=rng.choice(OBJECTS),
                day=rng.choice(DAYS),
                month=rng.choice(MONTHS),
                number=rng.choice(NUMBERS[1:]),
            )
        )
    return out


def copy_prompts(n: int, seed: int = 0, min_words: int = 3, max_words: int = 8) -> list[dict]:
    """Plain copying: ``"copy : Harry saw the cat again :"`` -> ``" Harry"`` and so on.

    Parameters
    ----------
    n : int
        Number of prompts.
    seed : int
        Seed of the generator.
    min_words, max_words : int
        Inclusive range of the number of words to copy (random content words).

    Returns
    -------
    list of dict
        Each with ``prompt`` (``"copy : w1 ... wk again :"``), ``target`` (``" w1"``) and
        ``text`` (the full training text ``"copy : w1 ... wk again : w1 ... wk"``).
    """
    rng = random.Random(f"copy-{seed}")
    words = content_words()
    out = []
    for _ in range(n):
        k = rng.randint(min_words, max_words)
        seq = " ".join(rng.choice(words) for _ in range(k))
        out.append(
            {
                "prompt": f"copy : {seq} again :",
                "target": " " + seq.split()[0],
                "text": f"copy : {seq} again : {seq}",
            }
        )
    return out
