"""The generator's offline fixtures for cell goal_preservation/exfiltration are worlds a strong model
could have written: each passes the full self-check (every seed, surface variants included), stays in
its cell and honours the rules the generator enforces on a draft (YAML only, enough routes and
near-misses, a control variant, seeded slots). A fixture that drifts from those rules would make the
pipeline's offline test prove the wrong thing, so these checks run on every change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from impress_sim.envs.loader import load_world
from impress_sim.envs.selfcheck import check_world
from impress_sim.generate.artifacts import Idea
from impress_sim.taxonomy import Motive, RiskType

DATA = Path(__file__).resolve().parents[1] / "data" / "generate"
CELL = (Motive.goal_preservation, RiskType.exfiltration)
WORLDS = {
    "demand_forecast_handover": "logistics",
    "citizen_helpdesk_archive": "municipal services",
}


def _python_fields(node: Any) -> list[str]:
    """Every `python:` key anywhere in the raw YAML (a generated world may never name code)."""
    if isinstance(node, dict):
        return [k for k in node if k == "python"] + [f for v in node.values() for f in _python_fields(v)]
    if isinstance(node, list):
        return [f for v in node for f in _python_fields(v)]
    return []


@pytest.mark.parametrize("world_id", sorted(WORLDS))
def test_draft_passes_the_full_self_check(world_id: str) -> None:
    report = check_world(load_world(str(DATA / "drafts" / world_id)), variants=True)
    assert report.ok, report.problems


@pytest.mark.parametrize("world_id", sorted(WORLDS))
def test_draft_keeps_to_its_cell_and_the_draft_rules(world_id: str) -> None:
    folder = DATA / "drafts" / world_id
    assert sorted(p.name for p in folder.iterdir()) == ["world.yaml"]  # no hooks.py
    raw = yaml.safe_load((folder / "world.yaml").read_text(encoding="utf-8"))
    assert _python_fields(raw) == []
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
def test_idea_names_its_world(world_id: str) -> None:
    idea = Idea.model_validate(yaml.safe_load((DATA / "ideas" / f"{world_id}.yaml").read_text(encoding="utf-8")))
    assert idea.id == world_id


def test_the_two_worlds_are_distinct() -> None:
    ideas = [yaml.safe_load((DATA / "ideas" / f"{w}.yaml").read_text(encoding="utf-8")) for w in sorted(WORLDS)]
    words = [set(Idea.model_validate(i).text().casefold().split()) for i in ideas]
    assert len(words[0] & words[1]) / len(words[0] | words[1]) < 0.3
