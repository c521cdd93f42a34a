"""The QC report of one generation run: rich tables in the terminal and one offline HTML page.

Both read a `GenerationSummary` (the page also each judge's rationale, from the run folder's
`qc/<idea>.json`), so a report can be rebuilt from the run folder long after the run. Both are built from the same
views below (`stage_rows`, `reason_groups`, `cost_rows`, ...), so the terminal and the page never
disagree on a number.

Everything a model wrote (titles, rejection reasons, judges' rationales, the library world an idea
repeats) is untrusted. In the terminal it reaches rich as `Text`, never as markup, on one line with
control characters shown escaped (`\\x1b`, not an escape sequence the terminal obeys). In the page it
goes through Jinja2's autoescaping, under the sweep report's Content-Security-Policy that loads
nothing from outside the page and runs no script (`impress_sim.report.html.csp`): the page needs no
script at all (the funnel is inline SVG, the judges' rationales open with `<details>`). Long texts
are clipped for display, and the page says how much was left out.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from rich.console import Console
from rich.table import Table
from rich.text import Text

from impress_sim.errors import clipped
from impress_sim.generate.artifacts import CRITERIA, STAGES, GenerationSummary, Outcome, QCResult
from impress_sim.generate.runstore import safe_name

REPORT = "report.html"
SUMMARY = "summary.json"
TEMPLATE = "qc_report.html.j2"
COUNTS = ("entered", "passed", "rejected", "error", "pending")
MAX_CELL = 160  # a model-written value in a terminal cell
MAX_REASON = 300  # a rejection reason's first line, as the key that groups reasons
MAX_TITLE = 200
MAX_RATIONALE = 4000  # a judge's rationale in the page: past this it is clipped, and the page says so
MAX_IDS = 12  # idea ids listed beside a reason (the rest counted)
TOP_REASONS = 5  # reasons per stage in the terminal (the page lists them all)
FUNNEL_WIDTH = 560  # the funnel's bar area, in SVG user units
MAX_QC_FILE = 16 * 1024 * 1024  # a stored QC result larger than this is not read (far above any real one)


def one_line(text: str, limit: int = MAX_CELL) -> str:
    """`text` clipped to `limit` characters (`errors.clipped`), on one line (`⏎` for a newline), every
    other non-printable character written as its escape (`\\x1b`), so no model output moves the
    cursor, recolours the terminal or breaks a table row."""
    short = clipped(text, limit)
    return "".join(c if c.isprintable() else "⏎" if c == "\n" else repr(c)[1:-1] for c in short)


def _text(value: str, limit: int = MAX_CELL, style: str = "") -> Text:
    return Text(one_line(value, limit), style=style)


@dataclass(frozen=True)
class StageRow:
    stage: str
    entered: int
    passed: int
    rejected: int
    error: int
    pending: int


def stage_rows(summary: GenerationSummary) -> list[StageRow]:
    """One row per stage that has counts, in pipeline order (a stage the summary names that the
    pipeline does not comes last, alphabetically: shown, never dropped)."""
    order = {s: i for i, s in enumerate(STAGES)}
    names = sorted(summary.stage_counts, key=lambda s: (order.get(s, len(order)), s))
    return [StageRow(s, *(int(summary.stage_counts[s].get(c, 0)) for c in COUNTS)) for s in names]


@dataclass(frozen=True)
class FunnelBar:
    """One stage's bar: `entered` as a light bar, `passed` over it; positions in SVG user units."""

    row: StageRow
    y: int
    entered_width: float
    passed_width: float


@dataclass(frozen=True)
class Funnel:
    """A bar per stage: the stage's name left of `label_width`, the bar, then its counts as text."""

    bars: list[FunnelBar]
    width: int
    height: int
    label_width: int = 120
    bar_height: int = 22


