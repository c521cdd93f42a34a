"""Run one episode: an `EpisodeJob` -> an `EpisodeRecord`.

This is the orchestration layer (`run`, `sweep`, `probes` and `batch` call it); it is the only
module that knows about worlds, agents, judges and records at once. An episode has six stages,
each a function below, in the order `run_episode` calls them:

    setup      the architecture, the models, the world, one session per role
    play       the agents act until they stop or the world ends the episode
    interview  (job.interview) the world's interviewer NPC asks the agent what it did
    status     how the episode ended: completed, truncated or error, and by what
    record     everything above as an `EpisodeRecord`
    review     the LLM monitor's result, then the judges' verdict (job.judge)

A failure inside the agent or the model is recorded as an episode with status `error` — never as a
finished, aligned episode: its labels and scores are None and it is neither interviewed nor
judged. A failure outside the episode (a world that will not load) is `failed_episode`'s record.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage

from impress_sim.agents.messages import message_dict, token_usage
from impress_sim.agents.monitor import Monitor, episode_monitor, with_monitor
from impress_sim.agents.registry import Architecture, is_replay, make_architecture, make_model
from impress_sim.agents.session import EpisodeSession, StepListener, TurnBaton
from impress_sim.envs.briefing import Briefing
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.swap import npcs_as_agents
from impress_sim.envs.world import World
from impress_sim.interview import interview as ask_interview
from impress_sim.job import EpisodeJob
from impress_sim.judge import judge_episode
from impress_sim.models.cache import ResponseCache
from impress_sim.models.chat import LiteLLMChatModel
from impress_sim.models.settings import LLMSettings
from impress_sim.record import EndedBy, EpisodeRecord, Interview, Status, TaskCheckOutcome
from impress_sim.roles import RolePart, all_findings, role_parts, role_records, run_roles


@dataclass
class Setup:
    """What the setup stage built: everything the episode runs on."""

    loaded: LoadedWorld
    architecture: Architecture
    settings: LLMSettings | None  # the agent model's, with the episode seed as provider seed
    chat_model: BaseChatModel
    parts: list[RolePart]  # a multi-agent world's extra roles (none otherwise)
    world: World
    session: EpisodeSession  # the primary agent's
    watcher: Monitor | None

    def sessions(self) -> list[EpisodeSession]:
        """Every role's session, the primary's first."""
        return [self.session, *(p.session for p in self.parts if p.session is not None)]


@dataclass
class Play:
    """What the play stage produced (and the interview stage added to)."""

    started_at: datetime
    t0: float
    messages: list[BaseMessage] = field(default_factory=list)
    error: str | None = None  # the first failure of any role: the episode is an error
    interview: Interview | None = None
    interview_turn: list[BaseMessage] = field(default_factory=list)


async def run_episode(
    job: EpisodeJob,
    *,
    cache: ResponseCache | None = None,
    listener: StepListener | None = None,
    loaded: LoadedWorld | None = None,
    architecture: Architecture | None = None,
) -> EpisodeRecord:
    """One episode of `job`; raises only on a failure outside the episode (see `failed_episode`).

    `loaded` is the world when the caller already loaded (and checked) it, with `job.npcs_as_agents`
    applied; `architecture` the agent when the caller already built it from `job.agent` and
    `job.agent_options` (or a ready-made instance); `listener` sees every step as it happens.

    In a multi-agent world every role plays at once, taking turns (`impress_sim.roles`): each extra
    role uses the job's agent and model unless `job.roles[<id>]` says otherwise; its part of the
    episode is in the record's `roles`, and `findings`/`behaviours`/`misaligned` cover every role."""
    setup = setup_episode(job, cache, listener, loaded, architecture)
    play = await play_episode(setup)
    if job.interview and play.error is None and setup.architecture.name != "human":
        await interview_agent(setup, play)
    status, ended_by = episode_status(setup, play.error)
    record = episode_record(job, setup, play, status, ended_by)
    await review_episode(job, setup, record, cache)
    return record


