"""The ``headwidgets`` command line: scores, sweeps and figures without a notebook.

Every subcommand is a thin layer over the Python API (``hw.load``, ``hw.scores``,
``hm.sweep``, ``headwidgets.figures``), so what the command writes is exactly what the
notebook code would produce: cubes in netCDF (``.nc``) or zarr (``.zarr``) that
``hw.load_cube`` reads back.

Bad input (an unknown model, score or figure kind, a target that is not one token, a missing
file) ends with a one-line ``headwidgets: error: ...`` message and exit status 2; set
``HEADWIDGETS_DEBUG=1`` to see the traceback instead.

Example
-------
>>> from headwidgets.cli import main
>>> main(["models"])                                  # doctest: +SKIP
induction-2l  GPT-2 style, 2 layers x 4 heads, ...
0
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from headwidgets.cli._common import PROG, CLIError, first_line
from headwidgets.cli.demo import demo_command
from headwidgets.cli.parser import build_parser

__all__ = ["CLIError", "demo_command", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``headwidgets`` command line; return the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on bad input (after printing a one-line error to stderr).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version, or a usage error (status 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, KeyError, OSError, RuntimeError) as exc:
        # bad input, a missing file or browser, out of memory: one line, no traceback
        if os.environ.get("HEADWIDGETS_DEBUG"):
            raise
        print(f"{PROG}: error: {first_line(exc)}", file=sys.stderr)
        return 2
    return status
