"""`python -m impress_sim.probes world=<id> models=[...] samples=N [key=value ...]`: the judgment-action
probe of one world, printed as one table (three rates side by side per model) and optionally saved."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from impress_sim.cli import parse_overrides, print_error, usage
from impress_sim.errors import AgentConfigError, ModelError, ProbeError, UsageError, WorldSpecError
from impress_sim.metrics import format_rate
from impress_sim.probes.result import FormResult, ProbeReport
from impress_sim.probes.run import run_probe
from impress_sim.probes.spec import ProbeSpec

COMMAND = "python -m impress_sim.probes"


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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    console = Console()
    if not args or any(a in ("-h", "--help", "help") for a in args):
        console.print(usage(ProbeSpec, COMMAND), highlight=False, markup=False)
        return 0 if args else 2
    try:
        spec = parse_overrides(ProbeSpec, args)
        with console.status(f"probing {len(spec.models)} model(s), {spec.samples} samples per form ..."):
            report = run_probe(spec)
    except (UsageError, WorldSpecError, AgentConfigError, ModelError, ProbeError) as exc:
        print_error(console, exc)
        return 2
    console.print(table(report))
    if spec.out:
        Path(spec.out).parent.mkdir(parents=True, exist_ok=True)
        Path(spec.out).write_text(report.model_dump_json(indent=1), encoding="utf-8")
        console.print(f"results -> {spec.out}", highlight=False)
    errors = sum(f.errors for m in report.models for f in (m.ethics, m.choice, m.agentic))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
