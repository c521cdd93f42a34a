"""Verdict sets of a sweep, compared: the verdicts the episodes got when they ran (the set `original`)
and every set a re-judge wrote beside them (`impress judge rejudge <store> name=SET`).

A new judge is a new instrument: before its numbers replace the old ones, a researcher wants to
know how far the two agree (agreement and Cohen's kappa on "misaligned", from scikit-learn through
`impress_sim.judge.review.agreement.binary_metrics`, the review tool's own comparison), what each
says the misaligned rate is (Wilson intervals, `impress_sim.metrics.wilson`), whether the difference
is more than chance (McNemar's test on the paired labels, statsmodels) and which episodes changed,
so they can be read. An episode a set has no verdict for (its judge failed, or it was not judged
yet) is left out of that set's rate and of every pair with it — never counted as aligned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.table import Table

from impress_sim import metrics, metrics_text
from impress_sim.errors import ReportError
from impress_sim.judge.review.agreement import binary_metrics
from impress_sim.record import EpisodeRecord
from impress_sim.sweep.store import ORIGINAL, SetVerdict

Sets = Mapping[str, Mapping[str, SetVerdict]]  # set name -> config_hash -> verdict under it
MAX_CHANGED = 500  # changed episodes listed per pair (the count is always exact)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetRate(_Model):
    """One verdict set's misaligned rate over the episodes it has a verdict for."""

    name: str
    misaligned: metrics.Rate
    failed: int = 0  # its judge gave no verdict
    missing: int = 0  # not judged under it (yet)


class ChangedEpisode(_Model):
    config_hash: str
    world: str
    model: str
    variant: dict[str, str]
    seed: int
    a: bool
    b: bool


class SetPair(_Model):
    """Two sets on the episodes both have a verdict for."""

    a: str
    b: str
    n: int
    agreement: float | None
    kappa: float | None
    kappa_note: str | None
    a_misaligned: int
    b_misaligned: int
    mcnemar_pvalue: float | None
    changed_count: int
    changed: list[ChangedEpisode]  # the first MAX_CHANGED, in config-hash order


class VerdictSetComparison(_Model):
    active: str  # the set the rest of the report is under
    sets: list[str]  # original first, then the re-judged sets by name
    rates: list[SetRate]
    pairs: list[SetPair]


def set_names(sets: Sets) -> list[str]:
    return [ORIGINAL, *sorted(n for n in sets if n != ORIGINAL)]


def check_set(name: str, sets: Sets) -> None:
    """`name` is `original` or a stored set; else a `ReportError` naming the valid ones."""
    if name != ORIGINAL and name not in sets:
        raise ReportError(f"verdicts={name}: no such verdict set; this sweep has {', '.join(set_names(sets))} "
                          "(make one: python -m impress_sim.judge rejudge <store> judge.model=... name=<set>)")


def label(record: EpisodeRecord, digest: str, name: str, sets: Sets) -> bool | None:
    """Misaligned under set `name`; None when the episode has no verdict there (an error episode, a
    failed judge, not judged yet)."""
    if metrics.is_error(record):
        return None
    if name == ORIGINAL:
        return metrics.acted(record)
    got = sets.get(name, {}).get(digest)
    return got.verdict.misaligned if got is not None and got.verdict is not None else None


def under_set(episodes: Sequence[tuple[str, EpisodeRecord]], name: str, sets: Sets) -> list[EpisodeRecord]:
    """The records as set `name` labels them: each with the set's verdict in place of its own. An
    episode the set has no verdict for becomes an error episode saying why (excluded from every rate
    and counted among the errors: never aligned)."""
    if name == ORIGINAL:
        return [r for _, r in episodes]
    check_set(name, sets)
    verdicts = sets[name]
    out: list[EpisodeRecord] = []
    for digest, record in episodes:
        got = verdicts.get(digest)
        if metrics.is_error(record):
            out.append(record)
        elif got is not None and got.verdict is not None:
            out.append(record.model_copy(update={"verdict": got.verdict}))
        else:
            why = (f"the judge gave no verdict ({got.error})" if got is not None else
                   "not judged under this set yet (rerun the rejudge)")
            out.append(record.model_copy(update={"status": "error", "verdict": None,
                                                 "error": f"verdict set {name}: {why}"}))
    return out


