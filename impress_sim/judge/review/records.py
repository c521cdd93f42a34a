"""Episodes under review: records loaded from files or folders, and each judge's labels for them.

Export and report both start here, so the sheet people fill and the report that scores it read the
judges' labels the same way. A record that was never judged gets the state judge computed on the
spot (`judge_state` over the rebuilt world); that needs the world the record was made in, so a
world whose content hash changed since is refused, never silently mixed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.errors import ReviewError, WorldSpecError
from impress_sim.judge.state import STATE_JUDGE, judge_state
from impress_sim.packs import expand_worlds
from impress_sim.record import EpisodeRecord
from impress_sim.verdict import CombinedVerdict, Evidence, JudgeVerdict

COMBINED = "combined"
TASK_ITEM = "task_done"  # the item name of the episode-level task row
FIELDS = ("acted", "considered", "task_done")


@dataclass(frozen=True)
class BehaviourInfo:
    id: str
    description: str = ""
    motive: str = ""
    risk_type: str = ""
    severity: str = ""


@dataclass(frozen=True)
class RaterLabels:
    """One judge's (or the combined) labels for one episode; None = not assessed or no verdict."""

    acted: dict[str, bool | None]
    considered: dict[str, bool | None]
    task_done: bool | None
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    error: str | None = None

    def get(self, behaviour: str, name: str) -> bool | None:
        if name == "task_done":
            return self.task_done
        return (self.acted if name == "acted" else self.considered).get(behaviour)


@dataclass
class ReviewEpisode:
    record: EpisodeRecord
    path: Path | None
    behaviours: list[BehaviourInfo]
    verdicts: list[JudgeVerdict]
    combined: CombinedVerdict | None
    computed: bool = False  # the state judge was computed here: the record held no verdict
    world_note: str | None = None  # why the world's catalogue could not be used, if it could not
    default_factors: dict[str, str] = field(default_factory=dict)

    @property
    def episode_id(self) -> str:
        return self.record.episode_id

    @property
    def judges(self) -> list[str]:
        """Judge names; a name met twice (one model asked twice) gets '#2', '#3', ... so neither is lost."""
        names: list[str] = []
        for v in self.verdicts:
            name, n = v.judge, 1
            while name in names:
                n += 1
                name = f"{v.judge}#{n}"
            names.append(name)
        return names

    def variant_text(self) -> str:
        """Factor values that differ from the world's defaults ('default' when none do)."""
        factors = self.record.variant
        changed = {k: v for k, v in factors.items() if self.default_factors.get(k) != v}
        return ", ".join(f"{k}={v}" for k, v in sorted(changed.items())) or "default"

    def labels(self) -> dict[str, RaterLabels]:
        """Labels per rater name: each judge, then 'combined' when the record holds a combined verdict."""
        ids = [b.id for b in self.behaviours]
        out = {name: judge_labels(v, ids) for name, v in zip(self.judges, self.verdicts, strict=True)}
        if self.combined is not None:
            out[COMBINED] = combined_labels(self.combined, ids)
        return out


def judge_labels(verdict: JudgeVerdict, behaviours: Sequence[str]) -> RaterLabels:
    """A judge's labels over the episode's behaviours.

    A behaviour the judge did not list counts as not acted and not considered (a verdict covers the
    catalogue); the state judge sees deeds, not thoughts, so its `considered` is 'not assessed'. A
    judge that failed (`error` set) gave no labels at all.
    """
    if verdict.error is not None:
        none: dict[str, bool | None] = dict.fromkeys(behaviours)
        return RaterLabels(acted=none, considered=dict(none), task_done=None, error=verdict.error)
    by_id = {b.behaviour: b for b in verdict.behaviours}
    acted: dict[str, bool | None] = {}
    considered: dict[str, bool | None] = {}
    for b in behaviours:
        label = by_id.get(b)
        acted[b] = bool(label and label.acted)
        considered[b] = None if verdict.judge == STATE_JUDGE else bool(label and label.considered)
    evidence = {b.behaviour: list(b.evidence) for b in verdict.behaviours if b.evidence}
    return RaterLabels(acted=acted, considered=considered, task_done=verdict.task_done, evidence=evidence)


def combined_labels(combined: CombinedVerdict, behaviours: Sequence[str]) -> RaterLabels:
    acted: dict[str, bool | None] = {b: b in combined.behaviours for b in behaviours}
    considered: dict[str, bool | None] = {b: b in combined.considered for b in behaviours}
    return RaterLabels(acted=acted, considered=considered, task_done=combined.task_done)


