"""Cubes: validation, exact netCDF/zarr round trips, ranking, comparing and overlap."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwidgets.cubes import (
    REQUIRED_ATTRS,
    UNKNOWN,
    as_cube,
    check_cube,
    compare,
    cube_names,
    load_cube,
    make_cube,
    overlap,
    save_cube,
    top_heads,
)

SUFFIXES = [".nc", ".zarr"]


def rich_cube() -> xr.DataArray:
    """A cube with every awkward thing a score can carry."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 3, 4, 2)).astype(np.float32)
    values[0, 0, 0, 0] = np.nan
    tokens = np.array(
        [["<bos>", "<bos>"], [" Mary", "é\u2028"], ["", "a\x00b"], [" 😀", "\t"]], dtype=str
    )
    return make_cube(
        values,
        ("layer", "head", "query", "prompt"),
        {
            "token": (("query", "prompt"), tokens),
            "prompt_text": ("prompt", np.array(["When Mary", "x\x00y"], dtype=str)),
        },
        name="induction",
        attrs={
            "model": "tiny",
            "units": "probability",
            "flag": True,
            "nothing": None,
            "params": {"period": 3, "nested": {"a": [1, 2]}},
            "seeds": [0, 1, 2],
            "count": np.int64(7),
            "ratio": 0.25,
            "missing": float("nan"),
        },
    )


def test_make_cube_fills_every_required_attr_and_orders_dims() -> None:
    cube = make_cube(np.zeros((2, 3, 4)), ("prompt", "layer", "head"), name="sink")
    assert cube.dims == ("layer", "head", "prompt")
    assert set(REQUIRED_ATTRS) <= set(cube.attrs)
    assert cube.attrs["long_name"] == "sink"
    assert json.loads(cube.attrs["intervention"]) == {"edits": []}
    assert cube["head"].values.tolist() == [0, 1, 2, 3]


def test_make_cube_stores_dict_attrs_and_interventions_as_json() -> None:
    from headwidgets import Intervention

    spec = Intervention.zero([(0, 1)])
    cube = make_cube(
        np.zeros((1, 2)),
        ("layer", "head"),
        name="x",
        attrs={"intervention": spec, "params": {"k": 2}, "count": np.int32(3)},
    )
    assert Intervention.from_json(cube.attrs["intervention"]) == spec
    assert json.loads(cube.attrs["params"]) == {"k": 2}
    assert type(cube.attrs["count"]) is int


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_load_round_trip_is_exact(tmp_path, suffix: str) -> None:
    cube = rich_cube()
    cube.attrs["raw"] = {"set": "by hand", "list": [1, None, True]}  # not via make_cube
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no zarr "unstable dtype" or consolidation warnings
        path = save_cube(cube, tmp_path / f"cube{suffix}")
        loaded = load_cube(path)
    xr.testing.assert_identical(loaded, cube)
    assert loaded.attrs["flag"] is True and loaded.attrs["nothing"] is None
    assert loaded.attrs["raw"] == {"set": "by hand", "list": [1, None, True]}
    assert json.loads(loaded.attrs["params"]) == {"period": 3, "nested": {"a": [1, 2]}}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_scalar_text_coords_and_float_scale_coords(tmp_path, suffix: str) -> None:
    cube = make_cube(
        np.arange(3.0),
        ("scale",),
        {"scale": [0.0, 0.5, 2.0], "prompt_text": "a b c"},
        name="scale_response",
    )
    xr.testing.assert_identical(load_cube(save_cube(cube, tmp_path / f"c{suffix}")), cube)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_saving_twice_replaces_the_file(tmp_path, suffix: str) -> None:
    path = tmp_path / f"c{suffix}"
    save_cube(make_cube(np.zeros((1, 1)), ("layer", "head"), name="a"), path)
    second = make_cube(np.ones((2, 2)), ("layer", "head"), name="b")
    xr.testing.assert_identical(load_cube(save_cube(second, path)), second)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_several_cubes_share_one_file_and_load_back_exactly_by_name(tmp_path, suffix: str) -> None:
    rich = rich_cube()
    plain = make_cube(np.ones((2, 3)), ("layer", "head"), name="sink", attrs={"units": "p"})
    path = save_cube(xr.Dataset({"induction": rich, "sink": plain}), tmp_path / f"s{suffix}")
    assert cube_names(path) == ["induction", "sink"]
    xr.testing.assert_identical(load_cube(path, "induction"), rich)
    xr.testing.assert_identical(load_cube(path, "sink"), plain)
    with pytest.raises(ValueError, match=r"holds the cubes \['induction', 'sink'\]: no name given"):
        load_cube(path)
    with pytest.raises(ValueError, match=r"no cube named 'entropy' of them"):
        load_cube(path, "entropy")


