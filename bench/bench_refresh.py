"""Refresh latency in a real browser: control event → DOM updated, shipped model on CPU.

Starts JupyterLab on 127.0.0.1 (isolated dirs), opens a notebook with an ``Explorer`` on a
shipped model (``circuits-4l``, else ``induction-2l``; a random-init tiny GPT-2 when none is
trained), selects one head and moves its α slider to N distinct values, one at a time. For
each value it measures, inside the page, from dispatching the slider's ``input`` event to

- **first update**: the OutputView's DOM shows the new intervention's next-token top-k,
  metrics and token colors (what the coalesced refresh returns), and
- **full update**: the greedy continuation for that value is shown too (computed right after
  the first update is sent; cached per intervention).

Targets (PERFORMANCE.md): p50 ≤ 50 ms, p95 ≤ 100 ms. Prints a markdown row for
bench/RESULTS.md ("Refresh latency (browser)"); ``--record`` appends it there.

    python bench/bench_refresh.py                 # 50 events
    python bench/bench_refresh.py --quick         # CI: 5 events, checks it runs
    python bench/bench_refresh.py --threads 1     # torch.set_num_threads(1) in the kernel
    python bench/bench_refresh.py --nodelay       # TCP_NODELAY on the server's kernel websocket

jupyter_server leaves Nagle's algorithm on for its kernel websockets; a reply that follows the
kernel's "busy" status message can then wait for a delayed ACK (~40 ms on Linux loopback).
``--nodelay`` patches the throwaway server (never the package) to show what that costs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.jupyter import (  # noqa: E402
    chromium,
    jupyter_server,
    missing_requirements,
    new_page,
    open_and_run_all,
    wait_kernel_idle,
    write_notebook,
)
from tests.browser.scenario import Scenario, scenario  # noqa: E402

MEASURE = """
async ({alphas, summaries, generation, timeoutMs}) => {
  const ex = document.querySelector('.hw-explorer');
  const slider = ex.querySelector('.hw-control-row input[type=range]');
  const out = ex.querySelector('.hw-outputview');
  const shows = (summary) => {
    const text = out.querySelector('.hw-intervention');
    return text && text.textContent === summary;
  };
  const full = (summary) => shows(summary)
    && (!generation || out.querySelector('.hw-generation[data-current="true"]'));
  const until = (test) => new Promise((resolve, reject) => {
    if (test()) return resolve(performance.now());
    const observer = new MutationObserver(() => {
      if (test()) { observer.disconnect(); clearTimeout(timer); resolve(performance.now()); }
    });
    const timer = setTimeout(() => {
      observer.disconnect();
      reject(new Error('timeout'));
    }, timeoutMs);
    observer.observe(out, {childList: true, subtree: true, attributes: true, characterData: true});
  });
  const rows = [];
  for (let i = 0; i < alphas.length; i++) {
    const t0 = performance.now();
    slider.value = String(alphas[i]);
    slider.dispatchEvent(new Event('input', {bubbles: true}));
    const first = await until(() => shows(summaries[i]));
    const modelMs = Number(out.dataset.modelMs);
    const done = await until(() => full(summaries[i]));
    const controls = ex.querySelector('.hw-headcontrols');
    rows.push({
      first: first - t0,
      full: done - t0,
      model: modelMs,
      kernel: Number(controls.dataset.kernelMs),
      roundTrip: Number(controls.dataset.refreshMs),
    });
    await new Promise((r) => setTimeout(r, 30));  // let the kernel go idle between events
  }
  return rows;
}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None, browser: Any = None) -> dict[str, Any]:
    """Run the benchmark; ``browser`` reuses a Playwright browser (the sync API does not nest)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 events (CI: checks it runs)")
    parser.add_argument("--events", type=int, default=50, help="measured events (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured events first")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the kernel")
    parser.add_argument(
        "--nodelay", action="store_true", help="TCP_NODELAY on the server's kernel websockets"
    )
    parser.add_argument("--model", help="shipped model name or local directory (default: shipped)")
    parser.add_argument("--prompt", help="prompt (default: the scenario's)")
    parser.add_argument("--record", action="store_true", help="append the row to RESULTS.md")
    args = parser.parse_args(argv)
    why = missing_requirements()
    if why:
        parser.exit(2, f"bench_refresh: cannot run: {why}\n")
    events, warmup = (5, 2) if args.quick else (args.events, args.warmup)
    load_before = _load()
    case = scenario()
    if args.model:
        case = Scenario(
            args.model,
            f"hw.load({args.model!r}, device='cpu')",
            args.prompt or case.prompt,
            None,
            None,
        )
    elif args.prompt:
        case = Scenario(case.model, case.load, args.prompt, case.target, case.distractor)
    hm = case.head_model()
    layer, head = hm.n_layers - 1, 0
    rng = random.Random(0)
    grid = [round(-1 + 0.01 * i, 2) for i in range(401)]
    alphas = rng.sample([a for a in grid if a != 1.0], warmup + events)
    summaries = [f"intervention: L{layer} H{head} ×{a:g}" for a in alphas]
    with tempfile.TemporaryDirectory(prefix="hw-bench-") as tmp:
        root = Path(tmp)
        write_notebook(
            root / "bench.ipynb",
            [case.setup_cell(args.threads), case.explorer_cell([(layer, head)])],
        )
        with contextlib.ExitStack() as stack:
            if browser is None:
                browser = stack.enter_context(chromium())
            server = stack.enter_context(jupyter_server("lab", root, nodelay=args.nodelay))
            page, log = stack.enter_context(new_page(browser))
            open_and_run_all(page, server, "bench.ipynb")
            page.wait_for_selector(".hw-explorer .hw-control-row", timeout=180_000)
            wait_kernel_idle(page)
            rows = page.evaluate(
                MEASURE,
                {
                    "alphas": alphas,
                    "summaries": summaries,
                    "generation": hm.is_causal,
                    "timeoutMs": 30_000,
                },
            )
            if log.outside_localhost():
                raise RuntimeError(f"requests left localhost: {log.outside_localhost()}")
    rows = rows[warmup:]
    first = [r["first"] for r in rows]
    full = [r["full"] for r in rows]
    model = [r["model"] for r in rows]
    kernel = [r["kernel"] for r in rows]
    trip = [r["roundTrip"] for r in rows]
    result = {
        "model": case.model,
        "events": len(rows),
        "first_p50": statistics.median(first),
        "first_p95": percentile(first, 95),
        "full_p50": statistics.median(full),
        "full_p95": percentile(full, 95),
        "python_p50": statistics.median(model),
        "kernel_handler_p50": statistics.median(kernel),
        "request_round_trip_p50": statistics.median(trip),
        "threads": args.threads or "default",
        "server": "TCP_NODELAY" if args.nodelay else "stock jupyter_server",
    }
    command = "python bench/bench_refresh.py" + " ".join(
        [""] + (argv if argv is not None else sys.argv[1:])
    )
    date = datetime.date.today().isoformat()
    machine = (
        f"{cpu_name()}, {_cores()} cores (load {load_before:.1f}→{_load():.1f}), "
        f"chromium headless, {result['server']}"
    )
    row = (
        f"| {date} | {case.model} | {machine} | {result['threads']} | {result['events']} | "
        f"{result['first_p50']:.1f} / {result['first_p95']:.1f} | "
        f"{result['full_p50']:.1f} / {result['full_p95']:.1f} | "
        f"{result['python_p50']:.1f} | `{command.strip()}` |"
    )
    header = (
        "| date | model | machine | kernel torch threads | events | "
        "first update p50 / p95 (ms) | with generation p50 / p95 (ms) | "
        "Python refresh p50 (ms) | command |\n|---|---|---|---|---|---|---|---|---|"
    )
    print(json.dumps(result, indent=2))
    print(header)
    print(row)
    if args.record and not args.quick:
        record(header, row)
    return result


def _load() -> float:
    """1-minute load average (the machines are shared: the numbers depend on it)."""
    import os

    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def record(header: str, row: str) -> None:
    """Append the row under "Refresh latency (browser)" in bench/RESULTS.md."""
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    title = "## Refresh latency (browser)"
    if title not in text:
        text = text.rstrip("\n") + (
            f"\n\n{title}\n\n"
            "Control event (slider `input`) → OutputView DOM updated, measured in the page by "
            "`bench/bench_refresh.py` (JupyterLab 4 + chromium on 127.0.0.1, shipped model on "
            "CPU). Targets: p50 ≤ 50 ms, p95 ≤ 100 ms.\n\n"
            f"{header}\n"
        )
        path.write_text(text.rstrip("\n") + f"\n{row}\n")
    else:  # add the row at the end of that section's table
        start = text.index(title)
        end = text.find("\n## ", start + len(title))
        end = len(text) if end < 0 else end
        lines = text[start:end].rstrip("\n").split("\n")
        last = max(i for i, line in enumerate(lines) if line.startswith("|"))
        lines.insert(last + 1, row)
        rest = text[end:].lstrip("\n")
        path.write_text(text[:start] + "\n".join(lines) + "\n" + ("\n" + rest if rest else ""))
    print(f"recorded in {path}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
