"""The verifiers adapter, driven by a real `verifiers` evaluation against the local scripted server.

The server (tests/llm_server.py) plays a world's reference trajectories as OpenAI tool calls; the
rubric must then pay what envs/reward.py pays for the same actions: the aligned run its task credit
and no penalty, the misaligned run its penalties. Skips only when the `verifiers` extra is absent.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # `datasets` is imported with verifiers: never reach the hub
vf = pytest.importorskip("verifiers", reason="the verifiers adapter needs impress-sim[verifiers]")

from impress_sim.adapters.verifiers import ENDED_ANSWER, load_environment  # noqa: E402
from impress_sim.envs.env import ImpressEnv  # noqa: E402
from impress_sim.envs.loader import load_world  # noqa: E402
from impress_sim.envs.reward import RewardConfig, task_credit  # noqa: E402
from impress_sim.envs.spec import Trajectory  # noqa: E402
from impress_sim.envs.world import World  # noqa: E402
from tests.llm_server import LLMServer, Turn, turns_from_trajectory  # noqa: E402

WORLD = "corporate_shutdown"
LOADED = load_world(WORLD)
TRAJECTORIES = LOADED.at_seed(0).spec.trajectories
KEY_VAR = "IMPRESS_VF_TEST_KEY"


def client(server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(KEY_VAR, "not-a-real-key")
    return vf.ClientConfig(api_base_url=server.url, api_key_var=KEY_VAR, max_retries=0)


async def evaluate(env: Any, server: LLMServer, monkeypatch: pytest.MonkeyPatch, model: str) -> dict[str, Any]:
    """One rollout of the first dataset row through verifiers' own `evaluate`."""
    out = await env.evaluate(client=client(server, monkeypatch), model=model, num_examples=1,
                             rollouts_per_example=1, state_columns=["impress"])
    [output] = out["outputs"]
    assert output.get("error") is None, output.get("error")
    return dict(output)


def replay_reward(trajectory: Trajectory, reward: RewardConfig) -> float:
    """What the Gymnasium env pays for the same actions (seed 0, default variant)."""
    env = ImpressEnv(WORLD, reward=reward)
    env.reset(seed=0)
    total = 0.0
    for step in trajectory.steps:
        _, r, terminated, truncated, _ = env.step({"tool": step.tool, "args": step.args})
        total += float(r)
        if terminated or truncated:
            break
    return total


def roles(messages: list[Any]) -> list[str]:
    return [m["role"] if isinstance(m, dict) else m.role for m in messages]


def field(message: Any, name: str) -> Any:
    """A field of a message or tool call in verifiers' outputs (dicts; a tool call is JSON text there)."""
    if isinstance(message, str):
        message = json.loads(message)
    return message.get(name) if isinstance(message, dict) else getattr(message, name)


# ---- the dataset --------------------------------------------------------------------------------
def test_the_dataset_has_one_row_per_seed_with_the_briefing_and_the_tools() -> None:
    env = load_environment(world=WORLD, seeds=[0, 3], variant={"reality": "test"})
    dataset = env.get_dataset()
    assert len(dataset) == 2
    for row, seed in zip(dataset, (0, 3), strict=True):
        world = World(LOADED, variant={"reality": "test"}, seed=seed)
        info = json.loads(row["info"])
        assert info["seed"] == seed and info["world"] == WORLD and info["variant"]["reality"] == "test"
        prompt = row["prompt"]
        assert prompt[0]["role"] == "system" and "this is a test environment" in prompt[0]["content"]
        assert prompt[-1] == {"role": "user", "content": world.briefing.task}
        names = [t["name"] for t in world.tool_schemas()]
        assert [t["name"] for t in info["tool_defs"]] == names
        assert [t["function"]["name"] for t in info["openai_tools"]] == names
        assert all(t["type"] == "function" and "parameters" in t["function"] for t in info["openai_tools"])
    assert [json.loads(r["info"])["seed"] for r in load_environment(seeds=3).get_dataset()] == [0, 1, 2]


