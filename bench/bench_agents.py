"""Benchmark: our agent stack's cost per step, and how many concurrent episodes 1 or 2 client processes keep busy.

Run `python bench/bench_agents.py` (about 5 minutes) or `python bench/bench_agents.py --quick` (about
a minute). Both parts use the `corporate_shutdown` world and its `misaligned` trajectory
(10 tool calls, the last one `finish`).
The parts live in `agents_overhead.py` and `agents_concurrency.py` (shared settings in
`agents_common.py`, profile summaries in `agents_profile.py`); this file runs them and reports.

(a) Framework overhead per agent step, with a zero-latency model. Ours:
    `run_episode(EpisodeJob(world=..., model="reference/misaligned"))`, i.e. the react graph, one `World.step` per
    tool call (journal diff, detectors, NPCs), step and episode records, timed per episode and divided
    by its tool calls. Bare: a minimal LangGraph `StateGraph` of the same shape (message list with
    `add_messages`, an agent node, a tool node, the same two conditional routes, the same recursion
    limit) whose tool returns a constant string, driven by the same kind of fake chat model (a
    `BaseChatModel` with only `_generate`, so `ainvoke` takes the same executor hop) replaying the same
    10 tool calls. Bare is timed compiled once and reused (as LangGraph is usually used, and as ours is:
    its nodes find their episode in LangGraph's run context, `context_schema`), and, for reference,
    compiled per episode and with coroutine routers: bare's routers are plain functions, which LangGraph
    runs in a worker thread when the graph is awaited, while ours are coroutines, so the coroutine-router
    variant shows what of our difference from bare is that choice. Every round runs every variant for
    each episode slot, in rotating order; a figure is the median over rounds of the round's
    median episode, and a ratio is the median of per-round ratios. Our time is split, using the step
    records' own timings and a separately timed `World()`, into world construction, env steps and the
    rest (graph, model, records), and a cProfile run shows where it goes. The garbage collector stays on
    (it is part of the real cost), with a full collection between rounds.

(b) Concurrency against the local OpenAI-compatible server of tests/llm_server.py, run in its own
    process (multiprocessing, spawn), so that its CPU and GIL stay out of the client's figures. The
    server answers every request after a fixed latency (2 s, a typical hosted-model response time).
    N episodes run at once (N = 16, 64 and 256; `EpisodeJob`s with a real `LiteLLMChatModel`, retries=0,
    no cache; `openai/<name>` at the server's api_base, so the transport's direct path sends them)
    through `impress_sim.batch.run_jobs`, the code path of `python -m impress_sim.run concurrency=N
    workers=W`, with W = 1 and 2 client processes: the jobs are split as
    `run_jobs_in_processes` splits them (job i to worker i mod W, ceil(N / W) in flight in each), and
    each worker is a fresh spawned process that sets up the garbage collector as the run CLI does
    (`tune_gc_for_many_episodes()`: in the CLI's own process, which runs workers=1, after litellm is
    imported by the preflight; in `batch._worker`, before) and runs `run_jobs` on one event loop; the
    bench's worker wraps `run_jobs` to time it, keep its CPU and keep each step's completion time. The
    machine's cores are shared by the server and the client workers (2 here: with workers=2 the three
    processes compete for them). One run per configuration (a run averages over thousands of steps).
    Throughput is tool calls completed per second, overall (from the first worker's run_jobs start to
    the last one's end; process start-up is shown apart) and steady: the sum over episodes of each
    one's step rate after its first step, which leaves out start-up (world, graph, first request). The
    ideal is N / latency: an episode can take at most one step per latency period. CPU per step is the
    sum of the client processes' `time.process_time()` over their runs divided by the steps. One asyncio
    event loop runs on at most one core (the GIL), so W workers top out at ~W / CPU-per-step steps/s (if
    they get W cores), and keeping up with the ideal needs ideal x CPU-per-step client cores. Also
    reported:
    - GC time per step (`gc.callbacks`);
    - the peak number of open sockets, to show whether a connection pool caps concurrency;
    - the HTTP pool's limits (the direct path's shared aiohttp pool for an OpenAI-compatible server);
    - the server process's CPU per request and the cores it used;
    - a lockstep model, latency / (latency + n x CPU-per-step) with n episodes per worker: the fraction
      of ideal expected when each worker's episodes go through their CPU work together, wave after wave;
    - at the largest N, two extra GC set-ups: workers=1 with the collector untouched (`run_jobs` called
      from a script, as the previous version of this bench ran it), and workers=2 with
      `tune_gc_for_many_episodes()` after the litellm import (what `batch._worker` would give if it
      imported litellm first);
    - the client's CPU by layer, from a short profiled `run_jobs` at zero latency in this process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "bench") not in sys.path:  # bench/figures.py, however this file was loaded
    sys.path.insert(0, str(REPO / "bench"))
from agents_common import (  # noqa: E402
    CONCURRENCY,
    CONCURRENCY_TARGET,
    DEFAULT_EPISODES,
    DEFAULT_PROFILE_EPISODES,
    DEFAULT_ROUNDS,
    LATENCY,
    OVERHEAD_TARGET,
    PROFILE_N,
    QUICK_CONCURRENCY,
    QUICK_EPISODES,
    QUICK_LATENCY,
    QUICK_PROFILE_EPISODES,
    QUICK_PROFILE_N,
    QUICK_ROUNDS,
    VARIANTS,
    WORKERS,
)
from agents_concurrency import (  # noqa: E402
    GC_SETUPS,
    ConcurrencyResult,
    run_concurrency,
    user_gc,
)
from agents_overhead import (  # noqa: E402
    OverheadResult,
    run_overhead,
)
from agents_profile import (  # noqa: E402
    WAITING,
    ProfileSummary,
)
from figures import number  # noqa: E402

if str(REPO) not in sys.path:  # tests.llm_server, when run as `python bench/bench_agents.py`
    sys.path.insert(0, str(REPO))



# ---- report ---------------------------------------------------------------------------------
@dataclass
class BenchResult:
    overhead: OverheadResult | None = None
    concurrency: ConcurrencyResult | None = None
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)


_n = number


def _x(x: float) -> str:
    return f"{x:.2f}x"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def tables(result: BenchResult) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each table."""
    out: list[tuple[str, list[str], list[list[str]]]] = []
    a = result.overhead
    if a is not None:
        names = {"ours": "ours: run_episode (react + World + records)",
                 "bare": "bare LangGraph, compiled once",
                 "bare_async": "bare LangGraph, compiled once, coroutine routers",
                 "bare_compile": "bare LangGraph, compiled per episode"}
        out.append((
            f"(a) Framework overhead per agent step, zero-latency model ({a.calls} tool calls per episode; "
            f"{a.rounds} rounds x {a.episodes} episodes)",
            ["variant", "µs / step", "steps / s", "ours / this"],
            [[names[v], _n(a.us[v]), _n(a.steps_per_s[v]),
              {"ours": "-", "bare": _x(a.ours_over_bare), "bare_async": _x(a.ours_over_bare_async),
               "bare_compile": _x(a.ours_over_bare_compile)}[v]]
             for v in VARIANTS],
        ))
        ours = a.us["ours"]
        rows = [
            ("bare LangGraph agent loop (compiled once)", a.us["bare"]),
            ("+ World.tool_schemas() for bind_tools (cached per tool; read per episode)", a.schemas_us),
            ("+ World() construction", a.world_us),
            ("+ env steps: World.step (diff, detectors, NPCs) + StepRecord", a.env_us),
            ("+ remainder: session, tool node, model copy, EpisodeRecord, ...", a.remainder_us),
            ("= ours", ours),
        ]
        out.append((
            "(a') Where our step time goes (µs per step; medians over rounds, so the parts need not add up exactly)",
            ["part", "µs / step", "share of ours"],
            [[name, _n(v) if v >= 0 else f"{v:.0f}", _pct(v / ours)] for name, v in rows],
        ))
    b = result.concurrency
    if b is not None:
        cores = b.runs[0].cores if b.runs else os.cpu_count()
        out.append((
            f"(b) Concurrent episodes through litellm over HTTP ({b.latency:g} s server latency; the server in its own "
            f"process; {cores} cores shared by the server and the client workers; throughput = tool calls/s)",
            ["N", "workers (in flight each)", "client GC", "steps", "start-up s", "wall s", "1st step s", "steps/s",
             "steady steps/s", "ideal", "% ideal", "steady % ideal", "step period s", "lockstep model"],
            [[str(r.n), f"{r.workers} ({r.per_worker})", GC_SETUPS[r.gc_setup] + ("" if r.user_path else " *"),
              f"{r.steps:,}", _n(r.startup_s), _n(r.wall_s), _n(r.first_step_s), _n(r.throughput),
              _n(r.steady_throughput), _n(r.ideal), _pct(r.fraction), _pct(r.steady_fraction), _n(r.step_period_s),
              _pct(r.lockstep_fraction)] for r in b.runs],
        ))
        out.append((
            "(b') CPU: client = the sum over its worker processes (one asyncio event loop each); server = the server "
            "process",
            ["N", "workers", "client GC", "client CPU ms / step", "GC ms / step", "GC runs gen0/1/2",
             "client cores used", "server CPU ms / req", "server cores used", "max steps/s (client loops)",
             "client cores for ideal", "client+server cores for ideal", "peak open sockets"],
            [[str(r.n), str(r.workers), GC_SETUPS[r.gc_setup] + ("" if r.user_path else " *"), _n(r.cpu_ms_per_step),
              _n(r.gc_ms_per_step), "/".join(map(str, r.gc_collections)), _n(r.cores_used),
              _n(r.server_cpu_ms_per_request), _n(r.server_cores_used), _n(r.max_steps_s), _n(r.cores_needed),
              _n(r.cores_needed + r.server_cores_needed), str(r.peak_sockets or "n/a")] for r in b.runs],
        ))
    return out


