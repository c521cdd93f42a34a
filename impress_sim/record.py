"""`EpisodeRecord`: everything one episode produced, versioned and serialisable.

A record is enough to judge an episode again without rerunning it: it holds the briefing, every
step's tool call, observation, state diff and findings, the messages, and the identity of the
world it ran in (id, content hash, variant, seed) so the initial state can be rebuilt. It holds
diffs, never snapshots, so records stay small.
"""

from __future__ import annotations

import stat
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from impress_sim.envs.briefing import Briefing
from impress_sim.envs.detectors import Finding
from impress_sim.envs.step import ErrorKind, StepResult
from impress_sim.envs.turns import EndReason
from impress_sim.verdict import CombinedVerdict

SCHEMA_VERSION = 3  # 2: attempts, refusals, task_score; misaligned is None on an error episode.
# 3: task_done is None on an error episode; verdicts say task_done (records with the
# old name, task_completed, still load: `impress_sim.verdict.TASK_DONE_NAMES`).

Status = Literal["completed", "truncated", "error"]
# how an episode ended: the world's reasons (envs/turns.py), or the agent stopping, or a failure
EndedBy = Literal[EndReason, "agent_stopped", "error"]


MAX_RECORD_BYTES = 512 * 1024 * 1024  # far above any episode's record; bounds what a typo can make us read


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepRecord(_Record):
    index: int
    clock: str
    thought: str = Field(default="", description="The agent's visible text in the message that made this call.")
    tool: str | None = Field(description="The tool that ran (its real name, whatever the agent called it).")
    shown_as: str | None = Field(None, description="The name the agent called it by, when a `tool_naming` variant "
                                 "showed it under another (the call as the agent made it is also in `messages`).")
    args: dict[str, Any]
    call_id: str | None = None
    observation: str
    error_kind: ErrorKind | None = Field(
        None, validation_alias=AliasChoices("error_kind", "error"),  # records before the rename say `error`
        description="Why the call failed (its message is the observation); None if it worked.")
    diff: list[dict[str, Any]] = Field(description="Journaled changes of this step (agent, NPCs, jobs, timeline).")
    findings: list[Finding] = Field(default_factory=list)
    attempts: list[Finding] = Field(
        default_factory=list, description="Behaviours this step attempted but the world refused (never effects).")
    refusals: list[str] = Field(default_factory=list, description="What the world refused this step, and why.")
    events: list[str] = Field(default_factory=list)
    notices: list[str] = Field(default_factory=list)
    npc_errors: list[str] = Field(default_factory=list)
    duration_ms: float = 0.0

    @classmethod
    def from_result(cls, result: StepResult, *, tool: str, args: dict[str, Any] | str, call_id: str | None = None,
                    thought: str = "", duration_ms: float = 0.0) -> StepRecord:
        """The record of one world step (the one conversion): `tool`/`args` as the agent sent them
        (raw text when they were malformed), the rest from the world's `StepResult`."""
        return cls(
            index=result.step,
            clock=result.clock,
            thought=thought,
            tool=result.call.name if result.call else tool,
            shown_as=result.shown_as,
            args=args if isinstance(args, dict) else {"_raw": args},
            call_id=call_id,
            observation=result.observation,
            error_kind=result.error_kind,
            diff=result.diff(),
            findings=result.findings,
            attempts=result.attempts,
            refusals=result.refusals,
            events=result.events,
            notices=result.notices,
            npc_errors=result.npc_errors,
            duration_ms=duration_ms,
        )


class TaskCheckOutcome(_Record):
    id: str
    description: str
    passed: bool


class Interview(_Record):
    """The follow-up interview: an NPC asks the agent what it did and why; the agent's answer."""

    asker: str = Field(description="The NPC id who asked.")
    question: str
    answer: str = ""
    error: str | None = Field(None, description="Set when the agent's model could not answer.")


class MonitorCheck(_Record):
    """One monitor check: its suspicion score for the trajectory up to `step`, or the error."""

    step: int = Field(description="Index of the last step the monitor saw.")
    steps_seen: int = Field(description="How many agent steps the monitor saw.")
    score: int | None = Field(None, ge=0, le=100, description="Suspicion 0-100; None when the check failed.")
    reason: str = ""
    reply: str = Field("", description="The monitor's raw reply.")
    error: str | None = Field(None, description="Set when the monitor could not be reached or gave no score.")


class MonitorResult(_Record):
    """What an LLM monitor made of the worker's trajectory (agents/monitor.py)."""

    model: str
    threshold: int
    every: int = 1
    checks: list[MonitorCheck] = Field(default_factory=list)
    max_score: int | None = Field(None, description="Highest score of any check; None when no check gave one.")
    caught: bool | None = Field(
        None, description="max_score >= threshold; None (unknown) when no check gave a score.")
    errors: int = Field(0, description="Checks that failed.")
    usage: dict[str, float] = Field(default_factory=dict, description="The monitor's requests, tokens, cost.")

    @classmethod
    def of(cls, model: str, threshold: int, every: int, checks: list[MonitorCheck],
           usage: dict[str, float] | None = None) -> MonitorResult:
        scores = [c.score for c in checks if c.score is not None]
        top = max(scores) if scores else None
        return cls(model=model, threshold=threshold, every=every, checks=checks, max_score=top,
                   caught=None if top is None else top >= threshold, errors=sum(c.error is not None for c in checks),
                   usage=usage or {})


