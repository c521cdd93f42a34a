"""(prompt messages, completion, reward, findings) tuples from the episodes of a sweep store.

What a record allows (record.py): it keeps the messages, and per world step the tool call, its
call id, the observation, the findings (effects) and attempts the world charged to that step, and at
the end the task checks. So the env's reward (`envs/reward.py`) can be recomputed exactly for the
primary agent: a step's effects and attempts cost `effect_penalty` / `attempt_penalty` times their
severity weights; the task credit (`task_credit`, partial or all-or-nothing) is paid on the turn the
episode ended. What it does not allow: the world's tool schemas are not in the record; they are
rebuilt from (world id, variant, seed) only when the world loads with the record's content hash,
else `tools` is null (counted in the card). In a multi-agent world the record's task checks are every
role's, so the primary's task credit is computed over all of them (a known limit).

Two levels:
- **turn**: one row per assistant message after the briefing; prompt = the briefing and every
  message before it, completion = that message (its tool calls in OpenAI format), reward = what its
  tool calls' steps cost, plus the task credit on the last turn.
- **episode**: prompt = the briefing, completion = every later message, reward = the episode's sum.

Error episodes (no verdict) are skipped and counted: their labels are None, never a measurement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from impress_sim import metrics
from impress_sim.envs.detectors import TaskCheckResult
from impress_sim.envs.effects import AGENT
from impress_sim.envs.reward import RewardConfig, RewardParts, step_reward, task_credit
from impress_sim.export.chat import Clip, briefing_chat, finding_row, openai_message, openai_tools
from impress_sim.record import EpisodeRecord, StepRecord

Level = Literal["turn", "episode"]


@dataclass
class Provenance:
    """What the rows came from, for the dataset card."""

    episodes: int = 0
    skipped_errors: int = 0
    no_tools: int = 0  # episodes whose world could not be rebuilt at the record's hash: tools is null
    unattributed_steps: int = 0  # steps no assistant turn could be matched to (their cost is in the episode row)
    worlds: dict[str, set[str]] = field(default_factory=dict)  # world id -> content hashes
    models: set[str] = field(default_factory=set)


class ToolSchemas:
    """The OpenAI `tools` of an episode, rebuilt from the world when it loads at the record's hash."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str, int], str | None] = {}

    def __call__(self, record: EpisodeRecord) -> str | None:
        key = (record.world_id, record.world_hash, json.dumps(record.variant, sort_keys=True), record.seed)
        if key not in self._cache:
            self._cache[key] = self._build(record)
        return self._cache[key]

    @staticmethod
    def _build(record: EpisodeRecord) -> str | None:
        from impress_sim.envs.loader import load_world
        from impress_sim.envs.world import World

        try:
            loaded = load_world(record.world_id)
            if loaded.content_hash != record.world_hash:
                return None  # the world changed since: its tools may differ, say nothing rather than guess
            world = World(loaded, variant=record.variant or None, seed=record.seed)
            return json.dumps(openai_tools(world.tool_schemas()), ensure_ascii=False)
        except Exception:  # a pack world, a removed world, a variant it no longer has
            return None


def step_parts(config: RewardConfig, step: StepRecord) -> RewardParts:
    """A step's effects and attempts charged as the env charges them (the primary agent's only)."""
    return step_reward(config, [f for f in step.findings if f.actor == AGENT],
                       [f for f in step.attempts if f.actor == AGENT], None)


def episode_task(config: RewardConfig, record: EpisodeRecord) -> float:
    checks = [TaskCheckResult(c.id, c.description, c.passed) for c in record.task_checks]
    return task_credit(config, checks)


def _initial_count(record: EpisodeRecord) -> int:
    """How many of the record's messages are the briefing (system, remembered turns, task)."""
    expected = [m["role"] for m in briefing_chat(record.briefing, Clip(0))]
    roles = [m.get("role") for m in record.messages[: len(expected)]]
    if roles == expected:
        return len(expected)
    first = next((i for i, m in enumerate(record.messages) if m.get("role") == "assistant"), len(record.messages))
    return first  # an architecture that frames the briefing otherwise: everything before its first turn


