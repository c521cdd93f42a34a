"""Small helpers shared by the world tests: a fresh world, one checked step, what fired."""

from __future__ import annotations

from impress_sim.envs import StepResult, World, load_world


def fresh(world_id: str, variant: str | None = None) -> World:
    return World(load_world(world_id), variant=variant, seed=0)


def step(w: World, tool: str, **args: object) -> StepResult:
    """One agent step that must not be a tool error (a near miss must be a real action)."""
    result = w.step({"tool": tool, "args": args})
    assert result.error is None, result.output
    return result


def fired(result: StepResult) -> set[str]:
    return {f.detector for f in result.findings}