def setup_episode(
    job: EpisodeJob,
    cache: ResponseCache | None,
    listener: StepListener | None,
    loaded: LoadedWorld | None,
    architecture: Architecture | None,
) -> Setup:
    """The architecture, the agent's model, each extra role's parts, the world (framed by every
    architecture's prompt overrides) and one session per role, sharing a turn baton when several."""
    loaded = (loaded or npcs_as_agents(load_world(job.world), job.npcs_as_agents)).at_seed(job.seed)
    architecture = architecture or make_architecture(job.agent, **job.agent_options)
    settings = job.settings
    if settings is not None:
        settings = settings.seeded(job.seed)  # the episode seed also seeds the provider (as the World seeds NPCs')
    chat_model = make_model(job.model, loaded.spec, settings, cache)
    # a role naming the primary's agent shares the primary's architecture (options included)
    primary_name = job.agent if architecture.name == job.agent else None
    parts = role_parts(loaded.spec, job.roles, architecture, primary_name, job.model, settings, cache)
    factors = {**loaded.spec.resolve_variant(job.variant), **architecture.variant_overrides()}
    for part in parts:  # e.g. a guarded role's safety prompt (prompt fragments frame every role)
        factors.update(part.architecture.variant_overrides())
    world = World(loaded, variant=factors, seed=job.seed, max_tool_calls=job.max_tool_calls,
                  npc_settings=job.npc_settings, npc_cache=cache)  # the world owns the budget and the end
    watcher = episode_monitor(job.monitor, world.briefing.task, cache)  # reads the steps as they come
    baton = TurnBaton(world) if parts else None
    session = EpisodeSession(world, listener=with_monitor(listener, watcher), baton=baton)
    for part in parts:
        part.session = EpisodeSession(world, listener=listener, role=part.role, baton=baton)
    return Setup(loaded, architecture, settings, chat_model, parts, world, session, watcher)


async def play_episode(setup: Setup) -> Play:
    """Run the agent (every role, in a multi-agent world) to its end. A failure of the agent or its
    model is kept as the episode's error, never raised: the record says what happened."""
    play = Play(started_at=datetime.now(UTC), t0=time.perf_counter())
    try:
        if setup.parts:
            play.messages = await run_roles(setup.architecture, setup.chat_model, setup.session, setup.parts)
        else:
            play.messages = await setup.architecture.arun(setup.chat_model, setup.session)
    except Exception as exc:  # the agent or its model failed: record it, never call it aligned
        play.error = f"{type(exc).__name__}: {exc}"
    if play.error is None:  # an extra role's failure makes the episode an error too
        play.error = next((f"{p.role}: {p.error}" for p in setup.parts if p.error is not None), None)
    return play


async def interview_agent(setup: Setup, play: Play) -> None:
    """The world's interviewer NPC asks the agent what it did and why (none when the world has no NPC)."""
    asked = await ask_interview(setup.chat_model, setup.loaded.spec, play.messages)
    if asked is not None:
        play.interview, play.interview_turn = asked


def episode_status(setup: Setup, error: str | None) -> tuple[Status, EndedBy]:
    """How the episode ended: an error; the step that ended it (the primary's, or in a multi-agent
    world another role's); the tool-call budget; or the agent stopping on its own."""
    ends = [s.last for s in setup.sessions() if s.last is not None]
    last = next((r for r in ends if r.ended_by is not None), setup.session.last)
    if error is not None:
        return "error", "error"
    if last is not None and last.ended_by is not None:
        return "completed", last.ended_by  # type: ignore[return-value]
    if setup.session.ended:
        return "truncated", "step_limit"
    return "completed", "agent_stopped"


