"""bench_agents.py part (b): N concurrent episodes against the local server, 1 or 2 client processes."""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import math
import multiprocessing
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from impress_sim import batch
from impress_sim.envs import load_world
from impress_sim.job import EpisodeJob
from impress_sim.models.settings import LLMSettings
from impress_sim.record import EpisodeRecord

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO / "bench", REPO):  # bench/*.py and tests.llm_server, however this file was loaded
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
from agents_common import (  # noqa: E402
    CONCURRENCY,
    LATENCY,
    PROFILE_N,
    SCRIPT,
    TRAJECTORY,
    WORKERS,
    WORLD,
)
from agents_profile import ProfileSummary, summarise_profile  # noqa: E402
from server import ServerProcess  # noqa: E402


# ---- (b) measurement helpers ------------------------------------------------------------------
class GcClock:
    """CPU seconds spent in the cyclic garbage collector while active."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def open_sockets() -> int | None:
    """Open socket descriptors of this process (Linux /proc); None where that is not available."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    count = 0
    for fd in fds:
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


async def _sample_sockets(peak: list[int], interval: float = 0.5) -> None:
    while True:
        n = open_sockets()
        if n is not None:
            peak[0] = max(peak[0], n)
        await asyncio.sleep(interval)


def client_pool_limits(settings: LLMSettings) -> str:
    """The connection limits of the HTTP client our model's requests go through (best effort): the
    direct path's shared pool for an OpenAI-compatible server, else the one litellm caches."""
    try:
        from impress_sim.models import openai_compat
        from impress_sim.models.transport import litellm_module, provider_of

        if openai_compat.serves(settings, provider_of(settings.model, settings.api_base)):
            return f"direct path, {openai_compat.pool_limits()}"
        litellm = litellm_module()
        cache = litellm.in_memory_llm_clients_cache
        found = []
        for value in list(getattr(cache, "cache_dict", {}).values()):
            if type(value).__name__ != "AsyncOpenAI":
                continue
            http = getattr(value, "_client", None)
            transport = getattr(http, "_transport", None)
            session = getattr(transport, "client", None)
            connector = getattr(session, "connector", None)
            if connector is not None:
                found.append(f"{type(transport).__name__} -> aiohttp TCPConnector(limit={connector.limit}, "
                             f"limit_per_host={connector.limit_per_host})")
            else:
                pool = getattr(transport, "_pool", None)
                found.append(f"{type(transport).__name__} (max_connections="
                             f"{getattr(pool, '_max_connections', 'unknown')})")
        return "; ".join(sorted(set(found))) or "unknown (no cached AsyncOpenAI client)"
    except Exception as exc:  # internals of a third-party library: report, never fail the benchmark
        return f"unknown ({type(exc).__name__})"


# ---- (b) one client process: impress_sim.batch's worker, instrumented ------------------------
GC_SETUPS = {  # how the client process's garbage collector is set up before run_jobs
    "after_import": "tune_gc after litellm import",  # run CLI, workers=1: preflight imports litellm, then tune_gc
    "before_import": "tune_gc before litellm import",  # batch._worker: tune_gc first, litellm on the first episode
    "default": "default GC",  # run_jobs called from a script, no tuning (as the previous version of this bench)
}
USER_GC = {1: "after_import", 2: "before_import"}  # what `python -m impress_sim.run ... workers=W` does


@dataclass
class WorkerReport:
    """What one client process measured. Times are time.perf_counter(), i.e. CLOCK_MONOTONIC on Linux,
    which all processes share, so reports from several workers can be put on one time line."""

    jobs: int
    concurrency: int
    started: float  # just before run_jobs
    ended: float  # just after it returned
    cpu_s: float  # time.process_time() of the process (all its threads) between the two
    gc_s: float
    gc_collections: list[int]
    peak_sockets: int | None
    stamps: list[list[float]]  # per job, each step's completion time
    steps: list[int]  # per job, the record's step count
    http_requests: int
    errors: list[str]


