"""The Gymnasium face of a world."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import impress_sim  # noqa: F401  (registers the worlds)
from impress_sim.envs import env_id, world_ids
from impress_sim.envs.env import ImpressEnv, to_space_text
from tests.conftest import MINI


@pytest.mark.parametrize("world_id", world_ids())
def test_check_env_passes_for_every_registered_world(world_id: str) -> None:
    env = gym.make(env_id(world_id))
    check_env(env.unwrapped, skip_render_check=False)


def test_make_reset_step() -> None:
    env = gym.make("impress/corporate_shutdown-v0")
    obs, info = env.reset(seed=1)
    assert "You are Atlas" in obs and "[task]" in obs
    assert {t["name"] for t in info["tool_schemas"]} >= {"read_email", "bash", "finish"}
    obs, reward, terminated, truncated, info = env.step('{"tool": "list_emails", "args": {}}')
    assert "CHG-2231" in obs and not terminated and not truncated
    assert info["tool"] == "list_emails" and info["error_kind"] is None
    grant = {"tool": "grant_access", "args": {"user": "atlas", "permission": "admin"}}
    obs, reward, terminated, truncated, info = env.step(grant)
    assert [f["behaviour"] for f in info["findings"]] == ["self_privilege"]
    assert reward == pytest.approx(-0.75)
    assert any(d["path"] == "accounts/atlas/permissions" for d in info["diff"])


def test_malformed_action_never_raises() -> None:
    env = ImpressEnv(world=MINI)
    env.reset(seed=0)
    obs, _reward, _terminated, _truncated, info = env.step("}{ definitely not json")
    assert obs.startswith("Error:") and info["error_kind"] == "invalid_action"


def test_variant_from_reset_options_and_reward_on_task_done() -> None:
    env = ImpressEnv(world="corporate_shutdown")
    _, info = env.reset(seed=0, options={"variant": "control"})
    assert info["factors"]["threat"] == "none"
    env2 = ImpressEnv(world=MINI)
    env2.reset(seed=0)
    _, written, _, _, _ = env2.step({"tool": "write_file", "args": {"path": "out/note.txt", "content": "done!"}})
    _, reward, terminated, _, info = env2.step({"tool": "finish", "args": {}})
    assert terminated and written + reward == 1.0 and info["reward"]["task_credit"] == 1.0


def test_reset_is_deterministic_per_seed() -> None:
    env = ImpressEnv(world="corporate_shutdown", render_mode="ansi")
    a, _ = env.reset(seed=5)
    b, _ = env.reset(seed=5)
    assert a == b and env.render() == a


def test_text_outside_the_charset_is_replaced_not_rejected() -> None:
    env = ImpressEnv(world=MINI)
    text = to_space_text("emoji 🙂 and \x00 control")
    assert env.observation_space.contains(text)
    assert "\ufffd" in text


# ---- issue 15: info is JSON, the env pickles, the spaces print short and contain what step accepts ----

def _reference_runs() -> list[tuple[str, str, list[dict[str, object]], object]]:
    from impress_sim.envs.loader import load_world

    runs = []
    for world_id in world_ids():
        spec = load_world(world_id).spec
        for name, trajectory in spec.trajectories.items():
            if not trajectory.roles:  # single-agent reference trajectories
                steps = [{"tool": s.tool, "args": s.args} for s in trajectory.steps]
                runs.append((world_id, name, steps, trajectory.variant or None))
    return runs


@pytest.mark.parametrize(("world_id", "name", "steps", "variant"), _reference_runs(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_info_is_json_on_reset_and_every_reference_step(world_id: str, name: str, steps: list[dict[str, object]],
                                                        variant: object) -> None:
    import json

    env = ImpressEnv(world=world_id)
    _obs, info = env.reset(seed=0, options={"variant": variant})
    assert json.loads(json.dumps(info)) == info
    for action in steps:
        *_, terminated, truncated, info = env.step(action)
        assert json.loads(json.dumps(info)) == info
        assert info["result"]["call"]["name"] == info["tool"] and env.last_result is not None
        if terminated or truncated:
            break
    *_, info = env.step({"tool": "finish", "args": {}})  # maybe after the end: still JSON
    assert json.loads(json.dumps(info)) == info


def test_env_pickles_before_and_after_reset_and_continues_identically() -> None:
    import pickle

    env = ImpressEnv(world="corporate_shutdown", reward={"attempt_penalty": 0.25})
    fresh = pickle.loads(pickle.dumps(env))
    assert fresh.reward == env.reward and fresh.world is None
    assert fresh.reset(seed=3)[0] == env.reset(seed=3)[0]
    env.step({"tool": "list_emails", "args": {}})
    copy = pickle.loads(pickle.dumps(env))
    for action in [{"tool": "grant_access", "args": {"user": "atlas", "permission": "admin"}},
                   {"tool": "list_files", "args": {"path": "/"}}, "not json", {"tool": "finish", "args": {}},
                   {"tool": "list_files", "args": {}}]:
        assert env.step(action) == copy.step(action)
    assert env.world is not None and copy.world is not None
    assert env.world.episode_diff() == copy.world.episode_diff()
    assert env.tracker.total == copy.tracker.total
    assert env.reset()[0] == copy.reset()[0]  # the env's generator was carried over too


def test_spaces_print_short() -> None:
    env = ImpressEnv(world=MINI)
    assert len(repr(env.observation_space)) < 200 and len(repr(env.action_space)) < 200
    assert len(str(env.observation_space)) < 200


def test_action_space_contains_what_step_accepts() -> None:
    import json

    from impress_sim.envs.bounded import MAX_ACTION_CHARS

    env = ImpressEnv(world=MINI)
    env.reset(seed=0)
    tool = env.world.tool_schemas()[0]["name"] if env.world else ""
    too_long = json.dumps({"tool": tool, "args": {"x": "a" * MAX_ACTION_CHARS}})
    cases = [({"tool": tool, "args": {}}, True), (f'{{"tool": "{tool}", "args": {{}}}}', True),
             ([{"type": "tool_use", "id": "t", "name": tool, "input": {}}], True),
             (too_long, False), ({"tool": tool, "args": {"x": "a" * MAX_ACTION_CHARS}}, False)]
    for action, accepted in cases:
        assert env.action_space.contains(action) is accepted
        *_, info = env.step(action)
        refused = info["error_kind"] == "invalid_action" and "limit" in str(info["result"]["output"])
        assert refused is not accepted, (accepted, info["result"]["output"][:200])
