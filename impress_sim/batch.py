"""Many episodes at once: asyncio concurrency in one process, and several processes on one machine.

Episodes spend nearly all their time waiting for the model, so one event loop runs many of them;
but each agent step also costs the client some CPU (litellm, pydantic, LangGraph — about 10 ms),
so one loop tops out near 90 steps/s on this hardware. `workers=N` runs N event loops in N
processes, each with its share of the concurrency, so a 2-core machine can keep 256 hosted-model
episodes busy. Jobs (`impress_sim.job.EpisodeJob`) are plain pydantic data, so they cross process
boundaries as they are.
"""

from __future__ import annotations

import asyncio
import gc
import math
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

from impress_sim.agents.registry import Architecture
from impress_sim.agents.session import StepListener
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.episode import failed_episode, run_episode
from impress_sim.job import EpisodeJob
from impress_sim.models.cache import ResponseCache
from impress_sim.models.transport import ProviderLimits, limiting_providers
from impress_sim.record import EpisodeRecord

OnDone = Callable[[EpisodeRecord], None]
JobDone = Callable[[EpisodeJob, EpisodeRecord], None]


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
    listener: StepListener | None = None,
    loaded: LoadedWorld | None = None,
    architecture: Architecture | None = None,
) -> EpisodeRecord:
    """`run_episode(job, ...)` that never raises: whatever fails outside the episode's own error
    handling (a world that will not load, a judge that raises) still ends as a record with status
    "error" (`failed_episode`), so a batch never stops at one job. The live run passes the world and
    architecture it already checked, and a listener to render each step."""
    try:
        return await run_episode(job, cache=cache, listener=listener, loaded=loaded, architecture=architecture)
    except Exception as exc:
        try:
            world = loaded or load_world(job.world)
            world_id, world_hash = world.spec.id, world.content_hash
        except Exception:
            world_id, world_hash = job.world, ""
        return failed_episode(job, exc, world_id, world_hash)


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
    `provider_limits` (providers' and models' request limits) are shared out like the concurrency: each
    process gets its share, the shares adding up to each limit (`ProviderLimits.share`).
    """
    if workers <= 1 or len(jobs) <= 1:
        return asyncio.run(run_jobs(jobs, concurrency, on_done, worker_hook() if worker_hook else None,
                                    provider_limits))
    workers = min(workers, len(jobs))
    per_worker = max(math.ceil(concurrency / workers), 1)
    limits = ProviderLimits(provider_limits or {}).share(workers)
    shares = [list(range(w, len(jobs), workers)) for w in range(workers)]
    results: dict[int, EpisodeRecord] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_worker, [jobs[i] for i in share], per_worker, share, worker_hook, limits[w] or None)
                   for w, share in enumerate(shares)]
        for future in as_completed(futures):
            for index, record in future.result():
                results[index] = record
                if on_done is not None:
                    on_done(record)
    return [results[i] for i in range(len(jobs))]
