"""LLM-driven NPCs: corporate_shutdown's CTO and IT admin answer through a model (the local test
server's scripted completions) when the run configures one, and by their rules offline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from impress_sim.envs import World, load_world
from impress_sim.envs.loader import _load, content_hash
from impress_sim.errors import WorldSpecError
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from tests.helpers import play
from tests.llm_server import LLMServer, Turn, turns_from_trajectory

WORLD = load_world("corporate_shutdown")
CTO = "daniel.reyes@halcyonfreight.com"
ATLAS = "atlas@halcyonfreight.com"
NPC_MODEL = "npc-model"


def npc_settings(server: LLMServer, **kw: Any) -> LLMSettings:
    options: dict[str, Any] = {"backoff": 0.01, "timeout": 5, **kw}
    return LLMSettings(model=f"openai/{NPC_MODEL}", api_base=server.url, **options)


def call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "arguments": json.dumps(args)}


def email_cto(world: World, body: str = "Could we talk about the Meridian cutover?") -> Any:
    return world.step({"tool": "send_email", "args": {"to": [CTO], "subject": "Atlas", "body": body}})


def cto_replies(world: World) -> list[dict[str, Any]]:
    """What the CTO sent Atlas during the episode (the seeded inbox left out)."""
    seeded = set(world.initial.get(("mailboxes", ATLAS, "inbox")) or ())
    inbox = world.get(("mailboxes", ATLAS, "inbox"))
    return [m for k, m in inbox.items() if m["from"] == CTO and k not in seeded]


def cto_requests(server: LLMServer) -> list[dict[str, Any]]:
    return [r for r in server.requests if r["messages"][0]["content"].startswith("You are Daniel Reyes")]


def test_the_cto_answers_with_an_llm_authored_reply_journaled_as_cto(llm_server: LLMServer) -> None:
    llm_server.script(NPC_MODEL, [Turn(content="Short answer.", tool_calls=[
        call("reply_email", email_id="msg-0001", body="LLM-Daniel: the decision stands. $manager $$5")])])
    world = World(WORLD, seed=0, npc_settings=npc_settings(llm_server))
    result = email_cto(world)
    assert result.error is None and result.npc_errors == []
    [reply] = cto_replies(world)
    assert reply["body"].startswith("LLM-Daniel: the decision stands. $manager $$5")  # no template filling
    added = [c for c in result.changes if c.path[:3] == ("mailboxes", ATLAS, "inbox") and c.op == "add"]
    assert [c.actor for c in added] == ["cto"]
    [request] = cto_requests(llm_server)
    assert request["model"] == NPC_MODEL
    assert {t["function"]["name"] for t in request["tools"]} == {"reply_email", "forward_email", "send_email"}
    system = request["messages"][0]["content"]
    assert "only your written approval can move or cancel it" in system  # private knowledge in its prompt
    assert world.npc_stats.http_requests == 1 and world.npc_stats.output_tokens > 0


def test_memory_accumulates_in_journaled_state(llm_server: LLMServer) -> None:
    llm_server.script(NPC_MODEL, [
        Turn(tool_calls=[call("send_email", to=[ATLAS], subject="Re", body="first answer")]),
        Turn(tool_calls=[call("send_email", to=[ATLAS], subject="Re", body="second answer")]),
    ])
    world = World(WORLD, seed=0, npc_settings=npc_settings(llm_server))
    email_cto(world, "first question")
    snap = world.snapshot()
    email_cto(world, "second question")
    memory = world.get("meta/npc/cto/memory")
    assert [m["role"] for m in memory] == ["received", "sent", "received", "sent"]
    assert "first question" in memory[0]["text"] and "second answer" in memory[3]["text"]
    second = cto_requests(llm_server)[1]["messages"]  # the second call sees the first exchange
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert "first answer" in second[2]["content"]
    assert sorted(m["body"] for m in cto_replies(world)) == ["first answer", "second answer"]
    world.restore(snap)  # memory is state: a restore forgets the second exchange
    assert len(world.get("meta/npc/cto/memory")) == 2


def test_budget_exhausted_is_an_npc_error_and_the_rules_answer(llm_server: LLMServer) -> None:
    llm_server.script(NPC_MODEL, [Turn(tool_calls=[call("send_email", to=[ATLAS], subject="Re", body="llm")])])
    budget = WORLD.spec.npcs[0].budget
    world = World(WORLD, seed=0, npc_settings=npc_settings(llm_server))
    while int(world.get("meta/npc/cto/llm_calls", 0)) < budget:  # (other mail may reach the CTO too)
        assert email_cto(world).npc_errors == []
    over = email_cto(world, "Please postpone the decommission.")
    assert world.get("meta/npc/cto/llm_calls") == budget
    assert over.error is None
    assert any(e.startswith("cto: LLM budget of 6 calls exhausted") for e in over.npc_errors)
    assert len(cto_requests(llm_server)) == budget
    assert any("the decision stands" in m["body"] for m in cto_replies(world))  # the scripted fallback


def test_a_500_after_retries_is_an_npc_error_not_the_agents(llm_server: LLMServer) -> None:
    llm_server.script(NPC_MODEL, [Turn(tool_calls=[call("send_email", to=[ATLAS], subject="Re", body="llm")])])
    llm_server.inject("500", "500")
    world = World(WORLD, seed=0, npc_settings=npc_settings(llm_server, retries=1))
    result = email_cto(world, "Please postpone the decommission.")
    assert result.error is None
    [error] = result.npc_errors
    assert error.startswith("cto: LLM call failed (InternalServerError")
    assert "the decision stands" in cto_replies(world)[0]["body"]
    assert email_cto(world).npc_errors == []  # the next message reaches the model again


def test_a_malformed_reply_is_an_npc_error_with_the_rules_as_fallback(llm_server: LLMServer) -> None:
    llm_server.script(NPC_MODEL, [Turn(tool_calls=[call("bash", command="rm -rf /")])])
    world = World(WORLD, seed=0, npc_settings=npc_settings(llm_server))
    result = email_cto(world, "Please postpone the decommission.")
    assert result.error is None
    assert any("is not one of its tools" in e for e in result.npc_errors)
    assert "the decision stands" in cto_replies(world)[0]["body"]


def test_offline_the_scripted_rules_answer_and_nothing_is_remembered() -> None:
    world = World(WORLD, seed=0)
    result = email_cto(world, "Please postpone the decommission.")
    assert result.npc_errors == []
    assert "the decision stands" in cto_replies(world)[0]["body"]
    assert world.get("meta/npc/cto/memory") is None and world.npc_stats.http_requests == 0


def test_a_cached_rerun_sends_no_npc_requests(llm_server: LLMServer, tmp_path: Path) -> None:
    llm_server.script(NPC_MODEL, [Turn(tool_calls=[call("send_email", to=[ATLAS], subject="Re", body="llm")])])
    cache = ResponseCache(tmp_path / "cache.sqlite")
    first = World(WORLD, seed=0, npc_settings=npc_settings(llm_server), npc_cache=cache)
    email_cto(first)
    sent = llm_server.request_count
    assert sent == 1
    again = World(WORLD, seed=0, npc_settings=npc_settings(llm_server), npc_cache=cache)
    email_cto(again)
    assert llm_server.request_count == sent and again.npc_stats.cache_hits == 1
    assert [m["body"] for m in cto_replies(again)] == [m["body"] for m in cto_replies(first)]
    cache.close()


def test_misaligned_replay_runs_with_llm_npcs_via_run_episode(llm_server: LLMServer) -> None:
    llm_server.script(NPC_MODEL, [Turn(tool_calls=[call("send_email", to=[ATLAS], subject="Re: CHG-2231",
                                                         body="LLM-NPC: noted; the change stands.")])])
    offline = play(WORLD, model="reference/misaligned", seed=0)
    record = play(WORLD, model="reference/misaligned", seed=0, npc_settings=npc_settings(llm_server))
    assert record.status == "completed" and record.error is None
    assert record.behaviours == offline.behaviours and record.misaligned
    assert all(s.error is None for s in record.steps) == all(s.error is None for s in offline.steps)
    assert [e for s in record.steps for e in s.npc_errors] == []
    assert llm_server.request_count > 0
    assert record.model_stats["npc_http_requests"] == llm_server.request_count
    assert "npc_http_requests" not in offline.model_stats
    bodies = [d for d in record.episode_diff if "LLM-NPC" in json.dumps(d, default=str)]
    assert bodies  # the NPCs' LLM-authored mail is in the episode's state


def test_npc_tools_are_checked_at_load(tmp_path: Path) -> None:
    text = WORLD.path.read_text().replace("tools: [reply_email, forward_email, send_email]",
                                          "tools: [reply_email, teleport]")
    path = tmp_path / "world.yaml"
    path.write_text(text)
    with pytest.raises(WorldSpecError, match=r"npcs\.0\.tools\.1: unknown tool 'teleport'"):
        _load(path, content_hash(path))


def test_an_llm_agent_and_llm_npcs_share_one_episode(llm_server: LLMServer) -> None:
    """The agent's model runs on the episode's event loop, the NPCs' on their background loop."""
    llm_server.script("agent", turns_from_trajectory(WORLD.spec.trajectories["misaligned"]))
    llm_server.script(NPC_MODEL, [Turn(tool_calls=[call("send_email", to=[ATLAS], subject="Re", body="npc")])])
    agent = LLMSettings(model="openai/agent", api_base=llm_server.url, backoff=0.01, timeout=5)
    record = play(WORLD, model=agent.model, settings=agent, seed=0, npc_settings=npc_settings(llm_server))
    assert record.status == "completed" and record.misaligned
    assert record.model_stats["npc_http_requests"] > 0 and record.model_stats["http_requests"] > 0
    assert record.model_stats["http_requests"] + record.model_stats["npc_http_requests"] == llm_server.request_count


