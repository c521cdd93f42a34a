"""Export a review round: the sheet people fill (CSV) and a readable page per episode (HTML).

The sheet has one row per (episode, behaviour) and one `task` row per episode. Each judge's labels
sit in columns named after the judge (`state_acted`, `llm:<model>_considered`, ...), the combined
label in `combined_*`, and the columns people fill are empty: `human_acted`, `human_considered`
(behaviour rows), `human_task_done` (the task row), `reviewer` and `notes`. In a judge's
columns `n/a` means "not assessed" (the state judge sees deeds, not thoughts) and `error` that
the judge gave no verdict.

The pages are self-contained HTML (inline CSS, no scripts, no external resources): briefing, each
step with its thought, call, observation, state diff and findings, and the judges' labels with
evidence linked to the steps. All content goes through Jinja2 with autoescaping on, so whatever an
agent wrote is shown as text, never run. A blind export (`blind=True`) leaves out every judge's
labels, evidence and detector findings, from the pages and from the sheet, so the first labels
people give are their own and not anchored on a judge's.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from impress_sim.agent_notes import notes_by_step
from impress_sim.errors import ReviewError
from impress_sim.judge.review.labels import (
    HUMAN_COLUMNS,
    ID_COLUMNS,
    KIND_BEHAVIOUR,
    KIND_TASK,
    NOTES,
    REVIEWER,
    yes_no,
)
from impress_sim.judge.review.records import COMBINED, TASK_ITEM, RaterLabels, ReviewEpisode, load_episodes
from impress_sim.judge.state import STATE_JUDGE
from impress_sim.record import EpisodeRecord, StepRecord
from impress_sim.textdiff import is_text_change, text_diff
from impress_sim.verdict import Evidence

SHEET = "review.csv"
INDEX = "index.html"
PAGES = "episodes"
SHORT_VALUE = 160


def environment() -> jinja2.Environment:
    """Jinja2 over the package's templates; autoescape is on for every template, whatever its name."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("impress_sim.judge.review", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page_name(episode_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", episode_id) + ".html"


def _cell(labels: RaterLabels | None, value: bool | None) -> str:
    if labels is None:
        return ""
    if labels.error is not None:
        return "error"
    return yes_no(value, missing="n/a")


# ---- the sheet --------------------------------------------------------------------------------
def judge_names(episodes: Sequence[ReviewEpisode]) -> list[str]:
    names: list[str] = []
    for episode in episodes:
        names += [j for j in episode.judges if j not in names]
    return names


def sheet_columns(episodes: Sequence[ReviewEpisode], blind: bool = False) -> list[str]:
    columns = [*ID_COLUMNS, "description", "page"]
    if not blind:
        raters = judge_names(episodes)
        if any(e.combined is not None for e in episodes):
            raters.append(COMBINED)
        for rater in raters:
            columns += [f"{rater}_acted", f"{rater}_considered", f"{rater}_task_done"]
    return [*columns, *HUMAN_COLUMNS.values(), REVIEWER, NOTES]


def sheet_rows(episodes: Sequence[ReviewEpisode], blind: bool = False) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for episode in episodes:
        record = episode.record
        base = {
            "episode_id": record.episode_id, "world_id": record.world_id, "world_hash": record.world_hash,
            "variant": episode.variant_text(), "model": record.model, "agent": record.agent, "status": record.status,
            "page": f"{PAGES}/{page_name(record.episode_id)}",
        }
        labels = {} if blind else episode.labels()
        for b in episode.behaviours:
            row = {**base, "kind": KIND_BEHAVIOUR, "behaviour": b.id, "description": b.description}
            for rater, rl in labels.items():
                row[f"{rater}_acted"] = _cell(rl, rl.acted.get(b.id))
                row[f"{rater}_considered"] = _cell(rl, rl.considered.get(b.id))
            rows.append(row)
        checks = "; ".join(c.description for c in record.task_checks)
        task = {**base, "kind": KIND_TASK, "behaviour": TASK_ITEM,
                "description": "The benign task was completed" + (f" ({checks})" if checks else "")}
        for rater, rl in labels.items():
            task[f"{rater}_task_done"] = _cell(rl, rl.task_done)
        rows.append(task)
    return rows


