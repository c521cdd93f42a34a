"""Run one episode: a world, an agent architecture, a model -> an `EpisodeRecord`.

This is the orchestration layer (`run` and later `sweep` call it); it is the only module that
knows about worlds, agents, judges and records at once. A failure inside the agent or the model is
recorded as an episode with status `error` — never as a finished, aligned episode. Optionally the
agent is interviewed afterwards (`interview=True`), and the record is judged (`judge=`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from impress_sim.agents.messages import message_dict
from impress_sim.agents.monitor import MonitorConfig, episode_monitor, with_monitor
from impress_sim.agents.registry import Architecture, is_replay, make_architecture, make_model
from impress_sim.agents.session import EpisodeSession, StepListener, TurnBaton
from impress_sim.envs.briefing import Briefing
from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.world import World
from impress_sim.interview import interview as ask_interview
from impress_sim.judge import JudgeConfig, judge_episode
from impress_sim.models.cache import ResponseCache
from impress_sim.models.chat import LiteLLMChatModel
from impress_sim.models.settings import LLMSettings
from impress_sim.record import EndedBy, EpisodeRecord, Status, TaskCheckOutcome
from impress_sim.roles import RoleConfig, all_findings, role_parts, role_records, run_roles


async def run_episode(
    loaded: LoadedWorld,
    *,
    agent: str | Architecture = "react",
    agent_options: Mapping[str, Any] | None = None,
    model: str = "reference/misaligned",
    variant: str | Mapping[str, str] | None = None,
    seed: int = 0,
    max_tool_calls: int | None = None,
    listener: StepListener | None = None,
    settings: LLMSettings | None = None,
    cache: ResponseCache | None = None,
    npc_settings: LLMSettings | None = None,
    interview: bool = False,
    judge: JudgeConfig | None = None,
    monitor: MonitorConfig | None = None,
    roles: Mapping[str, RoleConfig] | None = None,
) -> EpisodeRecord:
    """One episode of `loaded` with `agent` (a registered name, configured by `agent_options`, or a
    ready-made architecture instance) on `model`. With `interview`, the world's interviewer NPC then
    asks the agent what it did (not for `agent=human`, nor after an error); with `judge`, the record
    gets its combined verdict (`JudgeConfig()` is the state judge alone).

    In a multi-agent world every role plays at once, taking turns (`impress_sim.roles`): each extra
    role uses `agent` and `model` unless `roles[<id>]` says otherwise; its part of the episode is in
    the record's `roles`, and `findings`/`behaviours`/`misaligned` cover every role."""
    if isinstance(agent, str):
        architecture = make_architecture(agent, **(agent_options or {}))
    elif agent_options:
        raise ValueError("agent_options apply only when the agent is given by name")
    else:
        architecture = agent
    if settings is not None:
        settings = settings.seeded(seed)  # the episode seed also seeds the provider (as the World seeds NPCs')
    chat_model = make_model(model, loaded.spec, settings, cache)
    chosen = dict(variant) if isinstance(variant, Mapping) else variant
    parts = role_parts(loaded.spec, roles, architecture, agent if isinstance(agent, str) else None, model,
                       settings, cache)  # a multi-agent world's extra roles (none otherwise)
    factors = {**loaded.spec.resolve_variant(chosen), **architecture.variant_overrides()}
    for part in parts:  # e.g. a guarded role's safety prompt (prompt fragments frame every role)
        factors.update(part.architecture.variant_overrides())
    world = World(loaded, variant=factors, seed=seed, max_tool_calls=max_tool_calls,
                  npc_settings=npc_settings, npc_cache=cache)  # the world owns the budget; LLM NPCs' model
    watcher = episode_monitor(monitor, world.briefing.task, cache)  # an LLM monitor reads the steps as they come
    baton = TurnBaton(world) if parts else None
    session = EpisodeSession(world, listener=with_monitor(listener, watcher), baton=baton)
    for part in parts:
        part.session = EpisodeSession(world, listener=listener, role=part.role, baton=baton)
    started_at, t0 = datetime.now(UTC), time.perf_counter()
    messages = []
    error: str | None = None
    try:
        if parts:
            messages = await run_roles(architecture, chat_model, session, parts)
        else:
            messages = await architecture.arun(chat_model, session)
    except Exception as exc:  # the agent or its model failed: record it, never call it aligned
        error = f"{type(exc).__name__}: {exc}"

    asked = None
    if interview and error is None and architecture.name != "human":
        asked = await ask_interview(chat_model, loaded.spec, messages)
    interview_record, interview_turn = asked if asked is not None else (None, [])

    findings = all_findings(session, parts) if parts else [f for s in session.steps for f in s.findings]
    attempts = [f for s in [session, *(p.session for p in parts)] if s is not None for st in s.steps
                for f in st.attempts]
    if error is None:
        error = next((f"{p.role}: {p.error}" for p in parts if p.error is not None), None)
    checks = world.task_checks()
    ended_by: EndedBy
    status: Status
    # the step that ended the episode: the primary's, or (in a multi-agent world) another role's
    ends = [s.last for s in [session, *(p.session for p in parts)] if s is not None and s.last is not None]
    last = next((r for r in ends if r.ended_by is not None), session.last)
    if error is not None:
        status, ended_by = "error", "error"
    elif last is not None and last.ended_by is not None:
        status, ended_by = "completed", last.ended_by  # type: ignore[assignment]
    elif session.ended:
        status, ended_by = "truncated", "step_limit"
    else:
        status, ended_by = "completed", "agent_stopped"
    usage: dict[str, int] = {}
    for m in [*messages, *interview_turn]:
        for key, value in (getattr(m, "usage_metadata", None) or {}).items():
            if isinstance(value, int):
                usage[key] = usage.get(key, 0) + value
    record = EpisodeRecord(
        episode_id=f"{loaded.spec.id}-{seed}-{uuid.uuid4().hex[:8]}",
        world_id=loaded.spec.id,
        world_hash=loaded.content_hash,
        variant=dict(world.factors),
        seed=seed,
        agent=architecture.name,
        model="human" if architecture.name == "human" else model,  # a person played: no model acted
        is_replay=is_replay(model) and architecture.name != "human",
        briefing=world.briefing,
        steps=session.steps,
        messages=[message_dict(m) for m in messages],
        agent_trace=session.trace,
        findings=findings,
        behaviours=sorted({f.behaviour for f in findings}),
        misaligned=None if error is not None else bool(findings),  # an error episode has no verdict
        attempts=attempts,
        attempted=sorted({f.behaviour for f in attempts}),
        task_checks=[TaskCheckOutcome(id=c.id, description=c.description, passed=c.passed) for c in checks],
        task_done=all(c.passed for c in checks),
        task_score=None if error is not None else sum(c.passed for c in checks) / len(checks),
        episode_diff=world.episode_diff(),
        status=status,
        ended_by=ended_by,
        error=error,
        started_at=started_at,
        wall_seconds=time.perf_counter() - t0,
        token_usage=usage,
        model_settings=settings.model_dump(exclude={"model"}) if settings and not is_replay(model) else {},
        model_stats={**(chat_model.stats.model_dump() if isinstance(chat_model, LiteLLMChatModel) else {}),
                     **({f"npc_{k}": v for k, v in world.npc_stats.model_dump().items()} if npc_settings else {})},
        interview=interview_record,
    )
    if parts:  # the extra roles' parts (the judges below replay every role's steps)
        record.roles = role_records(world, parts, findings)
    if watcher is not None:
        record.monitor = await watcher.finish()
    if judge is not None and record.status != "error":  # an error episode has no verdict, never "aligned"
        record.verdict = await judge_episode(loaded, record, judge.llm_settings(), judge.policy, cache,
                                             reasks=judge.reasks)
    return record


def failed_episode(world_id: str, world_hash: str, *, agent: str, model: str, seed: int,
                   variant: Mapping[str, str] | None, error: BaseException) -> EpisodeRecord:
    """The record of an episode that failed before `run_episode` could record it (a world that would
    not build, a judge that raised): an error, so a sweep stores it and a rerun redoes it."""
    return EpisodeRecord(
        episode_id=f"{world_id}-{seed}-{uuid.uuid4().hex[:8]}",
        world_id=world_id,
        world_hash=world_hash,
        variant=dict(variant or {}),
        seed=seed,
        agent=agent,
        model=model,
        is_replay=is_replay(model),
        briefing=Briefing(system_prompt="", task="", memory=[], factors=dict(variant or {})),
        misaligned=None,
        task_done=False,
        status="error",
        ended_by="error",
        error=f"{type(error).__name__}: {error}",
        started_at=datetime.now(UTC),
        wall_seconds=0.0,
    )
