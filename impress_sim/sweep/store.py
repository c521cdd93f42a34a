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

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from impress_sim import metrics
from impress_sim.errors import MissingExtraError, UserError
from impress_sim.models.dbfile import STORE_ID, Database, Kind
from impress_sim.record import EpisodeRecord
from impress_sim.verdict import CombinedVerdict

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
CREATE TABLE IF NOT EXISTS sweep_episodes (
    sweep_id TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    PRIMARY KEY (sweep_id, config_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probe_samples (
    probe_hash TEXT PRIMARY KEY,
    sweep_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'error')),
    model TEXT NOT NULL,
    world TEXT NOT NULL,
    world_hash TEXT NOT NULL,
    variant TEXT NOT NULL,
    form TEXT NOT NULL,
    seed INTEGER NOT NULL,
    misaligned INTEGER,
    error TEXT,
    sample TEXT NOT NULL,
    finished TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_probes (
    sweep_id TEXT NOT NULL,
    probe_hash TEXT NOT NULL,
    PRIMARY KEY (sweep_id, probe_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS verdict_sets (
    config_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    misaligned INTEGER,
    verdict TEXT,
    judge TEXT NOT NULL,
    error TEXT,
    finished TEXT NOT NULL,
    PRIMARY KEY (config_hash, name)
) WITHOUT ROWID
"""
# Verdict sets (`impress judge rejudge <store>`): other judges' verdicts on stored episodes, one row
# per (episode, set), beside the episode's own verdict (the set "original", in `episodes.record`),
# which a re-judge never touches. `failed`: the set's judge gave no verdict (NULL `misaligned`: never
# counted as aligned); a rerun of the re-judge tries those again and skips the `done` ones.
# Which sweeps an episode belongs to: an episode is stored once (under the sweep that ran it last,
# `episodes.sweep_id`), but every sweep that expands to it links it in `sweep_episodes`, so a sweep
# sharing cells with an earlier one still owns them (exports and reports include them).
# `probe_samples` holds a sweep's judgment-action probe questions (`impress_sim.sweep.probes`), one row
# a sample keyed by `probe_hash`, linked to every sweep that asks it in `sweep_probes` (the same rule);
# an older store gains both tables on open.
KIND = Kind(name="results store", key="store", application_id=STORE_ID,
            tables=frozenset({"sweeps", "episodes", "sweep_episodes", "verdict_sets", "probe_samples",
                              "sweep_probes"}),
            required=frozenset({"sweeps", "episodes"}),
            hint="give a new file or an existing results store")
# An episode of the sweep: stored under its id, or linked to it.
OWNED = "(sweep_id = ? OR config_hash IN (SELECT config_hash FROM sweep_episodes WHERE sweep_id = ?))"
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
    """One connection to a results store (open one per process; SQLite serialises the writers).

    A path that is not a results store (a folder, a read-only file, random bytes, another program's
    SQLite database) is refused with one `UserError` before anything is written
    (`impress_sim.models.dbfile`)."""

    def __init__(self, path: str | Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self._db = Database(self.path, KIND, timeout=timeout)
        self.conn = self._db.conn
        try:
            self._db.create(SCHEMA)
            self._migrate()
        except (sqlite3.Error, UserError) as exc:
            self._db.close()
            if isinstance(exc, UserError):
                raise
            raise UserError(f"store={self.path}: cannot update the results store ({exc})") from None

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
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_sweep(self, sweep_id: str, spec: dict[str, Any], config_hashes: Iterable[str] = ()) -> None:
        """The sweep and the episodes it expands to (`link`), in one transaction."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO sweeps (id, spec, created) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET spec = ?",
                (sweep_id, json.dumps(spec, sort_keys=True), datetime.now(UTC).isoformat(),
                 json.dumps(spec, sort_keys=True)))
            self.conn.executemany("INSERT OR IGNORE INTO sweep_episodes (sweep_id, config_hash) VALUES (?, ?)",
                                  ((sweep_id, h) for h in config_hashes))

    def link(self, sweep_id: str, config_hashes: Iterable[str]) -> None:
        """Mark episodes as the sweep's (whichever sweep ran them), in one transaction."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT OR IGNORE INTO sweep_episodes (sweep_id, config_hash) VALUES (?, ?)",
                                  ((sweep_id, h) for h in config_hashes))

    def has_links(self, sweep_id: str) -> bool:
        """Whether the sweep's episodes are linked (a sweep run before links existed has none)."""
        return self.conn.execute("SELECT 1 FROM sweep_episodes WHERE sweep_id = ? LIMIT 1",
                                 (sweep_id,)).fetchone() is not None

    def sweep_hashes(self, sweep_id: str) -> set[str]:
        """The config hashes of the stored episodes the sweep owns (stored under its id, or linked)."""
        return {h for (h,) in self.conn.execute(f"SELECT config_hash FROM episodes WHERE {OWNED}",
                                                (sweep_id, sweep_id))}

    def write(self, record: EpisodeRecord, *, config_hash: str, sweep_id: str, attempt: int,
              variant_name: str | None = None, temperature: float | None = None, top_p: float | None = None) -> bool:
        """One finished episode, in one transaction; False when the store kept the row it had.

        The upsert rule: a finished result (completed or truncated, status 'done') replaces any row;
        an error replaces only an error. A finished result is never replaced by an error (a late
        error from another process or an orphaned worker cannot overwrite it)."""
        status = "error" if record.status == "error" else "done"
        labels = {"config_hash": config_hash, "sweep_id": sweep_id, "status": status, "world": record.world_id,
                  "world_hash": record.world_hash, "model": record.model, "agent": record.agent,
                  "variant": json.dumps(record.variant, sort_keys=True), "variant_name": variant_name,
                  "temperature": temperature, "top_p": top_p, "seed": record.seed, "attempt": attempt,
                  "error": record.error, **outcomes(record)}
        values = {**{k: labels[k] for k in LABELS}, "record": record.model_dump_json(),
                  "finished": datetime.now(UTC).isoformat(), "tokens": episode_tokens(record),
                  "cost_usd": episode_cost(record)}
        return self._upsert("episodes", "config_hash", values, "sweep_episodes", sweep_id)

    def _upsert(self, table: str, key: str, values: dict[str, Any], link: str, sweep_id: str) -> bool:
        """Write one row under the upsert rule (`done` replaces anything, `error` only an error) and
        link it to the sweep, in one transaction; False when the store kept the row it had."""
        columns = list(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            cursor = self.conn.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT ({key}) DO UPDATE SET {updates} "
                f"WHERE {table}.status = 'error' OR excluded.status = 'done'", list(values.values()))
            self.conn.execute(f"INSERT OR IGNORE INTO {link} (sweep_id, {key}) VALUES (?, ?)", (sweep_id, values[key]))
            return cursor.rowcount > 0

    def write_probe(self, row: dict[str, Any], sweep_id: str) -> bool:
        """One probe sample (the `probe_samples` columns but `sweep_id` and `finished`), in one
        transaction, linked to the sweep; the same upsert rule as `write`: an answer replaces any row,
        an error only an error."""
        values = {**row, "sweep_id": sweep_id, "finished": datetime.now(UTC).isoformat()}
        return self._upsert("probe_samples", "probe_hash", values, "sweep_probes", sweep_id)

    def link_probes(self, sweep_id: str, probe_hashes: Iterable[str]) -> None:
        """Mark probe samples as the sweep's (whichever sweep asked them), in one transaction."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT OR IGNORE INTO sweep_probes (sweep_id, probe_hash) VALUES (?, ?)",
                                  ((sweep_id, h) for h in probe_hashes))

    def probe_done_hashes(self) -> set[str]:
        return {h for (h,) in self.conn.execute("SELECT probe_hash FROM probe_samples WHERE status = 'done'")}

    def probe_rows(self, sweep_id: str) -> list[dict[str, Any]]:
        """The probe samples the sweep asked (or linked), ordered by hash, as column -> value."""
        cursor = self.conn.execute(
            "SELECT probe_hash, model, world, world_hash, variant, form, seed, status, misaligned, error "
            "FROM probe_samples WHERE sweep_id = ? OR probe_hash IN "
            "(SELECT probe_hash FROM sweep_probes WHERE sweep_id = ?) ORDER BY probe_hash", (sweep_id, sweep_id))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

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
        """The label columns of every episode (that one sweep owns), in a fixed order."""
        where, args = owned(sweep_id)
        cursor = self.conn.execute(f"SELECT {', '.join(LABELS)} FROM episodes {where} ORDER BY config_hash", args)
        return [dict(zip(LABELS, row, strict=True)) for row in cursor]

    def records(self, sweep_id: str | None = None) -> Iterator[tuple[str, EpisodeRecord]]:
        """(config_hash, record) of every episode (that one sweep owns), ordered by config_hash; a
        record this version cannot read is a `UserError` naming it."""
        where, args = owned(sweep_id)
        cursor = self.conn.execute(f"SELECT config_hash, record FROM episodes {where} ORDER BY config_hash", args)
        for digest, text in cursor:
            yield digest, read_record(self.path, digest, text)

    def record(self, config_hash: str) -> EpisodeRecord:
        """The record of one stored episode (a `UserError` naming it when there is none)."""
        row = self.conn.execute("SELECT record FROM episodes WHERE config_hash = ?", (config_hash,)).fetchone()
        if row is None:
            raise UserError(f"store={self.path}: no episode {config_hash[:12]}")
        return read_record(self.path, config_hash, row[0])

    # ---- verdict sets (`impress judge rejudge <store>`) ----

    def write_verdict(self, config_hash: str, name: str, judge: dict[str, Any],
                      verdict: CombinedVerdict | None, error: str | None = None) -> None:
        """The verdict of one episode under set `name` (judged by `judge`, a JSON-able config), in one
        transaction; `verdict` None (with the `error`) records that the judge gave none."""
        status = "done" if verdict is not None and error is None else "failed"
        misaligned = _flag(verdict.misaligned) if status == "done" and verdict is not None else None
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO verdict_sets (config_hash, name, status, misaligned, verdict, judge, error, finished) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (config_hash, name) DO UPDATE SET "
                "status = excluded.status, misaligned = excluded.misaligned, verdict = excluded.verdict, "
                "judge = excluded.judge, error = excluded.error, finished = excluded.finished",
                (config_hash, name, status, misaligned, verdict.model_dump_json() if verdict is not None else None,
                 json.dumps(judge, sort_keys=True), error, datetime.now(UTC).isoformat()))

    def verdict_set_names(self, sweep_id: str | None = None) -> list[str]:
        """The verdict sets with a row for some episode (of one sweep), sorted; `original` not included."""
        where, args = owned(sweep_id)
        inner = f"SELECT config_hash FROM episodes {where}"
        return [n for (n,) in self.conn.execute(
            f"SELECT DISTINCT name FROM verdict_sets WHERE config_hash IN ({inner}) ORDER BY name", args)]

    def verdict_set_judge(self, name: str) -> dict[str, Any] | None:
        """The judge config set `name` was made with (None: no such set)."""
        row = self.conn.execute("SELECT judge FROM verdict_sets WHERE name = ? LIMIT 1", (name,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def verdict_set(self, name: str, sweep_id: str | None = None) -> dict[str, SetVerdict]:
        """config_hash -> the episode's verdict under set `name`, for the episodes (of one sweep) it has."""
        where, args = owned(sweep_id)
        out: dict[str, SetVerdict] = {}
        for digest, status, text, error in self.conn.execute(
                f"SELECT config_hash, status, verdict, error FROM verdict_sets WHERE name = ? AND config_hash IN "
                f"(SELECT config_hash FROM episodes {where})", (name, *args)):
            verdict = CombinedVerdict.model_validate_json(text) if text else None
            out[digest] = SetVerdict(status=status, verdict=verdict, error=error)
        return out


ORIGINAL = "original"  # the verdict set an episode was judged with when it ran (its record's own verdict)


@dataclass(frozen=True)
class SetVerdict:
    """One episode's verdict under a verdict set: `verdict` None when the set's judge gave none."""

    status: str  # done | failed
    verdict: CombinedVerdict | None
    error: str | None


def owned(sweep_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause (and its arguments) of the episodes one sweep owns; every episode without one."""
    return (f"WHERE {OWNED}", (sweep_id, sweep_id)) if sweep_id else ("", ())


def read_record(path: Path, config_hash: str, text: object) -> EpisodeRecord:
    try:
        return EpisodeRecord.model_validate_json(text if isinstance(text, str | bytes) else "")
    except ValueError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"store={path}: the record of episode {config_hash[:12]} cannot be read ({first})") from None


class SweepLock:
    """An exclusive lock on a store for one sweep's life: a second sweep on the same store is refused
    (the two would run the same episodes twice). The lock is `flock` on a file beside the store,
    `<store>.lock`, which holds the owner's pid for the message; the kernel releases it when its
    process ends however it ends (a SIGKILLed sweep leaves no stale lock: its resume just runs).
    Worker processes (spawned, the descriptor not inherited) write under their parent's lock."""

    def __init__(self, store: str | Path) -> None:
        self.store = Path(store)
        self.path = Path(f"{store}.lock")
        self._fd: int | None = None

    def __enter__(self) -> SweepLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise UserError(f"store={self.store}: cannot create its lock file {self.path} "
                            f"({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            owner = f" (pid {holder})" if holder.isdigit() else ""
            raise UserError(f"store {self.store} is in use by another sweep{owner}; wait for it to finish, "
                            "or give this sweep another store=") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # releases the lock
            self._fd = None


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
    where, args = owned(sweep_id)
    cursor = store.conn.execute(f"SELECT {', '.join(LABELS)}, record FROM episodes {where} ORDER BY config_hash", args)
    names = [*LABELS, "record"]
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for row in cursor:
        for name, value in zip(names, row, strict=True):
            columns[name].append(bool(value) if name in FLAGS and value is not None else value)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), str(out))
    return len(columns["config_hash"])