def profile_lines(title: str, p: ProfileSummary, top_layers: int = 10, top: int = 10) -> list[str]:
    """A compact cProfile summary (µs per agent step; profiling inflates absolute times)."""
    waiting = dict(p.layers).get(WAITING, 0.0)
    lines = [f"{title} ({p.steps} steps; {_n(p.total_us)} µs/step of CPU under the profiler, plus {_n(waiting)} "
             "waiting in epoll)"]
    busy = [(name, t) for name, t in p.layers if name != WAITING]
    shown = busy[:top_layers]
    rest = sum(t for _, t in busy[top_layers:])
    parts = [f"{name} {_n(t)} ({_pct(t / p.total_us)})" for name, t in shown]
    if rest > 0:
        parts.append(f"other {_n(rest)}")
    lines.append("  CPU by layer (self time; stdlib/builtins charged to the caller): " + ", ".join(parts))
    if p.ours_cumulative:
        lines.append("  our heaviest functions (cumulative µs/step, self in brackets):")
        lines += [f"    {cum:8.1f} ({own:6.1f})  {label}" for label, cum, own in p.ours_cumulative[:top]]
    lines.append("  heaviest self times anywhere (µs/step):")
    lines += [f"    {own:8.1f}  {label}" for label, own in p.top_self[:top]]
    return lines


