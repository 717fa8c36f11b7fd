"""Circuit scores: path patching between heads (METHODS.md, "Circuits").

Path patching measures how much of a corruption's effect travels along ONE path: from a
sender head s to a receiver head r's query, key or value input, or from s straight to the
logits.

- **s → r, input x ∈ {q, k, v}.** Pass 1 runs the clean prompt with s's output z replaced by
  its value on the corrupted prompt and every other head's output frozen at its clean-run
  value (the MLPs recompute); it records r's x as the attention function receives it (q after
  rotary embeddings). Pass 2 runs the clean prompt with only r's x replaced by the recorded
  one. Effect = metric(pass 2) − metric(clean). Replacing r's x by its pass-1 value is the
  same as replacing the residual stream entering r's x projection (x is a function of that
  residual only), and it leaves r's other inputs and every other head's inputs clean.
- **s → logits (the direct path).** s's change Δz_s·W_O^s is added to the clean final
  residual and propagated through the final norm with its scale frozen at the clean run and
  the unembedding only; nothing else recomputes.

Keys and values on grouped-query (GQA/MQA) models: a key/value head is shared by a group of
query heads, and the receiver's k or v IS that key/value head's k or v. Patching it
changes the keys (values) of every query head of the group, so the receivers of one group
get the same k and v effects; the cube's ``receiver_kv_head`` coord names the key/value head.

All senders for one receiver input run as ONE batched forward (a row per sender), and pass 1
runs once for all receivers. Senders in the receiver's layer or above have no path to it:
their cells are NaN.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> clean, corrupt = "ba be bi bo ba be bi", "ba be bi bo bu be bi"
>>> m = hw.Metric("logit_diff", target=" bo", distractor=" ba")
>>> cube = hw.scores.path_patching(hm, clean, corrupt, m, receivers=[(1, 0)], inputs=("k",))
>>> cube.dims, cube["receiver"].values.tolist(), cube["input"].values.tolist()
(('layer', 'head', 'receiver', 'input'), ['1.0'], ['k'])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets import interventions as iv
from headwidgets.interventions import TargetEdit
from headwidgets.scores import _run
from headwidgets.scores._run import Reduce
from headwidgets.scores.paths import (
    DIRECT,
    INPUTS,
    Head,
    Input,
    _inputs,
    path_intervention,
    sender_inputs,
)

if TYPE_CHECKING:
    import torch
    import xarray as xr

    from headwidgets.metrics import Metric

__all__ = ["DIRECT", "INPUTS", "Input", "path_intervention", "path_patching"]


def _metric(metric: Any) -> Metric:
    from headwidgets.metrics import as_metric

    return as_metric(metric)


def path_patching(
    hm: Any,
    clean: str | Sequence[str],
    corrupt: str | Sequence[str],
    metric: Any,
    receivers: Iterable[Head] | None = None,
    inputs: Sequence[Input] | Input = ("q", "k", "v"),
    senders: Iterable[Head] | None = None,
    normalize: bool = False,
    *,
    reduce: Reduce | None = None,
    progress: bool | None = None,
) -> xr.DataArray:
    """The effect of each sender head's corrupted output along one path (see module doc).

    Parameters
    ----------
    hm
        The bound model.
    clean, corrupt
        A prompt pair of equal token length, or two lists of them (adds a ``prompt`` dim).
    metric
        A :class:`~headwidgets.metrics.Metric` (or a kind name), or one per prompt.
    receivers
        ``None``: the direct path sender → logits of every sender. Else (layer, head) query
        heads whose ``inputs`` receive each sender's corrupted output.
    inputs
        Which receiver inputs: any of ``"q"``, ``"k"``, ``"v"`` (ignored for the direct
        path). ``k`` and ``v`` act on the receiver's key/value head (a whole GQA group).
    senders
        The sender heads (default all); the others are NaN.
    normalize
        Divide by ``metric(corrupt) − metric(clean)`` (1 = the path carries the whole
        corruption effect).
    reduce, progress
        Reduce over prompts (``"mean"``/``"median"``); tqdm bar over prompts.

    Returns
    -------
    xarray.DataArray
        Dims (layer, head, receiver, input): sender layer and head, receiver labels
        ``"L.H"`` (``"logits"`` for the direct path, with input ``"logits"``), with coords
        ``receiver_layer``, ``receiver_head``, ``receiver_kv_head`` (−1 for the logits).
        Values are metric(patched) − metric(clean), NaN where the sender has no path.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> m = hw.Metric("logit_diff", target=" bo", distractor=" ba")
    >>> direct = path_patching(hm, "ba be bi bo ba be bi", "ba be bi bo bu be bi", m)
    >>> direct.sizes["receiver"], str(direct["receiver"].values[0])
    (1, 'logits')
    """
    hm.require_lm_head("path_patching")
    from headwidgets.cubes import make_cube

    cleans, single = _run.as_prompt_list(clean)
    corrupts, _ = _run.as_prompt_list(corrupt)
    if len(cleans) != len(corrupts):
        raise ValueError(f"{len(cleans)} clean prompts but {len(corrupts)} corrupted prompts")
    if not all(isinstance(p, str) for p in [*cleans, *corrupts]):
        raise TypeError("path_patching takes prompts as text (the engine tokenizes them)")
    metrics = [_metric(m) for m in _run.per_prompt(metric, len(cleans), "metric")]
    chosen_senders = _run.head_list(hm, senders)
    chosen_receivers = None if receivers is None else _run.head_list(hm, receivers)
    chosen_inputs = (DIRECT,) if chosen_receivers is None else _inputs(inputs)
    group = int(hm.n_heads) // int(hm.n_kv_heads)
    if chosen_receivers is None:
        labels, r_layer, r_head, r_kv = [DIRECT], [-1], [-1], [-1]
    else:
        labels = [f"{layer}.{head}" for layer, head in chosen_receivers]
        r_layer = [layer for layer, _ in chosen_receivers]
        r_head = [head for _, head in chosen_receivers]
        r_kv = [head // group for head in r_head]
    cubes = []
    pairs = list(zip(cleans, corrupts, metrics, strict=True))
    for good, bad, m in _run.progress_bar(pairs, progress, "path patching"):
        assert isinstance(good, str) and isinstance(bad, str)
        run = _Pair(hm, good, bad, m)
        if chosen_receivers is None:
            effect = run.direct(chosen_senders)[:, None, None]  # (S, 1, 1)
        else:
            effect = run.through(chosen_senders, chosen_receivers, chosen_inputs)
        if normalize:
            effect = effect / _gap(run.m_clean, run.m_corrupt)
        attrs = _run.score_attrs(
            hm,
            "path patching: pass 1 clean run with the sender's z from the corrupted run and "
            "every other head's z frozen at the clean run (MLPs recompute); pass 2 clean run "
            "with the receiver's input from pass 1; (m_pass2 - m_clean)"
            + ("/(m_corrupt - m_clean)" if normalize else "")
            + (
                "; direct path: the sender's change through the final norm (scale frozen at "
                "the clean run) and the unembedding only"
                if chosen_receivers is None
                else ""
            ),
            f"{'fraction of the corruption effect on ' if normalize else 'change in '}"
            f"{m.describe()} along the path",
            "fraction" if normalize else m.units,
            metric=m.describe(),
            prompts=clean,
            extra={
                "metric_clean": run.m_clean,
                "metric_corrupt": run.m_corrupt,
                "clean": good,
                "corrupt": bad,
                "kv_inputs": "k and v patch the receiver's key/value head (its whole GQA group)",
            },
            senders=[list(h) for h in chosen_senders],
            receivers=None if chosen_receivers is None else [list(h) for h in chosen_receivers],
            inputs=list(chosen_inputs),
            normalize=normalize,
        )
        coords: dict[str, Any] = {
            "receiver": np.asarray(labels, dtype=str),
            "input": np.asarray(chosen_inputs, dtype=str),
            "receiver_layer": ("receiver", np.asarray(r_layer)),
            "receiver_head": ("receiver", np.asarray(r_head)),
            "receiver_kv_head": ("receiver", np.asarray(r_kv)),
            "prompt_text": good,
        }
        grid = _run.head_grid(hm, chosen_senders, effect)
        dims = ("layer", "head", "receiver", "input")
        cubes.append(make_cube(grid, dims, coords, "path_patching", attrs))
    if single:
        return cubes[0]
    return _run.stack_prompts(cubes, [str(c) for c in cleans], reduce)


def _gap(m_clean: float, m_corrupt: float) -> float:
    gap = m_corrupt - m_clean
    if abs(gap) < 1e-6:
        raise ValueError(
            f"the clean and corrupted prompts give the same metric ({m_clean:.4g}); the "
            "normalized path effect is undefined. Choose a corruption that changes the metric, "
            "or pass normalize=False"
        )
    return gap


class _Pair:
    """One clean/corrupted prompt pair: its clean run and both kinds of path."""

    def __init__(self, hm: Any, good: str, bad: str, m: Metric) -> None:
        import torch

        self.hm, self.good, self.bad, self.m = hm, good, bad, m
        self.tok = hm.tokenize(good)
        n_pos = len(self.tok)
        if len(hm.tokenize(bad)) != n_pos:
            raise ValueError(
                f"clean and corrupted prompts must have the same number of tokens "
                f"({n_pos} vs {len(hm.tokenize(bad))}): {good!r} / {bad!r}"
            )
        self.n_pos = n_pos
        self.keep = m.logits_to_keep(n_pos)
        norm = hm.final_norm
        resid: dict[int, torch.Tensor] = {}

        def keep_final(index: int, hidden: torch.Tensor) -> None:
            resid[index] = hidden.detach()

        modules = [norm] if norm is not None else []
        with torch.no_grad():
            with iv.capture_inputs(modules, keep_final):
                self.logits = hm.forward(self.tok.input_ids, self.keep).float()
            bad_logits = hm.forward(hm.tokenize(bad).input_ids, self.keep).float()
        self.final = resid.get(0)
        self.m_clean = float(m.compute(hm, self.logits, self.tok.input_ids, self.logits)[0])
        self.m_corrupt = float(m.compute(hm, bad_logits, self.tok.input_ids, self.logits)[0])

    def _values(self, logits: torch.Tensor) -> torch.Tensor:
        """metric(rows) − metric(clean), (N,) float32 on the CPU."""
        value = self.m.compute(self.hm, logits, self.tok.input_ids, self.logits)
        return (value.float().cpu() - self.m_clean).float()

    # -- sender -> logits ----------------------------------------------------------------
    def direct(self, senders: Sequence[Head]) -> np.ndarray:
        """(S,) effects of the direct paths sender → logits."""
        import torch

        from headwidgets.scores.direct import _norm_map

        hm = self.hm
        if getattr(hm.model.config, "final_logit_softcapping", None):
            raise ValueError("the direct path is linear in the logits; soft-capping is unsupported")
        if self.final is None:
            raise ValueError(
                f"the direct path needs a final norm module; {type(hm.model).__name__} has none"
            )
        device = self.logits.device
        x = self.final[0, -self.keep :].float().to(device)  # (keep, d_model)
        gamma, _, center, eps = _norm_map(hm)
        gamma = gamma.to(device)
        if center:
            scale = torch.sqrt(x.var(dim=-1, unbiased=False) + eps)
        else:
            scale = torch.sqrt(x.pow(2).mean(dim=-1) + eps)
        w_u = hm.unembed().detach().float().to(device)
        z_clean, z_bad = hm.head_z(self.good), hm.head_z(self.bad)
        dim = int(hm.head_dim)
        out = np.zeros(len(senders), dtype=np.float32)
        step = max(1, 2**26 // max(1, self.keep * int(hm.vocab_size)))
        for start in range(0, len(senders), step):
            part = senders[start : start + step]
            deltas = []
            for layer, head in part:
                w_o = hm.out_proj_weight(layer).detach().float().to(device)
                dz = (z_bad[layer, :, head] - z_clean[layer, :, head])[-self.keep :].to(device)
                deltas.append(dz @ w_o[:, head * dim : (head + 1) * dim].T)
            delta = torch.stack(deltas)  # (n, keep, d_model)
            if center:
                delta = delta - delta.mean(dim=-1, keepdim=True)
            delta = delta / scale[None, :, None] * gamma
            logits = self.logits + delta @ w_u.T
            out[start : start + len(part)] = self._values(logits).numpy()
        return out

    # -- sender -> receiver inputs -------------------------------------------------------
    def through(
        self, senders: Sequence[Head], receivers: Sequence[Head], inputs: Sequence[str]
    ) -> np.ndarray:
        """(S, R, I) effects of the paths sender → receiver input (NaN: no path)."""
        hm = self.hm
        group = int(hm.n_heads) // int(hm.n_kv_heads)
        sites = sorted(
            {
                (layer, x, head if x == "q" else head // group)
                for layer, head in receivers
                for x in inputs
            }
        )
        top = max(layer for layer, _, _ in sites)
        active = [i for i, (layer, _) in enumerate(senders) if layer < top]
        recorded = self._pass_one([senders[i] for i in active], sites)
        effects: dict[tuple[int, str, int], np.ndarray] = {}
        for site in sites:
            layer = site[0]
            rows = [j for j, i in enumerate(active) if senders[i][0] < layer]
            values = np.full(len(senders), np.nan, dtype=np.float32)
            if rows:
                got = self._pass_two(site, recorded[site][rows])
                values[[active[j] for j in rows]] = got
            effects[site] = values
        out = np.full((len(senders), len(receivers), len(inputs)), np.nan, dtype=np.float32)
        for r, (layer, head) in enumerate(receivers):
            for i, x in enumerate(inputs):
                out[:, r, i] = effects[(layer, x, head if x == "q" else head // group)]
        return out

    def _rows(self) -> int:
        return int(self.hm.chunk_rows(self.n_pos, self.keep))

    def _pass_one(
        self, senders: Sequence[Head], sites: Sequence[tuple[int, str, int]]
    ) -> dict[tuple[int, str, int], torch.Tensor]:
        """Per site, the receiver input (S, T, D) of every sender's pass 1 (one batched run)."""
        return sender_inputs(self.hm, self.good, self.bad, senders, sites, self._rows())

    def _pass_two(self, site: tuple[int, str, int], values: torch.Tensor) -> np.ndarray:
        """Effects of the clean run with the site's input replaced by each row of ``values``."""
        import torch

        hm = self.hm
        layer, x, index = site
        width = int(hm.n_heads) if x == "q" else int(hm.n_kv_heads)
        n_rows, n_pos, dim = values.shape
        device = values.device  # built where pass 1 left them (the layer's device)
        code = torch.zeros(n_rows, width, dtype=torch.long, device=device)
        code[:, index] = 3
        patch = torch.zeros(n_rows, width, n_pos, dim, device=device)
        patch[:, index] = values
        edit = TargetEdit(
            code,
            torch.zeros(n_rows, width, dim, device=device),
            torch.ones(n_rows, width, 1, dtype=torch.bool, device=device),
            torch.ones(n_rows, width, dtype=torch.bool, device=device),
            patch,
        )
        out = []
        size = self._rows()
        blocks = hm.model.get_submodule(hm.layout.blocks_path)
        with torch.no_grad():
            for start in range(0, n_rows, size):
                rows = torch.arange(start, min(start + size, n_rows))
                compiled = iv.Compiled({}, {layer: {x: edit.select(rows)}})
                # the layers below the receiver are the clean run's for every row: run them
                # once, and let the batch grow to one row per sender at the receiver's layer
                joins = {layer: len(rows) - 1}
                with iv.grow_batch(blocks, joins), hm.attention_site(compiled):
                    logits = hm.forward(self.tok.input_ids, self.keep).float()
                out.append(self._values(logits))
        return torch.cat(out).numpy()
