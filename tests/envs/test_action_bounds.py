"""The env never raises on an action: every case of issue 12 ("Why") and the bounds that answer it.

Each bound is tested on both sides: at the limit the action goes through, one past it the world
answers with an error observation that names the limit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from gymnasium.error import ResetNeeded

from impress_sim.envs import EpisodeEnded, LoadedWorld, State, World, load_world, parse_action
from impress_sim.envs.bounded import MAX_ACTION_CHARS, MAX_DEPTH, BoundError, check_json, load_json, nesting_depth
from impress_sim.envs.effects import ActionError
from impress_sim.envs.env import ImpressEnv, ToolCallSpace
from impress_sim.envs.parallel_env import ImpressParallelEnv
from impress_sim.envs.state import MAX_STATE_DEPTH, MAX_VALUE_CHARS, StateError
from impress_sim.envs.step import describe_action
from impress_sim.envs.tools.base import ToolDef, tool
from tests.conftest import MINI, act


def nested(depth: int, kind: str = "list", leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


def refused(world: World, action: Any) -> str:
    result = world.step(action)
    assert result.error_kind == "invalid_action", result.output
    return result.output


# ---- parsing: the cases that raised before --------------------------------------------------------


def test_deeply_nested_json_text_is_refused_before_the_decoder_recurses(world: World) -> None:
    text = '{"tool": "list_files", "args": {"path": ' + "[" * 49_000 + "]" * 49_000 + "}}"
    assert len(text) <= MAX_ACTION_CHARS
    assert f"nested more than {MAX_DEPTH} levels deep (the limit is {MAX_DEPTH})" in refused(world, text)
    assert "nested more than" in refused(world, "[" * 90_000)  # unbalanced: still no recursion


def test_an_integer_literal_past_pythons_digit_limit_is_refused(world: World) -> None:
    text = '{"tool": "list_files", "args": {"path": ' + "9" * 5_000 + "}}"
    assert "an integer of 5000 digits is too long (the limit is 100)" in refused(world, text)
    ok = world.step('{"tool": "list_files", "args": {"path": ' + "9" * 100 + "}}")
    assert ok.error_kind == "tool_error" and "path" in ok.output  # parsed; the tool wants a string


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_json_values_nested_500_deep_given_to_config_and_record_tools(kind: str) -> None:
    world = World(load_world("cloud_budget"), seed=0)
    deep = nested(500, kind)
    for action in ({"tool": "set_config", "args": {"name": "scheduler", "key": "x", "value": deep}},
                   {"tool": "update_record", "args": {"table": "gpu_requests", "row_id": "x", "fields": {"a": deep}}},
                   json.dumps({"tool": "set_config", "args": {"name": "scheduler", "key": "x", "value": nested(400)}})):
        assert "(the limit is 32)" in refused(world, action)
    text_value = "[" * 500 + "]" * 500  # set_config reads JSON text as its value: bounded too
    result = act(world, "set_config", name="scheduler", key="x", value=text_value)
    assert result.error_kind == "tool_error" and "value refused: nested more than 32 levels deep" in result.output
    result = act(world, "set_config", name="scheduler", key="x", value="9" * 5_000)
    assert result.error_kind == "tool_error" and "digits is too long" in result.output


def test_values_stacked_step_by_step_stop_at_the_state_trees_depth_bound() -> None:
    world = World(load_world("cloud_budget"), seed=0)
    chunk = nested(25, "dict", leaf="x")  # within the action's bound, every time
    first = act(world, "set_config", name="scheduler", key="deep", value=chunk)
    assert first.error_kind is None, first.output
    second = act(world, "set_config", name="scheduler", key="deep." + ".".join(["k"] * 24), value=chunk)
    assert second.error_kind == "tool_error"
    assert f"the state tree holds at most {MAX_STATE_DEPTH} levels" in second.output
    fits = act(world, "set_config", name="scheduler", key="deep." + ".".join(["k"] * 24),
               value=nested(MAX_STATE_DEPTH - 2 - 26 - 1, "dict", leaf="x"))
    assert fits.error_kind is None, fits.output  # the tree may be exactly as deep as the bound
    assert world.state.to_plain("config/scheduler")  # the tree still copies, diffs and serialises
    json.dumps(world.episode_diff())


def test_state_refuses_too_deep_and_too_large_values_with_the_limit() -> None:
    state = State({"a": {}})
    state.set(("a", "ok"), nested(MAX_STATE_DEPTH - 3), actor="x")
    with pytest.raises(StateError, match=f"holds at most {MAX_STATE_DEPTH} levels"):
        state.set(("a", "deep"), nested(MAX_STATE_DEPTH - 1), actor="x")
    with pytest.raises(StateError, match=f"the limit is {MAX_VALUE_CHARS:,}"):
        state.set(("a", "big"), "x" * (MAX_VALUE_CHARS + 1), actor="x")
    with pytest.raises(StateError, match="digits is too long"):
        state.set(("a", "n"), 10**200, actor="x")
    assert state.get("a/deep", None) is None and state.get("a/big", None) is None  # nothing half-written


# ---- any input type -------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "message"), [
    (None, "got nothing"),
    (7, "got a JSON number"),
    (float("nan"), "got a JSON number"),
    ([{"tool": "list_files"}, 3], "got a JSON array"),  # a list of call objects is a (parallel) call list now
    (True, "got a JSON boolean"),
    ({1, 2}, "got a JSON set"),
    (object(), "got a JSON object"),
    (b"\xff\xfe", "action bytes are not UTF-8 text (byte 0)"),
    ('"just a string"', "got a JSON string"),
    ("NaN", "NaN is not a JSON number"),
    ('{"tool": "list_files", "args": {"path": -Infinity}}', "-Infinity is not a JSON number"),
    ('{"tool": "list_files", "args": {"path": 1e999}}', "inf is not a JSON number"),
    ({"tool": "list_files", "args": {"path": float("inf")}}, "at args.path: inf is not a JSON number"),
    ('{"tool": "\\ud800"}', "at tool: a string holds a lone surrogate (U+D800 at character 0)"),
    ({"tool": "list_files", "args": {"path": "a\udfffb"}}, "lone surrogate (U+DFFF at character 1)"),
    ({"tool": "list_files", "args": {1: "x"}}, "at args: object keys must be strings, not int"),
    ({"tool": "list_files", "args": {"a\ud800": 1}}, "at args: a key holds a lone surrogate"),
    ('{"tool": "list_files", "args": {"\\udc00": 1}}', "at args: a key holds a lone surrogate"),
    ({"tool": "list_files", "args": {"path": b"x"}}, "at args.path: bytes is not JSON data"),
    ({"tool": "list_files", "args": {"path": 10**5_000}}, "more than 100 digits is too long"),
    ({"tool": "list_files", "args": []}, "tool arguments must be a JSON object"),
    ({"name": "list_files", "arguments": "[" * 200}, "tool arguments refused: nested more than 32"),
    ({"name": "list_files", "arguments": "{oops"}, "tool arguments are not valid JSON"),
    ("x" * (MAX_ACTION_CHARS + 1), f"{MAX_ACTION_CHARS + 1:,} characters long (the limit is {MAX_ACTION_CHARS:,})"),
    ({"tool": "write_file", "args": {"path": "a", "content": "x" * MAX_ACTION_CHARS}}, "the limit is 100,000"),
])
def test_any_value_is_an_action_answered_with_an_error_observation(world: World, action: Any, message: str) -> None:
    assert message in refused(world, action)


def test_bytes_in_utf8_are_an_action_like_their_text(world: World) -> None:
    result = world.step('{"tool": "write_file", "args": {"path": "out/é.txt", "content": "ü"}}'.encode())
    assert result.error_kind is None and world.get("hosts")  # carried out
    assert result.call is not None and result.call.args["path"] == "out/é.txt"


def test_an_action_at_the_size_limit_goes_through(world: World) -> None:
    head = '{"tool": "write_file", "args": {"path": "out/big.txt", "content": "'
    text = head + "x" * (MAX_ACTION_CHARS - len(head) - 3) + '"}}'
    assert len(text) == MAX_ACTION_CHARS
    result = world.step(text)
    assert result.error_kind is None, result.output


def test_a_valid_surrogate_pair_escape_is_one_character(world: World) -> None:
    call = parse_action('{"tool": "post", "args": {"text": "\\ud83d\\ude00"}}')
    assert call.args == {"text": "\U0001f600"}


def test_the_call_id_is_kept_only_when_it_is_text() -> None:
    assert parse_action({"tool": "a", "id": "call-1"}).call_id == "call-1"
    assert parse_action({"tool": "a", "id": {"x": 1}}).call_id is None


def test_bounded_helpers_never_recurse() -> None:
    assert nesting_depth('{"a": "[[[[[[", "b": [[1]]}', 5) == 3  # brackets in strings do not count
    assert nesting_depth('"unterminated [[[[', 2) == 0
    with pytest.raises(BoundError, match="the limit is 3"):
        nesting_depth('[{"a": [[1]]}]', 3)
    with pytest.raises(BoundError, match="nested more than"):
        check_json(nested(100_000))
    with pytest.raises(BoundError, match="characters of data"):
        check_json(list(range(MAX_ACTION_CHARS)))
    assert load_json('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert describe_action(nested(10_000)) == "(list)" and describe_action(10**5_000) == "(int)"
    assert describe_action(b"ab\xff") == "ab\ufffd" and describe_action("a\ud800") == "a?"


def test_a_malformed_deep_action_is_logged_safely_in_the_activity_feed() -> None:
    env = ImpressParallelEnv(world="code_review")
    env.reset(seed=0)
    obs, *_ = env.step({"agent": {"tool": "write_file", "args": nested(5_000, "dict")}, "reviewer": ""})
    assert obs["agent"].startswith("Error: action refused")
    obs, *_ = env.step({"agent": "", "reviewer": json.dumps(
        {"tool": "read_file", "args": {"path": "/srv/ci/agent-activity/forge.log"}})})
    assert "agent: (malformed action) (dict) [invalid_action]" in obs["reviewer"]


# ---- a bug in a tool is reported, not raised ----------------------------------------------------------


@tool("test")
def broken(ctx: Any) -> str:
    """A tool with a bug."""
    return {}["missing"]  # type: ignore[no-any-return]


def test_a_tool_that_fails_unexpectedly_gives_an_internal_error_observation(mini: LoadedWorld) -> None:
    spec: ToolDef = broken.__impress_tool__  # type: ignore[attr-defined]
    buggy = dataclasses.replace(mini, tools={**mini.tools, "broken": spec})
    world = World(buggy, seed=0)
    result = world.step({"tool": "broken"})
    assert result.error_kind == "internal_error"
    assert result.output.startswith("internal error in tool broken: KeyError: 'missing'")
    assert world.calls() == 1 and not world.ended()  # counted like any step; the world goes on
    assert world.step({"tool": "list_files"}).error_kind is None


# ---- regular expressions the agent writes -------------------------------------------------------------


def test_a_catastrophic_search_pattern_is_a_tool_error_not_a_hang(world: World) -> None:
    """Refused before it runs, like grep's: the same answer on every machine (no clock involved)."""
    assert act(world, "write_file", path="bomb.txt", content="a" * 64 + "!").error_kind is None
    result = act(world, "search_files", pattern="(a|aa)+$", path=".")
    assert result.error_kind == "tool_error" and "pattern refused" in result.output
    assert act(world, "search_files", pattern="[[[", path=".").output.startswith("invalid pattern")
    found = act(world, "search_files", pattern="A{64}!", path=".")  # case-insensitive, as before
    assert found.error_kind is None and "bomb.txt:1:" in found.output


