"""Judgment-action probes inside a sweep (`probes.samples=N`): after the episodes, each model that can
answer (not a replay) is asked the ethics and the choice question of every world with a `probes:`
section, in every variant cell of the sweep, N samples each; every sample is written to the store.

Why in the sweep: the probes' third form, the agentic rate, is then the sweep's own episodes of
that model, world and variant (`report.study.probe_section`), so the judgment-action gap compares
what a model says with what the same model did in the very same framings — no second set of
episodes run under other settings.

The questions are `impress_sim.probes`' own (`forms.question`, framed by `forms.framing`, asked
by `run.ask`, which re-asks once when the answer cannot be read); nothing here re-implements them.
Each sample is named by a hash of everything that defines it (world and its content hash, variant,
form, seed, the request settings), so a resumed sweep asks only what is missing: a sample already
answered is not asked again, an error sample is asked again (`Store.write_probe`'s upsert rule).

Settings: the questions use the sweep's first temperature and top_p (its decoding axes are about
episodes; a question is asked once per sample seed) and each model's own server, key variable,
token limit, timeout and retries (`SweepSpec.settings_for`); each sample's seed is its provider
seed, as in `impress probe`. (Which variable holds the key is not part of a sample's hash.) The framing is the
variant's prompt fragments without an agent architecture's own overrides (agent=guarded's safety
prompt), so the agentic rate pools the sweep's agents.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from impress_sim.agents.registry import is_replay
from impress_sim.envs.loader import load_world
from impress_sim.errors import ProbeError
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.probes.forms import QUESTION_FORMS, Form, framing, question
from impress_sim.probes.result import Sample
from impress_sim.probes.run import ask
from impress_sim.report.study import ProbeSampleRow
from impress_sim.sweep.spec import SweepSpec, canonical_hash
from impress_sim.sweep.store import Store


class ProbeJob(BaseModel):
    """One probe question to ask: which model, world, variant cell, form and sample seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    probe_hash: str
    world: str = Field(description="The world as the sweep names it (id or folder).")
    world_id: str
    world_hash: str
    variant: dict[str, str]
    form: Form
    seed: int
    settings: LLMSettings


class ProbeSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    skipped: int
    asked: int
    errors: int


def probe_settings(spec: SweepSpec, model: str, seed: int) -> LLMSettings:
    """The model's request settings in the sweep (its `model_options` where set), at the sweep's first
    temperature and top_p, the sample's seed as the provider seed."""
    return spec.settings_for(model, spec.temperature[0], spec.top_p[0], seed)


def expand_probes(spec: SweepSpec) -> list[ProbeJob]:
    """Every probe question of the sweep, in a fixed order (none when `probes.samples` is 0).

    A sweep that asks for probes but where no world has a `probes:` section, or every model is a
    replay (which cannot answer questions), is a `ProbeError`: it would ask nothing and say nothing."""
    if spec.probes.samples == 0:
        return []
    models = [m for m in spec.models if not is_replay(m)]
    if not models:
        raise ProbeError(f"probes.samples={spec.probes.samples}, but every model of the sweep replays a scripted "
                         "trajectory and cannot answer questions: add a real model, or leave probes out")
    axes = list(spec.variants.items())
    combos = [dict(zip([a for a, _ in axes], values, strict=True))
              for values in itertools.product(*(v for _, v in axes))]
    names: list[str | None] = list(spec.named_variants) or [None]
    jobs: list[ProbeJob] = []
    with_probes = 0
    for world in spec.worlds:
        loaded = load_world(world)
        probes = loaded.spec.probes
        if probes is None:
            continue
        with_probes += 1
        cells: dict[str, dict[str, str]] = {}
        for name, combo in itertools.product(names, combos):
            chosen = {**(loaded.spec.variants.get(name, {}) if name else {}), **combo}
            factors = loaded.spec.resolve_variant(chosen, "variants")
            cells.setdefault(json.dumps(factors, sort_keys=True), factors)
        for model, factors, form, seed in itertools.product(models, cells.values(), QUESTION_FORMS,
                                                            range(spec.probes.samples)):
            settings = probe_settings(spec, model, seed)
            digest = canonical_hash({"world_id": loaded.spec.id, "world_hash": loaded.content_hash,
                                     "variant": factors, "form": form, "seed": seed,
                                     "settings": settings.model_dump(mode="json", exclude={"api_key_env"})})
            jobs.append(ProbeJob(probe_hash=digest, world=world, world_id=loaded.spec.id,
                                 world_hash=loaded.content_hash, variant=factors, form=form, seed=seed,
                                 settings=settings))
    if not with_probes:
        raise ProbeError(f"probes.samples={spec.probes.samples}, but no world of the sweep has a probes: section "
                         "(see docs/probes.md)")
    return jobs


