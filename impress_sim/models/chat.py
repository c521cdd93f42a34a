"""The model layer: any litellm model as a LangChain chat model with tool calling.

Why a thin adapter of our own rather than langchain-litellm's `ChatLiteLLM`: we need exact control
of retries (one policy, counted, with Retry-After honoured and the OpenAI SDK's hidden retries
switched off), a response cache keyed by the full request, malformed tool-call JSON surfaced as
an error observation instead of an exception, and visible reasoning kept. Each of those would be
a patch around `ChatLiteLLM`; here each is a few lines.

Sending a request (lazy litellm import, retries, cache, usage) is `impress_sim.models.transport`,
shared with the LLM judge; this module turns messages into requests and replies into messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from impress_sim.errors import EmptyResponseError, ModelError
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.models.textformat import parse_text_reply, to_text_protocol
from impress_sim.models.transport import UsageStats, complete, litellm_module, preflight

__all__ = [
    "EmptyResponseError",
    "LLMSettings",
    "LiteLLMChatModel",
    "ModelError",
    "UsageStats",
    "litellm_module",
    "preflight",
]


class LiteLLMChatModel(BaseChatModel):
    """A LangChain chat model that calls litellm, with retries, a response cache and usage stats."""

    settings: LLMSettings
    tools: list[dict[str, Any]] = Field(default_factory=list)
    response_cache: ResponseCache | None = None
    stats: UsageStats = Field(default_factory=UsageStats)
    _rng: random.Random = PrivateAttr(default_factory=lambda: random.Random(0))

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def _llm_type(self) -> str:
        return "impress-litellm"

    def bind_tools(self, tools: Any, **kwargs: Any) -> LiteLLMChatModel:
        """A copy that offers `tools` (OpenAI function dicts); usage stats stay shared."""
        bound = self.model_copy(update={"tools": list(tools)})
        bound.stats = self.stats
        return bound

    # ---- request ---------------------------------------------------------------------------
    def build_request(self, messages: list[BaseMessage]) -> dict[str, Any]:
        request = self.settings.request_params()
        if self.settings.tool_format == "text":
            request["messages"] = to_text_protocol(messages, self.tools)
        else:
            request["messages"] = convert_to_openai_messages(messages)
            if self.tools:
                request["tools"] = self.tools
        return request

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self.build_request(messages)
        reply = await complete(request, self.settings, stats=self.stats, cache=self.response_cache,
                               rng=self._rng)
        return ChatResult(generations=[ChatGeneration(message=self._to_message(reply))])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return asyncio.run(self._agenerate(messages, stop))

    # ---- response ----------------------------------------------------------------------------
    def _to_message(self, reply: dict[str, Any]) -> AIMessage:
        content: str = reply["content"]
        tool_calls: list[dict[str, Any]] = []
        invalid: list[dict[str, Any]] = []
        if self.settings.tool_format == "text":
            parsed = parse_text_reply(content, [t["function"]["name"] for t in self.tools])
            tool_calls, invalid = parsed.tool_calls, parsed.invalid_tool_calls
        for index, call in enumerate(reply["tool_calls"]):
            digest = hashlib.sha1(f"{index}:{call['name']}:{call['arguments']}".encode()).hexdigest()[:10]
            call_id = call["id"] or f"call-{digest}"
            try:
                args = json.loads(call["arguments"]) if call["arguments"].strip() else {}
                if not isinstance(args, dict):
                    raise ValueError("arguments must be a JSON object")
                tool_calls.append({"name": call["name"], "args": args, "id": call_id, "type": "tool_call"})
            except ValueError as exc:
                invalid.append({"name": call["name"], "args": call["arguments"], "id": call_id,
                                "error": f"malformed tool-call arguments: {exc}", "type": "invalid_tool_call"})
        usage = reply["usage"]
        extra = {"reasoning_content": reply["reasoning"]} if reply["reasoning"] else {}
        return AIMessage(
            content=content,
            tool_calls=tool_calls,
            invalid_tool_calls=invalid,
            additional_kwargs=extra,
            usage_metadata={
                "input_tokens": usage["input_tokens"],
                "output_tokens": usage["output_tokens"],
                "total_tokens": usage["input_tokens"] + usage["output_tokens"],
            },
            response_metadata={"model": reply.get("model"), "cost_usd": reply.get("cost_usd", 0.0)},
        )

