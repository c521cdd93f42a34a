"""`impress worlds list [PACK] | check [ID ...] | validate PATH | new NAME | schema | tools [NAME ...] | shell`:
the world author's commands (the same: `python -m impress_sim.worlds ...`). Wherever they take worlds,
a pack (a folder of generated worlds with a pack.yaml) stands for every world in it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from impress_sim.cli import Action, Group, main_for
from impress_sim.envs.loader import load_world, world_ids
from impress_sim.envs.selfcheck import BehaviourProof, CheckReport, check_world
from impress_sim.envs.tools import builtin_tools
from impress_sim.errors import UsageError, unknown
from impress_sim.packs import PackError, expand_worlds, is_pack, pack_world_paths, read_pack
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
    specs = [load_world(world).spec for world in (expand_worlds(config.worlds) if config.worlds else world_ids())]
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
    if config.worlds:  # the library's coverage minimums are not a pack's
        return 0
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
    for world in expand_worlds(ids) if ids else world_ids():
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

    worlds: list[str] = Field(default_factory=list, description="packs or world folders to list (default: the "
                              "shipped worlds, with the library's coverage minimums)")

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

    world: str = Field(description="a world folder or world.yaml (or a shipped world's id), or a pack (each of "
                       "its worlds)")


def _validate(config: ValidateConfig, console: Console) -> int:
    if is_pack(config.world):
        return _validate_pack(config.world, console)
    loaded = load_world(config.world)
    console.print(f"[green]valid[/green] {escape(loaded.spec.id)} ({escape(str(loaded.path))}, "
                  f"hash {loaded.content_hash})", highlight=False, soft_wrap=True)
    return 0


def _validate_pack(pack: str, console: Console) -> int:
    """Each world of the pack, and whether it is still what the manifest says was accepted: a world whose
    id differs is an error (reports and reviews key results by id); one whose content changed since is
    noted (it is no longer the world QC scored, though it may still be valid)."""
    manifest = read_pack(pack)
    if not manifest.worlds:
        raise PackError(f"pack {pack} has no accepted worlds")
    failed = 0
    for entry, path in zip(manifest.worlds, pack_world_paths(pack, manifest), strict=True):
        loaded = load_world(path)
        if loaded.spec.id != entry.id:
            failed += 1
            console.print(f"[red]FAIL[/red] {escape(path)}: its world.yaml says id {escape(loaded.spec.id)!r}, "
                          f"the pack lists it as {escape(entry.id)!r}", highlight=False, soft_wrap=True)
            continue
        note = "" if loaded.content_hash == entry.content_hash else (
            f" [yellow]changed since the pack was made (manifest: {entry.content_hash})[/yellow]")
        console.print(f"[green]valid[/green] {escape(entry.id)} ({escape(path)}, hash {loaded.content_hash}){note}",
                      highlight=False, soft_wrap=True)
    console.print(f"pack {escape(manifest.pack)}: {len(manifest.worlds) - failed} of {len(manifest.worlds)} "
                  "worlds valid", highlight=False, soft_wrap=True)
    return 1 if failed else 0


class NewConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the new world's id: a lowercase letter, then lowercase letters, digits or _")
    path: str = Field(".", description="the folder to create the world's folder in")


def _new(config: NewConfig, console: Console) -> int:
    from impress_sim.worlds.scaffold import scaffold

    target = scaffold(config.name, Path(config.path))
    folder = target.parent
    shown_folder = str(folder) if folder.is_absolute() or str(folder).startswith(".") else f"./{folder}"
    console.print(f"created {escape(str(target))}: a world that validates and passes its self-check.\n"
                  f"next: python -m impress_sim.worlds validate {escape(shown_folder)}\n"
                  f"      python -m impress_sim.worlds check {escape(shown_folder)}\n"
                  f"      python -m impress_sim.run world={escape(shown_folder)} agent=human", highlight=False,
                  soft_wrap=True)
    return 0


class SchemaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["markdown", "json"] = Field("markdown", description="markdown (docs/world-schema.md) or json "
                                                "(the JSON schema of world.yaml)")


def _schema(config: SchemaConfig, console: Console) -> int:
    from impress_sim.worlds import schema

    sys.stdout.write(schema.markdown() if config.format == "markdown" else schema.json_schema())
    return 0


class ToolsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(default_factory=list, description="tools to show (default: every tool); `bash` also "
                             "shows the simulated shell's commands")
    world: str | None = Field(None, description="a world (id or folder): also list its hooks.py tools")


def _tools(config: ToolsConfig, console: Console) -> int:
    from impress_sim.worlds import toollist

    builtins = builtin_tools()
    tools = dict(load_world(config.world).world_tools) if config.world else dict(builtins)
    for name in config.names:
        if name not in tools:
            raise UsageError(unknown("tool", name, sorted(tools)) + ("" if config.world else
                             " (a world's own tools: add world=ID)"))
    if not config.names:
        sys.stdout.write(toollist.tools_markdown(tools, builtins))
        return 0
    for name in config.names:
        sys.stdout.write(toollist.tool_markdown(tools[name], source="built-in" if name in builtins
                                                else "the world's hooks.py") + "\n")
    if "bash" in config.names:
        sys.stdout.write(toollist.shell_markdown())
    return 0


class ShellConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _shell(config: ShellConfig, console: Console) -> int:
    from impress_sim.worlds import toollist

    sys.stdout.write(toollist.shell_markdown())
    return 0


COMMAND = Group(
    summary="The world author's commands: start a world (new), look up fields, tools and shell commands "
            "(schema, tools, shell), validate a world you are writing, prove each world's detectors and task "
            "checks both ways (check), list the shipped worlds.",
    actions={
        "list": Action("list shipped worlds (or a pack's), the axes each varies, and the motive x risk type "
                       "coverage grid", ListConfig, _list, positional="worlds"),
        "check": Action("prove each world's detectors and task checks both ways; exit 1 if any check fails",
                        CheckConfig, lambda c, console: _check(console, c.worlds, variants=c.variants,
                                                               verbose=c.verbose, seeds=c.seeds),
                        positional="worlds"),
        "validate": Action("validate a world.yaml (or its folder) without running it; every problem is listed",
                           ValidateConfig, _validate, positional="world"),
        "new": Action("scaffold a commented world folder that validates and passes its self-check; never "
                      "overwrites", NewConfig, _new, positional="name"),
        "schema": Action("print the world file reference generated from the models (docs/world-schema.md), or "
                         "its JSON schema", SchemaConfig, _schema),
        "tools": Action("list every tool with its arguments and what it journals (world=ID adds its hooks.py "
                        "tools)", ToolsConfig, _tools, positional="names"),
        "shell": Action("print the simulated shell's commands and options (docs/shell.md)", ShellConfig, _shell),
    },
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.worlds ...`: the same command as `impress worlds`."""
    return main_for(COMMAND, argv, "python -m impress_sim.worlds")


if __name__ == "__main__":
    sys.exit(main())
