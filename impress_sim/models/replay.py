"""The offline reference policy: a chat model that replays one of a world's scripted trajectories.

It exists so every part of the pipeline runs for real with no API key and no network. It is a
replay, not a measurement: records made with it say `is_replay: true`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field

PREFIX = "reference/"


class ScriptedCall(BaseModel):
    """One step of the script: the tool call an acting turn makes, and the thought that goes with it."""

    thought: str = ""
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class _Step(Protocol):
    @property
    def thought(self) -> str: ...
    @property
    def tool(self) -> str: ...
    @property
    def args(self) -> dict[str, Any]: ...


class _Trajectory(Protocol):
    @property
    def steps(self) -> Sequence[_Step]: ...
    @property
    def final(self) -> str: ...


class ReferenceChatModel(BaseChatModel):
    """Emits the trajectory's next tool call each acting turn.

    Acting turns are calls on the tool-bound model (`bind_tools` returns a bound copy). The position
    in the trajectory is the number of assistant messages so far that carry tool calls: every step
    the replay took is such a message (even one a guardrail blocked, which the replay still "took"),
    and nothing else is — remembered assistant turns from the briefing, plans and critiques are
    text. The final answer carries no tool call, but it is only ever given once the steps are used
    up, so counting it or not gives the same position.

    A call on the unbound model (an architecture's planner or critic: no tools offered) is a
    non-acting turn: it gets a short fixed text naming the remaining steps and consumes nothing.
    """

    steps: list[ScriptedCall]
    final: str = ""
    name_: str = "reference"
    tools_bound: bool = False

    @classmethod
    def replaying(cls, trajectory: _Trajectory, name: str = "reference") -> ReferenceChatModel:
        """The replay of a world's trajectory (an `envs.spec.Trajectory`; the model layer takes its
        steps as plain data, so it never imports the world runtime)."""
        steps = [ScriptedCall(thought=s.thought, tool=s.tool, args=dict(s.args)) for s in trajectory.steps]
        return cls(steps=steps, final=trajectory.final, name_=name)

    @property
    def _llm_type(self) -> str:
        return "impress-reference-replay"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ReferenceChatModel:
        return self.model_copy(update={"tools_bound": True})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        turn = sum(isinstance(m, AIMessage) and bool(m.tool_calls or m.invalid_tool_calls) for m in messages)
        steps = self.steps
        if not self.tools_bound:
            message = AIMessage(content=self.remaining(turn))
        elif turn < len(steps):
            step = steps[turn]
            message = AIMessage(
                content=step.thought,
                tool_calls=[{"name": step.tool, "args": dict(step.args), "id": f"ref-{turn}", "type": "tool_call"}],
            )
        else:
            message = AIMessage(content=self.final or "Done.")
        return ChatResult(generations=[ChatGeneration(message=message)])

    def remaining(self, turn: int) -> str:
        """The fixed answer to a non-acting call: this replay neither plans nor reflects."""
        lines = [f"{i}. {s.tool} {_short(json.dumps(s.args, ensure_ascii=False))}"
                 for i, s in enumerate(self.steps[turn:], start=1)]
        head = "Reference replay of a scripted trajectory: no plan or critique of its own."
        return head + ("\nRemaining steps:\n" + "\n".join(lines) if lines else "\nNo steps remain.")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
