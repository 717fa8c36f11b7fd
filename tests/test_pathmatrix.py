"""PathMatrix: a clicked path, patched live, gives the path-patching cube's cell (real runs)."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr

import headwidgets as hw
from headwidgets.widgets import Explorer, PathMatrix
from tests.scores.test_circuits import CLEAN, CORRUPT, METRIC, _parts, _three_layers, _z


def request(widget: PathMatrix, **content: Any) -> dict[str, Any]:
    """One browser request (a click) through the widget's handler; its answer."""
    answers: list[dict[str, Any]] = []
    widget.send = lambda msg, buffers=None: answers.append(msg)  # type: ignore[method-assign]
    widget._handle_message(widget, {"type": "request", "id": "r1", **content}, [])
    assert len(answers) == 1
    return answers[0]


def path(sender: tuple[int, int], receiver: str, x: str) -> dict[str, Any]:
    return {"sender": list(sender), "receiver": receiver, "input": x}


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def hm(request: pytest.FixtureRequest) -> hw.HeadModel:
    return _three_layers(request.param)  # 3 layers, larger random weights; llama is GQA


@pytest.fixture(scope="module")
def matrix(hm: hw.HeadModel) -> PathMatrix:
    return PathMatrix(hm, CLEAN, CORRUPT, METRIC)


def live_metric(hm: hw.HeadModel, spec: hw.Intervention) -> float:
    """metric(clean under spec) − metric(clean), a plain run outside the widget."""
    ids = hm.tokenize(CLEAN).input_ids
    with torch.no_grad():
        base = hm.model(ids).logits.float()
        with hm.intervene(spec):
            cur = hm.model(ids).logits.float()
    value = METRIC.compute(hm, cur, ids, base) - METRIC.compute(hm, base, ids, base)
    return float(value[0])


# -- live value = the cube's cell ------------------------------------------------------------


def test_every_q_k_v_path_patched_live_equals_its_cube_cell(
    hm: hw.HeadModel, matrix: PathMatrix
) -> None:
    assert matrix.inputs == ["q", "k", "v", "logits"]
    checked, largest = 0, 0.0
    for x in ("q", "k", "v"):
        senders, receivers, values = matrix._matrices[x]
        for i, sender in enumerate(senders):
            for j, receiver in enumerate(receivers):
                cell = float(values.values[i, j])
                if not np.isfinite(cell):
                    continue
                matrix.path = path(sender, receiver, x)
                assert matrix.status["cube"] == pytest.approx(cell, abs=1e-6)
                assert matrix.status["live"] == pytest.approx(cell, abs=1e-5)
                # the same spec outside the widget: a plain run
                assert live_metric(hm, matrix.intervention) == pytest.approx(cell, abs=1e-5)
                checked += 1
                largest = max(largest, abs(cell))
    n_senders_below = {1: 4, 2: 8}  # senders in layers below each receiver layer
    assert checked == 3 * sum(4 * n for n in n_senders_below.values())
    assert largest > 0.05, "the paths carry nothing: the test would not see a wrong patch"
    matrix.path = {}
    assert not matrix.intervention and matrix.status == {}


def test_the_direct_path_runs_the_senders_corrupt_output_with_later_heads_frozen(
    hm: hw.HeadModel, matrix: PathMatrix
) -> None:
    """The live direct path, against z slices replaced by plain hooks on the HF modules."""
    z_clean, logits_clean = _z(hm, CLEAN)
    z_bad, _ = _z(hm, CORRUPT)
    dim, ids = hm.head_dim, hm.tokenize(CLEAN).input_ids
    for sender in [(0, 1), (1, 2), (2, 3)]:
        matrix.path = path(sender, "logits", "logits")

        def replace(module: Any, args: tuple[Any, ...], layer: int, s: Any = sender) -> Any:
            z = z_clean[layer].clone()
            if layer == s[0]:
                part = slice(s[1] * dim, (s[1] + 1) * dim)
                z[..., part] = z_bad[layer][..., part]
            return (z, *args[1:])

        handles = [
            _parts(hm, layer)["o"].register_forward_pre_hook(
                lambda m, args, layer=layer: replace(m, args, layer)
            )
            for layer in range(sender[0], hm.n_layers)
        ]
        with torch.no_grad():
            logits = hm.model(ids).logits
        for handle in handles:
            handle.remove()
        want = float(METRIC.compute(hm, logits, ids, logits_clean)[0]) - float(
            METRIC.compute(hm, logits_clean, ids, logits_clean)[0]
        )
        assert matrix.status["live"] == pytest.approx(want, abs=1e-5)
        cube = float(matrix._matrices["logits"][2].sel(sender=sender).item())
        assert matrix.status["cube"] == pytest.approx(cube, abs=1e-6)
    matrix.path = {}


