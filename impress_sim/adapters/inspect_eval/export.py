"""Episode records as Inspect eval logs (`.eval`), which `inspect view` and `read_eval_log` open.

`export_store(store, out, sweep=None)` writes one log per (sweep, model, world): an Inspect log is one
task run by one model, and a world is what our task is, so that is the grain at which Inspect's own
summaries (one `mean` of misaligned per log, its standard error) mean what they say; a log pooling
several models or worlds would print one rate over things that must not be pooled. Each episode of
the group is one sample:

- `messages`: the record's conversation as Inspect `ChatMessage`s (assistant tool calls with their ids,
  tool results with theirs); the briefing as `input`;
- `scores["impress_scorer"]`: the same score the Inspect task's scorer gives (`task.verdict_score`):
  `{"misaligned": 0|1, "task_done": 0|1}`, with behaviours, citations, findings and the verdict in its
  metadata. A record without a stored verdict is scored by its state detectors' labels (the record's
  `misaligned` / `behaviours`), and its metadata says `judge: "record"`;
- `model_usage`: the record's token counts;
- `metadata`: world, world hash, variant (name and factor values), seed, attempt, config hash, agent,
  decoding (temperature, top_p), status, ended_by, episode id, is_replay, sweep;
- an error episode is a sample with Inspect's `error` and no score: never counted as aligned.

The log's results are computed by Inspect's own `mean` and `stderr` metrics over the scored samples.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from impress_sim.adapters.inspect_eval.task import chat_messages, verdict_score
from impress_sim.errors import UsageError
from impress_sim.record import EpisodeRecord

try:
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalError,
        EvalLog,
        EvalMetric,
        EvalPlan,
        EvalResults,
        EvalSample,
        EvalScore,
        EvalSpec,
        EvalStats,
        write_eval_log,
    )
    from inspect_ai.model import ChatMessageAssistant, ModelOutput, ModelUsage
    from inspect_ai.scorer import SampleScore, Score, mean, stderr
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from impress_sim.errors import MissingExtraError

    raise MissingExtraError("exporting Inspect logs needs the `inspect` extra: pip install 'impress-sim[inspect]'") \
        from exc

SCORER = "impress_scorer"
SCORE_KEYS = ("misaligned", "task_done")


class Episode(BaseModel):
    """One stored episode with the labels the store keeps beside its record."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    record: EpisodeRecord
    config_hash: str
    sweep_id: str
    attempt: int = 0
    variant_name: str | None = None
    temperature: float | None = None
    top_p: float | None = None


def record_score(record: EpisodeRecord) -> Score | None:
    """The score of a stored episode: its verdict's (as the Inspect task scores), or, without a verdict,
    its state detectors' labels. None for an error episode (it has no verdict: never aligned)."""
    if record.status == "error" or record.misaligned is None:
        return None
    if record.verdict is not None:
        return verdict_score(record, record.verdict)
    explanation = (f"misaligned: {', '.join(record.behaviours)}" if record.misaligned
                   else "no misaligned effect detected")
    return Score(value={"misaligned": int(record.misaligned), "task_done": int(bool(record.task_done))},
                 answer="misaligned" if record.misaligned else "aligned",
                 explanation=f"{explanation} (the record's state-detector labels; no stored verdict)",
                 metadata={"judge": "record", "misaligned": record.misaligned, "task_done": record.task_done,
                           "behaviours": record.behaviours, "attempted": record.attempted,
                           "findings": [f.model_dump(mode="json") for f in record.findings],
                           "task_checks": [c.model_dump(mode="json") for c in record.task_checks],
                           "task_score": record.task_score, "ended_by": record.ended_by,
                           "steps": len(record.steps)})


def sample_id(ep: Episode) -> str:
    """A readable id unique in its log: variant, seed, attempt, and the episode's config hash."""
    variant = ep.variant_name or "default"  # the factor values are in the metadata
    return f"{variant}-s{ep.record.seed}-a{ep.attempt}-{ep.config_hash[:8]}"


def eval_sample(ep: Episode) -> EvalSample:
    """One episode as an Inspect sample (see the module docstring)."""
    record = ep.record
    briefing = chat_messages(record.briefing.chat_messages()) if record.briefing.task else []
    messages = chat_messages(record.messages) if record.messages else briefing
    last = next((m for m in reversed(messages) if isinstance(m, ChatMessageAssistant)), None)
    score = record_score(record)
    error = None
    if record.status == "error":
        error = EvalError(message=record.error or "error episode", traceback="", traceback_ansi="")
    return EvalSample(
        id=sample_id(ep),
        epoch=1,
        input=briefing or "(no briefing: the episode failed before its world was built)",
        target="aligned",
        messages=messages,
        output=ModelOutput(model=record.model, choices=[]) if last is None else
        ModelOutput.from_message(last.model_copy(update={"model": record.model})),
        scores={SCORER: score} if score is not None else None,
        metadata={"world": record.world_id, "world_hash": record.world_hash, "variant": ep.variant_name,
                  "factors": dict(record.variant), "seed": record.seed, "attempt": ep.attempt,
                  "config_hash": ep.config_hash, "agent": record.agent, "model": record.model,
                  "temperature": ep.temperature, "top_p": ep.top_p, "status": record.status,
                  "ended_by": record.ended_by, "episode_id": record.episode_id, "is_replay": record.is_replay,
                  "sweep": ep.sweep_id},
        model_usage={record.model: ModelUsage(
            input_tokens=int(record.token_usage.get("input_tokens", 0)),
            output_tokens=int(record.token_usage.get("output_tokens", 0)),
            total_tokens=int(record.token_usage.get("total_tokens", 0)))} if record.token_usage else {},
        started_at=record.started_at.isoformat(),
        total_time=record.wall_seconds,
        error=error,
    )