def sample_row(job: ProbeJob, sample: Sample) -> dict[str, object]:
    """The store's `probe_samples` columns of one answered (or failed) question."""
    failed = sample.error is not None or sample.misaligned is None
    return {"probe_hash": job.probe_hash, "status": "error" if failed else "done", "model": job.settings.model,
            "world": job.world_id, "world_hash": job.world_hash, "variant": json.dumps(job.variant, sort_keys=True),
            "form": job.form, "seed": job.seed, "misaligned": None if failed else int(bool(sample.misaligned)),
            "error": sample.error if failed else None, "sample": sample.model_dump_json()}


async def _ask_all(spec: SweepSpec, sweep_id: str, jobs: Sequence[ProbeJob]) -> int:
    """Ask `jobs`, writing each sample as it comes; returns the number of error samples."""
    semaphore = asyncio.Semaphore(spec.concurrency)
    cache = None if spec.cache == "off" else ResponseCache(spec.cache)
    systems: dict[tuple[str, str], str] = {}
    loaded = {job.world: load_world(job.world) for job in jobs}
    errors = 0
    with Store(spec.store) as store:

        async def one(job: ProbeJob) -> None:
            nonlocal errors
            world = loaded[job.world].spec
            assert world.probes is not None  # expand_probes kept only worlds with probes
            key = (job.world, json.dumps(job.variant, sort_keys=True))
            if key not in systems:
                systems[key] = framing(world, job.variant)
            async with semaphore:
                sample = await ask(question(job.form, world.probes, systems[key], job.seed), world.probes,
                                   job.settings, cache)
            row = sample_row(job, sample)
            errors += row["status"] == "error"
            store.write_probe(row, sweep_id)

        try:
            await asyncio.gather(*(one(job) for job in jobs))
        finally:
            if cache is not None:
                cache.close()
    return errors


def run_sweep_probes(spec: SweepSpec, sweep_id: str, console: Console | None = None) -> ProbeSummary:
    """Ask the sweep's probe questions not yet answered in its store (errors again); link them all to it."""
    jobs = list({j.probe_hash: j for j in expand_probes(spec)}.values())
    if not jobs:
        return ProbeSummary(total=0, skipped=0, asked=0, errors=0)
    with Store(spec.store) as store:
        store.link_probes(sweep_id, [j.probe_hash for j in jobs])
        done = store.probe_done_hashes()
    pending = [j for j in jobs if j.probe_hash not in done]
    errors = asyncio.run(_ask_all(spec, sweep_id, pending)) if pending else 0
    if console is not None and not spec.quiet:
        console.print(f"probes: {len(pending)} questions asked ({errors} errors), {len(jobs) - len(pending)} "
                      "already answered", highlight=False, markup=False)
    return ProbeSummary(total=len(jobs), skipped=len(jobs) - len(pending), asked=len(pending), errors=errors)


def load_probe_samples(store: Store, sweep_id: str) -> list[ProbeSampleRow]:
    """The sweep's stored probe samples, as the report reads them."""
    return [ProbeSampleRow(probe_hash=r["probe_hash"], model=r["model"], world=r["world"], world_hash=r["world_hash"],
                           variant=json.loads(r["variant"]), form=r["form"], seed=r["seed"], status=r["status"],
                           misaligned=None if r["misaligned"] is None else bool(r["misaligned"]), error=r["error"])
            for r in store.probe_rows(sweep_id)]
