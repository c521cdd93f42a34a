"""`python -m impress_sim.judge rejudge <record.json ...> [--out DIR] [judge.model=...] [world=...]`

Re-judges saved episode records with the current judges: judging is a pure function of (world,
record), so nothing is rerun. Each record's world is loaded by its id (or `world=<id or path>`);
a record made with a different version of that world (another content hash) is refused. The
new verdict is written back into the record file, or to `--out DIR/<same file name>`. An error
episode has no verdict: it is skipped (and a verdict an older version gave it is dropped).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.console import Console

from impress_sim.cli import parse_overrides, print_error, usage
from impress_sim.envs.loader import load_world
from impress_sim.errors import ModelError, RecordMismatchError, UsageError, WorldSpecError
from impress_sim.judge import judge_episode
from impress_sim.judge.config import JudgeConfig
from impress_sim.models.cache import ResponseCache, default_cache_path
from impress_sim.models.transport import preflight
from impress_sim.record import EpisodeRecord
from impress_sim.render import render_verdict

COMMAND = "python -m impress_sim.judge rejudge <record.json ...> [--out DIR]"


class RejudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="judges (docs/judge.md)")
    world: str | None = Field(None, description="world id or path (default: the record's world id)")
    cache: str = Field(default_cache_path(), description="response cache (SQLite), or 'off'")

    @field_validator("cache", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return "off" if value is False else value


def _split(args: list[str]) -> tuple[list[Path], list[str], Path | None]:
    """Record paths, key=value overrides and the --out folder."""
    paths: list[Path] = []
    overrides: list[str] = []
    out: Path | None = None
    rest = iter(args)
    for arg in rest:
        if arg == "--out":
            value = next(rest, None)
            if value is None:
                raise UsageError("--out needs a folder")
            out = Path(value)
        elif arg.startswith("--out="):
            out = Path(arg.removeprefix("--out="))
        elif "=" in arg:
            overrides.append(arg)
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg!r}; usage: {COMMAND} [key=value ...]")
        else:
            paths.append(Path(arg))
    if not paths:
        raise UsageError(f"no record files given; usage: {COMMAND} [key=value ...]")
    return paths, overrides, out


async def rejudge(paths: list[Path], config: RejudgeConfig, out: Path | None, console: Console) -> int:
    """Re-judge each record; 0 when all were, 2 when any was refused or unreadable."""
    settings = config.judge.llm_settings()
    cache = ResponseCache(config.cache) if settings and config.cache != "off" else None
    status = 0
    try:
        for path in paths:
            try:
                record = EpisodeRecord.load(path)
            except (OSError, ValidationError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not a valid episode record"
                print_error(console, f"{path}: cannot read: {reason}")
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
                print_error(console, f"{path}: refusing to rejudge: {exc}")
                status = 2
                continue
            written = record.save_as(out / path.name if out else path)
            render_verdict(console, record, str(written))
    finally:
        if cache is not None:
            cache.close()
    return status


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    console = Console()
    if not args or args[0] in ("-h", "--help", "help") or (args[0] == "rejudge" and "--help" in args):
        console.print(usage(RejudgeConfig, COMMAND), highlight=False)
        return 0 if args else 2
    try:
        if args[0] != "rejudge":
            raise UsageError(f"unknown command {args[0]!r}; valid: rejudge")
        paths, overrides, out = _split(args[1:])
        config = parse_overrides(RejudgeConfig, overrides)
        for settings in config.judge.llm_settings():
            preflight(settings)
    except (UsageError, ModelError) as exc:
        print_error(console, exc)
        return 2
    return asyncio.run(rejudge(paths, config, out, console))


if __name__ == "__main__":
    sys.exit(main())
