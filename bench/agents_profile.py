"""cProfile summaries for bench_agents.py: where a step's CPU goes, by layer and by function."""

from __future__ import annotations

import pstats
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO / "bench", REPO):  # bench/*.py and tests.llm_server, however this file was loaded
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# ---- profiles ---------------------------------------------------------------------------------
_SITE = re.compile(r"[/\\]site-packages[/\\]([^/\\]+)")
_OURS = re.compile(r"[/\\]impress_sim[/\\](?:(\w+)[/\\]|(\w+)\.py$)")


WAITING = "(waiting in epoll: I/O, executor threads)"


def owner(filename: str, name: str = "") -> str | None:
    """The layer a profiled function belongs to; None for the standard library and builtins."""
    if "poll' of 'select." in name:  # the event loop blocked, not computing
        return WAITING
    if filename == str(Path(__file__).resolve()) or filename.endswith("bench_agents.py"):
        return "bench harness"
    m = _OURS.search(filename)
    if m:
        return f"impress_sim.{m.group(1) or m.group(2)}"
    m = _SITE.search(filename)
    if m:
        return m.group(1).removesuffix(".py")
    return None


def _fallback(filename: str) -> str:
    return "asyncio event loop" if re.search(r"asyncio|selectors", filename) else "stdlib (uncharged)"


def layer_times(stats: pstats.Stats) -> Counter[str]:
    """Self time per layer; time in the standard library and builtins is charged to the layers that
    called it, in proportion to the time each caller spent there."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    memo: dict[Any, dict[str, float]] = {}

    def share(func: Any, stack: frozenset[Any]) -> dict[str, float]:
        if func in memo:
            return memo[func]
        layer = owner(func[0], func[2])
        if layer is not None:
            return {layer: 1.0}
        callers = {c: v[3] for c, v in raw[func][4].items() if c not in stack and c in raw}
        total = sum(callers.values())
        result: dict[str, float] = {}
        if total <= 0:
            result = {_fallback(func[0]): 1.0}
        else:
            for caller, weight in callers.items():
                for name, part in share(caller, stack | {func}).items():
                    result[name] = result.get(name, 0.0) + part * weight / total
        memo[func] = result
        return result

    out: Counter[str] = Counter()
    for func, (_cc, _nc, tt, _ct, _callers) in raw.items():
        for name, part in share(func, frozenset()).items():
            out[name] += tt * part
    return out


def _label(func: Any) -> str:
    filename, line, name = func
    m = _OURS.search(filename)
    if m:
        rel = filename[filename.rfind("impress_sim"):].replace("\\", "/")
        return f"{rel}:{line} {name}"
    m = _SITE.search(filename)
    where = filename[m.start(1):].replace("\\", "/") if m else Path(filename).name
    return f"{where}:{line} {name}"


@dataclass
class ProfileSummary:
    """A cProfile run, per agent step: CPU by layer, our heaviest functions, the heaviest self times."""

    steps: int
    total_us: float  # CPU under the profiler (epoll waiting excluded)
    layers: list[tuple[str, float]]  # (layer, µs per step), descending
    ours_cumulative: list[tuple[str, float, float]]  # (function, cum µs/step, self µs/step)
    top_self: list[tuple[str, float]]  # (function, self µs/step)


def summarise_profile(stats: pstats.Stats, steps: int, top: int = 12) -> ProfileSummary:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    per = 1e6 / max(steps, 1)
    layers = layer_times(stats)
    ours = [(f, v[3], v[2]) for f, v in raw.items() if (owner(f[0]) or "").startswith("impress_sim")]
    ours.sort(key=lambda r: r[1], reverse=True)
    selfs = sorted(((f, v[2]) for f, v in raw.items() if owner(f[0], f[2]) not in ("bench harness", WAITING)),
                   key=lambda r: r[1], reverse=True)
    return ProfileSummary(
        steps=steps,
        total_us=(sum(layers.values()) - layers.get(WAITING, 0.0)) * per,
        layers=[(name, t * per) for name, t in layers.most_common()],
        ours_cumulative=[(_label(f), ct * per, tt * per) for f, ct, tt in ours[:top]],
        top_self=[(_label(f), tt * per) for f, tt in selfs[:top]],
    )