# ---- the Gymnasium env ---------------------------------------------------------------------------------


def test_the_action_space_states_what_step_accepts() -> None:
    env = ImpressEnv(world=MINI)
    space = env.action_space
    assert isinstance(space, ToolCallSpace) and space.max_length == MAX_ACTION_CHARS
    assert space.contains('{"tool": "list_files"}') and space.contains({"tool": "list_files", "args": {}})
    assert space.contains("emoji \U0001f600 and \r are text too")
    assert not space.contains("x" * (MAX_ACTION_CHARS + 1)) and not space.contains("\ud800")
    assert not space.contains({"tool": "a", "args": nested(100)}) and not space.contains(7)
    assert space.contains(space.sample())


def test_step_before_reset_raises_gymnasiums_reset_needed() -> None:
    env = ImpressEnv(world=MINI)
    with pytest.raises(ResetNeeded, match=r"call reset\(\) before step\(\)"):
        env.step({"tool": "list_files"})
    with pytest.raises(RuntimeError):  # as before: it is also a RuntimeError
        ImpressParallelEnv(world=MINI).step({})


def test_a_step_after_the_end_answers_with_an_observation_and_changes_nothing() -> None:
    env = ImpressEnv(world=MINI)
    env.reset(seed=0)
    *_, terminated, truncated, info = env.step({"tool": "finish", "args": {}})
    assert terminated and not truncated
    assert env.world is not None
    before = env.world.state.mark()
    obs, reward, terminated, truncated, info = env.step({"tool": "write_file", "args": {"path": "x", "content": "y"}})
    assert obs.startswith("Error: the episode has ended (finish); call reset()")
    assert (reward, terminated, truncated) == (0.0, True, False)
    assert info["error_kind"] == "episode_ended" and info["ended_by"] == "finish" and info["diff"] == []
    assert env.world.state.mark() == before  # nothing happened
    env.reset(seed=0)
    assert env.step({"tool": "list_files"})[4]["error_kind"] is None


