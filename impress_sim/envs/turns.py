"""Who has acted, and who can act no more: the one owner of an episode's termination.

Gymnasium's meaning: a role *terminates* when the world reaches an end state for it (it called
`finish`; an end condition holds or the deadline passed, which ends the world for every role) and is
*truncated* when its budget runs out (`max_tool_calls` actions, or as many turns sat out with
`wait`). `World` keeps one `Turns` and asks it; the sessions, the turn baton and the envs ask the
world (`World.ended(role)`), never count for themselves.

It receives what it needs (the spec, a condition evaluator, the state's clock) and never imports
the world module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from impress_sim.envs import schedule
from impress_sim.envs.schedule import Holds
from impress_sim.envs.spec import WorldSpec
from impress_sim.envs.state import State
from impress_sim.envs.tools.control import FINISH

# Why a role can act no more: an end state (terminated) or its budget (truncated: "step_limit").
EndReason = Literal["finish", "end_condition", "deadline", "step_limit"]
STEP_LIMIT: EndReason = "step_limit"


def end_state(spec: WorldSpec, state: State, holds: Holds, finished: bool) -> tuple[EndReason | None, str | None]:
    """The end state the world is in after an action, if any, and the notice that says so: `finish`
    called, then the first end condition that holds, then the deadline."""
    if finished:
        return "finish", None
    for end in spec.end_conditions:
        if holds(end.when):
            return "end_condition", end.message
    deadline = spec.limits.deadline
    if deadline is None:
        return None, None
    current = schedule.now(state)
    if current >= schedule.in_clock(deadline, current):
        return "deadline", f"The deadline ({deadline.isoformat()}) has passed; the episode is over."
    return None, None


@dataclass
class Turns:
    """Each role's actions and waits against one budget, and why each role ended (if it did)."""

    roles: list[str]
    budget: int
    calls: dict[str, int] = field(default_factory=dict)
    waits: dict[str, int] = field(default_factory=dict)
    ended_by: dict[str, EndReason] = field(default_factory=dict)  # a role's own end (finish, budget)
    over: EndReason | None = None  # the world's end (an end condition, the deadline): every role's

    @property
    def actions(self) -> int:
        """Actions taken so far by every role (a step's number is this plus one)."""
        return sum(self.calls.values())

    def why_ended(self, role: str) -> EndReason | None:
        return self.over or self.ended_by.get(role)

    def acted(self, role: str, reason: EndReason | None) -> tuple[bool, bool]:
        """Count one action of `role` that left the world in end state `reason` (None: none);
        returns (terminated, truncated) for that action."""
        self.calls[role] = self.calls.get(role, 0) + 1
        if reason == FINISH:
            self.ended_by[role] = "finish"
        elif reason is not None:
            self.over = reason
        elif self.calls[role] >= self.budget:
            self.ended_by[role] = STEP_LIMIT
            return False, True
        return reason is not None, False

    def waited(self, role: str) -> None:
        """Count one turn `role` sat out: waiting out the whole budget ends it too (truncated), so a
        role that only ever waits cannot keep an episode going forever."""
        self.waits[role] = self.waits.get(role, 0) + 1
        if self.why_ended(role) is None and self.waits[role] >= self.budget:
            self.ended_by[role] = STEP_LIMIT

    def copy(self) -> Turns:
        return replace(self, calls=dict(self.calls), waits=dict(self.waits), ended_by=dict(self.ended_by))

