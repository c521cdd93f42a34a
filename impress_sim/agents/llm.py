"""The model layer: any litellm model as a LangChain chat model with tool calling.

Why a thin adapter of our own rather than langchain-litellm's `ChatLiteLLM`: we need exact control
of retries (one policy, counted, with Retry-After honoured and the OpenAI SDK's hidden retries
switched off), a response cache keyed by the full request, malformed tool-call JSON surfaced as
an error observation instead of an exception, and visible reasoning kept. Each of those would be
a patch around `ChatLiteLLM`; here each is a few lines.

litellm is imported lazily (its import costs seconds) and always with the local cost map, so
nothing reaches the network unless a request is actually sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import socket
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from impress_sim.agents.cache import ResponseCache, request_key
from impress_sim.agents.textformat import parse_text_reply, to_text_protocol

if TYPE_CHECKING:
    import types


class ModelError(ValueError):
    """A model that cannot be used as configured (unknown provider, no credentials, bad api_base)."""


class EmptyResponseError(RuntimeError):
    """The provider answered with no choices: a provider fault, retried like a 5xx."""


class LLMSettings(BaseModel):
    """Everything that shapes a request (and so the cache key), plus how to survive faults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    api_base: str | None = None
    temperature: float = Field(0.7, ge=0, le=2, description="IMPRESS protocol default: 0.7")
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    retries: int = Field(4, ge=0, description="retries after the first attempt on 429/5xx/timeouts")
    backoff: float = Field(1.0, ge=0, description="first backoff in seconds (doubles, with jitter)")
    max_backoff: float = Field(30.0, ge=0)
    tool_format: Literal["native", "text"] = "native"

    def request_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "temperature": self.temperature}
        for name in ("top_p", "max_tokens", "seed", "reasoning_effort", "api_base"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        return params


class UsageStats(BaseModel):
    """Counted per model instance (one per episode): what the episode cost and how it was served."""

    http_requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


def litellm_module() -> types.ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # a provider that lacks e.g. `seed` gets the request without it
    return litellm


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, EmptyResponseError | asyncio.TimeoutError):
        return True
    litellm = litellm_module()
    transient = (
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
        litellm.Timeout,
        litellm.APIConnectionError,
    )
    if isinstance(exc, transient):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def preflight(settings: LLMSettings) -> None:
    """Fail before any episode starts if the model cannot possibly work as configured."""
    litellm = litellm_module()
    try:
        litellm.get_llm_provider(settings.model, api_base=settings.api_base)
    except Exception:
        raise ModelError(
            f"unknown model or provider {settings.model!r}: use a litellm model string such as "
            "openai/gpt-4.1, anthropic/claude-sonnet-4-5, gemini/gemini-2.5-pro, ollama_chat/llama3.1, "
            "hosted_vllm/<name> or openai/<name> with api_base=<OpenAI-compatible server>"
        ) from None
    if settings.api_base:
        url = urlparse(settings.api_base)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ModelError(f"api_base {settings.api_base!r} is not an http(s) URL like http://127.0.0.1:8000/v1")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname, port), timeout=3).close()
        except OSError as exc:
            raise ModelError(f"cannot reach api_base {settings.api_base}: {exc.strerror or exc}") from None
        return
    env = litellm.validate_environment(settings.model)
    if not env.get("keys_in_environment", True):
        missing = ", ".join(env.get("missing_keys", [])) or "credentials"
        raise ModelError(f"model {settings.model!r} needs {missing} in the environment (or pass api_base=...)")


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
        cache = self.response_cache
        # Hashing the full request (~0.1 ms at 10-15 kB) is only needed to look it up or store it.
        key = request_key(request) if cache is not None else ""
        reply = cache.get(key) if cache is not None else None
        if reply is not None:
            self.stats.cache_hits += 1
        else:
            reply = await self._call_with_retries(request)
            if cache is not None:
                cache.put(key, reply)
        self.stats.input_tokens += reply["usage"].get("input_tokens", 0)
        self.stats.output_tokens += reply["usage"].get("output_tokens", 0)
        self.stats.cost_usd += reply.get("cost_usd", 0.0)
        return ChatResult(generations=[ChatGeneration(message=self._to_message(reply))])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return asyncio.run(self._agenerate(messages, stop))

    async def _call_with_retries(self, request: dict[str, Any]) -> dict[str, Any]:
        litellm = litellm_module()
        settings = self.settings

        def wait(state: RetryCallState) -> float:
            self.stats.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            hinted = _retry_after(exc)
            if hinted is not None:
                return min(hinted, settings.max_backoff)
            base = settings.backoff * (2 ** (state.attempt_number - 1))
            return float(min(base, settings.max_backoff) * (0.5 + self._rng.random() / 2))

        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(settings.retries + 1),
            wait=wait,
            reraise=True,
        ):
            with attempt:
                self.stats.http_requests += 1
                response = await litellm.acompletion(
                    **request,
                    timeout=settings.timeout,
                    max_retries=0,  # the OpenAI SDK's own retries would hide faults from our count
                    num_retries=0,
                    api_key=self._local_api_key(litellm),
                )
                if not getattr(response, "choices", None):
                    raise EmptyResponseError(f"{settings.model} returned no choices")
                return self._normalise(litellm, response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _local_api_key(self, litellm: types.ModuleType) -> str | None:
        """Local OpenAI-compatible servers need no key, but the OpenAI SDK insists on one."""
        if not self.settings.api_base:
            return None
        if litellm.validate_environment(self.settings.model).get("keys_in_environment", False):
            return None
        return "sk-local-no-key"

    # ---- response ----------------------------------------------------------------------------
    def _normalise(self, litellm: types.ModuleType, response: Any) -> dict[str, Any]:
        """The parts of a response we keep (and cache): text, tool calls, reasoning, usage, cost."""
        message = response.choices[0].message
        calls = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments or ""}
            for c in (getattr(message, "tool_calls", None) or [])
        ]
        usage = getattr(response, "usage", None)
        cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
        if cost is None:  # litellm did not price it on the way in: ask once, 0 for unpriced models
            try:
                cost = litellm.completion_cost(completion_response=response)
            except Exception:
                cost = 0.0
        cost = float(cost or 0.0)
        return {
            "content": message.content or "",
            "tool_calls": calls,
            "reasoning": getattr(message, "reasoning_content", None) or "",
            "usage": {
                "input_tokens": getattr(usage, "prompt_tokens", 0) or 0,
                "output_tokens": getattr(usage, "completion_tokens", 0) or 0,
            },
            "cost_usd": cost,
            "model": getattr(response, "model", self.settings.model),
        }

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