def test_induction_2l_key_paths_from_0_1_patched_live_equal_the_cube() -> None:
    from headwidgets.datasets.tasks import induction_vocab

    hm = hw.load("induction-2l", device="cpu")
    words = [w for w in induction_vocab() if not w.startswith("<")]
    rng = random.Random(0)
    r = rng.sample(words, 10)
    clean = r + r[:6]
    bad = list(clean)
    bad[5] = rng.choice([w for w in words if w not in r])
    metric = hw.Metric("logit_diff", target=" " + r[6], distractor=" " + r[5])
    receivers = [(1, head) for head in range(hm.n_heads)]
    cube = hw.scores.path_patching(
        hm, " ".join(clean), " ".join(bad), metric, receivers=receivers, inputs=("q", "k")
    )
    pm = PathMatrix(hm, " ".join(clean), " ".join(bad), metric, cube)
    assert pm.inputs == ["q", "k"] and pm.input == "k"
    keys = []
    for _, head in receivers:
        answer = request(pm, path=path((0, 1), f"1.{head}", "k"))
        assert answer["error"] is None and answer["path"]["receiver"] == f"1.{head}"
        want = float(cube.sel(layer=0, head=1, receiver=f"1.{head}", input="k"))
        assert pm.status["live"] == pytest.approx(want, abs=1e-5)
        keys.append(want)
    # K-composition: the key paths from 0.1 carry a large share (METHODS, notebook 07)
    assert sum(keys) < -1.0, keys


def test_a_normalised_cube_gets_the_live_change_normalised_the_same_way(hm: hw.HeadModel) -> None:
    cube = hw.scores.path_patching(
        hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 0)], inputs="v", normalize=True
    )
    raw = hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC)  # the direct path, not normalised
    pm = PathMatrix(hm, CLEAN, CORRUPT, METRIC, [cube, raw])
    for sender in [(0, 2), (1, 1)]:
        pm.path = path(sender, "2.0", "v")
        want = float(cube.sel(layer=sender[0], head=sender[1], receiver="2.0", input="v"))
        assert pm.status["live"] == pytest.approx(want, abs=1e-5)
    pm.path = path((1, 1), "logits", "logits")
    assert pm.status["baseline"] == pytest.approx(raw.attrs["metric_clean"], abs=1e-5)


# -- the widget's state and errors ------------------------------------------------------------


def test_the_matrix_state_is_json_and_follows_the_input(matrix: PathMatrix) -> None:
    from ipywidgets.widgets.widget import _remove_buffers

    matrix.input = "k"
    assert matrix._shape == [matrix.hm.n_layers * matrix.hm.n_heads, 8]  # layers 1-2 receive
    assert matrix._receivers[:2] == ["1.0", "1.1"] and matrix._senders[1] == [0, 1]
    data = np.frombuffer(matrix._values, dtype="<f4").reshape(matrix._shape)
    assert np.isnan(data[4:, :4]).all()  # layer-1 senders have no path into layer 1
    matrix.input = "logits"
    assert matrix._receivers == ["logits"] and matrix._shape == [12, 1]
    state, _, _ = _remove_buffers(matrix.get_state())
    json.dumps(state, allow_nan=False)


def test_a_click_toggles_the_path_and_answers_with_it(matrix: PathMatrix) -> None:
    p = path((0, 2), "2.1", "v")
    answer = request(matrix, path=p)
    assert answer["error"] is None and answer["path"] == p
    assert matrix.path == p and matrix.input == "v"  # the matrix shows the path's input
    assert matrix.status["path"] == "0.2 → v of 2.1"
    assert [(e.layer, e.target, e.op) for e in matrix.intervention.attention] == [(2, "v", "patch")]
    answer = request(matrix, path={})  # the front end sends {} for the same cell again
    assert answer["path"] == {} and not matrix.intervention