def test_a_step_after_truncation_says_truncated_again() -> None:
    env = ImpressEnv(world=MINI)
    env.reset(seed=0)
    assert env.world is not None
    for _ in range(env.world.max_tool_calls):
        *_, truncated, _info = env.step({"tool": "list_files"})
    assert truncated
    obs, _, terminated, truncated, info = env.step(None)
    assert obs.startswith("Error: the episode has ended (step_limit)")
    assert (terminated, truncated, info["ended_by"]) == (False, True, "step_limit")


def test_the_world_itself_raises_episode_ended_after_the_end(world: World) -> None:
    world.step({"tool": "finish"})
    with pytest.raises(EpisodeEnded, match=r"the episode has ended for agent \(finish\)"):
        world.step({"tool": "list_files"})
    with pytest.raises(EpisodeEnded):
        asyncio.run(world.astep({"tool": "list_files"}))


# ---- the PettingZoo env -----------------------------------------------------------------------------


@pytest.mark.parametrize("actions", ['{"tool": "list_files"}', None, [1, 2], 3, b"x"])
def test_a_parallel_step_given_no_dict_answers_every_role(actions: Any) -> None:
    env = ImpressParallelEnv(world="code_review")
    env.reset(seed=0)
    obs, _rewards, _term, _trunc, infos = env.step(actions)
    assert set(obs) == {"agent", "reviewer"}
    for role in obs:
        assert obs[role].startswith("Error: a PettingZoo step takes a dict {agent: action}, got ")
        assert infos[role]["error_kind"] == "invalid_action"


def test_parallel_steps_after_every_role_ended_return_nothing_and_never_raise() -> None:
    env = ImpressParallelEnv(world="code_review")
    env.reset(seed=0)
    env.step({"agent": {"tool": "finish"}, "reviewer": {"tool": "finish"}})
    assert env.agents == []
    assert env.step({"agent": {"tool": "list_files"}}) == ({}, {}, {}, {}, {})
    assert env.step({}) == ({}, {}, {}, {}, {})


@pytest.mark.parametrize("action", [b"", b"  ", {"tool": "wait", "args": b"x"}, {"tool": ["wait"]}])
def test_is_wait_takes_any_value(action: Any) -> None:
    env = ImpressParallelEnv(world="code_review")
    env.reset(seed=0)
    obs, *_ = env.step({"agent": action})
    assert isinstance(obs["agent"], str)


def test_parse_action_raises_only_action_errors() -> None:
    for action in (None, 1, [], nested(10_000), "{" * 10_000, 10**5_000, {"tool": nested(40, "dict")}):
        with pytest.raises(ActionError):
            parse_action(action)
