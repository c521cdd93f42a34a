"""`python -m impress_sim.report <sweep-id | store.sqlite> [--store PATH] [--out DIR] [--no-html]`

Prints the sweep's metrics as rich tables (overall, by model, agent, world, motive, risk type and
each varying factor, the paired effect of each framing factor, judge agreement) and writes a static
HTML report: `DIR/index.html` and `DIR/episodes/<config_hash>.html` (default DIR:
`runs/reports/<sweep-id>/`). Problems the user can fix (no store, unknown sweep, several sweeps and
none named) end in one message naming what is valid, and exit status 2.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from impress_sim import metrics
from impress_sim.cli import print_error
from impress_sim.errors import ReportError
from impress_sim.report.analysis import Analysis, analyse
from impress_sim.report.data import load_sweep
from impress_sim.report.html import write_site
from impress_sim.report.plots import all_plots

PROG = "python -m impress_sim.report"
DEFAULT_STORE = "runs/sweeps.sqlite"
REPORTS = Path("runs/reports")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Tables and a static HTML report of one sweep.")
    parser.add_argument("sweep", help="a sweep id (in --store), or a store file holding one sweep")
    parser.add_argument("--store", default=DEFAULT_STORE, help=f"the results store (default: {DEFAULT_STORE})")
    parser.add_argument("--out", type=Path, help="folder for the HTML report (default: runs/reports/<sweep-id>/)")
    parser.add_argument("--no-html", action="store_true", help="print the tables only")
    return parser


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


def print_tables(a: Analysis, console: Console) -> None:
    metrics.render(a.report, console)
    for model, effects in a.model_effects.items():
        console.print(metrics.effects_table(f"Paired effects: {model}", effects))
    if a.effects_note:
        console.print(f"Paired effects: none — {a.effects_note}.", highlight=False, markup=False)
    if a.agreement.pairs:
        console.print(agreement_table(a))
    if a.agreement.note:
        note = a.agreement.note
        console.print(f"Judge agreement: {note}." if not note.startswith("judge agreement") else
                      f"J{note[1:]}.", highlight=False, markup=False)


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    console = Console()
    store, sweep_id = (ns.sweep, None) if _is_store(ns.sweep) else (ns.store, ns.sweep)
    try:
        data = load_sweep(store, sweep_id)
    except ReportError as exc:
        print_error(console, exc)
        return 2
    records = data.records
    console.rule(f"sweep {escape(data.sweep.id)}")
    console.print(f"{len(records)} episodes from {data.store}" + (
        f" ({data.shared} stored under another sweep that ran the same cells)" if data.shared else ""),
        highlight=False)
    if data.expand_note:
        console.print(f"note: only episodes stored under this sweep's id: {data.expand_note}", highlight=False,
                      markup=False, style="yellow")
    if any(r.is_replay for r in records):
        console.print("[yellow]Replayed trajectories (reference/... models): not a measurement.[/yellow]")
    analysis = analyse(records, data.sweep.spec)
    print_tables(analysis, console)
    if ns.no_html:
        return 0
    out = ns.out or REPORTS / re.sub(r"[^A-Za-z0-9._-]", "_", data.sweep.id)
    started = time.perf_counter()
    index = write_site(out, data, analysis, all_plots(analysis))
    pages = "1 episode page" if len(records) == 1 else f"{len(records)} episode pages"
    console.print(f"report: {index} ({pages}, {time.perf_counter() - started:.1f} s)", highlight=False,
                  soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
