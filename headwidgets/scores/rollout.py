"""Attention rollout (Abnar & Zuidema 2020), recomputed under an intervention.

``R = Â_{L−1} ··· Â_1 Â_0`` with ``Â_l = ½·mean_h A_l + ½·I`` (rows sum to 1), from the first
layer up (METHODS.md, "Circuits"): R[q, k] is how much of position q's final representation
flows from input token k when attention (plus the residual stream) is the only mixing.

Under an intervention A_l is the pattern of the edited run: pattern edits (temperature, sink,
mix, ...) act on it directly, and head-output edits change the patterns of later layers. A
head whose output is ablated still enters the mean with its (unedited) pattern.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> r = hw.scores.attention_rollout(hm, "lot dom buv ki kib lot dom buv ki")
>>> r.dims, bool(abs(float(r.sum("key")[-1]) - 1) < 1e-5)
(('query', 'key'), True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets.scores import _run

if TYPE_CHECKING:
    import xarray as xr

    from headwidgets.interventions import Intervention

__all__ = ["attention_rollout"]


def attention_rollout(
    hm: Any, prompt: str, intervention: Intervention | None = None
) -> xr.DataArray:
    """The attention rollout of ``prompt``, as a (query, key) cube.

    Parameters
    ----------
    hm
        The bound model.
    prompt
        One prompt (text).
    intervention
        Compute it under this spec (also: call inside ``with hm.intervene(spec):``; either
        way the cube's ``intervention`` attr records the spec).

    Returns
    -------
    xarray.DataArray
        Dims (query, key), rows summing to 1; ``token`` along query, ``key_token`` along key.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> spec = hw.Intervention.mix({(0, 1): 1.0}, toward="uniform")
    >>> attention_rollout(hm, "lot dom buv ki kib", intervention=spec).sizes["key"]
    6
    """
    import torch

    from headwidgets.cubes import make_cube

    if not isinstance(prompt, str):
        raise TypeError(f"attention_rollout takes one prompt as text, got {type(prompt).__name__}")
    result = hm.run(prompt, intervention=intervention, patterns=True)
    assert result.patterns is not None
    patterns = result.patterns[0].double()  # (L, H, T, T)
    n_pos = patterns.shape[-1]
    eye = torch.eye(n_pos, dtype=torch.float64)
    rollout = eye
    for layer in range(patterns.shape[0]):
        step = 0.5 * patterns[layer].mean(dim=0) + 0.5 * eye
        step = step / step.sum(dim=-1, keepdim=True)
        rollout = step @ rollout
    tokens = np.asarray(result.tokens[0], dtype=str)
    own = _run.NO_INTERVENTION
    if intervention is not None and len(intervention):
        own = intervention.to_json()
    attrs = _run.score_attrs(
        hm,
        "attention rollout: R = prod over layers (first up) of (mean_h A_l + I)/2, rows "
        "normalised; A_l the pattern of the (edited) run",
        "attention rollout",
        "fraction",
        intervention=own,
        prompts=prompt,
    )
    coords: dict[str, Any] = {
        "query": np.arange(n_pos),
        "key": np.arange(n_pos),
        "token": ("query", tokens),
        "key_token": ("key", tokens),
        "prompt_text": prompt,
    }
    values = rollout.float().numpy()
    return make_cube(values, ("query", "key"), coords, "attention_rollout", attrs)