# ---- loading ----------------------------------------------------------------------------------
def _looks_like_record(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "episode_id" in data and "steps" in data


def record_paths(sources: Iterable[str | Path]) -> list[Path]:
    """Record files named directly, and every episode record (*.json) under the folders named."""
    paths: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            paths += [p for p in sorted(path.rglob("*.json")) if _looks_like_record(p)]
        elif path.is_file():
            paths.append(path)
        else:
            raise ReviewError(f"{path}: no such file or folder (give episode record files or folders of them)")
    return paths


def load_record(path: Path) -> EpisodeRecord:
    try:
        return EpisodeRecord.load(path)
    except OSError as exc:
        raise ReviewError(f"{path}: cannot read: {exc.strerror}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ReviewError(
            f"{path}: not an episode record ({exc.error_count()} problem(s); first: {where}: {first['msg']})"
        ) from None


def world_refs(worlds: Iterable[str]) -> dict[str, str]:
    """World id -> the folder or file to load it from, for worlds that are not shipped with the package
    (or a pack's worlds)."""
    refs: dict[str, str] = {}
    try:
        for ref in expand_worlds(list(worlds)):  # a pack: each of its worlds
            refs[load_world(ref).spec.id] = ref
    except WorldSpecError as exc:
        raise ReviewError(str(exc)) from None
    return refs


def _world_for(record: EpisodeRecord, worlds: Mapping[str, str]) -> tuple[LoadedWorld | None, str | None]:
    try:
        loaded = load_world(worlds.get(record.world_id, record.world_id))
    except WorldSpecError as exc:
        return None, f"world {record.world_id!r} cannot be loaded: {exc}"
    if loaded.content_hash != record.world_hash:
        return None, (
            f"episode {record.episode_id} was made with {record.world_id}@{record.world_hash}, but the world "
            f"installed now is {record.world_id}@{loaded.content_hash}"
        )
    return loaded, None


def review_episode(record: EpisodeRecord, path: Path | None = None,
                   worlds: Mapping[str, str] | None = None) -> ReviewEpisode:
    """The record with its judges' labels: stored ones, or the state judge computed from the world.

    `worlds` maps world ids to folders for worlds not shipped with the package (see `world_refs`).
    """
    loaded, problem = _world_for(record, worlds or {})
    if record.verdict is None and loaded is None:
        raise ReviewError(
            f"{path or record.episode_id}: the record holds no verdict and the state judge cannot be computed: "
            f"{problem}. Re-judge it with the world it was made in (or install that version), or review "
            "records that already hold a verdict."
        )
    verdicts: list[JudgeVerdict]
    if record.verdict is not None:
        verdicts = list(record.verdict.judges)
        combined: CombinedVerdict | None = record.verdict
        computed = False
    else:
        assert loaded is not None
        verdicts = [judge_state(loaded, record)]
        combined, computed = None, True
    if loaded is not None:
        behaviours = [
            BehaviourInfo(b.id, b.description, b.motive.value, b.risk_type.value, b.severity.value)
            for b in loaded.spec.behaviours
        ]
        defaults = {name: axis.default for name, axis in loaded.spec.axes().items()}
    else:
        behaviours, defaults = [], {}
    known = {b.id for b in behaviours}
    extra = [b.behaviour for v in verdicts for b in v.behaviours]
    if combined is not None:
        extra += combined.behaviours + combined.considered
    for b in extra:  # a judge labelled something outside the catalogue (or the world is unavailable)
        if b not in known:
            known.add(b)
            behaviours.append(BehaviourInfo(b))
    return ReviewEpisode(
        record=record, path=path, behaviours=behaviours, verdicts=verdicts, combined=combined,
        computed=computed, world_note=problem, default_factors=defaults,
    )


def load_episodes(sources: Iterable[str | Path], worlds: Iterable[str] = ()) -> list[ReviewEpisode]:
    """Every record under `sources`, with labels; duplicate episode ids are an error.

    `worlds` names world folders (or ids) to use for records of worlds not shipped with the package.
    """
    refs = world_refs(worlds)
    sources = list(sources)
    episodes: list[ReviewEpisode] = []
    seen: dict[str, Path] = {}
    paths = record_paths(sources)
    if not paths:
        raise ReviewError("no episode records found in " + ", ".join(str(s) for s in sources))
    for path in paths:
        record = load_record(path)
        if record.episode_id in seen:
            raise ReviewError(f"{path}: episode {record.episode_id} is also in {seen[record.episode_id]}")
        seen[record.episode_id] = path
        episodes.append(review_episode(record, path, refs))
    return episodes
