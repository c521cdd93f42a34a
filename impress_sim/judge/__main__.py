"""`impress judge rejudge <record.json ...> [out=DIR] [judge.model=...] [world=...]` (the same command:
`python -m impress_sim.judge rejudge ...`)

Re-judges saved episode records with the current judges: judging is a pure function of (world,
record), so nothing is rerun. Each record's world is loaded by its id (or `world=<id or path>`);
a record made with a different version of that world (another content hash) is refused. The
new verdict is written back into the record file, or to `out=DIR` under the same file name. An error
episode has no verdict: it is skipped (and a verdict an older version gave it is dropped). When a
configured judge gives no verdict (its model failed, or never gave a valid reply), the record is
left as it was, the failure is reported and the exit status is 1.

`impress judge rejudge <store.sqlite> judge.model=... [sweep=ID] [name=SET]` re-judges the episodes
stored in a sweep results store (of one sweep, or all) and writes their verdicts as a NEW verdict
set `SET` beside the old ones (`verdict_sets` table: one row per episode and set); the stored records
and their own verdicts (the set `original`) are never touched, so the report can compare the two.
It resumes: episodes the set already has a verdict for are skipped, and ones whose judge gave none
(recorded as `failed`, never as aligned) are tried again.
"""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from impress_sim.cli import Action, Group, main_for, print_error
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.errors import RecordMismatchError, UsageError, WorldSpecError
from impress_sim.judge import judge_episode
from impress_sim.judge.config import JudgeConfig
from impress_sim.models.cache import ResponseCache, default_cache_path
from impress_sim.record import EpisodeRecord
from impress_sim.render import render_verdict
from impress_sim.sweep.store import ORIGINAL, Store

SQLITE_HEADER = b"SQLite format 3\x00"
SET_NAME = r"^[A-Za-z0-9_.:/+=-]{1,100}$"


class RejudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[str] = Field(min_length=1, description="episode record files (JSON), or one results store (SQLite)")
    out: str | None = Field(None, description="folder for the re-judged records (default: each record in place)")
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="judges (docs/judge.md)")
    world: str | None = Field(None, description="world id or path (default: the record's world id)")
    cache: str = Field(default_cache_path(), description="response cache (SQLite), or 'off'")
    sweep: str | None = Field(None, description="a store: re-judge this sweep's episodes (default: every episode)")
    name: str | None = Field(None, pattern=SET_NAME, description="a store: the new verdict set's name (default: "
                             "the judge models joined by '+', or 'state')")
    concurrency: int = Field(8, ge=1, description="a store: episodes judged at once")
    quiet: bool = Field(False, description="a store: no progress bar")

    @field_validator("cache", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return "off" if value is False else value

    @field_validator("judge", mode="before")
    @classmethod
    def _judge_shorthand(cls, value: object) -> object:
        return {"model": value} if isinstance(value, str) else value  # judge=<model> means judge.model=<model>


async def rejudge(config: RejudgeConfig, console: Console) -> int:
    """Re-judge each record; 0 when all were, 1 when a judge gave no verdict on one (that record is
    left as it was), 2 when any was refused or unreadable."""
    out = Path(config.out) if config.out else None
    settings = config.judge.llm_settings()
    cache = ResponseCache(config.cache) if settings and config.cache != "off" else None
    status = 0
    try:
        for path in map(Path, config.records):
            try:
                record = EpisodeRecord.load(path)
            except (OSError, ValueError) as exc:  # ValueError: not UTF-8 (binary), not JSON, not a record
                reason = exc.strerror if isinstance(exc, OSError) else "not a valid episode record"
                own = str(exc) if isinstance(exc, ValueError) and str(exc).startswith(f"{path}: ") else None
                print_error(own or f"{path}: cannot read: {reason}")
                status = 2
                continue
            if record.status == "error":  # it has no verdict: never judged "aligned"
                console.print(f"{path}: an error episode has no verdict; not judged ({record.error})",
                              highlight=False, markup=False)
                if record.verdict is not None:  # judged by an older version: drop that label
                    record.verdict = None
                    record.save_as(out / path.name if out else path)
                continue
            try:
                loaded = load_world(config.world or record.world_id)
                record.verdict = await judge_episode(loaded, record, settings, config.judge.policy, cache,
                                                     reasks=config.judge.reasks)
            except (RecordMismatchError, WorldSpecError) as exc:
                print_error(f"{path}: refusing to rejudge: {exc}")
                status = 2
                continue
            failed = record.verdict.judge_errors
            if failed:  # a judge gave no verdict: the record keeps the one it had
                print_error(f"{path}: not re-judged: {len(failed)} judge(s) gave no verdict ({'; '.join(failed)}); "
                            "the record is left as it was")
                status = max(status, 1)
                continue
            written = record.save_as(out / path.name if out else path)
            render_verdict(console, record, str(written))
    finally:
        if cache is not None:
            cache.close()
    return status


def is_store(path: Path) -> bool:
    """An SQLite file (a results store, or something `Store` will refuse with its own message). Only
    a regular file is opened: a FIFO or a device would block or never end (they are refused as
    records, with the reason, by `EpisodeRecord.load`)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with path.open("rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def set_name(config: RejudgeConfig) -> str:
    return config.name or "+".join(config.judge.llm_models()) or "state"


def _sweep_worlds(store: Store) -> dict[str, str]:
    """world id -> the folder a stored sweep spec names it by (a sweep may run worlds by path), so a
    record is re-judged against the very world it ran in, wherever it lives."""
    out: dict[str, str] = {}
    for (text,) in store.conn.execute("SELECT spec FROM sweeps"):
        for world in json.loads(text).get("worlds", []):
            try:
                out.setdefault(load_world(world).spec.id, world)
            except (WorldSpecError, OSError):
                continue  # a world that no longer loads: its records are refused one by one, by name
    return out


async def rejudge_store(config: RejudgeConfig, console: Console) -> int:
    """Re-judge the stored episodes (of `config.sweep`) into verdict set `set_name(config)`; 0 when
    every one got a verdict, 1 when a judge gave none on some (recorded as `failed`), 2 when a record
    was refused (its world changed since it ran)."""
    path = Path(config.records[0])
    name = set_name(config)
    if name.casefold() == ORIGINAL:  # `Original` beside `original` would read as the same set
        raise UsageError(f"name={ORIGINAL} is the verdict set the episodes were judged with when they ran; "
                         "give the new set another name")
    judge = config.judge.model_dump(mode="json")
    settings = config.judge.llm_settings()
    with Store(path) as store:
        sweeps = [s for (s,) in store.conn.execute("SELECT id FROM sweeps ORDER BY id")]
        if config.sweep is not None and config.sweep not in sweeps:
            raise UsageError(f"sweep={config.sweep}: no such sweep in {path}; its sweeps: "
                             f"{', '.join(sweeps) or 'none'}")
        before = store.verdict_set_judge(name)
        if before is not None and before != judge:
            raise UsageError(f"name={name}: that verdict set was made by another judge ({json.dumps(before)}); "
                             "give a new name=, so one set never mixes two judges")
        done = {h for h, v in store.verdict_set(name, config.sweep).items() if v.status == "done"}
        rows = store.rows(config.sweep)
        todo = [r["config_hash"] for r in rows if r["status"] == "done" and r["config_hash"] not in done]
        errors = sum(r["status"] == "error" for r in rows)
        console.print(f"verdict set {name}: {len(todo)} to judge, {len(done)} already judged, {errors} error "
                      "episode(s) skipped (no verdict)", highlight=False, markup=False)
        worlds = _sweep_worlds(store)
        loaded: dict[str, LoadedWorld] = {}  # each world loaded once
        cache = ResponseCache(config.cache) if settings and config.cache != "off" else None
        semaphore = asyncio.Semaphore(config.concurrency)
        failed: list[str] = []
        refused: list[str] = []

        async def one(digest: str) -> None:
            async with semaphore:
                record = store.record(digest)
                world_ref = config.world or worlds.get(record.world_id, record.world_id)
                try:
                    world = loaded.get(world_ref) or loaded.setdefault(world_ref, load_world(world_ref))
                    verdict = await judge_episode(world, record, settings, config.judge.policy, cache,
                                                  reasks=config.judge.reasks)
                except (RecordMismatchError, WorldSpecError) as exc:
                    refused.append(f"{digest[:12]}: {exc}")
                    return
                if verdict.judge_errors:  # recorded as failed: never as aligned, and tried again on a rerun
                    store.write_verdict(digest, name, judge, None, "; ".join(verdict.judge_errors))
                    failed.append(digest)
                else:
                    store.write_verdict(digest, name, judge, verdict)
                progress.advance(task)

        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console, disable=config.quiet)
        try:
            with progress:
                task = progress.add_task(f"rejudge {name}", total=len(todo))
                await asyncio.gather(*(one(h) for h in todo))
        finally:
            if cache is not None:
                cache.close()
    for message in refused:
        print_error(f"{path}: refusing to rejudge episode {message}")
    if failed:
        print_error(f"{path}: {len(failed)} episode(s) got no verdict from the judge under set {name} (recorded "
                    "as failed, never as aligned; rerun to try them again)")
    console.print(f"verdict set {name}: {len(todo) - len(failed) - len(refused) + len(done)} episode(s) judged; "
                  f"report it with `impress report {path} verdicts={name}`", highlight=False, markup=False)
    return 2 if refused else 1 if failed else 0


def _rejudge(config: RejudgeConfig, console: Console) -> int:
    stores = [p for p in config.records if is_store(Path(p))]
    if stores and len(config.records) > 1:
        raise UsageError(f"give one results store ({stores[0]}) or record files, not both or several stores")
    if not stores and (config.sweep is not None or config.name is not None):
        raise UsageError("sweep= and name= apply to a results store (rejudge <store.sqlite> ...); "
                         f"{config.records[0]} is not one")
    if stores and config.out is not None:
        raise UsageError("out= applies to record files: a store's new verdicts are written as a verdict set in it")
    config.judge.check()
    if stores:
        return asyncio.run(rejudge_store(config, console))
    return asyncio.run(rejudge(config, console))


COMMAND = Group(
    summary="Judging is a pure function of (world, record): saved episodes are re-judged by the current judges "
            "without rerunning them.",
    actions={
        "rejudge": Action(
            "re-judge saved episode records, writing the verdict back (or under out=), or a results store's "
            "episodes into a new verdict set (name=, sweep=); a record made with another version of its world is "
            "refused; exit 1 if a judge gave no verdict (that record is left as it was), 2 if any record was "
            "refused or unreadable",
            RejudgeConfig, _rejudge, positional="records"),
    },
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.judge rejudge ...`: the same command as `impress judge rejudge`."""
    return main_for(COMMAND, argv, "python -m impress_sim.judge")


if __name__ == "__main__":
    sys.exit(main())