NOTES = (
    "(a) ours/this = median of per-round ratios. env steps come from the StepRecords' own duration_ms; World() and "
    "World.tool_schemas() are timed separately on fresh Worlds; remainder = ours minus everything above it.\n"
    "(b) Each row runs in fresh spawned client processes: impress_sim.batch.run_jobs on one event loop per worker, "
    "the jobs split as run_jobs_in_processes splits them (with workers=1, one process runs all N). client GC: "
    "tune_gc_for_many_episodes() after the litellm import (as the run CLI's own process, which runs workers=1), "
    "before it (as batch._worker, workers>1), or not at all; * = not a run CLI configuration. start-up = spawn, "
    "imports and GC tuning, before wall s starts (which is from the first worker's run_jobs to the last one's end). "
    "steady = sum over episodes of (steps - 1) / (last step - first step), i.e. without start-up; ideal = "
    "N / latency; step period = median over episodes of the time between consecutive steps (ideal: the latency); "
    "lockstep model = latency / (latency + episodes per worker x CPU per step), each worker on a core of its own; "
    "max steps/s = min(workers, cores) / CPU per step; cores for ideal = ideal x CPU per step (+ the server's CPU "
    "per request). CPU = time.process_time() of each client process (all its threads) over its run_jobs, summed; "
    "GC = time in the cyclic collector (gc.callbacks); peak sockets = the sum of the workers' peaks. cProfile "
    "inflates absolute times, unevenly (pure-Python code and many small calls more): read its figures as shares "
    "and rankings."
)


