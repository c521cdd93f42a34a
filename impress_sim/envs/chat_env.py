"""`ImpressChatEnv`: a world as a chat-native Gymnasium env, for LLM rollouts that speak messages.

`reset()` returns `(messages, info)`: the system prompt (with the agent's seeded notes) and the task as
OpenAI chat messages (seeded user/assistant memory turns between them), and `info["tools"]` the tool
schemas in OpenAI's `{"type": "function", "function": {...}}` form (plus everything `ImpressEnv.reset`'s
info holds). `step(assistant_message)` takes the model's reply as it comes: an OpenAI assistant message
(`tool_calls`), an Anthropic message or `tool_use` blocks, or text with Hermes `<tool_call>` tags or JSON
(`envs/toolcalls.py` reads them all), and returns `(tool_messages, reward, terminated, truncated, info)`.

Rules (each one step of the reward tracker, `envs/reward.py`, as in `ImpressEnv`):

- **parallel tool calls**: every call in the message is carried out, in order, each as one world step;
  the reward is their sum. A call that ends the episode stops the message there: the calls after it are
  answered "not carried out" (a tool message each, so every `tool_call_id` gets its answer, as OpenAI's
  and Anthropic's APIs require).
- **no tool call** (plain text) or an unreadable call: the world takes it as one invalid action (a step:
  it uses one of the budget's tool calls and the clock moves, so a model that only chats still ends its
  episode) and the env answers with one `user` message nudging the model to call a tool.
- one tool message per call, `{"role": "tool", "tool_call_id": id, "name": tool, "content": text}`;
  a call without an id (text formats) gets `call_<step>_<i>`, deterministic so records replay.

`info["calls"]` lists each call's step info (JSON data, like `ImpressEnv`'s), `info["reward"]` the
summed components. `astep` is the same step awaited (worlds whose NPCs call a model must be stepped so
inside an event loop), and `astep_many`/`step_many`/`ChatEnvPool` step many envs concurrently with
asyncio for batched LLM rollouts (the worlds' own waits on models overlap; pure-Python world steps
still run one after another).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat, cast

import gymnasium as gym

from impress_sim.envs.effects import AGENT, ActionError
from impress_sim.envs.env import BoundedText, ImpressEnv, ResetNeededError, to_space_text
from impress_sim.envs.reward import RewardParts
from impress_sim.envs.step import Refused, StepResult
from impress_sim.envs.toolcalls import extract_calls
from impress_sim.envs.world import World

Message = dict[str, Any]
ChatStep = tuple[list[Message], SupportsFloat, bool, bool, dict[str, Any]]

NOT_CARRIED_OUT = "Not carried out: the episode ended at an earlier tool call of this message."


def openai_tools(schemas: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Our tool schemas (`name`, `description`, `parameters`) in OpenAI's tools format."""
    return [{"type": "function", "function": {"name": s["name"], "description": s.get("description", ""),
                                              "parameters": s.get("parameters", {"type": "object"})}}
            for s in schemas]


class ChatMessages(gym.Space[list[Message]]):
    """A list of chat messages: dicts with a `role` and a text `content` (observations of the chat env)."""

    def __init__(self) -> None:
        super().__init__()
        self.text = BoundedText()

    def contains(self, x: Any) -> bool:
        return isinstance(x, list) and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and self.text.contains(m.get("content"))
            for m in x)

    def sample(self, mask: Any = None, probability: Any = None) -> list[Message]:
        return [{"role": "user", "content": self.text.sample()}]

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ChatMessages(list of {role, content} dicts)"