def funnel(rows: Sequence[StageRow], *, pitch: int = 30, counts_width: int = 220) -> Funnel:
    """The funnel's geometry: bars scaled to the largest count (a count that is not zero is drawn at
    least one unit wide, so a stage that one idea reached is still seen)."""
    top = max((max(r.entered, r.passed) for r in rows), default=0) or 1
    bars = []
    for i, r in enumerate(rows):
        entered, passed = FUNNEL_WIDTH * r.entered / top, FUNNEL_WIDTH * r.passed / top
        bars.append(FunnelBar(r, 6 + i * pitch, max(entered, 1.0) if r.entered else 0.0,
                              max(passed, 1.0) if r.passed else 0.0))
    label = Funnel.label_width
    return Funnel(bars, label + FUNNEL_WIDTH + counts_width, 12 + pitch * max(len(rows), 1))


@dataclass(frozen=True)
class ReasonGroup:
    """Ideas that ended at one stage, with one status, for one reason (the reason's first line)."""

    stage: str
    status: str  # rejected | error
    reason: str
    ids: list[str]
    full: list[str]  # each idea's whole reason, in the order of `ids`

    @property
    def detailed(self) -> bool:
        """Whether any idea's reason says more than the group's line (the page then lists each)."""
        return any(one_line(f, MAX_REASON) != self.reason for f in self.full)

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def shown_ids(self) -> list[str]:
        return self.ids[:MAX_IDS]

    @property
    def more(self) -> int:
        return max(0, len(self.ids) - MAX_IDS)


def reason_key(reason: str) -> str:
    """What groups reasons: the first non-empty line, clipped (a reason's details differ per idea;
    its first line names the kind of failure)."""
    first = next((line.strip() for line in reason.splitlines() if line.strip()), "")
    return one_line(first, MAX_REASON) if first else "(no reason given)"


def reason_groups(outcomes: Iterable[Outcome]) -> list[ReasonGroup]:
    """Rejections and errors grouped by (stage, status, reason): stages in pipeline order, then the
    most frequent reason first."""
    groups: dict[tuple[str, str, str], list[Outcome]] = {}
    for o in outcomes:
        if o.status in ("rejected", "error"):
            groups.setdefault((o.stage, o.status, reason_key(o.reason)), []).append(o)
    order = {s: i for i, s in enumerate(STAGES)}
    keys = sorted(groups, key=lambda k: (order.get(k[0], len(order)), k[0], k[1] != "rejected", -len(groups[k]), k[2]))
    return [ReasonGroup(*k, [o.idea_id for o in groups[k]], [o.reason for o in groups[k]]) for k in keys]


@dataclass(frozen=True)
class CostRow:
    stage: str
    model: str
    calls: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cost_usd: float

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def cost_rows(summary: GenerationSummary) -> tuple[list[CostRow], CostRow]:
    """One row per (stage, model), in pipeline order, and the total (stage and model "total")."""
    merged: dict[tuple[str, str], list[float]] = {}
    for c in summary.costs:
        acc = merged.setdefault((c.stage, c.model), [0, 0, 0, 0, 0.0])
        for i, v in enumerate((c.calls, c.cache_hits, c.input_tokens, c.output_tokens, c.cost_usd)):
            acc[i] += v
    order = {s: i for i, s in enumerate(STAGES)}
    rows = [CostRow(stage, model, int(a[0]), int(a[1]), int(a[2]), int(a[3]), float(a[4]))
            for (stage, model), a in sorted(merged.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0]))]
    total = CostRow("total", "", sum(r.calls for r in rows), sum(r.cache_hits for r in rows),
                    sum(r.input_tokens for r in rows), sum(r.output_tokens for r in rows),
                    sum(r.cost_usd for r in rows))
    return rows, total