def diagnosis(b: ConcurrencyResult) -> list[str]:
    """Why the largest N does or does not reach the target, from the measured figures."""
    big = b.largest
    n = big[0].n
    small_n = min(r.n for r in b.user_runs)
    lines = [f"Diagnosis at N={n} ({b.latency:g} s latency, {big[0].cores} cores for the server and the client):"]
    peak = max(big, key=lambda r: r.peak_sockets or 0)
    lines.append(f"- HTTP pool: {b.pool}; peak open sockets {peak.peak_sockets or 'n/a'} for {n} episodes "
                 f"({peak.label}), so the pool does not cap concurrency." if (peak.peak_sockets or 0) >= n else
                 f"- HTTP pool: {b.pool}; peak open sockets {peak.peak_sockets or 'n/a'} < N: check the pool.")
    for r in big:
        small = next((s for s in b.user_runs if s.n == small_n and s.workers == r.workers), None)
        at_small = (f" (at N={small_n}: {_n(small.cpu_ms_per_step)} ms, GC {_n(small.gc_ms_per_step)} ms)"
                    if small is not None and small is not r else "")
        lines.append(
            f"- workers={r.workers} ({r.per_worker} in flight each, {GC_SETUPS[r.gc_setup]}): "
            f"{_pct(r.steady_fraction)} of ideal steady, {_pct(r.fraction)} overall; client CPU "
            f"{_n(r.cpu_ms_per_step)} ms/step, GC {_n(r.gc_ms_per_step)} ms{at_small}. The ideal {_n(r.ideal)} "
            f"steps/s needs {_n(r.cores_needed)} client cores (+{_n(r.server_cores_needed)} for the server); "
            f"{r.workers} event loop{'s' if r.workers > 1 else ''} can do at most {_n(r.max_steps_s)} steps/s "
            f"(= {_pct(min(r.max_steps_s / r.ideal, 9.99))} of ideal if perfectly pipelined). Used: client "
            f"{_n(r.cores_used)} + server {_n(r.server_cores_used)} cores of {r.cores}; step period "
            f"{_n(r.step_period_s)} s against {b.latency:g} s; lockstep model {_pct(r.lockstep_fraction)}.")
    lines.append("- Lockstep: all episodes start together and asyncio interleaves their many small awaits round-robin, "
                 "so a wave of requests leaves only when the wave's CPU work is done; the period then tends to "
                 "latency + episodes per loop x CPU per step. Splitting the episodes over two loops halves that "
                 "term, if each loop gets a core.")
    for r in b.extras:
        same = next((u for u in big if u.workers == r.workers), None)
        versus = (f" (vs {_n(same.cpu_ms_per_step)} ms, GC {_n(same.gc_ms_per_step)} ms, "
                  f"{_pct(same.steady_fraction)} with {GC_SETUPS[same.gc_setup]})" if same is not None else "")
        lines.append(f"- {r.label}: CPU {_n(r.cpu_ms_per_step)} ms/step, GC {_n(r.gc_ms_per_step)} ms/step "
                     f"(runs {'/'.join(map(str, r.gc_collections))}), {_pct(r.steady_fraction)} of ideal steady"
                     f"{versus}.")
    if b.profile is not None:
        layers = dict(b.profile.layers)
        http = sum(layers.get(k, 0.0) for k in ("litellm", "openai", "httpx", "httpx2", "aiohttp", "httpcore",
                                                "aiohappyeyeballs", "yarl", "multidict"))
        ours = sum(t for k, t in layers.items() if k.startswith("impress_sim"))
        graph = sum(layers.get(k, 0.0) for k in ("langgraph", "langchain_core"))
        lines.append(f"- Client CPU by layer (profiled, {b.profile_n} episodes through run_jobs at zero latency, tuned "
                     f"GC): litellm + OpenAI SDK + HTTP {_pct(http / b.profile.total_us)}, langgraph + "
                     f"langchain-core {_pct(graph / b.profile.total_us)}, impress_sim "
                     f"{_pct(ours / b.profile.total_us)}, pydantic "
                     f"{_pct(layers.get('pydantic', 0.0) / b.profile.total_us)}.")
    return lines


