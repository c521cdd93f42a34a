"""The metrics as text: rates with their intervals and k, and the rich tables the terminal prints
(the HTML report fills its tables from the same `SUMMARY_COLUMNS`). Computing is `impress_sim.metrics`;
this module only formats what it computed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from impress_sim.metrics import (
    MARGIN,
    Breakdown,
    Mean,
    MetricsReport,
    ModelMeta,
    PairedEffect,
    Rate,
    Summary,
    WorldSpread,
    k_text,
    report,
)
from impress_sim.record import EpisodeRecord


def format_rate(r: Rate) -> str:
    if r.rate is None or r.ci_low is None or r.ci_high is None:
        return "-"
    return f"{r.rate:.0%} [{r.ci_low:.0%}, {r.ci_high:.0%}] ({r.successes}/{r.n})"


def format_mean(m: Mean) -> str:
    if m.mean is None:
        return "-"
    interval = f" [{m.ci_low:.2f}, {m.ci_high:.2f}]" if m.ci_low is not None and m.ci_high is not None else ""
    return f"{m.mean:.2f}{interval} (n={m.n})"


# (column, how a Summary fills it): the terminal tables; the HTML report shows the same columns.
SUMMARY_COLUMNS: tuple[tuple[str, Callable[[Summary], str]], ...] = (
    ("episodes", lambda s: str(s.episodes)),
    ("errors", lambda s: str(s.errors)),
    ("misaligned", lambda s: format_rate(s.misaligned)),
    ("state only", lambda s: format_rate(s.state_misaligned)),
    ("LLM only", lambda s: format_rate(s.llm_misaligned)),
    ("any-of-k", lambda s: f"{format_rate(s.misaligned_any_of_k)} {k_text(s)}"),
    ("attempted", lambda s: format_rate(s.attempted)),
    ("other misconduct", lambda s: format_rate(s.other_misconduct)),
    ("considered", lambda s: format_rate(s.considered)),
    ("task success", lambda s: format_rate(s.task_success)),
    ("task score", lambda s: format_mean(s.task_score)),
    ("eval aware", lambda s: format_rate(s.eval_awareness)),
)


def _summary_table(title: str, head: str, rows: Sequence[Summary], notes: Mapping[str, str] | None = None
                   ) -> Table:
    table = Table(title=title)
    table.add_column(head)
    for col, _ in SUMMARY_COLUMNS:
        table.add_column(col)
    if notes:
        table.add_column("note")
    for s in rows:
        table.add_row(s.key, *(fill(s) for _, fill in SUMMARY_COLUMNS), *([notes.get(s.key, "")] if notes else []))
    return table


def headline(o: Summary) -> str:
    """What the overall table's title says: scenarios and k, errors, the policy behind "misaligned", reviews."""
    extra = "".join(f"; {n} {what}" for n, what in ((o.needs_review, "need review"),
                                                    (o.judge_errors, "with a failed LLM judge"),
                                                    (o.guard_errors, "with a failed guard call")) if n)
    return (f"All episodes ({o.scenarios} scenarios, any-of-k ({k_text(o)}: attempts per scenario); {o.errors} "
            f"errors excluded; misaligned = combined verdict, policy {o.policy}{extra})")


def format_spread(s: WorldSpread) -> tuple[str, str]:
    """(each world's rate, the world-clustered interval) as table cells."""
    worlds = "; ".join(f"{w}: {format_rate(r)}" for w, r in s.worlds.items())
    interval = "-" if s.ci_low is None or s.ci_high is None else f"[{s.ci_low:.0%}, {s.ci_high:.0%}]"
    return worlds, interval


def spread_table(b: Breakdown) -> Table:
    """The worlds under each motive (risk type) row, the world-clustered interval and the warning."""
    table = Table(title=f"By {b.by}: the worlds each row rests on")
    for col in (b.by, "worlds (misaligned rate each)", "world-clustered 95% (cluster bootstrap)", "note"):
        table.add_column(col)
    for key, s in b.spread.items():
        table.add_row(key, *format_spread(s), s.note or "")
    return table


def render(result: MetricsReport, console: Console) -> None:
    o = result.overall
    console.print(_summary_table(headline(o), "", [o]))
    for b in result.breakdowns:
        console.print(_summary_table(f"By {b.by}", b.by, b.groups, b.notes))
        if b.spread:
            console.print(spread_table(b))
    if result.effects:
        console.print(effects_table("Paired effects", result.effects))
    if result.decoding_effects:
        console.print(effects_table("Decoding effects (paired; equivalence margin "
                                    f"±{(result.decoding_effects[0].margin or 0) * 100:g} points)",
                                    result.decoding_effects))


def format_difference(e: PairedEffect) -> str:
    diff = "-" if e.difference is None else f"{e.difference:+.0%}"
    if e.ci_low is not None and e.ci_high is not None:
        diff += f" [{e.ci_low:+.0%}, {e.ci_high:+.0%}]"
    return diff


def effects_table(title: str, effects: Sequence[PairedEffect]) -> Table:
    """Paired effects as a rich table (the sweep report prints one per model with it); a `statement`
    column when some effect carries an equivalence statement (decoding effects)."""
    table = Table(title=title)
    stated = any(e.statement for e in effects)
    for col in ("factor", "control -> treatment", "outcome", "pairs", "control", "treatment", "difference",
                "newly", "no longer", "McNemar p", *(["statement"] if stated else [])):
        table.add_column(col)
    for e in effects:
        p = "-" if e.mcnemar_pvalue is None else f"{e.mcnemar_pvalue:.3g}" + (" (exact)" if e.mcnemar_exact else "")
        table.add_row(e.factor, f"{e.control} -> {e.treatment}", e.outcome, str(e.pairs),
                      format_rate(e.control_rate), format_rate(e.treatment_rate), format_difference(e), str(e.newly),
                      str(e.no_longer), p, *([e.statement or "-"] if stated else []))
    return table


def print_summary(records: Sequence[EpisodeRecord], console: Console | None = None, *,
                  by: Sequence[str] | None = None, effects: Sequence[tuple[str, str, str]] = (),
                  model_meta: ModelMeta | None = None, confidence: float = 0.95, seed: int = 0,
                  margin: float = MARGIN) -> MetricsReport:
    """Compute `report(...)` and print it as rich tables; returns the report."""
    result = report(records, by=by, effects=effects, model_meta=model_meta, confidence=confidence, seed=seed,
                    margin=margin)
    render(result, console or Console())
    return result
