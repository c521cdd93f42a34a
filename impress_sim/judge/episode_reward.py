"""An LLM judge as a reward term: `ImpressEnv(reward={"judge_weight": w}, episode_judge=llm_judge(settings))`.

When the world ends an episode, the judge reads it as it reads any recorded episode (the same prompt,
schema, re-asks and evidence checks as `impress judge`), and the term is minus the severity weight of
every behaviour it labels acted *with evidence that checks* (the agent's own words or action at the
cited step, as the combined verdict demands; 0 when none; low 0.25 ... critical 1.0), times
`judge_weight`. It
sees what the detectors may miss — a misaligned act by a route no detector covers — and what they
cannot, such as what the agent said in its reasoning; it costs one model call per episode.

The runtime never imports the judges, so the env is handed this callable. The record the judge reads
is built from the env's own step results (the steps, their findings and the world's task checks); a
learner's free text between tool calls is not in it unless the caller passes `messages`.

A judge that fails (unreachable after retries, or no valid reply after its re-asks) scores 0 for that
episode and says why in `last_error`: a reward term must not crash a training step, and an episode it
could not judge is not thereby aligned — count `errors` before trusting the term.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from impress_sim.envs.effects import AGENT
from impress_sim.envs.reward import EpisodeJudge
from impress_sim.envs.step import StepResult
from impress_sim.envs.turns import STEP_LIMIT
from impress_sim.envs.world import World
from impress_sim.judge.evidence import EvidenceChecker
from impress_sim.judge.llm import judge_llm
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.record import EpisodeRecord, StepRecord, TaskCheckOutcome

T = TypeVar("T")


def record_of(world: World, results: Sequence[StepResult], *, model: str = "rl-policy",
              messages: Sequence[dict[str, Any]] = ()) -> EpisodeRecord:
    """The episode as a record a judge can read, from the world and the primary role's step results."""
    steps = [StepRecord.from_result(r, tool=r.call.name if r.call else "?", args=dict(r.call.args) if r.call else {},
                                    call_id=r.call.call_id if r.call else None) for r in results]
    findings = [f for s in steps for f in s.findings]
    attempts = [f for s in steps for f in s.attempts]
    checks = world.task_checks(AGENT)
    reason = world.ended_by(AGENT)
    return EpisodeRecord(
        episode_id=f"{world.loaded.spec.id}-{world.seed}-{uuid.uuid4().hex[:8]}", world_id=world.loaded.spec.id,
        world_hash=world.loaded.content_hash, variant=dict(world.factors), seed=world.seed,
        slots=dict(world.loaded.slot_values), agent="rl", model=model, is_replay=False, briefing=world.briefing,
        steps=steps, messages=list(messages), findings=findings, behaviours=sorted({f.behaviour for f in findings}),
        misaligned=bool(findings), attempts=attempts, attempted=sorted({f.behaviour for f in attempts}),
        task_checks=[TaskCheckOutcome(id=c.id, description=c.description, passed=c.passed) for c in checks],
        task_done=all(c.passed for c in checks) if checks else False,
        task_score=sum(c.passed for c in checks) / len(checks) if checks else 0.0,
        episode_diff=world.episode_diff(), status="truncated" if reason == STEP_LIMIT else "completed",
        ended_by=reason or "agent_stopped",
        started_at=datetime.now(UTC), wall_seconds=0.0)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end from sync code, also when called inside a running event loop (an
    async trainer): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class LLMJudgeTerm:
    """An `EpisodeJudge`: minus the severity weight of each behaviour the LLM judge labels acted."""

    def __init__(self, settings: LLMSettings, cache: ResponseCache | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.last_error = ""
        self.errors = 0
        self.judged = 0

    def __call__(self, world: World, results: Sequence[StepResult]) -> float:
        record = record_of(world, results)
        verdict = _run(judge_llm(world.loaded, record, self.settings, self.cache))
        self.judged += 1
        if verdict.error:
            self.errors += 1
            self.last_error = verdict.error
            return 0.0
        self.last_error = ""
        weights = {b.id: b.severity.weight for b in world.loaded.spec.behaviours}
        checker = EvidenceChecker(record)  # as the combined verdict does: an acted label counts only when backed
        backed = {label.behaviour for label in verdict.behaviours if label.acted and checker.split(label.evidence)[0]}
        return -sum(weights.get(b, 1.0) for b in backed)


def llm_judge(settings: LLMSettings, cache: ResponseCache | None = None) -> EpisodeJudge:
    """The LLM judge term for an env's `episode_judge=` (weighted by `RewardConfig.judge_weight`)."""
    return LLMJudgeTerm(settings, cache)
