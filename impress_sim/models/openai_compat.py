"""The direct path to an OpenAI-compatible server: one JSON POST per request, one connection pool per
event loop.

Why a path beside litellm: for `openai/<name>` with `api_base=...` (vLLM, llama.cpp, Ollama's /v1, a
gateway, the test server) the request the server gets is the model's chat-completions JSON either
way, but litellm's own Python around it cost ~4-8 ms of client CPU per request (a logging object,
tool-schema sanitising, pricing the reply, the OpenAI SDK's request and response models): over 60%
of an agent step's client CPU, which capped how many concurrent episodes one process keeps busy.
Posting the JSON through a shared aiohttp session costs ~0.5 ms. Everything else (hosted providers,
and `openai/...` without `api_base`, where litellm gates parameters per model) goes through litellm.

What stays the same whichever path sends: the request dict (so the cache key), the normalised
reply, and the errors, which are litellm's exception classes (so the retry policy and the records
read the same). `transport.complete` prices the reply and counts usage.
"""

from __future__ import annotations

import asyncio
import json
import os
import types
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx

from impress_sim.models.settings import LLMSettings

LOCAL_KEY = "sk-local-no-key"  # local servers need no key, but some insist on an Authorization header
PROVIDER = "openai"
CONNECTION_LIMIT = 0  # aiohttp's "no cap": how many requests are in flight is `ProviderLimits`' job


def serves(settings: LLMSettings, provider: str) -> bool:
    """Whether this path sends `settings`' requests: an OpenAI-route model (`provider`, litellm's
    name for it) at an explicit `api_base`."""
    return provider == PROVIDER and bool(settings.api_base) and not settings.litellm_only


def api_key(settings: LLMSettings | None = None) -> str:
    """The key to send: the one in the variable `settings.api_key_env` names when it names one (a
    per-model key of a sweep), else the key litellm would send to an api_base for an `openai/`
    model: OPENAI_API_KEY, else none."""
    named = settings.api_key() if settings is not None else None
    return named or os.environ.get("OPENAI_API_KEY") or LOCAL_KEY


# ---- connection pools ------------------------------------------------------------------------
# A cache of one aiohttp session per running event loop (a session cannot cross loops). It holds no
# state a result depends on, only open connections; each entry is closed, and dropped, when its loop
# shuts down its async generators (asyncio.run and asyncio.Runner do), through `_owner` below.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, AsyncIterator[None]]] = (
    weakref.WeakKeyDictionary()
)


async def _owner(loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession) -> AsyncIterator[None]:
    """Holds `session` open for the life of `loop`: the loop closes this generator at shutdown."""
    try:
        yield
    finally:
        _pools.pop(loop, None)
        await session.close()


async def session() -> aiohttp.ClientSession:
    """The running loop's shared session (no cap on connections: `ProviderLimits` is the cap)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is not None and not pool[0].closed:
        return pool[0]
    connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT, limit_per_host=CONNECTION_LIMIT)
    shared = aiohttp.ClientSession(connector=connector,
                                   json_serialize=json.dumps)
    owner = _owner(loop, shared)
    await owner.__anext__()  # first iteration: the loop now tracks it, and closes it at shutdown
    _pools[loop] = (shared, owner)
    return shared


def pool_limits() -> str:
    """The shared sessions' connection limits, for the benchmarks' report."""
    return f"aiohttp TCPConnector(limit={CONNECTION_LIMIT}, limit_per_host={CONNECTION_LIMIT}) (0: no cap)"


# ---- one request -----------------------------------------------------------------------------
async def post(request: dict[str, Any], settings: LLMSettings, litellm: types.ModuleType) -> dict[str, Any]:
    """POST `request` (a litellm-style request: `openai/<name>`, `api_base`) to the server's
    /chat/completions and return the response body, or raise the litellm error for what went wrong."""
    body = {k: v for k, v in request.items() if k != "api_base"}
    body["model"] = settings.model.split("/", 1)[1]
    url = f"{str(settings.api_base).rstrip('/')}/chat/completions"
    headers = {"Authorization": f"Bearer {api_key(settings)}"}
    shared = await session()
    try:
        async with shared.post(url, json=body, headers=headers,
                               timeout=aiohttp.ClientTimeout(total=settings.timeout)) as response:
            text = await response.text()
            status, response_headers = response.status, dict(response.headers)
    except TimeoutError:
        raise litellm.Timeout(message=f"no reply within {settings.timeout:g} s", model=settings.model,
                              llm_provider=PROVIDER) from None
    except aiohttp.ClientError as exc:
        raise litellm.APIConnectionError(message=f"{type(exc).__name__}: {exc}", model=settings.model,
                                         llm_provider=PROVIDER) from None
    if status >= 400:
        raise status_error(litellm, status, text, response_headers, settings.model, url)
    try:
        reply = json.loads(text)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise litellm.BadGatewayError(message=f"the server's reply is not a JSON object: {text[:200]!r}",
                                      model=settings.model, llm_provider=PROVIDER)
    return reply


def status_error(litellm: types.ModuleType, status: int, text: str, headers: dict[str, str], model: str,
                 url: str) -> Exception:
    """The litellm exception for an HTTP error status (the response kept, so Retry-After is read)."""
    response = httpx.Response(status, headers=headers, text=text, request=httpx.Request("POST", url))
    try:
        detail = json.loads(text).get("error", text)
        message = detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail)
    except (ValueError, AttributeError):
        message = text
    message = f"{status}: {message}"[:500]
    named = {400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError",
             404: "NotFoundError", 422: "UnprocessableEntityError", 429: "RateLimitError",
             500: "InternalServerError", 502: "BadGatewayError", 503: "ServiceUnavailableError"}.get(status)
    if named is None:
        return litellm.APIError(status_code=status, message=message, model=model, llm_provider=PROVIDER,
                                response=response)
    error: Exception = getattr(litellm, named)(message=message, model=model, llm_provider=PROVIDER,
                                               response=response)
    return error


def normalise(reply: dict[str, Any], model: str) -> dict[str, Any] | None:
    """The reply in the transport's normal form (without its cost); None when it has no choices."""
    choices = reply.get("choices") or []
    if not choices:
        return None
    message = choices[0].get("message") or {}
    calls = [
        {"id": c.get("id"), "name": (c.get("function") or {}).get("name") or "",
         "arguments": (c.get("function") or {}).get("arguments") or ""}
        for c in (message.get("tool_calls") or [])
    ]
    usage = reply.get("usage") or {}
    return {
        "content": message.get("content") or "",
        "tool_calls": calls,
        "reasoning": message.get("reasoning_content") or message.get("reasoning") or "",
        "usage": {
            "input_tokens": usage.get("prompt_tokens") or 0,
            "output_tokens": usage.get("completion_tokens") or 0,
        },
        "model": reply.get("model") or model,
    }