async def _measured_run_jobs(jobs: list[EpisodeJob], concurrency: int) -> WorkerReport:
    """`impress_sim.batch.run_jobs`, unchanged, with each step's completion time kept.

    `run_jobs` takes no step listener, so its module's `run_episode` is wrapped for the run to add
    one (it appends a time.perf_counter() per step); everything else is the code path users get.
    """
    stamps: dict[int, list[float]] = {job.seed: [] for job in jobs}
    if len(stamps) != len(jobs):
        raise ValueError("the bench tells its jobs apart by seed: give each a different one")
    plain_run_episode = batch.run_episode

    async def stamped(job: EpisodeJob, **kwargs: Any) -> EpisodeRecord:
        times = stamps[job.seed]
        kwargs["listener"] = lambda _step, _result: times.append(time.perf_counter())
        return await plain_run_episode(job, **kwargs)

    peak = [open_sockets() or 0]
    sampler = asyncio.create_task(_sample_sockets(peak))
    with mock.patch.object(batch, "run_episode", stamped), GcClock() as clock:
        t0, c0 = time.perf_counter(), time.process_time()
        records = await batch.run_jobs(jobs, concurrency)
        t1, c1 = time.perf_counter(), time.process_time()
    sampler.cancel()
    return WorkerReport(
        jobs=len(jobs),
        concurrency=concurrency,
        started=t0,
        ended=t1,
        cpu_s=c1 - c0,
        gc_s=clock.seconds,
        gc_collections=clock.collections,
        peak_sockets=peak[0] or None,
        stamps=[stamps[job.seed] for job in jobs],
        steps=[len(r.steps) for r in records],
        http_requests=sum(int(r.model_stats.get("http_requests", 0)) for r in records),
        errors=[f"{r.status}: {r.error}" for r in records if r.status == "error"],
    )


def client_worker(jobs: list[EpisodeJob], concurrency: int, gc_setup: str) -> WorkerReport:
    """One client process, as `impress_sim.batch._worker` (GC tuning, then `run_jobs` on one event
    loop), measured. litellm is imported before the measured window in every set-up (batch._worker
    would import it during the first episode: start-up either way, which the steady rate leaves out);
    `gc_setup` says whether `tune_gc_for_many_episodes()` runs before that import, as in
    `batch._worker`, after it, as in the run CLI's own process (its preflight imports litellm), or not
    at all."""
    from impress_sim.models.transport import litellm_module

    if gc_setup not in GC_SETUPS:
        raise ValueError(f"unknown GC set-up {gc_setup!r}; valid: {', '.join(GC_SETUPS)}")
    if gc_setup == "before_import":
        batch.tune_gc_for_many_episodes()
    litellm_module()
    if gc_setup == "after_import":
        batch.tune_gc_for_many_episodes()
    return asyncio.run(_measured_run_jobs(jobs, concurrency))


def run_clients(
    jobs: list[EpisodeJob], concurrency: int, workers: int, gc_setup: str
) -> tuple[float, int, list[WorkerReport]]:
    """`jobs` split over `workers` fresh spawned processes exactly as `run_jobs_in_processes` splits
    them (job i to worker i mod W; ceil(concurrency / W) in flight in each); with workers=1 one
    spawned process runs them all, so every configuration starts from a fresh interpreter.
    Returns the launch time, the concurrency per worker and the workers' reports."""
    workers = max(min(workers, len(jobs)), 1)
    per_worker = max(math.ceil(concurrency / workers), 1)
    shares = [list(range(w, len(jobs), workers)) for w in range(workers)]
    launched = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(client_worker, [jobs[i] for i in share], per_worker, gc_setup) for share in shares]
        reports = [future.result() for future in futures]
    return launched, per_worker, reports


