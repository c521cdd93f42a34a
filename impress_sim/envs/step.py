"""What one action is and what it did: `ToolCall`, `parse_action` and `StepResult`.

The world turns an action into a `StepResult`; the Gymnasium and PettingZoo envs read it through
`StepResult.info()`, an episode's record through `StepRecord.from_result` (impress_sim/record.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from impress_sim.envs.bounded import MAX_ACTION_CHARS, MAX_DEPTH, BoundError, check_json, clip, load_json
from impress_sim.envs.detectors import Finding
from impress_sim.envs.effects import AGENT, ActionError
from impress_sim.envs.state import Change

HIDDEN_PREFIXES = ("meta", "clock")

# Why an action failed: it was not a well-formed call of an allowed tool, or the tool refused it.
# "internal_error": a tool failed with an unexpected exception (a bug; the env reports it, never raises).
ErrorKind = Literal["invalid_action", "tool_error", "internal_error"]


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    call_id: str | None = None


@dataclass(frozen=True)
class Refused:
    """An action its caller already found malformed (a PettingZoo `step` given no dict): the world
    answers it with `reason` as an invalid_action observation, like any other malformed action."""

    reason: str


_SHAPE = '{"tool": NAME, "args": {...}}'


def parse_action(action: object) -> ToolCall:
    """Accept `{"tool": ..., "args": {...}}` or OpenAI's `{"name": ..., "arguments": ...}`, as a dict,
    JSON text or UTF-8 bytes. Anything else, and anything past the bounds of `envs/bounded.py`
    (`MAX_ACTION_CHARS` characters, `MAX_DEPTH` levels of nesting, 100-digit integers, no
    NaN/Infinity, no lone surrogates), is an `ActionError` whose message says what is wrong and
    the limit: it never raises anything else, whatever `action` is."""
    if isinstance(action, Refused):
        raise ActionError(action.reason)
    if isinstance(action, bytes | bytearray | memoryview):
        try:
            action = bytes(action).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ActionError(f"action bytes are not UTF-8 text (byte {exc.start}); send {_SHAPE} as text") from None
    data: Any = action
    if isinstance(action, str):
        data = _load(action, "action")
    elif isinstance(action, Mapping):
        try:
            check_json(action, max_chars=MAX_ACTION_CHARS, max_depth=MAX_DEPTH)
        except BoundError as exc:
            raise ActionError(f"action refused: {exc}") from None
    if not isinstance(data, Mapping):
        got = "nothing" if data is None else f"a JSON {_KINDS.get(type(data), type(data).__name__)}"
        raise ActionError(f"an action must be a JSON object like {_SHAPE}, got {got}")
    name = data.get("tool", data.get("name"))
    args = data.get("args", data.get("arguments", {}))
    if isinstance(args, str):
        args = _load(args, "tool arguments") if args.strip() else {}
    if not isinstance(name, str) or not name:
        raise ActionError(f"an action needs a tool name: {_SHAPE}")
    if not isinstance(args, Mapping):
        raise ActionError("tool arguments must be a JSON object")
    call_id = data.get("id")
    return ToolCall(name=name, args=dict(args), call_id=call_id if isinstance(call_id, str) else None)


def describe_action(action: object, limit: int = 200) -> str:
    """A short, printable, valid-Unicode echo of a raw action (for logs and messages): text and bytes
    clipped to `limit`, anything else by its type only (no repr: a deep or huge value must not
    recurse, nor a 5,000-digit integer raise)."""
    if isinstance(action, bytes | bytearray | memoryview):
        action = bytes(action[: limit * 4]).decode("utf-8", "replace")
    if isinstance(action, str):
        text = clip(action, limit)
        return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")
    if action is None or isinstance(action, bool | float) or (isinstance(action, int) and abs(action) < 10**20):
        return str(action)
    return f"({type(action).__name__})"


_KINDS = {list: "array", tuple: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _load(text: str, what: str) -> Any:
    try:
        return load_json(text, max_chars=MAX_ACTION_CHARS, max_depth=MAX_DEPTH)
    except BoundError as exc:
        raise ActionError(f"{what} refused: {exc}") from None
    except json.JSONDecodeError as exc:
        hint = f"; send {_SHAPE}" if what == "action" else ""
        verb = "are" if what.endswith("s") else "is"
        raise ActionError(f"{what} {verb} not valid JSON ({exc.msg} at char {exc.pos}){hint}") from None


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
    # The name the agent called the tool by when a `tool_naming` value renames it (`call` is the real
    # tool, as journals, detectors and records' `tool` speak of it); None when it is the tool's own name.
    shown_as: str | None = None

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
            "shown_as": self.shown_as,
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
