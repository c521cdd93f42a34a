"""Smoke test for bench/bench_env_batch.py: a tiny run, every figure present and positive (no timing asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_env_batch.py"


def test_the_env_batch_benchmark_runs_and_reports_each_figure(capsys) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_env_batch", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = bench.measure("corporate_shutdown", n=2, steps=2, rounds=1, latency=0.001)
    assert set(figures) == {"single_steps_per_s", "batched_steps_per_s", "single+model_steps_per_s",
                            "batched+model_steps_per_s", "batched_vs_single", "batched_vs_single_model"}
    assert all(value > 0 for value in figures.values())
    assert bench.main(["--envs", "2", "--steps", "1", "--rounds", "1", "--latency", "0"]) == 0
    assert "ratio" in capsys.readouterr().out
