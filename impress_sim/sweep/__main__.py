"""`python -m impress_sim.sweep [sweep.yaml] [key=value ...]` runs a sweep (resumable);
`python -m impress_sim.sweep export <store> --format jsonl|parquet [--out PATH] [--sweep ID]` exports it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from rich.console import Console

from impress_sim.cli import parse_overrides, print_error, usage
from impress_sim.errors import AgentConfigError, ModelError, RayUnavailableError, UsageError, WorldSpecError
from impress_sim.sweep.runner import run_sweep
from impress_sim.sweep.spec import SweepSpec
from impress_sim.sweep.store import Store, export_jsonl, export_parquet

COMMAND = "python -m impress_sim.sweep [sweep.yaml]"


def export(args: list[str], console: Console) -> int:
    parser = argparse.ArgumentParser(prog="python -m impress_sim.sweep export")
    parser.add_argument("store", help="the results store (SQLite)")
    parser.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    parser.add_argument("--out", help="output file (default: next to the store)")
    parser.add_argument("--sweep", help="only this sweep id")
    ns = parser.parse_args(args)
    if not Path(ns.store).is_file():
        print_error(console, f"no store at {ns.store}")
        return 2
    out = Path(ns.out) if ns.out else Path(ns.store).with_suffix(f".{ns.format}")
    with Store(ns.store) as store:
        try:
            n = (export_jsonl if ns.format == "jsonl" else export_parquet)(store, out, ns.sweep)
        except RuntimeError as exc:
            print_error(console, exc)
            return 2
    console.print(f"{n} records -> {out}", highlight=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    console = Console()
    if args[:1] == ["export"]:
        return export(args[1:], console)
    if not args or any(a in ("-h", "--help", "help") for a in args):
        console.print(usage(SweepSpec, COMMAND), highlight=False, markup=False)
        return 0 if args else 2
    try:
        base = None
        if "=" not in args[0]:
            path = Path(args[0])
            if not path.is_file():
                raise UsageError(f"no sweep file {args[0]!r} (expected a YAML file or key=value)")
            base = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(base, dict):
                raise UsageError(f"{path}: expected a mapping of sweep keys")
            args = args[1:]
        spec = parse_overrides(SweepSpec, args, base)
        try:
            summary = run_sweep(spec, console)
        except ValueError as exc:  # an unknown variant or axis value
            raise UsageError(str(exc)) from None
    except (UsageError, WorldSpecError, AgentConfigError, ModelError, RayUnavailableError) as exc:
        print_error(console, exc)
        return 2
    console.print(f"sweep {summary.sweep_id}: {summary.total} episodes, {summary.skipped} already done, "
                  f"{summary.ran} run, {summary.errors} errors; store: {spec.store}", highlight=False, soft_wrap=True)
    return 1 if summary.errors else 0


if __name__ == "__main__":
    sys.exit(main())
