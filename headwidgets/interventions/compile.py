"""Compiled z edits: specs -> per-layer tensors for N rows (N = 1 broadcasts over any batch).

:func:`compile_specs` turns N :class:`Intervention` specs (row i = spec i) into one
:class:`LayerEdit` per edited layer; ``hooks.py`` applies it at the head site. A layer where
every edit is the identity gets no tensors and no hook.

Positions are counted from each row's first real token: the hooks give :meth:`LayerEdit.apply`
the position of the call's first token per row (the KV-cache offset, minus the row's left
padding), so a left-padded batch edits each prompt where it would edit it alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwidgets.interventions.spec import Intervention, check_spec
from headwidgets.interventions.z_edits import HeadEdit

if TYPE_CHECKING:
    import torch


@dataclass
class LayerEdit:
    """The edit of one layer for N rows.

    ``scale`` is (N, T or 1, H); ``replace_mask`` (N, T or 1, H) bool and ``replacement``
    (N, T or 1, H, D) are None when no row replaces z in this layer; ``offset`` (N, T or 1,
    H, D) is added after scaling (``add`` and ``inject``), None when no row adds. The edited
    z is ``z·scale + offset``, then replaced where ``replace_mask``. ``T`` covers absolute
    positions 0..T-1; positions past it are left unedited by position-restricted edits.
    """

    scale: torch.Tensor
    replace_mask: torch.Tensor | None = None
    replacement: torch.Tensor | None = None
    offset: torch.Tensor | None = None

    def select(self, rows: torch.Tensor | slice) -> LayerEdit:
        """The edit of the given rows (for chunked runs), in that order."""

        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else (t if t.shape[0] == 1 else t[rows])

        scale = pick(self.scale)
        assert scale is not None
        return LayerEdit(scale, pick(self.replace_mask), pick(self.replacement), pick(self.offset))

    def to(self, device: Any, dtype: Any) -> LayerEdit:
        return LayerEdit(
            self.scale.to(device=device, dtype=dtype),
            None if self.replace_mask is None else self.replace_mask.to(device),
            None if self.replacement is None else self.replacement.to(device=device, dtype=dtype),
            None if self.offset is None else self.offset.to(device=device, dtype=dtype),
        )

    @property
    def positional(self) -> bool:
        """True when the edit differs between positions (needs the absolute offset)."""
        return (
            self.scale.shape[1] > 1
            or (self.replace_mask is not None and self.replace_mask.shape[1] > 1)
            or (self.offset is not None and self.offset.shape[1] > 1)
        )

    def apply(self, z: torch.Tensor, offset: int | torch.Tensor = 0) -> torch.Tensor:
        """Edit z (B, T, ...) whose first position is ``offset``: an int for every row, or
        (B,) per row (a left-padded row starts below 0: its padding is never edited by a
        position-restricted edit).

        z is (B, T, H, D) (a view of the head site's input); rows past the edit's N are
        never asked for, rows fewer than N take the edit's first rows (growing batch).
        """
        import torch

        n_rows, n_pos = z.shape[0], z.shape[1]
        # a growing batch (see grow_batch) reaches early layers with its first rows only
        scale = _window(_first(self.scale, n_rows), offset, n_pos, fill=1.0)
        out = z * scale.unsqueeze(-1)
        if self.offset is not None:
            out = out + _window(_first(self.offset, n_rows), offset, n_pos, fill=0.0)
        if self.replace_mask is not None and self.replacement is not None:
            mask = _window(_first(self.replace_mask, n_rows), offset, n_pos, fill=False)
            repl = _window(_first(self.replacement, n_rows), offset, n_pos, fill=0.0)
            out = torch.where(mask.unsqueeze(-1), repl, out)
        return out


def _first(t: torch.Tensor, n_rows: int) -> torch.Tensor:
    return t if t.shape[0] in (1, n_rows) else t[:n_rows]


def _window(
    t: torch.Tensor, offset: int | torch.Tensor, n_pos: int, fill: float | bool
) -> torch.Tensor:
    """Positions offset..offset+n_pos of a (N, T or 1, ...) tensor; fill outside 0..T-1.

    With a per-row ``offset`` (B,), row r takes positions offset[r]..offset[r]+n_pos.
    """
    import torch

    if t.shape[1] == 1:
        return t
    if isinstance(offset, int):
        if offset == 0 and t.shape[1] == n_pos:
            return t
        part = t[:, offset : offset + n_pos]
        missing = n_pos - part.shape[1]
        if missing > 0:
            pad = torch.full(
                (t.shape[0], missing, *t.shape[2:]), fill, dtype=t.dtype, device=t.device
            )
            part = torch.cat([part, pad], dim=1)
        return part
    offset = offset.to(t.device)
    positions = offset[:, None] + torch.arange(n_pos, device=t.device)  # (B, n_pos)
    inside = (positions >= 0) & (positions < t.shape[1])
    rows = torch.arange(len(offset), device=t.device)[:, None]
    rows = rows if t.shape[0] > 1 else torch.zeros_like(rows)
    part = t[rows, positions.clamp(0, t.shape[1] - 1)]  # (B, n_pos, ...)
    inside = inside.reshape(*inside.shape, *([1] * (t.dim() - 2)))
    return torch.where(inside, part, torch.full((), fill, dtype=t.dtype, device=t.device))


ZSource = Callable[[str], "torch.Tensor"]
"""prompt -> z of a clean run, (L, T, H, D)."""


def compile_specs(
    specs: Sequence[Intervention],
    n_layers: int,
    n_heads: int,
    head_dim: int,
    n_pos: int | None,
    z_of: ZSource,
) -> dict[int, LayerEdit]:
    """Per-layer edit tensors for N specs (row i = spec i).

    ``n_pos`` is the length of the edited prompt (None when unknown, e.g. under
    ``intervene``, where position-restricted edits then cover the positions they name).
    Layers where every edit is the identity get no entry (and no hook).
    """
    import torch

    n_rows = len(specs)
    for spec in specs:
        check_spec(spec, n_layers, n_heads)
    layers = sorted({e.layer for spec in specs for e in spec.edits if not e.is_identity})
    uses_positions = any(e.positions is not None for s in specs for e in s.edits)
    uses_per_pos = any(
        e.replaces and (e.mode != "mean" or e.per_position) for s in specs for e in s.edits
    )
    if uses_positions or uses_per_pos:
        if n_pos is None:
            # the prompts these edits copy from fix the length where one is given
            lengths = [z_of(e.source).shape[1] for s in specs for e in s.edits if e.source]
            lengths += [
                z_of(r).shape[1]
                for s in specs
                for e in s.edits
                if e.mode == "mean" and e.per_position
                for r in (e.reference or ())
            ]
            from_end = sorted(
                {p for s in specs for e in s.edits for p in e.positions or () if p < 0}
            )
            if from_end and not lengths:
                raise ValueError(
                    f"positions {from_end} count from the end of the prompt, but under "
                    "hm.intervene (and hm.run, which uses it) there is no fixed length: give "
                    "absolute positions 0..T-1, or use hm.run_batch / hm.sweep, which know "
                    "the prompt's length"
                )
            needed = [max(e.positions) + 1 for s in specs for e in s.edits if e.positions]
            needed += lengths
            n_pos = max(needed) if needed else 1
        width = n_pos
    else:
        width = 1
    plans: dict[int, LayerEdit] = {}
    for layer in layers:
        scale = torch.ones(n_rows, width, n_heads)
        mask: torch.Tensor | None = None
        repl: torch.Tensor | None = None
        added: torch.Tensor | None = None
        rows, heads, alphas = [], [], []
        for row, spec in enumerate(specs):
            for edit in spec.edits:
                if edit.layer != layer or edit.is_identity:
                    continue
                if edit.mode in ("add", "inject"):  # z·scale + offset
                    where = _positions(edit.positions, width)
                    if added is None:
                        added = torch.zeros(n_rows, width, n_heads, head_dim)
                    added[row, where, edit.head] = _added(edit, z_of, head_dim)
                    if edit.mode == "inject":
                        scale[row, where, edit.head] = 1.0 - edit.alpha
                    continue
                if not edit.replaces and edit.positions is None:
                    rows.append(row)
                    heads.append(edit.head)
                    alphas.append(edit.alpha)
                    continue
                where = _positions(edit.positions, width)
                if not edit.replaces:
                    scale[row, where, edit.head] = edit.alpha
                    continue
                if mask is None or repl is None:
                    mask = torch.zeros(n_rows, width, n_heads, dtype=torch.bool)
                    repl = torch.zeros(n_rows, width, n_heads, head_dim)
                value = _replacement(edit, z_of, width)  # (width, D)
                repl[row, where, edit.head] = value[where].float()
                mask[row, where, edit.head] = True
        if rows:  # all whole-prompt scale edits of this layer in one write
            index = (torch.tensor(rows), slice(None), torch.tensor(heads))
            scale[index] = torch.tensor(alphas, dtype=scale.dtype).unsqueeze(-1)
        plans[layer] = LayerEdit(scale, mask, repl, added)
    return plans


def _positions(positions: tuple[int, ...] | None, width: int) -> Any:
    if positions is None:
        return slice(None)
    bad = [p for p in positions if not -width <= p < width]
    if bad:
        raise ValueError(
            f"positions {bad} are out of range for a prompt of {width} tokens "
            f"(valid: 0..{width - 1}, or negative from the end)"
        )
    return [p % width for p in positions]


def _added(edit: HeadEdit, z_of: ZSource, head_dim: int) -> torch.Tensor:
    """The (D,) term an ``add`` (α·v) or ``inject`` (α·ē) edit adds to the scaled z."""
    import torch

    if edit.mode == "add":
        vector = torch.tensor(edit.vector or ())
        if vector.numel() != head_dim:
            raise ValueError(
                f"head ({edit.layer}, {edit.head}): the add vector has {vector.numel()} numbers "
                f"but the heads are {head_dim} wide"
            )
        return edit.alpha * vector
    last = [z_of(p)[edit.layer, -1, edit.head].float() for p in edit.reference or ()]
    return edit.alpha * torch.stack(last).mean(dim=0)


def _replacement(edit: HeadEdit, z_of: ZSource, width: int) -> torch.Tensor:
    """The (width, D) replacement z of one edit (broadcast when pooled)."""
    import torch

    if edit.mode == "mean":
        zs = [z_of(p)[edit.layer, :, edit.head] for p in edit.reference or ()]
        if not edit.per_position:
            pooled = torch.cat(zs, dim=0).float().mean(dim=0)
            return pooled.expand(width, -1)
        short = [len(z) for z in zs if len(z) < width]
        if short:
            raise ValueError(
                f"per-position mean needs reference prompts of at least {width} tokens; "
                f"got one of {min(short)} tokens"
            )
        return torch.stack([z[:width].float() for z in zs]).mean(dim=0)
    assert edit.source is not None
    z = z_of(edit.source)[edit.layer, :, edit.head].float()
    if z.shape[0] != width and width != 1:
        raise ValueError(
            f"{edit.mode} source has {z.shape[0]} tokens but the prompt has {width}; "
            f"{edit.mode} needs prompts of equal length (source: {edit.source!r})"
        )
    return z
