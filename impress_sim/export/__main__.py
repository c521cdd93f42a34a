"""`impress export ...` (or `python -m impress_sim.export ...`): training datasets from the worlds.

- `impress export store=runs/sweeps.sqlite [sweep=ID] [level=turn|episode]`: (prompt messages,
  completion, reward, findings) tuples from a sweep store's episodes (`export/tuples.py`).
- `impress export kind=pairs worlds=[a,b] seeds=3 [routes=true]`: same-state preference pairs
  branched from one World snapshot (`export/pairs.py`).
- `impress export kind=inspect store=runs/sweeps.sqlite [sweep=ID] [out=DIR]`: the store's episodes as
  Inspect AI eval logs (`.eval`, one per sweep × model × world) for `inspect view`
  (`impress_sim.adapters.inspect_eval.export`; the `inspect` extra).

Either writes `<out>/data/train.jsonl` (or `.parquet`) and the dataset card `<out>/README.md`; an
`out=` that exists is refused unless `force=true`. Exit status 0, or 2 with one message naming what to
fix (a missing or unreadable store, an unknown sweep or world, a kind without its source).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from impress_sim.cli import Action, main_for
from impress_sim.envs.reward import RewardConfig
from impress_sim.errors import UsageError
from impress_sim.export.card import CardFacts, card_text
from impress_sim.export.chat import Clip
from impress_sim.export.pairs import PairStats, world_pairs
from impress_sim.export.schema import PAIRS, TUPLES
from impress_sim.export.tuples import Provenance, ToolSchemas, record_rows
from impress_sim.export.writer import data_path, prepare_out, write_card, write_rows

MAX_SEEDS = 10_000


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["tuples", "pairs", "inspect"] = Field(
        "tuples", description="tuples: (prompt, completion, reward, findings) from a store; pairs: same-state "
        "preference pairs from the worlds; inspect: a store's episodes as Inspect AI eval logs")
    store: str | None = Field(None, description="kind=tuples: the results store (SQLite) of sweeps")
    sweep: str | None = Field(None, description="kind=tuples: only this sweep's episodes (default: every episode)")
    level: Literal["turn", "episode"] = Field("turn", description="kind=tuples: one row per assistant turn, or one "
                                              "per episode (the whole trajectory)")
    worlds: list[str] | None = Field(None, description="kind=pairs: world ids, folders or packs (default: every "
                                     "shipped world)")
    seeds: int = Field(1, ge=1, le=MAX_SEEDS, description="kind=pairs: seeds 0..N-1 of each world")
    routes: bool = Field(False, description="kind=pairs: also pair every behaviour's proven routes as rejected")
    format: Literal["jsonl", "parquet"] = Field("jsonl", description="jsonl, or parquet (pip install "
                                                "'impress-sim[parquet]')")
    out: str | None = Field(None, description="output folder (default: runs/export-<kind>)")
    force: bool = Field(False, description="write into out= even if it exists")
    max_chars: int = Field(100_000, ge=0, description="clip every message text to this many characters (0: never)")
    reward: RewardConfig = Field(default_factory=RewardConfig)

    def check_sources(self) -> None:
        """Each kind has its one source: a store for tuples, worlds for pairs (`UsageError` otherwise)."""
        if self.reward.judge_weight:
            raise UsageError("reward.judge_weight: the export computes no judge term (a record holds its verdict: "
                             "weigh the `episode_misaligned` column instead)")
        if self.kind in ("tuples", "inspect"):
            if self.store is None:
                raise UsageError(f"kind={self.kind} needs store=<results store>; kind=pairs makes pairs from worlds")
            if self.worlds is not None:
                raise UsageError("worlds= is for kind=pairs; kind=tuples reads the episodes of store=")
            if self.routes or self.seeds != 1:
                raise UsageError("seeds= and routes= are for kind=pairs; kind=tuples reads the episodes of store=")
        elif self.store is not None or self.sweep is not None:
            raise UsageError("store= and sweep= are for kind=tuples; kind=pairs replays the worlds (worlds=, seeds=)")


def command_line(config: ExportConfig) -> str:
    """The command that makes this export again (for the card)."""
    parts = ["impress export"]
    for key, value in config.model_dump(exclude_defaults=True, exclude={"force"}).items():
        if isinstance(value, dict):
            parts += [f"{key}.{k}={v}" for k, v in value.items()]
        elif isinstance(value, list):
            parts.append(f"{key}=[{','.join(map(str, value))}]")
        else:
            parts.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return " ".join(parts)


def _tuples(config: ExportConfig, out: Path, clip: Clip) -> CardFacts:
    from impress_sim.sweep.__main__ import link_older_sweep
    from impress_sim.sweep.store import Store

    assert config.store is not None
    store_path = Path(config.store)
    if not store_path.exists():
        raise UsageError(f"store={config.store}: no such file (give the results store a sweep wrote)")
    prov = Provenance()
    tools = ToolSchemas()
    try:
        with Store(store_path) as store:
            if config.sweep is not None:
                link_older_sweep(store, config.sweep)  # an unknown sweep is refused here, before out= is made
            prepare_out(out, force=config.force, protect=[store_path])

            def rows() -> Iterator[dict[str, Any]]:
                for digest, record in store.records(config.sweep):
                    if record.status == "error":
                        prov.skipped_errors += 1
                        continue
                    prov.episodes += 1
                    prov.worlds.setdefault(record.world_id, set()).add(record.world_hash)
                    prov.models.add(record.model)
                    schemas = tools(record)
                    prov.no_tools += schemas is None
                    yield from record_rows(record, digest, level=config.level, config=config.reward, clip=clip,
                                           tools=schemas, prov=prov)

            n = write_rows(rows(), out, config.format, TUPLES)
    except sqlite3.Error as exc:
        raise UsageError(f"store={config.store}: cannot read the results store ({exc})") from None
    return CardFacts(
        kind=f"tuples ({config.level} level)", fmt=config.format, rows=n, schema=TUPLES, command=command_line(config),
        reward=config.reward, worlds=prov.worlds, models=sorted(prov.models),
        sources=[("results store", str(store_path)), ("sweep", config.sweep or "every episode in the store")],
        counts={"episodes": prov.episodes, "error episodes skipped": prov.skipped_errors,
                "episodes without tools (world changed or not loadable)": prov.no_tools,
                "steps matched to no assistant turn": prov.unattributed_steps, "texts clipped": clip.clipped},
        limits=[
            "Rewards are recomputed from each record's per-step findings and attempts and its task checks; the "
            "task credit is paid on the episode's last assistant turn whatever reward.task_timing says (a record "
            "holds the checks at the end only; under task_timing=progress the env spreads the same total over the "
            "steps). An LLM-judge reward term is not included (reward.judge_weight is refused).",
            "In multi-agent worlds only the primary agent's turns are exported, and its task credit is computed "
            "over every role's task checks (a record does not say which check is whose).",
            "A step no assistant turn could be matched to (no call id, text-format tool calls beyond the turns) "
            "is counted in the episode-level reward only.",
            f"Texts longer than {config.max_chars or 'unlimited'} characters are clipped (counted above).",
            "Replayed (reference) episodes are scripted, not model behaviour: filter on `is_replay`.",
        ])


def _pairs(config: ExportConfig, out: Path, clip: Clip) -> CardFacts:
    from impress_sim.envs.loader import load_world, world_ids
    from impress_sim.packs import expand_worlds

    worlds = expand_worlds(config.worlds) if config.worlds is not None else world_ids()
    if not worlds:
        raise UsageError("worlds=[] names no world; give world ids, folders or packs")
    for ref in worlds:  # an unknown or broken world is refused before anything is written
        load_world(ref)
    prepare_out(out, force=config.force)
    stats = PairStats()

    def rows() -> Iterator[dict[str, Any]]:
        for ref in worlds:
            for seed in range(config.seeds):
                yield from world_pairs(ref, seed, config=config.reward, clip=clip, routes=config.routes, stats=stats)

    n = write_rows(rows(), out, config.format, PAIRS)
    return CardFacts(
        kind="pairs", fmt=config.format, rows=n, schema=PAIRS, command=command_line(config), reward=config.reward,
        worlds=stats.worlds, sources=[("worlds", ", ".join(worlds)), ("seeds", f"0..{config.seeds - 1}")],
        counts={"pairs": stats.pairs, **{f"dropped: {why}": k for why, k in sorted(stats.dropped.items())},
                "texts clipped": clip.clipped},
        limits=[
            "Both continuations are the worlds' scripted trajectories (references and, with routes=true, every "
            "behaviour's proven routes), not a model's samples: they teach what the detectors see, in the "
            "authors' words.",
            "The shared prefix is the steps both trajectories have in common from the start; most pairs branch "
            "early, so prompts are short.",
            "A pair is kept only when the chosen continuation has no finding and the rejected one has at least "
            "one; dropped couples are counted above by reason.",
            "Multi-agent worlds are skipped. Both sides run under the rejected trajectory's variant; a chosen "
            "trajectory written for another variant is not paired with it.",
            "The detectors see effects on the world's state; misconduct they do not model (e.g. deceptive "
            "wording with no state change) is not in the findings.",
        ])


def _inspect(config: ExportConfig, out: Path, console: Console) -> int:
    """`kind=inspect`: one `.eval` log per (sweep, model, world) under `out` (the `inspect` extra)."""
    from impress_sim.adapters.inspect_eval.export import export_store  # without the extra: one message naming it

    assert config.store is not None
    if out.exists() and not out.is_dir():
        raise UsageError(f"out={out} is a file; give a folder for the logs")
    if out.exists() and not config.force:
        raise UsageError(f"out={out} exists; nothing was written (force=true writes the logs into it)")
    paths = export_store(config.store, out, config.sweep)
    console.print(f"{len(paths)} Inspect log(s) -> {out} (open them with: inspect view --log-dir {out})",
                  highlight=False, markup=False, soft_wrap=True)
    return 0


def _run(config: ExportConfig, console: Console) -> int:
    config.check_sources()
    if config.kind == "inspect":
        return _inspect(config, Path(config.out) if config.out else Path("runs") / "export-inspect", console)
    out = Path(config.out) if config.out else Path("runs") / f"export-{config.kind}"
    clip = Clip(config.max_chars)
    facts = (_tuples if config.kind == "tuples" else _pairs)(config, out, clip)
    card = write_card(out, card_text(facts))
    console.print(f"{facts.rows} rows -> {data_path(out, config.format)} (card: {card})", highlight=False,
                  markup=False, soft_wrap=True)
    return 0


COMMAND = Action(
    "training datasets: (prompt, completion, reward, findings) tuples from a sweep store, or same-state "
    "preference pairs from the worlds; JSON lines or Parquet, with a dataset card",
    ExportConfig, _run,
    details="e.g. impress export store=runs/sweeps.sqlite level=turn format=parquet out=runs/ds\n"
            "     impress export kind=pairs worlds=[corporate_shutdown] seeds=3 routes=true\n"
            "     impress export kind=inspect store=runs/sweeps.sqlite out=runs/inspect-logs",
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.export ...`: the same command as `impress export`."""
    return main_for(COMMAND, argv, "python -m impress_sim.export")


if __name__ == "__main__":
    sys.exit(main())

