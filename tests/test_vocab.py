"""The vocabulary: every head form read, every bad one refused with what is valid, one label,
and the modes/metrics that the widgets, the command line and the front end offer are its own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import headwidgets as hw
from headwidgets import vocab
from headwidgets.vocab import (
    ABLATION_MODES,
    ATTENTION_MODES,
    DEFAULT_METRIC,
    DEFAULT_MODE,
    METRIC_KINDS,
    METRIC_LABELS,
    METRIC_UNITS,
    METRIC_WORDS,
    MODES,
    NO_INTERVENTION,
    Z_MODES,
    Head,
    check_head,
    check_heads,
    default_metric,
    default_metrics,
    head_label,
    mode_rows,
    parse_head,
    parse_heads,
)

JS = Path(__file__).resolve().parent.parent / "js" / "src"


@pytest.mark.parametrize(
    "value",
    [
        (3, 0),
        [3, 0],
        Head(3, 0),
        "3.0",
        "L3H0",
        "L3.H0",
        "L3 H0",
        "l3h0",
        " L3 . H0 ",
        (np.int64(3), np.int32(0)),
        (3.0, 0.0),  # JSON numbers
        np.array([3, 0]),
    ],
)
def test_every_accepted_form_reads_as_the_same_head(value: Any) -> None:
    head = parse_head(value)
    assert head == Head(3, 0) == (3, 0)
    assert type(head) is Head and type(head.layer) is int and type(head.head) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3", r"cannot read head '3': write a head as \(3, 0\), \[3, 0\], \"3\.0\", \"L3H0\""),
        ("L3", r"cannot read head 'L3'"),
        ("3.0.1", r"cannot read head '3\.0\.1'"),
        ("H0L3", r"cannot read head 'H0L3'"),
        ("3,0", r"cannot read head '3,0'"),
        ("", r"cannot read head ''"),
        ((3,), r"a head is a \(layer, head\) pair of ints, got \(3,\)"),
        ((3, 0, 1), r"pair of ints, got \(3, 0, 1\)"),
        ((3.5, 0), r"pair of ints, got \(3\.5, 0\)"),
        ((True, 0), r"pair of ints, got \(True, 0\)"),
        (("3", "0"), r"pair of ints"),
        (None, r"pair of ints, got None"),
        (3, r"pair of ints, got 3; write a head as"),
    ],
)
def test_a_bad_head_is_refused_with_the_forms_that_are_valid(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_head(value)


def test_several_heads_read_from_one_string_or_a_list() -> None:
    want = [Head(1, 2), Head(0, 3), Head(2, 1)]
    assert parse_heads("1.2,0.3 2.1") == want
    assert parse_heads("L1H2, L0.H3; L2 H1") == want
    assert parse_heads("L1 H2 L0 H3 L2 H1") == want
    assert parse_heads([(1, 2), "0.3", [2, 1]]) == want
    assert parse_heads("") == [] == parse_heads([])
    assert parse_heads("1.2,1.2") == [Head(1, 2), Head(1, 2)]  # check_heads drops duplicates


@pytest.mark.parametrize(
    ("text", "bad"), [("1.2,x", "x"), ("1.2 L0", "L0"), ("zero", "zero"), ("1.2 3", "3")]
)
def test_a_bad_head_in_a_string_is_named(text: str, bad: str) -> None:
    with pytest.raises(ValueError, match=rf"cannot read head '{bad}' in '{re.escape(text)}'"):
        parse_heads(text)


def test_heads_are_a_list_not_a_mapping_or_a_number() -> None:
    with pytest.raises(ValueError, match="heads are a list of heads"):
        parse_heads({(1, 2): 0.5})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="heads are a list of heads"):
        parse_heads(12)  # type: ignore[arg-type]


def test_a_head_outside_the_model_names_the_valid_range() -> None:
    assert check_head("1.2", 2, 4) == Head(1, 2)
    with pytest.raises(ValueError, match=r"unknown head \(5, 0\): layer 5 does not exist; "):
        check_head((5, 0), 2, 4)
    with pytest.raises(ValueError, match=r"head 7 does not exist; valid heads are 0\.\.3"):
        check_head("L1H7", range(2), range(4))
    with pytest.raises(ValueError, match=r"layer 5 is out of range; valid layers are 0\.\.1"):
        check_head((5, 0), 2, 4, missing="is out of range")
    with pytest.raises(ValueError, match=r"layer -1 does not exist; valid layers are 0\.\.1"):
        check_head((-1, 0), 2, 4)


def test_labels_that_are_not_a_range_are_listed() -> None:
    with pytest.raises(ValueError, match=r"layer 1 does not exist; valid layers are \[0, 2, 5\]"):
        check_head((1, 0), [0, 2, 5], [0, 1])


def test_check_heads_keeps_the_first_of_each_head_in_order() -> None:
    assert check_heads([(1, 2), "L0H3", "1.2", [0, 3]], 2, 4) == [Head(1, 2), Head(0, 3)]
    assert check_heads("1.2 0.3", 2, 4) == [Head(1, 2), Head(0, 3)]
    with pytest.raises(ValueError, match=r"unknown head \(2, 0\)"):
        check_heads([(1, 2), (2, 0)], 2, 4)


def test_a_head_is_shown_one_way() -> None:
    assert head_label(3, 0) == "L3 H0" == str(Head(3, 0)) == Head(3, 0).label
    assert f"{Head(11, 10)}" == "L11 H10"  # never "11.10", which reads as a number


def test_the_label_reads_back_as_the_head() -> None:
    for head in [Head(0, 0), Head(3, 11), Head(47, 63)]:
        assert parse_head(str(head)) == head
        assert parse_heads(", ".join(str(h) for h in [head, head])) == [head, head]


def test_the_widgets_label_heads_with_the_vocabulary() -> None:
    from headwidgets.widgets.live import summarize

    spec = hw.Intervention.scale({(0, 1): 2.0}) | hw.Intervention.sink({(1, 2): 0.0})
    assert summarize(spec) == f"{head_label(0, 1)} ×2, {head_label(1, 2)} sink β=0"
    # the front end's headName writes the same label
    assert "`L${layer} H${head}`" in (JS / "format.mjs").read_text(encoding="utf-8")


# -- edit modes --------------------------------------------------------------------------


def test_the_modes_table_is_complete_and_consistent() -> None:
    assert tuple(MODES) == (*Z_MODES, *ATTENTION_MODES)
    assert next(iter(MODES)) == DEFAULT_MODE == "scale"
    assert MODES[DEFAULT_MODE].start == MODES[DEFAULT_MODE].neutral == 1.0  # untouched
    for mode in MODES.values():
        if mode.slider is not None:
            s = mode.slider
            assert s.low < s.high and s.step > 0 and s.low <= s.start <= s.high
            assert s.neutral is None or s.low <= s.neutral <= s.high
        else:
            assert mode.neutral is None  # a mode without a parameter always edits
    assert set(ABLATION_MODES) <= set(Z_MODES)
    assert vocab.MODE_ALIASES == {"patch": "resample"}


def test_the_head_output_modes_are_the_engines() -> None:
    from typing import get_args

    from headwidgets.interventions import PATTERN_KINDS, EditMode

    assert set(Z_MODES) <= set(get_args(EditMode))
    assert set(ATTENTION_MODES) <= set(PATTERN_KINDS)
    assert set(vocab.ATTENTION_SYMBOLS) == set(PATTERN_KINDS)


def test_the_controls_offer_the_vocabularys_modes_in_its_order() -> None:
    from headwidgets.widgets.headcontrols import CONTROL_MODES, HeadControls
    from tests._tiny import tiny

    controls = HeadControls(tiny("llama"), alpha_range=(-2.0, 4.0))
    assert CONTROL_MODES == tuple(MODES)
    assert [row["mode"] for row in controls._parameters] == list(MODES)
    assert set(controls._modes) == set(MODES)
    scale = controls._parameters[0]
    assert (scale["low"], scale["high"], scale["symbol"]) == (-2.0, 4.0, "α")
    assert controls._parameters[1:] == mode_rows()[1:]


def test_the_controls_read_a_patch_as_resample() -> None:
    from headwidgets.widgets.headcontrols import HeadControls
    from tests._tiny import prompt, tiny

    controls = HeadControls(tiny("gpt2"))
    source = prompt(8, 1)
    controls.intervention = hw.Intervention.patch([(0, 1)], source=source)
    assert controls.edits == [{"layer": 0, "head": 1, "mode": "resample", "alpha": 1.0}]
    assert controls.intervention == hw.Intervention.resample([(0, 1)], source=source)


def test_the_front_end_names_no_mode() -> None:
    # the menu, the sliders, the start and neutral values all come from the _parameters trait
    source = (JS / "headcontrols.js").read_text(encoding="utf-8")
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("//"))
    for mode in MODES:
        assert f'"{mode}"' not in code and f"'{mode}'" not in code, mode


def test_the_command_line_offers_the_vocabularys_modes_and_metrics() -> None:
    from headwidgets.cli.parser import build_parser

    parser = build_parser()
    sweep = parser._subparsers._group_actions[0].choices["sweep"]  # type: ignore[union-attr]
    options = {a.dest: a for a in sweep._actions}
    assert tuple(options["mode"].choices) == ABLATION_MODES
    assert options["metric"].default == DEFAULT_METRIC
    text = sweep.format_help()
    for kind in METRIC_KINDS:
        assert kind in options["metric"].help and kind in text
    for mode in ABLATION_MODES:
        assert mode in text


# -- metrics and the rest -------------------------------------------------------------------


def test_every_metric_has_a_label_and_units() -> None:
    assert set(METRIC_LABELS) == set(METRIC_KINDS) == set(METRIC_UNITS) == set(METRIC_WORDS)
    assert hw.Metric("loss").units == METRIC_UNITS["loss"]
    assert hw.Metric(target=" a", distractor=" b").kind == DEFAULT_METRIC


def test_the_default_metric_is_what_the_tokens_allow() -> None:
    from headwidgets.widgets.explorer import Explorer

    assert default_metric(" Mary", " John") == DEFAULT_METRIC == "logit_diff"
    assert default_metric(" Mary", None) == "prob"
    assert default_metric(None, None) == default_metric(None, " John") == "loss"
    assert Explorer.default_metric(" Mary", None) == hw.Metric("prob", target=" Mary")
    assert default_metrics(" Mary", None) == ["prob", "loss", "kl"]


def test_the_empty_intervention_is_said_once() -> None:
    assert hw.Intervention().to_json() == NO_INTERVENTION


def test_head_is_public() -> None:
    assert hw.Head is Head
