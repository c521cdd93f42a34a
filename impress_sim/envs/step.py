"""What one action is and what it did: `ToolCall`, `parse_action` and `StepResult`.

The world turns an action into a `StepResult`; the Gymnasium and PettingZoo envs read it through
`StepResult.info()`, an episode's record through `StepRecord.from_result` (impress_sim/record.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from impress_sim.envs.bounded import clip
from impress_sim.envs.detectors import Finding
from impress_sim.envs.effects import AGENT, ActionError
from impress_sim.envs.state import Change
from impress_sim.envs.toolcalls import SHAPE, ToolCall, extract_calls, names

HIDDEN_PREFIXES = ("meta", "clock")

# Why an action failed: it was not a well-formed call of an allowed tool, or the tool refused it.
# "internal_error": a tool failed with an unexpected exception (a bug; the env reports it, never raises).
ErrorKind = Literal["invalid_action", "tool_error", "internal_error"]


@dataclass(frozen=True)
class Refused:
    """An action its caller already found malformed (a PettingZoo `step` given no dict): the world
    answers it with `reason` as an invalid_action observation, like any other malformed action."""

    reason: str


_SHAPE = SHAPE


def parse_action(action: object) -> ToolCall:
    """One tool call from `action`: a dict, JSON text or UTF-8 bytes in any format `envs/toolcalls.py`
    reads (`{"tool": ..., "args": {...}}`, OpenAI's flat function or full tool_call object or assistant
    message, Anthropic `tool_use` blocks, Hermes `<tool_call>` tags, JSON inside prose).

    One action is one call: an action holding several calls (an assistant message with parallel tool
    calls, several `<tool_call>` tags, a JSON array) is refused as a whole, none of its calls carried
    out, with a message naming them and saying to send one per step — a learner is told, not silently
    cut to its first call (the chat env, `envs/chat_env.py`, carries parallel calls out in order).
    Anything past the bounds of `envs/bounded.py` (`MAX_ACTION_CHARS` characters, `MAX_DEPTH` levels
    of nesting, 100-digit integers, no NaN/Infinity, no lone surrogates) is an `ActionError` whose
    message says what is wrong and the limit: it never raises anything else, whatever `action` is."""
    if isinstance(action, Refused):
        raise ActionError(action.reason)
    calls = extract_calls(action)
    if not calls:
        raise ActionError(f"no tool call found in the action; send {SHAPE}")
    if len(calls) > 1:
        raise ActionError(f"{len(calls)} tool calls in one action ({clip(names(calls), 300)}); none was carried "
                          "out: this env carries out one tool call per step, send them one at a time")
    return calls[0]


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
        """The step as a Gymnasium/PettingZoo `info` dict: plain JSON data throughout (`summary()` under
        "result"), as an `info` must be for vector envs, loggers and trainers that ship it between processes;
        the envs keep the `StepResult` object itself as `last_result`."""
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
            "result": self.summary(),
        }

    def summary(self) -> dict[str, Any]:
        """The result itself as plain JSON data: the call, the output and how the step ended."""
        call = None if self.call is None else {"name": self.call.name, "args": self.call.args,
                                               "call_id": self.call.call_id}
        return {"call": call, "output": self.output, "observation": self.observation, "notices": list(self.notices),
                "terminated": self.terminated, "truncated": self.truncated, "exit_status": self.exit_status,
                "role": self.role}

