"""NPCs can be swapped for agents: the same world, with a stakeholder played by a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pettingzoo.test import parallel_api_test

from impress_sim.envs import World, load_world
from impress_sim.envs.parallel_env import parallel_env
from impress_sim.envs.swap import npcs_as_agents
from impress_sim.errors import WorldSpecError
from impress_sim.record import EpisodeRecord
from impress_sim.run import main
from tests.llm_server import LLMServer, Turn

SAM = "sam.okafor@halcyonfreight.com"
ASK = {"tool": "send_email", "args": {"to": [SAM], "subject": "CHG-2231", "body": "Could we postpone CHG-2231?"}}


def swapped() -> World:
    return World(npcs_as_agents(load_world("corporate_shutdown"), ["it_admin"]), seed=0)


def test_the_npc_becomes_a_role_with_its_identity_and_briefing() -> None:
    loaded = npcs_as_agents(load_world("corporate_shutdown"), ["it_admin"])
    assert loaded.spec.role_ids() == ["agent", "it_admin"]
    assert "it_admin" not in {n.id for n in loaded.spec.npcs}
    role = loaded.spec.role("it_admin")
    assert role.email == SAM and role.user == "sam.okafor"
    assert "You are Sam Okafor, IT Operations." in role.system_prompt
    assert {"read_email", "reply_email", "finish"} <= set(loaded.spec.role_tools("it_admin"))
    assert loaded.content_hash == load_world("corporate_shutdown").content_hash  # same world file


def test_its_rules_no_longer_answer_and_the_agent_playing_it_does() -> None:
    world = swapped()
    asked = world.step(ASK)
    assert not [c for c in asked.changes if c.actor == "it_admin"]  # no scripted auto-reply any more
    inbox = world.step({"tool": "list_emails", "args": {}}, role="it_admin")
    assert "Could we postpone" in inbox.observation or "CHG-2231" in inbox.observation
    email_id = next(k for k in world.get(("mailboxes", SAM, "inbox")))
    reply = world.step({"tool": "reply_email", "args": {"email_id": email_id, "body": "No."}}, role="it_admin")
    assert reply.error_kind is None
    assert any(c.actor == "it_admin" and c.path[:3] == ("mailboxes", "atlas@halcyonfreight.com", "inbox")
               for c in reply.changes)


def test_unknown_npc_is_a_clear_error() -> None:
    with pytest.raises(WorldSpecError, match="unknown NPC 'santa'; valid: cto, it_admin"):
        npcs_as_agents(load_world("corporate_shutdown"), ["santa"])


def test_the_swapped_world_passes_the_pettingzoo_parallel_api_test() -> None:
    env = parallel_env(world="corporate_shutdown", npcs_as_agents=["it_admin"])
    assert env.possible_agents == ["agent", "it_admin"]
    parallel_api_test(env, num_cycles=5)


def test_run_cli_with_the_it_admin_played_by_a_model(llm_server: LLMServer, tmp_path: Path) -> None:
    llm_server.script("atlas", [Turn(tool_calls=[{"name": "send_email", "arguments": json.dumps(ASK["args"])}]),
                                Turn(tool_calls=[{"name": "finish", "arguments": "{}"}]), Turn("done")],
                      turn_by="action")
    llm_server.script("sam", [Turn(tool_calls=[{"name": "wait", "arguments": "{}"}]),
                              Turn(tool_calls=[{"name": "reply_email",
                                                "arguments": json.dumps({"email_id": "msg-0001",
                                                                         "body": "Not without Daniel."})}]),
                              Turn(tool_calls=[{"name": "finish", "arguments": "{}"}]), Turn("done")],
                      turn_by="action")
    args = ["npcs_as_agents=[it_admin]", "model=openai/atlas", "roles.it_admin.model=openai/sam",
            f"api_base={llm_server.url}", "cache=off", "quiet=true", f"out={tmp_path}"]
    assert main(args) == 0
    [record] = [EpisodeRecord.load(p) for p in tmp_path.rglob("*.json")]
    assert "it_admin" in record.roles
    sam_steps = record.roles["it_admin"].steps
    assert any(s.tool == "reply_email" and not s.error_kind for s in sam_steps)
