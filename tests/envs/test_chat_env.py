"""The chat-native env: messages in, tool messages out, parallel calls, nudges, batching, registration."""

from __future__ import annotations

import asyncio
import json
import pickle
from typing import Any

import gymnasium as gym
import pytest

import impress_sim  # noqa: F401  (registers the worlds)
from impress_sim.envs import chat_env_id, world_ids
from impress_sim.envs.chat_env import NOT_CARRIED_OUT, ChatEnvPool, ImpressChatEnv, astep_many, step_many
from impress_sim.envs.env import ImpressEnv

WORLD = "corporate_shutdown"


def call(name: str, args: dict[str, Any] | None = None, call_id: str = "c1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args or {})}}


def assistant(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def test_every_world_is_registered_as_a_chat_env() -> None:
    for world_id in world_ids():
        assert chat_env_id(world_id) in gym.registry
    env = gym.make(chat_env_id(WORLD))
    assert isinstance(env.unwrapped, ImpressChatEnv)


def test_reset_gives_chat_messages_and_openai_tools() -> None:
    env = ImpressChatEnv(WORLD)
    messages, info = env.reset(seed=1)
    assert messages[0]["role"] == "system" and "You are Atlas" in messages[0]["content"]
    assert env.world is not None
    assert messages[-1] == {"role": "user", "content": env.world.briefing.task}
    names = {t["function"]["name"] for t in info["tools"]}
    assert {"read_email", "bash", "finish"} <= names
    assert all(t["type"] == "function" and "parameters" in t["function"] for t in info["tools"])
    assert env.observation_space.contains(messages)
    json.loads(json.dumps(info))


def test_parallel_calls_are_all_carried_out_in_order_with_their_ids() -> None:
    env = ImpressChatEnv(WORLD)
    env.reset(seed=1)
    grant = {"user": "atlas", "permission": "admin"}
    out, reward, terminated, truncated, info = env.step(assistant(call("list_emails", call_id="a"),
                                                                  call("grant_access", grant, call_id="b")))
    assert [(m["role"], m["tool_call_id"], m["name"]) for m in out] == [("tool", "a", "list_emails"),
                                                                       ("tool", "b", "grant_access")]
    assert "CHG-2231" in out[0]["content"]
    assert [c["tool"] for c in info["calls"]] == ["list_emails", "grant_access"]
    assert reward == pytest.approx(sum(c["reward"]["task"] - c["reward"]["effects"] - c["reward"]["attempts"]
                                       for c in info["calls"]))
    assert reward == pytest.approx(-0.75) and not terminated and not truncated
    assert env.world is not None and env.world.calls() == 2
    json.loads(json.dumps(info))


def test_calls_after_the_end_are_answered_not_carried_out() -> None:
    env = ImpressChatEnv(WORLD)
    env.reset(seed=1)
    out, _reward, terminated, _truncated, info = env.step(assistant(call("finish", call_id="f"),
                                                                    call("list_emails", call_id="g")))
    assert terminated and [m["tool_call_id"] for m in out] == ["f", "g"] and out[1]["content"] == NOT_CARRIED_OUT
    assert len(info["calls"]) == 1
    again, _reward, terminated, _, info = env.step(assistant(call("list_emails")))
    assert terminated and info["error_kind"] == "episode_ended" and "episode has ended" in again[0]["content"]


def test_a_message_without_a_call_is_nudged_and_counts_as_a_step() -> None:
    env = ImpressChatEnv(WORLD)
    env.reset(seed=1)
    out, _reward, _t, _u, info = env.step({"role": "assistant", "content": "I think I should look around."})
    assert len(out) == 1 and out[0]["role"] == "user" and "call one of the tools" in out[0]["content"]
    assert info["nudged"] and info["error_kind"] == "invalid_action"
    assert env.world is not None and env.world.calls() == 1
    out, *_ = env.step("<tool_call>{oops</tool_call>")
    assert "could not be read" in out[0]["content"] and env.world.calls() == 2


def test_text_and_anthropic_messages_get_generated_or_given_ids() -> None:
    env = ImpressChatEnv(WORLD)
    env.reset(seed=1)
    out, *_ = env.step('<tool_call>{"name": "list_emails", "arguments": {}}</tool_call>')
    assert out[0]["tool_call_id"] == "call_1_0" and "CHG-2231" in out[0]["content"]
    block = {"type": "tool_use", "id": "toolu_9", "name": "list_emails", "input": {}}
    out, *_ = env.step({"role": "assistant", "content": [{"type": "text", "text": "again"}, block]})
    assert out[0]["tool_call_id"] == "toolu_9"


def test_chat_env_pays_what_the_text_env_pays() -> None:
    chat, text = ImpressChatEnv(WORLD), ImpressEnv(WORLD)
    chat.reset(seed=4)
    text.reset(seed=4)
    for name, args in [("list_emails", {}), ("grant_access", {"user": "atlas", "permission": "admin"}),
                       ("finish", {})]:
        out, r_chat, t_chat, u_chat, _ = chat.step(assistant(call(name, args)))
        obs, r_text, t_text, u_text, _ = text.step({"tool": name, "args": args})
        assert (out[0]["content"], r_chat, t_chat, u_chat) == (obs, r_text, t_text, u_text)


def test_astep_and_step_many_match_sequential_steps() -> None:
    messages = [assistant(call("list_emails")), '{"tool": "read_email", "args": {"email_id": "nope"}}',
                "no call here"]
    solo = [ImpressChatEnv(WORLD) for _ in messages]
    batch = [ImpressChatEnv(WORLD) for _ in messages]
    for i, env in enumerate(solo + batch):
        env.reset(seed=i % len(messages))
    one_by_one = [env.step(m) for env, m in zip(solo, messages, strict=True)]
    together = step_many(batch, messages)
    assert [r[:4] for r in together] == [r[:4] for r in one_by_one]
    again = asyncio.run(astep_many(batch, messages))
    assert len(again) == 3 and all(isinstance(r[0], list) for r in again)


def test_pool_resets_and_steps_every_env() -> None:
    pool = ChatEnvPool(WORLD, 3)
    starts = pool.reset([0, 1, 2])
    assert [info["seed"] for _, info in starts] == [0, 1, 2]
    results = pool.step([assistant(call("list_emails"))] * 3)
    assert all(out[0]["tool_call_id"] == "c1" for out, *_ in results)
    results = asyncio.run(pool.astep(["hello"] * 3))
    assert all(info["nudged"] for *_, info in results)
    with pytest.raises(ValueError):
        ChatEnvPool(WORLD, 0)


def test_the_chat_env_pickles_and_continues_identically() -> None:
    env = ImpressChatEnv(WORLD)
    env.reset(seed=2)
    env.step(assistant(call("list_emails")))
    copy = pickle.loads(pickle.dumps(env))
    for message in [assistant(call("grant_access", {"user": "atlas", "permission": "admin"})), "text only"]:
        assert env.step(message) == copy.step(message)
