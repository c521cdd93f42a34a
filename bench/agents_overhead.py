"""bench_agents.py part (a): our react step against a bare LangGraph loop, per step."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from impress_sim.agents.messages import briefing_messages
from impress_sim.envs import World, load_world
from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.spec import Trajectory
from impress_sim.episode import run_episode
from impress_sim.job import EpisodeJob

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO / "bench", REPO):  # bench/*.py and tests.llm_server, however this file was loaded
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
from agents_common import (  # noqa: E402
    DEFAULT_EPISODES,
    DEFAULT_PROFILE_EPISODES,
    DEFAULT_ROUNDS,
    OBSERVATION,
    REFERENCE_MODEL,
    TRAJECTORY,
    VARIANTS,
    WORLD,
)
from agents_profile import ProfileSummary, summarise_profile  # noqa: E402


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


def bare_graph(model: BaseChatModel, max_tool_calls: int, async_routes: bool = False) -> Any:
    """Agent node + tool node, routed like ours: tools if asked for, back to the agent until the budget ends.

    The routers are plain functions, as LangGraph is usually written; LangGraph runs each in a worker
    thread when the graph is awaited. With `async_routes` they are coroutines, as ours are, which
    shows how much of our difference from bare is that choice rather than our own work."""
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

    async def after_agent_async(state: BareState) -> str:
        return after_agent(state)

    async def after_tools_async(state: BareState) -> str:
        return after_tools(state)

    graph = StateGraph(BareState)
    graph.add_node("agent", agent)
    graph.add_node("tools", tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", after_agent_async if async_routes else after_agent, ["tools", END])
    graph.add_conditional_edges("tools", after_tools_async if async_routes else after_tools, ["agent", END])
    return graph.compile()


# ---- (a) measurement --------------------------------------------------------------------------
@dataclass
class OverheadSetup:
    loaded: LoadedWorld
    trajectory: Trajectory
    model: ScriptedToolModel
    graph: Any  # the bare graph, compiled once
    graph_async: Any  # the same with coroutine routers, compiled once
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
    calls = len(trajectory.steps)
    return OverheadSetup(loaded, trajectory, model, bare_graph(model, calls), bare_graph(model, calls, True), briefing)


async def ours_episode(setup: OverheadSetup, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    record = await run_episode(EpisodeJob(world=setup.loaded.spec.id, agent="react", model=REFERENCE_MODEL,
                                           seed=seed), loaded=setup.loaded)
    wall = time.perf_counter() - t0
    if record.status == "error" or len(record.steps) != setup.calls:
        raise RuntimeError(f"our episode went wrong: {record.status} {record.error} ({len(record.steps)} steps)")
    return {"wall": wall, "steps": len(record.steps), "env": sum(s.duration_ms for s in record.steps) / 1000}


async def bare_episode(setup: OverheadSetup, compile_per_episode: bool, async_routes: bool = False
                       ) -> dict[str, float]:
    t0 = time.perf_counter()
    if compile_per_episode:
        graph = bare_graph(setup.model, setup.calls, async_routes)
    else:
        graph = setup.graph_async if async_routes else setup.graph
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
                out[variant].append(await bare_episode(setup, compile_per_episode=variant == "bare_compile",
                                                       async_routes=variant == "bare_async"))
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


# ---- (a) driver -------------------------------------------------------------------------------
@dataclass
class OverheadResult:
    rounds: int
    episodes: int
    calls: int
    us: dict[str, float]  # variant -> µs per step (median over rounds)
    ours_over_bare: float
    ours_over_bare_compile: float
    ours_over_bare_async: float  # against bare with coroutine routers (as ours has)
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
        ours_over_bare_async=med([a / per_step(r, "bare_async") for a, r in zip(ours, results, strict=True)]),
        compile_us=1e6 * med([c - per_step(r, "bare") for c, r in zip(bare_compile, results, strict=True)]),
        schemas_us=1e6 * med(schemas),
        world_us=1e6 * med(world),
        env_us=1e6 * med(env),
        remainder_us=1e6 * med([o - b - s - w - e for o, b, s, w, e in parts]),
        litellm_loaded="litellm" in sys.modules,
        profile=profile,
    )


