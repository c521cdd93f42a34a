"""Load one sweep from a results store: its spec and every episode record that belongs to it.

Reports read only the store (DESIGN.md). An episode is stored once, under the sweep that ran it, so
a sweep that shares cells with an earlier one finds some of its episodes under the other sweep's id;
the store links each sweep to every episode it expands to (`sweep_episodes`). The sweep's episodes
are those stored under its id or linked to it, plus (for a sweep run before links existed) those
whose `config_hash` its spec expands to now (when the spec can still be expanded: an edited or
removed world expands to other hashes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from impress_sim.errors import ReportError
from impress_sim.record import EpisodeRecord
from impress_sim.sweep.spec import SweepSpec, expand
from impress_sim.sweep.store import Store, read_record

CHUNK = 500  # config hashes per SQL `IN (...)` (SQLite's variable limit is 32,766; stay far below)


class SweepInfo(BaseModel):
    """One row of the store's `sweeps` table."""

    model_config = ConfigDict(extra="forbid")

    id: str
    created: str
    spec: dict[str, Any]
    episodes: int = 0


class Episode(BaseModel):
    """One stored episode: its identity in the store and its record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_hash: str
    record: EpisodeRecord
    # the store's own columns: the attempt number (0 for a store row without one), and the decoding
    # values the sweep set (None: the provider's default, or a replay that calls no model)
    attempt: int = 0
    temperature: float | None = None
    top_p: float | None = None


class SweepData(BaseModel):
    """A sweep as a report sees it: where it came from, its spec, and its episodes by config hash."""

    model_config = ConfigDict(extra="forbid")

    store: str
    sweep: SweepInfo
    episodes: list[Episode]
    shared: int = 0  # episodes found through the spec that are stored under another sweep's id
    expand_note: str | None = None  # why the spec could not be expanded, when it could not

    @property
    def records(self) -> list[EpisodeRecord]:
        return [e.record for e in self.episodes]


def open_store(path: str | Path) -> Store:
    """The store at `path`. A missing file is an error (looking never creates one); a file that is not
    a results store (a folder, random bytes, another program's SQLite file) is refused untouched."""
    if not Path(path).exists():
        raise ReportError(f"no results store at {path} (run a sweep first: impress sweep ...)")
    return Store(path)


def list_sweeps(store: Store) -> list[SweepInfo]:
    counts = dict(store.conn.execute(
        "SELECT sweep_id, count(*) FROM (SELECT sweep_id, config_hash FROM episodes UNION "
        "SELECT l.sweep_id, l.config_hash FROM sweep_episodes l JOIN episodes USING (config_hash)) "
        "GROUP BY sweep_id").fetchall())
    rows = store.conn.execute("SELECT id, spec, created FROM sweeps ORDER BY created, id").fetchall()
    return [SweepInfo(id=i, spec=json.loads(spec), created=created, episodes=counts.get(i, 0))
            for i, spec, created in rows]


def describe(sweeps: list[SweepInfo]) -> str:
    return ", ".join(f"{s.id} ({s.episodes} episodes, {s.created[:19]})" for s in sweeps) or "none"


def choose_sweep(store: Store, sweep_id: str | None) -> SweepInfo:
    """The sweep named `sweep_id`, or the store's only sweep when none is named."""
    sweeps = list_sweeps(store)
    if sweep_id is None:
        if len(sweeps) == 1:
            return sweeps[0]
        if not sweeps:
            raise ReportError(f"{store.path} holds no sweeps (run one: impress sweep ...)")
        raise ReportError(f"{store.path} holds {len(sweeps)} sweeps; name one: impress report "
                          f"<sweep-id> store={store.path}. Sweeps: {describe(sweeps)}")
    for sweep in sweeps:
        if sweep.id == sweep_id:
            return sweep
    raise ReportError(f"unknown sweep {sweep_id!r} in {store.path}; known sweeps: {describe(sweeps)}")


def expanded_hashes(spec: dict[str, Any]) -> tuple[set[str], str | None]:
    """The config hashes the sweep's spec expands to now, or (empty, why) when it cannot be expanded."""
    try:
        return {job.config_hash for job in expand(SweepSpec.model_validate(spec))}, None
    except Exception as exc:  # a removed or invalid world, an old spec: fall back to the sweep id
        return set(), f"the sweep's spec cannot be expanded now ({type(exc).__name__}: {exc})"


def load_sweep(store_path: str | Path, sweep_id: str | None = None) -> SweepData:
    """The sweep `sweep_id` (or the store's only sweep) with its episodes, ordered by config hash."""
    with open_store(store_path) as store:
        sweep = choose_sweep(store, sweep_id)
        wanted, note = expanded_hashes(sweep.spec)
        owners = dict(store.conn.execute("SELECT config_hash, sweep_id FROM episodes").fetchall())
        hashes = sorted(store.sweep_hashes(sweep.id) | (wanted & owners.keys()))
        episodes: list[Episode] = []
        for start in range(0, len(hashes), CHUNK):
            chunk = hashes[start:start + CHUNK]
            rows = store.conn.execute(
                "SELECT config_hash, record, attempt, temperature, top_p FROM episodes WHERE config_hash IN "
                f"({', '.join('?' * len(chunk))})", chunk).fetchall()
            episodes += [Episode(config_hash=h, record=read_record(store.path, h, text), attempt=attempt or 0,
                                 temperature=temperature, top_p=top_p)
                         for h, text, attempt, temperature, top_p in rows]
    episodes.sort(key=lambda e: e.config_hash)
    if not episodes:
        raise ReportError(f"sweep {sweep.id!r} has no episodes in {store_path} yet (run it: python -m "
                          "impress_sim.sweep ...)")
    shared = sum(1 for e in episodes if owners[e.config_hash] != sweep.id)
    return SweepData(store=str(store_path), sweep=sweep.model_copy(update={"episodes": len(episodes)}),
                     episodes=episodes, shared=shared, expand_note=note)
