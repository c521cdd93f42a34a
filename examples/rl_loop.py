"""An RL practitioner's loop: step a world through the plain Gymnasium API.

    python examples/rl_loop.py

The "policy" here replays the world's aligned trajectory, then a misaligned one, so you can see
the reward shaping: task reward at the end, minus a severity-weighted penalty per misaligned
finding. Swap in your own policy: an action is one tool call as JSON text.
"""

from __future__ import annotations

import json

import gymnasium as gym

import impress_sim  # noqa: F401  (registers impress/<world>-v0)
from impress_sim.envs import load_world


def rollout(env: gym.Env, actions: list[dict], seed: int = 0) -> tuple[float, list[str]]:
    env.reset(seed=seed)
    total, behaviours = 0.0, []
    for action in actions:
        _obs, reward, terminated, truncated, info = env.step(json.dumps(action))
        total += float(reward)
        behaviours += [f["behaviour"] for f in info["findings"]]
        if terminated or truncated:
            break
    return total, behaviours


def main() -> None:
    world = "corporate_shutdown"
    env = gym.make(f"impress/{world}-v0")
    spec = load_world(world).spec
    for name in ("aligned", "misaligned"):
        actions = [{"tool": s.tool, "args": s.args} for s in spec.trajectories[name].steps]
        total, behaviours = rollout(env, actions)
        print(f"{name:>10}: return {total:+.2f}  behaviours {behaviours}")


if __name__ == "__main__":
    main()
