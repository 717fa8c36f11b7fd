"""Prompts, the empty intervention, the edit modes and their sliders (see ``vocab``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

# ======================================================================================
# Prompts and the empty intervention
# ======================================================================================

#: a prompt: its text, or its token ids
Prompt = str | Sequence[int]
#: one prompt or several
Prompts = Prompt | Sequence[Prompt]

#: the JSON of the intervention that edits nothing (``Intervention().to_json()``)
NO_INTERVENTION = '{"edits":[]}'

# ======================================================================================
# Edit modes
# ======================================================================================

Site = Literal["z", "attention"]


@dataclass(frozen=True)
class Slider:
    """The parameter of a mode, as a slider: its symbol, range, start value, neutral value.

    ``neutral`` is the value at which the edit changes nothing, None when no value does (a
    ``window`` hides keys of long prompts at any width).
    """

    symbol: str
    low: float
    high: float
    start: float
    neutral: float | None
    step: float = 0.01


@dataclass(frozen=True)
class Mode:
    """One edit mode as the controls offer it.

    Attributes
    ----------
    name
        The mode's name (a ``HeadEdit`` mode for site ``"z"``, an ``AttentionEdit`` kind for
        site ``"attention"``).
    site
        ``"z"`` (the head output) or ``"attention"`` (inside the head's attention).
    summary
        What the mode does, in one line.
    slider
        Its parameter (α, β, τ, t, w); None: the mode has none.
    needs
        What the mode needs besides the head ('' = nothing): ``reference`` prompts,
        a ``source`` prompt, steering ``vector``\\ s or few-shot ``task_prompts``.
    value
        The ``alpha`` a control of a mode without a slider carries (``zero``: 0).
    """

    name: str
    site: Site
    summary: str
    slider: Slider | None = None
    needs: str = ""
    value: float = 1.0

    @property
    def start(self) -> float:
        """The ``alpha`` of a control when this mode is picked."""
        return self.slider.start if self.slider is not None else self.value

    @property
    def neutral(self) -> float | None:
        """The ``alpha`` at which the edit changes nothing (None: every value edits)."""
        return self.slider.neutral if self.slider is not None else None


_WINDOW = Slider("w", 1, 64, 64, None, step=1)  # the window's width: whole keys
_INJECT = Slider("α", 0, 1, 0, 0)
#: every mode the controls offer, in menu order; the first is the default (α = 1: untouched)
MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("scale", "z", "α·z: 0 ablates, <1 dampens, >1 amplifies", Slider("α", -1, 3, 1, 1)),
        Mode("zero", "z", "z = 0 (the same as scale 0)", value=0.0),
        Mode("mean", "z", "z replaced by its mean over reference prompts", needs="reference"),
        Mode("resample", "z", "z replaced by the z of another prompt", needs="source"),
        Mode("add", "z", "z + α·v, v a steering vector", Slider("α", -3, 3, 0, 0), "vector"),
        Mode("inject", "z", "(1 − α)·z + α·ē, ē: few-shot mean", _INJECT, "task_prompts"),
        Mode("sink", "attention", "attention to the first token × β", Slider("β", 0, 2, 1, 1)),
        Mode("temperature", "attention", "softmax(logits / τ)", Slider("τ", 0.05, 4, 1, 1)),
        Mode("mix", "attention", "the pattern mixed toward the identity", Slider("t", 0, 1, 0, 0)),
        Mode("window", "attention", "only the first key and the last w keys visible", _WINDOW),
    )
}
#: the mode a new control starts in (at its neutral value: the head untouched)
DEFAULT_MODE = "scale"
#: the head-output modes (``HeadEdit`` modes) the controls offer
Z_MODES: tuple[str, ...] = tuple(m.name for m in MODES.values() if m.site == "z")
#: the inside-attention modes the controls offer
ATTENTION_MODES: tuple[str, ...] = tuple(m.name for m in MODES.values() if m.site == "attention")
AblationMode = Literal["zero", "mean", "resample", "scale"]
#: the modes of a single-head sweep (``hm.sweep``, ``headwidgets sweep --mode``)
ABLATION_MODES: tuple[str, ...] = get_args(AblationMode)
#: other names read as a mode: ``patch`` is resampling from the clean prompt
MODE_ALIASES: dict[str, str] = {"patch": "resample"}
#: the symbol of each inside-attention edit kind's value (``reweight`` has no control)
ATTENTION_SYMBOLS: dict[str, str] = {
    **{m.name: m.slider.symbol for m in MODES.values() if m.slider and m.site == "attention"},
    "reweight": "g",
}


_SLIDER = ("symbol", "low", "high", "step")


def mode_rows(**overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The modes as JSON rows for the front end, in menu order; ``overrides`` per mode.

    Each row: ``mode``, ``site``, ``summary``, ``needs``, the slider's ``symbol``, ``low``,
    ``high``, ``step`` (None without a slider), ``start`` and ``neutral``.

    Example
    -------
    >>> mode_rows(scale={"low": -2.0})[0]["low"]
    -2.0
    """
    rows = []
    for mode in MODES.values():
        slider = asdict(mode.slider) if mode.slider is not None else dict.fromkeys(_SLIDER)
        row: dict[str, Any] = {"mode": mode.name, "site": mode.site, "summary": mode.summary}
        row["needs"] = mode.needs
        row.update(slider, start=mode.start, neutral=mode.neutral)
        rows.append({**row, **overrides.get(mode.name, {})})
    return rows
