"""What a sweep report shows, computed once: the metrics report (`impress_sim.metrics`), the paired
effect of each varying framing factor and decoding axis (temperature, top_p: with an equivalence
statement at a margin), breakdowns by every model metadata field, the worlds under each motive and
risk type, the model × motive grid and judge agreement.

Every statistic comes from `impress_sim.metrics` (Wilson intervals, McNemar, paired bootstrap) or,
for judge agreement, `impress_sim.judge.review.agreement` (scikit-learn); this module only decides
what is compared with what. The terminal tables and the HTML page read the same `Analysis`, so they
can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from impress_sim import metrics
from impress_sim.envs.loader import load_world
from impress_sim.errors import WorldSpecError
from impress_sim.judge.review.labels import LabelSet
from impress_sim.record import EpisodeRecord
from impress_sim.report.agreement import JudgeAgreement, judge_agreement
from impress_sim.report.study import ProbeSampleRow, Study, study_analysis
from impress_sim.report.verdict_sets import VerdictSetComparison


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Analysis(_Model):
    report: metrics.MetricsReport
    factors: dict[str, list[str]]  # each varying factor -> its levels, control first
    effects: list[metrics.PairedEffect]  # each non-control level vs the control
    model_effects: dict[str, list[metrics.PairedEffect]] = {}  # the same, per model (sweeps of several models)
    effects_note: str | None = None  # why there are no paired effects, when there are none
    decoding: dict[str, list[str]] = {}  # each varying decoding axis (temperature, top_p) -> levels, control first
    margin: float = metrics.MARGIN  # the decoding effects' equivalence margin (0.05: ±5 points)
    decoding_model_effects: dict[str, list[metrics.PairedEffect]] = {}  # the decoding effects per model (several)
    meta_fields: list[str] = []  # every model metadata field the sweep declares (a `meta.<field>` breakdown each)
    models: list[str]
    motives: list[str]
    motive_grid: dict[str, dict[str, metrics.Rate]]  # model -> motive -> misaligned rate
    risk_types: list[str]
    risk_grid: dict[str, dict[str, metrics.Rate]]  # model -> risk type -> misaligned rate
    agreement: JudgeAgreement
    verdict_sets: VerdictSetComparison | None = None  # the sweep's verdict sets compared, when it has several
    study: Study = Study()  # interview, monitor, probes, human labels (report/study.py)


def factor_levels(records: Sequence[EpisodeRecord], spec: dict[str, Any]) -> dict[str, list[str]]:
    """Each factor that varies within some world, with its levels in the order the sweep listed them
    (`variants.<f>`): the first listed is the control. Levels the spec does not list (named variants)
    follow, sorted. A factor whose value differs only between worlds (each world's own default) is
    not a framing of this sweep: it would be confounded with the world, and no episode pairs exist."""
    listed: dict[str, list[str]] = {k: [str(v) for v in vs] for k, vs in (spec.get("variants") or {}).items()}
    out: dict[str, list[str]] = {}
    for factor in metrics.varying_factors(records):
        per_world: dict[str, set[str]] = {}
        for r in records:
            if factor in r.variant:
                per_world.setdefault(r.world_id, set()).add(r.variant[factor])
        if all(len(values) < 2 for values in per_world.values()):
            continue
        seen = set().union(*per_world.values())
        order = [v for v in listed.get(factor, []) if v in seen]
        out[factor] = order + sorted(seen - set(order))
    return out


def framing_effects(records: Sequence[EpisodeRecord], factors: dict[str, list[str]], *, seed: int = 0
                    ) -> list[metrics.PairedEffect]:
    """The paired effect on the misaligned rate of every level of every varying factor vs its control."""
    return [metrics.paired_effect(records, factor, levels[0], treatment, seed=seed)
            for factor, levels in factors.items() for treatment in levels[1:]]


def world_refs(spec: dict[str, Any]) -> dict[str, str]:
    """World id -> folder, for each world the sweep named by its folder (a pack's worlds are stored so):
    records name worlds by id, and only shipped ids load by id. A folder that no longer loads is left
    out (its worlds then have only their findings, as before)."""
    refs: dict[str, str] = {}
    for world in spec.get("worlds") or []:
        if isinstance(world, str) and ("/" in world or world.startswith(".")):
            try:
                refs.setdefault(load_world(world).spec.id, world)
            except WorldSpecError:
                continue
    return refs


def _grid(records: Sequence[EpisodeRecord], models: list[str], by: str, worlds: metrics.WorldRefs | None = None
          ) -> tuple[list[str], dict[str, dict[str, metrics.Rate]]]:
    """model -> group (motive or risk type) -> misaligned rate, from `metrics.breakdown` per model."""
    grid: dict[str, dict[str, metrics.Rate]] = {}
    keys: set[str] = set()
    for model in models:
        subset = [r for r in records if r.model == model]
        grid[model] = {g.key: g.misaligned for g in metrics.breakdown(subset, by, worlds=worlds).groups}
        keys |= grid[model].keys()
    return sorted(keys), grid


def analyse(records: Sequence[EpisodeRecord], spec: dict[str, Any], *, seed: int = 0,
            margin: float = metrics.MARGIN, probe_samples: Sequence[ProbeSampleRow] = (),
            review: LabelSet | None = None, sweep: str = "the sweep") -> Analysis:
    """Everything the report shows. `margin`: the decoding effects' equivalence margin (0.05 = ±5 points);
    `probe_samples`: the sweep's stored probe questions (`sweep.probes.load_probe_samples`); `review`:
    filled review sheets, whose people are joined to the judges in `agreement`."""
    factors = factor_levels(records, spec)
    effects = framing_effects(records, factors, seed=seed)
    note = None
    if not factors:
        note = "no framing factor varies in this sweep, so there is no paired effect to measure"
    elif all(e.pairs == 0 for e in effects):
        note = "no episode pairs match on everything but the factor, so no paired effect can be measured"
    model_meta = spec.get("model_meta") or None  # family, size, params, ... per model, from the sweep's config
    fields = metrics.meta_fields(model_meta)
    decoding = metrics.decoding_levels(records, {k: spec.get(k) or [] for k in metrics.DECODING_AXES})
    by = ["model", *(f"meta.{f}" for f in fields), "agent", "world", "motive", "risk_type",
          *(f"variant.{f}" for f in factors), *(f"decoding.{k}" for k in decoding)]
    worlds = world_refs(spec)
    report = metrics.report(records, by=by, model_meta=model_meta, seed=seed, worlds=worlds, margin=margin,
                            decoding_order={k: spec.get(k) or [] for k in metrics.DECODING_AXES})
    report.effects = effects
    models = sorted({r.model for r in records})
    motives, motive_grid = _grid(records, models, "motive", worlds)
    risk_types, risk_grid = _grid(records, models, "risk_type", worlds)
    # IMPRESS's finding is that framing moves *a model's* rate: pooled effects can hide opposite ones
    model_effects = {m: framing_effects([r for r in records if r.model == m], factors, seed=seed)
                     for m in models} if len(models) > 1 and factors else {}
    # "decoding has marginal influence" is a claim about each model: a pooled "equivalent" can hide a
    # model that moves one way and another that moves the other
    decoding_model_effects = {m: metrics.decoding_effects([r for r in records if r.model == m], decoding,
                                                          margin=margin, seed=seed)
                              for m in models} if len(models) > 1 and decoding else {}
    study = study_analysis(records, probe_samples=probe_samples, labels=review, sweep=sweep, worlds=worlds)
    agreement = judge_agreement(records, worlds)
    if study.human is not None:  # judges vs people sit beside judges vs judges
        agreement = agreement.model_copy(update={"pairs": [*agreement.pairs, *study.human.pairs]})
    return Analysis(report=report, factors=factors, effects=effects, model_effects=model_effects,
                    effects_note=note, decoding=decoding, margin=margin, decoding_model_effects=decoding_model_effects,
                    meta_fields=fields, models=models,
                    motives=motives, motive_grid=motive_grid, risk_types=risk_types, risk_grid=risk_grid,
                    agreement=agreement, study=study)
