"""Turning a briefing into chat messages, and chat messages into record-friendly dicts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from impress_sim.envs.briefing import Briefing


def briefing_messages(briefing: Briefing) -> list[BaseMessage]:
    """`Briefing.chat_messages` (system prompt with memory notes, earlier turns, the task) as LangChain messages."""
    kinds: dict[str, type[BaseMessage]] = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](m["content"]) for m in briefing.chat_messages()]


def text_of(message: BaseMessage) -> str:
    """The visible text of a message, whatever shape its content has (str or content blocks)."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") in ("text", "thinking", "reasoning"):
            parts.append(str(block.get("text") or block.get("thinking") or block.get("reasoning") or ""))
    return "\n".join(p for p in parts if p)


def message_dict(message: BaseMessage) -> dict[str, Any]:
    role = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}.get(message.type, message.type)
    data: dict[str, Any] = {"role": role, "content": text_of(message)}
    if isinstance(message, AIMessage):
        if message.tool_calls:
            data["tool_calls"] = [{"id": c.get("id"), "name": c["name"], "args": c["args"]} for c in message.tool_calls]
        reasoning = message.additional_kwargs.get("reasoning_content")
        if reasoning:
            data["reasoning"] = reasoning
        if message.usage_metadata:
            data["usage"] = dict(message.usage_metadata)
    if isinstance(message, ToolMessage):
        data["tool_call_id"] = message.tool_call_id
    return data


def token_usage(messages: Iterable[BaseMessage]) -> dict[str, int]:
    """The messages' token counts (input, output, total, ...) summed over every message that has them."""
    usage: dict[str, int] = {}
    for message in messages:
        for key, value in (getattr(message, "usage_metadata", None) or {}).items():
            if isinstance(value, int):
                usage[key] = usage.get(key, 0) + value
    return usage
