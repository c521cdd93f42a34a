"""`impress report <sweep-id | store.sqlite> [store=PATH] [out=DIR] [html=false] [margin=5] [review=SHEETS]`
(the same command: `python -m impress_sim.report ...`)

Prints the sweep's metrics as rich tables (overall, by model, agent, world, motive, risk type and
each varying factor, the paired effect of each framing factor, judge agreement — with each judge
vs the people when `review=` names filled review sheets or a folder of them — and the study
measures: interview, monitor, probes; `impress_sim.report.study`) and writes a static
HTML report: `DIR/index.html` and `DIR/episodes/<config_hash>.html` (default DIR:
`runs/reports/<sweep-id>/`). Problems the user can fix (no store, unknown sweep, several sweeps and
none named) end in one message naming what is valid, and exit status 2.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from impress_sim import metrics
from impress_sim.cli import Action, main_for
from impress_sim.errors import ReportError
from impress_sim.judge.review.labels import LabelSet, read_labels
from impress_sim.report.analysis import Analysis, analyse
from impress_sim.report.data import load_sweep
from impress_sim.report.html import write_site
from impress_sim.report.plots import all_plots
from impress_sim.report.study import print_study
from impress_sim.sweep.probes import load_probe_samples
from impress_sim.sweep.store import Store

DEFAULT_STORE = "runs/sweeps.sqlite"
REPORTS = Path("runs/reports")


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sweep: str = Field(description="a sweep id (in store=), or a store file holding one sweep")
    store: str = Field(DEFAULT_STORE, description="the results store")
    out: str | None = Field(None, description="folder for the HTML report (default: runs/reports/<sweep-id>/)")
    html: bool = Field(True, description="write the HTML report (html=false: print the tables only)")
    margin: float = Field(metrics.MARGIN * 100, gt=0, lt=100,
                          description="equivalence margin of decoding effects, in points (within ±margin at 90%)")
    review: list[str] = Field(default_factory=list, description="filled review sheet(s) or folder(s) of them: human "
                              "labels joined to the judge agreement (review=labels/ or review=[a.csv,b.csv])")

    @field_validator("review", mode="before")
    @classmethod
    def _as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


def _is_store(arg: str) -> bool:
    return Path(arg).is_file() or arg.endswith((".sqlite", ".sqlite3", ".db"))


def agreement_table(a: Analysis) -> Table:
    table = Table(title="Judge agreement")
    for col in ("judges", "label", "items", "agreement", "Cohen's kappa"):
        table.add_column(col)
    for p in a.agreement.pairs:
        for field, s in p.fields.items():
            kappa = s.kappa_note or "-" if s.kappa is None else f"{s.kappa:.2f}"
            table.add_row(f"{p.rater} vs {p.reference}", field, str(s.n),
                          "-" if s.agreement is None else f"{s.agreement:.0%}", kappa)
    return table


def review_sheets(sources: Sequence[str]) -> list[Path]:
    """The review sheets named: each file as it is, each folder's `*.csv` files (sorted)."""
    paths: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(path.glob("*.csv"))
            if not found:
                raise ReportError(f"review={source}: the folder holds no review sheet (*.csv)")
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            raise ReportError(f"review={source}: no such file or folder (give filled review sheets: "
                              "impress review export writes them)")
    return paths


def read_review(sources: Sequence[str]) -> LabelSet | None:
    return read_labels(review_sheets(sources)) if sources else None


def print_tables(a: Analysis, console: Console) -> None:
    metrics.render(a.report, console)
    for model, effects in a.model_effects.items():
        console.print(metrics.effects_table(f"Paired effects: {model}", effects))
    for model, effects in a.decoding_model_effects.items():
        console.print(metrics.effects_table(f"Decoding effects: {model}", effects))
    if a.effects_note:
        console.print(f"Paired effects: none — {a.effects_note}.", highlight=False, markup=False)
    if a.agreement.pairs:
        console.print(agreement_table(a))
    print_study(a.study, console)
    if a.agreement.note:
        note = a.agreement.note
        console.print(f"Judge agreement: {note}." if not note.startswith("judge agreement") else
                      f"J{note[1:]}.", highlight=False, markup=False)


def _report(config: ReportConfig, console: Console) -> int:
    store, sweep_id = (config.sweep, None) if _is_store(config.sweep) else (config.store, config.sweep)
    data = load_sweep(store, sweep_id)
    records = data.records
    console.rule(f"sweep {escape(data.sweep.id)}")
    console.print(f"{len(records)} episodes from {data.store}" + (
        f" ({data.shared} stored under another sweep that ran the same cells)" if data.shared else ""),
        highlight=False, markup=False)
    if data.expand_note:
        console.print(f"note: only episodes stored under this sweep's id: {data.expand_note}", highlight=False,
                      markup=False, style="yellow")
    if any(r.is_replay for r in records):
        console.print("[yellow]Replayed trajectories (reference/... models): not a measurement.[/yellow]")
    labels = read_review(config.review)
    with Store(data.store) as opened:
        probe_samples = load_probe_samples(opened, data.sweep.id)
    analysis = analyse(records, data.sweep.spec, probe_samples=probe_samples, review=labels,
                       sweep=f"sweep {data.sweep.id!r}", margin=config.margin / 100)
    print_tables(analysis, console)
    if not config.html:
        return 0
    out = Path(config.out) if config.out else REPORTS / re.sub(r"[^A-Za-z0-9._-]", "_", data.sweep.id)
    started = time.perf_counter()
    index = write_site(out, data, analysis, all_plots(analysis))
    pages = "1 episode page" if len(records) == 1 else f"{len(records)} episode pages"
    console.print(f"report: {index} ({pages}, {time.perf_counter() - started:.1f} s)", highlight=False,
                  markup=False, soft_wrap=True)
    return 0


COMMAND = Action(
    summary="Prints a sweep's metrics as tables and writes a static HTML report (index.html and a page per "
            "episode).",
    config=ReportConfig,
    run=_report,
    positional="sweep",
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.report ...`: the same command as `impress report`."""
    return main_for(COMMAND, argv, "python -m impress_sim.report")


if __name__ == "__main__":
    sys.exit(main())
