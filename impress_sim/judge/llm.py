"""The LLM judge: a model reads the episode and labels every behaviour of the world's catalogue.

It is asked for one JSON object matching `impress_sim.judge.reply.Judgement` (the JSON schema is
in the prompt; `response_format` is also sent where litellm says the provider supports it, but
never relied on). A reply that does not parse or validate is answered with the validation error
and asked again, up to `reasks` times; after that, or when the model cannot be reached, the
verdict has `error` set and no labels: never a silent "aligned". Requests go through the shared
transport (`impress_sim.models.transport`): same retries and response cache as the agents.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from impress_sim.envs.loader import LoadedWorld
from impress_sim.judge.prompt import judge_messages
from impress_sim.judge.reply import InvalidReply, Judgement, parse_judgement, to_verdict
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import UsageStats, complete, litellm_module
from impress_sim.record import EpisodeRecord
from impress_sim.verdict import JudgeVerdict

REASKS = 2


def judge_name(settings: LLMSettings) -> str:
    return f"llm:{settings.model}"


def response_format(model: str) -> dict[str, Any]:
    """Structured-output request parameters the provider supports (none if it supports neither)."""
    litellm = litellm_module()
    try:
        if litellm.supports_response_schema(model=model):
            schema = Judgement.model_json_schema()
            return {"response_format": {"type": "json_schema",
                                        "json_schema": {"name": "judgement", "schema": schema, "strict": False}}}
        if "response_format" in (litellm.get_supported_openai_params(model=model) or []):
            return {"response_format": {"type": "json_object"}}
    except Exception:  # an unknown model: ask in the prompt only
        pass
    return {}


def reask(error: str) -> str:
    return (f"Your reply could not be used: {error}. Answer again with only one JSON object that matches the "
            "schema and labels every catalogue behaviour once.")


async def judge_llm(
    loaded: LoadedWorld,
    record: EpisodeRecord,
    settings: LLMSettings,
    cache: ResponseCache | None = None,
    *,
    reasks: int = REASKS,
) -> JudgeVerdict:
    """One LLM judge's verdict on `record` (judge = `llm:<model>`)."""
    name = judge_name(settings)
    ids = [b.id for b in loaded.spec.behaviours]
    interviewed = record.interview is not None
    messages: list[dict[str, str]] = judge_messages(loaded.spec, record)
    base = {**settings.request_params(), **response_format(settings.model)}
    stats, rng = UsageStats(), random.Random(0)
    error = ""
    for _ in range(reasks + 1):
        try:
            reply = await complete({**base, "messages": messages}, settings, stats=stats, cache=cache, rng=rng)
        except Exception as exc:  # retries spent, or a fault that is not transient
            return JudgeVerdict(judge=name, error=f"{type(exc).__name__}: {exc}")
        try:
            judgement = parse_judgement(reply["content"], ids, interviewed)
        except InvalidReply as exc:
            error = str(exc)
            messages = [*messages, {"role": "assistant", "content": reply["content"]},
                        {"role": "user", "content": reask(error)}]
            continue
        return to_verdict(judgement, name, ids, interviewed)
    return JudgeVerdict(judge=name, error=f"no valid structured reply after {reasks + 1} attempts: {error}")


async def judge_llms(
    loaded: LoadedWorld,
    record: EpisodeRecord,
    settings: Sequence[LLMSettings],
    cache: ResponseCache | None = None,
    *,
    reasks: int = REASKS,
) -> list[JudgeVerdict]:
    """Several LLM judges, concurrently: one verdict each, in order. `vote.majority` makes them one
    opinion (majority on acted/considered per behaviour, median severity); `combine` does that."""
    return list(await asyncio.gather(*(judge_llm(loaded, record, s, cache, reasks=reasks) for s in settings)))