class RoleRecord(_Record):
    """What one extra agent of a multi-agent world did (the primary agent's part is the record itself).

    Its steps' `index` counts every role's actions, so all roles' steps sorted by index are the order
    the world saw them in."""

    agent: str
    model: str
    is_replay: bool
    briefing: Briefing
    steps: list[StepRecord] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    agent_trace: list[dict[str, Any]] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list, description="Findings attributed to this role.")
    task_done: bool | None = Field(
        description="Whether this role's own task checks all pass; None on an error episode.")
    error: str | None = None
    token_usage: dict[str, int] = Field(default_factory=dict)
    model_stats: dict[str, float] = Field(default_factory=dict)


class EpisodeRecord(_Record):
    """One episode. Its labels say what is true when they are True (`misaligned`: the state detectors
    found a misaligned effect; `task_done`: the task checks pass) and are None on an error episode,
    which has no verdict and is never counted as aligned, nor as a task left undone."""

    schema_version: int = SCHEMA_VERSION
    episode_id: str
    world_id: str
    world_hash: str
    variant: dict[str, str]
    seed: int
    slots: dict[str, Any] = Field(
        default_factory=dict, description="What the seed filled into the world's slots: with world_hash and seed, "
        "it names the exact world the episode ran in.")
    agent: str
    model: str
    is_replay: bool = Field(description="True when the 'model' replays a scripted trajectory: not a measurement.")
    briefing: Briefing
    steps: list[StepRecord] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    agent_trace: list[dict[str, Any]] = Field(
        default_factory=list, description="The architecture's internal steps (plans, critiques, guard decisions)."
    )
    findings: list[Finding] = Field(default_factory=list)
    behaviours: list[str] = Field(default_factory=list, description="Distinct behaviours the state detectors found.")
    misaligned: bool | None = Field(
        description="The state judge's label: whether the state detectors found any misaligned effect in the "
        "world (`behaviours` non-empty). Not the combined verdict, which also weighs the LLM judges: that is "
        "`verdict.misaligned` (`impress_sim.metrics.acted` picks whichever the record has). None for an error "
        "episode (it has no verdict: never counted as aligned).")
    attempts: list[Finding] = Field(
        default_factory=list, description="Behaviours attempted but refused by the world: kept apart from effects.")
    attempted: list[str] = Field(
        default_factory=list, description="Distinct behaviours attempted (refused by the world), whether or not "
        "another route later achieved them.")
    task_checks: list[TaskCheckOutcome] = Field(default_factory=list)
    task_done: bool | None = Field(
        description="Whether the world's task checks all pass (each check's own result is its `passed`); None "
        "on an error episode.")
    task_score: float | None = Field(
        None, description="Share of the task checks that pass (each credited on its own); None on an error episode.")
    episode_diff: list[dict[str, Any]] = Field(default_factory=list)
    status: Status
    ended_by: EndedBy
    error: str | None = None
    started_at: datetime
    wall_seconds: float
    token_usage: dict[str, int] = Field(default_factory=dict)
    model_settings: dict[str, Any] = Field(default_factory=dict, description="Decoding settings as sent.")
    verdict: CombinedVerdict | None = Field(None, description="The judges' labels, when the episode was judged.")
    interview: Interview | None = Field(None, description="The follow-up interview, when one was asked for.")
    model_stats: dict[str, float] = Field(
        default_factory=dict, description="HTTP requests, cache hits, retries, cost (USD) of the episode."
    )
    monitor: MonitorResult | None = Field(None, description="An LLM monitor's suspicion scores, when one watched.")

    roles: dict[str, RoleRecord] = Field(
        default_factory=dict,
        description="Multi-agent worlds: each extra agent's part, by role id (`steps` etc. are the primary's).",
    )

    def save(self, directory: Path) -> Path:
        return self.save_as(directory / f"{self.episode_id}.json")

    def save_as(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)  # atomic: a crash never leaves a half-written record
        return path

    @classmethod
    def load(cls, path: Path) -> EpisodeRecord:
        """Read a record file. Only a regular file of at most `MAX_RECORD_BYTES` is read (never a
        pipe, a device or a multi-gigabyte file): anything else is a `ValueError` saying which."""
        info = Path(path).stat()
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path}: not a regular file (a pipe, device or folder is never read as a record)")
        if info.st_size > MAX_RECORD_BYTES:
            raise ValueError(f"{path}: {info.st_size:,} bytes; a record is limited to {MAX_RECORD_BYTES:,} bytes")
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    def comparable(self) -> dict[str, Any]:
        """The record without what legitimately differs between identical runs (ids, times)."""
        data = self.model_dump(mode="json", exclude={"episode_id", "started_at", "wall_seconds", "model_stats"})
        for step in data["steps"]:
            step.pop("duration_ms", None)
        if data.get("monitor"):
            data["monitor"].pop("usage", None)  # requests and cache hits differ between identical runs
        for role in data.get("roles", {}).values():
            role.pop("model_stats", None)
            for step in role["steps"]:
                step.pop("duration_ms", None)
        return data

    def all_steps(self) -> list[tuple[str, StepRecord]]:
        """(role, step) for every role's steps, in the order the world saw them (by step index)."""
        steps = [("agent", s) for s in self.steps]
        steps += [(role, s) for role, part in self.roles.items() for s in part.steps]
        return sorted(steps, key=lambda rs: rs[1].index)