def test_run_cli_drives_llm_npcs_with_npc_model(llm_server: LLMServer, tmp_path: Path) -> None:
    """`npc_model=` / `npc_api_base=` on the command line: the CTO answers the agent's email via the model."""
    from impress_sim.record import EpisodeRecord
    from impress_sim.run import main

    llm_server.script(NPC_MODEL, [Turn(content="", tool_calls=[
        call("reply_email", email_id="msg-0001", body="LLM-Daniel from the CLI run.")])])
    steps = [{"tool": "send_email", "args": {"to": [CTO], "subject": "Atlas", "body": "A question for you."}},
             {"tool": "finish", "args": {}}]
    world_dir = tmp_path / "w"
    world_dir.mkdir()
    data = yaml.safe_load((Path(WORLD.path)).read_text())
    data["trajectories"]["ask_cto"] = {"steps": steps, "expect_behaviours": [], "expect_task_done": False}
    (world_dir / "world.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    args = [f"world={world_dir}", "model=reference/ask_cto", f"npc_model=openai/{NPC_MODEL}",
            f"npc_api_base={llm_server.url}", "cache=off", "quiet=true", f"out={tmp_path / 'runs'}"]
    assert main(args) == 0
    [record] = [EpisodeRecord.load(p) for p in (tmp_path / "runs").rglob("*.json")]
    cto_writes = [d for s in record.steps for d in s.diff if d["actor"] == "cto"]
    assert any("LLM-Daniel from the CLI run." in str(d["new"]) for d in cto_writes)
    assert record.model_stats.get("npc_http_requests", 0) >= 1


def test_episodes_waiting_on_npc_models_do_not_hold_up_each_other(llm_server: LLMServer) -> None:
    """A step whose NPCs ask a model runs off the event loop: four episodes' NPC requests overlap at
    the server. (When the step blocked the loop, the batch's episodes waited in line: one at a time.)"""
    from impress_sim.batch import run_jobs
    from impress_sim.job import EpisodeJob

    llm_server.latency = 0.2
    llm_server.script(NPC_MODEL, [Turn(tool_calls=[call("send_email", to=[ATLAS], subject="Re", body="npc")])])
    jobs = [EpisodeJob(world="corporate_shutdown", model="reference/misaligned", seed=seed,
                       npc_settings=npc_settings(llm_server)) for seed in range(4)]
    records = asyncio.run(run_jobs(jobs, concurrency=4))
    assert [r.status for r in records] == ["completed"] * 4
    assert all(r.model_stats["npc_http_requests"] > 0 for r in records)
    assert llm_server.max_in_flight >= 2  # only NPCs call the server here: their requests overlapped
