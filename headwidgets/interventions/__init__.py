"""Head interventions: immutable specs, their tensors, and the ONLY code that registers hooks.

Two sites, each with its edits, compiled tensors and run-time code, side by side:

========================  ===========================  ===================================
site                      spec (immutable, JSON)       tensors · run time
========================  ===========================  ===================================
head output z             ``z_edits.py`` (HeadEdit)    ``compile.py`` · ``hooks.py``
inside attention          ``attention_edits.py``       ``attention_edits.py``,
                          (AttentionEdit),             ``vectors.py`` · ``attention.py``
                          ``vectors.py`` (VectorEdit)  (switching), ``attention_call.py``
========================  ===========================  ===================================

``spec.py`` holds the :class:`Intervention` that combines edits of both sites; every edit
checks its (layer, head) pair with the vocabulary's one check (``vocab.check_pair``).
``hooks.py`` registers every hook; each site checks
that it ran during a forward under an edit (a count check), else the forward raises. A new
site slots in the same way: its edit spec, its compiled tensors, and its hooks in
``hooks.py`` with the same check.

Positions under an edit count from each row's first real token: the KV-cache offset and
each row's left padding (from the call's ``attention_mask``) are followed at both sites.

Example
-------
>>> spec = Intervention.scale({(0, 1): 0.0, (1, 3): 2.0})
>>> spec.heads == frozenset({(0, 1), (1, 3)})
True
"""

from __future__ import annotations

from headwidgets.interventions.attention import (
    NAME,
    SUPPORTED_MODEL_TYPES,
    AttentionSiteError,
    Compiled,
    check_dispatch,
    eager_kernel,
    switched,
)
from headwidgets.interventions.attention_call import Read
from headwidgets.interventions.attention_edits import (
    MIX_TARGETS,
    PATTERN_KINDS,
    AttentionEdit,
    LayerPatternEdit,
    MixTarget,
    PatternKind,
    compile_patterns,
)
from headwidgets.interventions.compile import LayerEdit, ZSource, compile_specs
from headwidgets.interventions.hooks import (
    Offset,
    apply_edits,
    apply_placed_edits,
    capture_inputs,
    grow_batch,
    pattern_hooks,
    position_offsets,
    site_hooks,
    track_ids,
    z_perturbations,
)
from headwidgets.interventions.spec import Head, Intervention, check_spec
from headwidgets.interventions.vectors import (
    TARGETS,
    Target,
    TargetEdit,
    VectorEdit,
    compile_vectors,
)
from headwidgets.interventions.z_edits import EDIT_MODES, EditMode, HeadEdit
from headwidgets.vocab import check_pair

__all__ = [
    "EDIT_MODES",
    "MIX_TARGETS",
    "NAME",
    "PATTERN_KINDS",
    "SUPPORTED_MODEL_TYPES",
    "TARGETS",
    "AttentionEdit",
    "AttentionSiteError",
    "Compiled",
    "EditMode",
    "Head",
    "HeadEdit",
    "Intervention",
    "LayerEdit",
    "LayerPatternEdit",
    "MixTarget",
    "Offset",
    "PatternKind",
    "Read",
    "Target",
    "TargetEdit",
    "VectorEdit",
    "ZSource",
    "apply_edits",
    "apply_placed_edits",
    "capture_inputs",
    "check_dispatch",
    "check_pair",
    "check_spec",
    "compile_patterns",
    "compile_specs",
    "compile_vectors",
    "eager_kernel",
    "grow_batch",
    "pattern_hooks",
    "position_offsets",
    "site_hooks",
    "switched",
    "track_ids",
    "z_perturbations",
]
