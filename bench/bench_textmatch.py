"""Benchmark: what does the near-duplicate measure cost per call, against the exact-shingle test it replaces?

Run `python bench/bench_textmatch.py` (a few seconds) or `python bench/bench_textmatch.py --quick`.

One run measures, side by side, for a ~1 KB protected source (the legal memo and the board pack of
tests/data/paraphrase_set.yaml) against ~2 KB candidates (the world's ordinary text, half of them with
a paragraph of the source embedded, as a leak would be):

- old: the test the information-flow tracer used before this measure replaced it (kept here, as the
  baseline, since the tracer no longer has it): the source's distinctive word 6-gram shingles (its
  shingles less the background's, less those made of function words) intersected with the
  candidate's, at least two of them;
- new: `Fingerprint.similarity` and `Fingerprint.reproduces` (impress_sim/envs/textmatch.py).

Two regimes, because the env checks each text an agent writes against a handful of sources:
- cold: a text never seen before (each call gets a distinct candidate string, so both sides pay for
  normalising it: the old `_tokens`/`_shingles` caches and the new `_analyse` cache miss; the
  word-level caches stay warm, as they do in a running episode where the vocabulary repeats);
- warm: the same text again (the second and later sources checked against one written text).

Every round measures both sides in rotating order; each figure is the median over rounds of the mean
per-call time, and each ratio is the median of per-round ratios (both sides measured in the same
round). The cyclic garbage collector is paused during timed regions, as `timeit` does.
"""

from __future__ import annotations

import argparse
import gc
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from impress_sim.envs.textmatch import Background, Fingerprint

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "bench") not in sys.path:  # bench/figures.py, however this file was loaded
    sys.path.insert(0, str(REPO / "bench"))
from figures import number  # noqa: E402

DATA = REPO / "tests" / "data" / "paraphrase_set.yaml"
DEFAULT_ROUNDS, DEFAULT_CALLS = 15, 200
QUICK_ROUNDS, QUICK_CALLS = 3, 40
TARGET_US = 1000.0  # the brief: a similarity call well under a millisecond (2 KB candidate, 1 KB source)


@dataclass(frozen=True)
class Inputs:
    source: str
    background: tuple[str, ...]
    candidates: tuple[str, ...]  # ~2 KB each; every other one carries a paragraph of the source


def inputs() -> Inputs:
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    sources = data["sources"]
    source = sources["dhx_legal_memo"]["text"] + "\n\n" + sources["board_pack"]["text"]
    background = tuple(data["backgrounds"]["halcyon"])
    ordinary = "\n\n".join(background)
    leak = sources["board_pack"]["text"]
    candidates: list[str] = []
    for i in range(8):
        start = (i * 517) % (len(ordinary) - 2100)
        text = ordinary[start : start + 2048 - (len(leak) + 2 if i % 2 else 0)]
        candidates.append(text + ("\n\n" + leak if i % 2 else ""))
    return Inputs(source, background, tuple(candidates))


_WORD = re.compile(r"\w+")
_OLD_STOPWORDS = frozenset(_WORD.findall(
    """a about above after again all also am an and any are as at be because been before being below
    between both but by can could did do does doing don down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just know let like me more
    most my no nor not now of off on once only or other our ours out over own please re s same she
    should so some such t than thank thanks that the their them then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours"""
))
OLD_N, OLD_WRITE_HITS = 6, 2


@lru_cache(maxsize=8192)
def _old_shingles(text: str) -> frozenset[tuple[str, ...]]:
    toks = tuple(_WORD.findall(text.casefold()))
    return frozenset(toks[i : i + OLD_N] for i in range(len(toks) - OLD_N + 1))


class OldTest:
    """The exact-shingle test the information-flow tracer applied to one write before this measure."""

    def __init__(self, source: str, background: Sequence[str]) -> None:
        back = frozenset().union(*(_old_shingles(t) for t in background))
        self.distinctive = frozenset(
            s for s in _old_shingles(source) - back if sum(w not in _OLD_STOPWORDS for w in s) >= 2)
        self.need = min(OLD_WRITE_HITS, len(self.distinctive))

    def __call__(self, candidate: str) -> bool:
        return len(self.distinctive & _old_shingles(candidate)) >= self.need


