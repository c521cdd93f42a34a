"""Run a sweep: the jobs not yet done in the store, on a backend, each finished episode written to
the store at once (one transaction each), so a kill loses only the episodes in flight.

Backends: `local` runs `impress_sim.batch` in this process (`workers=1`, this process writes the
store) or in worker processes that each write the store while this process watches it; `ray`
runs Ray actors (`impress_sim.sweep.ray_backend`) that send each record back here to be written.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from impress_sim.batch import JobDone, run_jobs_in_processes, tune_gc_for_many_episodes
from impress_sim.job import EpisodeJob
from impress_sim.models.cache import ResponseCache
from impress_sim.preflight import check_jobs
from impress_sim.record import EpisodeRecord
from impress_sim.sweep.spec import SweepJob, SweepSpec, expand
from impress_sim.sweep.store import Store, SweepLock, Tally

if TYPE_CHECKING:
    from impress_sim.sweep.probes import ProbeSummary

Meta = dict[str, tuple[int, str | None, float | None, float | None]]  # hash -> attempt, variant name, temp, top_p
ProgressUpdate = Callable[[Tally], None]


@dataclass
class SweepSummary:
    sweep_id: str
    total: int
    skipped: int
    ran: int
    errors: int
    probes: ProbeSummary | None = None  # the probe questions (probes.samples=N), when the sweep asks them


class StoreWriter:
    """Writes each finished episode of a sweep to the store, from the process that ran it."""

    def __init__(self, path: str, sweep_id: str, meta: Meta) -> None:
        self.store, self.sweep_id, self.meta = Store(path), sweep_id, meta

    def __call__(self, job: EpisodeJob, record: EpisodeRecord) -> None:
        assert job.key is not None
        attempt, variant_name, temperature, top_p = self.meta[job.key]
        self.store.write(record, config_hash=job.key, sweep_id=self.sweep_id, attempt=attempt,
                         variant_name=variant_name, temperature=temperature, top_p=top_p)

    def close(self) -> None:
        self.store.close()


def _store_writer(path: str, sweep_id: str, meta: Meta) -> JobDone:
    """Called once in each worker process: opens the store there (closed when the process ends)."""
    return StoreWriter(path, sweep_id, meta)


def preflight(spec: SweepSpec, jobs: list[SweepJob]) -> None:
    """Fail on an unknown agent, an unusable model (any role's, a judge's, the NPCs' or the
    monitor's) or a missing Ray before any episode runs."""
    if spec.backend == "ray":
        from impress_sim.sweep.ray_backend import ray_module

        ray_module()
    for path in {sj.job.cache_path for sj in jobs} - {None}:  # a cache that is not ours: refused before any run
        ResponseCache(str(path)).close()
    check_jobs(sj.job for sj in jobs)  # the same checks as `impress run`: agents, models, judges, NPCs, monitor


def sweep_progress(console: Console, quiet: bool) -> Progress:
    """Episodes done of total, errors, tokens, cost, elapsed time and ETA."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("errors {task.fields[errors]}"), TextColumn("tokens {task.fields[tokens]:,}"),
                    TextColumn("${task.fields[cost]:.2f}"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console, disable=quiet)


def run_sweep(spec: SweepSpec, console: Console | None = None) -> SweepSummary:
    """Run every episode of `spec` not yet done in its store (errored ones again); returns the counts.

    The store is locked for the sweep's life (`SweepLock`): a second sweep on it is refused."""
    console = console or Console()
    sweep_id = spec.sweep_id()
    jobs = list({sj.config_hash: sj for sj in expand(spec)}.values())  # identical cells are one episode
    preflight(spec, jobs)
    if spec.probes.samples:  # a probe set that would ask nothing is refused before any episode runs
        from impress_sim.sweep.probes import expand_probes

        expand_probes(spec)
    with contextlib.ExitStack() as held:
        with Store(spec.store) as store:  # checked (a file that is not a store is refused) before the lock file
            held.enter_context(SweepLock(spec.store))
            store.add_sweep(sweep_id, spec.model_dump(mode="json"), [sj.config_hash for sj in jobs])
            done = store.done_hashes()
        summary = _run_pending(spec, sweep_id, jobs, done, console)
        if spec.probes.samples:  # after the episodes, under the same lock: the questions not yet answered
            from impress_sim.sweep.probes import run_sweep_probes

            summary.probes = run_sweep_probes(spec, sweep_id, console)
        return summary


def _run_pending(spec: SweepSpec, sweep_id: str, jobs: list[SweepJob], done: set[str],
                 console: Console) -> SweepSummary:
    pending = [sj for sj in jobs if sj.config_hash not in done]
    meta: Meta = {
        sj.config_hash: (sj.attempt, sj.variant_name, sj.job.settings.temperature if sj.job.settings else None,
                         sj.job.settings.top_p if sj.job.settings else None)
        for sj in pending
    }
    tally = Tally()
    if pending:
        tune_gc_for_many_episodes()
        with sweep_progress(console, spec.quiet) as progress:
            task = progress.add_task(sweep_id, total=len(pending), errors=0, tokens=0, cost=0.0)

            def show(t: Tally) -> None:
                progress.update(task, completed=t.done + t.errors, errors=t.errors, tokens=t.tokens, cost=t.cost_usd)

            episode_jobs = [sj.job for sj in pending]
            if spec.backend == "ray" or spec.workers <= 1:
                _run_writing_here(spec, sweep_id, meta, episode_jobs, tally, show)
            else:
                _run_in_writing_workers(spec, sweep_id, meta, episode_jobs, tally, show)
    return SweepSummary(sweep_id=sweep_id, total=len(jobs), skipped=len(jobs) - len(pending), ran=len(pending),
                        errors=tally.errors)


def _run_writing_here(spec: SweepSpec, sweep_id: str, meta: Meta, jobs: list[EpisodeJob], tally: Tally,
                      show: ProgressUpdate) -> None:
    """Episodes run here (or on Ray) and come back here, where each is written as it arrives."""
    writer = StoreWriter(spec.store, sweep_id, meta)

    def on_job_done(job: EpisodeJob, record: EpisodeRecord) -> None:
        writer(job, record)
        tally.add(record)
        show(tally)

    try:
        if spec.backend == "ray":
            from impress_sim.sweep.ray_backend import run_on_ray

            run_on_ray(jobs, concurrency=spec.concurrency, actors=spec.workers, provider_limits=spec.request_limits(),
                       address=spec.ray_address, on_job_done=on_job_done)
        else:
            run_jobs_in_processes(jobs, spec.concurrency, 1, None, lambda: on_job_done, spec.request_limits())
    finally:
        writer.close()


def _run_in_writing_workers(spec: SweepSpec, sweep_id: str, meta: Meta, jobs: list[EpisodeJob], tally: Tally,
                            show: ProgressUpdate) -> None:
    """Worker processes write the store themselves; this process watches it for the progress bar."""
    hook = functools.partial(_store_writer, spec.store, sweep_id, meta)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            run_jobs_in_processes(jobs, spec.concurrency, spec.workers, None, hook, spec.request_limits())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    started = datetime.now(UTC).isoformat()  # what this run writes: rows of this sweep finished from now on
    with Store(spec.store) as watcher:
        while thread.is_alive():
            thread.join(0.25)
            seen = watcher.tally(sweep_id, started)
            tally.done, tally.errors, tally.tokens, tally.cost_usd = seen.done, seen.errors, seen.tokens, seen.cost_usd
            show(tally)
    if failure:
        raise failure[0]
