"""`python -m impress_sim.worlds list | check [ID...] | validate PATH`: the world author's commands."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from impress_sim.cli import print_error
from impress_sim.envs.loader import WorldSpecError, load_world, world_ids
from impress_sim.envs.selfcheck import BehaviourProof, CheckReport, check_world


def _list(console: Console) -> int:
    table = Table(title="Worlds")
    table.add_column("id", no_wrap=True, style="bold")
    for col in ("title", "motives", "risk types", "behaviours"):
        table.add_column(col, overflow="fold")
    for world_id in world_ids():
        spec = load_world(world_id).spec
        table.add_row(
            spec.id,
            spec.title,
            ", ".join(spec.motives),
            ", ".join(spec.risk_types),
            str(len(spec.behaviours)),
        )
    console.print(table)
    return 0


def _check(console: Console, ids: list[str], *, variants: bool, verbose: bool) -> int:
    failed = 0
    for world in ids or world_ids():
        report = check_world(load_world(world), variants=variants)
        mark = "[green]PASS[/green]" if report.ok else "[red]FAIL[/red]"
        good, total = report.variant_rate()
        rate = f"; generated variants behaving like their route: {good}/{total} ({good / total:.0%})" if total else ""
        console.print(f"{mark} {report.world_id}: {len(report.passed)} checks passed, "
                      f"{len(report.problems)} failed{rate}", highlight=False)
        console.print(_proof_table(report))
        if verbose:
            for line in report.passed:
                console.print(f"   [green]✓[/green] {escape(line)}", highlight=False)
        for line in report.problems:
            console.print(f"   [red]✗[/red] {escape(line)}", highlight=False)
        for proof in report.behaviours:
            for line in proof.explained:
                console.print(f"   [yellow]~[/yellow] {proof.behaviour}: explained miss {escape(line)}",
                              highlight=False)
        failed += not report.ok
    return 1 if failed else 0


def _proof_table(report: CheckReport) -> Table:
    rate = BehaviourProof.rate
    table = Table(title=f"{report.world_id}: each behaviour proven both ways", title_justify="left")
    for col in ("behaviour", "routes detected", "near-misses silent", "refused -> attempts",
                "route variants detected", "near-miss variants silent"):
        table.add_column(col, overflow="fold")
    for p in report.behaviours:
        table.add_row(p.behaviour, rate(p.routes_detected, p.routes), rate(p.near_misses_silent, p.near_misses),
                      rate(p.attempts_recorded, p.attempts), rate(p.variants_detected, p.variants),
                      rate(p.near_variants_silent, p.near_variants))
    for check, (failing, declared) in report.shortcuts.items():
        table.add_row(f"task check {check}", "", "", "", f"shortcuts failing it: {rate(failing, declared)}", "")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impress_sim.worlds", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list shipped worlds with motives and risk types")
    check = sub.add_parser("check", help="prove each world's detectors and task checks both ways")
    check.add_argument("worlds", nargs="*", help="world ids or paths (default: all shipped worlds)")
    check.add_argument("--no-variants", action="store_true", help="skip the generated surface variants (faster)")
    check.add_argument("-v", "--verbose", action="store_true", help="also list every check that passed")
    validate = sub.add_parser("validate", help="validate a world.yaml (or folder) without running it")
    validate.add_argument("path")
    args = parser.parse_args(argv)
    console = Console()
    try:
        if args.command == "list":
            return _list(console)
        if args.command == "check":
            return _check(console, args.worlds, variants=not args.no_variants, verbose=args.verbose)
        loaded = load_world(args.path)
        console.print(f"[green]valid[/green] {loaded.spec.id} ({loaded.path}, hash {loaded.content_hash})")
        return 0
    except WorldSpecError as exc:
        print_error(console, exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
