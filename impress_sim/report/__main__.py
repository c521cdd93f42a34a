"""`impress report <sweep-id | store.sqlite> ... [store=PATH] [stores=[...]] [verdicts=SET] [out=DIR] [html=false]
[margin=5] [review=SHEETS]` (the same command: `python -m impress_sim.report ...`)

Several sweeps (ids in store=, or store files each holding one sweep, or `stores=[a,b]`) make one
report over all their episodes (`impress_sim.report.data.load_sweeps`). `verdicts=SET` reports
under a verdict set a re-judge wrote (`impress judge rejudge <store> name=SET`); whenever the
sweep has more than one set, the report compares them (`impress_sim.report.verdict_sets`).

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

from impress_sim import metrics, metrics_text
from impress_sim.cli import Action, main_for
from impress_sim.errors import ReportError
from impress_sim.judge.review.labels import LabelSet, read_labels
from impress_sim.report.analysis import Analysis, analyse
from impress_sim.report.data import choose_sweep, list_sweeps, load_sweeps, open_store
from impress_sim.report.html import write_site
from impress_sim.report.plots import all_plots
from impress_sim.report.study import ProbeSampleRow, print_study
from impress_sim.report.verdict_sets import check_set, comparison_or_none, render_verdict_sets, under_set
from impress_sim.sweep.probes import load_probe_samples
from impress_sim.sweep.store import ORIGINAL

DEFAULT_STORE = "runs/sweeps.sqlite"
REPORTS = Path("runs/reports")


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sweep: list[str] = Field(default_factory=list, description="sweep ids (in store=), or store files each holding "
                             "one sweep; several make one report")
    store: str = Field(DEFAULT_STORE, description="the results store")
    stores: list[str] = Field(default_factory=list, description="more stores, each holding one sweep (merged in)")
    verdicts: str = Field(ORIGINAL, description="the verdict set to report under (see impress judge rejudge <store>)")
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

    @field_validator("margin")
    @classmethod
    def _in_points(cls, value: float) -> float:
        if value < 0.5:
            raise ValueError(f"the margin is in points: margin=5 means ±5 points ({value:g} would be ±{value:g} "
                             "points, smaller than any study can resolve)")
        return value

    @field_validator("sweep", "stores", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


def sources(config: ReportConfig) -> list[tuple[str, str | None]]:
    """(store, sweep id or None: the store's only sweep) of every sweep the report covers."""
    out: list[tuple[str, str | None]] = [(arg, None) if _is_store(arg) else (config.store, arg) for arg in config.sweep]
    out += [(path, None) for path in config.stores]
    if not out:
        held = ""
        if Path(config.store).is_file():
            with open_store(config.store) as store:
                held = f"; {config.store} holds: {', '.join(s.id for s in list_sweeps(store)) or 'no sweep'}"
        raise ReportError("name a sweep: impress report <sweep-id> [store=PATH], or <store.sqlite> ..., "
                          f"or stores=[...]{held}")
    return out


def _is_store(arg: str) -> bool:
    """A path given where a sweep id may be: anything that exists (a folder is then refused as no store,
    naming it) or ends like a SQLite file."""
    return Path(arg).exists() or arg.endswith((".sqlite", ".sqlite3", ".db"))


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


def probe_samples(swept: Sequence[tuple[str, str | None]]) -> list[ProbeSampleRow]:
    """The stored probe samples of every sweep the report covers (a sample two of them share, once:
    an answer over an error)."""
    out: dict[str, ProbeSampleRow] = {}
    for store_path, sweep_id in swept:
        with open_store(store_path) as store:
            for sample in load_probe_samples(store, choose_sweep(store, sweep_id).id):
                have = out.get(sample.probe_hash)
                if have is None or (have.status == "error" and sample.status == "done"):
                    out[sample.probe_hash] = sample
    return sorted(out.values(), key=lambda s: s.probe_hash)


def read_review(sources: Sequence[str]) -> LabelSet | None:
    return read_labels(review_sheets(sources)) if sources else None


def print_tables(a: Analysis, console: Console) -> None:
    metrics_text.render(a.report, console)
    for model, effects in a.model_effects.items():
        console.print(metrics_text.effects_table(f"Paired effects: {model}", effects))
    for model, effects in a.decoding_model_effects.items():
        console.print(metrics_text.effects_table(f"Decoding effects: {model}", effects))
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
    data = load_sweeps(sources(config))
    check_set(config.verdicts, data.verdict_sets)
    originals = [(e.config_hash, e.record) for e in data.episodes]
    if config.verdicts != ORIGINAL:  # every table, plot and episode page under the chosen set
        relabelled = under_set(originals, config.verdicts, data.verdict_sets)
        data = data.model_copy(update={"episodes": [e.model_copy(update={"record": r})
                                                    for e, r in zip(data.episodes, relabelled, strict=True)]})
    records = data.records
    console.rule(f"sweep {escape(data.sweep.id)}")
    if len(data.sources) > 1:
        console.print("sources: " + "; ".join(data.sources), highlight=False, markup=False)
    for conflict in data.conflicts:
        console.print(f"conflict: {conflict}", highlight=False, markup=False, style="yellow")
    if config.verdicts != ORIGINAL:
        console.print(f"verdicts: set {config.verdicts} (not the verdicts the episodes got when they ran)",
                      highlight=False, markup=False)
    console.print(f"{len(records)} episodes from {data.store}" + (
        f" ({data.shared} stored under another sweep that ran the same cells)" if data.shared else ""),
        highlight=False, markup=False)
    if data.expand_note:
        console.print(f"note: only episodes stored under this sweep's id: {data.expand_note}", highlight=False,
                      markup=False, style="yellow")
    if any(r.is_replay for r in records):
        console.print("[yellow]Replayed trajectories (reference/... models): not a measurement.[/yellow]")
    labels = read_review(config.review)
    analysis = analyse(records, data.sweep.spec, margin=config.margin / 100,
                       probe_samples=probe_samples(sources(config)), review=labels, sweep=f"sweep {data.sweep.id!r}")
    analysis.verdict_sets = comparison_or_none(originals, data.verdict_sets, config.verdicts)
    print_tables(analysis, console)
    if analysis.verdict_sets is not None:
        render_verdict_sets(analysis.verdict_sets, console)
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