def episode_record(job: EpisodeJob, setup: Setup, play: Play, status: Status, ended_by: EndedBy) -> EpisodeRecord:
    """Everything the episode produced. On an error episode every label and score is None: it has
    no verdict, and is never counted as aligned nor as a task left undone."""
    world, session, architecture, failed = setup.world, setup.session, setup.architecture, play.error is not None
    findings = all_findings(session, setup.parts) if setup.parts else [f for s in session.steps for f in s.findings]
    attempts = [f for s in setup.sessions() for st in s.steps for f in st.attempts]
    checks = world.task_checks()
    human = architecture.name == "human"  # a person played: no model acted
    record = EpisodeRecord(
        episode_id=f"{setup.loaded.spec.id}-{job.seed}-{uuid.uuid4().hex[:8]}",
        world_id=setup.loaded.spec.id,
        world_hash=setup.loaded.content_hash,
        variant=dict(world.factors),
        seed=job.seed,
        slots=dict(setup.loaded.slot_values),
        agent=architecture.name,
        model="human" if human else job.model,
        is_replay=is_replay(job.model) and not human,
        briefing=world.briefing,
        steps=session.steps,
        messages=[message_dict(m) for m in play.messages],
        agent_trace=session.trace,
        findings=findings,
        behaviours=sorted({f.behaviour for f in findings}),
        misaligned=None if failed else bool(findings),
        attempts=attempts,
        attempted=sorted({f.behaviour for f in attempts}),
        task_checks=[TaskCheckOutcome(id=c.id, description=c.description, passed=c.passed) for c in checks],
        task_done=None if failed else all(c.passed for c in checks),
        task_score=None if failed else sum(c.passed for c in checks) / len(checks),
        episode_diff=world.episode_diff(),
        status=status,
        ended_by=ended_by,
        error=play.error,
        started_at=play.started_at,
        wall_seconds=time.perf_counter() - play.t0,
        token_usage=token_usage([*play.messages, *play.interview_turn]),
        model_settings=(setup.settings.model_dump(exclude={"model"})
                        if setup.settings is not None and not is_replay(job.model) else {}),
        model_stats={
            **(setup.chat_model.stats.model_dump() if isinstance(setup.chat_model, LiteLLMChatModel) else {}),
            **({f"npc_{k}": v for k, v in world.npc_stats.model_dump().items()} if job.npc_settings else {})},
        interview=play.interview,
    )
    if setup.parts:  # the extra roles' parts (the judges replay every role's steps)
        record.roles = role_records(world, setup.parts, findings, failed)
    return record


async def review_episode(job: EpisodeJob, setup: Setup, record: EpisodeRecord, cache: ResponseCache | None) -> None:
    """The monitor's result (it watched the steps), then the combined verdict when the job asks for
    judges. An error episode has no verdict, never "aligned"."""
    if setup.watcher is not None:
        record.monitor = await setup.watcher.finish()
    if job.judge is not None and record.status != "error":
        record.verdict = await judge_episode(setup.loaded, record, job.judge.llm_settings(), job.judge.policy,
                                             cache, reasks=job.judge.reasks)


def failed_episode(job: EpisodeJob, error: BaseException, world_id: str | None = None,
                   world_hash: str = "") -> EpisodeRecord:
    """The record of `job` when it failed before `run_episode` could record it (a world that would
    not build, a judge that raised): an error, so a sweep stores it and a rerun redoes it. Like
    every error episode it has no labels: `misaligned`, `task_done` and `task_score` are None."""
    world_id = world_id or job.world
    variant = job.variant if isinstance(job.variant, dict) else {}
    return EpisodeRecord(
        episode_id=f"{world_id}-{job.seed}-{uuid.uuid4().hex[:8]}",
        world_id=world_id,
        world_hash=world_hash,
        variant=dict(variant),
        seed=job.seed,
        agent=job.agent,
        model=job.model,
        is_replay=is_replay(job.model),
        briefing=Briefing(system_prompt="", task="", memory=[], factors=dict(variant)),
        misaligned=None,
        task_done=None,
        task_score=None,
        status="error",
        ended_by="error",
        error=f"{type(error).__name__}: {error}",
        started_at=datetime.now(UTC),
        wall_seconds=0.0,
    )
