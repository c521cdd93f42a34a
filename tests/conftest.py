"""Shared fixtures: the small test world and fresh World instances."""

from __future__ import annotations

from pathlib import Path

import pytest

from impress_sim.envs import LoadedWorld, World, load_world


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.fuzz` tests (the long fuzz profiles) run only when asked for: `pytest -m fuzz`."""
    expr = str(config.getoption("markexpr") or "")
    if "fuzz" in expr and "not fuzz" not in expr:
        return
    skip = pytest.mark.skip(reason="long fuzz profile: run it with pytest -m fuzz")
    for item in items:
        if "fuzz" in item.keywords:
            item.add_marker(skip)


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


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's path for the browser tests (tests/browser.py): skips without a browser or Playwright,
    fails instead under IMPRESS_REQUIRE_BROWSER=1."""
    from tests.browser import require_chromium

    return require_chromium()
