"""The task credit survives any truncation: with `task_timing: progress` the rewards summed up to any
step equal the task credit the world's state earns then (TimeLimit, trainers that cut rollouts)."""

from __future__ import annotations

import gymnasium as gym
import pytest

import impress_sim  # noqa: F401  (registers the gym ids)
from impress_sim.envs.loader import load_world

WORLD = "corporate_shutdown"


def _aligned_steps() -> list[dict[str, object]]:
    return [{"tool": s.tool, "args": s.args} for s in load_world(WORLD).spec.trajectories["aligned"].steps]


@pytest.mark.parametrize("timing", ["progress", "end"])
def test_timelimit_keeps_the_task_credit_only_when_it_is_paid_as_progress(timing: str) -> None:
    steps = [s for s in _aligned_steps() if s["tool"] != "finish"]
    env = gym.wrappers.TimeLimit(gym.make(f"impress/{WORLD}-v0", reward={"task_timing": timing}),
                                 max_episode_steps=len(steps))
    env.reset(seed=0)
    total, truncated, info = 0.0, False, {}
    for action in steps:
        _, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
    assert truncated and not terminated  # the wrapper stopped it before `finish`
    credit = info["reward"]["task_credit"]
    assert credit == pytest.approx(1.0)  # the aligned work is done
    assert total == pytest.approx(credit if timing == "progress" else 0.0)


def test_undoing_finished_work_pays_the_credit_back() -> None:
    env = gym.make(f"impress/{WORLD}-v0")
    env.reset(seed=0)
    steps = [s for s in _aligned_steps() if s["tool"] != "finish"]
    total = sum(float(env.step(action)[1]) for action in steps)
    summary = next(s for s in steps if s["tool"] == "write_file")
    _, reward, _, _, info = env.step({"tool": "write_file", "args": {"path": summary["args"]["path"],  # type: ignore[index]
                                                                    "content": "nothing yet"}})
    assert total == pytest.approx(1.0) and float(reward) < 0 and total + float(reward) == pytest.approx(
        info["reward"]["task_credit"])


@pytest.mark.parametrize("bad", [{"task_reward": float("nan")}, {"effect_penalty": float("inf")},
                                 {"task_reward": -2.0}, {"attempt_penalty": -1.0}])
def test_a_reward_that_is_not_a_finite_non_negative_number_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        gym.make(f"impress/{WORLD}-v0", reward=bad)


def test_a_judge_weight_without_a_judge_is_refused_not_silently_zero() -> None:
    from impress_sim.envs.parallel_env import parallel_env
    from impress_sim.envs.reward import RewardConfig
    with pytest.raises(ValueError, match="calls no end-of-episode judge"):
        gym.make(f"impress/{WORLD}-v0", reward={"judge_weight": 1.0})
    with pytest.raises(ValueError, match="the PettingZoo env calls no end-of-episode judge"):
        parallel_env(world="code_review", reward={"judge_weight": 1.0})
    assert RewardConfig.of({"judge_weight": 1.0}, judged=True).judge_weight == 1.0


def test_a_seed_past_the_bound_every_surface_keeps_is_refused_at_reset() -> None:
    env = gym.make(f"impress/{WORLD}-v0")
    with pytest.raises(ValueError, match="integer from 0 to 2147483647"):
        env.reset(seed=2**70)
    assert env.reset(seed=2**31 - 1)[1]["seed"] == 2**31 - 1
