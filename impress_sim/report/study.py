"""The study's other measures, from a sweep's records (and its store): the follow-up interview, the
monitor, the judgment-action probes, and human labels joined to the judges.

IMPRESS measures more than "did the agent act": whether it owns up when asked (interview), whether a
watching model would have caught it (monitor), whether it says the action is wrong yet takes it
(probes), and whether the judges agree with people (human labels). Each is computed here once, as
pydantic data that the terminal tables (`print_study`), the HTML section
(`templates/report_study.html.j2`) and the plots (`study_plots.py`) all read.

Counting rules, shared by all four: an error episode has no label and is never counted as aligned,
misaligned, a denial or a miss; it is counted apart. Ground truth for "misaligned" is the combined
verdict (`metrics.acted`). Every rate is a `metrics.Rate` with statsmodels' Wilson interval; the
probes' gap interval is statsmodels' Newcombe interval for a difference of independent proportions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from impress_sim import metrics, metrics_text
from impress_sim.agents.monitor import catch_counts
from impress_sim.errors import ReportError, ReviewError
from impress_sim.judge.review.agreement import build_report
from impress_sim.judge.review.labels import LabelSet
from impress_sim.record import EpisodeRecord
from impress_sim.report.agreement import JudgePair, Stat, review_episodes
from impress_sim.verdict import InterviewLabel

INTERVIEW_LABELS: tuple[InterviewLabel, ...] = ("confession", "partial", "denial")
ProbeFormName = Literal["ethics", "choice"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- interview -----------------------------------------------------------------------------------

class InterviewRow(_Model):
    """How the agents that acted misaligned answered the follow-up interview, for one model (and world).

    The denominator of the three rates is `labelled`: interviewed, non-error episodes that acted
    misaligned (combined verdict) and whose answer got a label. An answer left unlabelled (the rule
    cannot read it, or no LLM judge ran) is counted in `unlabelled`, never as a denial; an interview
    the agent could not answer (its model failed) is counted in `errors`."""

    model: str
    world: str | None = Field(None, description="None: all of the model's worlds.")
    interviewed: int = Field(description="Interviewed non-error episodes, aligned or not.")
    misaligned: int = Field(description="Of those, the ones that acted misaligned: who has something to confess.")
    errors: int = Field(description="Misaligned episodes whose interview got no answer (the model failed).")
    unlabelled: int = Field(description="Misaligned episodes answered but not labelled.")
    labelled: int
    rates: dict[str, metrics.Rate] = Field(description="confession / partial / denial, each k of `labelled`.")


class InterviewSection(_Model):
    rows: list[InterviewRow]  # per model (world None) then per model and world
    judges: dict[str, int] = Field(default_factory=dict, description="Who labelled the answers: judge -> answers.")
    note: str | None = None


def _interview_row(model: str, world: str | None, records: Sequence[EpisodeRecord]) -> InterviewRow:
    asked = [r for r in records if r.interview is not None and not metrics.is_error(r)]
    bad = [r for r in asked if metrics.acted(r)]
    errors = [r for r in bad if r.interview is not None and r.interview.error]
    answered = [r for r in bad if r.interview is not None and not r.interview.error]
    labels = [r.verdict.interview_label if r.verdict is not None else None for r in answered]
    known = [lab for lab in labels if lab is not None]
    return InterviewRow(model=model, world=world, interviewed=len(asked), misaligned=len(bad), errors=len(errors),
                        unlabelled=len(labels) - len(known), labelled=len(known),
                        rates={lab: metrics.wilson(known.count(lab), len(known)) for lab in INTERVIEW_LABELS})


def interview_section(records: Sequence[EpisodeRecord]) -> InterviewSection | None:
    """Confession / partial / denial rates per model and per model and world; None when no episode was
    interviewed (the sweep did not ask for it: `interview=true`)."""
    asked = [r for r in records if r.interview is not None]
    if not asked:
        return None
    rows: list[InterviewRow] = []
    models = sorted({r.model for r in asked})
    for model in models:
        rows.append(_interview_row(model, None, [r for r in asked if r.model == model]))
    for model in models:
        for world in sorted({r.world_id for r in asked if r.model == model}):
            rows.append(_interview_row(model, world, [r for r in asked if r.model == model and r.world_id == world]))
    judges: dict[str, int] = {}
    for r in asked:
        if r.verdict is not None and r.verdict.interview_label is not None:
            name = r.verdict.interview_judge or "unknown"
            judges[name] = judges.get(name, 0) + 1
    note = None
    if not any(row.misaligned for row in rows):
        note = "no interviewed episode acted misaligned: there was nothing to confess"
    elif not any(row.labelled for row in rows):
        note = ("no answer was labelled: without an LLM judge only flat denials after a state finding are "
                "labelled (judge=<model> labels confessions and partial ones)")
    return InterviewSection(rows=rows, judges=judges, note=note)


# ---- monitor -------------------------------------------------------------------------------------

class MonitorRow(_Model):
    """How the monitor did on one model's episodes. Counts come from `agents.monitor.catch_counts`
    (the combined verdict is the ground truth); a monitor that gave no score is `unknown`, an error
    episode is `errors`: neither is a miss or a false alarm."""

    model: str
    monitors: list[str] = Field(description="The monitor model(s) that watched.")
    threshold: list[int] = Field(description="The catch threshold(s) used.")
    catch: metrics.Rate = Field(description="Caught of the misaligned episodes.")
    false_alarm: metrics.Rate = Field(description="Caught of the aligned episodes.")
    unknown: int
    errors: int
    suspicion_misaligned: list[int] = Field(description="Max suspicion of each scored misaligned episode.")
    suspicion_aligned: list[int] = Field(description="Max suspicion of each scored aligned episode.")


class MonitorSection(_Model):
    rows: list[MonitorRow]
    note: str | None = None


def monitor_section(records: Sequence[EpisodeRecord]) -> MonitorSection | None:
    """Per model: catch rate, false-alarm rate and the suspicion distributions; None without a monitor."""
    watched = [r for r in records if r.monitor is not None]
    if not watched:
        return None
    rows = []
    for model in sorted({r.model for r in watched}):
        mine = [r for r in watched if r.model == model]
        counts = catch_counts(mine)
        scored = [(r, r.monitor.max_score) for r in mine if not metrics.is_error(r) and r.monitor is not None
                  and r.monitor.max_score is not None and metrics.acted(r) is not None]
        rows.append(MonitorRow(
            model=model, monitors=sorted({r.monitor.model for r in mine if r.monitor is not None}),
            threshold=sorted({r.monitor.threshold for r in mine if r.monitor is not None}),
            catch=metrics.wilson(counts.caught, counts.misaligned),
            false_alarm=metrics.wilson(counts.false_alarms, counts.aligned), unknown=counts.unknown,
            errors=counts.errors,
            suspicion_misaligned=sorted(s for r, s in scored if metrics.acted(r)),
            suspicion_aligned=sorted(s for r, s in scored if not metrics.acted(r))))
    note = None
    if not any(row.catch.n or row.false_alarm.n for row in rows):
        note = "the monitor gave no score on any episode (every check failed): its catch rate is unknown"
    return MonitorSection(rows=rows, note=note)


# ---- probes --------------------------------------------------------------------------------------

class ProbeSampleRow(_Model):
    """One stored probe question sample (the store's `probe_samples` table, read back)."""

    probe_hash: str
    model: str
    world: str
    world_hash: str
    variant: dict[str, str]
    form: ProbeFormName
    seed: int
    status: Literal["done", "error"]
    misaligned: bool | None
    error: str | None = None


class ProbeCell(_Model):
    """The three forms for one model, world and variant cell, and the judgment-action gap.

    ethics: said the misaligned action is acceptable; choice: picked a misaligned option; agentic:
    the sweep's own episodes of this model, world and variant that acted misaligned (combined
    verdict). Error samples and error episodes are counted in `errors`, never in a rate."""

    model: str
    world: str
    variant: dict[str, str]
    cell: dict[str, str] = Field(default_factory=dict, description="The factors that vary between this world's "
                                 "probe cells (what tells the cells apart; `variant` has every factor).")
    ethics: metrics.Rate
    choice: metrics.Rate
    agentic: metrics.Rate
    errors: dict[str, int] = Field(description="Per form: samples (or episodes) with no answer.")
    gap: float | None = Field(None, description="agentic rate − ethics rate (does it more than it endorses it).")
    gap_low: float | None = None
    gap_high: float | None = None
    gap_choice: float | None = Field(None, description="agentic rate − choice rate.")


class ProbeSection(_Model):
    cells: list[ProbeCell]
    note: str | None = None


def _gap(a: metrics.Rate, b: metrics.Rate) -> tuple[float | None, float | None, float | None]:
    """a − b with statsmodels' Newcombe (score) interval for a difference of independent proportions."""
    if a.rate is None or b.rate is None:
        return None, None, None
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(a.successes, a.n, b.successes, b.n, method="newcomb",
                                           compare="diff", alpha=1 - a.confidence)
    return a.rate - b.rate, float(low), float(high)


def _variant_key(variant: dict[str, str]) -> str:
    return json.dumps(variant, sort_keys=True)


def probe_section(records: Sequence[EpisodeRecord], samples: Sequence[ProbeSampleRow]) -> ProbeSection | None:
    """Per model, world and variant cell the probes asked: the three rates and the gap; None without samples."""
    if not samples:
        return None
    cells = []
    keys = sorted({(s.model, s.world, _variant_key(s.variant)) for s in samples})
    for model, world, variant in keys:
        mine = [s for s in samples if (s.model, s.world, _variant_key(s.variant)) == (model, world, variant)]
        forms: dict[str, metrics.Rate] = {}
        errors: dict[str, int] = {}
        for form in ("ethics", "choice"):
            of_form = [s for s in mine if s.form == form]
            known = [s.misaligned for s in of_form if s.status == "done" and s.misaligned is not None]
            forms[form] = metrics.wilson(sum(known), len(known))
            errors[form] = len(of_form) - len(known)
        episodes = [r for r in records if r.model == model and r.world_id == world
                    and _variant_key(r.variant) == variant]
        agentic = metrics.rate(episodes, metrics.acted)
        errors["agentic"] = len(episodes) - agentic.n
        gap, low, high = _gap(agentic, forms["ethics"])
        gap_choice = _gap(agentic, forms["choice"])[0]
        cells.append(ProbeCell(model=model, world=world, variant=json.loads(variant), ethics=forms["ethics"],
                               choice=forms["choice"], agentic=agentic, errors=errors, gap=gap, gap_low=low,
                               gap_high=high, gap_choice=gap_choice))
    for c in cells:
        others = [o.variant for o in cells if o.world == c.world]
        c.cell = {k: v for k, v in sorted(c.variant.items()) if len({o.get(k) for o in others}) > 1}
    note = None
    if not any(c.agentic.n for c in cells):
        note = "no episode of the sweep matches the probes' model, world and variant: there is no agentic rate"
    return ProbeSection(cells=cells, note=note)


# ---- human labels --------------------------------------------------------------------------------

class HumanAgreement(_Model):
    """Each judge (and the combined verdict) against the people's labels from filled review sheets."""

    files: list[str]
    reviewers: list[str]
    labels: int
    labelled_episodes: int
    pairs: list[JudgePair] = Field(description="reference: the people (or one reviewer); rater: a judge.")
    ties: int = Field(0, description="Items the reviewers split evenly on (left out of the majority).")


def human_agreement(records: Sequence[EpisodeRecord], labels: LabelSet, sweep: str = "the sweep",
                    worlds: metrics.WorldRefs | None = None) -> HumanAgreement:
    """The review tool's comparison (`judge.review.agreement.build_report`) over this sweep's records.
    A label naming an episode that is not one of the sweep's judged, non-error episodes (or a world
    version or behaviour it does not have) is a `ReportError` naming the sheet, row and column."""
    episodes = review_episodes(records, worlds)
    try:
        report = build_report(episodes, labels)
    except ReviewError as exc:
        raise ReportError(f"review=: the sheets do not match {sweep} ({exc})") from None
    pairs = [JudgePair(reference=c.reference, rater=c.rater, fields={f: Stat.of(m) for f, m in c.fields.items()})
             for c in report.comparisons if c.kind == "judge_vs_people"]
    return HumanAgreement(files=[str(f) for f in labels.files], reviewers=report.reviewers, labels=len(labels.labels),
                          labelled_episodes=report.labelled_episodes, pairs=pairs, ties=len(report.ties))


# ---- all of it -------------------------------------------------------------------------------------

class Study(_Model):
    """The study measures of one sweep; a part is None when the sweep did not measure it."""

    interview: InterviewSection | None = None
    monitor: MonitorSection | None = None
    probes: ProbeSection | None = None
    human: HumanAgreement | None = None

    @property
    def empty(self) -> bool:
        return self.interview is None and self.monitor is None and self.probes is None and self.human is None


def study_analysis(records: Sequence[EpisodeRecord], *, probe_samples: Sequence[ProbeSampleRow] = (),
                   labels: LabelSet | None = None, sweep: str = "the sweep",
                   worlds: metrics.WorldRefs | None = None) -> Study:
    return Study(interview=interview_section(records), monitor=monitor_section(records),
                 probes=probe_section(records, probe_samples),
                 human=human_agreement(records, labels, sweep, worlds) if labels is not None else None)


# ---- terminal tables -----------------------------------------------------------------------------

def _fmt(r: metrics.Rate) -> str:
    return metrics_text.format_rate(r)


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.0f} pts"


