"""Every tool-call format `envs/toolcalls.py` reads, one test each, and a fuzz: parsing never raises
anything but `ActionError`, and the text env refuses parallel calls as a whole with a message naming them."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impress_sim.envs.effects import ActionError
from impress_sim.envs.env import ImpressEnv
from impress_sim.envs.step import ToolCall, parse_action
from impress_sim.envs.toolcalls import MAX_CALLS, extract_calls
from tests.conftest import MINI

OPENAI_CALL = {"id": "call_7", "type": "function",
               "function": {"name": "read_file", "arguments": '{"path": "a.md"}'}}
WANT = ToolCall("read_file", {"path": "a.md"}, "call_7")


def test_our_shape_as_dict_text_and_bytes() -> None:
    for action in ({"tool": "read_file", "args": {"path": "a.md"}}, '{"tool": "read_file", "args": {"path": "a.md"}}',
                   b'{"tool": "read_file", "args": {"path": "a.md"}}'):
        assert parse_action(action) == ToolCall("read_file", {"path": "a.md"})


def test_flat_openai_function_with_string_arguments() -> None:
    flat = {"name": "read_file", "arguments": '{"path": "a.md"}'}
    assert parse_action(flat) == ToolCall("read_file", {"path": "a.md"})


def test_full_openai_tool_call_object() -> None:
    assert parse_action(OPENAI_CALL) == WANT
    assert parse_action(json.dumps(OPENAI_CALL)) == WANT


def test_openai_assistant_message_with_tool_calls() -> None:
    message = {"role": "assistant", "content": "Let me look.", "tool_calls": [OPENAI_CALL]}
    assert parse_action(message) == WANT
    assert extract_calls({"role": "assistant", "content": "All done.", "tool_calls": []}) == []


def test_anthropic_tool_use_block_and_message() -> None:
    block = {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a.md"}}
    assert parse_action(block) == ToolCall("read_file", {"path": "a.md"}, "toolu_1")
    message = {"role": "assistant", "content": [{"type": "text", "text": "Reading it."}, block]}
    assert parse_action(message) == ToolCall("read_file", {"path": "a.md"}, "toolu_1")
    assert parse_action([block]) == ToolCall("read_file", {"path": "a.md"}, "toolu_1")


def test_hermes_qwen_tool_call_tags() -> None:
    text = 'I will read it.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.md"}}\n</tool_call>'
    assert parse_action(text) == ToolCall("read_file", {"path": "a.md"})
    unclosed = '<tool_call>{"name": "read_file", "arguments": {"path": "a.md"}}'
    assert parse_action(unclosed) == ToolCall("read_file", {"path": "a.md"})
    with pytest.raises(ActionError, match="tag's content is not valid JSON"):
        parse_action("<tool_call>{oops</tool_call>")


def test_bare_json_and_json_in_prose() -> None:
    call = ToolCall("read_file", {"path": "a.md"})
    assert parse_action('  {"tool": "read_file", "args": {"path": "a.md"}}\n') == call
    assert parse_action('Sure, reading: {"tool": "read_file", "args": {"path": "a.md"}}') == call
    assert parse_action('{"tool": "read_file", "args": {"path": "a.md"}} -- that should show it.') == call
    assert parse_action('Action: ```json\n{"name": "read_file", "arguments": {"path": "a.md"}}\n```') == call
    assert parse_action('I think {braces} are fine. {"tool": "read_file", "args": {"path": "a.md"}}') == call


def test_text_without_a_call_and_non_objects_are_errors() -> None:
    with pytest.raises(ActionError, match="no tool call found"):
        parse_action("I am done, thanks.")
    with pytest.raises(ActionError, match="not valid JSON"):
        parse_action("{")
    with pytest.raises(ActionError, match="JSON object"):
        parse_action("[1]")
    with pytest.raises(ActionError, match="needs a tool name"):
        parse_action({"type": "tool_use", "id": "x", "input": {}})


def test_parallel_calls_are_refused_as_a_whole_naming_them() -> None:
    two = {"role": "assistant", "tool_calls": [OPENAI_CALL, {**OPENAI_CALL, "function": {"name": "list_files",
                                                                                         "arguments": "{}"}}]}
    for action in (two, '<tool_call>{"name": "a"}</tool_call><tool_call>{"name": "b"}</tool_call>',
                   [{"tool": "a"}, {"tool": "b"}]):
        with pytest.raises(ActionError, match=r"2 tool calls in one action \((read_file, list_files|a, b)\); none"):
            parse_action(action)
    assert [c.name for c in extract_calls(two)] == ["read_file", "list_files"]
    with pytest.raises(ActionError, match=f"the limit is {MAX_CALLS}"):
        extract_calls([{"tool": "a"}] * (MAX_CALLS + 1))


def test_the_text_env_carries_out_none_of_a_parallel_message() -> None:
    env = ImpressEnv(world=MINI)
    env.reset(seed=0)
    before = env.world.episode_diff() if env.world else None
    obs, _r, _t, _u, info = env.step({"role": "assistant", "tool_calls": [OPENAI_CALL, OPENAI_CALL]})
    assert info["error_kind"] == "invalid_action" and "2 tool calls in one action (read_file, read_file)" in obs
    assert env.world is not None and env.world.episode_diff() == before


def test_formats_reach_the_world_through_the_env() -> None:
    env = ImpressEnv(world=MINI)
    env.reset(seed=0)
    tool = env.world.tool_schemas()[0]["name"] if env.world else ""
    for action in ({"type": "tool_use", "id": "t", "name": tool, "input": {}},
                   f'<tool_call>{{"name": "{tool}", "arguments": {{}}}}</tool_call>',
                   {"id": "c", "type": "function", "function": {"name": tool, "arguments": "{}"}}):
        _obs, _r, _t, _u, info = env.step(action)
        assert info["tool"] == tool and info["error_kind"] != "invalid_action", info


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
                    max_leaves=20)
KEYS = st.sampled_from(["tool", "name", "args", "arguments", "input", "id", "type", "function", "role", "content",
                        "tool_calls", "text", "parameters"])
SHAPED = st.recursive(JSON, lambda kids: st.dictionaries(KEYS, kids, max_size=5) | st.lists(kids, max_size=3),
                      max_leaves=25)


def _texts(value: Any) -> st.SearchStrategy[str]:
    dumped = json.dumps(value)
    return st.sampled_from([dumped, f"<tool_call>{dumped}</tool_call>", f"prose {dumped} more", f"<tool_call>{dumped}",
                            f"```json\n{dumped}\n```", dumped[: len(dumped) // 2], "{" + dumped])


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(SHAPED, st.text(), st.binary(), SHAPED.flatmap(_texts)))
def test_fuzz_parse_raises_only_action_error(action: Any) -> None:
    try:
        calls = extract_calls(action)
    except ActionError:
        return
    assert all(isinstance(c, ToolCall) and isinstance(c.name, str) and isinstance(c.args, dict) for c in calls)
    with contextlib.suppress(ActionError):
        parse_action(action)
