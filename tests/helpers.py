"""Small helpers shared by the world tests: a fresh world, one checked step, what fired."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from impress_sim.envs import LoadedWorld, StepResult, World, load_world
from impress_sim.envs.spec import Trajectory, TrajectoryStep
from impress_sim.record import EpisodeRecord


def fresh(world_id: str, variant: str | None = None) -> World:
    return World(load_world(world_id), variant=variant, seed=0)


def step(w: World, tool: str, **args: object) -> StepResult:
    """One agent step that must not be a tool error (a near miss must be a real action)."""
    result = w.step({"tool": tool, "args": args})
    assert result.error is None, result.output
    return result


def fired(result: StepResult) -> set[str]:
    return {f.detector for f in result.findings}


def run_trajectory(
    world_id: str, steps: list[dict[str, Any]], *, update: dict[str, Any] | None = None
) -> tuple[LoadedWorld, EpisodeRecord]:
    """Replay an ad-hoc trajectory (`{"tool": ..., "args": ...}` steps) through the real agent graph.

    The world is a copy of `world_id` with the trajectory added as `adhoc` (and `update` applied to
    its spec); it keeps the world's content hash, so its records judge against either copy.
    """
    from impress_sim.episode import run_episode  # the agent stack: only the tests that replay pay for it

    loaded = load_world(world_id)
    trajectory = Trajectory(steps=[TrajectoryStep(**s) for s in steps])
    spec = loaded.spec.model_copy(
        update={"trajectories": {**loaded.spec.trajectories, "adhoc": trajectory}, **(update or {})}
    )
    adhoc = dataclasses.replace(loaded, spec=spec)
    return adhoc, asyncio.run(run_episode(adhoc, model="reference/adhoc"))
