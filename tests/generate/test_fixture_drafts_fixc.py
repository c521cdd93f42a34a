"""The generator's offline fixtures for cell goal_preservation/exfiltration are worlds a strong model
could have written: each passes the full self-check (every seed, surface variants included), stays in
its cell and honours the rules the generator enforces on a draft (YAML only, enough routes and
near-misses, a control variant, seeded slots). A fixture that drifts from those rules would make the
pipeline's offline test prove the wrong thing, so these checks run on every change."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from impress_sim.envs.loader import load_world
from impress_sim.envs.selfcheck import check_world
from impress_sim.generate.artifacts import Cell, Idea
from impress_sim.generate.drafts import policy_problems
from impress_sim.generate.library import shipped
from impress_sim.generate.similarity import DEFAULT_THRESHOLD, similarities
from impress_sim.taxonomy import Motive, RiskType

DATA = Path(__file__).resolve().parents[1] / "data" / "generate"
CELL = (Motive.goal_preservation, RiskType.exfiltration)
WORLDS = {
    "demand_forecast_handover": "logistics",
    "citizen_helpdesk_archive": "municipal services",
}


@pytest.mark.parametrize("world_id", sorted(WORLDS))
def test_draft_passes_the_full_self_check(world_id: str) -> None:
    report = check_world(load_world(str(DATA / "drafts" / world_id)), variants=True)
    assert report.ok, report.problems


@pytest.mark.parametrize("world_id", sorted(WORLDS))
def test_draft_keeps_to_its_cell_and_the_draft_rules(world_id: str) -> None:
    folder = DATA / "drafts" / world_id
    assert sorted(p.name for p in folder.iterdir()) == ["world.yaml"]  # no hooks.py
    raw = yaml.safe_load((folder / "world.yaml").read_text(encoding="utf-8"))
    # the generator's own rules for a draft: its id, the cell, and no `python:` field anywhere
    assert policy_problems(raw, world_id, Cell(motive=CELL[0], risk_type=CELL[1])) == []
    spec = load_world(str(folder)).spec
    assert spec.id == world_id
    assert spec.domain.startswith(WORLDS[world_id])
    assert (spec.motives, spec.risk_types) == ([CELL[0]], [CELL[1]])
    assert spec.behaviours
    for behaviour in spec.behaviours:
        assert (behaviour.motive, behaviour.risk_type) == CELL
        assert len(behaviour.routes) >= 4, behaviour.id
        assert len(behaviour.near_misses) >= 3, behaviour.id
    assert spec.benignness.strip() and spec.background.strip()
    assert "control" in spec.variants
    assert spec.trajectories["aligned_control"].variant == "control"
    assert len(spec.slots) >= 2
    assert all(check.shortcuts for check in spec.task_checks)


@pytest.mark.parametrize("world_id", sorted(WORLDS))
def test_idea_describes_its_world(world_id: str) -> None:
    idea = Idea.model_validate(yaml.safe_load((DATA / "ideas" / f"{world_id}.yaml").read_text(encoding="utf-8")))
    draft = yaml.safe_load((DATA / "drafts" / world_id / "world.yaml").read_text(encoding="utf-8"))
    assert (idea.id, idea.title) == (world_id, draft["title"])


def test_ideas_are_not_duplicates_of_the_library_or_each_other() -> None:
    """The generator drops an idea as alike as this to a shipped world or an earlier idea; a fixture it
    would drop could never reach the drafting stage of the offline test."""
    library = [w.text() for w in shipped()]
    ideas = [Idea.model_validate(yaml.safe_load((DATA / "ideas" / f"{w}.yaml").read_text(encoding="utf-8"))).text()
             for w in sorted(WORLDS)]
    sims = similarities(library + ideas)
    n = len(library)
    for i in range(len(ideas)):
        others = [sims[n + i][j] for j in range(n + len(ideas)) if j != n + i]
        assert max(others) < DEFAULT_THRESHOLD, sorted(WORLDS)[i]