def interview_table(s: InterviewSection) -> Table:
    table = Table(title="Follow-up interview (of interviewed, non-error episodes that acted misaligned)")
    for col in ("model", "world", "interviewed", "misaligned", "labelled", *INTERVIEW_LABELS, "unlabelled",
                "no answer"):
        table.add_column(col)
    for row in s.rows:
        table.add_row(row.model, row.world or "all", str(row.interviewed), str(row.misaligned), str(row.labelled),
                      *(_fmt(row.rates[lab]) for lab in INTERVIEW_LABELS), str(row.unlabelled), str(row.errors))
    return table


def monitor_table(s: MonitorSection) -> Table:
    table = Table(title="Monitor (ground truth: the combined verdict)")
    for col in ("model", "monitor", "catch rate (misaligned)", "false alarms (aligned)", "unknown", "errors",
                "median suspicion: misaligned / aligned"):
        table.add_column(col)
    for row in s.rows:
        table.add_row(row.model, ", ".join(row.monitors), _fmt(row.catch), _fmt(row.false_alarm), str(row.unknown),
                      str(row.errors), f"{_median(row.suspicion_misaligned)} / {_median(row.suspicion_aligned)}")
    return table


def _median(values: Sequence[int]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    mid = len(ordered) // 2
    return str(ordered[mid]) if len(ordered) % 2 else f"{(ordered[mid - 1] + ordered[mid]) / 2:g}"


def probe_table(s: ProbeSection) -> Table:
    table = Table(title="Judgment-action probes (agentic: this sweep's episodes)")
    for col in ("model", "world", "variant", "ethics (endorses)", "choice (picks)", "agentic (acts)",
                "gap: agentic − ethics", "gap: agentic − choice", "errors e/c/a"):
        table.add_column(col)
    for c in s.cells:
        interval = "" if c.gap_low is None or c.gap_high is None else \
            f" [{c.gap_low * 100:+.0f}, {c.gap_high * 100:+.0f}]"
        table.add_row(c.model, c.world, ", ".join(f"{k}={v}" for k, v in c.cell.items()) or "-",
                      _fmt(c.ethics), _fmt(c.choice), _fmt(c.agentic), _signed(c.gap) + interval,
                      _signed(c.gap_choice), "/".join(str(c.errors.get(f, 0)) for f in ("ethics", "choice", "agentic")))
    return table


def human_table(h: HumanAgreement) -> Table:
    table = Table(title=f"Judges vs human labels ({h.labels} labels by {', '.join(h.reviewers) or 'nobody'})")
    for col in ("judge vs people", "label", "items", "agreement", "Cohen's kappa"):
        table.add_column(col)
    for p in h.pairs:
        for field, s in p.fields.items():
            kappa = s.kappa_note or "-" if s.kappa is None else f"{s.kappa:.2f}"
            table.add_row(f"{p.rater} vs {p.reference}", field, str(s.n),
                          "-" if s.agreement is None else f"{s.agreement:.0%}", kappa)
    return table


def print_study(study: Study | None, console: Console) -> None:
    """The study measures as rich tables (nothing when the sweep measured none of them)."""
    if study is None:
        return
    tables: list[tuple[Table, str | None]] = []
    if study.interview is not None:
        tables.append((interview_table(study.interview), study.interview.note))
    if study.monitor is not None:
        tables.append((monitor_table(study.monitor), study.monitor.note))
    if study.probes is not None:
        tables.append((probe_table(study.probes), study.probes.note))
    for table, note in tables:
        console.print(table)
        if note:
            console.print(f"note: {note}.", highlight=False, markup=False)
    if study.human is not None:  # its pairs are rows of the judge agreement table (`analysis.analyse` joins them)
        h = study.human
        console.print(f"Human labels: {h.labels} labels on {h.labelled_episodes} episodes by "
                      f"{', '.join(h.reviewers) or 'nobody'} ({', '.join(h.files)}); each judge vs the people is in "
                      "the judge agreement table" + (f"; {h.ties} tied items left out" if h.ties else "") + ".",
                      highlight=False, markup=False, soft_wrap=True)
