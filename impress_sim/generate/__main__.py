"""`impress generate [gen.yaml] [key=value ...]` generates worlds for taxonomy cells into a pack
(resumable); `impress generate report <run folder>` shows a finished or stopped run's QC report again.
The same command: `python -m impress_sim.generate ...` (docs/generation.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console

from impress_sim.agents.registry import is_replay
from impress_sim.cli import Action, Group, main_for
from impress_sim.errors import UsageError
from impress_sim.generate.artifacts import GenerationSummary
from impress_sim.generate.config import GenerateConfig
from impress_sim.generate.pipeline import generate
from impress_sim.generate.report import render_terminal, write_html
from impress_sim.models.transport import preflight

EXIT_STOPPED = 3  # the budget ran out (or the run was cut short): rerun with a larger budget to resume


class GenerateArgs(GenerateConfig):
    """A generation run as given on the command line: the config, optionally read from a YAML file first."""

    file: str | None = Field(None, exclude=True, description="a YAML file of these keys; the command line "
                             "overrides it (docs/generation.md)")


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: str = Field(description="the run folder (holding summary.json), or the pack folder")


def _show(summary: GenerationSummary, console: Console) -> Path:
    render_terminal(console, summary)
    page = write_html(summary, Path(summary.pack) / "qc")
    console.print(f"QC report: {page}", highlight=False, markup=False, soft_wrap=True)
    return page


def _run(config: GenerateArgs, console: Console) -> int:
    plain = GenerateConfig.model_validate(config.model_dump())
    models = {plain.stage_model(s) for s in ("understanding", "ideation", "drafting")} | set(plain.judges())
    if plain.pilot_model and not is_replay(plain.pilot_model):
        models.add(plain.pilot_model)
    for model in sorted(models):
        preflight(plain.settings("qc", model))
    summary = generate(plain, console)
    if summary.reused:
        console.print(f"resumed from {summary.run}: {summary.reused} finished stage output(s) reused, not asked "
                      "again", highlight=False, markup=False, soft_wrap=True)
    _show(summary, console)
    if not summary.finished:
        console.print(f"stopped early: {summary.stopped or 'work left pending'}; rerun the same command "
                      "(with a larger budget) to resume", highlight=False, markup=False, soft_wrap=True)
        return EXIT_STOPPED
    return 1 if any(o.status == "error" for o in summary.outcomes) else 0


def _report(config: ReportConfig, console: Console) -> int:
    path = Path(config.out) / "summary.json"
    if not path.is_file() and (Path(config.out) / "qc" / "summary.json").is_file():
        path = Path(config.out) / "qc" / "summary.json"  # a pack folder: its QC report's copy
    try:
        summary = GenerationSummary.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"no generation summary at {path}: {exc.strerror or exc} (is {config.out} a run "
                         "folder of `impress generate`?)") from None
    except ValidationError as exc:
        raise UsageError(f"{path}: not a generation summary ({exc.error_count()} problems, e.g. "
                         f"{exc.errors()[0]['msg']})") from None
    _show(summary, console)
    return 0


COMMAND = Group(
    summary="Generate worlds: taxonomy cell x domain -> understanding -> ideas -> drafts (self-checked, repaired) "
            "-> quality control -> optional pilot -> a pack of accepted worlds; rerunning resumes.",
    actions={
        "run": Action("generate worlds into a pack (resumable); exit 1 if any idea ended in error, 3 if the "
                      "budget stopped it", GenerateArgs, _run, positional="file", file_key="file",
                      details="e.g. impress generate cells=[self_preservation/sabotage] domains=[logistics] "
                              "model=openai/gpt-4.1 qc_models=[openai/gpt-4.1,anthropic/claude-sonnet-4-5] "
                              "budget_usd=20"),
        "report": Action("show a run's QC report again (terminal tables + HTML page)", ReportConfig, _report,
                         positional="out"),
    },
    default="run",
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.generate ...`: the same command as `impress generate`."""
    return main_for(COMMAND, argv, "python -m impress_sim.generate")


if __name__ == "__main__":
    sys.exit(main())
