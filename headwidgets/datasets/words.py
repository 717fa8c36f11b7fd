"""The word lists and templates of the shipped models' tasks, and their vocabularies.

The seeded generators of :mod:`headwidgets.datasets.tasks` draw from these tables (which it
re-exports); :func:`induction_vocab` and :func:`circuits_vocab` are the word tokens of the two
shipped models.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ACTIONS",
    "ADJECTIVES",
    "BOS",
    "COPY_MARKERS",
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
    "SENTENCES",
    "SPECIAL_TOKENS",
    "SUCCESSOR_LISTS",
    "UNK",
    "VERBS",
    "circuits_vocab",
    "content_words",
    "induction_vocab",
]

BOS = "<bos>"
EOS = "<eos>"
UNK = "<unk>"
PAD = "<pad>"
SPECIAL_TOKENS: tuple[str, ...] = (BOS, EOS, UNK, PAD)

# --------------------------------------------------------------------------------------------
# word lists
# --------------------------------------------------------------------------------------------

NAMES_TRAIN: tuple[str, ...] = tuple(
    """
    Mary John Alice Bob James Sarah Michael Emma David Laura Daniel Anna Robert Lisa Thomas
    Kate Paul Rachel Mark Susan Peter Linda Steven Karen Kevin Nancy Brian Helen George Amy
    Edward Emily Richard Jessica Charles Sophie Joseph Lucy Andrew Grace Jason Claire Ryan Julia
    Eric Megan Adam Olivia Scott Hannah Frank Chloe Henry Ellen Jack Diana Sam Alex Tom Ben
    Anne Carl Dan Eve Fred Gary Ian Jane Jim Joe Kim Leo Max Nick Oscar Ray Rose Ruth Simon
    Tim Tony Victor Walter Zoe Ethan Noah Liam Mia Ava Ella Lily Ruby Jacob Luke Owen Ivan
    Hugo Felix Nora Iris Vera Clara
    """.split()
)
"""The 100 names used in IOI training prompts."""

NAMES_HELDOUT: tuple[str, ...] = tuple(
    """
    Martin Harry Patrick Sean Jonathan Monica Rita Heather Wendy Carol Gloria Kyle Derek Luis
    Omar Naomi Tara Bella Ethel Dennis
    """.split()
)
"""20 names that never occur in IOI training (they do occur in the other training tasks)."""

PLACES: tuple[str, ...] = (
    "store",
    "park",
    "school",
    "garden",
    "house",
    "office",
    "station",
    "beach",
    "market",
    "library",
    "restaurant",
    "hospital",
)
OBJECTS: tuple[str, ...] = (
    "drink",
    "book",
    "ring",
    "ball",
    "letter",
    "bag",
    "key",
    "gift",
    "flower",
    "cake",
    "hat",
    "bottle",
)
NOUNS: tuple[str, ...] = tuple(
    """
    dog cat car tree box cup chair table lamp door window bird fish shirt phone map coin pen
    clock bike boat road river hill song game picture bread apple house
    """.split()
)
ADJECTIVES: tuple[str, ...] = tuple(
    "big small red blue old new green happy long warm quiet bright".split()
)
VERBS: tuple[str, ...] = tuple(
    "saw liked found bought took lost cleaned painted carried read fixed opened".split()
)

DAYS: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
MONTHS: tuple[str, ...] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
NUMBERS: tuple[str, ...] = tuple(
    """
    one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty
    """.split()
)
LETTERS: tuple[str, ...] = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

SUCCESSOR_LISTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "days": (DAYS, True),
    "months": (MONTHS, True),
    "numbers": (NUMBERS, False),
    "letters": (LETTERS, False),
}
"""Ordered sequences for the successor task: kind -> (items, cyclic)."""

# IOI template parts. A template is an intro (introduces names A and B) followed by an action
# (the subject S, one of A/B, does something "to" the other one, the indirect object IO).
INTROS: tuple[str, ...] = (
    "When {A} and {B} went to the {place}",
    "After {A} and {B} went to the {place}",
    "Then, {A} and {B} went to the {place}",
    "While {A} and {B} were working at the {place}",
    "When {A} and {B} got a {object} at the {place}",
    "After the lunch, {A} and {B} went to the {place}",
    "{A} and {B} were at the {place}",
    "Friends {A} and {B} found a {object} at the {place}",
)
ACTIONS: tuple[str, ...] = (
    ", {S} gave a {object} to",
    ", {S} handed the {object} to",
    ". {S} passed the {object} to",
    ", and {S} gave the {object} to",
    ". Then, {S} decided to give a {object} to",
    ", {S} threw the {object} to",
    ". Afterwards {S} sent a {object} to",
    ", {S} showed the {object} to",
    ", and {S} offered a {object} to",
    ". {S} brought the {object} back to",
)


# plain sentences and the copy task's markers (their words are in the circuits vocabulary)
SENTENCES: tuple[str, ...] = (
    "{name} {verb} the {adj} {noun} .",
    "{name} {verb} a {noun} at the {place} .",
    "{name} and {name2} {verb} the {noun} .",
    "the {adj} {noun} was at the {place} .",
    "{name} was at the {place} on {day} .",
    "{name} {verb} the {object} in {month} .",
    "{name} has {number} {noun} .",
    "{name} and {name2} went to the {place} .",
    "{name} and {name2} were at the {place} on {day} .",
    "the {adj} {object} was given to {name} .",
    "{name} sent a {object} to {name2} .",
)
COPY_MARKERS: tuple[str, ...] = ("copy :", "again :")


# --------------------------------------------------------------------------------------------
# vocabularies
# --------------------------------------------------------------------------------------------

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def induction_vocab() -> list[str]:
    """The 512 word tokens of ``induction-2l`` (special tokens excluded).

    Lower-case letters ``a``..``z``, then consonant-vowel syllables (``ba``, ``be``, ...), then
    consonant-vowel-consonant syllables (``bab``, ``bad``, ...) until there are 512.
    """
    words = list("abcdefghijklmnopqrstuvwxyz")
    words += [c + v for c in _CONSONANTS for v in _VOWELS]
    for c1 in _CONSONANTS:
        for v in _VOWELS:
            for c2 in _CONSONANTS:
                if len(words) < 512:
                    words.append(c1 + v + c2)
    return words


def _dedupe(items: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def content_words() -> list[str]:
    """Words of ``circuits-4l`` used for repeated text: names, nouns, places, successor items."""
    return _dedupe(
        [
            *NAMES_TRAIN,
            *NAMES_HELDOUT,
            *PLACES,
            *OBJECTS,
            *NOUNS,
            *ADJECTIVES,
            *VERBS,
            *DAYS,
            *MONTHS,
            *NUMBERS,
            *LETTERS,
        ]
    )


def _template_words() -> list[str]:
    text = " ".join([*INTROS, *ACTIONS, *SENTENCES, *COPY_MARKERS])
    for ch in ",.:{}":
        text = text.replace(ch, f" {ch} ")
    words = [w for w in text.split() if w not in "{}"]
    fields = {"A", "B", "S", "place", "object", "name", "name2", "noun", "adj", "verb"}
    fields |= {"day", "month", "number"}
    return [w for w in words if w not in fields]


def circuits_vocab() -> list[str]:
    """The word tokens of ``circuits-4l`` (special tokens excluded), in a fixed order."""
    return _dedupe([",", ".", ":", *content_words(), *_template_words()])