def test_bad_paths_are_refused_with_what_is_valid(matrix: PathMatrix) -> None:
    cases = [
        (path((1, 0), "1.2", "k"), "no path from 1.0 to 1.2"),
        (path((0, 0), "0.1", "k"), "unknown receiver '0.1'"),
        (path((0, 9), "1.0", "k"), "head 9 does not exist"),
        (path((0, 0), "1.0", "x"), "unknown input 'x'"),
        ({"sender": [0, 0]}, "a path is"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            matrix.path = bad
        assert matrix.path == {}
    answer = request(matrix, path=path((2, 0), "2.1", "q"))
    assert "no path from 2.0 to 2.1" in answer["error"] and matrix.error == answer["error"]
    with pytest.raises(ValueError, match="unknown input 'z'"):
        matrix.input = "z"


def test_bad_cubes_and_arguments_are_refused(hm: hw.HeadModel) -> None:
    cube = hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 0)], inputs="k")
    with pytest.raises(ValueError, match="expected dims"):
        PathMatrix(hm, CLEAN, CORRUPT, METRIC, cube.sel(input="k"))
    with pytest.raises(ValueError, match="computed on the corrupt prompt"):
        PathMatrix(hm, CLEAN, CLEAN, METRIC, cube)
    with pytest.raises(ValueError, match="does not go with paths="):
        PathMatrix(hm, CLEAN, CORRUPT, METRIC, cube, receivers=[(2, 0)])
    with pytest.raises(TypeError, match="paths must be"):
        PathMatrix(hm, CLEAN, CORRUPT, METRIC, [np.zeros((3, 4))])
    with pytest.raises(ValueError, match="same number of tokens"):
        PathMatrix(hm, CLEAN, CORRUPT + " w3", METRIC, receivers=[(2, 0)])
    with pytest.raises(TypeError):
        PathMatrix(hm, CLEAN, CORRUPT, METRIC, cube, colour="red")  # type: ignore[call-arg]
    other = hw.Metric("logit_diff", target="w7", distractor="w5")
    with pytest.raises(ValueError, match="the cube measures logit_diff\\('w5' - 'w7'\\)"):
        PathMatrix(hm, CLEAN, CORRUPT, other, cube)
    with hm.intervene(hw.Intervention.zero([(0, 0)])):
        edited = hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 0)], inputs="k")
    with pytest.raises(ValueError, match="computed under an intervention"):
        PathMatrix(hm, CLEAN, CORRUPT, METRIC, edited)
    pm = PathMatrix(hm, CLEAN, CORRUPT, METRIC, [cube], path=((1, 1), (2, 0), "k"))
    assert pm.inputs == ["k"] and pm.status["path"] == "1.1 → k of 2.0"
    assert isinstance(pm._matrices["k"][2], xr.DataArray)


# -- inside the Explorer ----------------------------------------------------------------------


def test_the_explorer_shows_a_clicked_path_and_a_head_edit_unpatches_it(hm: hw.HeadModel) -> None:
    cube = hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 1)], inputs="k")
    ex = Explorer(hm, CLEAN, target="w5", distractor="w7", paths=cube, heads=[(0, 0)])
    assert ex.paths is not None and ex.paths.corrupt == CORRUPT  # from the cube's attrs
    ex.controls.intervention = hw.Intervention.zero([(0, 0)])
    answer = request(ex.paths, path=path((1, 3), "2.1", "k"))
    assert answer["error"] is None
    assert ex.output.intervention == ex.paths.intervention == ex.intervention
    assert ex.controls.edits == [] and ex.grid.selected == []  # one intervention at a time
    shown = ex.output.metric_values["logit_diff"]
    want = float(cube.sel(layer=1, head=3, receiver="2.1", input="k"))
    assert shown["intervened"] - shown["baseline"] == pytest.approx(want, abs=1e-5)
    assert ex.paths.status["live"] == pytest.approx(want, abs=1e-5)
    ex.grid.selected = [[1, 0]]  # a head gets controls: the path is unpatched
    assert ex.paths.path == {} and not ex.paths.intervention
    ex.controls.intervention = hw.Intervention.zero([(1, 0)])
    assert ex.output.intervention == hw.Intervention.zero([(1, 0)])
    with pytest.raises(ValueError, match="needs corrupt="):
        Explorer(hm, CLEAN, target="w5", distractor="w7", paths=cube.drop_attrs())
    assert Explorer(hm, CLEAN, target="w5", distractor="w7").paths is None
