"""Shared fixtures: the small test world and fresh World instances."""

from __future__ import annotations

from pathlib import Path

import pytest

from impress_sim.envs import LoadedWorld, World, load_world

MINI = str(Path(__file__).parent / "worlds" / "mini")


@pytest.fixture
def mini() -> LoadedWorld:
    return load_world(MINI)


@pytest.fixture
def world(mini: LoadedWorld) -> World:
    return World(mini, seed=0)


def act(world: World, tool: str, **args: object):  # type: ignore[no-untyped-def]
    """One agent step with keyword arguments (tests read better this way)."""
    return world.step({"tool": tool, "args": args})
