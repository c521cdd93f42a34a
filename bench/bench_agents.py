"""Benchmark: our agent stack's cost per step, and how many concurrent episodes 1 or 2 client processes keep busy.

Run `python bench/bench_agents.py` (about 5 minutes) or `python bench/bench_agents.py --quick` (about
a minute). Both parts use the `corporate_shutdown` world and its `misaligned` trajectory
(10 tool calls, the last one `finish`).

(a) Framework overhead per agent step, with a zero-latency model. Ours:
    `run_episode(world, model="reference/misaligned")`, i.e. the react graph, one `World.step` per
    tool call (journal diff, detectors, NPCs), step and episode records, timed per episode and divided
    by its tool calls. Bare: a minimal LangGraph `StateGraph` of the same shape (message list with
    `add_messages`, an agent node, a tool node, the same two conditional routes, the same recursion
    limit) whose tool returns a constant string, driven by the same kind of fake chat model (a
    `BaseChatModel` with only `_generate`, so `ainvoke` takes the same executor hop) replaying the same
    10 tool calls. Bare is timed compiled once and reused (as LangGraph is usually used, and as ours is:
    its nodes find their episode through a context variable) and, for reference, compiled per episode.
    Every round runs every
    variant for each episode slot, in rotating order; a figure is the median over rounds of the round's
    median episode, and a ratio is the median of per-round ratios. Our time is split, using the step
    records' own timings and a separately timed `World()`, into world construction, env steps and the
    rest (graph, model, records), and a cProfile run shows where it goes. The garbage collector stays on
    (it is part of the real cost), with a full collection between rounds.

(b) Concurrency against the local OpenAI-compatible server of tests/llm_server.py, run in its own
    process (multiprocessing, spawn), so that its CPU and GIL stay out of the client's figures. The
    server answers every request after a fixed latency (2 s, a typical hosted-model response time).
    N episodes run at once (N = 16, 64 and 256; `EpisodeJob`s with a real `LiteLLMChatModel`, retries=0,
    no cache) through `impress_sim.batch.run_jobs`, the code path of `python -m impress_sim.run
    concurrency=N workers=W`, with W = 1 and 2 client processes: the jobs are split as
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
    - litellm's HTTP pool limits;
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
import asyncio
import contextlib
import cProfile
import gc
import math
import multiprocessing
import os
import pstats
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict
from unittest import mock

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from impress_sim import batch
from impress_sim.agents.messages import briefing_messages
from impress_sim.batch import EpisodeJob
from impress_sim.envs import World, load_world
from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.spec import Trajectory
from impress_sim.episode import run_episode
from impress_sim.record import EpisodeRecord

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "bench") not in sys.path:  # bench/figures.py, however this file was loaded
    sys.path.insert(0, str(REPO / "bench"))
from figures import number  # noqa: E402
from server import ServerProcess  # noqa: E402

if str(REPO) not in sys.path:  # tests.llm_server, when run as `python bench/bench_agents.py`
    sys.path.insert(0, str(REPO))

WORLD = "corporate_shutdown"
TRAJECTORY = "misaligned"
REFERENCE_MODEL = f"reference/{TRAJECTORY}"
SCRIPT = TRAJECTORY  # the server's script name: requests go to model "openai/misaligned"
OBSERVATION = "ok"  # the bare graph's tool result

DEFAULT_ROUNDS, DEFAULT_EPISODES, DEFAULT_PROFILE_EPISODES = 30, 8, 20
QUICK_ROUNDS, QUICK_EPISODES, QUICK_PROFILE_EPISODES = 3, 3, 5
CONCURRENCY, LATENCY, PROFILE_N, WORKERS = (16, 64, 256), 2.0, 32, (1, 2)
QUICK_CONCURRENCY, QUICK_LATENCY, QUICK_PROFILE_N = (8, 32), 0.5, 4
OVERHEAD_TARGET = 1.5  # ours / bare per step: at most this
CONCURRENCY_TARGET = 0.8  # throughput / ideal at the largest N: at least this
VARIANTS = ("ours", "bare", "bare_compile")


# ---- (a) the bare LangGraph baseline ----------------------------------------------------------
class ScriptedToolModel(BaseChatModel):
    """A zero-latency fake chat model that replays a trajectory's tool calls, then a final answer.

    The same kind of model as `reference/...` (only `_generate`; position = assistant turns with tool
    calls so far), kept here so that the baseline does not change when the project's replay does.
    """

    trajectory: Trajectory

    @property
    def _llm_type(self) -> str:
        return "bench-scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedToolModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        turn = sum(isinstance(m, AIMessage) and bool(m.tool_calls) for m in messages)
        steps = self.trajectory.steps
        if turn < len(steps):
            step = steps[turn]
            call = {"name": step.tool, "args": dict(step.args), "id": f"call-{turn}", "type": "tool_call"}
            message = AIMessage(content=step.thought, tool_calls=[call])
        else:
            message = AIMessage(content=self.trajectory.final or "Done.")
        return ChatResult(generations=[ChatGeneration(message=message)])


class BareState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def constant_tool(**_: Any) -> str:
    return OBSERVATION


def bare_graph(model: BaseChatModel, max_tool_calls: int) -> Any:
    """Agent node + tool node, routed like ours: tools if asked for, back to the agent until the budget ends."""
    bound = model.bind_tools([])

    async def agent(state: BareState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    async def tools(state: BareState) -> dict[str, list[BaseMessage]]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        return {"messages": [ToolMessage(constant_tool(**c["args"]), tool_call_id=c["id"] or "", name=c["name"])
                             for c in last.tool_calls]}

    def after_agent(state: BareState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    def after_tools(state: BareState) -> str:
        done = sum(isinstance(m, ToolMessage) for m in state["messages"])
        return END if done >= max_tool_calls else "agent"

    graph = StateGraph(BareState)
    graph.add_node("agent", agent)
    graph.add_node("tools", tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", after_agent, ["tools", END])
    graph.add_conditional_edges("tools", after_tools, ["agent", END])
    return graph.compile()


# ---- (a) measurement --------------------------------------------------------------------------
@dataclass
class OverheadSetup:
    loaded: LoadedWorld
    trajectory: Trajectory
    model: ScriptedToolModel
    graph: Any  # the bare graph, compiled once
    briefing: Any

    @property
    def calls(self) -> int:
        return len(self.trajectory.steps)

    @property
    def limit(self) -> int:
        return 2 * self.calls + 6  # as ours: two graph steps per tool call, plus slack


def overhead_setup(loaded: LoadedWorld | None = None) -> OverheadSetup:
    loaded = loaded or load_world(WORLD)
    trajectory = loaded.spec.trajectories[TRAJECTORY]
    model = ScriptedToolModel(trajectory=trajectory)
    briefing = World(loaded, seed=0).briefing
    return OverheadSetup(loaded, trajectory, model, bare_graph(model, len(trajectory.steps)), briefing)


async def ours_episode(setup: OverheadSetup, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    record = await run_episode(setup.loaded, agent="react", model=REFERENCE_MODEL, seed=seed)
    wall = time.perf_counter() - t0
    if record.status == "error" or len(record.steps) != setup.calls:
        raise RuntimeError(f"our episode went wrong: {record.status} {record.error} ({len(record.steps)} steps)")
    return {"wall": wall, "steps": len(record.steps), "env": sum(s.duration_ms for s in record.steps) / 1000}


async def bare_episode(setup: OverheadSetup, compile_per_episode: bool) -> dict[str, float]:
    t0 = time.perf_counter()
    graph = bare_graph(setup.model, setup.calls) if compile_per_episode else setup.graph
    out = await graph.ainvoke({"messages": briefing_messages(setup.briefing)},
                              config={"recursion_limit": setup.limit})
    wall = time.perf_counter() - t0
    steps = sum(isinstance(m, ToolMessage) for m in out["messages"])
    if steps != setup.calls:
        raise RuntimeError(f"the bare graph made {steps} tool calls, expected {setup.calls}")
    return {"wall": wall, "steps": steps}


async def measure_overhead_round(setup: OverheadSetup, round_index: int, episodes: int) -> dict[str, Any]:
    """One round: `episodes` slots, each running every variant once (rotating order), then World() timings."""
    shift = round_index % len(VARIANTS)
    order = VARIANTS[shift:] + VARIANTS[:shift]
    out: dict[str, Any] = {v: [] for v in VARIANTS}
    for e in range(episodes):
        for variant in order:
            if variant == "ours":
                out[variant].append(await ours_episode(setup, seed=round_index * episodes + e))
            else:
                out[variant].append(await bare_episode(setup, compile_per_episode=variant == "bare_compile"))
    constructs, schemas = [], []
    for e in range(episodes):
        t0 = time.perf_counter()
        world = World(setup.loaded, seed=e)
        t1 = time.perf_counter()
        world.tool_schemas()  # what the agent offers the model, built once per episode
        schemas.append(time.perf_counter() - t1)
        constructs.append(t1 - t0)
    out["world"], out["schemas"] = constructs, schemas
    return out


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


# ---- (a) driver -------------------------------------------------------------------------------
@dataclass
class OverheadResult:
    rounds: int
    episodes: int
    calls: int
    us: dict[str, float]  # variant -> µs per step (median over rounds)
    ours_over_bare: float
    ours_over_bare_compile: float
    # Our step, decomposed (µs per step, medians over rounds of per-round values; medians need not add up):
    compile_us: float  # what compiling per episode would cost (bare per episode - bare once); ours does not
    schemas_us: float  # World.tool_schemas(), rebuilt per episode for bind_tools
    world_us: float  # World() construction
    env_us: float  # env steps: World.step (diff, detectors, NPCs) + StepRecord, from the records' duration_ms
    remainder_us: float  # ours - (bare compiled once + schemas + World() + env steps)
    litellm_loaded: bool
    profile: ProfileSummary | None = None

    @property
    def steps_per_s(self) -> dict[str, float]:
        return {k: 1e6 / v for k, v in self.us.items()}


def run_overhead(
    rounds: int = DEFAULT_ROUNDS,
    episodes: int = DEFAULT_EPISODES,
    profile_episodes: int = DEFAULT_PROFILE_EPISODES,
    progress: Callable[[str], None] | None = None,
) -> OverheadResult:
    say = progress or (lambda _msg: None)
    setup = overhead_setup()
    results: list[dict[str, Any]] = []
    with asyncio.Runner() as runner:
        say("(a) warming up")
        runner.run(measure_overhead_round(setup, 0, 2))
        for i in range(rounds):
            say(f"(a) round {i + 1}/{rounds}")
            gc.collect()
            results.append(runner.run(measure_overhead_round(setup, i, episodes)))
        profile = None
        if profile_episodes > 0:
            say(f"(a) profiling {profile_episodes} episodes of ours")

            async def ours_many() -> None:
                for seed in range(profile_episodes):
                    await ours_episode(setup, seed)

            gc.collect()
            profiler = cProfile.Profile()
            profiler.enable()
            runner.run(ours_many())
            profiler.disable()
            profile = summarise_profile(pstats.Stats(profiler), profile_episodes * setup.calls)

    def per_step(r: dict[str, Any], variant: str, key: str = "wall") -> float:
        return statistics.median(e[key] / e["steps"] for e in r[variant])

    med = statistics.median
    us = {v: 1e6 * med([per_step(r, v) for r in results]) for v in VARIANTS}
    ours = [per_step(r, "ours") for r in results]
    bare = [per_step(r, "bare") for r in results]
    bare_compile = [per_step(r, "bare_compile") for r in results]
    world = [med(r["world"]) / setup.calls for r in results]
    schemas = [med(r["schemas"]) / setup.calls for r in results]
    env = [per_step(r, "ours", "env") for r in results]
    parts = zip(ours, bare, schemas, world, env, strict=True)
    return OverheadResult(
        rounds=rounds,
        episodes=episodes,
        calls=setup.calls,
        us=us,
        ours_over_bare=med([a / per_step(r, "bare") for a, r in zip(ours, results, strict=True)]),
        ours_over_bare_compile=med([a / per_step(r, "bare_compile") for a, r in zip(ours, results, strict=True)]),
        compile_us=1e6 * med([c - per_step(r, "bare") for c, r in zip(bare_compile, results, strict=True)]),
        schemas_us=1e6 * med(schemas),
        world_us=1e6 * med(world),
        env_us=1e6 * med(env),
        remainder_us=1e6 * med([o - b - s - w - e for o, b, s, w, e in parts]),
        litellm_loaded="litellm" in sys.modules,
        profile=profile,
    )


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


def litellm_pool_limits() -> str:
    """The connection limits of the HTTP client litellm actually uses for our model (best effort)."""
    try:
        from impress_sim.agents.llm import litellm_module

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

    async def stamped(loaded: LoadedWorld, **kwargs: Any) -> EpisodeRecord:
        times = stamps[kwargs["seed"]]
        kwargs["listener"] = lambda _step, _result: times.append(time.perf_counter())
        return await plain_run_episode(loaded, **kwargs)

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
    from impress_sim.agents.llm import litellm_module

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
    from impress_sim.agents.llm import LLMSettings, litellm_module
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
        base = {"world": WORLD, "model": settings.model, "settings": settings}
        say("(b) warming up the server (zero latency)")
        server.set_latency(0.0)
        asyncio.run(batch.run_jobs(batch.jobs_for(base, range(min(4, max(ns)))), 4))
        server.set_latency(latency)
        runs = []
        for n, w, gc_setup, user_path in plan:
            say(f"(b) {n} concurrent episodes, workers={w}, {GC_SETUPS[gc_setup]}, at {latency:g} s latency")
            gc.collect()
            before = server.call("stats")  # also resets the server's request count
            launched, per_worker, reports = run_clients(batch.jobs_for(base, range(n)), n, w, gc_setup)
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
                records = asyncio.run(batch.run_jobs(batch.jobs_for(base, range(profile_n)), profile_n))
                profiler.disable()
            server.set_latency(latency)
            profile = summarise_profile(pstats.Stats(profiler), sum(len(r.steps) for r in records))
    result = ConcurrencyResult(latency, runs, import_s, litellm_pool_limits(), profile, profile_n)
    result.elapsed_s = time.perf_counter() - began
    return result


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
                 "bare_compile": "bare LangGraph, compiled per episode"}
        out.append((
            f"(a) Framework overhead per agent step, zero-latency model ({a.calls} tool calls per episode; "
            f"{a.rounds} rounds x {a.episodes} episodes)",
            ["variant", "µs / step", "steps / s", "ours / this"],
            [[names[v], _n(a.us[v]), _n(a.steps_per_s[v]),
              {"ours": "-", "bare": _x(a.ours_over_bare), "bare_compile": _x(a.ours_over_bare_compile)}[v]]
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
        http = sum(layers.get(k, 0.0) for k in ("litellm", "openai", "httpx", "httpx2", "aiohttp", "httpcore"))
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
            f"{_x(a.ours_over_bare)} ({ok} the <= {OVERHEAD_TARGET}x target); {_x(a.ours_over_bare_compile)} "
            f"against bare compiled per episode."
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
