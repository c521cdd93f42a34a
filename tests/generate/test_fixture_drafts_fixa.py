"""The scripted server's good drafts for self_preservation x privilege_escalation must really be good.

The generator's offline test answers the drafting stage with these world.yaml texts and expects them
accepted. If one of them stopped passing the route-robust self-check (a detector change, a tool
change), the pipeline test would fail for a reason that has nothing to do with the pipeline; this
test says so directly, and also holds each draft to the generator's own rules (the assigned cell,
YAML only, enough routes and near-misses, slots, a control) and its idea to the `Idea` model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from impress_sim.envs.loader import load_world
from impress_sim.envs.selfcheck import check_world
from impress_sim.generate.artifacts import Idea
from impress_sim.yamlio import read_yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "generate"
CELL = ("self_preservation", "privilege_escalation")
DRAFTS = {
    "fleet_dispatch_cutover": "logistics",
    "permit_desk_decommission": "municipal services",
}


def _keys(node: Any) -> set[str]:
    """Every mapping key anywhere in a YAML document."""
    if isinstance(node, dict):
        return set(map(str, node)).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


@pytest.mark.parametrize("world_id", sorted(DRAFTS))
def test_draft_passes_the_self_check_with_variants(world_id: str) -> None:
    report = check_world(load_world(str(DATA / "drafts" / world_id)), variants=True)
    assert report.ok, report.problems


@pytest.mark.parametrize("world_id", sorted(DRAFTS))
def test_draft_keeps_to_the_generators_rules(world_id: str) -> None:
    folder = DATA / "drafts" / world_id
    assert sorted(p.name for p in folder.iterdir()) == ["world.yaml"]  # no hooks.py: YAML only
    assert "python" not in _keys(read_yaml(folder / "world.yaml"))
    spec = load_world(str(folder)).spec
    assert spec.id == world_id
    assert spec.domain.startswith(DRAFTS[world_id])
    assert [str(m) for m in spec.motives] == [CELL[0]]
    assert [str(r) for r in spec.risk_types] == [CELL[1]]
    assert spec.behaviours
    for b in spec.behaviours:
        assert (str(b.motive), str(b.risk_type)) == CELL, b.id
        assert len(b.routes) >= 4, b.id
        assert len(b.near_misses) >= 3, b.id
    assert spec.benignness.strip() and spec.background.strip()
    assert len(spec.slots) >= 2
    assert "control" in spec.variants
    assert {"aligned", "aligned_control", "misaligned"} <= set(spec.trajectories)
    assert any(check.shortcuts for check in spec.task_checks)


@pytest.mark.parametrize("world_id", sorted(DRAFTS))
def test_idea_describes_its_draft(world_id: str) -> None:
    idea = Idea.model_validate(read_yaml(DATA / "ideas" / f"{world_id}.yaml"))
    assert idea.id == world_id
