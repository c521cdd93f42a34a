"""The world is the one owner of termination: the budget is passed in, the world decides whether
a step terminated (an end state) or truncated (the budget ran out), per role, and the sessions, the
turn baton and the envs ask it (`World.ended`). Also the step's names and its one record conversion."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from impress_sim.agents.session import EpisodeSession, TurnBaton
from impress_sim.envs import AGENT, LoadedWorld, World, load_world
from impress_sim.envs.env import ImpressEnv
from impress_sim.envs.parallel_env import ImpressParallelEnv
from impress_sim.record import StepRecord
from tests.conftest import act

CODE_REVIEW = load_world("code_review")
FINISH = {"tool": "finish", "args": {}}
LIST = {"tool": "list_files", "args": {}}


def with_deadline_after_one_step(loaded: LoadedWorld) -> LoadedWorld:
    spec = loaded.spec
    clock = spec.initial_state.clock
    deadline = clock.start + timedelta(minutes=clock.minutes_per_step)
    limits = spec.limits.model_copy(update={"deadline": deadline})
    return dataclasses.replace(loaded, spec=spec.model_copy(update={"limits": limits}))


@pytest.mark.parametrize("extra", [-8, 2])  # below and above the world's own limit
def test_the_budget_is_passed_in_and_the_world_truncates(mini: LoadedWorld, extra: int) -> None:
    budget = mini.spec.limits.max_tool_calls + extra
    world = World(mini, seed=0, max_tool_calls=budget)
    results = [act(world, "list_files") for _ in range(budget)]
    assert [r.truncated for r in results] == [False] * (budget - 1) + [True]
    assert not any(r.terminated for r in results) and results[-1].ended_by is None
    assert world.ended() and world.ended_by() == "step_limit" and world.calls() == budget
    with pytest.raises(RuntimeError, match="episode has ended"):
        act(world, "list_files")


def test_the_default_budget_is_the_worlds_limit(mini: LoadedWorld) -> None:
    world = World(mini, seed=0)
    assert world.max_tool_calls == mini.spec.limits.max_tool_calls
    assert EpisodeSession(world).max_tool_calls == world.max_tool_calls


def test_finish_on_the_last_call_terminates_rather_than_truncates(mini: LoadedWorld) -> None:
    world = World(mini, seed=0, max_tool_calls=1)
    result = world.step(FINISH)
    assert (result.terminated, result.truncated, result.ended_by) == (True, False, "finish")
    assert world.ended_by() == "finish"


def test_a_failed_finish_does_not_end_the_episode(mini: LoadedWorld) -> None:
    world = World(mini, seed=0)
    result = world.step({"tool": "finish", "args": {"no_such_argument": 1}})
    assert result.error_kind is not None and not result.terminated and not world.ended()


def test_finish_ends_one_role_an_end_state_ends_every_role() -> None:
    world = World(CODE_REVIEW, seed=0)
    done = world.step(FINISH, role="reviewer")
    assert done.terminated and world.ended("reviewer") and not world.ended(AGENT)
    with pytest.raises(RuntimeError, match="episode has ended"):
        world.step(LIST, role="reviewer")
    assert not world.step(LIST).terminated  # the primary goes on

    late = World(with_deadline_after_one_step(CODE_REVIEW), seed=0)
    over = late.step(LIST)
    assert over.terminated and over.ended_by == "deadline"
    assert [late.ended_by(r) for r in late.roles] == ["deadline", "deadline"]


def test_waiting_out_the_budget_ends_a_role_like_acting_it_out() -> None:
    world = World(CODE_REVIEW, seed=0, max_tool_calls=2)
    assert world.wait("reviewer") == [] and not world.ended("reviewer")
    world.wait("reviewer")
    assert world.ended_by("reviewer") == "step_limit" and not world.ended(AGENT)
    assert world.calls("reviewer") == 0  # waiting is not a tool call


def test_the_parallel_env_reads_each_roles_end_from_the_world() -> None:
    env = ImpressParallelEnv(world="code_review")
    env.reset(seed=0)
    _, _, terms, truncs, _ = env.step({"agent": "", "reviewer": '{"tool": "finish", "args": {}}'})
    assert terms == {"agent": False, "reviewer": True} and truncs == {"agent": False, "reviewer": False}
    assert env.agents == [AGENT]


def test_sessions_and_the_baton_ask_the_world() -> None:
    world = World(CODE_REVIEW, seed=0, max_tool_calls=1)
    baton = TurnBaton(world)
    agent = EpisodeSession(world, baton=baton)
    reviewer = EpisodeSession(world, role="reviewer", baton=baton)
    assert (agent.budget_left, agent.ended) == (1, False)

    async def play() -> None:
        async with agent.turn():
            await agent.act("list_files", {})
        assert agent.ended and agent.budget_left == 0 and agent.last is not None and agent.last.truncated
        assert baton.holder == "reviewer" and not baton.others_active("reviewer")
        assert (await agent.act("list_files", {})).startswith("Error: the episode has ended")
        async with reviewer.turn():
            await reviewer.act("finish", {})
        assert reviewer.ended and baton.holder is None

    asyncio.run(play())
    assert [len(s.steps) for s in (agent, reviewer)] == [1, 1]


def test_a_role_waiting_for_its_turn_wakes_when_the_world_ends_for_it() -> None:
    """The baton skips roles the world ended, but wakes them: an agent already waiting for its turn
    finds its episode over instead of waiting forever."""
    world = World(with_deadline_after_one_step(CODE_REVIEW), seed=0)
    baton = TurnBaton(world)
    agent = EpisodeSession(world, baton=baton)
    reviewer = EpisodeSession(world, role="reviewer", baton=baton)

    async def play() -> str:
        async def reviewer_turn() -> str:
            async with reviewer.turn():
                return await reviewer.act("list_files", {})

        waiting = asyncio.create_task(reviewer_turn())
        await asyncio.sleep(0)
        async with agent.turn():
            await agent.act("list_files", {})  # the deadline passes: the world ends for every role
        return await asyncio.wait_for(waiting, 5)

    assert asyncio.run(play()).startswith("Error: the episode has ended")
    assert baton.holder is None and reviewer.steps == []


def test_reset_seed_and_run_seed_give_the_world_the_same_seed() -> None:
    """`reset(seed=s)` builds the episode `run seed=s` builds: World(seed=s) (which also seeds the
    NPCs' model; tests/test_llm_npcs.py checks the requests). Without a seed, reset draws one from
    the env's generator, reproducibly after a seeded reset."""
    env, again = ImpressEnv(world="corporate_shutdown"), ImpressEnv(world="corporate_shutdown")
    env.reset(seed=7)
    assert env.world is not None and env.world.seed == 7
    env.reset()
    again.reset(seed=7)
    again.reset()
    assert env.world.seed == again.world.seed  # type: ignore[union-attr]
    parallel = ImpressParallelEnv(world="code_review")
    parallel.reset(seed=7)
    assert parallel.world is not None and parallel.world.seed == 7


def test_first_time_says_what_it_returns(world: World) -> None:
    snap = world.snapshot()
    assert world.first_time("boss", "rule-0") is True
    assert world.first_time("boss", "rule-0") is False
    world.restore(snap)  # remembered in state: a restore forgets it
    assert world.first_time("boss", "rule-0") is True


def test_a_step_record_is_made_in_one_place_and_old_records_still_load(world: World) -> None:
    result = world.step('{"tool": "read_file", "args": {"path": 1}}')
    record = StepRecord.from_result(result, tool="read_file", args='{"path": 1}', call_id="c1", thought="hm")
    assert record.error_kind == result.error_kind == "tool_error"
    assert record.args == {"_raw": '{"path": 1}'} and record.observation.startswith("Error:")
    assert (record.index, record.call_id, record.thought) == (1, "c1", "hm")
    data = record.model_dump(mode="json")
    assert "error" not in data
    data["error"] = data.pop("error_kind")  # a record written before the rename
    assert StepRecord.model_validate(data).error_kind == "tool_error"
    assert result.info()["error_kind"] == "tool_error"
