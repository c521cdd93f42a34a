"""Multi-agent episodes: one architecture and model per role of a world with `extra_agents`.

`run_episode` runs every role of such a world at once on the same `World`. Each role has its own
`EpisodeSession` (its briefing, its tool subset, its budget), and the sessions share a
`TurnBaton`: roles act in the world's fixed order (`"agent"` first, then `extra_agents` in
declaration order), one tool call per turn, a role that stopped is skipped. Model calls happen
outside the baton, so the roles' LLM calls overlap, but the world sees the same sequence of
actions whatever the latencies: a seed gives one record. A reference replay's `{tool: wait}` (and
an LLM's `wait` tool) sits a turn out, so `reference/<trajectory>` replays a multi-agent trajectory
round by round exactly as the world self-check and the PettingZoo env do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ConfigDict, Field

from impress_sim.agents.messages import message_dict, token_usage
from impress_sim.agents.registry import Architecture, is_replay, make_architecture, make_model
from impress_sim.agents.session import EpisodeSession
from impress_sim.envs.detectors import Finding
from impress_sim.envs.spec import WorldSpec
from impress_sim.envs.world import World
from impress_sim.models.cache import ResponseCache
from impress_sim.models.chat import LiteLLMChatModel
from impress_sim.models.settings import LLMSettings
from impress_sim.record import RoleRecord


class RoleConfig(BaseModel):
    """What plays one extra agent; unset fields default to the run's `agent` and `model`."""

    model_config = ConfigDict(extra="forbid")

    agent: str | None = Field(None, description="agent architecture of this role (default: the run's)")
    model: str | None = Field(None, description="model of this role (default: the run's); reference/<t> "
                              "replays trajectory t's steps of this role")


@dataclass
class RolePart:
    """One extra role's running parts, and what it produced."""

    role: str
    architecture: Architecture
    model: str
    chat_model: BaseChatModel
    session: EpisodeSession | None = None
    messages: list[BaseMessage] = field(default_factory=list)
    error: str | None = None


def check_roles(spec: WorldSpec, roles: Mapping[str, Any] | None) -> None:
    """Reject role overrides for roles the world does not have."""
    extra = spec.role_ids()[1:]
    unknown = sorted(set(roles or {}) - set(extra))
    if unknown:
        valid = ", ".join(extra) if extra else f"none: world {spec.id} has no extra agents"
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; valid roles: {valid}")


def role_parts(
    spec: WorldSpec,
    roles: Mapping[str, RoleConfig] | None,
    primary: Architecture,
    primary_name: str | None,
    model: str,
    settings: LLMSettings | None,
    cache: ResponseCache | None,
) -> list[RolePart]:
    """Each extra role's architecture and model (empty for a single-agent world)."""
    check_roles(spec, roles)
    parts = []
    for role in spec.role_ids()[1:]:
        config = (roles or {}).get(role) or RoleConfig()
        name = config.agent
        architecture = primary if name is None or name == primary_name else make_architecture(name)
        role_model = config.model or model
        role_settings = settings.model_copy(update={"model": role_model}) if settings is not None else None
        chat_model = make_model(role_model, spec, role_settings, cache, role=role)
        parts.append(RolePart(role, architecture, role_model, chat_model))
    return parts


async def run_roles(
    primary: Architecture, chat_model: BaseChatModel, session: EpisodeSession, parts: Sequence[RolePart]
) -> list[BaseMessage]:
    """Run the primary and every extra role concurrently, taking turns through the session's baton.
    Returns the primary's messages (raising its failure); the extra roles' land in their parts."""
    baton = session.baton

    async def drive(architecture: Architecture, model: BaseChatModel, own: EpisodeSession) -> list[BaseMessage]:
        try:
            return await architecture.arun(model, own)
        finally:  # stopped, finished or failed: the others no longer wait for it
            if baton is not None:
                baton.retire(own.role)

    runs = [drive(primary, chat_model, session)]
    for part in parts:
        assert part.session is not None
        runs.append(drive(part.architecture, part.chat_model, part.session))
    results = await asyncio.gather(*runs, return_exceptions=True)
    for part, result in zip(parts, results[1:], strict=True):
        if isinstance(result, BaseException):
            part.error = f"{type(result).__name__}: {result}"
        else:
            part.messages = result
    first = results[0]
    if isinstance(first, BaseException):
        raise first
    return first


def all_findings(session: EpisodeSession, parts: Sequence[RolePart]) -> list[Finding]:
    """Every role's findings in the order the world saw the steps (each attributed by `actor`)."""
    steps = [*session.steps, *(s for p in parts if p.session is not None for s in p.session.steps)]
    return [f for s in sorted(steps, key=lambda s: s.index) for f in s.findings]


def role_records(world: World, parts: Sequence[RolePart], findings: Sequence[Finding],
                 failed: bool = False) -> dict[str, RoleRecord]:
    """Each extra role's part of the record; on an error episode (`failed`) no role's task is labelled."""
    records = {}
    for part in parts:
        assert part.session is not None
        stats = part.chat_model.stats.model_dump() if isinstance(part.chat_model, LiteLLMChatModel) else {}
        records[part.role] = RoleRecord(
            agent=part.architecture.name,
            model=part.model,
            is_replay=is_replay(part.model) and part.architecture.name != "human",
            briefing=part.session.briefing,
            steps=part.session.steps,
            messages=[message_dict(m) for m in part.messages],
            agent_trace=part.session.trace,
            findings=[f for f in findings if f.actor == part.role],
            task_done=None if failed else world.task_done(part.role),
            error=part.error,
            token_usage=token_usage(part.messages),
            model_stats=stats,
        )
    return records
