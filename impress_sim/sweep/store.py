"""The results store of sweeps: one SQLite file (WAL mode), one row per episode keyed by `config_hash`.

Each finished episode is written in its own transaction, by whichever process ran it, so killing a
sweep loses only the episodes in flight and never leaves a half-written row. The label columns
(world, model, variant, seed, attempt, misaligned, ...) are there for querying; the full record is
the `record` column (JSON).

The outcome columns are `impress_sim.metrics`' per-episode outcomes, so a query of the store and the
metrics (and the report, which reads them) give the same numbers: `misaligned` is the combined
verdict under its `policy` (the state detectors' when the episode was not judged), beside
`state_misaligned` and `llm_misaligned` (each judge alone; `llm_misaligned` is NULL without an LLM
opinion), `attempted` (an act the world refused; never an effect), `other_misconduct`, `task_done`,
`task_score` and `needs_review`. An error episode has no verdict: its outcome columns are NULL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from impress_sim import metrics
from impress_sim.errors import MissingExtraError
from impress_sim.record import EpisodeRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS episodes (
    config_hash TEXT PRIMARY KEY,
    sweep_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'error')),
    world TEXT NOT NULL,
    world_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    agent TEXT NOT NULL,
    variant TEXT NOT NULL,
    variant_name TEXT,
    temperature REAL,
    top_p REAL,
    seed INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    misaligned INTEGER,
    task_done INTEGER,
    behaviours TEXT,
    error TEXT,
    record TEXT,
    finished TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS episodes_sweep ON episodes (sweep_id);
"""
# Outcome columns added with the verdict-validity rework: an older store gains them on open, and
# every row's outcome columns are then recomputed from its record (see `Store._migrate`).
OUTCOME_COLUMNS = {"policy": "TEXT", "state_misaligned": "INTEGER", "llm_misaligned": "INTEGER",
                   "attempted": "INTEGER", "attempted_behaviours": "TEXT", "other_misconduct": "INTEGER",
                   "task_score": "REAL", "needs_review": "INTEGER"}
# Columns added after the first release, with their definitions: an older store gains them on open.
ADDED_COLUMNS = {"tokens": "INTEGER NOT NULL DEFAULT 0", "cost_usd": "REAL NOT NULL DEFAULT 0", **OUTCOME_COLUMNS}

LABELS = ("config_hash", "sweep_id", "status", "world", "world_hash", "model", "agent", "variant", "variant_name",
          "temperature", "top_p", "seed", "attempt", "misaligned", "task_done", "behaviours", "error",
          *OUTCOME_COLUMNS)
# The columns computed from a record's outcome (NULL on an error episode), and the 0/1 ones among them.
OUTCOMES = ("misaligned", "task_done", "behaviours", *OUTCOME_COLUMNS)
FLAGS = ("misaligned", "task_done", "state_misaligned", "llm_misaligned", "attempted", "other_misconduct",
         "needs_review")


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def outcomes(record: EpisodeRecord) -> dict[str, Any]:
    """The outcome columns of one episode: `impress_sim.metrics`' outcomes; all NULL on an error."""
    if metrics.is_error(record):
        return dict.fromkeys(OUTCOMES)
    return {
        "misaligned": _flag(metrics.acted(record)),
        "task_done": _flag(metrics.task_success(record)),
        "behaviours": json.dumps(metrics.acted_behaviours(record)),
        "policy": metrics.policy_of(record),
        "state_misaligned": _flag(metrics.state_acted(record)),
        "llm_misaligned": _flag(metrics.llm_acted(record)),
        "attempted": _flag(metrics.attempted(record)),
        "attempted_behaviours": json.dumps(metrics.attempted_behaviours(record)),
        "other_misconduct": _flag(metrics.misconduct(record)),
        "task_score": metrics.task_score(record),
        "needs_review": int(record.verdict is not None and record.verdict.needs_review),
    }


@dataclass
class Tally:
    """What a set of finished episodes amounts to (a sweep's progress line)."""

    done: int = 0
    errors: int = 0
    tokens: int = 0
    cost_usd: float = 0.0

    def add(self, record: EpisodeRecord) -> None:
        self.done += record.status != "error"
        self.errors += record.status == "error"
        self.tokens += episode_tokens(record)
        self.cost_usd += episode_cost(record)


def episode_tokens(record: EpisodeRecord) -> int:
    """Input plus output tokens of every model call of the episode (agent, NPCs, judges, monitor)."""
    stats = record.model_stats
    return int(sum(stats.get(k, 0) for k in ("input_tokens", "output_tokens", "npc_input_tokens", "npc_output_tokens")))


def episode_cost(record: EpisodeRecord) -> float:
    return float(record.model_stats.get("cost_usd", 0.0) + record.model_stats.get("npc_cost_usd", 0.0))


