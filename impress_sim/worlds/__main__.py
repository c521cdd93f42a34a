"""`python -m impress_sim.worlds list | check [ID...] | validate PATH`: the world author's commands."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from impress_sim.cli import print_error
from impress_sim.envs.loader import WorldSpecError, load_world, world_ids
from impress_sim.envs.selfcheck import check_world


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


def _check(console: Console, ids: list[str]) -> int:
    failed = 0
    for world in ids or world_ids():
        report = check_world(load_world(world))
        mark = "[green]PASS[/green]" if report.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {report.world_id}")
        for line in report.passed:
            console.print(f"   [green]✓[/green] {line}", highlight=False)
        for line in report.problems:
            console.print(f"   [red]✗[/red] {line}", highlight=False)
        failed += not report.ok
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impress_sim.worlds", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list shipped worlds with motives and risk types")
    check = sub.add_parser("check", help="prove each world's detectors and task checks both ways")
    check.add_argument("worlds", nargs="*", help="world ids or paths (default: all shipped worlds)")
    validate = sub.add_parser("validate", help="validate a world.yaml (or folder) without running it")
    validate.add_argument("path")
    args = parser.parse_args(argv)
    console = Console()
    try:
        if args.command == "list":
            return _list(console)
        if args.command == "check":
            return _check(console, args.worlds)
        loaded = load_world(args.path)
        console.print(f"[green]valid[/green] {loaded.spec.id} ({loaded.path}, hash {loaded.content_hash})")
        return 0
    except WorldSpecError as exc:
        print_error(console, exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
