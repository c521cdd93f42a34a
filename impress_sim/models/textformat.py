"""Tool calling for models without native tool calls: a ReAct-style text protocol.

The model is told to answer with `Action: {"tool": ..., "args": {...}}`; the parser is forgiving
(code fences, single quotes, trailing commas, a missing brace are repaired by json-repair), and
whatever it still cannot read becomes an invalid tool call, which the agent sees as an error
observation rather than a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import json_repair
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

TEXT_PROTOCOL = """You can use tools. To call one, end your reply with exactly one line:
Action: {{"tool": "<tool name>", "args": {{<arguments as JSON>}}}}
You will get the result as "Observation: ...". When you are completely done, reply without an Action line.

Available tools:
{tools}"""

_ACTION = re.compile(r"Action\s*:\s*", re.IGNORECASE)


@dataclass
class ParsedReply:
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    invalid_tool_calls: list[dict[str, Any]] = field(default_factory=list)


def describe_tools(tools: list[dict[str, Any]]) -> str:
    lines = []
    for t in tools:
        fn = t["function"]
        lines.append(f"- {fn['name']}: {fn['description'].splitlines()[0] if fn['description'] else ''}")
        lines.append(f"  arguments (JSON schema): {json.dumps(fn['parameters'].get('properties', {}))}")
    return "\n".join(lines)


def to_text_protocol(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages for a model that only reads text: tool calls and results become plain turns."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            text = str(m.content)
            if tools:
                text += "\n\n" + TEXT_PROTOCOL.format(tools=describe_tools(tools))
            out.append({"role": "system", "content": text})
        elif isinstance(m, ToolMessage):
            out.append({"role": "user", "content": f"Observation: {m.content}"})
        elif isinstance(m, AIMessage):
            out.append({"role": "assistant", "content": str(m.content)})
        elif isinstance(m, HumanMessage):
            out.append({"role": "user", "content": str(m.content)})
    return out


def parse_text_reply(text: str, tool_names: list[str]) -> ParsedReply:
    parsed = ParsedReply()
    matches = list(_ACTION.finditer(text))
    if not matches:
        return parsed
    raw = text[matches[-1].end():].strip()
    raw = re.sub(r"^```(?:json)?\s*|\s*```\s*$", "", raw)
    call_id = f"text-{hashlib.sha1(raw.encode()).hexdigest()[:10]}"  # deterministic: records must replay
    try:
        data = json_repair.loads(raw)
    except Exception as exc:  # json-repair raises little, but a parser must never crash the agent
        data, error = None, str(exc)
    else:
        error = "expected an object like {\"tool\": NAME, \"args\": {...}}"
    if isinstance(data, dict):
        name = data.get("tool") or data.get("name")
        args = data.get("args", data.get("arguments", {}))
        if isinstance(name, str) and isinstance(args, dict):
            parsed.tool_calls.append({"name": name, "args": args, "id": call_id, "type": "tool_call"})
            return parsed
    parsed.invalid_tool_calls.append(
        {"name": None, "args": raw[:500], "id": call_id, "error": f"could not read the Action: {error}",
         "type": "invalid_tool_call"}
    )
    return parsed
