"""`ImpressParallelEnv`: a world as a PettingZoo ParallelEnv, for several learning or LLM agents.

The agents are the world's roles: `"agent"` (the primary, whose journal actor id is "agent" as in
every single-agent world) followed by each of `extra_agents` (actor id = its role id). NPCs stay
scripted; to let a learning agent play a person, declare that person as an extra agent instead.

One `step({role: action})` is one round. The actions are applied one after another in the fixed
order of `possible_agents` (the primary agent first, then the extra agents in declaration order);
after each action the world moves on (clock, jobs, timeline, NPCs) and the detectors run, exactly
as in `World.step`. So within a round a later role already acts on the world as the earlier roles
left it, but it only *observes* what reached it (mail, chat, notices) with its own next
observation. An action is one tool call as JSON text (or a dict), as in `ImpressEnv`; an empty
(or whitespace-only) action, None, or `{"tool": "wait"}`, means the role sits the round out.
Malformed actions never raise, whatever their type, size or depth: they come back to that role
alone as error observations (a `step` given something other than a dict answers every role so).
Actions for roles that have ended (no longer in `agents`) are ignored, as PettingZoo expects.

Each role is rewarded by `envs/reward.py` for its own findings and attempts only (severity-weighted
penalties) plus task credit for its own task checks when it is done. The world decides who
ended (`World.ended_by`): a role that calls `finish` terminates; an end condition or the deadline
terminates everyone; a role that used up `limits.max_tool_calls` (acting, or sitting rounds out)
truncates, and so does everyone at the shared round limit (`max_rounds`, default
`limits.max_tool_calls`).

PettingZoo's AEC `api_test` is not supported: it assumes numeric (Box/Discrete) spaces, and these
spaces are Gymnasium `Text`. This env passes `parallel_api_test` and `parallel_seed_test`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from impress_sim.envs.detectors import Finding
from impress_sim.envs.env import CHARSET, MAX_TEXT, ResetNeededError, ToolCallSpace, episode_seed, to_space_text
from impress_sim.envs.loader import load_world
from impress_sim.envs.reward import RewardConfig, RewardParts, RewardTracker
from impress_sim.envs.spec import WAIT
from impress_sim.envs.step import Refused, StepResult, describe_action
from impress_sim.envs.swap import npcs_as_agents as swap_npcs
from impress_sim.envs.turns import STEP_LIMIT
from impress_sim.envs.world import World

WAITED = "(You waited this round.)"


def is_wait(action: Any) -> bool:
    """An empty action, or `{"tool": "wait"}` (as a dict or JSON text): the role sits the round out."""
    if action is None:
        return True
    if isinstance(action, bytes | bytearray):
        try:
            action = bytes(action).decode("utf-8")
        except UnicodeDecodeError:
            return False
    if isinstance(action, str):
        text = action.strip()
        if not text:
            return True
        compact = text.replace(" ", "")
        return compact in ('{"tool":"wait"}', '{"tool":"wait","args":{}}', '{"name":"wait"}')
    if isinstance(action, Mapping):
        name, args = action.get("tool", action.get("name")), action.get("args", action.get("arguments"))
        return (isinstance(name, str) and name == WAIT
                and (args is None or (isinstance(args, Mapping | str | list | tuple) and len(args) == 0)))
    return False


class ImpressParallelEnv(ParallelEnv[str, str, str]):
    """One (multi-agent) world as a PettingZoo ParallelEnv; `reset(options={"variant": ...})`."""

    metadata = {"render_modes": ["ansi"], "name": "impress_parallel_v0", "is_parallelizable": True}  # noqa: RUF012

    def __init__(
        self,
        world: str = "code_review",
        variant: str | Mapping[str, str] | None = None,
        render_mode: str | None = None,
        reward: RewardConfig | dict[str, Any] | None = None,
        max_rounds: int | None = None,
        npcs_as_agents: Sequence[str] = (),
    ) -> None:
        self.loaded = swap_npcs(load_world(world), npcs_as_agents)  # e.g. the IT admin played by a model
        spec = self.loaded.spec
        self.default_variant = variant
        self.render_mode = render_mode
        self.reward = RewardConfig.of(reward, where="the PettingZoo env")
        self.trackers: dict[str, RewardTracker] = {}
        self.max_rounds = max_rounds or spec.limits.max_tool_calls
        self.possible_agents: list[str] = spec.role_ids()
        self.agents: list[str] = []
        self.observation_spaces = {
            a: spaces.Text(max_length=MAX_TEXT, min_length=0, charset=CHARSET) for a in self.possible_agents
        }
        self.action_spaces = {a: ToolCallSpace() for a in self.possible_agents}
        self.world: World | None = None
        self.rounds = 0
        self._np_random: np.random.Generator | None = None
        self._last: dict[str, str] = {}

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        return self.action_spaces[agent]

    # ---- episode -------------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        if seed is not None or self._np_random is None:
            self._np_random, _ = seeding.np_random(seed)
        variant = (options or {}).get("variant", self.default_variant)
        self.world = World(self.loaded, variant=variant, seed=episode_seed(seed, self._np_random))
        self.agents = list(self.possible_agents)
        self.rounds = 0
        self.trackers = {role: RewardTracker(self.reward) for role in self.possible_agents}
        observations: dict[str, str] = {}
        infos: dict[str, dict[str, Any]] = {}
        for role in self.agents:
            briefing = self.world.briefing_for(role)
            observations[role] = to_space_text(briefing.render())
            infos[role] = {
                "briefing": briefing.model_dump(),
                "tool_schemas": self.world.tool_schemas(role),
                "factors": dict(self.world.factors),
                "world_hash": self.loaded.content_hash,
                "seed": self.world.seed,
                "slots": copy.deepcopy(self.world.loaded.slot_values),
            }
        self._last = dict(observations)
        return observations, infos

    def step(
        self, actions: Mapping[str, Any]
    ) -> tuple[
        dict[str, str], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:
        if self.world is None:
            raise ResetNeededError("call reset() before step()")
        world = self.world
        if not isinstance(actions, Mapping):  # every role's action is refused, none raises
            refused = Refused(f"a PettingZoo step takes a dict {{agent: action}}, got {describe_action(actions, 60)}")
            actions = dict.fromkeys(self.agents, refused)
        self.rounds += 1
        results: dict[str, StepResult | None] = {}
        for role in self.agents:  # the fixed order: possible_agents order
            action = actions.get(role)
            if action is None or is_wait(action) or world.ended(role):
                results[role] = None
                continue
            results[role] = world.step(action, role=role)
        findings: dict[str, list[Finding]] = {role: [] for role in self.agents}
        attempts: dict[str, list[Finding]] = {role: [] for role in self.agents}
        for result in results.values():
            for f in result.findings if result is not None else []:
                findings.setdefault(f.actor, []).append(f)
            for f in result.attempts if result is not None else []:
                attempts.setdefault(f.actor, []).append(f)
        observations: dict[str, str] = {}
        rewards: dict[str, float] = {}
        terminations: dict[str, bool] = {}
        truncations: dict[str, bool] = {}
        infos: dict[str, dict[str, Any]] = {}
        for role in self.agents:
            result = results[role]
            if result is None:
                notes = world.wait(role)
                observations[role] = to_space_text("\n".join([WAITED, *notes]) if notes else WAITED)
            else:
                observations[role] = to_space_text(result.observation)
            ended_by = world.ended_by(role)  # the world decides, whoever's action ended it
            terminated = ended_by is not None and ended_by != STEP_LIMIT
            truncated = ended_by == STEP_LIMIT or (not terminated and self.rounds >= self.max_rounds)
            own = findings.get(role, [])
            parts = self.trackers[role].step(world, role, own, attempts.get(role, []), terminated or truncated,
                                             result)
            rewards[role] = parts.total
            terminations[role] = terminated
            truncations[role] = truncated
            infos[role] = self._info(result, own, attempts.get(role, []), parts)
        self._last = dict(observations)
        self.agents = [r for r in self.agents if not (terminations[r] or truncations[r])]
        return observations, rewards, terminations, truncations, infos

    def _info(self, result: StepResult | None, own: list[Finding], tried: list[Finding],
              parts: RewardParts) -> dict[str, Any]:
        assert self.world is not None
        info: dict[str, Any] = {
            "round": self.rounds,
            "waited": result is None,
            "findings": [f.model_dump(mode="json") for f in own],
            "attempts": [f.model_dump(mode="json") for f in tried],
            "reward": parts.model_dump(),
            "clock": self.world.state.get("clock/now"),
        }
        if result is not None:  # the step's own info, with this role's share of the round's findings
            info = {**result.info(), **info}
        return info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return "\n\n".join(f"[{role}]\n{text}" for role, text in self._last.items())
        return None

    def close(self) -> None:
        self.world = None


def parallel_env(world: str = "code_review", **kwargs: Any) -> ImpressParallelEnv:
    """The PettingZoo-style factory: `parallel_env(world="code_review", variant=...)`."""
    return ImpressParallelEnv(world=world, **kwargs)
