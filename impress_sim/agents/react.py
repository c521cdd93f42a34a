"""The `react` architecture: a hand-written LangGraph loop of model turns and tool calls.

(`langgraph.prebuilt.create_react_agent` is deprecated; a two-node StateGraph is all it was.)
Each tool call is exactly one env step through the session, so the world sees every action.
The shared pieces (state, tools, tool node) live in `impress_sim.agents.base`; they are
re-exported here for code that imported them from this module.
"""

from __future__ import annotations

from typing import Any

from impress_sim.agents.base import (
    AgentState,
    GraphAgent,
    acting_loop,
    model_node,
    openai_tools,
    tool_node,
)
from impress_sim.agents.session import EpisodeSession

__all__ = ["AgentState", "ReactAgent", "openai_tools", "tool_node"]


class ReactAgent(GraphAgent):
    """Think, call a tool, observe; until the agent stops, finishes, or the budget runs out."""

    name = "react"

    @classmethod
    def build(cls) -> Any:
        return acting_loop(AgentState, "agent", model_node).compile()

    def recursion_limit(self, session: EpisodeSession) -> int:
        # Two graph steps per tool call, plus slack: an explicit limit, never LangGraph's huge default.
        return 2 * session.max_tool_calls + 6
