"""The `plan_execute` architecture: plan first, act with the plan in context, replan as it goes.

    planner ──► executor ◄──────────────┐
                  │  tool calls         │
                  ▼                     │
                tools ──► replan? ──────┘   (every `replan_every` tool calls, or after an error)

The planner is the model without tools, asked for a short numbered plan; the executor is a react
loop (the model with tools) that sees the whole conversation, plan included; the replanner is the
model without tools again, asked to revise the plan for what is left. Plans are turns of the one
conversation (see `impress_sim.agents.base`). The tool budget is the session's
(`session.max_tool_calls`); planning costs no tool calls.

Records: `agent_trace` gets `plan` (the first plan) and `replan` (with `reason`: "every" or "error")
entries, each with the plan `text`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph

from impress_sim.agents.base import (
    AgentState,
    Ctx,
    Episode,
    GraphAgent,
    Update,
    last_tools_failed,
    model_node,
    reflect,
    tool_node,
    tools_or_end,
)
from impress_sim.agents.messages import text_of
from impress_sim.agents.session import EpisodeSession

PLAN_PROMPT = (
    "Before you act, write a short numbered plan for this task (at most {steps} steps). You will have "
    "at most {budget} tool calls. Reply with the plan only; do not call any tools yet."
)
EXECUTE_PROMPT = "Now carry out your plan, one tool call at a time."
REPLAN_PROMPT = (
    "Pause and review your progress: {why}. You have {left} tool calls left. Write a revised numbered "
    "plan for what remains. Reply with the plan only; do not call any tools now."
)
CONTINUE_PROMPT = "Continue with your revised plan."


class PlanState(AgentState):
    planned_at: int  # session steps when the current plan was written


class PlanExecuteAgent(GraphAgent):
    """A planner turn, then a react executor with the plan in context, replanning every N calls."""

    name = "plan_execute"

    def __init__(self, replan_every: int = 3, plan_steps: int = 7) -> None:
        if replan_every < 1 or plan_steps < 1:
            raise ValueError("replan_every and plan_steps must be at least 1")
        self.replan_every = replan_every
        self.plan_steps = plan_steps

    def options(self) -> dict[str, Any]:
        return {"replan_every": self.replan_every}

    def initial_state(self, session: EpisodeSession) -> dict[str, Any]:
        return {**super().initial_state(session), "planned_at": 0}

    @classmethod
    def build(cls) -> Any:
        async def plan(state: PlanState, runtime: Ctx) -> Update:
            ep = runtime.context
            agent, model, session = ep.agent_as(PlanExecuteAgent), ep.model, ep.session
            ask = PLAN_PROMPT.format(steps=agent.plan_steps, budget=session.budget_left)
            turn = await reflect(model, state["messages"], ask)
            session.note("plan", text=text_of(turn[-1]))
            return {"messages": [*turn, HumanMessage(EXECUTE_PROMPT)], "planned_at": len(session.steps)}

        async def replan(state: PlanState, runtime: Ctx) -> Update:
            model, session = runtime.context.model, runtime.context.session
            failed = last_tools_failed(state)
            why = "your last tool call returned an error" if failed else (
                f"you have made {len(session.steps) - state['planned_at']} tool calls since your last plan")
            turn = await reflect(model, state["messages"], REPLAN_PROMPT.format(why=why, left=session.budget_left))
            session.note("replan", reason="error" if failed else "every", text=text_of(turn[-1]))
            return {"messages": [*turn, HumanMessage(CONTINUE_PROMPT)], "planned_at": len(session.steps)}

        async def after_tools(state: PlanState, runtime: Ctx) -> str:  # async: see base.Router
            agent, session = runtime.context.agent_as(PlanExecuteAgent), runtime.context.session
            if session.ended:
                return END
            due = len(session.steps) - state["planned_at"] >= agent.replan_every
            return "replan" if due or last_tools_failed(state) else "executor"

        graph = StateGraph(PlanState, context_schema=Episode)
        graph.add_node("planner", plan)
        graph.add_node("executor", model_node)
        graph.add_node("tools", tool_node)
        graph.add_node("replan", replan)
        graph.add_edge(START, "planner")
        graph.add_edge("planner", "executor")
        graph.add_conditional_edges("executor", tools_or_end(), ["tools", END])
        graph.add_conditional_edges("tools", after_tools, ["executor", "replan", END])
        graph.add_edge("replan", "executor")
        return graph.compile()

    def recursion_limit(self, session: EpisodeSession) -> int:
        # The planner, then per tool call at most executor + tools + replan; plus slack.
        return 3 * session.max_tool_calls + 6
