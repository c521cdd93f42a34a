"""The review sheet's columns, and reading filled sheets back.

People fill the sheet in a spreadsheet or an editor; whatever they save is read with Python's csv
module (a UTF-8 byte-order mark, and `;` or tab separators as some spreadsheets write them, are
accepted). Every value is checked: yes/no, y/n, 1/0 and true/false in any case are labels, a blank
cell is "not labelled" and is left out of every statistic. All problems are collected and
reported together, each naming the file, the row (as a spreadsheet numbers it: the header is row
1) and the column, so a reviewer fixes a sheet in one pass.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impress_sim.errors import ReviewError
from impress_sim.judge.review.records import TASK_ITEM, ReviewEpisode

YES = frozenset({"yes", "y", "1", "true", "t"})
NO = frozenset({"no", "n", "0", "false", "f"})
KIND_BEHAVIOUR, KIND_TASK = "behaviour", "task"
HUMAN_COLUMNS = {"acted": "human_acted", "considered": "human_considered", "task_done": "human_task_done"}
# Sheets exported before the task row was named `task_done` (schema 3) still read: their names, renamed.
LEGACY_COLUMNS = {"human_task_completed": "human_task_done"}
LEGACY_ITEMS = {"task_completed": TASK_ITEM}
REVIEWER, NOTES = "reviewer", "notes"
ID_COLUMNS = ("episode_id", "world_id", "world_hash", "variant", "model", "agent", "status", "kind", "behaviour")
REQUIRED = ("episode_id", "kind", "behaviour", *HUMAN_COLUMNS.values(), REVIEWER)
FIELDS_BY_KIND = {KIND_BEHAVIOUR: ("acted", "considered"), KIND_TASK: ("task_done",)}
MAX_SHOWN = 30

Key = tuple[str, str, str]  # (episode_id, behaviour or task_done, field)


def yes_no(value: bool | None, missing: str = "") -> str:
    return missing if value is None else ("yes" if value else "no")


def parse_yes_no(text: str) -> bool | None:
    """'yes'/'no' (and y/n, 1/0, true/false, any case) -> bool; blank -> None; anything else -> ValueError."""
    value = text.strip().lower()
    if not value:
        return None
    if value in YES:
        return True
    if value in NO:
        return False
    raise ValueError(f"{text.strip()!r} is not a label: use yes or no (y/n, 1/0, true/false), or leave it blank")


class Problems:
    """Problems found while reading sheets, raised together as one ReviewError."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.items: list[str] = []

    def add(self, where: str, column: str | None, message: str) -> None:
        self.items.append(f"{where}{f', column {column!r}' if column else ''}: {message}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_SHOWN]
        more = len(self.items) - len(shown)
        lines = [f"{len(self.items)} problem(s) in {self.what}:", *(f"  - {p}" for p in shown)]
        if more:
            lines.append(f"  ... and {more} more")
        raise ReviewError("\n".join(lines))


def read_rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, stripped cells by column) for every non-empty row of a CSV file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReviewError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ReviewError(f"{path}: not UTF-8 text; save the sheet as 'CSV UTF-8'") from None
    except OSError as exc:
        raise ReviewError(f"{path}: cannot read: {exc.strerror}") from None
    if not text.strip():
        raise ReviewError(f"{path}: the file is empty (expected the header row of a review sheet)")
    first_line = text.splitlines()[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [LEGACY_COLUMNS.get(name.strip(), name.strip()) for name in reader.fieldnames or []]
    except csv.Error as exc:
        raise ReviewError(f"{path}: not a readable CSV file: {exc}") from None
    duplicated = sorted({h for h in header if h and header.count(h) > 1})
    if duplicated:
        raise ReviewError(f"{path}: column(s) {', '.join(duplicated)} appear more than once in the header")
    missing = [c for c in required if c not in header]
    if missing:
        raise ReviewError(
            f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(h for h in header if h) or 'none'}); "
            "label the sheet written by `export`, keeping its header row"
        )
    reader.fieldnames = header
    row_no = 1
    try:
        for row_no, row in enumerate(reader, start=2):
            extra = row.pop(None, None)
            if extra and any(str(x).strip() for x in extra):
                raise ReviewError(f"{path} row {row_no}: {len(extra)} more cell(s) than the header has columns")
            cells = {k: (v or "").strip() for k, v in row.items() if k}
            if any(cells.values()):
                yield row_no, cells
    except csv.Error as exc:
        raise ReviewError(f"{path} row {row_no + 1}: not readable as CSV: {exc}") from None


# ---- episode labels ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HumanLabel:
    reviewer: str
    episode_id: str
    world_hash: str
    behaviour: str  # a behaviour id, or TASK_ITEM for the episode's task row
    field: str  # acted | considered | task_done
    value: bool
    where: str  # "<file> row <n>"
    notes: str = ""

    @property
    def key(self) -> Key:
        return (self.episode_id, self.behaviour, self.field)


