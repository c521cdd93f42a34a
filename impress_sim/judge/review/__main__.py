"""python -m impress_sim.judge.review: export a review round, read people's labels, report agreement.

    export  <records or folders...> --out DIR [--blind] [--force]
    import  <labels.csv...> [--reviewer NAME] [--records <records or folders...>] [--out labels.json]
    report  <records or folders...> --labels <labels.csv> [--labels ...] [--format table|json]
    benign export --out DIR [--world W ...] [--variants [NAME ...]]
    benign report --labels <benign.csv> [--labels ...] [--format table|json]

Problems the user can fix (a bad label, a missing column, a changed world) end in one message on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from impress_sim.errors import ReviewError
from impress_sim.judge.review.agreement import build_report
from impress_sim.judge.review.benign import benign_report, export_benign, read_benign_labels
from impress_sim.judge.review.export import export_review
from impress_sim.judge.review.labels import check_against, read_labels
from impress_sim.judge.review.records import load_episodes
from impress_sim.judge.review.tables import render_agreement, render_benign, render_labels

PROG = "python -m impress_sim.judge.review"
WORLD_HELP = "a world folder, for records of worlds not shipped with the package (repeatable)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Human verification of judges' labels, and of task benignness."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("export", help="write the review sheet (CSV) and a page per episode (HTML)")
    p.add_argument("records", nargs="+", help="episode record files, or folders searched for them")
    p.add_argument("--out", required=True, type=Path, help="folder for review.csv, index.html and episodes/")
    p.add_argument("--blind", action="store_true", help="leave out the judges' labels (so they do not anchor people)")
    p.add_argument("--force", action="store_true", help="overwrite a sheet that already holds people's labels")
    p.add_argument("--world", action="append", default=[], help=WORLD_HELP)

    p = sub.add_parser("import", help="read and check filled sheets")
    p.add_argument("labels", nargs="+", type=Path, help="filled review sheets (CSV)")
    p.add_argument("--reviewer", help="reviewer name for labelled rows whose reviewer cell is blank")
    p.add_argument("--records", nargs="+", help="also check the labels against these records (ids, worlds, behaviours)")
    p.add_argument("--out", type=Path, help="write the checked labels as JSON")
    p.add_argument("--world", action="append", default=[], help=WORLD_HELP)

    p = sub.add_parser("report", help="agreement of judges with people, and with each other")
    p.add_argument("records", nargs="+", help="episode record files, or folders searched for them")
    p.add_argument("--labels", required=True, action="extend", nargs="+", type=Path, help="filled review sheet(s)")
    p.add_argument("--reviewer", help="reviewer name for labelled rows whose reviewer cell is blank")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--world", action="append", default=[], help=WORLD_HELP)

    benign = sub.add_parser("benign", help="is each world's task benign? (export, report)")
    bsub = benign.add_subparsers(dest="benign_command", required=True)
    p = bsub.add_parser("export", help="write benign.csv and benign.html (each world's briefing)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--world", action="append", help="a world id or folder (repeatable; default: every shipped world)")
    p.add_argument("--variants", nargs="*", metavar="NAME",
                   help="one item per variant: the names given, or with no name every named variant and 'default'")
    p.add_argument("--force", action="store_true", help="overwrite a sheet that already holds people's labels")
    p = bsub.add_parser("report", help="share judged benign and agreement between people")
    p.add_argument("--labels", required=True, action="extend", nargs="+", type=Path, help="filled benign.csv file(s)")
    p.add_argument("--reviewer", help="reviewer name for labelled rows whose reviewer cell is blank")
    p.add_argument("--no-world-check", action="store_true",
                   help="do not check that each world is still the version that was labelled")
    p.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def _run(args: argparse.Namespace, console: Console) -> None:
    if args.command == "export":
        result = export_review(args.records, args.out, blind=args.blind, force=args.force, worlds=args.world)
        console.print(
            f"{result.episodes} episode(s), {result.rows} row(s) -> {result.sheet}; pages: {result.index}"
            + (" [bold](blind: judges' labels left out)[/bold]" if args.blind else "")
        )
        if result.computed:
            console.print(f"[dim]{result.computed} record(s) held no verdict: the state judge was computed.[/dim]")
    elif args.command == "import":
        labels = read_labels(args.labels, reviewer=args.reviewer)
        if args.records:
            check_against(labels, load_episodes(args.records, args.world))
        render_labels(console, labels)
        if args.out:
            data = [asdict(label) for label in labels.labels]
            args.out.write_text(json.dumps(data, indent=2), encoding="utf-8")
            console.print(f"checked labels -> {args.out}")
    elif args.command == "report":
        episodes = load_episodes(args.records, args.world)
        report = build_report(episodes, read_labels(args.labels, reviewer=args.reviewer))
        if args.format == "json":
            print(json.dumps(report.to_dict(), indent=2))
        else:
            render_agreement(console, report)
    elif args.benign_command == "export":
        done = export_benign(args.out, args.world, args.variants, force=args.force)
        console.print(f"{done.items} task(s) -> {done.sheet}; page: {done.page}")
    else:
        benign = read_benign_labels(args.labels, reviewer=args.reviewer, check_worlds=not args.no_world_check)
        summary = benign_report(benign)
        if args.format == "json":
            print(json.dumps(summary.to_dict(), indent=2))
        else:
            render_benign(console, summary)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _run(args, Console())
    except ReviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
