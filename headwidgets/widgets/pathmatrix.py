"""PathMatrix: path patching as a sender × receiver matrix; a click patches that path live."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets
import xarray as xr

from headwidgets.interventions import Intervention
from headwidgets.metrics import as_metric
from headwidgets.scores.circuits import path_patching
from headwidgets.scores.paths import DIRECT, INPUTS, path_intervention
from headwidgets.vocab import check_head
from headwidgets.widgets._base import LiveWidget
from headwidgets.widgets._common import css, esm, finite_or_none, float32_buffer
from headwidgets.widgets.live import LiveRun

if TYPE_CHECKING:
    from headwidgets.metrics import Metric
    from headwidgets.model import HeadModel

ORDER = (*INPUTS, DIRECT)
"""The receiver inputs in display order: q, k, v, then the direct path (``"logits"``)."""


class PathMatrix(LiveWidget):
    """Path-patching effects as a sender × receiver matrix for one receiver input; clicking a
    cell patches THAT path on the clean prompt and measures the metric live.

    Rows are sender heads ``"L.H"``, columns the receivers of the chosen :attr:`input`
    (``"q"``, ``"k"``, ``"v"``; ``"logits"`` is the direct path sender → logits, one column).
    A click (or setting :attr:`path`) builds the path's intervention
    (:func:`headwidgets.scores.path_intervention`): the receiver's q, k or v set to its value
    when only the sender's output comes from the corrupted run; the direct path runs the
    sender's corrupted output with every later head frozen at the clean run. The model then
    runs the clean prompt under it; :attr:`intervention` holds it (an Explorer shows its
    outputs) and :attr:`status` the metric change next to the cube's cell. Clicking the same
    cell again clears it. For q, k and v the live change equals the cell; the cube's direct
    cell freezes the final norm's scale and skips the MLPs, the live run does not (the two
    are shown side by side).

    Parameters
    ----------
    hm
        A bound model with an LM head.
    clean, corrupt
        The prompt pair (equal token length); the live runs use ``clean``.
    metric
        A :class:`~headwidgets.metrics.Metric` (or a kind name) for the cube and the live
        change.
    paths
        A cube of :func:`headwidgets.scores.path_patching` on this prompt pair, or a list of
        them (e.g. the direct path and the receivers' q/k/v). None: computed, the direct path
        and every head of ``receivers`` with q, k and v.
    receivers
        With ``paths=None``: the receiver heads (default every head of layers ≥ 1).
    input
        The input shown first (default ``"k"`` when present).
    path
        A path patched at the start: ``(sender, receiver, input)``.
    live
        Cached runs of ``clean`` to share (an Explorer's).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")                                        # doctest: +SKIP
    >>> m = hw.Metric("logit_diff", target=" bo", distractor=" ba")
    >>> pm = hw.PathMatrix(hm, "ba be bi bo ba be bi", "ba be bi bo bu be bi", m,
    ...                    receivers=[(1, 0), (1, 1)])                      # doctest: +SKIP
    >>> pm.path = {"sender": [0, 1], "receiver": "1.0", "input": "k"}       # doctest: +SKIP
    >>> pm.status["live"], pm.status["cube"]                                # doctest: +SKIP
    (-0.31, -0.31)
    """

    _esm = esm("pathmatrix.js")
    _css = css()

    input = traitlets.Unicode(help="The receiver input shown: 'q', 'k', 'v' or 'logits'.").tag(
        sync=True
    )
    inputs = traitlets.List(
        traitlets.Unicode(), help="The inputs the cubes hold, in display order (read-only)."
    ).tag(sync=True)
    path = traitlets.Dict(
        help="The patched path {'sender': [layer, head], 'receiver': 'L.H' or 'logits', "
        "'input': 'q'|'k'|'v'|'logits'}; {} = none."
    ).tag(sync=True)
    intervention = traitlets.Instance(
        Intervention, help="The patched path's intervention (empty: none). Not synced."
    )
    status = traitlets.Dict(
        help="{'path', 'cube', 'live', 'baseline', 'ms'} of the patched path: the cube's cell, "
        "the live metric change and the clean metric (read-only)."
    ).tag(sync=True)
    title = traitlets.Unicode("", help="Title above the matrix (str).").tag(sync=True)
    units = traitlets.Unicode("", help="Units of the values (str).").tag(sync=True)
    error = traitlets.Unicode("", help="The last error ('' = none).").tag(sync=True)
    _values = traitlets.Bytes(help="float32 (sender, receiver) values of `input`.").tag(sync=True)
    _shape = traitlets.List(traitlets.Int(), help="[n_senders, n_receivers].").tag(sync=True)
    _senders = traitlets.List(
        traitlets.List(traitlets.Int()), help="[layer, head] of each row."
    ).tag(sync=True)
    _receivers = traitlets.List(traitlets.Unicode(), help="Label of each column.").tag(sync=True)

    def __init__(
        self,
        hm: HeadModel,
        clean: str,
        corrupt: str,
        metric: Any,
        paths: Any = None,
        *,
        receivers: Sequence[Any] | None = None,
        input: str | None = None,
        path: Any = None,
        live: LiveRun | None = None,
    ) -> None:

        hm.require_lm_head("the PathMatrix (path patching)")
        self.hm, self.clean, self.corrupt = hm, clean, corrupt
        self.metric: Metric = as_metric(metric)
        if live is not None and live.prompt != clean:
            raise ValueError(f"live runs {live.prompt!r}, not the clean prompt {clean!r}")
        self._live = live if live is not None else LiveRun(hm, clean, n_generate=0)
        self._specs: dict[str, Intervention] = {}
        if paths is None:
            paths = compute_paths(hm, clean, corrupt, self.metric, receivers)
        elif receivers is not None:
            raise ValueError("receivers= chooses what to compute; it does not go with paths=")
        self._matrices = _matrices(paths, clean, corrupt, self.metric.describe())
        first = next(iter(self._matrices.values()))[2]
        super().__init__(
            inputs=list(self._matrices),
            title=f"path patching: {first.attrs.get('long_name') or first.name or 'effect'}",
            units=str(first.attrs.get("units") or ""),
            intervention=Intervention(),
        )
        self.input = (
            input if input is not None else ("k" if "k" in self._matrices else self.inputs[0])
        )
        if path is not None:
            sender, receiver, chosen = path
            self.path = {"sender": list(sender), "receiver": _label(receiver), "input": chosen}
        self._serve("request", "response", self._click, self._answer)

    # -- state ---------------------------------------------------------------------------
    @traitlets.validate("input")
    def _check_input(self, proposal: Any) -> str:
        value = proposal["value"]
        if value not in self._matrices:
            raise ValueError(f"unknown input {value!r}; this matrix holds {list(self._matrices)}")
        return str(value)

    @traitlets.observe("input")
    def _send_matrix(self, change: Any) -> None:
        senders, receivers, values = self._matrices[change["new"]]
        data, shape = float32_buffer(values.values)
        with self.hold_sync():
            self._senders = [list(s) for s in senders]
            self._receivers = list(receivers)
            self._shape = shape
            self._values = data

    @traitlets.validate("path")
    def _check_path(self, proposal: Any) -> dict[str, Any]:
        value = dict(proposal["value"] or {})
        if not value:
            return {}
        if set(value) != {"sender", "receiver", "input"}:
            raise ValueError(
                "a path is {'sender': [layer, head], 'receiver': 'L.H' or 'logits', "
                f"'input': 'q'|'k'|'v'|'logits'}}, got {value!r}"
            )
        chosen = value["input"]
        if chosen not in self._matrices:
            raise ValueError(f"unknown input {chosen!r}; this matrix holds {list(self._matrices)}")
        receivers = self._matrices[chosen][1]
        layer, head = check_head(value["sender"], self.hm.n_layers, self.hm.n_heads)
        sender = [layer, head]
        receiver = _label(value["receiver"])
        if receiver not in receivers:
            raise ValueError(f"unknown receiver {receiver!r} for input {chosen!r}: {receivers}")
        if not np.isfinite(self._cell(chosen, sender, receiver)):
            raise ValueError(
                f"no path from {sender[0]}.{sender[1]} to {receiver} (NaN in the cube: a "
                "sender must sit in an earlier layer than its receiver)"
            )
        return {"sender": sender, "receiver": receiver, "input": chosen}

    @traitlets.observe("path")
    def _path_changed(self, change: Any) -> None:
        path = change["new"]
        if not path:
            with self.hold_sync():
                self.status, self.error = {}, ""
            self.intervention = Intervention()
            return
        start = time.perf_counter()
        spec = self.spec(path)
        baseline, live = self._measure(spec)
        cell = self._cell(path["input"], path["sender"], path["receiver"])
        _, receivers, values = self._matrices[path["input"]]
        # a normalised cube: the live change divided the same way (m_corrupt − m_clean)
        scale = float(values["path_scale"].values[receivers.index(path["receiver"])])
        with self.hold_sync():
            self.error = ""
            if self.input != path["input"]:
                self.input = path["input"]
            self.status = {
                "path": path_name(path),
                "cube": finite_or_none(cell),
                "live": finite_or_none((live - baseline) / scale),
                "baseline": finite_or_none(baseline),
                "metric": self.metric.describe(),
                "ms": (time.perf_counter() - start) * 1000,
            }
        self.intervention = spec

    def _cell(self, chosen: str, sender: Sequence[int], receiver: str) -> float:
        """The cube's value of one path (NaN: no path)."""
        senders, receivers, values = self._matrices[chosen]
        row = senders.index((int(sender[0]), int(sender[1])))
        return float(values.values.item(row, receivers.index(receiver)))

    def spec(self, path: dict[str, Any]) -> Intervention:
        """The intervention of ``path`` (cached per path)."""
        key = path_name(path)
        hit = self._specs.get(key)
        if hit is None:
            receiver = path["receiver"]
            target: Any = DIRECT if receiver == DIRECT else tuple(map(int, receiver.split(".")))
            hit = path_intervention(
                self.hm, self.clean, self.corrupt, tuple(path["sender"]), target, path["input"]
            )
            self._specs[key] = hit
        return hit

    def _measure(self, spec: Intervention) -> tuple[float, float]:
        """The metric of the clean run and under ``spec`` (the LiveRun's cached forwards)."""
        base = self._live.outputs(None).logits
        cur = self._live.outputs(spec).logits
        ids = self._live.input_ids
        value = self.metric.compute(self.hm, cur[None], ids, base[None])
        return float(self.metric.compute(self.hm, base[None], ids, base[None])[0]), float(value[0])

    # -- the browser's requests ----------------------------------------------------------
    def _click(self, content: dict[str, Any]) -> None:
        """A click: patch the path it names (or none)."""
        self.path = content.get("path") or {}

    def _answer(self, fields: dict[str, Any], error: str) -> dict[str, Any]:
        """Record the outcome (``error``) and answer with the path now patched."""
        self.error = error
        return {**fields, "path": self.path}


def compute_paths(
    hm: HeadModel,
    clean: str,
    corrupt: str,
    metric: Any,
    receivers: Sequence[Any] | None = None,
) -> list[xr.DataArray]:
    """The cubes a PathMatrix shows by default: the direct path of every sender, and every
    sender into q, k and v of ``receivers`` (default: every head of layers ≥ 1)."""
    if receivers is None:
        receivers = [(layer, h) for layer in range(1, hm.n_layers) for h in range(hm.n_heads)]
    cubes = [path_patching(hm, clean, corrupt, metric)]
    if receivers:
        cubes.append(path_patching(hm, clean, corrupt, metric, receivers=receivers))
    return cubes


def path_name(path: dict[str, Any]) -> str:
    """``"0.1 → k of 1.0"`` or ``"0.1 → logits"``."""
    layer, head = path["sender"]
    if path["receiver"] == DIRECT:
        return f"{layer}.{head} → logits"
    return f"{layer}.{head} → {path['input']} of {path['receiver']}"


def _label(receiver: Any) -> str:
    if isinstance(receiver, str):
        return receiver
    layer, head = receiver
    return f"{int(layer)}.{int(head)}"


Matrix = tuple[list[tuple[int, int]], list[str], xr.DataArray]


def _matrices(paths: Any, clean: str, corrupt: str, metric: str) -> dict[str, Matrix]:
    """Per input (display order): senders, receiver labels and the (sender, receiver) values
    (coord ``path_scale``: per receiver, what its cube divided by, 1 when not normalised)."""
    cubes = [paths] if isinstance(paths, xr.DataArray) else list(paths)
    if not cubes or not all(isinstance(c, xr.DataArray) for c in cubes):
        raise TypeError("paths must be a cube of hw.scores.path_patching or a list of them")
    parts: dict[str, list[xr.DataArray]] = {}
    for cube in cubes:
        dims = tuple(str(d) for d in cube.dims)
        if set(dims) != {"layer", "head", "receiver", "input"}:
            raise ValueError(
                "a PathMatrix shows cubes of hw.scores.path_patching on ONE prompt pair: "
                f"expected dims ('layer', 'head', 'receiver', 'input'), found {dims}"
            )
        for key, prompt in (("clean", clean), ("corrupt", corrupt)):
            if key in cube.attrs and cube.attrs[key] != prompt:
                raise ValueError(
                    f"the cube was computed on the {key} prompt {cube.attrs[key]!r}, not {prompt!r}"
                )
        if cube.attrs.get("metric", metric) != metric:
            raise ValueError(
                f"the cube measures {cube.attrs['metric']}, the live runs {metric}: pass the "
                "cube's metric"
            )
        if Intervention.from_json(cube.attrs.get("intervention") or "{}"):
            raise ValueError(
                "the cube was computed under an intervention; a live path is patched on the "
                "unedited model: compute the cube without one"
            )
        scale = 1.0
        if json.loads(cube.attrs.get("params") or "{}").get("normalize"):
            scale = float(cube.attrs["metric_corrupt"]) - float(cube.attrs["metric_clean"])
        for x in cube["input"].values:
            part = cube.sel(input=x, drop=True)
            scales = np.full(part.sizes["receiver"], scale)
            parts.setdefault(str(x), []).append(part.assign_coords(path_scale=("receiver", scales)))
    out: dict[str, Matrix] = {}
    for x in [x for x in ORDER if x in parts] + [x for x in parts if x not in ORDER]:
        if x not in ORDER:
            raise ValueError(f"unknown input {x!r} in the cube; inputs are {ORDER}")
        joined = xr.concat(parts[x], dim="receiver") if len(parts[x]) > 1 else parts[x][0]
        joined = joined.isel(receiver=~joined.get_index("receiver").duplicated())
        stacked = joined.transpose("layer", "head", "receiver").stack(sender=("layer", "head"))
        stacked = stacked.transpose("sender", "receiver")
        senders = [(int(layer), int(head)) for layer, head in stacked["sender"].values]
        receivers = [str(r) for r in stacked["receiver"].values]
        out[x] = (senders, receivers, stacked.astype("float32"))
    return out
