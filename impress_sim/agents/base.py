"""Pieces every agent architecture shares: the graph state, the tools offered, the tool node, the
model node, the non-acting "reflect" turn, and the run loop with an explicit recursion limit.

Each architecture is a hand-written LangGraph `StateGraph` built from these; they differ only in
the nodes they add (a planner, a critic, a guardrail, a human) and how those are wired. A graph is
compiled once per architecture class; the episode it runs (session, model, the instance's options)
reaches its nodes as LangGraph's per-run context (`context_schema=Episode`, `runtime.context`).

Message-history convention for extra model calls (plans, replans, critiques): they are *in* the
conversation, not side requests. The architecture appends an instruction as a user message, the
model's text answer as an assistant message (tool calls stripped), and, where the next turn is an
action, a short user message asking it to go on. So the history is one linear conversation that
every provider accepts (no two assistant turns in a row, every tool call answered) and a scripted
server that answers "the k-th assistant turn" can serve plans, critiques and actions with one
script. Non-acting calls are made with the *unbound* model (no tools offered), which is also how
the offline reference replay tells them apart from acting calls.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict, TypeVar

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime

from impress_sim.agents.messages import briefing_messages, text_of
from impress_sim.agents.session import EpisodeSession


class AgentState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


Update = dict[str, Any]


@dataclass(frozen=True, eq=False)
class Episode:
    """What a graph's nodes need of the episode they are running in: LangGraph's per-run context.

    Every architecture's graph declares this class as its `context_schema`, `GraphAgent.arun` passes
    one per episode (`graph.ainvoke(..., context=Episode(...))`), and nodes and routers take it as
    `runtime: Runtime[Episode]` (`runtime.context`). A compiled graph is built once per architecture
    class and shared by every episode (compiling per episode costs ~160 µs a step), so nodes never
    close over a session or a model. `extras` holds an architecture's own per-episode objects (a
    guard's policy, what a person has been shown)."""

    agent: GraphAgent
    model: BaseChatModel
    session: EpisodeSession
    extras: dict[str, Any] = field(default_factory=dict)

    def agent_as(self, cls: type[A]) -> A:
        """The running architecture instance, as the class whose graph is asking (for its options)."""
        if not isinstance(self.agent, cls):
            raise TypeError(f"a {cls.__name__} graph is running for a {type(self.agent).__name__}")
        return self.agent

    @functools.cached_property
    def bound(self) -> Any:
        """The model with the session's tools bound: what acting turns ask (bound once per episode)."""
        return self.model.bind_tools(openai_tools(self.session))


A = TypeVar("A", bound="GraphAgent")
Ctx = Runtime[Episode]  # what nodes and routers are given: `runtime.context` is the episode


def openai_tools(session: EpisodeSession) -> list[dict[str, Any]]:
    """The session role's tools as OpenAI function specs: what `bind_tools` offers the model."""
    return [{"type": "function", "function": schema} for schema in session.tool_schemas()]


# ---- tool calls ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProposedCall:
    """One tool call an assistant message asks for; `args` is the raw text when it was malformed."""

    name: str
    args: dict[str, Any] | str
    id: str | None


def proposed_calls(message: BaseMessage) -> list[ProposedCall]:
    if not isinstance(message, AIMessage):
        return []
    calls = [ProposedCall(c["name"], dict(c["args"]), c.get("id")) for c in message.tool_calls]
    calls += [
        ProposedCall(c.get("name") or "", str(c.get("args") or ""), c.get("id")) for c in message.invalid_tool_calls
    ]
    return calls


def wants_tools(state: AgentState) -> bool:
    return bool(proposed_calls(state["messages"][-1]))


async def run_calls(
    session: EpisodeSession, message: AIMessage, blocked: Sequence[str | None] = ()
) -> list[BaseMessage]:
    """Run a message's tool calls through the session, each exactly one env step.

    `blocked[i]`, when set, is a guardrail's reason for not running call i: it is answered with an
    observation that says so and never reaches the world. An error observation (from the world, or
    a block) is marked `status="error"` on its ToolMessage.
    """
    thought = text_of(message)
    replies: list[BaseMessage] = []
    for index, call in enumerate(proposed_calls(message)):
        if session.ended:
            break
        reason = blocked[index] if index < len(blocked) else None
        if reason is not None:
            observation, failed = f"Blocked by guardrail: {reason}", True
        else:
            async with session.turn():  # multi-agent runs: wait for this role's turn (a no-op otherwise)
                observation = await session.act(call.name, call.args, call.id, thought)
            thought = ""  # the message's text belongs to its first executed call
            failed = session.failed
        status = "error" if failed else "success"
        replies.append(ToolMessage(observation, tool_call_id=call.id or "", name=call.name, status=status))
    return replies


async def tool_node(state: AgentState, runtime: Ctx) -> Update:
    """The graph node that runs the last assistant message's tool calls through the session."""
    last = state["messages"][-1]
    assert isinstance(last, AIMessage)
    return {"messages": await run_calls(runtime.context.session, last)}


async def model_node(state: AgentState, runtime: Ctx) -> Update:
    """The graph node that asks the tool-bound model for its next turn."""
    return {"messages": [await runtime.context.bound.ainvoke(state["messages"])]}