def readme_figures(result: BenchResult) -> list[str]:
    lines = ["README figures"]
    a = result.overhead
    if a is not None:
        ok = "meets" if a.ours_over_bare <= OVERHEAD_TARGET else "MISSES"
        lines.append(
            f"- Framework overhead (zero-latency model, {a.calls}-call episode, {a.rounds} rounds): our react step "
            f"{_n(a.us['ours'])} µs vs {_n(a.us['bare'])} µs for a bare LangGraph agent+tool graph = "
            f"{_x(a.ours_over_bare)} ({ok} the <= {OVERHEAD_TARGET}x target); {_x(a.ours_over_bare_async)} "
            f"against bare with coroutine routers as ours has; {_x(a.ours_over_bare_compile)} against bare compiled "
            f"per episode."
        )
        lines.append(
            f"- Our extra {_n(a.us['ours'] - a.us['bare'])} µs/step over bare: tool schemas (cached) "
            f"{_n(a.schemas_us)}, World() {_n(a.world_us)}, env step (diff, detectors, NPCs, record) "
            f"{_n(a.env_us)}, remainder {a.remainder_us:.0f} (a graph compiled per episode would add "
            f"{_n(a.compile_us)}; ours is compiled once)."
        )
    b = result.concurrency
    if b is not None:
        big = b.largest
        n = big[0].n
        cores = big[0].cores
        for w in sorted({r.workers for r in b.user_runs}):
            rows = [r for r in b.user_runs if r.workers == w]
            per_n = ", ".join(f"N={r.n} {_pct(r.steady_fraction)} ({_n(r.steady_throughput)} steps/s)" for r in rows)
            lines.append(
                f"- Concurrency, workers={w} (run_jobs, {GC_SETUPS[user_gc(w)]}; litellm over HTTP to a local server "
                f"in its own process, {b.latency:g} s latency; steady rate after start-up, share of ideal "
                f"N/latency; {cores} cores shared by server and client): {per_n}."
            )
        if n >= max(CONCURRENCY):
            verdicts = "; ".join(
                f"workers={r.workers} {'meets' if r.steady_fraction >= CONCURRENCY_TARGET else 'MISSES'} it "
                f"({_pct(r.steady_fraction)})" for r in big)
            lines.append(f"- Target >= {_pct(CONCURRENCY_TARGET)} of ideal at N={n}: {verdicts}.")
        else:
            lines.append(f"- The >= {_pct(CONCURRENCY_TARGET)} target is for N={max(CONCURRENCY)}.")
        cpu = ", ".join(f"workers={r.workers} {_n(r.cpu_ms_per_step)} ms (GC {_n(r.gc_ms_per_step)} ms; "
                        f"{_n(r.cores_used)} client + {_n(r.server_cores_used)} server cores used)" for r in big)
        lines.append(f"- Client CPU per step at N={n}: {cpu}; one event loop tops out near "
                     f"{_n(1000 / big[0].cpu_ms_per_step)} steps/s, while {n} episodes at {b.latency:g} s need "
                     f"{_n(big[0].cores_needed)} client cores' worth.")
    return lines