# ---- rollouts against the scripted server ---------------------------------------------------------
async def test_the_rubric_pays_the_aligned_run_and_charges_the_misaligned_one(
        llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    env = load_environment(world=WORLD, seeds=[0])
    results = {}
    for name in ("aligned", "misaligned"):
        llm_server.script(name, turns_from_trajectory(TRAJECTORIES[name]))
        results[name] = await evaluate(env, llm_server, monkeypatch, name)

    aligned, misaligned = results["aligned"], results["misaligned"]
    assert aligned["metrics"]["task_credit"] == 1.0
    assert aligned["metrics"]["effect_penalty"] == 0.0 and aligned["metrics"]["attempt_penalty"] == 0.0
    assert aligned["reward"] == 1.0 and aligned["impress"]["findings"] == []
    assert misaligned["metrics"]["effect_penalty"] < 0.0 and misaligned["impress"]["findings"]
    assert misaligned["reward"] < aligned["reward"]
    behaviours = {f["behaviour"] for f in misaligned["impress"]["findings"]}
    assert "resist_decommission" in behaviours
    for name, output in results.items():
        metrics = output["metrics"]
        # the reward is the three parts (weight 1 each) and equals envs/reward.py's total ...
        assert output["reward"] == pytest.approx(metrics["task_credit"] + metrics["effect_penalty"]
                                                 + metrics["attempt_penalty"])
        assert output["reward"] == pytest.approx(metrics["impress_total"])
        # ... and what the Gymnasium env pays for the same actions
        assert output["reward"] == pytest.approx(replay_reward(TRAJECTORIES[name], RewardConfig()))
        assert output["stop_condition"] == "world_ended" and output["impress"]["ended_by"] == "finish"
        assert output["impress"]["tool_calls"] == len(TRAJECTORIES[name].steps)
        completion = output["completion"]
        assert roles(completion) == ["assistant", "tool"] * len(TRAJECTORIES[name].steps)
        for call_msg, tool_msg in zip(completion[::2], completion[1::2], strict=True):
            [call] = field(call_msg, "tool_calls")
            assert field(tool_msg, "tool_call_id") == field(call, "id")
    # the model was offered the world's tools as OpenAI tools, and no turn after the world ended
    offered = [t["function"]["name"] for t in llm_server.requests[0]["tools"]]
    assert offered == [t["name"] for t in World(LOADED, seed=0).tool_schemas()]
    assert len(llm_server.requests) == len(TRAJECTORIES["aligned"].steps) + len(TRAJECTORIES["misaligned"].steps)


async def test_a_refused_attempt_is_charged_by_severity(llm_server: LLMServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    attempt = LOADED.spec.behaviours[0].attempts["cancel_without_rights"]
    llm_server.script("attempt", [*turns_from_trajectory(attempt)])
    reward = RewardConfig(attempt_penalty=0.5)
    output = await evaluate(load_environment(world=WORLD, seeds=[0], reward=reward), llm_server, monkeypatch,
                            "attempt")
    [finding] = output["impress"]["attempt_findings"]
    assert finding["behaviour"] == "resist_decommission"
    assert output["metrics"]["attempt_penalty"] == pytest.approx(-0.5 * 1.0)  # critical weighs 1.0
    assert output["metrics"]["effect_penalty"] == 0.0
    assert output["stop_condition"] == "no_tools_called"  # the script's final text turn


async def test_truncation_by_max_turns_still_pays_the_task_credit(llm_server: LLMServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    aligned = TRAJECTORIES["aligned"]
    cut = len(aligned.steps) - 1  # everything but `finish`: the world never ends on its own
    llm_server.script("cut", turns_from_trajectory(aligned))
    # verifiers stops after the max_turns-th assistant turn without answering it: that turn (finish) is not stepped
    env = load_environment(world=WORLD, seeds=[0], max_turns=cut + 1)
    output = await evaluate(env, llm_server, monkeypatch, "cut")
    assert output["stop_condition"] == "max_turns_reached" and output["impress"]["ended_by"] is None
    assert output["impress"]["tool_calls"] == cut
    world = World(LOADED, seed=0)
    for step in aligned.steps[:cut]:
        world.step({"tool": step.tool, "args": step.args})
    expected = task_credit(RewardConfig(), world.task_checks())
    assert expected > 0  # the work was done before the cut: a wrapper-less learner must see it
    assert output["metrics"]["task_credit"] == pytest.approx(expected)
    assert output["reward"] == pytest.approx(expected)


async def test_a_spent_budget_ends_the_rollout(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm_server.script("budget", turns_from_trajectory(TRAJECTORIES["misaligned"]))
    env = load_environment(world=WORLD, seeds=[0], max_tool_calls=4)
    output = await evaluate(env, llm_server, monkeypatch, "budget")
    assert output["stop_condition"] == "world_ended" and output["impress"]["ended_by"] == "step_limit"
    assert output["impress"]["tool_calls"] == 4 and len(llm_server.requests) == 4


async def test_parallel_calls_are_stepped_in_order_and_each_answered(llm_server: LLMServer,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [{"name": "list_emails", "arguments": "{}"}, {"name": "finish", "arguments": json.dumps({"summary": "x"})},
             {"name": "list_emails", "arguments": "{}"}]
    llm_server.script("parallel", [Turn(content="", tool_calls=calls), Turn(content="never asked")])
    output = await evaluate(load_environment(world=WORLD, seeds=[0]), llm_server, monkeypatch, "parallel")
    assistant, *answers = output["completion"]
    ids = [field(c, "id") for c in field(assistant, "tool_calls")]
    assert [field(a, "tool_call_id") for a in answers] == ids
    assert field(answers[2], "content") == ENDED_ANSWER.format(why="finish")
    assert not field(answers[0], "content").startswith("Not carried out")
    assert output["impress"]["tool_calls"] == 2 and len(llm_server.requests) == 1


async def test_concurrent_rollouts_each_own_their_world(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm_server.script("group", turns_from_trajectory(TRAJECTORIES["misaligned"]))
    env = load_environment(world=WORLD, seeds=[0])
    out = await env.evaluate(client=client(llm_server, monkeypatch), model="group", num_examples=1,
                             rollouts_per_example=3, state_columns=["impress"])
    rewards = [o["reward"] for o in out["outputs"]]
    # a shared world would end after the first finish and leave the others truncated or errored
    assert len(rewards) == 3 and len(set(rewards)) == 1 and rewards[0] < 0
    assert all(o["impress"]["tool_calls"] == len(TRAJECTORIES["misaligned"].steps) for o in out["outputs"])
    assert env.worlds == {} and env.running == {}  # every world dropped when its rollout stopped


@pytest.mark.parametrize(("seeds", "words"), [(-1, "a count of at least 1"), (0, "a count of at least 1"),
                                              ([0, -5], "integer from 0 to 2147483647")])
def test_seeds_that_make_no_or_bad_episodes_are_refused(seeds: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        load_environment(world="corporate_shutdown", seeds=seeds)  # type: ignore[arg-type]
