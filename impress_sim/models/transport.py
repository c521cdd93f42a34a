"""One way to send a chat request through litellm: settings, preflight, retries, cache, usage.

The agents' chat model (`impress_sim.models.chat`) and the LLM judge (`impress_sim.judge.llm`)
both call models through `complete`. It sits at the top level because `judge` must never import
`agents`; it imports neither.

- litellm is imported lazily (its import costs seconds) and always with the local cost map, so
  nothing reaches the network unless a request is actually sent.
- One retry policy: 429 (Retry-After honoured), 5xx, timeouts, connection errors and empty
  replies are retried with exponential backoff and jitter; the OpenAI SDK's hidden retries are
  switched off so every attempt is counted.
- Replies are normalised to a small dict (text, tool calls, reasoning, usage, cost) and cached by
  a hash of the full request (`impress_sim.models.cache`).
- An `openai/` model at an explicit `api_base` (a local or self-hosted OpenAI-compatible server) is
  sent directly, one JSON POST through a shared connection pool (`impress_sim.models.openai_compat`):
  litellm's own work around such a request was most of an agent step's client CPU. Same request,
  same normalised reply, same litellm error classes, so retries, cache and usage are path-blind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from impress_sim.errors import EmptyResponseError, ModelError
from impress_sim.models import openai_compat
from impress_sim.models.cache import ResponseCache, request_key
from impress_sim.models.settings import LLMSettings

if TYPE_CHECKING:
    import types


class UsageStats(BaseModel):
    """What a caller's requests cost and how they were served (one instance per episode or judge)."""

    http_requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class ProviderLimits:
    """At most `limits[provider]` requests in flight to each provider, and at most `limits[model]` to
    each model named there (a sweep's per-model `concurrency`: one server's capacity), across every
    episode, judge, NPC and monitor on one event loop (providers and servers rate-limit concurrent
    requests, not episodes). A key is a model when it is a model string a request names, else a
    provider (a sweep refuses a model named like a provider).

    A request waits for its gates per attempt (its model's, then its provider's, always in that
    order, so two requests never hold one each), never while backing off."""

    def __init__(self, limits: Mapping[str, int]) -> None:
        self.limits = dict(limits)
        self._gates: dict[str, asyncio.Semaphore] = {}

    def _gate(self, key: str) -> asyncio.Semaphore | None:
        limit = self.limits.get(key)
        return None if limit is None else self._gates.setdefault(key, asyncio.Semaphore(limit))

    @contextlib.asynccontextmanager
    async def gate(self, settings: LLMSettings) -> AsyncIterator[None]:
        model = self._gate(settings.model)
        provider = self._gate(provider_of(settings.model, settings.api_base))
        async with contextlib.AsyncExitStack() as held:
            for gate in (model, None if provider is model else provider):
                if gate is not None:
                    await held.enter_async_context(gate)
            yield

    def share(self, parts: int) -> list[dict[str, int]]:
        """Each of `parts` event loops' share of the limits: a limit of n split as evenly as it goes, so
        the shares add up to n (a model's limit holds across a sweep's worker processes); a part
        whose even share would be 0 gets 1 (a limit never starves a loop: a sweep refuses a model
        limit below its worker count, so only a provider limit can be exceeded so)."""
        parts = max(parts, 1)
        return [{key: max(n // parts + (i < n % parts), 1) for key, n in self.limits.items()} for i in range(parts)]


_limits: ContextVar[ProviderLimits | None] = ContextVar("provider_limits", default=None)


@contextlib.contextmanager
def limiting_providers(limits: Mapping[str, int] | ProviderLimits | None) -> Iterator[None]:
    """Requests sent by tasks started inside this block obey `limits` (tasks copy the context); pass
    one `ProviderLimits` to several blocks on one event loop to share its gates between them."""
    shared = limits if isinstance(limits, ProviderLimits) else ProviderLimits(limits) if limits else None
    token = _limits.set(shared)
    try:
        yield
    finally:
        _limits.reset(token)


@functools.lru_cache(maxsize=256)
def provider_of(model: str, api_base: str | None = None) -> str:
    """litellm's provider name of a model string (`openai/x` with any api_base -> "openai")."""
    return str(litellm_module().get_llm_provider(model, api_base=api_base)[1])


def known_providers() -> list[str]:
    return sorted(str(getattr(p, "value", p)) for p in litellm_module().provider_list)


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
    settings.api_key()  # a named key variable that is unset fails here, before any episode
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
    if settings.api_key_env is not None:
        return  # the key comes from the named variable, checked above
    env = litellm.validate_environment(settings.model)
    if not env.get("keys_in_environment", True):
        missing = ", ".join(env.get("missing_keys", [])) or "credentials"
        raise ModelError(f"model {settings.model!r} needs {missing} in the environment (or pass api_base=...)")


async def complete(
    request: dict[str, Any],
    settings: LLMSettings,
    *,
    stats: UsageStats,
    cache: ResponseCache | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """The normalised reply to `request`: from the cache, or sent with retries (and then cached).

    Usage (tokens, cost) is counted in `stats` whether or not the reply came from the cache.
    """
    # Hashing the full request (~0.1 ms at 10-15 kB) is only needed to look it up or store it.
    key = request_key(request) if cache is not None else ""
    reply = cache.get(key) if cache is not None else None
    if reply is not None:
        stats.cache_hits += 1
    else:
        reply = await _call_with_retries(request, settings, stats, rng or random.Random(0))
        if cache is not None:
            cache.put(key, reply)
    stats.input_tokens += reply["usage"].get("input_tokens", 0)
    stats.output_tokens += reply["usage"].get("output_tokens", 0)
    stats.cost_usd += reply.get("cost_usd", 0.0)
    return reply


async def _call_with_retries(
    request: dict[str, Any], settings: LLMSettings, stats: UsageStats, rng: random.Random
) -> dict[str, Any]:
    litellm = litellm_module()
    direct = openai_compat.serves(settings, provider_of(settings.model, settings.api_base))

    def wait(state: RetryCallState) -> float:  # tenacity asks this after every failure, the last one too
        exc = state.outcome.exception() if state.outcome else None
        hinted = _retry_after(exc)
        if hinted is not None:
            return min(hinted, settings.max_backoff)
        base = settings.backoff * (2 ** (state.attempt_number - 1))
        return float(min(base, settings.max_backoff) * (0.5 + rng.random() / 2))

    async for attempt in AsyncRetrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(settings.retries + 1),
        wait=wait,
        reraise=True,
    ):
        if attempt.retry_state.attempt_number > 1:
            stats.retries += 1  # counted when a retry is made, so a spent budget does not count one more
        with attempt:
            limits = _limits.get()
            async with limits.gate(settings) if limits is not None else contextlib.nullcontext():
                stats.http_requests += 1
                if direct:
                    body = await openai_compat.post(request, settings, litellm)
                else:
                    response = await litellm.acompletion(
                        **request,
                        timeout=settings.timeout,
                        max_retries=0,  # the OpenAI SDK's own retries would hide faults from our count
                        num_retries=0,
                        api_key=_local_api_key(litellm, settings),
                    )
            reply = openai_compat.normalise(body, settings.model) if direct else _normalise(litellm, response,
                                                                                             settings.model)
            if reply is None:
                raise EmptyResponseError(f"{settings.model} returned no choices")
            if direct:
                reply["cost_usd"] = list_price(settings.model, **reply["usage"])
            return reply
    raise AssertionError("unreachable")  # pragma: no cover


def _local_api_key(litellm: types.ModuleType, settings: LLMSettings) -> str | None:
    """The key in the variable `settings.api_key_env` names, when it names one; else none for a hosted
    provider (litellm reads its usual variable) and a placeholder for a local OpenAI-compatible
    server (it needs no key, but the OpenAI SDK insists on one)."""
    named = settings.api_key()
    if named is not None:
        return named
    if not settings.api_base:
        return None
    if litellm.validate_environment(settings.model).get("keys_in_environment", False):
        return None
    return "sk-local-no-key"


def _normalise(litellm: types.ModuleType, response: Any, model: str) -> dict[str, Any] | None:
    """The parts of a response we keep (and cache): text, tool calls, reasoning, usage, cost; None
    when it has no choices."""
    if not getattr(response, "choices", None):
        return None
    message = response.choices[0].message
    calls = [
        {"id": c.id, "name": c.function.name, "arguments": c.function.arguments or ""}
        for c in (getattr(message, "tool_calls", None) or [])
    ]
    usage = getattr(response, "usage", None)
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    if cost is None and "response_cost" not in hidden:  # litellm did not try to price it: ask once
        try:
            cost = litellm.completion_cost(completion_response=response)
        except Exception:
            cost = 0.0  # an unpriced model (litellm tried and found no price: also 0, without asking again)
    return {
        "content": message.content or "",
        "tool_calls": calls,
        "reasoning": getattr(message, "reasoning_content", None) or "",
        "usage": {
            "input_tokens": getattr(usage, "prompt_tokens", 0) or 0,
            "output_tokens": getattr(usage, "completion_tokens", 0) or 0,
        },
        "cost_usd": float(cost or 0.0),
        "model": getattr(response, "model", model),
    }


def list_price(model: str, input_tokens: int, output_tokens: int) -> float:
    """What litellm's price list says `model` costs for these tokens; 0.0 for a model it does not price
    (a local server's, usually), found out once per model rather than by a failed lookup per request."""
    if not _priced(model):
        return 0.0
    prompt, completion = litellm_module().cost_per_token(model=model, prompt_tokens=input_tokens,
                                                         completion_tokens=output_tokens)
    return float(prompt + completion)


@functools.lru_cache(maxsize=256)
def _priced(model: str) -> bool:
    try:
        info = litellm_module().get_model_info(model)
    except Exception:
        return False
    return bool(info.get("input_cost_per_token") or info.get("output_cost_per_token"))
