"""A world as a `verifiers` multi-turn environment whose rubric is impress-sim's reward.

`load_environment(world=..., variant=..., seeds=..., reward=...)` is the entry point the
`verifiers` library looks for in an environment module (`vf-eval`, prime-rl and its trainers load
environments through it). What it returns is a `verifiers` `MultiTurnEnv`:

- **dataset**: one row per seed. `prompt` is the world's briefing as chat messages (system prompt
  with memory notes, remembered turns, the task: the same messages impress-sim's own agents are
  given); `info` carries the world, variant, seed, the tool schemas in `verifiers`' own format
  (`tool_defs`, which `verifiers` sends to the model as OpenAI tools) and in OpenAI's format
  (`openai_tools`, for readers and other trainers). `info` is stored as JSON text so that Arrow
  never merges the tools' differing parameter schemas into one struct.
- **rollout**: each rollout owns a fresh `World` (built in `setup_state`, kept in a table keyed by
  the rollout's `trajectory_id`, dropped when it stops). Every tool call of an assistant turn is
  stepped in the world, in order (the parallel-call rule), and answered with one tool message per
  call id; calls after the world ended in the same turn are answered "not carried out".
- **stop**: the world ended (`finish`, an end condition, its deadline, or the tool-call budget
  spent), the assistant answered without a tool call, or `verifiers`' own limits (max turns,
  timeout, an error) fired.
- **rubric**: `task_credit` + `effect_penalty` + `attempt_penalty` (weights 1, penalties
  negative), so a rollout's reward is `envs/reward.py`'s total; `impress_total` repeats it as a
  metric (weight 0), next to the counts of findings and attempts. The parts are computed in a
  cleanup handler, which `verifiers` runs whenever a rollout stops, so a rollout cut short by
  `max_turns`, a timeout or a spent budget still gets the credit its task checks earn.

This module imports `verifiers` (the `verifiers` extra: `pip install 'impress-sim[verifiers]'`);
nothing else in impress-sim imports this module, so the core install never needs it.

It targets `verifiers`' classic environment API (`MultiTurnEnv`, `Rubric`, `@vf.stop`,
`@vf.cleanup`), which `verifiers` 0.3 serves as `import verifiers as vf`. Release 0.4 removed it
in favour of the `verifiers.v1` taskset/harness stack; see docs/rl/verifiers.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from impress_sim.envs.briefing import Briefing
from impress_sim.envs.effects import AGENT
from impress_sim.envs.env import checked_seed
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.reward import RewardConfig, RewardParts, step_reward, task_credit
from impress_sim.envs.world import World

try:
    import verifiers as vf
    from datasets import Dataset
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "impress_sim.adapters.verifiers needs the `verifiers` extra: pip install 'impress-sim[verifiers]'"
    ) from exc

__all__ = ["ImpressVerifiersEnv", "RolloutReward", "briefing_chat", "build_dataset", "impress_rubric",
           "load_environment"]

ENDED_ANSWER = "Not carried out: the episode has ended ({why})."


class RolloutReward(BaseModel):
    """What one rollout earned, kept JSON-plain in `state["impress"]` for the rubric and outputs."""

    model_config = ConfigDict(extra="forbid")

    task: float = 0.0
    effects: float = 0.0
    attempts: float = 0.0
    findings: list[dict[str, Any]] = Field(default_factory=list)
    attempt_findings: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: int = 0
    ended_by: str | None = None
    task_checks: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def total(self) -> float:
        return RewardParts(task=self.task, effects=self.effects, attempts=self.attempts).total


def briefing_chat(briefing: Briefing) -> list[dict[str, str]]:
    """The briefing as OpenAI chat messages (`Briefing.chat_messages`: the rule the agents use)."""
    return briefing.chat_messages()


def build_dataset(loaded: LoadedWorld, variant: str | Mapping[str, str] | None, seeds: Sequence[int],
                  max_tool_calls: int | None = None) -> Dataset:
    """One row per seed: the briefing as chat messages and, in `info` (JSON text), what the rollout
    needs to rebuild the same world (name, variant, seed) and the tools it offers."""
    rows = []
    for seed in seeds:
        world = World(loaded, variant=variant, seed=seed, max_tool_calls=max_tool_calls)
        schemas = world.tool_schemas()
        info = {
            "world": loaded.spec.id,
            "variant": dict(world.factors),
            "seed": seed,
            "world_hash": loaded.content_hash,
            "max_tool_calls": world.max_tool_calls,
            "tool_defs": [{"name": s["name"], "description": s["description"], "parameters": s["parameters"]}
                          for s in schemas],
            "openai_tools": [{"type": "function", "function": s} for s in schemas],
        }
        rows.append({"prompt": briefing_chat(world.briefing), "answer": "",
                     "info": json.dumps(info)})
    return Dataset.from_list(rows)


def _parts(state: Any) -> RolloutReward:
    data = state.get("impress")
    return RolloutReward.model_validate(data) if data else RolloutReward()


def task_credit_reward(state: Any) -> float:
    """Task credit: `task_reward` times the share of task checks that pass (or all-or-nothing)."""
    return _parts(state).task


def effect_penalty(state: Any) -> float:
    """Minus the misaligned effects, each weighted by its severity and `effect_penalty`."""
    return -_parts(state).effects


def attempt_penalty(state: Any) -> float:
    """Minus the refused attempts, each weighted by its severity and `attempt_penalty`."""
    return -_parts(state).attempts


def impress_total(state: Any) -> float:
    """envs/reward.py's total (task - effects - attempts); a weight-0 metric next to its parts."""
    return _parts(state).total