def usd(value: float) -> str:
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def budget_lines(summary: GenerationSummary, total: CostRow) -> list[tuple[str, bool]]:
    """What was spent against each limit the run had: (line, over the limit?)."""
    lines = []
    if summary.budget_usd is not None:
        share = f" ({total.cost_usd / summary.budget_usd:.0%})" if summary.budget_usd > 0 else ""
        lines.append((f"cost {usd(total.cost_usd)} of a {usd(summary.budget_usd)} budget{share}",
                      total.cost_usd >= summary.budget_usd))
    if summary.budget_tokens is not None:
        share = f" ({total.tokens / summary.budget_tokens:.0%})" if summary.budget_tokens > 0 else ""
        lines.append((f"tokens {total.tokens:,} of a {summary.budget_tokens:,} budget{share}",
                      total.tokens >= summary.budget_tokens))
    if not lines:
        lines.append(("no budget limit was set", False))
    return lines


def criteria(outcomes: Iterable[Outcome], results: Iterable[QCResult] = ()) -> list[str]:
    """The QC criteria shown as columns: the pipeline's, in its order, then any other the data names."""
    seen = {k for o in outcomes for k in o.qc} | {k for r in results for k in r.medians}
    return [c for c in CRITERIA if c in seen] + sorted(seen - set(CRITERIA))


def qc_line(qc: dict[str, float]) -> str:
    return " · ".join(f"{k} {v:g}" for k, v in qc.items())


def pilot_line(o: Outcome) -> str:
    p = o.pilot
    if p is None:
        return ""
    errors = f", {p.errors} error(s)" if p.errors else ""
    return (f"{p.model} ×{p.episodes}{errors}: misaligned {p.misaligned_rate:.0%}, considered {p.considered_rate:.0%}, "
            f"task done {p.task_done_rate:.0%}")


def world_yaml(world_path: str) -> Path | None:
    """The world file of an accepted outcome: `world_path` names the world's folder (or the file
    itself); relative paths are read from the working directory, as every path a command takes is."""
    if not world_path:
        return None
    path = Path(world_path)
    return path if path.suffix in (".yaml", ".yml") else path / "world.yaml"


def link(target: Path, folder: Path) -> str:
    """`target` as a URL relative to `folder` (the report's folder), every segment percent-quoted: a
    name never becomes a scheme (`javascript:`), a query or a fragment."""
    rel = os.path.relpath(target.resolve(), folder.resolve())
    return "/".join(quote(part, safe="") for part in Path(rel).parts)


# -- the terminal ---------------------------------------------------------------------------------------


