"""``python -m headwidgets``: the same as the ``headwidgets`` command."""

from __future__ import annotations

import sys

from headwidgets.cli import main

if __name__ == "__main__":
    sys.exit(main())