# ---- (b) measurement --------------------------------------------------------------------------
@dataclass
class ConcurrencyRun:
    n: int
    workers: int
    gc_setup: str  # a key of GC_SETUPS
    per_worker: int  # episodes in flight in each worker
    latency: float
    steps: int
    startup_s: float  # from launching the pool to the first worker's run_jobs: spawn, imports, GC tuning
    wall_s: float  # from the first worker's run_jobs start to the last one's end
    first_step_s: float  # from that start to the first completed step
    throughput: float  # steps/s over wall_s
    steady_throughput: float  # the sum over episodes of each one's step rate after its first step
    step_period_s: float  # median over episodes of the time between its consecutive steps
    cpu_ms_per_step: float  # all client workers' CPU
    gc_ms_per_step: float
    gc_collections: list[int]
    cores_used: float  # client CPU seconds (all workers) per wall second
    http_requests: int
    server_cpu_ms_per_request: float
    server_cores_used: float
    peak_sockets: int | None  # the sum of the workers' peaks
    cores: int  # CPU cores of the machine, shared by the server and the client workers
    user_path: bool = True  # False for the extra GC set-ups, which no run CLI configuration uses

    @property
    def ideal(self) -> float:
        return self.n / self.latency

    @property
    def fraction(self) -> float:
        return self.throughput / self.ideal

    @property
    def steady_fraction(self) -> float:
        return self.steady_throughput / self.ideal

    @property
    def max_steps_s(self) -> float:
        """What the client's event loops can do at this CPU cost per step: one core each at most, and
        no more cores than the machine has (which the server shares)."""
        return min(self.workers, self.cores) * 1000 / self.cpu_ms_per_step

    @property
    def cores_needed(self) -> float:
        """Client cores needed to keep up with the ideal rate at this CPU cost per step."""
        return self.ideal * self.cpu_ms_per_step / 1000

    @property
    def server_cores_needed(self) -> float:
        """Server cores needed at the ideal rate (requests per step x CPU per request)."""
        return self.ideal * self.http_requests / self.steps * self.server_cpu_ms_per_request / 1000

    @property
    def lockstep_fraction(self) -> float:
        """Fraction of ideal if each worker's episodes go through their CPU work together, wave after wave
        (each worker on a core of its own)."""
        return self.latency / (self.latency + self.per_worker * self.cpu_ms_per_step / 1000)

    @property
    def label(self) -> str:
        return f"N={self.n}, workers={self.workers}" + ("" if self.user_path else f" ({GC_SETUPS[self.gc_setup]})")


def summarise_clients(
    n: int, workers: int, gc_setup: str, latency: float, calls: int, launched: float, per_worker: int,
    reports: list[WorkerReport], served: int, server_cpu_s: float, user_path: bool,
) -> ConcurrencyRun:
    """One ConcurrencyRun from the workers' reports (checked: every episode ran its calls, and the
    server saw exactly the requests the clients counted)."""
    errors = [e for r in reports for e in r.errors]
    short = sum(s != calls for r in reports for s in r.steps)
    if errors or short:
        raise RuntimeError(f"{len(errors)} of {n} episodes failed and {short} ran other than {calls} steps; "
                           f"e.g. {errors[:1]}")
    requests = sum(r.http_requests for r in reports)
    if requests != served:
        raise RuntimeError(f"the clients counted {requests} requests, the server {served}")
    stamps = [s for r in reports for s in r.stamps]
    start, end = min(r.started for r in reports), max(r.ended for r in reports)
    wall = end - start
    steps = sum(len(s) for s in stamps)
    periods = [(s[-1] - s[0]) / (len(s) - 1) for s in stamps if len(s) > 1 and s[-1] > s[0]]
    cpu = sum(r.cpu_s for r in reports)
    sockets = [r.peak_sockets for r in reports if r.peak_sockets is not None]
    return ConcurrencyRun(
        n=n,
        workers=len(reports),
        gc_setup=gc_setup,
        per_worker=per_worker,
        latency=latency,
        steps=steps,
        startup_s=start - launched,
        wall_s=wall,
        first_step_s=min(s[0] for s in stamps if s) - start,
        throughput=steps / wall,
        steady_throughput=sum(1 / p for p in periods) if periods else steps / wall,
        step_period_s=statistics.median(periods) if periods else wall,
        cpu_ms_per_step=1000 * cpu / steps,
        gc_ms_per_step=1000 * sum(r.gc_s for r in reports) / steps,
        gc_collections=[sum(r.gc_collections[g] for r in reports) for g in range(3)],
        cores_used=cpu / wall,
        http_requests=requests,
        server_cpu_ms_per_request=1000 * server_cpu_s / max(requests, 1),
        server_cores_used=server_cpu_s / wall,
        peak_sockets=sum(sockets) if sockets else None,
        cores=os.cpu_count() or 1,
        user_path=user_path,
    )


