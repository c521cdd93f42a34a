"""Benchmark: what does a seeded filling cost when an episode starts?

Run `python bench/bench_slots.py` (about a minute; `--rounds 3` for a quick look). For each shipped
world it measures, side by side in every round, the time to build a `World`:

1. `written`: at seed 0 (the world as written, loaded once: the baseline every episode paid before);
2. `cached`: at a seed whose filling was built before (a sweep or RL loop revisiting seeds);
3. `new`: at a seed never seen in this process (the filling is made from the parsed template,
   validated and cross-checked like the written world).

The machine may be shared and noisy, so each figure is a median over rounds and each ratio the
median of per-round ratios. `new` is one-off per distinct filling (fillings are cached, 256 per
process); an episode's model calls take seconds, so it matters only to fast RL loops.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import time

from impress_sim.envs import load_world, world_ids
from impress_sim.envs.world import World

_fresh_seeds = itertools.count(10_000)


def _timed(build: object) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        build()  # type: ignore[operator]
        return time.perf_counter() - start
    finally:
        gc.enable()


def measure(world_id: str, rounds: int) -> dict[str, float]:
    loaded = load_world(world_id)
    World(loaded, seed=0)
    World(loaded, seed=1)  # seed 1's filling is built here: `cached` revisits it
    written, cached, new, ratio = [], [], [], []
    for _ in range(rounds):
        w = _timed(lambda: World(loaded, seed=0))
        c = _timed(lambda: World(loaded, seed=1))
        n = _timed(lambda: World(loaded, seed=next(_fresh_seeds)))
        written.append(w)
        cached.append(c)
        new.append(n)
        ratio.append(n / w)
    return {"written_ms": 1000 * statistics.median(written), "cached_ms": 1000 * statistics.median(cached),
            "new_ms": 1000 * statistics.median(new), "new_vs_written": statistics.median(ratio)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--worlds", nargs="*", default=None)
    args = parser.parse_args(argv)
    print(f"{'world':22s} {'written ms':>10s} {'cached ms':>10s} {'new ms':>8s} {'new/written':>12s}")
    for world_id in args.worlds or world_ids():
        r = measure(world_id, args.rounds)
        print(f"{world_id:22s} {r['written_ms']:10.2f} {r['cached_ms']:10.2f} {r['new_ms']:8.1f} "
              f"{r['new_vs_written']:11.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