def last_tools_failed(state: AgentState) -> bool:
    """Whether any observation answering the last assistant message was an error."""
    for message in reversed(state["messages"]):
        if not isinstance(message, ToolMessage):
            return False
        if message.status == "error":
            return True
    return False


# ---- non-acting turns (plans, critiques) -------------------------------------------------------
async def reflect(model: BaseChatModel, messages: Sequence[BaseMessage], instruction: str) -> list[BaseMessage]:
    """Ask the model, without tools, to answer `instruction` in context; the two new messages.

    The reply keeps its usage and reasoning but never tool calls: a plan or critique is text, and an
    unanswered tool call would make the history invalid for the next request.
    """
    ask = HumanMessage(instruction)
    reply = await model.ainvoke([*messages, ask])
    text = AIMessage(
        content=text_of(reply),
        additional_kwargs={k: v for k, v in reply.additional_kwargs.items() if k == "reasoning_content"},
        response_metadata=reply.response_metadata,
        usage_metadata=getattr(reply, "usage_metadata", None),
    )
    return [ask, text]


# ---- the run loop ------------------------------------------------------------------------------
class GraphAgent(ABC):
    """Base of every architecture: build a graph, run it once per episode with an explicit limit.

    Subclasses set `name`, implement `build` and `recursion_limit`, and may override
    `initial_messages` (e.g. to extend the system prompt), `options` (recorded in the episode's
    `agent_trace` as a `config` entry) and `preflight` (check extra models before any episode).
    Instances hold configuration only, so one instance can run any number of episodes.
    """

    name: str  # set by each subclass

    @classmethod
    @abstractmethod
    def build(cls) -> Any:
        """The compiled LangGraph graph of this architecture (`context_schema=Episode`): its nodes read
        the episode, and the instance's configuration, from `runtime.context`, never from a closure."""

    @classmethod
    @functools.cache
    def graph(cls) -> Any:
        """`build()`, once per architecture class, shared by every episode and every instance.

        A cache rather than a build per episode because compiling costs ~1.7 ms (~160 µs a step of a
        10-step episode). It holds no episode state: a compiled graph is immutable, and everything an
        episode brings (agent options, model, session) reaches the nodes as LangGraph's run context."""
        return cls.build()

    def episode_extras(self, session: EpisodeSession) -> dict[str, Any]:
        """This architecture's own per-episode objects, for its nodes (`runtime.context.extras`)."""
        return {}

    @abstractmethod
    def recursion_limit(self, session: EpisodeSession) -> int:
        """LangGraph's recursion limit for one episode (never its huge default)."""

    def variant_overrides(self) -> dict[str, str]:
        """Factor values this architecture imposes on the world's briefing (e.g. a safety prompt)."""
        return {}

    def initial_messages(self, session: EpisodeSession) -> list[BaseMessage]:
        return briefing_messages(session.briefing)

    def initial_state(self, session: EpisodeSession) -> dict[str, Any]:
        return {"messages": self.initial_messages(session)}

    def options(self) -> Mapping[str, Any]:
        return {}

    def preflight(self) -> None:  # noqa: B027 (an optional hook: most architectures need no check)
        """Fail before any episode starts if the architecture cannot work as configured."""

    async def arun(self, model: BaseChatModel, session: EpisodeSession) -> list[BaseMessage]:
        if self.options():
            session.note("config", agent=self.name, **self.options())
        out = await self.graph().ainvoke(
            self.initial_state(session),
            config={"recursion_limit": self.recursion_limit(session)},
            context=Episode(self, model, session, self.episode_extras(session)),
        )
        return list(out["messages"])


# Routers are coroutines: LangGraph runs a plain-function router of an async graph in a worker
# thread (an executor hop per route, ~100-200 µs, and a thread per waiting episode).
Router = Callable[[Any, Ctx], Awaitable[str]]


def end_or(node: str) -> Router:
    """A router after the tool node: END once the episode is over, else `node`."""

    async def route(state: AgentState, runtime: Ctx) -> str:
        return END if runtime.context.session.ended else node

    return route


def tools_or_end(tools: str = "tools") -> Router:
    """A router after a model turn: to `tools` if it asked for any and the episode goes on, else END."""

    async def route(state: AgentState, runtime: Ctx) -> str:
        return tools if wants_tools(state) and not runtime.context.session.ended else END

    return route


def acting_loop(
    state: type, think: str, node: Any, after_tools: str | None = None
) -> StateGraph[Any, Episode, Any, Any]:
    """The loop most architectures are: START -> `think` -> tools while it calls tools -> `after_tools`
    (default: `think` again); END when a turn calls no tool or the episode is over. Callers add
    their own nodes (a critic) before compiling."""
    graph: StateGraph[Any, Episode, Any, Any] = StateGraph(state, context_schema=Episode)
    graph.add_node(think, node)
    graph.add_node("tools", tool_node)
    graph.add_edge(START, think)
    graph.add_conditional_edges(think, tools_or_end(), ["tools", END])
    then = after_tools or think
    graph.add_conditional_edges("tools", end_or(then), [then, END])
    return graph
