"""``python -m headwidgets.cli``: the command line."""

import sys

from headwidgets.cli import main

sys.exit(main())
