"""``headwidgets models``: the shipped models and whether their weights are here."""

from __future__ import annotations

import argparse
import json
import sys


def run(args: argparse.Namespace) -> int:
    from headwidgets import zoo

    found = zoo.models()
    if args.json:
        print(json.dumps(dict(found), indent=2))
        return 0
    if found:
        print(found)
    missing = [name for name in zoo.MODELS if name not in found]
    for name in missing:
        print(
            f"{name}: weights missing; rebuild with `python -m headwidgets.zoo.train {name}`",
            file=sys.stderr,
        )
    return 0
