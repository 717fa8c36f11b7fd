"""``headwidgets figure``: a figure of a saved cube, exported with its data."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

from headwidgets.cli._common import CLIError


def run(args: argparse.Namespace) -> int:
    from headwidgets import figures
    from headwidgets.cubes import cube_names

    if not Path(args.cube).exists():
        raise CLIError(f"no cube at {args.cube!r}")
    if args.other is not None and not Path(args.other).exists():
        raise CLIError(f"no cube at {args.other!r}")
    kinds = list(figures.FIGURE_KINDS)
    if args.kind not in kinds:
        raise CLIError(f"unknown figure kind {args.kind!r}; valid kinds: {', '.join(kinds)}")
    names = cube_names(args.cube)
    if args.var is None and len(names) > 1:
        raise CLIError(f"{args.cube} holds several cubes; pick one with --var: {', '.join(names)}")
    if args.var is not None and args.var not in names:
        raise CLIError(f"no cube {args.var!r} in {args.cube}; --var is one of: {', '.join(names)}")
    opts: dict[str, Any] = {"title": args.title, "width": args.width, "height": args.height}
    if args.kind in ("heatmap", "difference"):
        opts["highlight"] = args.highlight
    if args.kind == "scale":
        opts["heads"] = args.heads
    if args.kind in ("pattern", "tokens"):
        opts.update(layer=args.layer, head=args.head, prompt=args.prompt)
    pixel_ratio = args.pixel_ratio
    if args.scale is not None:  # --pixel-ratio's old name
        if pixel_ratio is not None:
            raise CLIError("give --pixel-ratio only; --scale is its old name")
        warnings.warn(
            "--scale was renamed to --pixel-ratio; --scale will stop working in a later release",
            FutureWarning,
            stacklevel=1,
        )
        pixel_ratio = args.scale
    path = figures.figure_command(
        args.cube,
        args.kind,
        args.out,
        other=args.other,
        reduce=args.reduce,
        pixel_ratio=pixel_ratio,
        data=args.data,
        var=args.var,
        **opts,
    )
    print(path)
    return 0
