"""A long session through the live loop: many control changes, memory read as it goes.

Used by ``tests/test_soak.py`` (a reduced count, in ``make test``) and by
``bench/bench_soak.py`` (the full count, numbers in ``bench/RESULTS.md``). Each change is what
the browser sends when a slider or a mode menu moves: one request to the Explorer's
HeadControls, answered after the outputs, patterns and greedy continuation are refreshed.
"""

from __future__ import annotations

import gc
import os
import random
from dataclasses import dataclass, field
from typing import Any

MODES = ("scale", "scale", "scale", "zero")  # mostly slider moves, some mode switches


def rss_mib() -> float:
    """Resident memory of this process in MiB (Linux /proc; psutil elsewhere)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        import psutil

        return float(psutil.Process().memory_info().rss / 2**20)


@dataclass
class Soak:
    """What a soak measured: RSS after warm-up and at the end, the caches' largest sizes."""

    changes: int
    warmup: int
    rss_warm: float = 0.0
    rss_end: float = 0.0
    samples: list[float] = field(default_factory=list)
    cache_sizes: dict[str, int] = field(default_factory=dict)
    last_edits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def growth(self) -> float:
        """Relative RSS growth from the end of warm-up to the end (0.05 = 5 %)."""
        return (self.rss_end - self.rss_warm) / self.rss_warm


def live_caches(explorer: Any) -> dict[str, int]:
    """Sizes of every cache the live loop keeps (the LiveRun's and the model's)."""
    live = explorer.output.live
    sizes = {"outputs": len(live._cache), "generations": len(live._generated)}
    for name, cache in explorer.hm.caches.items():
        sizes[f"model.{name}"] = len(cache)
    return sizes


def soak(explorer: Any, changes: int, warmup: int, seed: int = 0) -> Soak:
    """Send ``changes`` control changes to ``explorer`` (a :class:`headwidgets.Explorer`).

    Three heads are selected; each change moves one head's α to a new random value (or
    switches its mode), as a browser would. Memory is read (after a garbage collection) once
    warm-up is over and at the end.
    """
    rng = random.Random(seed)
    hm = explorer.hm
    heads = [(layer, rng.randrange(hm.n_heads)) for layer in range(min(3, hm.n_layers))]
    explorer.grid.selected = [list(head) for head in heads]
    edits = {
        head: {"layer": head[0], "head": head[1], "mode": "scale", "alpha": 1.0} for head in heads
    }
    result = Soak(changes, warmup)
    handler = explorer.controls._handle_message
    explorer.controls.send = lambda msg, buffers=None: None
    for index in range(changes):
        head = heads[rng.randrange(len(heads))]
        mode = MODES[rng.randrange(len(MODES))]
        alpha = 0.0 if mode == "zero" else round(rng.uniform(-1.0, 3.0), 3)
        edits[head] = {"layer": head[0], "head": head[1], "mode": mode, "alpha": alpha}
        request = {"type": "request", "id": f"r{index}", "edits": list(edits.values())}
        handler(explorer.controls, request, [])
        assert explorer.controls.error == "", explorer.controls.error
        for name, size in live_caches(explorer).items():
            result.cache_sizes[name] = max(size, result.cache_sizes.get(name, 0))
        if index + 1 == warmup or index + 1 == changes or (index + 1) % 100 == 0:
            gc.collect()
            result.samples.append(rss_mib())
            if index + 1 == warmup:
                result.rss_warm = result.samples[-1]
    result.rss_end = result.samples[-1]
    result.last_edits = list(edits.values())
    return result