@dataclass
class LabelSet:
    labels: list[HumanLabel] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    unlabelled_rows: int = 0

    @property
    def reviewers(self) -> list[str]:
        return sorted({label.reviewer for label in self.labels})

    def by_reviewer(self) -> dict[str, dict[Key, bool]]:
        out: dict[str, dict[Key, bool]] = {r: {} for r in self.reviewers}
        for label in self.labels:
            out[label.reviewer][label.key] = label.value
        return out

    def notes(self) -> dict[Key, list[str]]:
        out: dict[Key, list[str]] = {}
        for label in self.labels:
            if label.notes:
                out.setdefault(label.key, []).append(f"{label.reviewer}: {label.notes}")
        return out

    def summary(self) -> dict[str, Any]:
        per_reviewer = {r: sum(1 for x in self.labels if x.reviewer == r) for r in self.reviewers}
        return {
            "files": [str(f) for f in self.files],
            "rows": self.rows,
            "unlabelled_rows": self.unlabelled_rows,
            "labels": len(self.labels),
            "reviewers": per_reviewer,
            "episodes": len({x.episode_id for x in self.labels}),
        }


def read_labels(paths: Iterable[str | Path], reviewer: str | None = None) -> LabelSet:
    """Read filled review sheets (one per reviewer, or one with a `reviewer` column naming several).

    `reviewer` names the reviewer of labelled rows whose `reviewer` cell is blank.
    """
    result = LabelSet()
    problems = Problems("the label file(s)")
    seen: dict[tuple[str, Key], str] = {}
    for source in paths:
        path = Path(source)
        result.files.append(path)
        for row_no, row in read_rows(path, REQUIRED):
            result.rows += 1
            where = f"{path.name} row {row_no}"
            kind = row["kind"].lower()
            if kind not in FIELDS_BY_KIND:
                problems.add(where, "kind", f"{row['kind']!r} is not {KIND_BEHAVIOUR!r} or {KIND_TASK!r}")
                continue
            episode_id = row["episode_id"]
            if not episode_id:
                problems.add(where, "episode_id", "blank; every row needs the episode id the sheet was exported with")
                continue
            behaviour = row["behaviour"] or (TASK_ITEM if kind == KIND_TASK else "")
            behaviour = LEGACY_ITEMS.get(behaviour, behaviour) if kind == KIND_TASK else behaviour
            if not behaviour:
                problems.add(where, "behaviour", "blank on a behaviour row")
                continue
            values: dict[str, bool] = {}
            for name, column in HUMAN_COLUMNS.items():
                raw = row[column]
                if not raw:
                    continue
                if name not in FIELDS_BY_KIND[kind]:
                    other = KIND_TASK if kind == KIND_BEHAVIOUR else KIND_BEHAVIOUR
                    problems.add(where, column, f"this is a {kind} row; {column} is filled on {other} rows only")
                    continue
                try:
                    parsed = parse_yes_no(raw)
                except ValueError as exc:
                    problems.add(where, column, str(exc))
                    continue
                if parsed is not None:
                    values[name] = parsed
            if not values:
                result.unlabelled_rows += 1
                continue
            who = row[REVIEWER] or (reviewer or "")
            if not who:
                problems.add(where, REVIEWER, "blank on a labelled row: write your name (or pass reviewer=NAME)")
                continue
            for name, value in values.items():
                label = HumanLabel(
                    reviewer=who, episode_id=episode_id, world_hash=row.get("world_hash", ""), behaviour=behaviour,
                    field=name, value=value, where=where, notes=row.get(NOTES, ""),
                )
                earlier = seen.get((who, label.key))
                if earlier is not None:
                    problems.add(where, HUMAN_COLUMNS[name],
                                 f"{who} already labelled {episode_id} / {behaviour} ({name}) in {earlier}")
                    continue
                seen[(who, label.key)] = where
                result.labels.append(label)
    problems.raise_if_any()
    return result


def check_against(labels: LabelSet, episodes: Sequence[ReviewEpisode]) -> None:
    """Every label must name an episode given, in the world version it ran in, and one of its behaviours."""
    by_id = {e.episode_id: e for e in episodes}
    problems = Problems("the labels, checked against the records")
    for label in labels.labels:
        episode = by_id.get(label.episode_id)
        if episode is None:
            problems.add(label.where, "episode_id", f"episode {label.episode_id!r} is not among the records given")
            continue
        if label.world_hash and label.world_hash != episode.record.world_hash:
            problems.add(label.where, "world_hash",
                         f"{label.world_hash!r} but the record says {episode.record.world_hash!r}: "
                         "the labels were made for another version of the episode's world")
        known = {b.id for b in episode.behaviours} | {TASK_ITEM}
        if label.behaviour not in known:
            problems.add(label.where, "behaviour",
                         f"{label.behaviour!r} is not a behaviour of {episode.record.world_id}; valid: {sorted(known)}")
    problems.raise_if_any()
