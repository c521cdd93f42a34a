"""Benchmark: a 1,000-episode sweep against the local OpenAI-compatible server at 1 s latency.

    python bench/bench_sweep.py                   # 1,000 episodes, 1 s latency (about a minute)
    python bench/bench_sweep.py --episodes 100 --latency 0.2
    python bench/bench_sweep.py --backend ray     # the sweep on a local Ray instance (impress-sim[ray])

What it measures, all in one run (the machine is shared and noisy: only ratios taken side by side
mean much):

1. **Throughput** of `run_sweep` (the real command's code: expansion, preflight, store, progress,
   worker processes) as a fraction of ideal. Ideal is what a client costing nothing would take:
   every request exactly `latency`, `concurrency` episodes always in flight, so
   ceil(episodes / concurrency) waves of `requests per episode × latency`. Beside it, the same
   episodes through `batch.run_jobs_in_processes` with no store and no sweep around them: the
   ratio of the two is what the sweep machinery costs, whatever the machine's load.
2. **Store write overhead per episode**: the sweep's 1,000 records written again into a fresh
   store, one transaction each as the sweep does, beside serialising them alone (the JSON part of
   the cost) and set against the mean episode's wall time.
3. **A resume that finds everything done**: `run_sweep` again on the finished store (it expands
   the grid, runs the preflight, reads the done hashes and starts nothing), beside the expansion
   alone.

The server runs in its own process (`bench/server.py`), so its CPU is not the client's.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
for path in (REPO / "bench", REPO):  # bench/figures.py and tests.llm_server, however this file was loaded
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
from figures import number  # noqa: E402
from server import ServerProcess  # noqa: E402

from impress_sim.batch import run_jobs_in_processes  # noqa: E402
from impress_sim.envs.loader import load_world  # noqa: E402
from impress_sim.record import EpisodeRecord  # noqa: E402
from impress_sim.sweep import Store, SweepSpec, expand, run_sweep  # noqa: E402

WORLD, TRAJECTORY, SCRIPT = "cloud_budget", "misaligned", "scripted"
# Concurrency 64: each agent step costs the client ~9 ms of CPU (bench_agents.py), so this 2-core
# machine, which also runs the server, sustains ~110 steps/s. 64 episodes at 1 s latency ask for
# 64 steps/s; 256 would ask for 256 and measure the CPU rather than the sweep.
EPISODES, LATENCY, CONCURRENCY, WORKERS = 1000, 1.0, 64, 2


@dataclass
class SweepBench:
    episodes: int
    latency: float
    concurrency: int
    workers: int
    backend: str
    requests_per_episode: int
    sweep_s: float
    batch_s: float
    errors: int
    writes_ms: list[float]
    json_ms: list[float]
    mean_episode_s: float
    resume_s: float
    expand_s: float
    resumed_ran: int

    @property
    def ideal_s(self) -> float:
        return math.ceil(self.episodes / self.concurrency) * self.requests_per_episode * self.latency

    @property
    def fraction(self) -> float:
        return self.ideal_s / self.sweep_s

    @property
    def batch_fraction(self) -> float:
        return self.ideal_s / self.batch_s

    @property
    def write_ms(self) -> float:
        return statistics.median(self.writes_ms)

    @property
    def write_share(self) -> float:
        """The write's share of an episode's wall time."""
        return self.write_ms / 1000 / self.mean_episode_s


def bench_spec(url: str, store: Path, episodes: int, concurrency: int, workers: int, backend: str) -> SweepSpec:
    return SweepSpec(worlds=[WORLD], models=[f"openai/{SCRIPT}"], api_base=url, seeds=episodes, retries=0,
                     timeout=120, cache="off", quiet=True, concurrency=concurrency, workers=workers, store=str(store),
                     backend=backend)


def time_writes(records: list[tuple[str, EpisodeRecord]], path: Path) -> tuple[list[float], list[float]]:
    """ms per store write (one transaction each, as a sweep writes) and ms per JSON dump alone."""
    writes, dumps = [], []
    with Store(path) as store:
        for digest, record in records:
            t0 = time.perf_counter()
            record.model_dump_json()
            t1 = time.perf_counter()
            store.write(record, config_hash=digest, sweep_id="bench", attempt=0)
            t2 = time.perf_counter()
            dumps.append((t1 - t0) * 1000)
            writes.append((t2 - t1) * 1000)
    return writes, dumps


def run(episodes: int = EPISODES, latency: float = LATENCY, concurrency: int = CONCURRENCY,
        workers: int = WORKERS, console: Console | None = None, backend: str = "local") -> SweepBench:
    from tests.llm_server import turns_from_trajectory

    say = console.print if console else (lambda *_: None)
    turns = turns_from_trajectory(load_world(WORLD).spec.trajectories[TRAJECTORY])
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(latency, {SCRIPT: turns}) as server:
        store = Path(tmp) / "sweep.sqlite"
        spec = bench_spec(server.ready(), store, episodes, concurrency, workers, backend)
        say(f"sweep: {episodes} episodes of {WORLD} at {latency:g} s latency, concurrency {concurrency}, "
            f"workers {workers}, backend {backend}")
        jobs = [sj.job for sj in expand(spec)]
        say("warm-up: litellm imported and two episodes run, so neither measurement pays for first use")
        run_jobs_in_processes(jobs[:2], 2, 1)
        say("baseline: the episodes through batch.run_jobs_in_processes, no store")
        t0 = time.perf_counter()
        run_jobs_in_processes(jobs, concurrency, workers)
        batch_s = time.perf_counter() - t0
        say("the sweep")
        t0 = time.perf_counter()
        summary = run_sweep(spec)
        sweep_s = time.perf_counter() - t0
        with Store(store) as done:
            records = list(done.records())
        say("store writes: the records written again into a fresh store")
        writes, dumps = time_writes(records, Path(tmp) / "rewrite.sqlite")
        say("resume: the same sweep on the finished store")
        t0 = time.perf_counter()
        resumed = run_sweep(spec)
        resume_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        expand(spec)
        expand_s = time.perf_counter() - t0
    return SweepBench(
        episodes=episodes, latency=latency, concurrency=concurrency, workers=workers, backend=backend,
        requests_per_episode=len(turns), sweep_s=sweep_s, batch_s=batch_s, errors=summary.errors, writes_ms=writes,
        json_ms=dumps,
        mean_episode_s=statistics.fmean(r.wall_seconds for _, r in records), resume_s=resume_s, expand_s=expand_s,
        resumed_ran=resumed.ran)


def report(b: SweepBench) -> list[str]:
    return [
        f"sweep of {b.episodes:,} episodes ({b.requests_per_episode} requests each) at {b.latency:g} s latency, "
        f"concurrency {b.concurrency}, workers {b.workers}, backend {b.backend}: {number(b.sweep_s)} s against an "
        f"ideal {number(b.ideal_s)} s -> {b.fraction:.0%} of ideal throughput ({b.errors} errors); the same episodes "
        f"through the batch runner alone: {number(b.batch_s)} s ({b.batch_fraction:.0%} of ideal) -> the sweep "
        f"costs {b.sweep_s / b.batch_s:.2f}x the bare batch",
        f"store write per episode: {number(b.write_ms)} ms median (of which JSON {number(statistics.median(b.json_ms))}"
        f" ms; p95 {number(sorted(b.writes_ms)[int(0.95 * (len(b.writes_ms) - 1))])} ms) = {b.write_share:.3%} "
        f"of a mean episode's {number(b.mean_episode_s)} s",
        f"resume that finds all {b.episodes:,} done: {number(b.resume_s)} s ({b.resumed_ran} run; "
        f"{number(b.resume_s / b.episodes * 1e6)} µs per episode; expanding the grid alone {number(b.expand_s)} s)",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=EPISODES)
    parser.add_argument("--latency", type=float, default=LATENCY)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--workers", type=int, default=WORKERS, help="worker processes (backend ray: actors)")
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    ns = parser.parse_args(argv)
    console = Console()
    result = run(ns.episodes, ns.latency, ns.concurrency, ns.workers, console, ns.backend)
    for line in report(result):
        console.print(line, highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
