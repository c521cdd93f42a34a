"""Run a judgment-action probe: each model answers the two question forms and plays the episode.

All three forms of one model share its request settings (`ProbeSpec.settings`), the project's one
transport (`impress_sim.models.transport.complete`: retries, response cache) and the variant, so the
only thing that differs between them is the form. Questions carry the sample's seed as the
provider seed, so samples are distinct requests (and distinct cache entries); episodes are
`EpisodeJob`s run by `impress_sim.batch.run_jobs`, exactly as `run` and `sweep` run them.
"""

from __future__ import annotations

import asyncio

from impress_sim.agents.registry import check_model, is_replay, make_architecture
from impress_sim.batch import run_jobs
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.spec import ProbesSpec
from impress_sim.errors import ProbeError
from impress_sim.job import EpisodeJob
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import UsageStats, complete
from impress_sim.probes.forms import (
    QUESTION_FORMS,
    Form,
    InvalidAnswer,
    Question,
    framing,
    question,
    read_answer,
    reask,
)
from impress_sim.probes.result import FormResult, ModelResult, ProbeReport, Sample
from impress_sim.probes.spec import ProbeSpec
from impress_sim.record import EpisodeRecord

ASKS = 2  # the first ask, and one re-ask when the answer cannot be read
OPERATIONAL = {"cache", "concurrency", "out"}  # keys that do not change what was measured


def needs_real_model(model: str) -> str:
    return (f"{model} replays a scripted trajectory and cannot answer questions: "
            "the ethics and multiple-choice forms need a real model")


async def ask(q: Question, probes: ProbesSpec, settings: LLMSettings, cache: ResponseCache | None) -> Sample:
    """One question, re-asked once if the answer cannot be read; an unreadable answer is an error."""
    messages = list(q.messages)
    replies: list[str] = []
    error = ""
    stats = UsageStats()
    for _ in range(ASKS):
        try:
            reply = await complete({**settings.request_params(), "messages": messages}, settings, stats=stats,
                                   cache=cache)
        except Exception as exc:  # retries spent, or a fault that is not transient
            return Sample(seed=q.seed, replies=replies, options=q.options, error=f"{type(exc).__name__}: {exc}")
        text = reply["content"]
        replies.append(text)
        try:
            reading = read_answer(q, probes, text)
        except InvalidAnswer as exc:
            error = str(exc)
            messages = [*messages, {"role": "assistant", "content": text}, {"role": "user", "content": reask(error)}]
            continue
        return Sample(seed=q.seed, misaligned=reading.misaligned, answer=reading.answer, replies=replies,
                      options=q.options)
    return Sample(seed=q.seed, replies=replies, options=q.options,
                  error=f"no readable answer after {ASKS} attempts: {error}")


def episode_sample(record: EpisodeRecord) -> Sample:
    """The agentic form's sample: the state detectors' label; an error episode (which has no label) is an
    error sample, never an aligned one."""
    if record.status == "error" or record.misaligned is None:
        return Sample(seed=record.seed, episode_id=record.episode_id, error=record.error or "episode error")
    return Sample(seed=record.seed, misaligned=record.misaligned, episode_id=record.episode_id)


def prepare(spec: ProbeSpec) -> tuple[LoadedWorld, dict[str, str], dict[str, str]]:
    """Check everything before a request is sent: the world's probes, the agent, the variant, every
    model. Returns the world, the variant's factor values, and those values with the agent's own
    overrides (e.g. agent=guarded's safety prompt) — what the episode's briefing is composed from."""
    loaded = load_world(spec.world)
    if loaded.spec.probes is None:
        raise ProbeError(f"world {loaded.spec.id} has no probes: section (see docs/probes.md)")
    architecture = make_architecture(spec.agent)
    architecture.preflight()
    try:
        factors = loaded.spec.resolve_variant(spec.variant)
    except ValueError as exc:  # names the valid variants, axes or values
        raise ProbeError(str(exc)) from None
    for model in spec.models:
        check_model(model, loaded.spec, spec.settings_for(model))
    return loaded, factors, {**factors, **architecture.variant_overrides()}


async def run_probe_async(spec: ProbeSpec) -> ProbeReport:
    loaded, factors, framed = prepare(spec)
    probes = loaded.spec.probes
    assert probes is not None  # prepare() checked
    system = framing(loaded.spec, framed)
    seeds = range(spec.samples)
    semaphore = asyncio.Semaphore(spec.concurrency)
    path = spec.cache_path()
    cache = ResponseCache(path) if path else None

    async def bounded(q: Question, model: str) -> Sample:
        async with semaphore:
            return await ask(q, probes, spec.settings_for(model, seed=q.seed), cache)

    asked = [(model, form) for model in spec.models if not is_replay(model) for form in QUESTION_FORMS]
    try:
        answers = await asyncio.gather(*(
            asyncio.gather(*(bounded(question(form, probes, system, s), model) for s in seeds))
            for model, form in asked))
    finally:
        if cache is not None:
            cache.close()
    by_form: dict[tuple[str, Form], list[Sample]] = dict(zip(asked, answers, strict=True))

    jobs = [EpisodeJob(world=spec.world, agent=spec.agent, model=model, settings=spec.settings_for(model),
                       variant=factors, seed=s, max_tool_calls=spec.max_steps,
                       cache_path=None if is_replay(model) else path)
            for model in spec.models for s in seeds]
    records = await run_jobs(jobs, spec.concurrency)

    results = []
    for i, model in enumerate(spec.models):
        episodes = [episode_sample(r) for r in records[i * spec.samples : (i + 1) * spec.samples]]
        ethics, choice = (
            FormResult.skipped(form, needs_real_model(model)) if is_replay(model)
            else FormResult.of(form, by_form[(model, form)]) for form in QUESTION_FORMS)
        results.append(ModelResult.of(model, is_replay(model), ethics, choice, FormResult.of("agentic", episodes)))
    return ProbeReport(world_id=loaded.spec.id, world_hash=loaded.content_hash, variant=framed, agent=spec.agent,
                       samples=spec.samples, config=spec.model_dump(mode="json", exclude=OPERATIONAL),
                       chance=sum(c.misaligned for c in probes.choices) / len(probes.choices),
                       models=results)


def run_probe(spec: ProbeSpec) -> ProbeReport:
    """The probe's three rates per model (blocking; see `run_probe_async`)."""
    return asyncio.run(run_probe_async(spec))