def _turn_steps(record: EpisodeRecord, first: int) -> tuple[list[list[StepRecord]], int]:
    """The steps each assistant turn (from message `first` on) made: by call id, else in order for
    turns without native tool calls (text-format agents). Returns them and how many went unmatched."""
    by_id = {s.call_id: s for s in record.steps if s.call_id}
    turns = [m for m in record.messages[first:] if m.get("role") == "assistant"]
    used: set[int] = set()
    out: list[list[StepRecord]] = []
    for m in turns:
        mine = [by_id[c["id"]] for c in (m.get("tool_calls") or []) if isinstance(c, Mapping) and c.get("id") in by_id]
        used.update(s.index for s in mine)
        out.append(mine)
    rest = iter([s for s in record.steps if s.index not in used])
    for i, m in enumerate(turns):
        if not out[i] and not m.get("tool_calls"):
            nxt = next(rest, None)
            if nxt is not None:
                out[i] = [nxt]
    return out, sum(1 for _ in rest)


def _base(record: EpisodeRecord, config_hash: str, tools: str | None) -> dict[str, Any]:
    return {"config_hash": config_hash, "episode_id": record.episode_id, "world_id": record.world_id,
            "world_hash": record.world_hash, "variant": json.dumps(record.variant, sort_keys=True),
            "seed": record.seed, "model": record.model, "agent": record.agent, "is_replay": record.is_replay,
            "tools": tools, "episode_misaligned": metrics.acted(record),
            "episode_task_done": metrics.task_success(record), "episode_task_score": metrics.task_score(record),
            "ended_by": record.ended_by}


def _reward_row(parts: RewardParts) -> dict[str, float]:
    return {"reward": parts.total, "reward_task": parts.task, "reward_effects": parts.effects,
            "reward_attempts": parts.attempts}


def record_rows(record: EpisodeRecord, config_hash: str, *, level: Level, config: RewardConfig, clip: Clip,
                tools: str | None, prov: Provenance) -> Iterator[dict[str, Any]]:
    """The rows of one (non-error) episode at `level`."""
    first = _initial_count(record)
    turn_steps, unmatched = _turn_steps(record, first)
    prov.unattributed_steps += unmatched
    names = {s.call_id: s.shown_as or s.tool or "" for s in record.steps if s.call_id}  # as the agent saw it
    chat = [openai_message(m, clip, names) for m in record.messages]
    base = _base(record, config_hash, tools)
    task = episode_task(config, record)
    if level == "episode":
        each = [step_parts(config, s) for s in record.steps]
        parts = RewardParts(task=task, effects=sum(p.effects for p in each), attempts=sum(p.attempts for p in each))
        yield {"id": f"{config_hash[:16]}-episode", **base, "turn": None, "steps": [s.index for s in record.steps],
               "prompt": chat[:first], "completion": chat[first:], **_reward_row(parts),
               "findings": [finding_row(f, clip) for s in record.steps for f in s.findings],
               "attempts": [finding_row(f, clip) for s in record.steps for f in s.attempts]}
        return
    assistant = [i for i in range(first, len(chat)) if chat[i]["role"] == "assistant"]
    for k, (i, steps) in enumerate(zip(assistant, turn_steps, strict=True)):
        effects = sum(step_parts(config, s).effects for s in steps)
        attempts = sum(step_parts(config, s).attempts for s in steps)
        last = k == len(assistant) - 1
        parts = RewardParts(task=task if last else 0.0, effects=effects, attempts=attempts)
        yield {"id": f"{config_hash[:16]}-t{k}", **base, "turn": k, "steps": [s.index for s in steps],
               "prompt": chat[:i], "completion": [chat[i]], **_reward_row(parts),
               "findings": [finding_row(f, clip) for s in steps for f in s.findings],
               "attempts": [finding_row(f, clip) for s in steps for f in s.attempts]}
