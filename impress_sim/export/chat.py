"""Messages in the OpenAI chat format, the one shape every exported row uses.

A record keeps messages as the agents wrote them (`agents/messages.py`: tool calls as
`{"id", "name", "args"}`); trainers and chat templates expect OpenAI's shape (`{"id", "type":
"function", "function": {"name", "arguments": "<JSON text>"}}`). Every message gets the same keys
(`role`, `content`, `tool_calls`, `tool_call_id`, `name`, `reasoning_content`), absent ones null, so
Arrow (Parquet, `datasets`) sees one schema for the whole column instead of a union per row.

Every text is clipped to `max_chars` (a hostile or runaway tool output of many megabytes would
otherwise make one row larger than a trainer's context and an Arrow string array overflow); the
`Clip` counter says how many were clipped, and the dataset card reports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from impress_sim.envs.briefing import Briefing
from impress_sim.envs.detectors import Finding

MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content")


@dataclass
class Clip:
    """Clips texts to `max_chars` (0: never) and counts what it clipped."""

    max_chars: int = 100_000
    clipped: int = 0

    def __call__(self, text: object) -> str:
        value = text if isinstance(text, str) else ("" if text is None else str(text))
        if self.max_chars and len(value) > self.max_chars:
            self.clipped += 1
            cut = len(value) - self.max_chars
            return value[: self.max_chars] + f"\n[... {cut:,} characters clipped by the export]"
        return value


def tool_call(call_id: str | None, name: object, args: object, clip: Clip) -> dict[str, Any]:
    """One tool call in OpenAI's shape; `args` as JSON text (a string is kept as written: the raw,
    malformed arguments a model sent are part of what it did)."""
    if isinstance(args, str):
        arguments = args
    else:
        arguments = json.dumps(args if args is not None else {}, ensure_ascii=False, default=str)
    return {"id": call_id or "", "type": "function",
            "function": {"name": clip(name), "arguments": clip(arguments)}}


def message(role: str, content: object, clip: Clip, *, tool_calls: list[dict[str, Any]] | None = None,
            tool_call_id: str | None = None, name: str | None = None,
            reasoning_content: str | None = None) -> dict[str, Any]:
    return {"role": role, "content": clip(content), "tool_calls": tool_calls or None,
            "tool_call_id": tool_call_id, "name": name,
            "reasoning_content": clip(reasoning_content) if reasoning_content else None}


def openai_message(data: Mapping[str, Any], clip: Clip, tool_names: Mapping[str, str] | None = None
                   ) -> dict[str, Any]:
    """A record's message (`agents/messages.message_dict`'s shape) in OpenAI's shape. `tool_names`
    maps call ids to tool names, so a tool message also says which tool answered (TRL's convention)."""
    role = str(data.get("role", "user"))
    calls = data.get("tool_calls") or []
    openai_calls = [tool_call(c.get("id"), c.get("name", ""), c.get("args", c.get("arguments")), clip)
                    for c in calls if isinstance(c, Mapping)] or None
    call_id = data.get("tool_call_id")
    call_id = str(call_id) if call_id is not None else None
    name = (tool_names or {}).get(call_id or "") if role == "tool" else None
    reasoning = data.get("reasoning")
    return message(role, data.get("content", ""), clip, tool_calls=openai_calls, tool_call_id=call_id,
                   name=name, reasoning_content=str(reasoning) if reasoning else None)


def briefing_chat(briefing: Briefing, clip: Clip) -> list[dict[str, Any]]:
    """The briefing as the agents show it (`Briefing.chat_messages`: one way to turn a briefing into messages)."""
    return [openai_message(m, clip) for m in briefing.chat_messages()]


def openai_tools(schemas: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A world's tool schemas (`World.tool_schemas`) as OpenAI `tools`."""
    return [{"type": "function", "function": dict(s)} for s in schemas]


def finding_row(finding: Finding, clip: Clip) -> dict[str, Any]:
    """A finding as a flat row (one schema whatever the world's behaviours)."""
    return {"behaviour": finding.behaviour, "detector": finding.detector, "severity": finding.severity.value,
            "motive": finding.motive.value, "risk_type": finding.risk_type.value, "step": finding.step,
            "actor": finding.actor, "attempt": finding.attempt, "evidence": clip(finding.evidence)}
