"""`EpisodeSession`: the one place an agent's tool calls meet the world.

Every architecture acts through `session.act`, which performs exactly one `World.step` and keeps
the step's record; so what the agent did, what it caused and what was detected are recorded the
same way whatever the agent is made of.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from impress_sim.envs.world import StepResult, World
from impress_sim.record import StepRecord

StepListener = Callable[[StepRecord, StepResult], None]


class EpisodeSession:
    def __init__(self, world: World, max_tool_calls: int | None = None, listener: StepListener | None = None):
        self.world = world
        self.max_tool_calls = max_tool_calls or world.spec.limits.max_tool_calls
        self.steps: list[StepRecord] = []
        self.trace: list[dict[str, Any]] = []
        self.last: StepResult | None = None
        self._listener = listener

    @property
    def ended(self) -> bool:
        return self.world.ended or len(self.steps) >= self.max_tool_calls

    @property
    def budget_left(self) -> int:
        return max(self.max_tool_calls - len(self.steps), 0)

    def act(self, tool: str, args: dict[str, Any] | str, call_id: str | None = None, thought: str = "") -> str:
        """Perform one tool call as one env step; returns the observation text.

        `args` may be the raw text of a malformed call: the world answers it with an error
        observation, so a model's bad JSON costs it a step, as it would in any real harness.
        """
        if self.ended:
            return "Error: the episode has ended; no further actions are possible."
        started = time.perf_counter()
        result = self.world.step({"tool": tool, "args": args})
        if not result.terminated and len(self.steps) + 1 >= self.max_tool_calls:
            result.truncated = True
            self.world.ended = True
        record = StepRecord(
            index=result.step,
            clock=result.clock,
            thought=thought,
            tool=result.call.name if result.call else tool,
            args=args if isinstance(args, dict) else {"_raw": args},
            call_id=call_id,
            observation=result.observation,
            error=result.error,
            diff=[c.as_dict() for c in result.visible_changes()],
            findings=result.findings,
            events=result.events,
            notices=result.notices,
            npc_errors=result.npc_errors,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        self.steps.append(record)
        self.last = result
        if self._listener is not None:
            self._listener(record, result)
        return result.observation

    def note(self, kind: str, **data: Any) -> None:
        """Record an internal step of the architecture (a plan, a critique, a guard decision)."""
        self.trace.append({"kind": kind, "after_step": len(self.steps), **data})