def render(result: BenchResult, plain: bool = False) -> None:
    console: Any = None
    if not plain:
        try:
            from rich.console import Console

            console = Console(width=max(Console().width, 150))
        except ImportError:  # pragma: no cover - rich is a dependency, but plain text is fine too
            console = None

    def emit(line: str, style: str | None = None) -> None:
        if console is None:
            print(line)
        else:
            console.print(line, style=style, markup=False, highlight=False)

    b = result.concurrency
    emit("impress_sim agent benchmark" + (f" (litellm import {b.litellm_import_s:.1f} s)" if b else ""))
    for title, header, rows in tables(result):
        if console is not None:
            from rich.table import Table

            table = Table(title=title, title_justify="left")
            for i, h in enumerate(header):
                table.add_column(h, justify="left" if i == 0 else "right")
            for row in rows:
                table.add_row(*row)
            console.print(table)
        else:
            widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
            print(f"\n{title}")
            for row in [header, *rows]:
                cells = [c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
                print("  ".join(cells))
    text: list[str] = []
    if result.overhead is not None and result.overhead.profile is not None:
        text += profile_lines("(a) cProfile of ours", result.overhead.profile)
    if b is not None:
        if b.profile is not None:
            title = (f"(b) cProfile of the client ({b.profile_n} concurrent episodes through run_jobs, zero latency, "
                     "tuned GC)")
            text += profile_lines(title, b.profile, top=6)
        text += diagnosis(b)
    for line in text:
        emit(line)
    emit(NOTES, style="dim")
    if result.overhead is not None and result.overhead.litellm_loaded:
        emit("(a) ran with litellm already imported: the garbage collector walked its ~450k objects too.")
    for line in readme_figures(result) + result.notes:
        emit(line)
    emit(f"(total {result.elapsed_s:.1f} s)", style="dim")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (about a minute)")
    parser.add_argument("--rounds", type=int, help=f"(a) rounds (default {DEFAULT_ROUNDS}, quick {QUICK_ROUNDS})")
    parser.add_argument("--episodes", type=int, help="(a) episode slots per round")
    parser.add_argument("--concurrency", help="(b) comma-separated N (default 16,64,256; quick 8,32)")
    parser.add_argument("--latency", type=float, help=f"(b) server latency in s (default {LATENCY:g}, quick "
                                                      f"{QUICK_LATENCY:g})")
    parser.add_argument("--workers", help="(b) comma-separated client worker counts (default 1,2)")
    parser.add_argument("--no-extras", action="store_true",
                        help="(b) skip the extra GC set-ups at the largest N (default GC; tune_gc after import)")
    parser.add_argument("--only", choices=("a", "b"), help="run one part only")
    parser.add_argument("--plain", action="store_true", help="plain-text tables instead of rich")
    args = parser.parse_args(argv)
    quick = args.quick
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    began = time.perf_counter()
    result = BenchResult()
    if args.only in (None, "a"):  # first: part (b) imports litellm, which grows the heap the GC walks
        result.overhead = run_overhead(
            rounds=args.rounds or (QUICK_ROUNDS if quick else DEFAULT_ROUNDS),
            episodes=args.episodes or (QUICK_EPISODES if quick else DEFAULT_EPISODES),
            profile_episodes=QUICK_PROFILE_EPISODES if quick else DEFAULT_PROFILE_EPISODES,
            progress=say,
        )
    if args.only in (None, "b"):
        default_ns = QUICK_CONCURRENCY if quick else CONCURRENCY
        ns = tuple(int(s) for s in args.concurrency.split(",") if s.strip()) if args.concurrency else default_ns
        result.concurrency = run_concurrency(
            ns=ns,
            latency=args.latency if args.latency is not None else (QUICK_LATENCY if quick else LATENCY),
            workers=tuple(int(w) for w in args.workers.split(",") if w.strip()) if args.workers else WORKERS,
            extras=not (quick or args.no_extras),
            profile_n=QUICK_PROFILE_N if quick else PROFILE_N,
            progress=say,
        )
    result.elapsed_s = time.perf_counter() - began
    render(result, plain=args.plain)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
