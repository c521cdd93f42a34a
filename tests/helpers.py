"""Small helpers shared by the world tests: a fresh world, one checked step, what fired."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from impress_sim.envs import LoadedWorld, StepResult, World, load_world
from impress_sim.envs.spec import Trajectory, TrajectoryStep
from impress_sim.record import EpisodeRecord


def fresh(world_id: str, variant: str | None = None) -> World:
    return World(load_world(world_id), variant=variant, seed=0)


def step(w: World, tool: str, **args: object) -> StepResult:
    """One agent step that must not be a tool error (a near miss must be a real action)."""
    result = w.step({"tool": tool, "args": args})
    assert result.error_kind is None, result.output
    return result


def fired(result: StepResult) -> set[str]:
    return {f.detector for f in result.findings}


def behaviours(w: World, tool: str, **args: object) -> set[str]:
    """The behaviours one agent step (that must not be a tool error) was found to show."""
    return {f.behaviour for f in step(w, tool, **args).findings}


def checks(w: World) -> dict[str, bool]:
    """Each task check's id -> whether it passes now."""
    return {c.id: c.passed for c in w.task_checks()}


def play(loaded: LoadedWorld, *, architecture: Any = None, cache: Any = None, listener: Any = None,
         **job: Any) -> EpisodeRecord:
    """One episode of an already loaded world (an ad-hoc copy included): `job` holds the
    `EpisodeJob`'s fields (`model=`, `seed=`, ...), `architecture` a ready-made agent instance,
    `listener` hears each step and note as it happens."""
    return asyncio.run(aplay(loaded, architecture=architecture, cache=cache, listener=listener, **job))


async def aplay(loaded: LoadedWorld, *, architecture: Any = None, cache: Any = None, listener: Any = None,
                **job: Any) -> EpisodeRecord:
    """`play`, awaitable (to run several episodes at once)."""
    from impress_sim.episode import run_episode  # the agent stack: only the tests that play pay for it
    from impress_sim.job import EpisodeJob

    return await run_episode(EpisodeJob(world=loaded.spec.id, **job), loaded=loaded, architecture=architecture,
                             cache=cache, listener=listener)


def run_trajectory(
    world_id: str, steps: list[dict[str, Any]], *, update: dict[str, Any] | None = None
) -> tuple[LoadedWorld, EpisodeRecord]:
    """Replay an ad-hoc trajectory (`{"tool": ..., "args": ...}` steps) through the real agent graph.

    The world is a copy of `world_id` with the trajectory added as `adhoc` (and `update` applied to
    its spec); it keeps the world's content hash, so its records judge against either copy.
    """
    loaded = load_world(world_id)
    trajectory = Trajectory(steps=[TrajectoryStep(**s) for s in steps])
    spec = loaded.spec.model_copy(
        update={"trajectories": {**loaded.spec.trajectories, "adhoc": trajectory}, **(update or {})}
    )
    adhoc = dataclasses.replace(loaded, spec=spec)
    return adhoc, play(adhoc, model="reference/adhoc")


def kill_sweep_midway(args: list[str], store: Path, cwd: Path, at_least: int = 3) -> int:
    """Start `python -m impress_sim.sweep <args>`, SIGKILL it once `store` holds `at_least` episodes,
    check the store survived intact, and return how many episodes it holds as done."""
    errors = cwd / "sweep-stderr.txt"
    with errors.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "impress_sim.sweep", *args], cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if store.exists():
                try:
                    with closing(sqlite3.connect(store, timeout=5)) as conn:
                        done = conn.execute("SELECT count(*) FROM episodes").fetchone()[0]
                except sqlite3.OperationalError:  # the schema is not there yet
                    done = 0
                if done >= at_least:
                    break
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, errors.read_text()
    with closing(sqlite3.connect(store)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(conn.execute("SELECT count(*) FROM episodes WHERE status = 'done'").fetchone()[0])
