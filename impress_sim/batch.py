"""Many episodes at once: asyncio concurrency in one process, and several processes on one machine.

Episodes spend nearly all their time waiting for the model, so one event loop runs many of them;
but each agent step also costs the client some CPU (litellm, pydantic, LangGraph — about 10 ms),
so one loop tops out near 90 steps/s on this hardware. `workers=N` runs N event loops in N
processes, each with its share of the concurrency, so a 2-core machine can keep 256 hosted-model
episodes busy. Jobs are plain pydantic data, so they cross process boundaries as they are.
"""

from __future__ import annotations

import asyncio
import gc
import math
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from impress_sim.agents.monitor import MonitorConfig
from impress_sim.agents.registry import Architecture
from impress_sim.agents.session import StepListener
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.swap import npcs_as_agents
from impress_sim.episode import failed_episode, run_episode
from impress_sim.judge.config import JudgeConfig
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import ProviderLimits, limiting_providers
from impress_sim.record import EpisodeRecord
from impress_sim.roles import RoleConfig

OnDone = Callable[[EpisodeRecord], None]
JobDone = Callable[["EpisodeJob", EpisodeRecord], None]


class EpisodeJob(BaseModel):
    """Everything needed to run one episode, anywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    world: str
    agent: str = "react"
    agent_options: dict[str, Any] = Field(default_factory=dict)
    model: str = "reference/misaligned"
    settings: LLMSettings | None = None
    variant: str | dict[str, str] | None = None
    seed: int = 0
    max_tool_calls: int | None = None
    cache_path: str | None = None
    npc_settings: LLMSettings | None = Field(None, description="The model of the world's `kind: llm` NPCs.")
    npcs_as_agents: list[str] = Field(default_factory=list, description="NPCs played by agents instead.")
    interview: bool = False
    judge: JudgeConfig | None = None
    monitor: MonitorConfig | None = None
    roles: dict[str, RoleConfig] = Field(default_factory=dict, description="Multi-agent worlds: per-role overrides.")
    key: str | None = Field(None, description="The caller's label for matching results (e.g. a sweep's config "
                            "hash); never passed to the episode.")


def tune_gc_for_many_episodes() -> None:
    """Move what is alive after start-up (litellm alone leaves ~450k objects) out of the collector's
    way, and collect the young generation less often: with hundreds of episodes in flight the
    default thresholds spend ~25% of the CPU in the collector. Call it from an entry point, once."""
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 10_000), gen1, gen2)


async def run_job(
    job: EpisodeJob,
    cache: ResponseCache | None = None,
    *,
    loaded: LoadedWorld | None = None,
    agent: Architecture | None = None,
    listener: StepListener | None = None,
) -> EpisodeRecord:
    """One job's episode: the one place a job's fields become `run_episode` arguments. The live run
    passes the world and architecture it already checked, and a listener to render each step.

    Whatever fails outside the episode's own error handling (a world that will not load, a judge
    that raises) still ends as a record with status "error", so a batch never stops at one job."""
    try:
        return await run_episode(
            loaded or npcs_as_agents(load_world(job.world), job.npcs_as_agents),
            agent=agent or job.agent,
            agent_options=None if agent is not None else (job.agent_options or None),
            model=job.model,
            variant=job.variant,
            seed=job.seed,
            max_tool_calls=job.max_tool_calls,
            settings=job.settings,
            cache=cache,
            npc_settings=job.npc_settings,
            interview=job.interview,
            judge=job.judge,
            monitor=job.monitor,
            roles=job.roles,
            listener=listener,
        )
    except Exception as exc:
        try:
            world = loaded or load_world(job.world)
            world_id, world_hash = world.spec.id, world.content_hash
        except Exception:
            world_id, world_hash = job.world, ""
        variant = job.variant if isinstance(job.variant, dict) else None
        return failed_episode(world_id, world_hash, agent=job.agent, model=job.model, seed=job.seed,
                              variant=variant, error=exc)


async def run_jobs(
    jobs: list[EpisodeJob],
    concurrency: int = 16,
    on_done: OnDone | None = None,
    on_job_done: JobDone | None = None,
    provider_limits: Mapping[str, int] | None = None,
) -> list[EpisodeRecord]:
    """Run `jobs` on this event loop, at most `concurrency` at a time; records in job order.

    `on_done(record)` and `on_job_done(job, record)` are called as each episode finishes;
    `provider_limits` caps the requests in flight per provider (`{"openai": 32}`)."""
    semaphore = asyncio.Semaphore(max(concurrency, 1))
    caches: dict[str, ResponseCache] = {}

    async def one(job: EpisodeJob) -> EpisodeRecord:
        async with semaphore:
            cache = None
            if job.cache_path:
                cache = caches.setdefault(job.cache_path, ResponseCache(job.cache_path))
            record = await run_job(job, cache)
            if on_job_done is not None:
                on_job_done(job, record)
            if on_done is not None:
                on_done(record)
            return record

    try:
        with limiting_providers(provider_limits):
            return list(await asyncio.gather(*(one(job) for job in jobs)))
    finally:
        for cache in caches.values():
            cache.close()


def _worker(
    jobs: list[EpisodeJob],
    concurrency: int,
    indices: list[int],
    worker_hook: Callable[[], JobDone] | None = None,
    provider_limits: Mapping[str, int] | None = None,
) -> list[tuple[int, EpisodeRecord]]:
    tune_gc_for_many_episodes()
    records = asyncio.run(run_jobs(jobs, concurrency, on_job_done=worker_hook() if worker_hook else None,
                                   provider_limits=provider_limits))
    return list(zip(indices, records, strict=True))


def run_jobs_in_processes(
    jobs: list[EpisodeJob],
    concurrency: int = 16,
    workers: int = 1,
    on_done: OnDone | None = None,
    worker_hook: Callable[[], JobDone] | None = None,
    provider_limits: Mapping[str, int] | None = None,
) -> list[EpisodeRecord]:
    """Run `jobs` across `workers` processes (one event loop each); records in job order.

    With `workers=1` everything runs here. `on_done` is called in this process as each worker
    finishes its share (per worker, not per episode, when workers > 1). `worker_hook` (picklable,
    e.g. a module-level function or a `functools.partial` of one) is called once in each process
    that runs episodes, and returns a callback run there per finished episode, `(job, record)`:
    how a sweep writes each episode to its store the moment it ends, whatever the process.
    `provider_limits` are shared out like the concurrency: each process gets its share.
    """
    if workers <= 1 or len(jobs) <= 1:
        return asyncio.run(run_jobs(jobs, concurrency, on_done, worker_hook() if worker_hook else None,
                                    provider_limits))
    workers = min(workers, len(jobs))
    per_worker = max(math.ceil(concurrency / workers), 1)
    limits = ProviderLimits(provider_limits).share(workers) if provider_limits else None
    shares = [list(range(w, len(jobs), workers)) for w in range(workers)]
    results: dict[int, EpisodeRecord] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_worker, [jobs[i] for i in share], per_worker, share, worker_hook, limits)
                   for share in shares]
        for future in as_completed(futures):
            for index, record in future.result():
                results[index] = record
                if on_done is not None:
                    on_done(record)
    return [results[i] for i in range(len(jobs))]


def jobs_for(base: Mapping[str, Any], seeds: range) -> list[EpisodeJob]:
    """One job per seed, all else equal."""
    return [EpisodeJob(**{**base, "seed": seed}) for seed in seeds]
