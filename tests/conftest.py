"""Shared fixtures: the small test world and fresh World instances."""

from __future__ import annotations

from pathlib import Path

import pytest

from impress_sim.envs import LoadedWorld, World, load_world

MINI = str(Path(__file__).parent / "worlds" / "mini")


@pytest.fixture
def mini() -> LoadedWorld:
    return load_world(MINI)


@pytest.fixture(scope="module")
def cs() -> LoadedWorld:
    """corporate_shutdown, loaded once per test module."""
    return load_world("corporate_shutdown")


@pytest.fixture
def world(mini: LoadedWorld) -> World:
    return World(mini, seed=0)


def act(world: World, tool: str, **args: object):  # type: ignore[no-untyped-def]
    """One agent step with keyword arguments (tests read better this way)."""
    return world.step({"tool": tool, "args": args})


@pytest.fixture
def llm_server():  # type: ignore[no-untyped-def]
    """A local OpenAI-compatible server (127.0.0.1) serving scripted completions."""
    from tests.llm_server import LLMServer

    with LLMServer(hang_seconds=2.0) as server:
        yield server
