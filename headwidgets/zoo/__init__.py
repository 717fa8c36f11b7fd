"""Small trained models shipped with headwidgets, in standard Hugging Face format.

They are real models with findable circuits, trained here by :mod:`headwidgets.zoo.train`
(``make models``), so demos, notebooks, courses and tests run offline with no model hub.

>>> import headwidgets as hw
>>> hw.models()                                   # doctest: +SKIP
induction-2l  GPT-2 style, 2 layers x 4 heads: ...
circuits-4l   Llama style (RMSNorm, rotary, GQA 4 query / 2 key-value heads), 4 layers ...
>>> hm = hw.load("induction-2l")                  # doctest: +SKIP

Any shipped model also loads with plain transformers::

    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(headwidgets.zoo.path("circuits-4l"))
    tokenizer = AutoTokenizer.from_pretrained(headwidgets.zoo.path("circuits-4l"))
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MODELS", "ModelList", "models", "path"]

ROOT = Path(__file__).resolve().parent

MODELS: dict[str, str] = {
    "induction-2l": (
        "GPT-2 style, 2 layers x 4 heads, d_model 128: trained on random tokens with repeated "
        "spans; previous-token head 0.1 in layer 0 feeds induction heads 1.0-1.3 in layer 1."
    ),
    "circuits-4l": (
        "Llama style (RMSNorm, rotary, GQA 4 query / 2 key-value heads), 4 layers x 4 heads, "
        "word-level vocabulary: IOI with held-out names, successor sequences (days, months, "
        "numbers, letters), repeated text and copying; in IOI, heads 2.3 and 3.0 suppress the "
        "subject (no name movers)."
    ),
}
"""Shipped model name -> one-line description."""


class ModelList(dict[str, str]):
    """The shipped models: a ``dict`` name -> description that prints as a table."""

    def __str__(self) -> str:
        width = max((len(name) for name in self), default=0)
        return "\n".join(f"{name:<{width}}  {text}" for name, text in self.items())

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        rows = "\n".join(f"| `{name}` | {text} |" for name, text in self.items())
        return "| model | description |\n|---|---|\n" + rows


def models() -> ModelList:
    """List the models shipped with headwidgets.

    Returns
    -------
    ModelList
        A ``dict`` mapping each name (usable with ``hw.load(name)``) to a one-line description;
        it prints as an aligned table and renders as a table in Jupyter. Only models whose
        weights are present are listed.
    """
    return ModelList({name: text for name, text in MODELS.items() if _present(name)})


def _present(name: str) -> bool:
    return (ROOT / name / "config.json").is_file() and (ROOT / name / "model.safetensors").is_file()


def path(name: str) -> Path:
    """Directory of a shipped model, for ``from_pretrained``.

    Parameters
    ----------
    name : str
        A shipped model name, e.g. ``"induction-2l"``; see :func:`models`.

    Returns
    -------
    pathlib.Path
        Directory holding ``config.json``, ``model.safetensors`` and the tokenizer files.

    Raises
    ------
    ValueError
        If ``name`` is not a shipped model (the message lists the valid names), or its weights
        are missing (the message says how to rebuild them).
    """
    if name not in MODELS:
        valid = ", ".join(repr(n) for n in MODELS)
        raise ValueError(f"{name!r} is not a shipped headwidgets model; valid names: {valid}")
    if not _present(name):
        raise ValueError(
            f"the weights of shipped model {name!r} are missing under {ROOT / name}; "
            f"rebuild them with `python -m headwidgets.zoo.train {name}` (or `make models`)"
        )
    return ROOT / name
