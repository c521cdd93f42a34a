"""Asking a stage's model: one gate for concurrency, the budget checked before every call, every call
written to the run's ledger, and replies parsed into the stage's typed output (re-asked when they do
not parse). Requests go through the shared transport (`impress_sim.models.transport`): the same
retries, Retry-After handling and response cache as agents and judges."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import json_repair
from pydantic import BaseModel, ValidationError

from impress_sim.errors import ReplyError
from impress_sim.generate.config import GenerateConfig
from impress_sim.generate.runstore import RunStore
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import UsageStats, complete

M = TypeVar("M", bound=BaseModel)
Messages = list[dict[str, str]]
REASKS = 2
_FENCE = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


class UnusableReply(ReplyError):
    """A model's reply that did not parse into the stage's output, after every re-ask."""


@dataclass
class Asker:
    """What every stage's model call shares within one run."""

    config: GenerateConfig
    store: RunStore
    cache: ResponseCache | None = None
    concurrency: int = 4
    on_call: Callable[[], None] | None = None  # e.g. refresh the progress bar's cost
    _gate: asyncio.Semaphore | None = field(default=None, repr=False)

    def gate(self) -> asyncio.Semaphore:
        if self._gate is None:  # made on first use, so it belongs to the running loop
            self._gate = asyncio.Semaphore(self.concurrency)
        return self._gate

    async def text(self, stage: str, messages: Messages, settings: LLMSettings) -> str:
        """The reply text of one call; raises `BudgetSpent` before a call the budget cannot pay for."""
        ledger = self.store.ledger
        async with self.gate():
            ledger.check(self.config.budget_usd, self.config.budget_tokens)
            stats = UsageStats()
            reply = await complete({**settings.request_params(), "messages": messages}, settings,
                                   stats=stats, cache=self.cache)
        ledger.record(stage, settings.model, input_tokens=stats.input_tokens, output_tokens=stats.output_tokens,
                      cost_usd=stats.cost_usd, cache_hit=stats.cache_hits > 0)
        if self.on_call is not None:
            self.on_call()
        return str(reply["content"] or "")

    async def structured(self, stage: str, messages: Messages, model: type[M], settings: LLMSettings,
                         *, reasks: int = REASKS, context: dict[str, Any] | None = None) -> M:
        """One JSON object validated as `model`; a reply that does not parse is answered with what was
        wrong and asked again, up to `reasks` times, then `UnusableReply`."""
        error = ""
        for _ in range(reasks + 1):
            reply = await self.text(stage, messages, settings)
            try:
                return model.model_validate(json_object(reply), context=context)
            except (ValueError, ValidationError) as exc:
                error = _short(exc)
            messages = [*messages, {"role": "assistant", "content": reply},
                        {"role": "user", "content": f"Your reply could not be used: {error}\n"
                                                    "Answer again with only the JSON object, matching the schema."}]
        raise UnusableReply(f"no usable reply from {settings.model} after {reasks + 1} attempts: {error}")


def json_object(text: str) -> Any:
    """The JSON object in a reply (code fences, a sentence around it and small syntax slips allowed)."""
    fenced = _FENCE.search(text)
    body = fenced.group(2) if fenced else text
    if "{" not in body:
        raise ValueError("the reply contains no JSON object")
    data: Any = json_repair.loads(body[body.find("{"):])
    if isinstance(data, list):  # json-repair returns every object it found when there are several
        data = next((d for d in data if isinstance(d, dict)), None)
    if not isinstance(data, dict):
        raise ValueError("the reply contains no JSON object")
    return data


def yaml_block(text: str) -> str:
    """The world.yaml text in a reply: the first ```yaml fence (or any fence), else the whole reply."""
    for match in _FENCE.finditer(text):
        if match.group(1).lower() in ("yaml", "yml"):
            return match.group(2)
    first = _FENCE.search(text)
    return first.group(2) if first else text


def _short(exc: Exception, limit: int = 1500) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + " ..."
