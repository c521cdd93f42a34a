"""Smoke test for bench/bench_sweep.py: a tiny sweep runs through every measurement and reports.

Never asserts a time or a ratio, only that each figure was measured and the report is complete."""

from __future__ import annotations

import importlib
import math
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return importlib.import_module("bench.bench_sweep")


def test_a_tiny_sweep_is_measured_end_to_end(bench: ModuleType) -> None:
    result = bench.run(episodes=4, latency=0.01, concurrency=2, workers=1)
    assert result.errors == 0 and result.resumed_ran == 0  # the resume found everything done
    assert len(result.writes_ms) == len(result.json_ms) == 4
    for figure in (result.sweep_s, result.batch_s, result.ideal_s, result.resume_s, result.write_ms,
                   result.mean_episode_s):
        assert figure > 0 and math.isfinite(figure)
    lines = bench.report(result)
    assert len(lines) == 3 and "of ideal throughput" in lines[0] and "resume" in lines[2]
