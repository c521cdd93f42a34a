"""Smoke test for bench/bench_agents.py: the smallest configuration of each part runs and is well-formed.

Never asserts a time or a ratio (wall-clock numbers are not test material), only that every figure is
a positive finite number and the report has the expected shape. Part (b) spawns the scripted server
in a child process, which must import the benchmark by name: so the module is imported as
`bench.bench_agents` (a namespace package under the repository root, which pytest puts on sys.path).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import fields
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return importlib.import_module("bench.bench_agents")


@pytest.fixture(scope="module")
def parts(bench: ModuleType) -> tuple[ModuleType, ModuleType]:
    """Parts (a) and (b), as bench_agents imports them (from bench/, which it puts on sys.path)."""
    return importlib.import_module("agents_overhead"), importlib.import_module("agents_concurrency")


def positive(value: object) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


def test_bare_graph_makes_the_same_tool_calls(parts: tuple[ModuleType, ModuleType]) -> None:
    import asyncio

    overhead, _ = parts
    setup = overhead.overhead_setup()
    out = asyncio.run(overhead.bare_episode(setup, compile_per_episode=False))
    assert out["steps"] == setup.calls == len(setup.trajectory.steps) == 10
    out = asyncio.run(overhead.bare_episode(setup, compile_per_episode=False, async_routes=True))
    assert out["steps"] == setup.calls


def test_overhead_smallest_configuration(bench: ModuleType) -> None:
    a = bench.run_overhead(rounds=1, episodes=1, profile_episodes=1)

    assert a.rounds == 1 and a.episodes == 1 and a.calls == 10
    assert set(a.us) == set(bench.VARIANTS) and all(positive(v) for v in a.us.values())
    assert all(positive(v) for v in a.steps_per_s.values())
    for name in ("ours_over_bare", "ours_over_bare_compile", "ours_over_bare_async", "schemas_us", "world_us",
                 "env_us"):
        assert positive(getattr(a, name)), name
    assert math.isfinite(a.compile_us) and math.isfinite(a.remainder_us)  # differences: may be <= 0 when noisy
    p = a.profile
    assert p is not None and p.steps == 10 and positive(p.total_us)
    assert p.layers and all(math.isfinite(t) for _, t in p.layers)
    assert any(name.startswith("impress_sim") for name, _ in p.layers)
    assert p.ours_cumulative and p.top_self


def test_measured_run_jobs_keeps_each_step_and_restores_run_jobs(parts: tuple[ModuleType, ModuleType]) -> None:
    """The bench's wrapper of batch.run_jobs, in this process, on the offline replay (no server)."""
    import asyncio

    from impress_sim import batch
    from impress_sim.job import EpisodeJob

    plain = batch.run_episode
    jobs = EpisodeJob(world="corporate_shutdown", model="reference/misaligned").at_seeds(range(3))
    report = asyncio.run(parts[1]._measured_run_jobs(jobs, 2))

    assert batch.run_episode is plain
    assert report.jobs == 3 and report.concurrency == 2 and report.steps == [10, 10, 10] and not report.errors
    assert [len(s) for s in report.stamps] == [10, 10, 10]
    assert all(report.started <= s[0] and s == sorted(s) and s[-1] <= report.ended for s in report.stamps)
    assert report.http_requests == 0 and report.cpu_s > 0 and len(report.gc_collections) == 3


@pytest.mark.slow
def test_concurrency_smallest_configuration(bench: ModuleType) -> None:
    # Two worker processes (the multi-process path); workers=1 is the same code with one.
    b = bench.run_concurrency(ns=(2,), latency=0.05, workers=(2,), extras=False, profile_n=1)

    assert [(r.n, r.workers, r.per_worker) for r in b.runs] == [(2, 2, 1)] and b.extras == []
    assert b.largest == b.runs and b.best is b.runs[0]
    r = b.runs[0]
    assert r.steps == 20 and r.http_requests == 20 and r.latency == 0.05 and r.user_path
    assert r.gc_setup == bench.user_gc(2) == "before_import" and r.cores >= 1
    for f in fields(r):
        value = getattr(r, f.name)
        if f.name in ("gc_ms_per_step", "server_cpu_ms_per_request", "server_cores_used"):  # may round to zero
            assert isinstance(value, float) and math.isfinite(value) and value >= 0, f.name
        elif f.type in ("float", float):
            assert positive(value), f.name
    for name in ("ideal", "fraction", "steady_fraction", "max_steps_s", "cores_needed", "lockstep_fraction"):
        assert positive(getattr(r, name)), name
    assert len(r.gc_collections) == 3
    assert r.peak_sockets is None or r.peak_sockets >= 1  # None where /proc is missing
    assert b.litellm_import_s >= 0  # near zero if another test imported litellm first
    assert b.pool and b.profile is not None and b.profile.steps == 10 and positive(b.profile.total_us)

    result = bench.BenchResult(overhead=None, concurrency=b)
    tables = bench.tables(result)
    assert [len(rows) for _, _, rows in tables] == [1, 1]
    assert all(len(row) == len(header) for _, header, rows in tables for row in rows)
    assert bench.diagnosis(b)[0].startswith("Diagnosis at N=2")
    assert bench.readme_figures(result)[0] == "README figures"


def test_report_renders_both_parts(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    a = bench.run_overhead(rounds=1, episodes=1, profile_episodes=0)
    result = bench.BenchResult(overhead=a)
    tables = bench.tables(result)
    assert [len(rows) for _, _, rows in tables] == [4, 6]  # ours, bare, bare with coroutine routers, per episode
    assert all(len(row) == len(header) for _, header, rows in tables for row in rows)
    bench.render(result, plain=True)
    out = capsys.readouterr().out
    assert "README figures" in out and "bare LangGraph" in out and "coroutine routers" in out
