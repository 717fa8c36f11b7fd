"""Benchmarks execute in quick mode (timings are recorded in bench/RESULTS.md, not tested)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_engine_benchmark_runs_in_quick_mode() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_engine
    finally:
        sys.path.remove(str(BENCH))
    result = bench_engine.main(["--quick", "--reps", "1", "--tokens", "12"])
    assert set(result["rows"]) and result["sweep_speedup"] > 0


def test_gpu_suite_runs_in_quick_mode_on_the_cpu() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_gpu
    finally:
        sys.path.remove(str(BENCH))
    result = bench_gpu.main(["--quick", "--reps", "1"])
    rows = result["gpt2-small float32 32 tokens"]
    assert any("prefix reuse" in name for name in rows)


def test_multigpu_benchmark_runs_in_quick_mode_on_one_device() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_multigpu
    finally:
        sys.path.remove(str(BENCH))
    result = bench_multigpu.main(["--quick"])
    assert result["heads"] == 64 and result["sweep"]["median_ms"] > 0