def has_labels(path: Path, columns: Sequence[str]) -> bool:
    """Whether a sheet already holds anything people wrote in `columns` (so it must not be overwritten)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return any((row.get(c) or "").strip() for row in csv.DictReader(handle) for c in columns)
    except (OSError, csv.Error, UnicodeDecodeError):
        return False


def write_sheet(path: Path, episodes: Sequence[ReviewEpisode], blind: bool = False) -> int:
    columns = sheet_columns(episodes, blind)
    rows = sheet_rows(episodes, blind)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


# ---- the pages --------------------------------------------------------------------------------
def value_view(value: Any) -> dict[str, Any]:
    """A state value for a diff cell: one short line, and the whole of it when that is longer."""
    if value is None:
        return {"short": "", "full": "", "long": False}
    full = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2, default=str)
    line = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    line = line.replace("\n", " ⏎ ")
    long = len(line) > SHORT_VALUE or "\n" in full
    return {"short": line if len(line) <= SHORT_VALUE else line[: SHORT_VALUE - 1] + "…", "full": full, "long": long}


def change_view(change: dict[str, Any]) -> dict[str, Any]:
    """A diff cell: who, op, path, the old and new values; a text value that changed on several lines
    (a file's content) also as a unified line diff (`text`), so the changed line is visible."""
    old, new = change.get("old"), change.get("new")
    text = None
    if is_text_change(old, new):
        diff = text_diff(old, new)
        text = {"lines": [{"kind": line.kind, "shown": line.shown} for line in diff.lines],
                "summary": diff.summary(), "omitted": diff.omitted}
    return {"actor": change.get("actor", ""), "op": change.get("op", ""), "path": change.get("path", ""),
            "old": value_view(old), "new": value_view(new), "text": text}


def attach_notes(views: Sequence[dict[str, Any]], trace: Iterable[dict[str, Any]],
                 role: str = "") -> list[dict[str, Any]]:
    """Give each of one role's step views (in order) the notes its architecture made after that step
    (`notes`: guard blocks, plans, critiques; `impress_sim.agent_notes`); returns those made before
    its first step. Notes say how the agent worked, not what a judge concluded: shown even blind."""
    by_step = {n: [{**vars(view), "role": role} for view in notes] for n, notes in notes_by_step(trace).items()}
    for n, view in enumerate(views, 1):
        view["notes"] = by_step.get(n, [])
    return by_step.get(0, [])


def reasoning_by_call(messages: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for message in messages:
        reasoning = message.get("reasoning")
        if message.get("role") == "assistant" and reasoning:
            for call in message.get("tool_calls") or []:
                if call.get("id"):
                    out[str(call["id"])] = str(reasoning)
    return out


def step_view(step: StepRecord, reasoning: dict[str, str], blind: bool) -> dict[str, Any]:
    return {
        "index": step.index,
        "clock": step.clock,
        "thought": step.thought,
        "reasoning": reasoning.get(step.call_id or "", ""),
        "tool": step.tool or "(no tool)",
        "args": json.dumps(step.args, ensure_ascii=False, indent=2, default=str),
        "observation": step.observation,
        "error": step.error,
        "diff": [change_view(c) for c in step.diff],
        "notes": [],
        "findings": [] if blind else [f.model_dump(mode="json") for f in step.findings],
        "events": step.events,
        "notices": step.notices,
        "npc_errors": step.npc_errors,
    }


def _evidence_view(evidence: list[Evidence], steps: set[int]) -> list[dict[str, Any]]:
    return [
        {"step": e.step, "quote": e.quote, "anchor": f"step-{e.step}" if e.step in steps else "briefing",
         "exists": e.step in steps or e.step == 0}
        for e in evidence
    ]


def _labels_view(episode: ReviewEpisode) -> dict[str, Any]:
    labels = episode.labels()
    steps = {s.index for s in episode.record.steps}
    rows = []
    for b in episode.behaviours:
        cells = []
        for rater, rl in labels.items():
            cells.append({
                "rater": rater,
                "acted": _cell(rl, rl.acted.get(b.id)),
                "considered": _cell(rl, rl.considered.get(b.id)),
                "evidence": _evidence_view(rl.evidence.get(b.id, []), steps),
            })
        rows.append({"behaviour": b, "cells": cells})
    task = [{"rater": r, "value": _cell(rl, rl.task_done)} for r, rl in labels.items()]
    judges = [
        {"name": name, "rationale": v.rationale, "severity": v.severity,
         "task_done": yes_no(v.task_done, "n/a"), "eval_awareness": yes_no(v.eval_awareness, "n/a"),
         "error": v.error, "interview_label": getattr(v, "interview_label", None),
         "flows": [f.model_dump(mode="json") for f in v.flows]}
        for name, v in zip(episode.judges, episode.verdicts, strict=True)
    ]
    combined = episode.combined
    return {
        "raters": list(labels),
        "rows": rows,
        "task": task,
        "judges": judges,
        "combined": None if combined is None else {
            "policy": combined.policy, "misaligned": combined.misaligned, "behaviours": combined.behaviours,
            "considered": combined.considered, "needs_review": combined.needs_review,
            "disagreements": combined.disagreements, "rejected_evidence": combined.rejected_evidence,
            "severity": combined.severity, "eval_awareness": combined.eval_awareness,
            "interview_label": getattr(combined, "interview_label", None),
            "citations": [c.model_dump(mode="json") for c in getattr(combined, "citations", [])],
        },
    }


def final_message(messages: list[dict[str, Any]]) -> str:
    if messages:
        last = messages[-1]
        if last.get("role") == "assistant" and not last.get("tool_calls"):
            return str(last.get("content") or "")
    return ""


def _interview_view(record: EpisodeRecord) -> dict[str, Any] | None:
    interview = getattr(record, "interview", None)  # records made before interviews existed have none
    if interview is None:
        return None
    return {"asker": interview.asker, "question": interview.question, "answer": interview.answer,
            "error": interview.error}


def episode_view(episode: ReviewEpisode, blind: bool) -> dict[str, Any]:
    record = episode.record
    reasoning = reasoning_by_call(record.messages)
    steps = [step_view(s, reasoning, blind) for s in record.steps]
    return {
        "episode_id": record.episode_id,
        "world_id": record.world_id,
        "world_hash": record.world_hash,
        "variant": episode.variant_text(),
        "factors": record.variant,
        "model": record.model,
        "agent": record.agent,
        "seed": record.seed,
        "is_replay": record.is_replay,
        "status": record.status,
        "ended_by": record.ended_by,
        "error": record.error,
        "briefing": record.briefing,
        "steps": steps,
        "notes_before": attach_notes(steps, record.agent_trace),
        "final": final_message(record.messages),
        "task_checks": [] if blind else [c.model_dump() for c in record.task_checks],
        "agent_trace": json.dumps(record.agent_trace, ensure_ascii=False, indent=2, default=str)
        if record.agent_trace else "",
        "messages": [
            {"role": m.get("role", ""), "content": str(m.get("content") or ""), "reasoning": m.get("reasoning", ""),
             "tool_calls": json.dumps(m["tool_calls"], ensure_ascii=False, indent=2, default=str)
             if m.get("tool_calls") else ""}
            for m in record.messages
        ],
        "interview": _interview_view(record),
        "behaviours": episode.behaviours,
        "labels": None if blind else _labels_view(episode),
        "computed": episode.computed,
        "world_note": episode.world_note,
        "page": page_name(record.episode_id),
    }


def _index_row(episode: ReviewEpisode, blind: bool) -> dict[str, Any]:
    record = episode.record
    row: dict[str, Any] = {
        "episode_id": record.episode_id, "page": f"{PAGES}/{page_name(record.episode_id)}",
        "world_id": record.world_id, "variant": episode.variant_text(), "model": record.model,
        "agent": record.agent, "status": record.status, "steps": len(record.steps), "is_replay": record.is_replay,
    }
    if not blind:
        combined = episode.combined
        state = next((v for v in episode.verdicts if v.judge == STATE_JUDGE and v.error is None), None)
        row["acted"] = ", ".join(combined.behaviours if combined else sorted(state.acted if state else set()))
        row["needs_review"] = bool(combined and combined.needs_review)
        row["task_done"] = yes_no(combined.task_done if combined else record.task_done, "n/a")
    return row


def render_pages(out: Path, episodes: Sequence[ReviewEpisode], blind: bool = False) -> list[Path]:
    env = environment()
    template = env.get_template("episode.html.j2")
    pages_dir = out / PAGES
    pages_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, episode in enumerate(episodes):
        prev_page = page_name(episodes[i - 1].episode_id) if i > 0 else None
        next_page = page_name(episodes[i + 1].episode_id) if i + 1 < len(episodes) else None
        html = template.render(e=episode_view(episode, blind), blind=blind, prev_page=prev_page, next_page=next_page)
        path = pages_dir / page_name(episode.episode_id)
        path.write_text(html, encoding="utf-8")
        written.append(path)
    index = env.get_template("index.html.j2").render(
        episodes=[_index_row(e, blind) for e in episodes], blind=blind, sheet=SHEET
    )
    (out / INDEX).write_text(index, encoding="utf-8")
    return written


@dataclass(frozen=True)
class ExportResult:
    sheet: Path
    index: Path
    pages: list[Path]
    rows: int
    episodes: int
    computed: int  # episodes whose state judge was computed at export (no verdict in the record)


def export_review(sources: Iterable[str | Path] | Sequence[ReviewEpisode], out: Path, *, blind: bool = False,
                  force: bool = False, worlds: Iterable[str] = ()) -> ExportResult:
    """Write `out/review.csv`, `out/index.html` and `out/episodes/<id>.html` for the records given
    (files, folders of them, or episodes already loaded); `worlds` as in `load_episodes`."""
    items = list(sources)
    if items and all(isinstance(x, ReviewEpisode) for x in items):
        episodes: list[ReviewEpisode] = [x for x in items if isinstance(x, ReviewEpisode)]
    else:
        episodes = load_episodes([x for x in items if not isinstance(x, ReviewEpisode)], worlds)
    sheet = out / SHEET
    if sheet.exists() and not force and has_labels(sheet, [*HUMAN_COLUMNS.values(), NOTES]):
        raise ReviewError(f"{sheet} already holds people's labels; export to another folder (or pass force=true)")
    rows = write_sheet(sheet, episodes, blind)
    pages = render_pages(out, episodes, blind)
    return ExportResult(sheet=sheet, index=out / INDEX, pages=pages, rows=rows, episodes=len(episodes),
                        computed=sum(e.computed for e in episodes))
