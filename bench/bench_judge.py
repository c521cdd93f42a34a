"""Benchmark: what does the state judge cost per step, before and after effect-based detection?

Run `python bench/bench_judge.py` (a minute or two) or `--quick`. The "before" code is a git
revision (default: `ef9eede`, the last commit with edit-matching detectors), checked out into a
temporary worktree; "after" is this working tree. Each round runs a small worker in a subprocess
for each side, alternately (so both see the same machine load), and the worker:

1. plays every reference trajectory of every shipped world that both sides have, through the real
   agent stack (`run_episode`, model `reference/<trajectory>`), untimed;
2. times `judge_state(loaded, record)` on each record (the detectors replayed over the record's
   diffs, information-flow tracing, and after the change: outcomes with their projections, flows,
   attempts), repeated until it has run for a while, and reports microseconds per replayed step.

The ratio per world is after / before within one round; the figure is the median over rounds. Both
sides judge their own version of each world (the worlds were rebuilt on the new detectors), on the
same kind of input: that world's own reference trajectories.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE = "ef9eede"
TARGET = 1.5  # after / before, per step

WORKER = r'''
import asyncio, gc, json, sys, time
import impress_sim
from impress_sim.envs.loader import load_world, world_ids
from impress_sim.episode import run_episode
from impress_sim.job import EpisodeJob
from impress_sim.judge.state import judge_state

worlds, min_seconds = sys.argv[1].split(","), float(sys.argv[2])
out = {"package": impress_sim.__file__}
for world_id in worlds:
    if world_id not in world_ids():
        continue
    loaded = load_world(world_id)
    records = [asyncio.run(run_episode(EpisodeJob(world=loaded.spec.id, model=f"reference/{name}"), loaded=loaded))
               for name in loaded.spec.trajectories]
    steps = sum(len(r.steps) + sum(len(p.steps) for p in r.roles.values()) for r in records)
    for r in records:
        judge_state(loaded, r)  # warm caches (parsed files, fingerprints)
    gc.disable()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        for r in records:
            judge_state(loaded, r)
        runs += 1
    elapsed = time.perf_counter() - start
    gc.enable()
    out[world_id] = elapsed / (runs * steps) * 1e6
print(json.dumps(out))
'''


def run_side(src: Path, worlds: list[str], min_seconds: float) -> dict[str, float]:
    env = {"PYTHONPATH": str(src), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", WORKER, ",".join(worlds), str(min_seconds)],
                          capture_output=True, text=True, env=env, cwd=src, check=True)
    data: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    package = str(data.pop("package"))
    if not package.startswith(str(src)):
        raise SystemExit(f"the worker imported {package}, not the code under {src}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the 'before' code")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per world per side per round")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 0.3 s (a smoke run)")
    args = parser.parse_args(argv)
    rounds, seconds = (2, 0.3) if args.quick else (args.rounds, args.seconds)
    worlds = ["corporate_shutdown", "monitoring_migration", "cloud_budget", "code_review"]
    with tempfile.TemporaryDirectory(prefix="impress-baseline-") as tmp:
        before_src = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before_src), args.baseline],
                       check=True, capture_output=True)
        try:
            ratios: dict[str, list[float]] = {w: [] for w in worlds}
            costs: dict[str, dict[str, list[float]]] = {"before": {w: [] for w in worlds},
                                                        "after": {w: [] for w in worlds}}
            for k in range(rounds):
                sides = [("before", before_src), ("after", REPO)]
                if k % 2:
                    sides.reverse()  # alternate which side runs first
                got = {name: run_side(src, worlds, seconds) for name, src in sides}
                for w in worlds:
                    if w in got["before"] and w in got["after"]:
                        costs["before"][w].append(got["before"][w])
                        costs["after"][w].append(got["after"][w])
                        ratios[w].append(got["after"][w] / got["before"][w])
                print(f"round {k + 1}/{rounds}: " + ", ".join(
                    f"{w} {ratios[w][-1]:.2f}x" for w in worlds if ratios[w]), flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before_src)],
                           check=False, capture_output=True)
    print(f"\nstate judge, µs per replayed step (median of {rounds} rounds; before = {args.baseline})")
    print(f"{'world':<22}{'before':>10}{'after':>10}{'after/before':>14}")
    all_ratios = []
    for w in worlds:
        if not ratios[w]:
            continue
        r = statistics.median(ratios[w])
        all_ratios.append(r)
        print(f"{w:<22}{statistics.median(costs['before'][w]):>10.0f}{statistics.median(costs['after'][w]):>10.0f}"
              f"{r:>13.2f}x")
    overall = statistics.median(all_ratios) if all_ratios else float("nan")
    print(f"median over worlds: {overall:.2f}x (target <= {TARGET}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
