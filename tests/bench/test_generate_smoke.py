"""Smoke test for bench/bench_generate.py: one round, sane structure (no timing asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_generate.py"


def test_the_generate_benchmark_runs_and_reports_each_figure(capsys) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    check = bench.measure_check("depot_change_board", rounds=1, seeds=1)
    assert set(check) == {"rules_ms", "selfcheck_ms", "selfcheck_vs_rules"} and all(v > 0 for v in check.values())
    dedup = bench.measure_dedup(ideas=5, rounds=1)
    assert set(dedup) == {"few_ms", "many_ms", "many_vs_few"} and all(v > 0 for v in dedup.values())
    assert bench.main(["--rounds", "1", "--seeds", "1", "--ideas", "5"]) == 0
    assert "de-duplication" in capsys.readouterr().out
