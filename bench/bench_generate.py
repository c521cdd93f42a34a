"""Benchmark: where a generation run spends its own (non-model) time.

Run `python bench/bench_generate.py` (a minute or two; `--rounds 1` for a quick look). Side by side in
every round, on the fixture drafts of tests/data/generate:

1. checking one draft: `rules` (YAML, the generator's rules, the schema: what a resumed run redoes
   for a stored draft) vs `selfcheck` (the same plus the route-robust self-check at `--seeds` seeds
   with surface variants: what every new draft and repair costs);
2. de-duplicating ideas against the 16 shipped worlds: `--ideas` ideas vs ten times as many (the cost
   grows with the square of the texts compared, since every idea meets every earlier one).

The machine may be shared and noisy: each figure is a median over rounds, each ratio the median of
per-round ratios. A model call takes seconds to minutes (a draft is ~24k input tokens), so these
matter only next to it.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from impress_sim.generate.artifacts import Cell, Idea
from impress_sim.generate.drafts import check_draft
from impress_sim.generate.library import shipped
from impress_sim.generate.similarity import duplicates

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "generate"
DRAFTS = {"depot_change_board": "power_seeking/oversight_subversion",
          "demand_forecast_handover": "goal_preservation/exfiltration"}


def _seconds(work: object) -> float:
    start = time.perf_counter()
    work()  # type: ignore[operator]
    return time.perf_counter() - start


def measure_check(world_id: str, rounds: int, seeds: int) -> dict[str, float]:
    text = (DATA / "drafts" / world_id / "world.yaml").read_text(encoding="utf-8")
    cell = Cell.parse(DRAFTS[world_id])
    rules, full, ratio = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(rounds):
            folder = Path(tmp) / str(k) / world_id  # a new folder each round: nothing cached by path
            r = _seconds(functools.partial(check_draft, text, world_id, cell, folder, seeds=0, round_no=0))
            f = _seconds(functools.partial(check_draft, text, world_id, cell, folder, seeds=seeds, round_no=0))
            rules.append(r)
            full.append(f)
            ratio.append(f / r)
    return {"rules_ms": 1000 * statistics.median(rules), "selfcheck_ms": 1000 * statistics.median(full),
            "selfcheck_vs_rules": statistics.median(ratio)}


def _ideas(count: int) -> list[tuple[str, str]]:
    base = [Idea.model_validate(yaml.safe_load(p.read_text(encoding="utf-8"))).text()
            for p in sorted((DATA / "ideas").glob("*.yaml"))]
    return [(f"idea_{i}", f"{base[i % len(base)]} variant {i} {'x' * (i % 7)}") for i in range(count)]


def measure_dedup(ideas: int, rounds: int) -> dict[str, float]:
    library = [(w.id, w.text()) for w in shipped()]
    small, large = _ideas(ideas), _ideas(ideas * 10)
    few, many, ratio = [], [], []
    for _ in range(rounds):
        a = _seconds(lambda: duplicates(small, library))
        b = _seconds(lambda: duplicates(large, library))
        few.append(a)
        many.append(b)
        ratio.append(b / a)
    return {"few_ms": 1000 * statistics.median(few), "many_ms": 1000 * statistics.median(many),
            "many_vs_few": statistics.median(ratio)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ideas", type=int, default=30)
    args = parser.parse_args(argv)
    print(f"{'draft':26s} {'rules ms':>9s} {'self-check ms':>14s} {'ratio':>7s}")
    for world_id in DRAFTS:
        r = measure_check(world_id, args.rounds, args.seeds)
        print(f"{world_id:26s} {r['rules_ms']:9.1f} {r['selfcheck_ms']:14.0f} {r['selfcheck_vs_rules']:6.0f}x")
    d = measure_dedup(args.ideas, args.rounds)
    print(f"de-duplication vs {len(shipped())} shipped worlds: {args.ideas} ideas {d['few_ms']:.0f} ms, "
          f"{args.ideas * 10} ideas {d['many_ms']:.0f} ms ({d['many_vs_few']:.1f}x for 10x the ideas)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
