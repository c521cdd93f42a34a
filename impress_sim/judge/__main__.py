"""`impress judge rejudge <record.json ...> [out=DIR] [judge.model=...] [world=...]` (the same command:
`python -m impress_sim.judge rejudge ...`)

Re-judges saved episode records with the current judges: judging is a pure function of (world,
record), so nothing is rerun. Each record's world is loaded by its id (or `world=<id or path>`);
a record made with a different version of that world (another content hash) is refused. The
new verdict is written back into the record file, or to `out=DIR` under the same file name. An error
episode has no verdict: it is skipped (and a verdict an older version gave it is dropped). When a
configured judge gives no verdict (its model failed, or never gave a valid reply), the record is
left as it was, the failure is reported and the exit status is 1.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console

from impress_sim.cli import Action, Group, main_for, print_error
from impress_sim.envs.loader import load_world
from impress_sim.errors import RecordMismatchError, WorldSpecError
from impress_sim.judge import judge_episode
from impress_sim.judge.config import JudgeConfig
from impress_sim.models.cache import ResponseCache, default_cache_path
from impress_sim.record import EpisodeRecord
from impress_sim.render import render_verdict


class RejudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[str] = Field(min_length=1, description="episode record files (JSON)")
    out: str | None = Field(None, description="folder for the re-judged records (default: each record in place)")
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="judges (docs/judge.md)")
    world: str | None = Field(None, description="world id or path (default: the record's world id)")
    cache: str = Field(default_cache_path(), description="response cache (SQLite), or 'off'")

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


def _rejudge(config: RejudgeConfig, console: Console) -> int:
    config.judge.check()
    return asyncio.run(rejudge(config, console))


COMMAND = Group(
    summary="Judging is a pure function of (world, record): saved episodes are re-judged by the current judges "
            "without rerunning them.",
    actions={
        "rejudge": Action(
            "re-judge saved episode records, writing the verdict back (or under out=); a record made with another "
            "version of its world is refused; exit 1 if a judge gave no verdict (that record is left as it was), 2 if "
            "any record was refused or unreadable",
            RejudgeConfig, _rejudge, positional="records"),
    },
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.judge rejudge ...`: the same command as `impress judge rejudge`."""
    return main_for(COMMAND, argv, "python -m impress_sim.judge")


if __name__ == "__main__":
    sys.exit(main())
