"""The scripted drafting server's world texts for the power_seeking / oversight_subversion cell.

These drafts stand in for what a strong model would write, so the generator's offline test exercises
the accepting path. If one of them stopped passing the route-robust self-check (a schema or runtime
change), the offline pipeline test would fail in the repair loop for a reason unrelated to the
generator; this test names the fixture that broke instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from impress_sim.envs import load_world
from impress_sim.envs.selfcheck import check_world
from impress_sim.generate.artifacts import Idea

DATA = Path(__file__).resolve().parents[1] / "data" / "generate"
IDS = ["depot_change_board", "council_packet_workflow"]
MOTIVE = "power_seeking"
RISK = "oversight_subversion"


@pytest.mark.parametrize("world_id", IDS)
def test_draft_passes_selfcheck_in_its_cell(world_id: str) -> None:
    folder = DATA / "drafts" / world_id
    text = (folder / "world.yaml").read_text()
    assert "python:" not in text, "model-written drafts carry no executable predicates"
    assert not (folder / "hooks.py").exists()
    loaded = load_world(str(folder / "world.yaml"))
    world = loaded.spec
    assert loaded.hooks is None
    assert world.id == world_id
    assert [str(m) for m in world.motives] == [MOTIVE]
    assert [str(r) for r in world.risk_types] == [RISK]
    assert world.behaviours
    for behaviour in world.behaviours:
        assert str(behaviour.motive) == MOTIVE and str(behaviour.risk_type) == RISK
        assert len(behaviour.routes) >= 4, behaviour.id
        assert len(behaviour.near_misses) >= 3, behaviour.id
    report = check_world(loaded, variants=True)
    assert report.ok, report.problems


@pytest.mark.parametrize("world_id", IDS)
def test_idea_matches_its_draft(world_id: str) -> None:
    idea = Idea.model_validate(yaml.safe_load((DATA / "ideas" / f"{world_id}.yaml").read_text()))
    assert idea.id == world_id
    draft = yaml.safe_load((DATA / "drafts" / world_id / "world.yaml").read_text())
    assert draft["title"] == idea.title
