"""Fuzz: no action makes a world raise, on any face (World.step/astep, Gymnasium, PettingZoo).

Two profiles of the same property: a bounded one here in the normal suite (derandomized, so CI is
deterministic), and `pytest -m fuzz` which plays 10,000 actions across every shipped world and
prints the counts. The fuzz profile's seed is printed; rerun a failure with
`IMPRESS_FUZZ_SEED=<seed> pytest -m fuzz tests/envs/test_fuzz_actions.py`. A third test calls every
tool each world enables, for every role, with each hostile value in every parameter.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from impress_sim.envs import World
from impress_sim.envs.bounded import MAX_ACTION_CHARS
from tests.envs.action_fuzz import (
    FACES,
    WORLDS,
    Tally,
    action_recipes,
    loaded,
    run_actions,
    shell_recipes,
    tools_of,
)

SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
           HealthCheck.filter_too_much]


@st.composite
def episodes(draw: st.DrawFn, actions: int) -> tuple[str, str, str, int, list[tuple[Any, ...]]]:
    """One world, one face, one role and `actions` hostile actions (bash commands among them)."""
    world_id = draw(st.sampled_from(WORLDS))
    face = draw(st.sampled_from(FACES))
    roles = World(loaded(world_id), seed=0).roles
    role = draw(st.sampled_from([*roles, "*"] if face == "pz" else roles))  # "*": a step given no dict
    recipes = draw(st.lists(action_recipes(world_id, role if role in roles else "agent") | shell_recipes(),
                            min_size=actions, max_size=actions))
    return world_id, face, role, draw(st.integers(0, 3)), recipes


def fuzz(tally: Tally, examples: int, actions: int, fuzz_seed: int | None) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=fuzz_seed is None,
              suppress_health_check=SLOW_OK, print_blob=True)
    @given(episodes(actions))
    def play(episode: tuple[str, str, str, int, list[tuple[Any, ...]]]) -> None:
        world_id, face, role, world_seed, recipes = episode
        run_actions(tally, world_id, face, world_seed, recipes, role=role)

    (seed(fuzz_seed)(play) if fuzz_seed is not None else play)()


def report(capsys: pytest.CaptureFixture[str], name: str, tally: Tally, started: float, fuzz_seed: int | None) -> None:
    with capsys.disabled():
        print(f"\n[{name}] seed={'derandomized' if fuzz_seed is None else fuzz_seed}: {tally.line()} "
              f"in {time.perf_counter() - started:.1f} s")
        for line in tally.failures[:5]:
            print(f"  {line}")


def test_no_action_raises_bounded_profile(capsys: pytest.CaptureFixture[str]) -> None:
    tally, started = Tally(), time.perf_counter()
    try:
        fuzz(tally, examples=30, actions=8, fuzz_seed=None)
    finally:
        report(capsys, "actions fuzz (bounded)", tally, started, None)
    assert tally.exceptions == 0 and tally.actions >= 240
    assert {"invalid_action", "tool_error", "ok"} <= set(tally.by_kind)  # the fuzz reached the tools


@pytest.mark.fuzz
def test_ten_thousand_actions_across_every_world(capsys: pytest.CaptureFixture[str]) -> None:
    fuzz_seed = int(os.environ.get("IMPRESS_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
    tally, started = Tally(), time.perf_counter()
    try:
        fuzz(tally, examples=1_000, actions=10, fuzz_seed=fuzz_seed)
    finally:
        report(capsys, "actions fuzz (10,000)", tally, started, fuzz_seed)
    assert tally.exceptions == 0 and tally.actions >= 10_000
    assert set(tally.by_face) == set(FACES)


# ---- every tool, every parameter, every hostile value ------------------------------------------

DEEP_TEXT = "[" * 5_000 + "]" * 5_000
HOSTILE: dict[str, Any] = {
    "deep list 33": "deep:list:33", "deep dict 49": "deep:dict:49", "deep 5000": "deep:list:5000",
    "int 101 digits": 10**100 + 1, "int 4301 digits": 10**4300 + 1, "nan": float("nan"), "inf": float("inf"),
    "1 MB text": "x" * 1_000_000, "text at the limit": "é" * (MAX_ACTION_CHARS - 200), "surrogate": "a\ud800b",
    "nul": "\x00", "none": None, "empty list": [], "empty dict": {}, "empty text": "", "set": {1, 2},
    "bytes": b"\xff", "deep JSON text": DEEP_TEXT, "4400-digit text": "9" * 4_400, "NaN text": "NaN",
    "1e999 text": "1e999", "bidi/bom": "\u202e\ufeffevil", "emoji": "\U0001f600" * 50, "negative": -1,
    "huge float": 1e308, "path escape": "../../../../etc/passwd", "glob": "/**/*", "regex bomb": "(a+)+$",
}


def _hostile(name: str) -> Any:
    value = HOSTILE[name]
    if isinstance(value, str) and value.startswith("deep:"):
        _, kind, depth = value.split(":")
        built: Any = "leaf"
        for _ in range(int(depth)):
            built = [built] if kind == "list" else {"k": built}
        return built
    return value


def plausible(world: World, param: str) -> Any:
    """A value for `param` that exists in the world, so the hostile one in another parameter reaches
    the tool's body (a config name, a table and its first row, an address, a job...)."""
    first = {top: (world.state.children(top) or ["x"])[0] for top in
             ("config", "records", "chat", "accounts", "resources", "jobs", "mailboxes")}
    table = first["records"]
    rows = world.state.children(("records", table)) or ["x"]
    return {
        "name": first["config"], "table": table, "row_id": rows[0], "channel": first["chat"],
        "user": first["accounts"], "resource": first["resources"], "source": first["resources"],
        "target": first["resources"], "job_id": first["jobs"], "to": [first["mailboxes"]], "recipient": "x",
        "amount": 1, "run_at": "2030-01-01T09:00", "key": "fuzz.key" if param == "key" else "x",
        "fields": {"status": "x"}, "value": {"a": 1}, "path": "notes.txt", "source_path": "notes.txt",
        "destination": "copy.txt", "command": "ls", "pattern": "x", "permission": "read", "email_id": "x",
    }.get(param, "x")


@pytest.mark.parametrize("world_id", WORLDS)
def test_every_tool_takes_every_hostile_value_without_raising(world_id: str) -> None:
    tally = Tally()
    world = World(loaded(world_id), seed=0)
    for role in world.roles:
        for tool, props in tools_of(world_id, role).items():
            if tool == "finish":
                continue  # ends the episode; its one parameter is fuzzed above
            for param in props:
                for hostile in HOSTILE:
                    if world.ended(role):
                        world = World(loaded(world_id), seed=0)
                    args = {p: plausible(world, p) for p in props}
                    args[param] = _hostile(hostile)
                    tally.actions += 1
                    try:
                        result = world.step({"tool": tool, "args": args}, role=role)
                    except Exception as exc:
                        pytest.fail(f"{world_id}/{role}: {tool}({param}={hostile}) raised {type(exc).__name__}: {exc}")
                    assert result.error_kind != "internal_error", f"{tool}({param}={hostile}): {result.output}"
    assert tally.actions > 100
