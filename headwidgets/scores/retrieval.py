"""Retrieval score: does the head look at the needle token the model is copying?

For each prompt the model first generates greedily (or takes the given ``answers``); then ONE
forward pass over prompt + continuation reads every head's attention. A generation step
copies from the needle when its token occurs in the needle; for such steps the head scores a
hit when its argmax attention (at the query position that produced the token) lands on a
needle position holding that token. The score is the fraction of hits over copy steps.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("circuits-4l")
>>> ds = hw.datasets.needle_haystack(2, hm=hm)
>>> hw.scores.retrieval(hm, ds, reduce="mean").dims
('layer', 'head')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headwidgets.scores import _run
from headwidgets.scores import reductions as red
from headwidgets.scores._run import PaddingSide, Reduce

if TYPE_CHECKING:
    import torch
    import xarray as xr

__all__ = ["copy_steps", "find_needle", "retrieval"]


def find_needle(hm: Any, ids: Sequence[int], needle: str | tuple[int, int]) -> tuple[int, int]:
    """The (start, stop) token span of ``needle`` (text, or a span given as is) in ``ids``."""
    if isinstance(needle, tuple):
        start, stop = needle
        if not 0 <= start < stop <= len(ids):
            raise ValueError(f"needle span {needle} is out of range for {len(ids)} tokens")
        return start, stop
    for variant in (needle, " " + needle, needle.strip()):
        piece = hm.tokenizer.encode(variant, add_special_tokens=False)
        for start in range(len(ids) - len(piece) + 1):
            if piece and list(ids[start : start + len(piece)]) == piece:
                return start, start + len(piece)
    raise ValueError(f"the needle {needle!r} does not occur in the prompt's tokens")


def copy_steps(
    ids: Sequence[int], n_prompt: int, span: tuple[int, int]
) -> list[tuple[int, list[int]]]:
    """(query position, needle positions with the same token) for every copying step.

    ``ids`` is prompt + continuation; the token at ``t >= n_prompt`` was produced at query
    ``t - 1``.

    Example
    -------
    >>> copy_steps([0, 5, 6, 9, 5, 6], n_prompt=4, span=(1, 3))
    [(3, [1]), (4, [2])]
    """
    start, stop = span
    steps = []
    for t in range(n_prompt, len(ids)):
        sources = [p for p in range(start, stop) if ids[p] == ids[t]]
        if sources:
            steps.append((t - 1, sources))
    return steps


def _continue(hm: Any, prompt: _run.Encoded, answer: str | None, max_new: int) -> list[int]:
    """Prompt + continuation: the given answer, else the engine's greedy tokens (no EOS)."""
    import torch

    if answer is not None:
        return [*prompt.ids, *hm.tokenizer.encode(answer, add_special_tokens=False)]
    ids = torch.tensor([prompt.ids], device=hm.device)
    new = hm.generate(ids, max_new)
    eos = getattr(hm.tokenizer, "eos_token_id", None)
    if eos is not None and eos in new:
        new = new[: new.index(eos)]
    return [*prompt.ids, *new]


def retrieval(
    hm: Any,
    prompts: Any,
    needles: Sequence[str | tuple[int, int]] | str | None = None,
    answers: Sequence[str] | str | None = None,
    max_new_tokens: int | None = None,
    *,
    per_query: bool = False,
    reduce: Reduce | None = None,
    batch_size: int = 16,
    padding_side: PaddingSide | None = None,
    progress: bool | None = None,
) -> xr.DataArray:
    """Retrieval score of every head on needle-in-a-haystack prompts.

    Parameters
    ----------
    prompts
        A prompt, a list of prompts, or a ``PromptSet`` from ``hw.datasets.needle_haystack``
        (its needles are used).
    needles
        The needle of each prompt: its text (found among the prompt's tokens) or a token span.
    answers
        Continuations to score instead of greedy generation (teacher forcing).
    max_new_tokens
        Tokens to generate (default: the needle's length + 1).
    per_query
        Keep the query positions (hits are 1/0 at copy steps, NaN elsewhere).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> retrieval(hm, hw.datasets.needle_haystack(2, hm=hm)).dims
    ('layer', 'head', 'prompt')
    """
    from headwidgets.scores.statistics import STATISTIC_INFO

    if not hm.is_causal:
        raise ValueError("the retrieval score needs a causal (generating) model")
    if needles is None:
        needles = getattr(prompts, "needles", None)
        if needles is None:
            raise ValueError("retrieval needs needles=[...] (or a needle_haystack PromptSet)")
    prompt_list, single = _run.as_prompt_list(prompts)
    needle_list = _run.per_prompt(
        [needles] if single and isinstance(needles, str) else needles, len(prompt_list), "needle"
    )
    answer_list = _run.per_prompt(answers, len(prompt_list), "answer")
    rows, steps = [], []
    for prompt, needle, answer in zip(prompt_list, needle_list, answer_list, strict=True):
        enc = _run.encode(hm, prompt)
        span = find_needle(hm, enc.ids, needle)
        full = _continue(hm, enc, answer, max_new_tokens or (span[1] - span[0] + 1))
        rows.append(_run.encode(hm, full))
        steps.append(copy_steps(full, len(enc), span))

    def hits(layer: int, A: torch.Tensor, p: int) -> torch.Tensor:
        return red.retrieval_hits(A, steps[p])

    values = _run.stream(hm, rows, {"retrieval": hits}, batch_size, padding_side, progress)
    info = STATISTIC_INFO["retrieval"]
    attrs = _run.score_attrs(
        hm,
        "retrieval: argmax attention on the copied needle token",
        info.long_name,
        info.units,
        extra={"copy_steps": _run.params_json(counts=[len(s) for s in steps])},
        prompts=prompts,
        per_query=per_query,
        answers="given" if answers is not None else "greedy",
    )
    return _run.position_cube(
        values["retrieval"], rows, single, "retrieval", attrs, per_query, "query", reduce
    )