def _mcnemar(both: int, only_a: int, only_b: int, neither: int) -> float | None:
    if only_a + only_b == 0:
        return None  # no discordant pair: nothing to test
    return metrics.mcnemar_test(both, only_a, only_b, neither)[1]


def compare_sets(episodes: Sequence[tuple[str, EpisodeRecord]], sets: Sets, active: str = ORIGINAL
                 ) -> VerdictSetComparison:
    """Every set's rate and every pair of sets compared, on `episodes` (config_hash, record)."""
    names = set_names(sets)
    labels = {n: {h: label(r, h, n, sets) for h, r in episodes} for n in names}
    rates = []
    for n in names:
        known = [v for v in labels[n].values() if v is not None]
        ran = [h for h, r in episodes if not metrics.is_error(r)]
        failed = sum(1 for h in ran if (g := sets.get(n, {}).get(h)) is not None and g.verdict is None)
        missing = 0 if n == ORIGINAL else sum(1 for h in ran if h not in sets.get(n, {}))
        rates.append(SetRate(name=n, misaligned=metrics.wilson(sum(known), len(known)), failed=failed,
                             missing=missing))
    by_hash = dict(episodes)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = [h for h, _ in episodes if labels[a][h] is not None and labels[b][h] is not None]
            xs = [bool(labels[a][h]) for h in common]
            ys = [bool(labels[b][h]) for h in common]
            m = binary_metrics(xs, ys)
            changed = [h for h, x, y in zip(common, xs, ys, strict=True) if x != y]
            pairs.append(SetPair(
                a=a, b=b, n=m.n, agreement=m.agreement, kappa=m.kappa, kappa_note=m.kappa_note,
                a_misaligned=m.reference_yes, b_misaligned=m.rater_yes,
                mcnemar_pvalue=_mcnemar(m.tp, m.fn, m.fp, m.tn), changed_count=len(changed),
                changed=[ChangedEpisode(config_hash=h, world=by_hash[h].world_id, model=by_hash[h].model,
                                        variant=dict(by_hash[h].variant), seed=by_hash[h].seed,
                                        a=bool(labels[a][h]), b=bool(labels[b][h]))
                         for h in changed[:MAX_CHANGED]]))
    return VerdictSetComparison(active=active, sets=names, rates=rates, pairs=pairs)


def _yes(value: bool) -> str:
    return "misaligned" if value else "aligned"


def render_verdict_sets(c: VerdictSetComparison, console: Console) -> None:
    """The terminal form of the HTML section: rates per set, then each pair and its changed episodes."""
    rates = Table(title=f"Verdict sets (report under: {c.active})")
    for col in ("set", "misaligned", "no verdict (judge failed)", "not judged"):
        rates.add_column(col)
    for r in c.rates:
        rates.add_row(r.name, metrics_text.format_rate(r.misaligned), str(r.failed), str(r.missing))
    console.print(rates)
    pairs = Table(title="Verdict sets compared (misaligned)")
    for col in ("sets", "episodes", "agreement", "Cohen's kappa", "misaligned a / b", "McNemar p", "changed"):
        pairs.add_column(col)
    for p in c.pairs:
        pairs.add_row(f"{p.a} vs {p.b}", str(p.n), "-" if p.agreement is None else f"{p.agreement:.0%}",
                      p.kappa_note or "-" if p.kappa is None else f"{p.kappa:.2f}",
                      f"{p.a_misaligned} / {p.b_misaligned}",
                      "-" if p.mcnemar_pvalue is None else f"{p.mcnemar_pvalue:.3g}", str(p.changed_count))
    console.print(pairs)
    for p in c.pairs:
        if p.changed:
            console.print(f"changed {p.a} -> {p.b}: " + "; ".join(
                f"{e.config_hash[:12]} {e.world} {e.model} seed {e.seed}: {_yes(e.a)} -> {_yes(e.b)}"
                for e in p.changed[:20]) + (" ..." if p.changed_count > 20 else ""),
                highlight=False, markup=False)


def comparison_or_none(episodes: Sequence[tuple[str, EpisodeRecord]], sets: Sets, active: str
                       ) -> VerdictSetComparison | None:
    """The comparison when the sweep has more than one verdict set (else there is nothing to compare)."""
    return compare_sets(episodes, sets, active) if sets else None

