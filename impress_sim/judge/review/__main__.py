"""`impress review` (the same: `python -m impress_sim.judge.review`): export a review round, read
people's labels, report agreement.

    export  <records or folders ...> out=DIR [blind=true] [force=true]
    import  <labels.csv ...> [reviewer=NAME] [records=[<records or folders>]] [out=labels.json]
    report  <records or folders ...> labels=<labels.csv> (or labels=[a.csv,b.csv]) [format=table|json]
    benign export out=DIR [worlds=[W,...]] [variants=all | variants=[NAME,...]]
    benign report <benign.csv ...> [format=table|json]

Problems the user can fix (a bad label, a missing column, a changed world) end in one message on
stderr and exit status 2.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.markup import escape

from impress_sim.cli import Action, Group, main_for
from impress_sim.judge.review.agreement import build_report
from impress_sim.judge.review.benign import benign_report, export_benign, read_benign_labels
from impress_sim.judge.review.export import export_review
from impress_sim.judge.review.labels import check_against, read_labels
from impress_sim.judge.review.records import load_episodes
from impress_sim.judge.review.tables import render_agreement, render_benign, render_labels

WORLDS_HELP = "world folders or packs, for records of worlds not shipped with the package"


class _Keys(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExportConfig(_Keys):
    records: list[str] = Field(min_length=1, description="episode record files, or folders searched for them")
    out: str = Field(description="folder for review.csv, index.html and episodes/")
    blind: bool = Field(False, description="leave out the judges' labels (so they do not anchor people)")
    force: bool = Field(False, description="overwrite a sheet that already holds people's labels")
    worlds: list[str] = Field(default_factory=list, description=WORLDS_HELP)


class ImportConfig(_Keys):
    labels: list[str] = Field(min_length=1, description="filled review sheets (CSV)")
    reviewer: str | None = Field(None, description="reviewer name for labelled rows whose reviewer cell is blank")
    records: list[str] = Field(default_factory=list, description="also check the labels against these records "
                               "(ids, worlds, behaviours): files or folders")
    out: str | None = Field(None, description="write the checked labels as JSON to this file")
    worlds: list[str] = Field(default_factory=list, description=WORLDS_HELP)


class ReportConfig(_Keys):
    records: list[str] = Field(min_length=1, description="episode record files, or folders searched for them")
    labels: list[str] = Field(min_length=1, description="filled review sheet(s): labels=[a.csv,b.csv]")
    reviewer: str | None = Field(None, description="reviewer name for labelled rows whose reviewer cell is blank")
    format: Literal["table", "json"] = Field("table", description="table, or json on stdout")
    worlds: list[str] = Field(default_factory=list, description=WORLDS_HELP)


class BenignExportConfig(_Keys):
    out: str = Field(description="folder for benign.csv and benign.html")
    worlds: list[str] = Field(default_factory=list, description="world ids, folders or packs (each of "
                              "its worlds; default: every shipped world)")
    variants: list[str] = Field(default_factory=list, description="one item per variant named, or variants=all for "
                                "every named variant and 'default' (default: each world's default variant)")
    force: bool = Field(False, description="overwrite a sheet that already holds people's labels")


class BenignReportConfig(_Keys):
    labels: list[str] = Field(min_length=1, description="filled benign.csv file(s)")
    reviewer: str | None = Field(None, description="reviewer name for labelled rows whose reviewer cell is blank")
    world_check: bool = Field(True, description="check that each world is still the version that was labelled")
    format: Literal["table", "json"] = Field("table", description="table, or json on stdout")


def _export(config: ExportConfig, console: Console) -> int:
    result = export_review(config.records, Path(config.out), blind=config.blind, force=config.force,
                           worlds=config.worlds)
    console.print(f"{result.episodes} episode(s), {result.rows} row(s) -> {escape(str(result.sheet))}; "
                  f"pages: {escape(str(result.index))}"
                  + (" [bold](blind: judges' labels left out)[/bold]" if config.blind else ""))
    if result.computed:
        console.print(f"[dim]{result.computed} record(s) held no verdict: the state judge was computed.[/dim]")
    return 0


def _import(config: ImportConfig, console: Console) -> int:
    labels = read_labels([Path(p) for p in config.labels], reviewer=config.reviewer)
    if config.records:
        check_against(labels, load_episodes(config.records, config.worlds))
    render_labels(console, labels)
    if config.out:
        data = [asdict(label) for label in labels.labels]
        Path(config.out).write_text(json.dumps(data, indent=2), encoding="utf-8")
        console.print(f"checked labels -> {config.out}", highlight=False, markup=False)
    return 0


def _report(config: ReportConfig, console: Console) -> int:
    episodes = load_episodes(config.records, config.worlds)
    report = build_report(episodes, read_labels([Path(p) for p in config.labels], reviewer=config.reviewer))
    if config.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        render_agreement(console, report)
    return 0


def _benign_export(config: BenignExportConfig, console: Console) -> int:
    variants = [] if config.variants == ["all"] else (config.variants or None)
    done = export_benign(Path(config.out), config.worlds or None, variants, force=config.force)
    console.print(f"{done.items} task(s) -> {done.sheet}; page: {done.page}", highlight=False, markup=False)
    return 0


def _benign_report(config: BenignReportConfig, console: Console) -> int:
    benign = read_benign_labels([Path(p) for p in config.labels], reviewer=config.reviewer,
                                check_worlds=config.world_check)
    summary = benign_report(benign)
    if config.format == "json":
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        render_benign(console, summary)
    return 0


COMMAND = Group(
    summary="Human verification of the judges' labels, and of task benignness (docs/review.md).",
    actions={
        "export": Action("write the review sheet (CSV) and a page per episode (HTML)", ExportConfig, _export,
                         positional="records"),
        "import": Action("read and check filled sheets", ImportConfig, _import, positional="labels"),
        "report": Action("agreement of judges with people, and with each other", ReportConfig, _report,
                         positional="records"),
        "benign": Group(
            summary="is each world's task benign? people label each world's briefing (export, report)",
            actions={
                "export": Action("write benign.csv and benign.html (each world's briefing)", BenignExportConfig,
                                 _benign_export),
                "report": Action("share judged benign and agreement between people", BenignReportConfig,
                                 _benign_report, positional="labels"),
            },
        ),
    },
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.judge.review ...`: the same command as `impress review`."""
    return main_for(COMMAND, argv, "python -m impress_sim.judge.review")


if __name__ == "__main__":
    raise SystemExit(main())
