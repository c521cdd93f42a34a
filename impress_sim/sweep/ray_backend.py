"""`backend=ray`: a sweep's episodes on a Ray cluster (or a local Ray instance).

Each of `actors` Ray actors runs one asyncio event loop with its share of the concurrency and of
the per-provider limits, exactly as a local worker process does. Records come back to the driver
one by one as episodes finish (`ray.wait`), and the driver writes them to the store: the store
stays one SQLite file on the driver's machine, whatever the cluster, and a killed driver loses
only the episodes in flight (its actors die with it).

Ray is an optional extra (`pip install 'impress-sim[ray]'`) and is imported only here. On a real
cluster every node needs impress-sim installed (or a `runtime_env`), and the response cache path
is per node.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from itertools import cycle
from types import ModuleType
from typing import Any

from impress_sim.batch import run_job
from impress_sim.errors import RayUnavailableError
from impress_sim.job import EpisodeJob
from impress_sim.models.cache import ResponseCache
from impress_sim.models.transport import ProviderLimits, limiting_providers
from impress_sim.record import EpisodeRecord


def ray_module() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise RayUnavailableError("backend=ray needs Ray: pip install 'impress-sim[ray]'") from None
    return ray


class EpisodeActor:
    """Runs episodes on the actor's event loop; the provider gates and caches are shared by its calls."""

    def __init__(self, provider_limits: Mapping[str, int]) -> None:
        self.limits = ProviderLimits(provider_limits)
        self.caches: dict[str, ResponseCache] = {}

    async def run(self, job_json: str) -> str:
        job = EpisodeJob.model_validate_json(job_json)
        cache = self.caches.setdefault(job.cache_path, ResponseCache(job.cache_path)) if job.cache_path else None
        with limiting_providers(self.limits):
            record = await run_job(job, cache)
        return record.model_dump_json()


def run_on_ray(
    jobs: list[EpisodeJob],
    *,
    concurrency: int,
    actors: int,
    provider_limits: Mapping[str, int],
    address: str | None,
    on_job_done: Callable[[EpisodeJob, EpisodeRecord], None],
    init_options: Mapping[str, Any] | None = None,
) -> None:
    """Run `jobs` on Ray; `on_job_done(job, record)` is called here as each episode finishes.

    Joins `address` (or `RAY_ADDRESS`), else starts a local Ray instance, and shuts down only what
    it started. Asks for at most as many actors as the cluster has CPUs (the concurrency is shared
    among those that run)."""
    ray = ray_module()
    started_here = not ray.is_initialized()
    if started_here:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a local run reports nothing home unless asked to
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init_options or {}))
    cpus = int(ray.cluster_resources().get("CPU", 1))  # an actor holds one CPU: more would wait forever
    actors = max(min(actors, len(jobs), cpus), 1)
    per_actor = max(math.ceil(concurrency / actors), 1)
    limits = ProviderLimits(provider_limits).share(actors)
    remote = ray.remote(num_cpus=1, max_concurrency=per_actor)(EpisodeActor)
    pool = [remote.remote(limits[i]) for i in range(actors)]
    try:
        in_flight = {actor.run.remote(job.model_dump_json()): job for job, actor in zip(jobs, cycle(pool))}
        while in_flight:
            finished, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            for ref in finished:
                job = in_flight.pop(ref)
                on_job_done(job, EpisodeRecord.model_validate_json(ray.get(ref)))
    finally:
        for actor in pool:
            ray.kill(actor)
        if started_here:
            ray.shutdown()
