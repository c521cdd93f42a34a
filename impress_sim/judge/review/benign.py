"""Is the task itself benign? People label each world's briefing, and the labels are summarised.

IMPRESS keeps only scenarios whose task is benign (the agent is never asked to misbehave) and
reports 80% agreement between people on that. The same check here: export every world's briefing
(system prompt, memory, task; one item per variant if asked) as a sheet and one readable page, let
people fill `benign` yes/no, then report the share judged benign and the agreement between people.

The page shows only what the agent is told: not the world's title, summary or behaviour catalogue,
which name the trap and would tell a reviewer what to look for.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from impress_sim.envs.briefing import Briefing, compose_briefing
from impress_sim.envs.loader import LoadedWorld, load_world, world_ids
from impress_sim.errors import ReviewError, WorldSpecError
from impress_sim.judge.review.agreement import Metrics, binary_metrics
from impress_sim.judge.review.export import environment, has_labels
from impress_sim.judge.review.labels import NOTES, REVIEWER, Problems, parse_yes_no, read_rows
from impress_sim.packs import expand_worlds

BENIGN_SHEET = "benign.csv"
BENIGN_PAGE = "benign.html"
BENIGN = "benign"
BENIGN_COLUMNS = ("world_id", "world", "world_hash", "variant", "factors", "page", BENIGN, REVIEWER, NOTES)
BENIGN_REQUIRED = ("world_id", "variant", BENIGN, REVIEWER)
DEFAULT_VARIANT = "default"


@dataclass(frozen=True)
class BenignItem:
    world_id: str
    world: str  # how the world was named at export: an id, or a path to a world folder
    world_hash: str
    variant: str
    briefing: Briefing

    @property
    def anchor(self) -> str:
        return f"{self.world_id}--{self.variant}"


def _load(world: str) -> LoadedWorld:
    try:
        return load_world(world)
    except WorldSpecError as exc:
        raise ReviewError(str(exc)) from None


def benign_items(worlds: Sequence[str] | None = None, variants: Sequence[str] | None = None) -> list[BenignItem]:
    """One item per world (its default variant), or per variant: `variants=[]` means every named one.
    A pack among `worlds` is each of its worlds, named by its folder (what the report reloads)."""
    items = []
    try:
        chosen = expand_worlds(list(worlds)) if worlds else world_ids()
    except WorldSpecError as exc:
        raise ReviewError(str(exc)) from None
    for world in chosen:
        loaded = _load(world)
        spec = loaded.spec
        if variants is None:
            names = [DEFAULT_VARIANT]
        elif not variants:
            names = [DEFAULT_VARIANT, *sorted(spec.variants)]
        else:
            names = list(variants)
        for name in names:
            try:
                factors = spec.resolve_variant(name)
            except ValueError as exc:
                raise ReviewError(f"{spec.id}: {exc}") from None
            items.append(BenignItem(spec.id, world, loaded.content_hash, name, compose_briefing(spec, factors)))
    return items


@dataclass(frozen=True)
class BenignExport:
    sheet: Path
    page: Path
    items: int


def export_benign(out: Path, worlds: Sequence[str] | None = None, variants: Sequence[str] | None = None,
                  *, force: bool = False) -> BenignExport:
    items = benign_items(worlds, variants)
    sheet = out / BENIGN_SHEET
    if sheet.exists() and not force and has_labels(sheet, (BENIGN, NOTES)):
        raise ReviewError(f"{sheet} already holds people's labels; export to another folder (or pass force=true)")
    out.mkdir(parents=True, exist_ok=True)
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(BENIGN_COLUMNS), restval="")
        writer.writeheader()
        for item in items:
            writer.writerow({
                "world_id": item.world_id, "world": item.world, "world_hash": item.world_hash,
                "variant": item.variant, "page": f"{BENIGN_PAGE}#{item.anchor}",
                "factors": ", ".join(f"{k}={v}" for k, v in item.briefing.factors.items()),
            })
    page = out / BENIGN_PAGE
    page.write_text(environment().get_template("benign.html.j2").render(items=items, sheet=BENIGN_SHEET),
                    encoding="utf-8")
    return BenignExport(sheet=sheet, page=page, items=len(items))


# ---- labels and report ------------------------------------------------------------------------
@dataclass(frozen=True)
class BenignLabel:
    reviewer: str
    world_id: str
    world: str
    world_hash: str
    variant: str
    value: bool
    where: str
    notes: str = ""

    @property
    def item(self) -> tuple[str, str]:
        return (self.world_id, self.variant)


def read_benign_labels(paths: Iterable[str | Path], reviewer: str | None = None,
                       check_worlds: bool = True) -> list[BenignLabel]:
    """Filled benignness sheets; with `check_worlds`, each world must still be the version labelled."""
    problems = Problems("the benignness label file(s)")
    labels: list[BenignLabel] = []
    seen: dict[tuple[str, tuple[str, str]], str] = {}
    worlds: dict[str, LoadedWorld | str] = {}
    for source in paths:
        path = Path(source)
        for row_no, row in read_rows(path, BENIGN_REQUIRED):
            where = f"{path.name} row {row_no}"
            try:
                value = parse_yes_no(row[BENIGN])
            except ValueError as exc:
                problems.add(where, BENIGN, str(exc))
                continue
            if value is None:
                continue
            world_id, variant = row["world_id"], row["variant"] or DEFAULT_VARIANT
            if not world_id:
                problems.add(where, "world_id", "blank; every row needs the world id it was exported with")
                continue
            who = row[REVIEWER] or (reviewer or "")
            if not who:
                problems.add(where, REVIEWER, "blank on a labelled row: write your name (or pass reviewer=NAME)")
                continue
            label = BenignLabel(who, world_id, row.get("world") or world_id, row.get("world_hash", ""), variant,
                                value, where, row.get(NOTES, ""))
            if check_worlds:
                ref = label.world
                if ref not in worlds:
                    try:
                        worlds[ref] = load_world(ref)
                    except WorldSpecError as exc:
                        worlds[ref] = str(exc).splitlines()[0]
                loaded = worlds[ref]
                if isinstance(loaded, str):
                    problems.add(where, "world", f"cannot load world {ref!r}: {loaded}")
                    continue
                if label.world_hash and label.world_hash != loaded.content_hash:
                    problems.add(
                        where, "world_hash",
                        f"labelled {world_id}@{label.world_hash}, but the world is now {world_id}@"
                        f"{loaded.content_hash}: its briefing may have changed; export and label again",
                    )
                if variant != DEFAULT_VARIANT and variant not in loaded.spec.variants:
                    problems.add(where, "variant", f"{variant!r} is not a variant of {world_id}; valid: "
                                 f"{[DEFAULT_VARIANT, *sorted(loaded.spec.variants)]}")
            earlier = seen.get((who, label.item))
            if earlier is not None:
                problems.add(where, BENIGN, f"{who} already labelled {world_id} / {variant} in {earlier}")
                continue
            seen[(who, label.item)] = where
            labels.append(label)
    problems.raise_if_any()
    return labels


@dataclass
class BenignItemResult:
    world_id: str
    variant: str
    benign: int
    not_benign: int
    majority: bool | None  # None: a tie
    notes: list[str] = field(default_factory=list)


@dataclass
class BenignPair:
    first: str
    second: str
    metrics: Metrics


@dataclass
class BenignReport:
    reviewers: list[str]
    labels: int
    items: list[BenignItemResult]
    percent_benign: float | None  # items whose majority says benign, of items with a majority
    share_of_labels_benign: float | None
    unanimous: float | None  # items all their reviewers agree on, of items labelled by two or more
    pairs: list[BenignPair]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for pair, raw in zip(self.pairs, data["pairs"], strict=True):
            raw["metrics"].update(tn=pair.metrics.tn, fp=pair.metrics.fp, fn=pair.metrics.fn, tp=pair.metrics.tp)
        return data


def benign_report(labels: Sequence[BenignLabel]) -> BenignReport:
    reviewers = sorted({x.reviewer for x in labels})
    by_item: dict[tuple[str, str], list[BenignLabel]] = {}
    for label in labels:
        by_item.setdefault(label.item, []).append(label)
    items = []
    for (world_id, variant), group in sorted(by_item.items(), key=lambda kv: (kv[0][0], kv[0][1] != DEFAULT_VARIANT,
                                                                              kv[0][1])):
        yes = sum(x.value for x in group)
        no = len(group) - yes
        items.append(BenignItemResult(
            world_id, variant, yes, no, True if yes > no else False if no > yes else None,
            [f"{x.reviewer}: {x.notes}" for x in group if x.notes],
        ))
    decided = [i for i in items if i.majority is not None]
    several = [group for group in by_item.values() if len(group) > 1]
    by_reviewer = {r: {x.item: x.value for x in labels if x.reviewer == r} for r in reviewers}
    pairs = []
    for first, second in combinations(reviewers, 2):
        common = [k for k in by_reviewer[first] if k in by_reviewer[second]]
        pairs.append(BenignPair(first, second, binary_metrics([by_reviewer[first][k] for k in common],
                                                               [by_reviewer[second][k] for k in common])))
    return BenignReport(
        reviewers=reviewers,
        labels=len(labels),
        items=items,
        percent_benign=sum(bool(i.majority) for i in decided) / len(decided) if decided else None,
        share_of_labels_benign=sum(x.value for x in labels) / len(labels) if labels else None,
        unanimous=sum(len({x.value for x in g}) == 1 for g in several) / len(several) if several else None,
        pairs=pairs,
        note="" if len(reviewers) > 1 else "agreement between people needs at least two reviewers",
    )
