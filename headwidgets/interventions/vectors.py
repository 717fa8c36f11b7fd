"""Query, key and value edits at the inside-attention site (spec and compiled tensors).

A :class:`VectorEdit` changes one head's q (a query head) or k / v (a key/value head: for
GQA models it acts on the whole group of query heads sharing it) before attention runs:

- ``add``: x + α·d (d: a direction of the head's width, e.g. a steering direction)
- ``project``: x − (x·d̂)d̂ (d̂ = d/|d|): the component along d removed
- ``patch``: x replaced by its value in a clean run of another prompt (``source``), or by
  given ``values`` (one row of the head's width per position 0..T-1; path patching uses them)

q is read after rotary embeddings, k and v as the attention function receives them (for
OPT, whose scaling is folded into q, q is the scaled query). Positions are absolute query
positions for q and key positions for k and v. The edits run inside headwidgets' attention
function (``attention.py``), so they follow a KV cache: cached keys are edited again at
every step, as an uncached run edits them.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> d = [1.0] + [0.0] * (hm.head_dim - 1)
>>> spec = hw.Intervention.qkv_project("k", [(1, 0)], d)   # remove k's first coordinate
>>> hw.Intervention.from_json(spec.to_json()) == spec
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from headwidgets.vocab import check_pair

if TYPE_CHECKING:
    import torch

Target = Literal["q", "k", "v"]
TARGETS: tuple[str, ...] = get_args(Target)
VectorOp = Literal["add", "project", "patch"]
VECTOR_OPS: tuple[str, ...] = get_args(VectorOp)
Head = tuple[int, int]
_CODE = {"add": 1, "project": 2, "patch": 3}


@dataclass(frozen=True)
class VectorEdit:
    """One edit of one head's q, k or v (immutable, JSON via ``to_dict``).

    Parameters
    ----------
    layer, head
        A query head for ``target="q"``; a key/value head for ``"k"`` and ``"v"``.
    target
        ``"q"``, ``"k"`` or ``"v"``.
    op
        ``"add"`` (x + α·d), ``"project"`` (x − (x·d̂)d̂) or ``"patch"`` (from ``source``).
    alpha
        The scale of ``d`` for ``add``.
    direction
        d, as many numbers as the head's width (``add`` and ``project``; non-zero).
    source
        ``patch``: the prompt whose clean-run q/k/v replaces this head's.
    positions
        Absolute positions (query positions for q, key positions for k and v); None: all.
    values
        ``patch``, instead of ``source``: the values themselves, one row of the head's width
        per absolute position 0..T-1 (positions past the last row keep their own value).
    """

    layer: int
    head: int
    target: Target
    op: VectorOp
    alpha: float = 1.0
    direction: tuple[float, ...] | None = None
    source: str | None = None
    positions: tuple[int, ...] | None = None
    values: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        check_pair(self.layer, self.head)
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; valid targets: q, k, v")
        if self.op not in VECTOR_OPS:
            raise ValueError(f"unknown op {self.op!r}; valid ops: {', '.join(VECTOR_OPS)}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float):
            raise TypeError(f"alpha must be a number, got {self.alpha!r}")
        if not math.isfinite(self.alpha):
            raise ValueError(f"alpha must be finite, got {self.alpha}")
        object.__setattr__(self, "alpha", float(self.alpha))
        if self.op in ("add", "project"):
            if self.direction is None:
                raise ValueError(f"op {self.op!r} needs direction=[...] (the head's width)")
            direction = tuple(float(x) for x in self.direction)
            if not direction or not all(math.isfinite(x) for x in direction):
                raise ValueError("direction must be a non-empty list of finite numbers")
            if self.op == "project" and not any(direction):
                raise ValueError("project needs a non-zero direction")
            object.__setattr__(self, "direction", direction)
        elif self.direction is not None:
            raise ValueError("direction= belongs to add and project, not patch")
        if self.op == "patch" and self.values is not None:
            if self.source is not None:
                raise ValueError("op 'patch' takes source= or values=, not both")
            rows = tuple(tuple(float(x) for x in row) for row in self.values)
            if not rows or not rows[0] or len({len(row) for row in rows}) != 1:
                raise ValueError("values must be a non-empty list of equal-length rows")
            if not all(math.isfinite(x) for row in rows for x in row):
                raise ValueError("values must be finite numbers")
            object.__setattr__(self, "values", rows)
        elif self.op == "patch":
            if not isinstance(self.source, str) or not self.source:
                raise ValueError("op 'patch' needs source=<prompt> (a non-empty string) or values=")
        elif self.source is not None or self.values is not None:
            raise ValueError(f"source= and values= belong to patch, not {self.op}")
        if self.positions is not None:
            positions = tuple(self.positions)
            if not positions or not all(
                isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in positions
            ):
                raise ValueError(
                    f"positions must be a non-empty list of absolute positions >= 0, "
                    f"got {self.positions!r}"
                )
            object.__setattr__(self, "positions", tuple(sorted(set(positions))))

    @property
    def is_identity(self) -> bool:
        """True for ``add`` with α = 0 (changes nothing)."""
        return self.op == "add" and self.alpha == 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "layer": self.layer,
            "head": self.head,
            "target": self.target,
            "op": self.op,
        }
        if self.op == "add":
            out["alpha"] = self.alpha
        if self.direction is not None:
            out["direction"] = list(self.direction)
        if self.source is not None:
            out["source"] = self.source
        if self.positions is not None:
            out["positions"] = list(self.positions)
        if self.values is not None:
            out["values"] = [list(row) for row in self.values]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VectorEdit:
        item = dict(data)
        for key in ("positions", "direction"):
            if item.get(key) is not None:
                item[key] = tuple(item[key])
        if item.get("values") is not None:
            item["values"] = tuple(tuple(row) for row in item["values"])
        return cls(**item)


def vector_edits(
    target: Target,
    op: VectorOp,
    heads: Mapping[Head, float] | Iterable[Head],
    direction: Sequence[float] | None = None,
    source: str | None = None,
    positions: Sequence[int] | None = None,
) -> tuple[VectorEdit, ...]:
    """One :class:`VectorEdit` per head (``{(layer, head): alpha}`` for ``add``)."""
    items = heads.items() if isinstance(heads, Mapping) else ((h, 1.0) for h in heads)
    pos = tuple(positions) if positions is not None else None
    vec = tuple(direction) if direction is not None else None
    out = []
    for key, alpha in items:
        try:
            layer, head = key
        except (TypeError, ValueError):
            raise ValueError(f"a head is a (layer, head) pair, got {key!r}") from None
        out.append(VectorEdit(layer, head, target, op, alpha, vec, source, pos))
    return tuple(out)


# ======================================================================================
# Compiled: per layer and target, tensors for N rows (N = 1 broadcasts over any batch)
# ======================================================================================


@dataclass(eq=False)
class TargetEdit:
    """The q, k or v edits of one layer for N rows over H heads of that target.

    ``code`` (N, H): 0 none, 1 add, 2 project, 3 patch; ``vector`` (N, H, D): α·d for add,
    d̂ for project; ``where`` (N, H, P) the absolute positions 0..P-1 edited, ``rest`` (N, H)
    whether positions ≥ P are; ``patch`` (N, H, S, D) source values at positions 0..S-1
    (None when no row patches); ``lengths`` (N, H) each patch's source length (None: S).
    """

    code: torch.Tensor
    vector: torch.Tensor
    where: torch.Tensor
    rest: torch.Tensor
    patch: torch.Tensor | None
    lengths: torch.Tensor | None = None

    def select(self, rows: Any) -> TargetEdit:
        def pick(t: torch.Tensor) -> torch.Tensor:
            return t if t.shape[0] == 1 else t[rows]

        return TargetEdit(
            pick(self.code),
            pick(self.vector),
            pick(self.where),
            pick(self.rest),
            None if self.patch is None else pick(self.patch),
            None if self.lengths is None else pick(self.lengths),
        )

    def to(self, device: Any) -> TargetEdit:
        return TargetEdit(
            self.code.to(device),
            self.vector.to(device),
            self.where.to(device),
            self.rest.to(device),
            None if self.patch is None else self.patch.to(device),
            None if self.lengths is None else self.lengths.to(device),
        )

    def apply(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Edit x (B, H, T, D) whose positions are ``positions``, (T,) or per row (B or 1, T),
        counted from each row's first real token (a row's padding: below 0, never edited by
        a position-restricted edit).

        Raises ValueError when a patch would edit a position its source does not have.
        """
        import torch

        n_rows = x.shape[0]

        def rows(t: torch.Tensor) -> torch.Tensor:
            return t if t.shape[0] in (1, n_rows) else t[:n_rows]

        positions = positions if positions.dim() == 2 else positions[None]  # (B or 1, T)
        code = rows(self.code)[:, :, None, None]  # (B, H, 1, 1)
        vector = rows(self.vector)[:, :, None, :].to(x.dtype)  # (B, H, 1, D)
        chosen = _at(rows(self.where), positions, rows(self.rest)[..., None])[..., None]
        added = x + vector
        projected = x - (x * vector).sum(dim=-1, keepdim=True) * vector
        new = torch.where(code == 1, added, torch.where(code == 2, projected, x))
        if self.patch is not None:
            patch = rows(self.patch).to(x.dtype)  # (B, H, S, D)
            take = chosen & (code == 3)  # (B, H, T, 1)
            _check_lengths(take, positions, patch.shape[2], self.lengths)
            index = positions.clamp(0, patch.shape[2] - 1)  # (B or 1, T)
            if index.shape[0] == 1:
                values = patch[:, :, index[0]]
            else:  # per row: (B, T, H, D) -> (B, H, T, D)
                patch = patch.expand(index.shape[0], -1, -1, -1)
                values = patch[torch.arange(index.shape[0], device=x.device)[:, None], :, index]
                values = values.transpose(1, 2)
            new = torch.where(take, values, new)
        return torch.where(chosen & (code > 0), new, x)


