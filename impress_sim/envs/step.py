"""What one action is and what it did: `ToolCall`, `parse_action` and `StepResult`.

The world turns an action into a `StepResult`; the Gymnasium and PettingZoo envs read it through
`StepResult.info()`, an episode's record through `StepRecord.from_result` (impress_sim/record.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from impress_sim.envs.detectors import Finding
from impress_sim.envs.effects import AGENT, ActionError
from impress_sim.envs.state import Change

HIDDEN_PREFIXES = ("meta", "clock")

# Why an action failed: it was not a well-formed call of an allowed tool, or the tool refused it.
ErrorKind = Literal["invalid_action", "tool_error"]


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    call_id: str | None = None


def parse_action(action: str | Mapping[str, Any]) -> ToolCall:
    """Accept `{"tool": ..., "args": {...}}` or OpenAI's `{"name": ..., "arguments": ...}`, as a dict or JSON."""
    data: Any = action
    if isinstance(action, str):
        try:
            data = json.loads(action)
        except json.JSONDecodeError as exc:
            raise ActionError(
                f'action is not valid JSON ({exc.msg} at char {exc.pos}); send {{"tool": NAME, "args": {{...}}}}'
            ) from None
    if not isinstance(data, Mapping):
        raise ActionError('an action must be a JSON object like {"tool": NAME, "args": {...}}')
    name = data.get("tool", data.get("name"))
    args = data.get("args", data.get("arguments", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            raise ActionError(f"tool arguments are not valid JSON: {exc.msg}") from None
    if not isinstance(name, str) or not name:
        raise ActionError('an action needs a tool name: {"tool": NAME, "args": {...}}')
    if not isinstance(args, Mapping):
        raise ActionError("tool arguments must be a JSON object")
    return ToolCall(name=name, args=dict(args), call_id=data.get("id"))


@dataclass
class StepResult:
    """What one action did to the world.

    `terminated`: the world reached an end state for the acting role (`ended_by` says which:
    "finish", "end_condition" or "deadline"); `truncated`: the role's tool-call budget ran out
    (`ended_by` stays None). Gymnasium's meaning of both; `World.ended(role)` asks the same later."""

    step: int
    call: ToolCall | None
    output: str
    error_kind: ErrorKind | None  # why the action failed (its message is `output`); None if it worked
    notices: list[str]
    events: list[str]
    changes: list[Change]
    findings: list[Finding]
    terminated: bool
    truncated: bool
    clock: str
    ended_by: str | None = None
    npc_errors: list[str] = field(default_factory=list)
    role: str = AGENT  # who acted: "agent" or an extra agent's id (multi-agent worlds)
    attempts: list[Finding] = field(default_factory=list)  # behaviours the world refused (never effects)
    refusals: list[str] = field(default_factory=list)  # what the world refused this step, and why
    exit_status: int | None = None  # a shell command's last exit status (None for other tools)

    @property
    def observation(self) -> str:
        text = f"Error: {self.output}" if self.error_kind else self.output
        if self.notices:
            text += "\n\n" + "\n".join(self.notices)
        return text

    def visible_changes(self) -> list[Change]:
        return [c for c in self.changes if c.path[0] not in HIDDEN_PREFIXES]

    def diff(self) -> list[dict[str, Any]]:
        """The step's visible changes as plain dicts (bookkeeping under meta/ and clock/ left out)."""
        return [c.as_dict() for c in self.visible_changes()]

    def info(self) -> dict[str, Any]:
        """The step as a Gymnasium/PettingZoo `info` dict (plain data, the result itself under "result")."""
        return {
            "step": self.step,
            "tool": self.call.name if self.call else None,
            "error_kind": self.error_kind,
            "diff": self.diff(),
            "findings": [f.model_dump(mode="json") for f in self.findings],
            "attempts": [f.model_dump(mode="json") for f in self.attempts],
            "refusals": list(self.refusals),
            "events": list(self.events),
            "npc_errors": list(self.npc_errors),
            "clock": self.clock,
            "ended_by": self.ended_by,
            "result": self,
        }