def _time(call: Callable[[str], object], texts: Sequence[str]) -> float:
    """Mean seconds per call over `texts`."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for text in texts:
            call(text)
        return (time.perf_counter() - start) / len(texts)
    finally:
        if gc_was:
            gc.enable()


@dataclass
class Figures:
    old_cold: float
    new_cold: float
    new_cold_decision: float
    old_warm: float
    new_warm: float
    new_warm_decision: float
    build: float  # Fingerprint.of, once per source
    cold_ratio: float
    warm_ratio: float


def measure(rounds: int, calls: int) -> Figures:
    data = inputs()
    old = OldTest(data.source, data.background)
    background = Background.of(data.background)
    start = time.perf_counter()
    fingerprint = Fingerprint.of(data.source, background)
    build = time.perf_counter() - start
    new_sim, new_rep = fingerprint.similarity, fingerprint.reproduces
    warm = [data.candidates[i % len(data.candidates)] for i in range(calls)]
    for text in data.candidates:  # both sides agree on which candidates carry the source
        assert old(text) == new_rep(text) == (data.source.split("\n\n")[-1] in text), "inputs are not what they say"
    rows: dict[str, list[float]] = {k: [] for k in ("oc", "nc", "ncd", "ow", "nw", "nwd", "rc", "rw")}
    serial = 0
    for r in range(rounds):

        def fresh() -> list[str]:
            nonlocal serial
            serial += 1  # a distinct string per call: every text-level cache misses
            return [f"{warm[i]}\n-- {serial}.{i}" for i in range(calls)]

        sides: list[tuple[str, Callable[[str], object], bool]] = [
            ("oc", old, True), ("nc", new_sim, True), ("ncd", new_rep, True),
            ("ow", old, False), ("nw", new_sim, False), ("nwd", new_rep, False),
        ]
        sides = sides[r % len(sides) :] + sides[: r % len(sides)]  # rotate the order each round
        got: dict[str, float] = {}
        for key, call, cold in sides:
            texts = fresh() if cold else warm
            if not cold:
                for text in data.candidates:
                    call(text)  # warm the caches
            got[key] = _time(call, texts)
        for key, value in got.items():
            rows[key].append(value)
        rows["rc"].append(got["nc"] / got["oc"])
        rows["rw"].append(got["nw"] / got["ow"])
    med = {k: statistics.median(v) for k, v in rows.items()}
    return Figures(med["oc"], med["nc"], med["ncd"], med["ow"], med["nw"], med["nwd"], build, med["rc"], med["rw"])


def report(f: Figures, out: Callable[[str], None] = print) -> None:
    us = 1e6
    out("textmatch: per-call cost, 1 KB source vs 2 KB candidate (median over rounds)")
    out(f"{'regime':<34}{'old shingles':>14}{'new similarity':>16}{'new reproduces':>16}{'ratio new/old':>15}")
    out(f"{'cold (a text never seen before)':<34}{number(f.old_cold * us, ' us'):>14}"
        f"{number(f.new_cold * us, ' us'):>16}{number(f.new_cold_decision * us, ' us'):>16}"
        f"{number(f.cold_ratio, 'x'):>15}")
    out(f"{'warm (same text, next source)':<34}{number(f.old_warm * us, ' us'):>14}"
        f"{number(f.new_warm * us, ' us'):>16}{number(f.new_warm_decision * us, ' us'):>16}"
        f"{number(f.warm_ratio, 'x'):>15}")
    out(f"Fingerprint.of (once per source): {number(f.build * 1e3, ' ms')}")
    worst = max(f.new_cold, f.new_cold_decision)
    verdict = "met" if worst * us < TARGET_US else "NOT met"
    out(f"target: a call under {number(TARGET_US, ' us')} for a new 2 KB text: {verdict} ({number(worst * us, ' us')})")


def main(argv: Sequence[str] | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only (a smoke run)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--calls", type=int, default=None)
    args = parser.parse_args(argv)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    calls = args.calls or (QUICK_CALLS if args.quick else DEFAULT_CALLS)
    figures = measure(rounds, calls)
    report(figures)
    return figures


if __name__ == "__main__":
    main()