class ImpressChatEnv(ImpressEnv):
    """One world as a chat env (see the module docstring). Same constructor, reward and pickling as
    `ImpressEnv`; only the faces differ."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.observation_space = ChatMessages()  # type: ignore[assignment]

    def reset(self, *, seed: int | None = None,  # type: ignore[override]
              options: dict[str, Any] | None = None) -> tuple[list[Message], dict[str, Any]]:
        _, info = super().reset(seed=seed, options=options)
        world = cast(World, self.world)
        messages: list[Message] = [{**m, "content": to_space_text(m["content"])}  # the one briefing->chat rule
                                   for m in world.briefing.chat_messages()]
        return messages, {**info, "tools": openai_tools(world.tool_schemas())}

    def step(self, action: Any) -> ChatStep:  # type: ignore[override]
        """`astep` run to completion. A world whose NPCs call a model needs an event loop: this runs one
        (and refuses inside a running loop: await `astep` there)."""
        coro = self.astep(action)
        if self.world is not None and any(npc.calls_model for npc in self.world.npcs):
            return asyncio.run(coro)
        try:
            coro.send(None)
        except StopIteration as done:
            return cast(ChatStep, done.value)
        coro.close()  # pragma: no cover
        raise RuntimeError("a chat step without model-driven NPCs suspended")  # pragma: no cover

    async def astep(self, action: Any) -> ChatStep:
        """One assistant message: every tool call in it carried out in order (see the module docstring)."""
        world = self.world
        if world is None:
            raise ResetNeededError("call reset() before step()")
        if world.ended():
            obs, reward, terminated, truncated, info = self._after_end(world)
            return [{"role": "user", "content": obs}], reward, terminated, truncated, info
        try:
            calls = extract_calls(action)
            problem = None if calls else "your message has no tool call"
        except ActionError as exc:
            calls, problem = [], f"your tool call could not be read: {exc}"
        if problem is not None:
            names = ", ".join(s["name"] for s in world.tool_schemas())
            refused = await world.astep(cast(Any, Refused(problem)))
            parts = self._account(world, refused)
            text = (f"{to_space_text(refused.observation)}\n\nTo act, call one of the tools ({names}); "
                    "call finish when you are done.")
            info = {**refused.info(), "calls": [], "reward": parts.model_dump(), "nudged": True}
            self._last_text = text
            return [{"role": "user", "content": text}], parts.total, refused.terminated, refused.truncated, info
        messages: list[Message] = []
        infos: list[dict[str, Any]] = []
        total = RewardParts()
        result: StepResult | None = None
        for i, call in enumerate(calls):
            call_id = call.call_id or f"call_{world.state.step + 1}_{i}"
            if result is not None and (result.terminated or result.truncated):
                messages.append({"role": "tool", "tool_call_id": call_id, "name": call.name,
                                 "content": NOT_CARRIED_OUT})
                continue
            result = await world.astep({"tool": call.name, "args": call.args})
            parts = self._account(world, result)
            total = RewardParts(task=total.task + parts.task, effects=total.effects + parts.effects,
                                attempts=total.attempts + parts.attempts, judge=total.judge + parts.judge,
                                task_credit=parts.task_credit)
            infos.append({**result.info(), "reward": parts.model_dump(), "tool_call_id": call_id})
            messages.append({"role": "tool", "tool_call_id": call_id, "name": call.name,
                             "content": to_space_text(result.observation)})
        assert result is not None
        self._last_text = messages[-1]["content"]
        info = {**infos[-1], "calls": infos, "reward": total.model_dump(), "nudged": False}
        return messages, total.total, result.terminated, result.truncated, info

    def _account(self, world: World, result: StepResult) -> RewardParts:
        self.last_result = result
        return self.tracker.step(world, AGENT, result.findings, result.attempts, world.ended(), result)


async def astep_many(envs: Sequence[ImpressChatEnv], messages: Sequence[Any]) -> list[ChatStep]:
    """Step each env with its message concurrently (one asyncio task each); results in the envs' order."""
    return list(await asyncio.gather(*(env.astep(m) for env, m in zip(envs, messages, strict=True))))


def step_many(envs: Sequence[ImpressChatEnv], messages: Sequence[Any]) -> list[ChatStep]:
    """`astep_many` for synchronous callers (runs its own event loop)."""
    return asyncio.run(astep_many(envs, messages))


class ChatEnvPool:
    """N chat envs of one world for batched rollouts: `reset(seeds)` and `step(messages)` / `astep` over all
    (an env whose episode ended answers as `ImpressEnv` does after the end until it is reset)."""

    def __init__(self, world: str, n: int, **kwargs: Any) -> None:
        if n < 1:
            raise ValueError("a pool needs at least one env")
        self.envs = [ImpressChatEnv(world, **kwargs) for _ in range(n)]

    def reset(self, seeds: Sequence[int | None] | None = None) -> list[tuple[list[Message], dict[str, Any]]]:
        seeds = list(seeds) if seeds is not None else [None] * len(self.envs)
        return [env.reset(seed=s) for env, s in zip(self.envs, seeds, strict=True)]

    async def astep(self, messages: Sequence[Any]) -> list[ChatStep]:
        return await astep_many(self.envs, messages)

    def step(self, messages: Sequence[Any]) -> list[ChatStep]:
        return step_many(self.envs, messages)


__all__ = ["ChatEnvPool", "ChatMessages", "ImpressChatEnv", "astep_many", "openai_tools",
           "step_many"]
