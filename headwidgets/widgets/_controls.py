"""What one head control of :class:`~headwidgets.widgets.headcontrols.HeadControls` means.

A control is a dict ``{"layer", "head", "mode", "alpha"}``; this module turns controls into
the :class:`~headwidgets.interventions.Intervention` they describe and an Intervention's edits
back into controls, checks a control, and says which modes lack what they need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from headwidgets.interventions import AttentionEdit, HeadEdit, Intervention
from headwidgets.vocab import (
    ATTENTION_MODES,
    DEFAULT_MODE,
    MODE_ALIASES,
    MODES,
    check_head,
)

#: modes offered by the menu, in order (``patch`` is ``resample`` from a clean prompt)
CONTROL_MODES: tuple[str, ...] = tuple(MODES)


def default_control(layer: int, head: int, alpha: float | None = None) -> dict[str, Any]:
    """A new control: the default mode at its neutral value (the head untouched), or α."""
    value = MODES[DEFAULT_MODE].neutral if alpha is None else alpha
    return {"layer": layer, "head": head, "mode": DEFAULT_MODE, "alpha": value}


def attention_edit(layer: int, head: int, mode: str, value: float) -> AttentionEdit:
    """The inside-attention edit a control stands for (it checks the parameter's range)."""
    if mode == "mix":
        return AttentionEdit(layer, head, "mix", value, toward="identity")
    if mode == "window":
        if value != int(value):
            raise ValueError(f"window width must be a whole number of keys >= 1, got {value}")
        return AttentionEdit(layer, head, "window", int(value), sinks=1)
    return AttentionEdit(layer, head, mode, value)  # type: ignore[arg-type]


def controls_intervention(
    controls: Sequence[Mapping[str, Any]],
    *,
    reference: Sequence[str],
    source: str | None,
    steering: Mapping[tuple[int, int], tuple[float, ...]],
    task_prompts: tuple[str, ...],
) -> Intervention:
    """The Intervention the controls describe (heads at their neutral value are left out)."""
    edits = []
    attention = []
    for e in controls:
        layer, head, mode, value = e["layer"], e["head"], e["mode"], e["alpha"]
        if value == MODES[mode].neutral:
            continue  # at its neutral value the control edits nothing
        if mode in ATTENTION_MODES:
            attention.append(attention_edit(layer, head, mode, value))
        elif mode == "scale":
            edits.append(HeadEdit(layer, head, "scale", value))
        elif mode == "zero":
            edits.append(HeadEdit(layer, head, "zero"))
        elif mode == "mean":
            edits.append(HeadEdit(layer, head, "mean", reference=tuple(reference)))
        elif mode == "add":
            vector = steering[(layer, head)]
            edits.append(HeadEdit(layer, head, "add", value, vector=vector))
        elif mode == "inject":
            edits.append(HeadEdit(layer, head, "inject", value, reference=task_prompts))
        else:
            edits.append(HeadEdit(layer, head, "resample", source=source))
    return Intervention(tuple(edits), attention=tuple(attention))


def attention_control(pattern: Any) -> dict[str, Any]:
    """The control of an inside-attention edit; a ValueError for one no control stands for."""
    kind = getattr(pattern, "kind", None)
    if kind not in ATTENTION_MODES or pattern != attention_edit(
        pattern.layer, pattern.head, kind, getattr(pattern, "value", 0.0)
    ):
        raise ValueError(
            f"the attention edit {pattern} has no control; the controls offer "
            f"{', '.join(ATTENTION_MODES)} on every query position (mix toward the "
            "identity, window with one sink): use hm.intervene for the others"
        )
    return {"layer": pattern.layer, "head": pattern.head, "mode": kind, "alpha": pattern.value}


def edit_control(edit: HeadEdit) -> dict[str, Any]:
    """The control of a head-output edit; a ValueError for one no control stands for."""
    mode = MODE_ALIASES.get(edit.mode, edit.mode)  # patch: resample from a clean prompt
    if mode not in CONTROL_MODES:
        raise ValueError(f"mode {mode!r} has no control; the controls offer {CONTROL_MODES}")
    if edit.positions is not None:
        raise ValueError("position-restricted edits have no control; use hm.intervene")
    return {"layer": edit.layer, "head": edit.head, "mode": mode, "alpha": edit.alpha}


def check_control(
    item: Any,
    n_layers: int,
    n_heads: int,
    unusable: Mapping[str, str],
    steering: Mapping[tuple[int, int], Any],
) -> dict[str, Any]:
    """One control checked and completed (mode and α defaults); a ValueError says what is
    wrong. ``unusable`` is ``{mode: why not}`` (see :func:`unusable_modes`)."""
    if not isinstance(item, dict):
        raise ValueError(f"an edit is a dict with layer, head, mode, alpha; got {item!r}")
    unknown = set(item) - {"layer", "head", "mode", "alpha"}
    if unknown:
        raise ValueError(f"unknown edit keys {sorted(unknown)}; expected layer, head, mode, alpha")
    layer, head = check_head((item.get("layer"), item.get("head")), n_layers, n_heads)
    mode = item.get("mode", DEFAULT_MODE)
    if mode not in CONTROL_MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(CONTROL_MODES)}")
    reason = unusable.get(mode, "")
    if reason:
        raise ValueError(reason)
    if mode == "add" and (layer, head) not in steering:
        raise ValueError(
            f"head {(layer, head)} has no steering vector; heads with one: {sorted(steering)}"
        )
    alpha = item.get("alpha", 1.0)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise ValueError(f"alpha must be a number, got {alpha!r}")
    alpha = 0.0 if mode == "zero" else float(alpha)
    if not math.isfinite(alpha):
        raise ValueError(f"alpha must be finite, got {alpha}")
    if mode in ATTENTION_MODES:
        attention_edit(layer, head, mode, alpha)  # the engine's range checks
    return {"layer": layer, "head": head, "mode": mode, "alpha": alpha}


def unusable_modes(
    inside: str,
    *,
    reference: Sequence[str],
    source: str | None,
    steering: Mapping[Any, Any],
    task_prompts: Sequence[str],
) -> dict[str, str]:
    """``{mode: '' if usable else why not}``: ``inside`` is why the inside-attention modes
    are not (``''``: they are); the others lack what their ``vocab.Mode.needs`` names."""
    lacking = {
        "": "",
        "reference": ""
        if reference
        else "needs reference prompts: HeadControls(hm, reference=[...])",
        "source": "" if source else "needs a source prompt of the same length: source='...'",
        "vector": ""
        if steering
        else "needs steering vectors: HeadControls(hm, steering={(layer, head): v})",
        "task_prompts": ""
        if task_prompts
        else "needs few-shot prompts: HeadControls(hm, task_prompts=[...])",
    }
    return {
        mode.name: inside
        if mode.site == "attention"
        else (f"{mode.name} {lacking[mode.needs]}" if lacking[mode.needs] else "")
        for mode in MODES.values()
    }
