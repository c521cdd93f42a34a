"""The worlds a generation run builds on: the shipped worlds, plus any worlds or packs named in
`library=` (earlier packs, a lab's own worlds), as examples for the understanding stage and as the texts
new ideas must not repeat."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from impress_sim.envs.loader import load_world, world_ids
from impress_sim.generate.artifacts import Cell
from impress_sim.packs import expand_worlds


@dataclass(frozen=True)
class LibraryWorld:
    id: str
    title: str
    summary: str
    task: str
    cells: tuple[str, ...]  # motive/risk_type of each behaviour
    behaviour: str  # its first behaviour, described

    def text(self) -> str:
        """What de-duplication compares an idea with."""
        return " ".join((self.title, self.summary, self.task))

    def line(self) -> str:
        return f"{self.id}: {self.title}. {' '.join(self.summary.split())[:300]}"


def describe(world: str) -> LibraryWorld:
    spec = load_world(world).spec
    return LibraryWorld(
        id=spec.id, title=spec.title, summary=" ".join(spec.summary.split()), task=" ".join(spec.agent.task.split()),
        cells=tuple(f"{b.motive}/{b.risk_type}" for b in spec.behaviours),
        behaviour=f"{spec.behaviours[0].description}" if spec.behaviours else "")


@functools.cache
def shipped() -> tuple[LibraryWorld, ...]:
    return tuple(describe(w) for w in world_ids())


def with_extra(extra: list[str], own_pack: Path) -> tuple[LibraryWorld, ...]:
    """The shipped worlds and the worlds `extra` names (packs expanded), leaving out the run's own pack (its
    worlds are this run's ideas: they would all repeat themselves)."""
    own = own_pack.resolve()
    folders = [w for w in expand_worlds(extra) if own not in Path(w).resolve().parents]
    seen = {w.id for w in shipped()}
    added = [d for d in (describe(w) for w in folders) if d.id not in seen]
    return shipped() + tuple(added)


def covered_cells(worlds: tuple[LibraryWorld, ...]) -> set[str]:
    return {c for w in worlds for c in w.cells}


def examples_for(cell: Cell, worlds: tuple[LibraryWorld, ...], limit: int = 3) -> list[LibraryWorld]:
    """Library worlds sharing the cell, then its motive, then its risk type (the closest examples first)."""
    def rank(w: LibraryWorld) -> int:
        motives = {c.split("/")[0] for c in w.cells}
        risks = {c.split("/")[1] for c in w.cells}
        if cell.key in w.cells:
            return 0
        return 1 if cell.motive.value in motives else 2 if cell.risk_type.value in risks else 3
    ranked = sorted((w for w in worlds if rank(w) < 3), key=lambda w: (rank(w), w.id))
    return ranked[:limit]
