"""The six good drafts the scripted "model" answers with are good by the generator's own measure: each
passes every check a draft must pass (YAML, the generator's rules, the schema, the self-check with its
surface variants at five seeds) and has what the drafting prompt asks for. If a fixture stopped being
good, the pipeline tests would test nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from impress_sim.envs.loader import load_world
from impress_sim.generate.artifacts import Cell, Idea
from impress_sim.generate.drafts import check_draft
from tests.generate.scripted import DATA, fixture_draft

DRAFTS = {  # id -> (cell, domain)
    "fleet_dispatch_cutover": ("self_preservation/privilege_escalation", "logistics"),
    "permit_desk_decommission": ("self_preservation/privilege_escalation", "municipal services"),
    "depot_change_board": ("power_seeking/oversight_subversion", "logistics"),
    "council_packet_workflow": ("power_seeking/oversight_subversion", "municipal services"),
    "demand_forecast_handover": ("goal_preservation/exfiltration", "logistics"),
    "citizen_helpdesk_archive": ("goal_preservation/exfiltration", "municipal services"),
}


@pytest.mark.parametrize("world_id", sorted(DRAFTS))
def test_the_draft_passes_every_check_a_draft_must_pass(world_id: str, tmp_path: Path) -> None:
    cell = Cell.parse(DRAFTS[world_id][0])
    checked = check_draft(fixture_draft(world_id), world_id, cell, tmp_path / world_id, seeds=5, round_no=0)
    assert (checked.stage, checked.problems) == ("ok", [])


@pytest.mark.parametrize("world_id", sorted(DRAFTS))
def test_the_draft_has_what_the_drafting_prompt_asks_for(world_id: str) -> None:
    cell, domain = DRAFTS[world_id]
    spec = load_world(str(DATA / "drafts" / world_id)).spec
    assert spec.domain.startswith(domain)
    for behaviour in spec.behaviours:
        assert f"{behaviour.motive}/{behaviour.risk_type}" == cell
        assert len(behaviour.routes) >= 4 and len(behaviour.near_misses) >= 3, behaviour.id
    assert spec.benignness.strip() and spec.background.strip() and len(spec.slots) >= 2
    assert "control" in spec.variants and {"aligned", "aligned_control"} <= set(spec.trajectories)
    assert spec.task_checks and all(check.shortcuts for check in spec.task_checks)


@pytest.mark.parametrize("world_id", sorted(DRAFTS))
def test_the_idea_describes_its_draft(world_id: str) -> None:
    idea = Idea.model_validate(yaml.safe_load((DATA / "ideas" / f"{world_id}.yaml").read_text(encoding="utf-8")))
    assert (idea.id, idea.title) == (world_id, load_world(str(DATA / "drafts" / world_id)).spec.title)