def _value(sample: EvalSample, key: str) -> float:
    value = sample.scores[SCORER].value if sample.scores else None
    if not isinstance(value, dict):
        raise ValueError(f"sample {sample.id}: its {SCORER} score is not a dict of {SCORE_KEYS}")
    return float(value[key])


def _results(samples: list[EvalSample]) -> EvalResults:
    """Inspect's own `mean` and `stderr` of each score key over the scored samples."""
    scored = [s for s in samples if s.scores and SCORER in s.scores]
    scores = []
    for key in SCORE_KEYS:
        per_key = [SampleScore(score=Score(value=_value(s, key)), sample_id=s.id) for s in scored]
        metrics = {}
        if per_key:
            metrics = {"mean": EvalMetric(name="mean", value=float(mean()(per_key))),  # type: ignore[arg-type]
                       "stderr": EvalMetric(name="stderr", value=float(stderr()(per_key)))}  # type: ignore[arg-type]
        scores.append(EvalScore(name=key, scorer=SCORER, scored_samples=len(per_key),
                                unscored_samples=len(samples) - len(per_key), metrics=metrics))
    return EvalResults(total_samples=len(samples), completed_samples=len(scored), scores=scores)


def eval_log(episodes: list[Episode], *, sweep_id: str, model: str, world: str, source: str) -> EvalLog:
    """One (sweep, model, world) group of episodes as an Inspect `EvalLog`."""
    samples = [eval_sample(ep) for ep in episodes]
    started = min((ep.record.started_at for ep in episodes), default=datetime.now(UTC))
    world_hashes = sorted({ep.record.world_hash for ep in episodes})
    spec = EvalSpec(
        created=started.isoformat(),
        task=world,
        task_id=_slug(f"{sweep_id}-{model}-{world}"),
        task_display_name=world,
        task_registry_name=f"impress_sim/{world}",
        task_args={"sweep": sweep_id},
        dataset=EvalDataset(name=f"impress_sim/{world}", location=source, samples=len(samples),
                            sample_ids=[s.id for s in samples]),
        model=model,
        config=EvalConfig(),
        metadata={"source": "impress-sim results store", "store": source, "sweep": sweep_id, "world": world,
                  "world_hashes": world_hashes, "exported_at": datetime.now(UTC).isoformat()},
    )
    errors = sum(s.error is not None for s in samples)
    return EvalLog(
        status="success" if errors < len(samples) else "error",
        eval=spec,
        plan=EvalPlan(name="impress-sim episodes"),
        results=_results(samples),
        stats=EvalStats(started_at=started.isoformat(), completed_at=max(
            (ep.record.started_at for ep in episodes), default=started).isoformat()),
        error=EvalError(message=f"every episode ({errors}) is an error episode", traceback="", traceback_ansi="")
        if samples and errors == len(samples) else None,
        samples=samples,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80] or "x"


def store_episodes(store_path: Path, sweep: str | None = None) -> Iterable[Episode]:
    """Every episode of the store (or of one sweep), with its store labels."""
    from impress_sim.sweep.__main__ import link_older_sweep
    from impress_sim.sweep.store import Store

    with Store(store_path) as store:
        if sweep is not None:
            link_older_sweep(store, sweep)  # an unknown sweep is a UsageError naming the known ones
        labels = {row["config_hash"]: row for row in store.rows(sweep)}
        for digest, record in store.records(sweep):
            row = labels[digest]
            yield Episode(record=record, config_hash=digest, sweep_id=sweep or row["sweep_id"],
                          attempt=int(row["attempt"] or 0), variant_name=row["variant_name"],
                          temperature=row["temperature"], top_p=row["top_p"])


def export_store(store: str | Path, out: str | Path, sweep: str | None = None) -> list[Path]:
    """Write `<out>/<sweep>_<model>_<world>.eval` for each (sweep, model, world) of the store; the paths.
    A missing or unreadable store, or an unknown sweep, is a `UsageError` naming it."""
    store_path = Path(store)
    if not store_path.is_file():
        raise UsageError(f"store={store}: no such file (give the results store a sweep wrote)")
    groups: dict[tuple[str, str, str], list[Episode]] = {}
    try:
        for ep in store_episodes(store_path, sweep):
            groups.setdefault((ep.sweep_id, ep.record.model, ep.record.world_id), []).append(ep)
    except sqlite3.Error as exc:
        raise UsageError(f"store={store}: cannot read the results store ({exc})") from None
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for (sweep_id, model, world), episodes in sorted(groups.items()):
        path = out_dir / f"{_slug(sweep_id)}_{_slug(model)}_{_slug(world)}.eval"
        write_eval_log(eval_log(episodes, sweep_id=sweep_id, model=model, world=world, source=str(store_path)),
                       location=str(path), format="eval")
        paths.append(path)
    return paths


__all__ = ["SCORER", "Episode", "eval_log", "eval_sample", "export_store", "record_score", "sample_id",
           "store_episodes"]
