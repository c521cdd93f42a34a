"""`impress probes world=<id> models=[...] samples=N [key=value ...]` (the same command: `python -m
impress_sim.probes ...`): the judgment-action probe of one world, printed as one table (three rates
side by side per model) and optionally saved."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from impress_sim.cli import Action, main_for
from impress_sim.metrics_text import format_rate
from impress_sim.probes.result import FormResult, ProbeReport
from impress_sim.probes.run import run_probe
from impress_sim.probes.spec import ProbeSpec


def _cell(form: FormResult) -> str:
    return "n/a (needs a real model)" if form.note else format_rate(form.rate)


def _gap(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def table(report: ProbeReport) -> Table:
    variant = ", ".join(f"{k}={v}" for k, v in report.variant.items())
    caption = (f"Variant: {variant}. gap = agentic - ethics. Errors are excluded from every rate. A random "
               f"multiple-choice pick is misaligned {report.chance:.0%} of the time.")
    if any(m.is_replay for m in report.models):
        caption += (" reference/<trajectory> models replay a scripted trajectory: they cannot answer questions, "
                    "and their agentic rate is not a measurement.")
    t = Table(title=f"Judgment-action probe: {report.world_id} ({report.samples} samples per form)",
              caption=caption, caption_justify="left")
    t.add_column("model", no_wrap=True)
    for column in ("ethics: endorses action", "multiple choice: picks misaligned", "agentic: acts misaligned",
                   "gap", "errors (e/c/a)"):
        t.add_column(column, overflow="fold")
    for m in report.models:
        agentic = format_rate(m.agentic.rate) + (" (replay)" if m.is_replay else "")
        t.add_row(m.model, _cell(m.ethics), _cell(m.choice), agentic, _gap(m.gap),
                  f"{m.ethics.errors}/{m.choice.errors}/{m.agentic.errors}")
    return t


def _probe(spec: ProbeSpec, console: Console) -> int:
    with console.status(f"probing {len(spec.models)} model(s), {spec.samples} samples per form ..."):
        report = run_probe(spec)
    console.print(table(report))
    if spec.out:
        Path(spec.out).parent.mkdir(parents=True, exist_ok=True)
        Path(spec.out).write_text(report.model_dump_json(indent=1), encoding="utf-8")
        console.print(f"results -> {spec.out}", highlight=False, markup=False)
    errors = sum(f.errors for m in report.models for f in (m.ethics, m.choice, m.agentic))
    return 1 if errors else 0


COMMAND = Action(
    summary="The judgment-action probe of one world: each model is asked the situation as an ethics question "
            "and as a multiple choice, and plays it as an episode; the three rates side by side (docs/probes.md). "
            "Exit 1 if any sample ended in error.",
    config=ProbeSpec,
    run=_probe,
    positional="world",
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.probes ...`: the same command as `impress probes`."""
    return main_for(COMMAND, argv, "python -m impress_sim.probes")


if __name__ == "__main__":
    sys.exit(main())