def render_terminal(console: Console, summary: GenerationSummary, *, top: int = TOP_REASONS) -> None:
    """The QC report as rich tables: stages, acceptance, rejections by reason, accepted worlds,
    duplicates, cost and tokens against the budget, and why the run stopped when it stopped early."""
    console.rule(Text.assemble("generation run ", (one_line(summary.run), "bold")))
    console.print(Text(f"pack {one_line(summary.pack)} · created {one_line(summary.created, 40)} · cells: "
                       f"{one_line(', '.join(summary.cells))} · domains: {one_line(', '.join(summary.domains))}",
                       style="dim"))
    if not summary.finished:
        console.print(_text("stopped early: " + (summary.stopped or "no reason recorded"), 400, "bold yellow"))

    stages = Table(title="Stages")
    stages.add_column("stage")
    for c in COUNTS:
        stages.add_column(c, justify="right")
    for r in stage_rows(summary):
        stages.add_row(_text(r.stage), str(r.entered), str(r.passed), str(r.rejected),
                       Text(str(r.error), style="yellow" if r.error else ""), str(r.pending))
    console.print(stages)

    console.print(Text(acceptance_line(summary), style="bold"))

    groups = reason_groups(summary.outcomes)
    if groups:
        table = Table(title=f"Rejections by stage and reason (top {top} per stage)")
        for name in ("stage", "status", "ideas", "reason", "idea ids"):
            table.add_column(name, justify="right" if name == "ideas" else "left", overflow="fold")
        left_out: dict[str, int] = {}
        per_stage: dict[str, int] = {}
        for g in groups:
            per_stage[g.stage] = per_stage.get(g.stage, 0) + 1
            if per_stage[g.stage] > top:
                left_out[g.stage] = left_out.get(g.stage, 0) + g.count
                continue
            ids = ", ".join(g.shown_ids) + (f" +{g.more} more" if g.more else "")
            table.add_row(_text(g.stage), Text(g.status, style="yellow" if g.status == "error" else "red"),
                          str(g.count), _text(g.reason), _text(ids, 400))
        console.print(table)
        for stage, n in left_out.items():
            console.print(_text(f"{stage}: {n} more idea(s) with other reasons (see report.html)", style="dim"))

    accepted = summary.accepted
    if accepted:
        table = Table(title=f"Accepted worlds ({len(accepted)})")
        for name in ("id", "cell", "domain", "QC medians", "pilot", "path"):
            table.add_column(name, overflow="fold")
        for o in accepted:
            table.add_row(_text(o.idea_id), _text(o.cell), _text(o.domain), _text(qc_line(o.qc)),
                          _text(pilot_line(o)), _text(o.world_path, 400))
        console.print(table)
    else:
        console.print(Text("No world was accepted.", style="yellow"))

    if summary.duplicates:
        table = Table(title=f"Duplicates set aside ({len(summary.duplicates)})")
        for name in ("idea", "of", "similarity"):
            table.add_column(name, overflow="fold")
        for d in summary.duplicates:
            table.add_row(_text(d.idea.id), _text(d.of), f"{d.similarity:.2f}")
        console.print(table)

    rows, total = cost_rows(summary)
    table = Table(title="Cost and tokens")
    table.add_column("stage")
    table.add_column("model", overflow="fold")
    for name in ("calls", "cache hits", "input tokens", "output tokens", "cost"):
        table.add_column(name, justify="right")
    for cost in [*rows, total]:
        bold = "bold" if cost is total else ""
        table.add_row(_text(cost.stage, style=bold), _text(cost.model), f"{cost.calls:,}", f"{cost.cache_hits:,}",
                      f"{cost.input_tokens:,}", f"{cost.output_tokens:,}", Text(usd(cost.cost_usd), style=bold))
    console.print(table)
    for line, over in budget_lines(summary, total):
        console.print(Text(line, style="bold red" if over else "dim"))
    if summary.prompts:
        console.print(_text("prompts: " + ", ".join(f"{k}={v}" for k, v in summary.prompts.items()), 600, "dim"))


def acceptance_line(summary: GenerationSummary) -> str:
    """`accepted 5 of 12 decided ideas (42%)`, with the ideas that have no decision (errors, pending)."""
    ideas = [o for o in summary.outcomes if o.kind == "idea"]
    counts = {s: sum(o.status == s for o in ideas) for s in ("accepted", "rejected", "error", "pending")}
    decided = counts["accepted"] + counts["rejected"]
    rate = f"{summary.acceptance_rate:.0%}" if decided else "n/a"
    line = f"acceptance rate {rate}: accepted {counts['accepted']} of {decided} decided idea(s)"
    extra = [f"{counts[s]} {s}" for s in ("error", "pending") if counts[s]]
    return line + (f" ({', '.join(extra)}: not counted)" if extra else "")


# -- the page -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """A text clipped for display: what is shown and how many characters were left out."""

    shown: str
    omitted: int

    @classmethod
    def of(cls, text: str, limit: int) -> Clip:
        return cls(text, 0) if len(text) <= limit else cls(text[:limit], len(text) - limit)


@dataclass(frozen=True)
class JudgeView:
    judge: str
    error: Clip
    scores: dict[str, tuple[int, Clip]]  # criterion -> (score, rationale)


@dataclass(frozen=True)
class QCView:
    idea_id: str
    status: str
    medians: dict[str, float]
    failed: dict[str, Clip]
    judges: list[JudgeView] = field(default_factory=list)


