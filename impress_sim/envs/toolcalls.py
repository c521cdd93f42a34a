"""Reading tool calls out of whatever an LLM (or its serving stack) hands back.

Trainers and inference servers speak different dialects; an env that only read `{"tool", "args"}` made
every integration write its own converter. `extract_calls` reads them all into `ToolCall`s, and
`envs/step.py`'s `parse_action` (the text env's single action) and `envs/chat_env.py` (a whole assistant
message) both use it, so there is one parser:

- our own `{"tool": NAME, "args": {...}}` and the flat OpenAI function `{"name": NAME, "arguments": ...}`
  (`arguments` a JSON string or an object; `input` and `parameters` are read as arguments too);
- a full OpenAI tool call `{"id", "type": "function", "function": {"name", "arguments": "<json>"}}`;
- an OpenAI assistant message `{"role": "assistant", "content": ..., "tool_calls": [...]}` (its text
  content is read for a text call only when it has no `tool_calls`);
- Anthropic `{"type": "tool_use", "id", "name", "input"}` blocks, alone, in a list, or as the `content`
  list of a message (text blocks are read for a text call only when there is no `tool_use` block);
- text: bare JSON (an object, or an array of calls); Hermes/Qwen `<tool_call>{"name": ..., "arguments":
  {...}}</tool_call>` tags (several tags: several calls; an unclosed last tag is read to the end); and a
  JSON object inside prose (before or after it, in a ```json fence, after a ReAct `Action:`): the first
  object in the text that is a tool call.

Every input is bounded first (`envs/bounded.py`: length, nesting depth, integer size, finite floats,
valid Unicode) and every failure is an `ActionError` whose message says what was wrong: nothing else
is ever raised, whatever the input (a Hypothesis fuzz test holds it to that).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from impress_sim.envs.bounded import MAX_ACTION_CHARS, MAX_DEPTH, BoundError, check_json, load_json
from impress_sim.envs.effects import ActionError

SHAPE = '{"tool": NAME, "args": {...}}'


@dataclass(frozen=True)
class ToolCall:
    """One call of one tool; `call_id` is the caller's id for it (OpenAI/Anthropic), None if it gave none."""

    name: str
    args: dict[str, Any]
    call_id: str | None = None


