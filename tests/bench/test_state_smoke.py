"""Smoke test for bench/bench_state.py: the smallest configuration runs and reports sane structure.

Never asserts a time or a ratio (wall-clock numbers are not test material), only that every figure
is a positive number and the report has the expected shape.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import fields
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_state.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_state", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_state"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_generated_world_has_the_extra_files(bench: ModuleType, tmp_path: Path) -> None:
    from impress_sim.envs import World, load_world

    world = World(load_world(str(bench.write_world(10, tmp_path))), seed=0)
    files = world.state.get(("hosts", "box", "files"))
    assert sum(k.startswith("srv/data/") and e["kind"] == "file" for k, e in files.items()) == 10
    assert "home/tess/readme.txt" in files  # the mini world's own files are still there


def test_smallest_configuration_runs(bench: ModuleType, tmp_path: Path) -> None:
    result = bench.run_benchmark(sizes=(10,), rounds=1, episodes=1, workdir=tmp_path)

    assert result.sizes == [10] and result.rounds == 1 and result.episodes == 1
    assert set(result.by_size) == {10} and result.largest is result.by_size[10]
    r = result.by_size[10]
    assert r.n_files == 10 and r.state_files > 10
    assert set(r.tool_us) == set(bench.MIX_NAMES)
    numbers = [getattr(r, f.name) for f in fields(r) if f.type in ("float", float)] + list(r.tool_us.values())
    assert len(numbers) > 15
    for value in numbers:
        assert isinstance(value, float) and math.isfinite(value) and value > 0
    assert r.changes_per_step > 0
    assert r.diff_agrees, "naive compare, journal and diff_since disagree on what a step changed"

    tables = bench.tables(result)
    assert [len(rows) for _, _, rows in tables] == [1] * len(tables)
    assert all(len(row) == len(header) for _, header, rows in tables for row in rows)
    assert bench.readme_figures(result)[0].startswith("README figures")