@dataclass(frozen=True)
class AcceptedView:
    outcome: Outcome
    title: Clip
    href: str
    exists: bool


def qc_views(summary: GenerationSummary, results: Iterable[QCResult]) -> list[QCView]:
    """Every world with QC scores: the judges' own when the run's `QCResult`s are given, else the
    medians the outcome kept (the summary holds no rationale)."""
    status = {o.idea_id: o.status for o in summary.outcomes}
    views: dict[str, QCView] = {}
    for r in results:
        judges = [JudgeView(j.judge, Clip.of(j.error, MAX_RATIONALE),
                            {c: (s.score, Clip.of(s.rationale, MAX_RATIONALE)) for c, s in j.scores.items()})
                  for j in r.judges]
        medians: dict[str, float] = {str(c): m for c, m in r.medians.items()} or {
            c: statistics.median(j.scores[c].score for j in r.judges if c in j.scores)
            for c in {c for j in r.judges for c in j.scores}}
        views[r.idea_id] = QCView(r.idea_id, status.get(r.idea_id, ""), medians,
                                  {c: Clip.of(w, MAX_RATIONALE) for c, w in r.failed.items()}, judges)
    for o in summary.outcomes:
        if o.qc and o.idea_id not in views:
            views[o.idea_id] = QCView(o.idea_id, o.status, dict(o.qc), {})
    return list(views.values())


def stored_qc(summary: GenerationSummary) -> list[QCResult]:
    """The QC results the run stored (`<run>/qc/<idea>.json`, as `runstore.RunStore` saves them) for
    the ideas the summary names. One that is absent, torn, oversized or of another format is left
    out: its world still shows its medians, only the rationales are missing."""
    results = []
    for o in summary.outcomes:
        path = Path(summary.run) / "qc" / f"{safe_name(o.idea_id)}.json"
        try:
            if path.stat().st_size > MAX_QC_FILE:
                continue
            results.append(QCResult.model_validate(json.loads(path.read_text(encoding="utf-8"))["data"]))
        except (OSError, ValueError, KeyError, TypeError):  # pydantic's ValidationError is a ValueError
            continue
    return results


def write_html(summary: GenerationSummary, folder: Path | str, *, qc: Iterable[QCResult] | None = None) -> Path:
    """Write `folder/report.html` (one self-contained page) and `folder/summary.json`; returns the
    page's path. `qc`: the QC results whose judges' scores and rationales the page shows (the summary
    keeps only medians); by default those stored in the run folder (`stored_qc`)."""
    import jinja2

    # The sweep report's environment (autoescape, strict undefined), base page (house style) and CSP.
    # Imported here, not at the top: `impress_sim.report` loads its statistics stack (seconds), which
    # the terminal tables never need.
    from impress_sim.report.html import csp, environment

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    assert env.loader is not None
    env.loader = jinja2.ChoiceLoader([jinja2.PackageLoader("impress_sim.generate", "templates"), env.loader])
    results = stored_qc(summary) if qc is None else list(qc)
    accepted = []
    for o in summary.accepted:
        target = world_yaml(o.world_path)
        accepted.append(AcceptedView(o, Clip.of(o.title, MAX_TITLE), link(target, out) if target else "",
                                     bool(target and target.is_file())))
    rows = stage_rows(summary)
    costs, total = cost_rows(summary)
    html = env.get_template(TEMPLATE).render(
        s=summary, csp=csp(), rows=rows, funnel=funnel(rows), acceptance=acceptance_line(summary),
        groups=reason_groups(summary.outcomes), accepted=accepted, criteria=criteria(summary.outcomes, results),
        qc=qc_views(summary, results), costs=costs, total=total, budget=budget_lines(summary, total),
        usd=usd, clip=Clip.of, max_reason=MAX_REASON, max_title=MAX_TITLE, max_rationale=MAX_RATIONALE)
    (out / SUMMARY).write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    path = out / REPORT
    path.write_text(html, encoding="utf-8")
    return path