def test_a_single_cube_file_loads_by_its_own_name(tmp_path) -> None:
    cube = make_cube(np.ones((1, 2)), ("layer", "head"), name="sink")
    path = save_cube(cube, tmp_path / "one.nc")
    xr.testing.assert_identical(load_cube(path, "sink"), cube)
    with pytest.raises(ValueError, match=r"holds the cubes \['sink'\]: no cube named 'x'"):
        load_cube(path, "x")


def test_saving_a_dataset_checks_every_cube_in_it(tmp_path) -> None:
    bad = xr.DataArray(np.zeros((1, 1)), dims=("layer", "head"))
    with pytest.raises(ValueError, match="invalid cube: .*missing attrs"):
        save_cube(xr.Dataset({"bad": bad}), tmp_path / "bad.nc")
    with pytest.raises(ValueError, match="the Dataset holds no cubes"):
        save_cube(xr.Dataset(), tmp_path / "empty.nc")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.text(max_size=6), min_size=1, max_size=4))
def test_any_token_text_survives_netcdf(tmp_path, tokens: list[str]) -> None:
    cube = make_cube(
        np.zeros((1, 1, len(tokens))),
        ("layer", "head", "query"),
        {"token": ("query", np.array(tokens, dtype=object).astype(str))},
        name="t",
    )
    xr.testing.assert_identical(load_cube(save_cube(cube, tmp_path / "t.nc")), cube)


def test_check_cube_lists_the_expected_dims_when_they_are_out_of_order() -> None:
    cube = make_cube(np.zeros((2, 3)), ("layer", "head"), name="x").transpose("head", "layer")
    with pytest.raises(ValueError, match=r"out of order; expected \('layer', 'head'\)"):
        check_cube(cube)


def test_check_cube_rejects_unknown_dims_missing_attrs_and_float_positions() -> None:
    bad = xr.DataArray(np.zeros((2, 2)), dims=("layer", "neuron"), name="x")
    with pytest.raises(ValueError, match=r"unknown dims \['neuron'\]"):
        check_cube(bad)
    plain = xr.DataArray(
        np.zeros((1, 1)), dims=("layer", "head"), coords={"layer": [0], "head": [0]}, name="x"
    )
    with pytest.raises(ValueError, match=r"missing attrs \['model'"):
        check_cube(plain)
    cube = make_cube(np.zeros((1, 2)), ("layer", "head"), name="x")
    with pytest.raises(ValueError, match="coord 'head' must be integers"):
        check_cube(cube.assign_coords(head=[0.0, 1.0]))


def test_check_cube_needs_layer_and_head_a_name_and_json_attrs() -> None:
    cube = make_cube(np.zeros((1, 2)), ("layer", "head"), name="x")
    with pytest.raises(ValueError, match=r"missing dims \['layer'\]"):
        check_cube(cube.isel(layer=0, drop=True))
    with pytest.raises(ValueError, match="needs a name"):
        check_cube(cube.rename(None))
    odd = cube.copy()
    odd.attrs["when"] = object()
    with pytest.raises(ValueError, match=r"attrs \['when'\] are not JSON-safe"):
        check_cube(odd)
    with pytest.raises(TypeError, match="xarray.DataArray"):
        check_cube(np.zeros((1, 2)))


def test_as_cube_completes_a_plain_dataarray_and_marks_its_provenance_unknown() -> None:
    plain = xr.DataArray(
        np.arange(6.0).reshape(3, 2),
        dims=("head", "layer"),
        coords={"layer": [0.0, 1.0]},
        attrs={"model": "from-a-csv", "table": np.arange(2), "seed": np.int64(3)},
    )
    with pytest.raises(ValueError, match=r"missing attrs"):
        check_cube(plain.transpose())  # strict where headwidgets writes and saves cubes
    cube = as_cube(plain)
    assert cube.dims == ("layer", "head") and cube.name == "score"
    assert cube["layer"].values.tolist() == [0, 1] and cube["head"].values.tolist() == [0, 1, 2]
    assert cube.attrs["model"] == "from-a-csv"  # what it carries is kept
    assert {cube.attrs[a] for a in ("revision", "dtype", "method", "metric")} == {UNKNOWN}
    assert cube.attrs["intervention"] == "null"  # not known, unlike the empty spec
    assert cube.attrs["table"] == [0, 1] and cube.attrs["seed"] == 3
    assert "model" in plain.attrs and "revision" not in plain.attrs  # the input is unchanged
    check_cube(cube)


