"""Long sessions stay flat: memory and caches over many control changes, Python and browser.

1. **Python**: 2,000 control changes through the live loop of an ``Explorer`` on the shipped
   ``circuits-4l`` (``tests/soak.py``: each change is the request a slider or mode menu sends;
   outputs, patterns and the greedy continuation refresh). RSS is read after warm-up and at
   the end; every cache's largest size is recorded.
2. **Browser**: 300 slider moves in JupyterLab (chromium) on the same Explorer, one at a time
   (each waits for the OutputView to show the new value), reading the kernel's RSS after the
   warm-up moves and at the end; the final DOM must show the final slider value.

Target (the fresh-machine issue): ≤ 5 % RSS growth after warm-up, every cache bounded, the
final view equal to the final controls. Prints a markdown row per part for bench/RESULTS.md
("Long sessions"); ``--record`` appends them there.

    python bench/bench_soak.py                  # 2,000 changes + 300 slider moves
    python bench/bench_soak.py --quick          # 60 + 20: checks it runs
    python bench/bench_soak.py --no-browser     # the Python part only
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_refresh import MEASURE, _cores, cpu_name  # noqa: E402
from tests.browser.jupyter import (  # noqa: E402
    chromium,
    jupyter_server,
    missing_requirements,
    new_page,
    open_and_run_all,
    wait_kernel_idle,
    write_notebook,
)
from tests.browser.scenario import scenario  # noqa: E402
from tests.soak import soak  # noqa: E402

SECTION = "## Long sessions (memory)"


def python_part(changes: int, warmup: int) -> dict[str, Any]:
    from headwidgets.widgets import Explorer

    case = scenario()
    hm = case.head_model()
    explorer = Explorer(hm, case.prompt, target=case.target, distractor=case.distractor)
    start = time.perf_counter()
    result = soak(explorer, changes=changes, warmup=warmup, seed=0)
    seconds = time.perf_counter() - start
    final = explorer.output.intervention == explorer.controls.intervention
    return {
        "part": "python",
        "model": case.model,
        "changes": changes,
        "warmup": warmup,
        "rss_warm_mib": round(result.rss_warm, 1),
        "rss_end_mib": round(result.rss_end, 1),
        "growth_pct": round(100 * result.growth, 2),
        "rss_samples_mib": [round(s, 1) for s in result.samples],
        "cache_max": result.cache_sizes,
        "final_view_is_final_controls": final,
        "seconds": round(seconds, 1),
    }


def _kernel_rss_mib(server_pid: int) -> float:
    import psutil

    for child in psutil.Process(server_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any("ipykernel" in part for part in child.cmdline()):
                return float(child.memory_info().rss / 2**20)
    raise RuntimeError("no kernel process under the server")


def browser_part(moves: int, warmup: int, browser: Any = None) -> dict[str, Any]:
    why = missing_requirements()
    if why:
        raise RuntimeError(f"cannot run the browser part: {why}")
    case = scenario()
    hm = case.head_model()
    layer, head = hm.n_layers - 1, 0
    rng = random.Random(0)
    grid = [round(-1 + 0.01 * i, 2) for i in range(401) if round(-1 + 0.01 * i, 2) != 1.0]
    alphas = [rng.choice(grid) for _ in range(moves)]
    for i in range(1, moves):  # each move changes the value
        while alphas[i] == alphas[i - 1]:
            alphas[i] = rng.choice(grid)
    summaries = [f"intervention: L{layer} H{head} ×{a:g}" for a in alphas]
    with tempfile.TemporaryDirectory(prefix="hw-soak-") as tmp:
        root = Path(tmp)
        write_notebook(
            root / "soak.ipynb", [case.setup_cell(None), case.explorer_cell([(layer, head)])]
        )
        with contextlib.ExitStack() as stack:
            if browser is None:
                browser = stack.enter_context(chromium())
            server = stack.enter_context(jupyter_server("lab", root))
            page, log = stack.enter_context(new_page(browser))
            open_and_run_all(page, server, "soak.ipynb")
            page.wait_for_selector(".hw-explorer .hw-control-row", timeout=180_000)
            wait_kernel_idle(page)
            start = time.perf_counter()
            args = {"generation": hm.is_causal, "timeoutMs": 30_000}
            page.evaluate(
                MEASURE, {**args, "alphas": alphas[:warmup], "summaries": summaries[:warmup]}
            )
            wait_kernel_idle(page)
            rss_warm = _kernel_rss_mib(server.process.pid)
            page.evaluate(
                MEASURE, {**args, "alphas": alphas[warmup:], "summaries": summaries[warmup:]}
            )
            wait_kernel_idle(page)
            rss_end = _kernel_rss_mib(server.process.pid)
            shown = page.evaluate(
                "() => document.querySelector('.hw-explorer .hw-outputview .hw-intervention')"
                ".textContent"
            )
            seconds = time.perf_counter() - start
            if log.outside_localhost():
                raise RuntimeError(f"requests left localhost: {log.outside_localhost()}")
    return {
        "part": "browser",
        "model": case.model,
        "changes": moves,
        "warmup": warmup,
        "rss_warm_mib": round(rss_warm, 1),
        "rss_end_mib": round(rss_end, 1),
        "growth_pct": round(100 * (rss_end - rss_warm) / rss_warm, 2),
        "final_view_is_final_controls": shown == summaries[-1],
        "seconds": round(seconds, 1),
    }


def row(result: dict[str, Any], command: str) -> str:
    date = datetime.date.today().isoformat()
    machine = f"{cpu_name()}, {_cores()} cores"
    caches = ", ".join(f"{k} ≤ {v}" for k, v in result.get("cache_max", {}).items()) or "n/a"
    return (
        f"| {date} | {result['part']} | {result['model']} | {machine} | {result['changes']} "
        f"({result['warmup']} warm-up) | {result['rss_warm_mib']} → {result['rss_end_mib']} "
        f"({result['growth_pct']:+.2f} %) | {caches} | "
        f"{'yes' if result['final_view_is_final_controls'] else 'NO'} | {result['seconds']} | "
        f"`{command}` |"
    )


HEADER = (
    "| date | part | model | machine | control changes | RSS after warm-up → end (MiB) | "
    "largest cache sizes | final view = final controls | seconds | command |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def record(rows: list[str]) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    if SECTION not in text:
        text = text.rstrip("\n") + (
            f"\n\n{SECTION}\n\n"
            "`bench/bench_soak.py`: control changes through the live loop of an Explorer "
            "(Python: the request a slider sends, handled in-process; browser: slider moves "
            "in JupyterLab + chromium, kernel RSS read from the process). Target: ≤ 5 % RSS "
            "growth after warm-up, every cache bounded, final view = final controls.\n\n"
            f"{HEADER}\n"
        )
        path.write_text(text.rstrip("\n") + "\n" + "\n".join(rows) + "\n")
        return
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    end = len(text) if end < 0 else end
    lines = text[start:end].rstrip("\n").split("\n")
    last = max(i for i, line in enumerate(lines) if line.startswith("|"))
    lines[last + 1 : last + 1] = rows
    rest = text[end:].lstrip("\n")
    path.write_text(text[:start] + "\n".join(lines) + "\n" + ("\n" + rest if rest else ""))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 changes + 20 moves")
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--no-browser", action="store_true", help="the Python part only")
    parser.add_argument("--record", action="store_true", help="append the rows to RESULTS.md")
    args = parser.parse_args(argv)
    changes, moves = (60, 20) if args.quick else (args.changes, args.moves)
    command = "python bench/bench_soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = [python_part(changes, warmup=max(changes // 4, 1))]
    if not args.no_browser:
        results.append(browser_part(moves, warmup=max(moves // 3, 1)))
    rows = [row(result, command.strip()) for result in results]
    print(json.dumps(results, indent=2))
    print(HEADER)
    print("\n".join(rows))
    if args.record and not args.quick:
        record(rows)
    return results


if __name__ == "__main__":
    main()
