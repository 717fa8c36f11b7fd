"""Cubes built by hand with xarray (no model) for the figure tests, and the export browser."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from headwidgets.figures import BrowserNotFoundError, find_browser
from tests.figures._helpers import TOKENS, _attrs, _heads


@pytest.fixture(scope="module")
def score() -> xr.DataArray:
    rng = np.random.default_rng(0)
    return _heads(rng.random((12, 12)))


@pytest.fixture(scope="module")
def effect() -> xr.DataArray:
    rng = np.random.default_rng(1)
    spec = json.dumps({"edits": [{"layer": 9, "head": 6, "mode": "scale", "alpha": 0.0}]})
    return _heads(
        rng.normal(size=(12, 12)),
        "ablation_effect",
        method="ablation_effect",
        metric="logit_diff",
        long_name="Δ logit difference",
        units="nats",
        intervention=spec,
    )


@pytest.fixture(scope="module")
def pattern() -> xr.DataArray:
    rng = np.random.default_rng(2)
    n = len(TOKENS)
    weights = np.tril(rng.random((2, 3, n, n)) ** 4)
    weights /= weights.sum(-1, keepdims=True)
    return xr.DataArray(
        weights,
        dims=("layer", "head", "query", "key"),
        coords={
            "layer": np.arange(2),
            "head": np.arange(3),
            "query": np.arange(n),
            "key": np.arange(n),
            "token": ("query", TOKENS),
            "key_token": ("key", TOKENS),
        },
        name="attention",
        attrs=_attrs(method="attention", long_name="attention", units="probability"),
    )


@pytest.fixture(scope="module")
def curves() -> xr.DataArray:
    alphas = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0])
    values = np.stack([[3.0 - k * (alphas - 1) ** 2 for k in (0.3, 1.0)]])
    return xr.DataArray(
        values,
        dims=("layer", "head", "scale"),
        coords={"layer": [1], "head": [2, 3], "scale": alphas},
        name="logit_diff",
        attrs=_attrs(method="scale_response", long_name="logit difference", units="nats"),
    )


@pytest.fixture(scope="module")
def per_token() -> xr.DataArray:
    values = np.linspace(-1.0, 1.5, len(TOKENS))
    return xr.DataArray(
        values,
        dims=("query",),
        coords={"query": np.arange(len(TOKENS)), "token": ("query", TOKENS)},
        name="loss_change",
        attrs=_attrs(method="ablation_effect", long_name="Δ loss", units="nats"),
    )


@pytest.fixture(scope="module")
def browser() -> None:
    try:
        find_browser()
    except BrowserNotFoundError as error:
        pytest.skip(str(error))