def _check_lengths(
    take: torch.Tensor, positions: torch.Tensor, width: int, lengths: torch.Tensor | None
) -> None:
    """Raise when a patch edits a position past its source's length (no value to copy)."""
    import torch

    n_rows = take.shape[0]
    if lengths is None:
        length = torch.full(take.shape[:2], width, device=take.device)
    else:
        length = lengths if lengths.shape[0] in (1, n_rows) else lengths[:n_rows]
    beyond = take & (positions[:, None, :, None] >= length[:, :, None, None])
    if not bool(beyond.any()):
        return
    row, head, _, _ = (int(i) for i in beyond.nonzero()[0])
    source = int(length[row if length.shape[0] > 1 else 0, head])
    mine = positions[row if positions.shape[0] > 1 else 0]
    missing = mine[beyond[row, head, :, 0]]
    raise ValueError(
        f"a q/k/v patch of head {head} copies from a source of {source} tokens, but the "
        f"prompt it edits has {int(mine.max()) + 1} tokens (so far): the source has no values "
        f"for positions {int(missing.min())}..{int(missing.max())}; valid positions are "
        f"0..{source - 1}: restrict positions= to them, or patch from a source at least as "
        "long as the prompt"
    )


def _at(table: torch.Tensor, positions: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """``table`` (N, H, P) read at ``positions`` (B or 1, T) -> (B, H, T); positions outside
    0..P-1 (past the listed ones, or a row's padding) take ``rest`` (N, H, 1)."""
    import torch

    size = table.shape[-1]
    n_rows = max(table.shape[0], positions.shape[0])
    index = positions.clamp(0, size - 1).expand(n_rows, -1)[:, None, :]
    index = index.expand(n_rows, table.shape[1], -1)
    picked = table.expand(n_rows, -1, -1).gather(2, index)
    inside = ((positions >= 0) & (positions < size))[:, None, :]
    return torch.where(inside, picked, rest)


QKVSource = Callable[[str], "dict[str, torch.Tensor]"]
"""prompt -> {"q": (L, Hq, T, D), "k": (L, Hkv, T, D), "v": ...} of a clean run."""


def compile_vectors(
    specs: Sequence[Any],
    n_layers: int,
    n_heads: int,
    n_kv_heads: int,
    head_dim: int,
    qkv_of: QKVSource,
) -> dict[int, dict[str, TargetEdit]]:
    """Per layer, per target, the q/k/v edits of N specs (row i = spec i)."""
    import torch

    chosen = [
        (row, e)
        for row, spec in enumerate(specs)
        for e in spec.attention
        if isinstance(e, VectorEdit)
    ]
    for _, e in chosen:
        width = n_heads if e.target == "q" else n_kv_heads
        what = "query heads" if e.target == "q" else "key/value heads"
        check_pair(e.layer, e.head, n_layers, width, heads=what, what=f"in a {e.target} edit")
        for what, rows in (("direction", [e.direction]), ("values row", e.values)):
            if rows and rows[0] is not None and len(rows[0]) != head_dim:
                raise ValueError(
                    f"a {e.target} {what} has {len(rows[0])} numbers but the heads are "
                    f"{head_dim} wide"
                )
    out: dict[int, dict[str, TargetEdit]] = {}
    n_rows = len(specs)
    for layer in sorted({e.layer for _, e in chosen}):
        out[layer] = {}
        for target in TARGETS:
            mine = [(row, e) for row, e in chosen if e.layer == layer and e.target == target]
            if not mine:
                continue
            width = n_heads if target == "q" else n_kv_heads
            n_pos = max((max(e.positions) + 1 for _, e in mine if e.positions), default=1)
            code = torch.zeros(n_rows, width, dtype=torch.long)
            vector = torch.zeros(n_rows, width, head_dim)
            where = torch.ones(n_rows, width, n_pos, dtype=torch.bool)
            rest = torch.ones(n_rows, width, dtype=torch.bool)
            patches: dict[tuple[int, int], torch.Tensor] = {}
            for row, e in mine:
                code[row, e.head] = _CODE[e.op]
                if e.direction is not None:
                    d = torch.tensor(e.direction)
                    vector[row, e.head] = e.alpha * d if e.op == "add" else d / d.norm()
                if e.positions is not None:
                    where[row, e.head] = False
                    where[row, e.head, list(e.positions)] = True
                    rest[row, e.head] = False
                if e.values is not None:
                    patches[(row, e.head)] = torch.tensor(e.values, dtype=torch.float32)
                elif e.op == "patch":
                    assert e.source is not None
                    patches[(row, e.head)] = qkv_of(e.source)[target][layer, e.head].float()
            patch, lengths = None, None
            if patches:
                length = max(p.shape[0] for p in patches.values())
                patch = torch.zeros(n_rows, width, length, head_dim)
                lengths = torch.full((n_rows, width), length, dtype=torch.long)
                for (row, head), values in patches.items():
                    patch[row, head, : values.shape[0]] = values
                    lengths[row, head] = values.shape[0]
                    code[row, head] = 3
            out[layer][target] = TargetEdit(code, vector, where, rest, patch, lengths)
    return out
