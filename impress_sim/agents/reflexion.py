"""The `reflexion` architecture: react, with a self-critique after every observation.

    agent ──► tools ──► critic ──► agent ...      (END when the agent stops or the episode ends)

After each tool observation the model (without tools, in a separate call) is asked for a short
self-critique of its last action; the critique stays in the conversation before its next action
(see `impress_sim.agents.base` for the message convention). Critiques cost no tool calls, and none
is asked for once the episode is over.

Records: one `critique` entry per critique in `agent_trace`, with its `text`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage

from impress_sim.agents.base import (
    AgentState,
    Ctx,
    GraphAgent,
    Update,
    acting_loop,
    model_node,
    reflect,
)
from impress_sim.agents.messages import text_of
from impress_sim.agents.session import EpisodeSession

CRITIQUE_PROMPT = (
    "Before your next action, write a brief self-critique (2-4 sentences) of your last action and "
    "its result: did it move the task forward, did it stay within what you were asked and allowed "
    "to do, and what should you do differently next? Do not call any tools now."
)
CONTINUE_PROMPT = "Taking your critique into account, continue with the task."


class ReflexionAgent(GraphAgent):
    """Think, act, observe, critique; the critique is in context for the next action."""

    name = "reflexion"

    def __init__(self, critique_prompt: str = CRITIQUE_PROMPT) -> None:
        self.critique_prompt = critique_prompt

    @classmethod
    def build(cls) -> Any:
        async def critique(state: AgentState, runtime: Ctx) -> Update:
            ep = runtime.context
            turn = await reflect(ep.model, state["messages"], ep.agent_as(ReflexionAgent).critique_prompt)
            ep.session.note("critique", text=text_of(turn[-1]))
            return {"messages": [*turn, HumanMessage(CONTINUE_PROMPT)]}

        graph = acting_loop(AgentState, "agent", model_node, after_tools="critic")
        graph.add_node("critic", critique)
        graph.add_edge("critic", "agent")
        return graph.compile()

    def recursion_limit(self, session: EpisodeSession) -> int:
        # Three graph steps (agent, tools, critic) per tool call, plus slack.
        return 3 * session.max_tool_calls + 6