def test_as_cube_still_refuses_unknown_dims_and_fractional_positions() -> None:
    with pytest.raises(ValueError, match=r"unknown dims \['neuron'\].*rename"):
        as_cube(xr.DataArray(np.zeros((2, 2)), dims=("layer", "neuron")))
    with pytest.raises(ValueError, match=r"coord 'head' must be integers"):
        as_cube(xr.DataArray(np.zeros((1, 2)), dims=("layer", "head"), coords={"head": [0.5, 1]}))
    with pytest.raises(ValueError, match=r"missing dims \['head'\]"):
        as_cube(xr.DataArray(np.zeros(2), dims=("layer",)))


def test_save_cube_refuses_an_incomplete_cube(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"missing attrs"):
        save_cube(
            xr.DataArray(np.zeros((1, 2)), dims=("layer", "head"), name="s"), tmp_path / "s.nc"
        )


def test_unknown_suffix_and_missing_file_are_clear_errors(tmp_path) -> None:
    cube = make_cube(np.zeros((1, 1)), ("layer", "head"), name="x")
    with pytest.raises(ValueError, match=r"expected '.nc' or '.zarr'"):
        save_cube(cube, tmp_path / "cube.csv")
    with pytest.raises(FileNotFoundError, match="no cube at"):
        load_cube(tmp_path / "absent.nc")


def test_top_heads_ranks_by_value_skips_nan_and_can_rank_by_magnitude() -> None:
    cube = make_cube([[0.1, -0.9, np.nan], [0.5, 0.2, 0.3]], ("layer", "head"), name="s")
    table = top_heads(cube, 2)
    assert list(table.columns) == ["layer", "head", "value"]
    assert table[["layer", "head"]].values.tolist() == [[1, 0], [1, 2]]
    assert top_heads(cube, 1, largest=False).iloc[0].tolist() == [0, 1, -0.9]
    assert top_heads(cube, 1, abs=True).iloc[0].tolist() == [0, 1, -0.9]
    assert len(top_heads(cube, 10)) == 5


def test_top_heads_asks_to_reduce_extra_dims_first() -> None:
    cube = make_cube(np.zeros((1, 2, 3)), ("layer", "head", "prompt"), name="s")
    with pytest.raises(ValueError, match=r"reduce dims \['prompt'\] first"):
        top_heads(cube, 1)


def test_compare_aligns_models_of_different_sizes_on_layer_and_head() -> None:
    a = make_cube([[1.0, 2.0]], ("layer", "head"), name="s", attrs={"model": "small"})
    b = make_cube(
        [[1.5, 2.5, 3.5], [4.0, 5.0, 6.0]], ("layer", "head"), name="s", attrs={"model": "big"}
    )
    both = compare(a, b)
    assert both.dims == ("layer", "head", "model")
    assert both["model"].values.tolist() == ["small", "big"]
    assert np.isnan(both.sel(model="small", layer=1, head=0))
    assert float(both.sel(model="big", layer=0, head=2)) == 3.5
    check_cube(both)


def test_compare_names_checkpoints_of_one_model_by_revision() -> None:
    a = make_cube([[1.0]], ("layer", "head"), name="s", attrs={"model": "m", "revision": "r1"})
    b = make_cube([[2.0]], ("layer", "head"), name="s", attrs={"model": "m", "revision": "r2"})
    assert compare(a, b)["model"].values.tolist() == ["m@r1", "m@r2"]
    with pytest.raises(ValueError, match="two different names"):
        compare(a, b, labels=("x", "x"))


def test_overlap_is_the_jaccard_index_of_head_sets() -> None:
    from headwidgets import Intervention

    assert overlap([(0, 1), (1, 2)], [(1, 2), (1, 3)]) == pytest.approx(1 / 3)
    table = pd.DataFrame({"layer": [0, 1], "head": [1, 2], "value": [0.5, 0.4]})
    assert overlap(table, Intervention.zero([(0, 1), (1, 2)])) == 1.0
    assert overlap([], []) == 1.0
    assert overlap([(0, 0)], []) == 0.0
    with pytest.raises(ValueError, match=r"\(layer, head\) pairs"):
        overlap([(0, 1, 2)], [])
