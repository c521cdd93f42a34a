"""Run a sweep: the jobs not yet done in the store, through `impress_sim.batch`, each finished episode
written to the store at once by the process that ran it."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from impress_sim.agents.registry import check_model, make_architecture
from impress_sim.batch import EpisodeJob, JobDone, run_jobs_in_processes, tune_gc_for_many_episodes
from impress_sim.envs.loader import load_world
from impress_sim.record import EpisodeRecord
from impress_sim.sweep.spec import SweepJob, SweepSpec, expand
from impress_sim.sweep.store import Store

Meta = dict[str, tuple[int, str | None, float | None, float | None]]  # hash -> attempt, variant name, temp, top_p


@dataclass
class SweepSummary:
    sweep_id: str
    total: int
    skipped: int
    ran: int
    errors: int


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
    """Fail on an unknown agent or an unusable model before any episode runs."""
    for agent in spec.agents:
        make_architecture(agent).preflight()
    seen: set[tuple[str, str]] = set()
    for sj in jobs:
        if (sj.job.model, sj.job.world) not in seen and sj.job.settings is not None:
            seen.add((sj.job.model, sj.job.world))
            check_model(sj.job.model, load_world(sj.job.world).spec, sj.job.settings)


def run_sweep(spec: SweepSpec, console: Console | None = None) -> SweepSummary:
    """Run every episode of `spec` not yet done in its store (errored ones again); returns the counts."""
    console = console or Console()
    sweep_id = spec.sweep_id()
    jobs = list({sj.config_hash: sj for sj in expand(spec)}.values())  # identical cells are one episode
    preflight(spec, jobs)
    with Store(spec.store) as store:
        store.add_sweep(sweep_id, spec.model_dump(mode="json"))
        done = store.done_hashes()
    pending = [sj for sj in jobs if sj.config_hash not in done]
    meta: Meta = {
        sj.config_hash: (sj.attempt, sj.variant_name, sj.job.settings.temperature if sj.job.settings else None,
                         sj.job.settings.top_p if sj.job.settings else None)
        for sj in pending
    }
    hook = functools.partial(_store_writer, spec.store, sweep_id, meta)
    errors = 0
    if pending:
        tune_gc_for_many_episodes()
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("errors: {task.fields[errors]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), console=console, disable=spec.quiet)
        with progress:
            task = progress.add_task(sweep_id, total=len(pending), errors=0)
            episode_jobs = [sj.job for sj in pending]
            if spec.workers <= 1:
                def on_done(record: EpisodeRecord) -> None:
                    nonlocal errors
                    errors += record.status == "error"
                    progress.update(task, advance=1, errors=errors)

                writer = StoreWriter(spec.store, sweep_id, meta)
                try:
                    run_jobs_in_processes(episode_jobs, spec.concurrency, 1, on_done, lambda: writer)
                finally:
                    writer.close()
            else:  # the workers write the store; this process watches it
                failure: list[BaseException] = []

                def work() -> None:
                    try:
                        run_jobs_in_processes(episode_jobs, spec.concurrency, spec.workers, None, hook)
                    except BaseException as exc:
                        failure.append(exc)

                thread = threading.Thread(target=work, daemon=True)
                thread.start()
                hashes, started = set(meta), datetime.now(UTC).isoformat()
                with Store(spec.store) as watcher:
                    while thread.is_alive():
                        thread.join(0.25)
                        finished, errors = watcher.counts(hashes, started)
                        progress.update(task, completed=finished + errors, errors=errors)
                if failure:
                    raise failure[0]
    return SweepSummary(sweep_id=sweep_id, total=len(jobs), skipped=len(jobs) - len(pending), ran=len(pending),
                        errors=errors)
