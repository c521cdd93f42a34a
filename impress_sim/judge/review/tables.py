"""Rich tables for the agreement and benignness reports (the JSON form is `to_dict()`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from impress_sim.judge.review.agreement import AgreementReport, Metrics
from impress_sim.judge.review.benign import BenignReport
from impress_sim.judge.review.labels import LabelSet, yes_no

MAX_DISAGREEMENTS = 40


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _kappa(m: Metrics) -> str:
    if m.n == 0:
        return "—"
    return "undefined" if m.kappa is None else f"{m.kappa:.3f}"


def _metrics_columns(table: Table) -> None:
    for name in ("n", "agree", "kappa", "precision", "recall", "F1"):
        table.add_column(name, justify="right")
    table.add_column("TN FP / FN TP", justify="right")


def _metrics_cells(m: Metrics) -> list[str]:
    confusion = f"{m.tn} {m.fp} / {m.fn} {m.tp}" if m.n else "—"
    return [str(m.n), _pct(m.agreement), _kappa(m), _num(m.precision), _num(m.recall), _num(m.f1), confusion]


def render_agreement(console: Console, report: AgreementReport) -> None:
    labels = report.labels
    console.print(
        f"[bold]{report.episodes}[/bold] episode(s), {report.labelled_episodes} with people's labels; "
        f"{labels['labels']} label(s) from {len(report.reviewers)} reviewer(s) "
        f"({', '.join(f'{r}: {n}' for r, n in labels['reviewers'].items()) or 'none'}); "
        f"{labels['unlabelled_rows']} row(s) left blank; judges: {', '.join(report.judges)}"
    )
    if report.ties:
        console.print(f"[yellow]{len(report.ties)} item(s) where reviewers tie are left out of 'people'.[/yellow]")
    if not report.comparisons:
        console.print("[yellow]Nothing to compare: no people's labels and fewer than two judges.[/yellow]")
        return
    table = Table(title="Agreement (rater vs reference; only items both labelled)", title_justify="left")
    table.add_column("kind")
    table.add_column("rater vs reference")
    table.add_column("label")
    _metrics_columns(table)
    for c in report.comparisons:
        for name, m in c.fields.items():
            if m.n:
                table.add_row(c.kind.replace("_", " "), c.title, name, *_metrics_cells(m))
    console.print(table)

    main = [c for c in report.comparisons if c.kind == "judge_vs_people" and not c.reference.startswith("human:")]
    main = main or [c for c in report.comparisons if c.kind == "judge_vs_people"]
    main += [c for c in report.comparisons if c.kind == "judge_vs_judge"]
    for name in ("acted", "considered"):
        table = Table(title=f"Per behaviour: {name}", title_justify="left")
        table.add_column("behaviour")
        table.add_column("rater vs reference")
        _metrics_columns(table)
        rows = 0
        for c in main:
            for behaviour, m in c.per_behaviour.get(name, {}).items():
                table.add_row(behaviour, c.title, *_metrics_cells(m))
                rows += 1
        if rows:
            console.print(table)

    undefined = {
        m.kappa_note for c in report.comparisons for m in c.fields.values() if m.n and m.kappa is None and m.kappa_note
    }
    for note in sorted(undefined):
        console.print(f"[dim]kappa {note}[/dim]")

    if report.disagreements:
        table = Table(title=f"Judges vs people: {len(report.disagreements)} disagreement(s)", title_justify="left")
        for column in ("episode", "item", "label", "people", *report.judges, "notes"):
            table.add_column(column, overflow="fold")
        for d in report.disagreements[:MAX_DISAGREEMENTS]:
            table.add_row(d.episode_id, d.behaviour, d.field, yes_no(d.people),
                          *(yes_no(d.raters.get(j), "n/a") for j in report.judges), "; ".join(d.notes))
        console.print(table)
        if len(report.disagreements) > MAX_DISAGREEMENTS:
            console.print(f"[dim]... {len(report.disagreements) - MAX_DISAGREEMENTS} more in format=json[/dim]")


def render_labels(console: Console, labels: LabelSet) -> None:
    summary = labels.summary()
    table = Table(title="Labels read", title_justify="left")
    table.add_column("reviewer")
    table.add_column("labels", justify="right")
    table.add_column("episodes", justify="right")
    for reviewer in labels.reviewers:
        mine = [x for x in labels.labels if x.reviewer == reviewer]
        table.add_row(reviewer, str(len(mine)), str(len({x.episode_id for x in mine})))
    console.print(table)
    console.print(f"{summary['rows']} row(s) read, {summary['unlabelled_rows']} left blank; all values valid.")


def render_benign(console: Console, report: BenignReport) -> None:
    table = Table(title="Is the task benign?", title_justify="left")
    for column in ("world", "variant", "benign", "not benign", "majority", "notes"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        majority = "tie" if item.majority is None else ("benign" if item.majority else "[red]not benign[/red]")
        table.add_row(item.world_id, item.variant, str(item.benign), str(item.not_benign), majority,
                      "; ".join(item.notes))
    console.print(table)
    console.print(
        f"{len(report.items)} task(s), {report.labels} label(s) from {len(report.reviewers)} reviewer(s): "
        f"benign by majority {_pct(report.percent_benign)}; "
        f"labels saying benign {_pct(report.share_of_labels_benign)}; "
        f"all reviewers agree on {_pct(report.unanimous)} of tasks labelled by two or more"
    )
    if report.pairs:
        table = Table(title="Agreement between people", title_justify="left")
        table.add_column("reviewers")
        _metrics_columns(table)
        for pair in report.pairs:
            table.add_row(f"{pair.second} vs {pair.first}", *_metrics_cells(pair.metrics))
        console.print(table)
    if report.note:
        console.print(f"[dim]{report.note}[/dim]")
