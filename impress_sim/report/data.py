"""Load one sweep from a results store: its spec and every episode record that belongs to it.

Reports read only the store (DESIGN.md). An episode is stored once, under the sweep that ran it, so
a sweep that shares cells with an earlier one finds some of its episodes under the other sweep's id;
the store links each sweep to every episode it expands to (`sweep_episodes`). The sweep's episodes
are those stored under its id or linked to it, plus (for a sweep run before links existed) those
whose `config_hash` its spec expands to now (when the spec can still be expanded: an edited or
removed world expands to other hashes).

Several sweeps, from one store or several (`load_sweeps`), are one report: their episodes merged by
config hash (the same episode twice is one; a finished one wins over an error; two finished copies
that differ are kept once and reported as a conflict), their specs' axes, variant orders and
model_meta merged (model_meta that disagrees is an error naming the model and field). Each source's
verdict sets (`impress judge rejudge <store>`) come along (`SweepData.verdict_sets`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from impress_sim.errors import ReportError
from impress_sim.record import EpisodeRecord
from impress_sim.sweep.spec import SweepSpec, expand
from impress_sim.sweep.store import SetVerdict, Store, read_record

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
    sources: list[str] = []  # "<store> (sweep <id>)" of every sweep merged into this one
    conflicts: list[str] = []  # episodes two sources both finished, differently (the first source's kept)
    verdict_sets: dict[str, dict[str, SetVerdict]] = {}  # set name -> config hash -> verdict (not `original`)

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
        mine = set(hashes)
        verdict_sets: dict[str, dict[str, SetVerdict]] = {}
        for name in store.verdict_set_names():
            if got := {h: v for h, v in store.verdict_set(name).items() if h in mine}:
                verdict_sets[name] = got
    episodes.sort(key=lambda e: e.config_hash)
    if not episodes:
        raise ReportError(f"sweep {sweep.id!r} has no episodes in {store_path} yet (run it: python -m "
                          "impress_sim.sweep ...)")
    shared = sum(1 for e in episodes if owners[e.config_hash] != sweep.id)
    return SweepData(store=str(store_path), sweep=sweep.model_copy(update={"episodes": len(episodes)}),
                     episodes=episodes, shared=shared, expand_note=note,
                     sources=[f"{store_path} (sweep {sweep.id})"], verdict_sets=verdict_sets)


def _union(lists: list[list[Any]]) -> list[Any]:
    """Every value of the lists once, in first-seen order (the first sweep's order, then new ones)."""
    return list(dict.fromkeys(v for values in lists for v in values))


def merge_specs(specs: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """One spec for several sweeps: the first's options, every sweep's axis values (in first-seen
    order: a variant axis's first value stays the control), and their model_meta merged. A model
    whose meta two sweeps give differently is an error naming the model, the field and the sweeps."""
    merged = dict(specs[0])
    for axis in ("worlds", "models", "agents", "named_variants", "temperature", "top_p"):
        merged[axis] = _union([list(s.get(axis) or []) for s in specs])
    variants: dict[str, list[Any]] = {}
    for s in specs:
        for axis, values in (s.get("variants") or {}).items():
            variants[axis] = _union([variants.get(axis, []), list(values)])
    merged["variants"] = variants
    meta: dict[str, dict[str, Any]] = {}
    said: dict[tuple[str, str], str] = {}
    for s, name in zip(specs, names, strict=True):
        for model, fields in (s.get("model_meta") or {}).items():
            for field, value in fields.items():
                have = meta.setdefault(model, {})
                if field in have and have[field] != value:
                    raise ReportError(f"model_meta of {model}: {field} is {have[field]!r} in {said[model, field]} but "
                                      f"{value!r} in {name}; make the sweeps agree (it is a property of the model)")
                have[field] = value
                said.setdefault((model, field), name)
    merged["model_meta"] = meta
    return merged


def load_sweeps(sources: list[tuple[str, str | None]]) -> SweepData:
    """Several sweeps (store path, sweep id or None for the store's only one) as one `SweepData`."""
    if len(sources) == 1:
        return load_sweep(*sources[0])
    parts = [load_sweep(store, sweep_id) for store, sweep_id in sources]
    seen: dict[tuple[str, str], str] = {}
    for part in parts:
        key = (str(Path(part.store).resolve()), part.sweep.id)
        if key in seen:
            raise ReportError(f"sweep {part.sweep.id} of {part.store} is given twice")
        seen[key] = part.sources[0]
    episodes: dict[str, Episode] = {}
    origin: dict[str, str] = {}
    conflicts: list[str] = []
    for part in parts:
        for e in part.episodes:
            have = episodes.get(e.config_hash)
            if have is None or (have.record.status == "error" and e.record.status != "error"):
                episodes[e.config_hash], origin[e.config_hash] = e, part.sources[0]
            elif e.record.status != "error" and have.record.comparable() != e.record.comparable():  # ids, times aside
                conflicts.append(f"episode {e.config_hash[:12]} finished in both {origin[e.config_hash]} and "
                                 f"{part.sources[0]} with different records (the first kept)")
    names = [p.sources[0] for p in parts]
    spec = merge_specs([p.sweep.spec for p in parts], names)
    sets: dict[str, dict[str, SetVerdict]] = {}
    for part in parts:
        for name, verdicts in part.verdict_sets.items():
            for digest, verdict in verdicts.items():
                if origin.get(digest) == part.sources[0] or digest not in sets.get(name, {}):
                    sets.setdefault(name, {})[digest] = verdict
    sweep = SweepInfo(id="+".join(p.sweep.id for p in parts), created=min(p.sweep.created for p in parts),
                      spec=spec, episodes=len(episodes))
    notes = [f"{p.sweep.id}: {p.expand_note}" for p in parts if p.expand_note]
    merged = sorted(episodes.values(), key=lambda e: e.config_hash)
    return SweepData(store=", ".join(names), sweep=sweep, episodes=merged,
                     shared=sum(p.shared for p in parts), expand_note="; ".join(notes) or None, sources=names,
                     conflicts=conflicts, verdict_sets=sets)
