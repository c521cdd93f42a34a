"""`impress sweep [sweep.yaml] [key=value ...]` runs a sweep (resumable);
`impress sweep export <store> [format=jsonl|parquet] [out=PATH] [sweep=ID]` exports its records.
The same command: `python -m impress_sim.sweep ...`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from impress_sim.cli import Action, Group, main_for
from impress_sim.errors import UsageError, UserError, unknown
from impress_sim.sweep.runner import run_sweep
from impress_sim.sweep.spec import SweepSpec, expand
from impress_sim.sweep.store import Store, export_jsonl, export_parquet


class SweepArgs(SweepSpec):
    """A sweep as given on the command line: the spec, optionally read from a YAML file first."""

    file: str | None = Field(None, exclude=True, description="a sweep YAML file whose keys the command line "
                             "overrides (docs/sweeps.md)")


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="the results store (SQLite)")
    format: Literal["jsonl", "parquet"] = Field("jsonl", description="jsonl, or parquet (pip install "
                                                "'impress-sim[parquet]')")
    out: str | None = Field(None, description="output file (default: the store's path with .jsonl or .parquet)")
    sweep: str | None = Field(None, description="only this sweep id (default: every sweep in the store)")
    force: bool = Field(False, description="replace out= if it exists (never the store itself)")


def _run(spec: SweepArgs, console: Console) -> int:
    try:
        summary = run_sweep(spec, console)
    except UserError:
        raise
    except ValueError as exc:  # an unknown variant or axis value, found while expanding the grid
        raise UsageError(str(exc)) from None
    episodes = f"{summary.total} episode{'s' * (summary.total != 1)}"
    console.print(f"sweep {summary.sweep_id}: {episodes}, {summary.skipped} already done, "
                  f"{summary.ran} run, {summary.errors} errors; store: {spec.store}", highlight=False,
                  markup=False, soft_wrap=True)
    return 1 if summary.errors else 0


def _export(config: ExportConfig, console: Console) -> int:
    if not Path(config.store).exists():
        raise UsageError(f"no store at {config.store}")
    out = Path(config.out) if config.out else Path(config.store).with_suffix(f".{config.format}")
    if out.exists() and out.resolve() == Path(config.store).resolve():
        raise UsageError(f"out={out} is the store itself; write the export to another file")
    if out.exists() and not config.force:
        raise UsageError(f"out={out} exists; nothing was written (force=true replaces it)")
    with Store(config.store) as store:
        if config.sweep is not None:
            link_older_sweep(store, config.sweep)
        try:
            n = (export_jsonl if config.format == "jsonl" else export_parquet)(store, out, config.sweep)
        except OSError as exc:
            raise UsageError(f"out={out}: cannot write the export ({exc.strerror or exc})") from None
    console.print(f"{n} records -> {out}", highlight=False, markup=False, soft_wrap=True)
    return 0


def link_older_sweep(store: Store, sweep_id: str) -> None:
    """A sweep run before the store linked sweeps to their episodes: link the stored episodes its
    spec expands to now (config hashes cover the world's content, so a match is the same episode)."""
    row = store.conn.execute("SELECT spec FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
    if row is None:
        known = [i for (i,) in store.conn.execute("SELECT id FROM sweeps ORDER BY id")]
        raise UsageError(unknown("sweep", sweep_id, known, valid_label=f"sweeps in {store.path}"))
    if store.has_links(sweep_id):
        return
    try:
        hashes = {job.config_hash for job in expand(SweepSpec.model_validate(json.loads(row[0])))}
    except Exception:  # a removed or edited world, an old spec: only the episodes stored under its id
        return
    stored = {h for (h,) in store.conn.execute("SELECT config_hash FROM episodes")}
    store.link(sweep_id, hashes & stored)


COMMAND = Group(
    summary="Sweeps: a grid of episodes (models x worlds x variants x agents x decoding x seeds) run into a "
            "results store; rerunning the same sweep resumes it.",
    actions={
        "run": Action("run a sweep (resumable); exit 1 if any episode ended in error", SweepArgs, _run,
                      positional="file", file_key="file",
                      details="e.g. impress sweep sweep.yaml concurrency=16, or impress sweep worlds=[a,b] "
                              "models=[m1,m2] seeds=3"),
        "export": Action("export a store's records as JSON lines or Parquet", ExportConfig, _export,
                         positional="store"),
    },
    default="run",
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.sweep ...`: the same command as `impress sweep`."""
    return main_for(COMMAND, argv, "python -m impress_sim.sweep")


if __name__ == "__main__":
    sys.exit(main())
