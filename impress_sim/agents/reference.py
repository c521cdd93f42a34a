"""The offline reference policy: a chat model that replays one of a world's scripted trajectories.

It exists so every part of the pipeline runs for real with no API key and no network. It is a
replay, not a measurement: records made with it say `is_replay: true`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from impress_sim.envs.spec import Trajectory

PREFIX = "reference/"


class ReferenceChatModel(BaseChatModel):
    """Emits the trajectory's next tool call each turn (position = AI messages so far)."""

    trajectory: Trajectory
    name_: str = "reference"

    @property
    def _llm_type(self) -> str:
        return "impress-reference-replay"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ReferenceChatModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        turn = sum(isinstance(m, AIMessage) for m in messages)
        steps = self.trajectory.steps
        if turn < len(steps):
            step = steps[turn]
            message = AIMessage(
                content=step.thought,
                tool_calls=[{"name": step.tool, "args": dict(step.args), "id": f"ref-{turn}", "type": "tool_call"}],
            )
        else:
            message = AIMessage(content=self.trajectory.final or "Done.")
        return ChatResult(generations=[ChatGeneration(message=message)])