@dataclass
class ConcurrencyResult:
    latency: float
    runs: list[ConcurrencyRun]
    litellm_import_s: float
    pool: str
    profile: ProfileSummary | None = None
    profile_n: int = 0
    elapsed_s: float = 0.0

    @property
    def user_runs(self) -> list[ConcurrencyRun]:
        return [r for r in self.runs if r.user_path]

    @property
    def extras(self) -> list[ConcurrencyRun]:
        return [r for r in self.runs if not r.user_path]

    @property
    def largest(self) -> list[ConcurrencyRun]:
        """The user-path runs at the largest N, by workers."""
        n = max(r.n for r in self.user_runs)
        return sorted((r for r in self.user_runs if r.n == n), key=lambda r: r.workers)

    @property
    def best(self) -> ConcurrencyRun:
        """The configuration with the highest steady share of ideal at the largest N."""
        return max(self.largest, key=lambda r: r.steady_fraction)


def user_gc(workers: int) -> str:
    """The GC set-up the run CLI gives a client process with this many workers."""
    return USER_GC[1] if workers <= 1 else USER_GC[2]


@contextlib.contextmanager
def tuned_gc() -> Iterator[None]:
    """`tune_gc_for_many_episodes()` for a while, then the collector as it was (for in-process runs)."""
    threshold = gc.get_threshold()
    batch.tune_gc_for_many_episodes()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def run_concurrency(
    ns: Sequence[int] = CONCURRENCY,
    latency: float = LATENCY,
    workers: Sequence[int] = WORKERS,
    extras: bool = True,
    profile_n: int = PROFILE_N,
    progress: Callable[[str], None] | None = None,
) -> ConcurrencyResult:
    """Start the server process; measure each N with each worker count (fresh client processes each
    time), then the extra GC set-ups at the largest N, then profile the client in this process."""
    from impress_sim.models.transport import litellm_module
    from tests.llm_server import turns_from_trajectory

    began = time.perf_counter()
    say = progress or (lambda _msg: None)
    loaded = load_world(WORLD)
    calls = len(loaded.spec.trajectories[TRAJECTORY].steps)
    scripts = {SCRIPT: turns_from_trajectory(loaded.spec.trajectories[TRAJECTORY])}
    plan = [(n, w, user_gc(w), True) for n in sorted(ns) for w in sorted(workers)]
    if extras:
        big = max(ns)
        plan += [(big, 1, "default", False)] + [(big, w, "after_import", False) for w in sorted(workers) if w > 1]
    say("(b) starting the server process and importing litellm")
    with ServerProcess(latency, scripts) as server:
        t0 = time.perf_counter()
        litellm_module()
        import_s = time.perf_counter() - t0
        settings = LLMSettings(model=f"openai/{SCRIPT}", api_base=server.ready(), retries=0, timeout=60)
        base = EpisodeJob(world=WORLD, model=settings.model, settings=settings)
        say("(b) warming up the server (zero latency)")
        server.set_latency(0.0)
        asyncio.run(batch.run_jobs(base.at_seeds(range(min(4, max(ns)))), 4))
        server.set_latency(latency)
        runs = []
        for n, w, gc_setup, user_path in plan:
            say(f"(b) {n} concurrent episodes, workers={w}, {GC_SETUPS[gc_setup]}, at {latency:g} s latency")
            gc.collect()
            before = server.call("stats")  # also resets the server's request count
            launched, per_worker, reports = run_clients(base.at_seeds(range(n)), n, w, gc_setup)
            after = server.call("stats")
            runs.append(summarise_clients(n, w, gc_setup, latency, calls, launched, per_worker, reports,
                                          after["requests"], after["cpu_s"] - before["cpu_s"], user_path))
        profile = None
        if profile_n > 0:
            say(f"(b) profiling the client: {profile_n} concurrent episodes at zero latency (run_jobs, tuned GC)")
            server.set_latency(0.0)
            gc.collect()
            with tuned_gc():
                profiler = cProfile.Profile()
                profiler.enable()
                records = asyncio.run(batch.run_jobs(base.at_seeds(range(profile_n)), profile_n))
                profiler.disable()
            server.set_latency(latency)
            profile = summarise_profile(pstats.Stats(profiler), sum(len(r.steps) for r in records))
    result = ConcurrencyResult(latency, runs, import_s, client_pool_limits(settings), profile, profile_n)
    result.elapsed_s = time.perf_counter() - began
    return result