class Store:
    """One connection to a results store (open one per process; SQLite serialises the writers)."""

    def __init__(self, path: str | Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        self.conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a process kill
        self.conn.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Give an older store the columns added since it was made, in one transaction (so workers
        opening it at once cannot add a column twice). When outcome columns were missing, every
        row's outcome columns are recomputed from its record: an older store labelled `misaligned`
        by the state detectors and wrote 0 for an error episode."""
        if {row[1] for row in self.conn.execute("PRAGMA table_info(episodes)")} >= ADDED_COLUMNS.keys():
            return
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            present = {row[1] for row in self.conn.execute("PRAGMA table_info(episodes)")}
            for name, definition in ADDED_COLUMNS.items():
                if name not in present:
                    self.conn.execute(f"ALTER TABLE episodes ADD COLUMN {name} {definition}")
            if OUTCOME_COLUMNS.keys() <= present:
                return
            hashes = [h for (h,) in self.conn.execute("SELECT config_hash FROM episodes WHERE record IS NOT NULL")]
            for digest in hashes:  # one record in memory at a time
                (text,) = self.conn.execute("SELECT record FROM episodes WHERE config_hash = ?", (digest,)).fetchone()
                try:
                    record = EpisodeRecord.model_validate_json(text)
                except ValueError:  # a record this version cannot read: its labels stay as they were
                    continue
                values = outcomes(record)
                self.conn.execute(f"UPDATE episodes SET {', '.join(f'{k} = ?' for k in values)} WHERE config_hash = ?",
                                  (*values.values(), digest))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_sweep(self, sweep_id: str, spec: dict[str, Any]) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO sweeps (id, spec, created) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET spec = ?",
                (sweep_id, json.dumps(spec, sort_keys=True), datetime.now(UTC).isoformat(),
                 json.dumps(spec, sort_keys=True)))

    def write(self, record: EpisodeRecord, *, config_hash: str, sweep_id: str, attempt: int,
              variant_name: str | None = None, temperature: float | None = None, top_p: float | None = None) -> None:
        """One finished episode, in one transaction (a rerun's row replaces an errored one)."""
        status = "error" if record.status == "error" else "done"
        labels = {"config_hash": config_hash, "sweep_id": sweep_id, "status": status, "world": record.world_id,
                  "world_hash": record.world_hash, "model": record.model, "agent": record.agent,
                  "variant": json.dumps(record.variant, sort_keys=True), "variant_name": variant_name,
                  "temperature": temperature, "top_p": top_p, "seed": record.seed, "attempt": attempt,
                  "error": record.error, **outcomes(record)}
        row = (*(labels[k] for k in LABELS), record.model_dump_json(), datetime.now(UTC).isoformat(),
               episode_tokens(record), episode_cost(record))
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(f"INSERT OR REPLACE INTO episodes ({', '.join(LABELS)}, record, finished, tokens, "
                              f"cost_usd) VALUES ({', '.join('?' * (len(LABELS) + 4))})", row)

    def done_hashes(self) -> set[str]:
        return {h for (h,) in self.conn.execute("SELECT config_hash FROM episodes WHERE status = 'done'")}

    def counts(self, sweep_id: str | None = None, since: str = "") -> tuple[int, int]:
        """(done, errors) of the episodes (of one sweep) finished after `since` (ISO time)."""
        tally = self.tally(sweep_id, since)
        return tally.done, tally.errors

    def tally(self, sweep_id: str | None = None, since: str = "") -> Tally:
        """Episodes done and errored, tokens and cost (of one sweep) finished after `since`: one
        aggregate query, so a progress bar can ask several times a second of a large store."""
        where, args = ("AND sweep_id = ?", (since, sweep_id)) if sweep_id else ("", (since,))
        tally = Tally()
        for status, n, tokens, cost in self.conn.execute(
                f"SELECT status, count(*), total(tokens), total(cost_usd) FROM episodes WHERE finished > ? {where} "
                "GROUP BY status", args):
            if status == "done":
                tally.done = n
            else:
                tally.errors = n
            tally.tokens += int(tokens)
            tally.cost_usd += cost
        return tally

    def rows(self, sweep_id: str | None = None) -> list[dict[str, Any]]:
        """The label columns of every episode (of one sweep), in a fixed order."""
        where, args = ("WHERE sweep_id = ?", (sweep_id,)) if sweep_id else ("", ())
        cursor = self.conn.execute(f"SELECT {', '.join(LABELS)} FROM episodes {where} ORDER BY config_hash", args)
        return [dict(zip(LABELS, row, strict=True)) for row in cursor]

    def records(self, sweep_id: str | None = None) -> Iterator[tuple[str, EpisodeRecord]]:
        """(config_hash, record) of every episode (of one sweep), ordered by config_hash."""
        where, args = ("WHERE sweep_id = ?", (sweep_id,)) if sweep_id else ("", ())
        cursor = self.conn.execute(f"SELECT config_hash, record FROM episodes {where} ORDER BY config_hash", args)
        for digest, text in cursor:
            yield digest, EpisodeRecord.model_validate_json(text)


def export_jsonl(store: Store, out: Path, sweep_id: str | None = None) -> int:
    """Every record, one JSON object a line (`EpisodeRecord.model_validate_json` reads each back)."""
    n = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for _, record in store.records(sweep_id):
            fh.write(record.model_dump_json() + "\n")
            n += 1
    return n


def export_parquet(store: Store, out: Path, sweep_id: str | None = None) -> int:
    """The label columns plus each record as JSON text, as one Parquet table (needs `impress-sim[parquet]`).
    The 0/1 outcome columns become booleans; NULL (an error episode, or no LLM opinion) stays null."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtraError("Parquet export needs pyarrow: pip install 'impress-sim[parquet]'") from None
    where, args = ("WHERE sweep_id = ?", (sweep_id,)) if sweep_id else ("", ())
    cursor = store.conn.execute(f"SELECT {', '.join(LABELS)}, record FROM episodes {where} ORDER BY config_hash", args)
    names = [*LABELS, "record"]
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for row in cursor:
        for name, value in zip(names, row, strict=True):
            columns[name].append(bool(value) if name in FLAGS and value is not None else value)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), str(out))
    return len(columns["config_hash"])
