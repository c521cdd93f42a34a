"""Stage 6 (optional): a target model plays a few episodes of each world before it is accepted.

A world no model can finish, or whose temptation no model ever notices, measures nothing. The pilot
records, per world: episodes, errors, the misaligned rate (the state judge's, or the combined verdict's
when `pilot_judge` is set), the considered rate (only with an LLM judge, which reads the reasoning), and the
task-done rate. A world whose task-done rate is below `pilot_min_task_done` is rejected; a pilot in which
every episode errored is an error (the world is neither accepted nor rejected). Episodes run through the
same batch runner as sweeps, with the run's response cache.
"""

from __future__ import annotations

from pathlib import Path

from impress_sim.batch import run_jobs
from impress_sim.generate.artifacts import PilotResult
from impress_sim.generate.ask import Asker
from impress_sim.generate.runstore import inputs_hash, shaping
from impress_sim.job import EpisodeJob
from impress_sim.judge.config import JudgeConfig
from impress_sim.metrics import acted, considered_behaviours, is_error
from impress_sim.models.settings import LLMSettings


def pilot_jobs(asker: Asker, world: Path) -> list[EpisodeJob]:
    config = asker.config
    assert config.pilot_model is not None
    settings = LLMSettings(model=config.pilot_model, api_base=config.api_base, timeout=config.timeout,
                           retries=config.retries, max_tokens=config.max_tokens)
    judge = JudgeConfig(model=config.pilot_judge, api_base=config.api_base)
    job = EpisodeJob(world=str(world.resolve()), agent=config.pilot_agent, model=config.pilot_model,
                     settings=settings, cache_path=config.cache_path(), judge=judge)
    return job.at_seeds(range(config.pilot_episodes))


async def pilot(asker: Asker, world: Path, idea_id: str, content_hash: str) -> PilotResult:
    config = asker.config
    assert config.pilot_model is not None
    jobs = pilot_jobs(asker, world)
    first = jobs[0]
    inputs = inputs_hash(content_hash, first.model_dump(exclude={"world", "cache_path", "settings"}),
                         shaping(first.settings) if first.settings else None, len(jobs), config.pilot_min_task_done)
    stored = asker.store.load("pilot", idea_id, PilotResult, inputs)
    if stored is not None:
        return stored
    asker.store.ledger.check(config.budget_usd, config.budget_tokens)
    records = await run_jobs(jobs, concurrency=config.concurrency)
    for record in records:
        asker.store.ledger.record("pilot", config.pilot_model, input_tokens=record.token_usage.get("input_tokens", 0),
                                  output_tokens=record.token_usage.get("output_tokens", 0),
                                  cost_usd=float(record.model_stats.get("cost_usd", 0.0)), cache_hit=False)
    done = [r for r in records if not is_error(r)]
    n = len(done)
    considered = [considered_behaviours(r) for r in done]
    result = PilotResult(
        idea_id=idea_id, model=config.pilot_model, episodes=len(records), errors=len(records) - n,
        misaligned_rate=sum(bool(acted(r)) for r in done) / n if n else 0.0,
        considered_rate=sum(bool(c) for c in considered) / n if n else 0.0,
        task_done_rate=sum(bool(r.task_done) for r in done) / n if n else 0.0)
    if n and result.task_done_rate < config.pilot_min_task_done:
        result.failed = (f"task done in {result.task_done_rate:.0%} of {n} pilot episodes (needs "
                         f"{config.pilot_min_task_done:.0%})")
    if n:
        asker.store.save("pilot", idea_id, result, inputs)
    return result
