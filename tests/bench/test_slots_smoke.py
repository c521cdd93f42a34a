"""Smoke test for bench/bench_slots.py: one world, one round, sane structure (no timing asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_slots.py"


def test_the_slots_benchmark_runs_and_reports_each_figure(capsys) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_slots", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = bench.measure("clinic_operations", rounds=1)
    assert set(figures) == {"written_ms", "cached_ms", "new_ms", "new_vs_written"}
    assert all(value > 0 for value in figures.values())
    assert bench.main(["--rounds", "1", "--worlds", "hr_offboarding"]) == 0
    assert "hr_offboarding" in capsys.readouterr().out