_KINDS = {list: "array", tuple: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()
MAX_CALLS = 64  # tool calls read from one action/message (more is refused, not truncated silently)


def extract_calls(action: object) -> list[ToolCall]:
    """Every tool call in `action` (a dict, a list, text or UTF-8 bytes in any of the module's formats),
    in order. An empty list means the input was read and holds no call (an assistant message with only
    text); anything unreadable raises `ActionError`."""
    if isinstance(action, bytes | bytearray | memoryview):
        try:
            action = bytes(action).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ActionError(f"action bytes are not UTF-8 text (byte {exc.start}); send {SHAPE} as text") from None
    if isinstance(action, str):
        return calls_in_text(action)
    if isinstance(action, Mapping | list | tuple):
        try:
            check_json(action, max_chars=MAX_ACTION_CHARS, max_depth=MAX_DEPTH)
        except BoundError as exc:
            raise ActionError(f"action refused: {exc}") from None
        return _calls_in_data(action)
    got = "nothing" if action is None else f"a JSON {_KINDS.get(type(action), type(action).__name__)}"
    raise ActionError(f"an action must be a JSON object like {SHAPE}, got {got}")


def calls_in_text(text: str) -> list[ToolCall]:
    """The calls in a model's text reply (see the module docstring for the forms read)."""
    if len(text) > MAX_ACTION_CHARS:
        raise ActionError(f"action refused: {len(text):,} characters long (the limit is {MAX_ACTION_CHARS:,})")
    stripped = text.strip()
    try:
        data = load_json(stripped)
    except BoundError as exc:
        raise ActionError(f"action refused: {exc}") from None
    except json.JSONDecodeError as exc:
        whole_error = exc
    else:
        return _calls_in_data(data)
    tags = _HERMES.findall(stripped) if "<tool_call>" in stripped else []
    if tags:
        _limit(len(tags))
        return [call_from_mapping(_object(body, "a <tool_call> tag's content"), f"<tool_call> {i + 1}")
                for i, body in enumerate(tags)]
    for region in [*_FENCE.findall(stripped), stripped]:
        found = _first_call_object(region)
        if found is not None:
            return [found]
    if "{" not in stripped:
        return []  # plain prose: no call at all (the chat env nudges; parse_action reports it)
    raise ActionError(f"action is not valid JSON ({whole_error.msg} at char {whole_error.pos}); send {SHAPE}")


def call_from_mapping(data: Mapping[str, Any], where: str = "action") -> ToolCall:
    """One call from one object in any of the module's object shapes."""
    if data.get("type") == "tool_use":
        name, args, call_id = data.get("name"), data.get("input", {}), data.get("id")
    elif isinstance(data.get("function"), Mapping):
        fn = data["function"]
        name, args, call_id = fn.get("name"), fn.get("arguments", fn.get("parameters", {})), data.get("id")
    else:
        name = data.get("tool", data.get("name"))
        args = data.get("args", data.get("arguments", data.get("input", data.get("parameters", {}))))
        call_id = data.get("id", data.get("call_id"))
    if args is None:
        args = {}
    if isinstance(args, str):
        args = _load(args, "tool arguments") if args.strip() else {}
    if not isinstance(name, str) or not name:
        raise ActionError(f"an action needs a tool name: {SHAPE}" + ("" if where == "action" else f" ({where})"))
    if not isinstance(args, Mapping):
        raise ActionError("tool arguments must be a JSON object")
    return ToolCall(name=name, args=dict(args), call_id=call_id if isinstance(call_id, str) else None)


def _calls_in_data(data: Any) -> list[ToolCall]:
    if isinstance(data, list | tuple):
        if not data or not all(isinstance(item, Mapping) for item in data):
            raise ActionError(f"an action must be a JSON object like {SHAPE}, got a JSON array")
        _limit(len(data))
        calls: list[ToolCall] = []
        for item in data:
            calls.extend(_calls_in_data(item))
        return calls[: _limit(len(calls))]
    if not isinstance(data, Mapping):
        got = "nothing" if data is None else f"a JSON {_KINDS.get(type(data), type(data).__name__)}"
        raise ActionError(f"an action must be a JSON object like {SHAPE}, got {got}")
    if "tool_calls" in data and data.get("role", "assistant") == "assistant":  # an OpenAI assistant message
        listed = data["tool_calls"]
        if listed:
            if not isinstance(listed, list) or not all(isinstance(c, Mapping) for c in listed):
                raise ActionError("tool_calls must be a list of tool call objects")
            return [call_from_mapping(c, f"tool_calls[{i}]") for i, c in enumerate(listed[: _limit(len(listed))])]
        return _calls_in_content(data.get("content"))
    if "role" in data and "content" in data and not ({"tool", "name", "function"} & data.keys()):
        return _calls_in_content(data.get("content"))  # a message with no structured call: read its content
    if data.get("type") == "text":
        return _calls_in_content([data])
    return [call_from_mapping(data)]


def _calls_in_content(content: Any) -> list[ToolCall]:
    """An assistant message's content: text, or a list of (Anthropic/OpenAI) content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return calls_in_text(content)
    if not isinstance(content, list):
        raise ActionError("a message's content must be text or a list of content blocks")
    blocks = [b for b in content if isinstance(b, Mapping)]
    uses = [b for b in blocks if b.get("type") == "tool_use"]
    if uses:
        return [call_from_mapping(b, f"tool_use {i + 1}") for i, b in enumerate(uses[: _limit(len(uses))])]
    text = "\n".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
    return calls_in_text(text) if text.strip() else []


def _first_call_object(text: str) -> ToolCall | None:
    """The first JSON object in `text` that reads as a tool call (prose around it ignored)."""
    pos = text.find("{")
    tries = 0
    while pos != -1 and tries < 200:
        tries += 1
        try:
            _, end = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError):
            pos = text.find("{", pos + 1)
            continue
        try:
            value = load_json(text[pos:end])  # the bounds (depth, integers, floats) on the object found
        except (BoundError, ValueError) as exc:
            raise ActionError(f"action refused: {exc}") from None
        if isinstance(value, Mapping):
            try:
                calls = _calls_in_data(value)
            except ActionError:
                calls = []
            if len(calls) == 1:
                return calls[0]
        pos = text.find("{", end)
    return None


def _object(text: str, what: str) -> Mapping[str, Any]:
    value = _load(text, what)
    if not isinstance(value, Mapping):
        raise ActionError(f"{what} must be a JSON object like {{\"name\": NAME, \"arguments\": {{...}}}}")
    return value


def _limit(count: int) -> int:
    if count > MAX_CALLS:
        raise ActionError(f"{count} tool calls in one action (the limit is {MAX_CALLS})")
    return count


def _load(text: str, what: str) -> Any:
    try:
        return load_json(text, max_chars=MAX_ACTION_CHARS, max_depth=MAX_DEPTH)
    except BoundError as exc:
        raise ActionError(f"{what} refused: {exc}") from None
    except json.JSONDecodeError as exc:
        hint = f"; send {SHAPE}" if what == "action" else ""
        verb = "are" if what.endswith("s") else "is"
        raise ActionError(f"{what} {verb} not valid JSON ({exc.msg} at char {exc.pos}){hint}") from None


def names(calls: Sequence[ToolCall]) -> str:
    return ", ".join(c.name for c in calls)
