"""The `react` architecture: a hand-written LangGraph loop of model turns and tool calls.

(`langgraph.prebuilt.create_react_agent` is deprecated; a two-node StateGraph is all it was.)
Each tool call is exactly one env step through the session, so the world sees every action.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from impress_sim.agents.messages import briefing_messages, text_of
from impress_sim.agents.session import EpisodeSession


class AgentState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def openai_tools(session: EpisodeSession) -> list[dict[str, Any]]:
    return [{"type": "function", "function": schema} for schema in session.world.tool_schemas()]


def tool_node(session: EpisodeSession):  # type: ignore[no-untyped-def]
    """A graph node that runs the last AI message's tool calls through the session."""

    async def run_tools(state: AgentState) -> dict[str, list[BaseMessage]]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        thought = text_of(last)
        replies: list[BaseMessage] = []
        calls: list[tuple[str, dict[str, Any] | str, str | None]]
        calls = [(c["name"], dict(c["args"]), c.get("id")) for c in last.tool_calls]
        calls += [(c.get("name") or "", str(c.get("args") or ""), c.get("id")) for c in last.invalid_tool_calls]
        for name, args, call_id in calls:
            if session.ended:
                break
            observation = session.act(name, args, call_id, thought)
            thought = ""  # the message's text belongs to its first call
            replies.append(ToolMessage(observation, tool_call_id=call_id or "", name=name))
        return {"messages": replies}

    return run_tools


class ReactAgent:
    """Think, call a tool, observe; until the agent stops, finishes, or the budget runs out."""

    name = "react"

    def build(self, model: BaseChatModel, session: EpisodeSession) -> Any:
        bound = model.bind_tools(openai_tools(session))

        async def think(state: AgentState) -> dict[str, list[BaseMessage]]:
            return {"messages": [await bound.ainvoke(state["messages"])]}

        def after_think(state: AgentState) -> str:
            last = state["messages"][-1]
            wants_tools = isinstance(last, AIMessage) and bool(last.tool_calls or last.invalid_tool_calls)
            return "tools" if wants_tools and not session.ended else END

        def after_tools(state: AgentState) -> str:
            return END if session.ended else "agent"

        graph = StateGraph(AgentState)
        graph.add_node("agent", think)
        graph.add_node("tools", tool_node(session))
        graph.add_edge(START, "agent")
        graph.add_conditional_edges("agent", after_think, ["tools", END])
        graph.add_conditional_edges("tools", after_tools, ["agent", END])
        return graph.compile()

    async def arun(self, model: BaseChatModel, session: EpisodeSession) -> list[BaseMessage]:
        graph = self.build(model, session)
        # Two graph steps per tool call, plus slack: an explicit limit, never LangGraph's huge default.
        limit = 2 * session.max_tool_calls + 6
        out = await graph.ainvoke(
            {"messages": briefing_messages(session.world.briefing)}, config={"recursion_limit": limit}
        )
        return list(out["messages"])