def findings_count(state: Any) -> float:
    return float(len(_parts(state).findings))


def attempts_count(state: Any) -> float:
    return float(len(_parts(state).attempt_findings))


task_credit_reward.__name__ = "task_credit"


def impress_rubric() -> vf.Rubric:
    """The three parts of the reward with weight 1 (their sum is the total) and metrics at weight 0."""
    return vf.Rubric(
        funcs=[task_credit_reward, effect_penalty, attempt_penalty, impress_total, findings_count, attempts_count],
        weights=[1.0, 1.0, 1.0, 0.0, 0.0, 0.0],
    )


class ImpressVerifiersEnv(vf.MultiTurnEnv):
    """One impress-sim world as a `verifiers` multi-turn tool environment (see the module's docstring)."""

    def __init__(self, loaded: LoadedWorld, reward: RewardConfig, *, max_tool_calls: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.reward_config = reward
        self.max_tool_calls = max_tool_calls
        # the live worlds, one per running rollout (verifiers' state must stay plain data to be serialised)
        self.worlds: dict[str, World] = {}
        self.running: dict[str, RolloutReward] = {}

    def world_of(self, state: Any) -> World:
        return self.worlds[state["trajectory_id"]]

    async def setup_state(self, state: Any) -> Any:
        info = state["info"]
        world = World(self.loaded, variant=info.get("variant"), seed=info.get("seed"),
                      max_tool_calls=self.max_tool_calls or info.get("max_tool_calls"))
        key = state["trajectory_id"]
        self.worlds[key] = world
        self.running[key] = RolloutReward()
        state["impress"] = None
        return state

    async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> list[Any]:
        """Step each tool call of the last assistant turn, in order; one tool message per call id."""
        world = self.world_of(state)
        parts = self.running[state["trajectory_id"]]
        last = messages[-1]
        answers: list[Any] = []
        for call in last.tool_calls or []:
            if world.ended():
                content = ENDED_ANSWER.format(why=world.ended_by())
            else:
                result = await world.astep({"name": call.name, "arguments": call.arguments, "id": call.id})
                step = step_reward(self.reward_config, result.findings, result.attempts, None)
                parts.effects += step.effects
                parts.attempts += step.attempts
                parts.findings += [f.model_dump(mode="json") for f in result.findings]
                parts.attempt_findings += [f.model_dump(mode="json") for f in result.attempts]
                parts.tool_calls += 1
                content = result.observation
            answers.append(vf.ToolMessage(role="tool", tool_call_id=call.id, content=content))
        if world.ended():  # the world is over: no further model turn (verifiers stops on a final env response)
            state["final_env_response"] = answers
        return answers

    @vf.stop(priority=50)  # before verifiers' own `has_final_env_response`, so the stop is named for why
    async def world_ended(self, state: Any) -> bool:
        """The world ended for the agent: it finished, an end condition or the deadline, or its budget."""
        key = state["trajectory_id"]
        return key in self.worlds and self.worlds[key].ended()

    @vf.stop
    async def no_tools_called(self, state: Any) -> bool:
        """An assistant turn without a tool call ends the rollout (as `verifiers`' ToolEnv does)."""
        if not state["trajectory"]:
            return False
        last = state["trajectory"][-1]["completion"][-1]
        return bool(last.role == "assistant" and not getattr(last, "tool_calls", None))

    @vf.cleanup
    async def settle_reward(self, state: Any) -> None:
        """Whenever the rollout stops (world ended, no tool call, max turns, timeout, error): pay the
        task credit its checks earn now, store the parts as plain data, drop the world."""
        key = state["trajectory_id"]
        world = self.worlds.pop(key, None)
        parts = self.running.pop(key, None)
        if world is None or parts is None:
            return
        checks = world.task_checks(AGENT)
        parts.task = task_credit(self.reward_config, checks)
        parts.ended_by = world.ended_by()
        parts.task_checks = [{"id": c.id, "description": c.description, "passed": c.passed} for c in checks]
        state["impress"] = parts.model_dump(mode="json")


def load_environment(world: str = "corporate_shutdown", variant: str | Mapping[str, str] | None = None,
                     seeds: Sequence[int] | int = (0,), reward: RewardConfig | Mapping[str, Any] | None = None,
                     max_tool_calls: int | None = None, max_turns: int = -1, **kwargs: Any) -> ImpressVerifiersEnv:
    """The `verifiers` environment of one world: `variant` frames every rollout, `seeds` (a list, or a
    count n for seeds 0..n-1) gives the dataset's rows, `reward` is a `RewardConfig` (or its fields),
    `max_tool_calls` overrides the world's tool-call budget and `max_turns` caps assistant turns
    (-1: only the budget). Other keyword arguments go to `verifiers.MultiTurnEnv`."""
    loaded = load_world(world)
    config = RewardConfig.of(reward, where="the verifiers adapter")
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds < 1:
        raise ValueError(f"seeds: a count of at least 1 (seeds 0..n-1) or a list of seeds, got {seeds}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [checked_seed(s, "each seed") for s in seeds]
    dataset = build_dataset(loaded, variant, seed_list, max_tool_calls)
    return ImpressVerifiersEnv(loaded, config, max_tool_calls=max_tool_calls, dataset=dataset,
                               rubric=impress_rubric(), max_turns=max_turns, env_id=f"impress-{world}", **kwargs)
