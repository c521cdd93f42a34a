"""`impress worlds list | check [ID ...] | validate PATH`: the world author's commands (the same:
`python -m impress_sim.worlds ...`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from impress_sim.cli import Action, Group, main_for
from impress_sim.envs.loader import load_world, world_ids
from impress_sim.envs.selfcheck import BehaviourProof, CheckReport, check_world
from impress_sim.worlds.coverage import (
    MIN_WORLDS_PER_MOTIVE,
    MIN_WORLDS_PER_RISK_TYPE,
    SHORT_RISK,
    Coverage,
    coverage,
    library_markdown,
    world_axes,
)


def _list(config: ListConfig, console: Console) -> int:
    specs = [load_world(world_id).spec for world_id in world_ids()]
    if config.format == "markdown":
        sys.stdout.write(library_markdown(specs))
        return 0
    table = Table(title="Worlds")
    table.add_column("id", no_wrap=True, style="bold")
    for col in ("domain", "motives", "risk types", "behaviours", "also varies"):
        table.add_column(col, overflow="fold")
    for spec in specs:
        table.add_row(  # world text is shown as written, never read as markup
            Text(spec.id + (" (multi-agent)" if spec.extra_agents else "")),
            Text(spec.domain),
            Text(", ".join(sorted({b.motive.value for b in spec.behaviours}))),
            Text(", ".join(sorted({b.risk_type.value for b in spec.behaviours}))),
            str(len(spec.behaviours)),
            Text(", ".join(world_axes(spec))),
        )
    console.print(table)
    found = coverage(specs)
    console.print(_coverage_grid(found))
    short = found.shortfalls()
    for line in short:
        console.print(f"   [red]✗[/red] {escape(line)}", highlight=False)
    if not short:
        console.print(f"   [green]✓[/green] {len(found.worlds)} worlds; every motive in ≥ {MIN_WORLDS_PER_MOTIVE} "
                      f"worlds, every risk type in ≥ {MIN_WORLDS_PER_RISK_TYPE}, {len(found.multi_agent)} "
                      "multi-agent worlds", highlight=False)
    return 0


def _coverage_grid(found: Coverage) -> Table:
    """Motive x risk type: how many worlds can show each cell (from their behaviours)."""
    grid = Table(title="Coverage: worlds per motive × risk type (from each world's behaviours)", title_justify="left")
    grid.add_column("motive", no_wrap=True)
    for risk in found.by_risk:
        grid.add_column(SHORT_RISK.get(risk, risk), justify="right")
    grid.add_column("worlds", justify="right", style="bold")
    for motive, worlds in found.by_motive.items():
        counts = [len(found.cells.get((motive, risk), ())) for risk in found.by_risk]
        grid.add_row(motive, *[str(n) if n else "·" for n in counts], str(len(worlds)))
    grid.add_row("worlds", *[str(len(w)) for w in found.by_risk.values()], str(len(found.worlds)), style="bold")
    return grid


def _check(console: Console, ids: list[str], *, variants: bool, verbose: bool, seeds: int | None = None) -> int:
    failed = 0
    for world in ids or world_ids():
        report = check_world(load_world(world), variants=variants, seeds=seeds)
        mark = "[green]PASS[/green]" if report.ok else "[red]FAIL[/red]"
        good, total = report.variant_rate()
        rate = f"; generated variants behaving like their route: {good}/{total} ({good / total:.0%})" if total else ""
        console.print(f"{mark} {escape(report.world_id)}: {len(report.passed)} checks passed, "
                      f"{len(report.problems)} failed{rate}", highlight=False)
        if len(report.seeds) > 1:
            console.print("   seeds (slots filled differently): " + ", ".join(
                f"{seed}: {ok} passed" + (f", [red]{bad} failed[/red]" if bad else "")
                for seed, (ok, bad) in sorted(report.seeds.items())), highlight=False)
        console.print(_proof_table(report))
        if verbose:
            for line in report.passed:
                console.print(f"   [green]✓[/green] {escape(line)}", highlight=False)
        for line in report.problems:
            console.print(f"   [red]✗[/red] {escape(line)}", highlight=False)
        for proof in report.behaviours:
            for line in proof.explained:
                console.print(f"   [yellow]~[/yellow] {escape(proof.behaviour)}: explained miss {escape(line)}",
                              highlight=False)
        failed += not report.ok
    return 1 if failed else 0


def _proof_table(report: CheckReport) -> Table:
    rate = BehaviourProof.rate
    table = Table(title=Text(f"{report.world_id}: each behaviour proven both ways"), title_justify="left")
    for col in ("behaviour", "routes detected", "near-misses silent", "refused -> attempts",
                "route variants detected", "near-miss variants silent"):
        table.add_column(col, overflow="fold")
    for p in report.behaviours:
        table.add_row(Text(p.behaviour), rate(p.routes_detected, p.routes), rate(p.near_misses_silent, p.near_misses),
                      rate(p.attempts_recorded, p.attempts), rate(p.variants_detected, p.variants),
                      rate(p.near_variants_silent, p.near_variants))
    for check, (failing, declared) in report.shortcuts.items():
        table.add_row(Text(f"task check {check}"), "", "", "", f"shortcuts failing it: {rate(failing, declared)}", "")
    return table


class ListConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["table", "markdown"] = Field(
        "table", description="table: worlds and the coverage grid; markdown: the README's world table")


class CheckConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worlds: list[str] = Field(default_factory=list, description="world ids or paths to world folders "
                              "(default: every shipped world)")
    variants: bool = Field(True, description="also prove the generated surface variants (variants=false is faster)")
    verbose: bool = Field(False, description="also list every check that passed")
    seeds: int | None = Field(None, ge=1, le=100, description="prove a world with slots at this many seeds "
                              "(default 5; seed 0 is the world as written)")


class ValidateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    world: str = Field(description="a world folder or world.yaml (or a shipped world's id)")


def _validate(config: ValidateConfig, console: Console) -> int:
    loaded = load_world(config.world)
    console.print(f"[green]valid[/green] {escape(loaded.spec.id)} ({escape(str(loaded.path))}, "
                  f"hash {loaded.content_hash})", highlight=False, soft_wrap=True)
    return 0


COMMAND = Group(
    summary="The world author's commands: list the shipped worlds, prove each world's detectors and task checks "
            "both ways, validate a world you are writing.",
    actions={
        "list": Action("list shipped worlds, the axes each varies, and the motive x risk type coverage grid",
                       ListConfig, _list),
        "check": Action("prove each world's detectors and task checks both ways; exit 1 if any check fails",
                        CheckConfig, lambda c, console: _check(console, c.worlds, variants=c.variants,
                                                               verbose=c.verbose, seeds=c.seeds),
                        positional="worlds"),
        "validate": Action("validate a world.yaml (or its folder) without running it; every problem is listed",
                           ValidateConfig, _validate, positional="world"),
    },
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.worlds ...`: the same command as `impress worlds`."""
    return main_for(COMMAND, argv, "python -m impress_sim.worlds")


if __name__ == "__main__":
    sys.exit(main())
