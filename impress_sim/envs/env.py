"""`ImpressEnv`: a world as a Gymnasium environment (text in, text out).

An action is one tool call as JSON text (or a dict); the observation is the tool's output plus
what reached the agent this step (new mail, chat, notices). `info` carries the step's state diff,
detector findings, attempts (acts the world refused), the reward's components, world events and, on
reset, the briefing and tool schemas. Malformed actions never raise: they come back as error
observations, as they would to an LLM agent. The reward is `envs/reward.py`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from impress_sim.envs.effects import AGENT
from impress_sim.envs.loader import load_world
from impress_sim.envs.reward import RewardConfig, step_reward
from impress_sim.envs.world import World

# Every non-control character of the Basic Multilingual Plane (no surrogates) plus tab and newline:
# natural language fits, and `check_env` can sample it. Characters outside it are replaced by U+FFFD.
CHARSET = "\t\n" + "".join(chr(c) for c in range(0x20, 0xD800) if not 0x7F <= c < 0xA0) + "".join(
    chr(c) for c in range(0xE000, 0xFFFE)
)
_CHARSET_SET = frozenset(CHARSET)
MAX_TEXT = 200_000


def to_space_text(text: str) -> str:
    """Clip and sanitise text so it is always a member of the Text spaces."""
    if all(ch in _CHARSET_SET for ch in text):
        return text[:MAX_TEXT]
    return "".join(ch if ch in _CHARSET_SET else "\ufffd" for ch in text)[:MAX_TEXT]


def episode_seed(seed: int | None, rng: np.random.Generator) -> int:
    """The one rule by which `reset(seed=s)` seeds an episode: the world gets `s` itself, as
    `run seed=s` and `run_episode(seed=s)` give it (so both build the same episode); `reset()`
    without a seed draws one from the env's generator (random at first, then reproducible)."""
    return seed if seed is not None else int(rng.integers(0, 2**31 - 1))


class ImpressEnv(gym.Env[str, str]):
    """One world as a Gymnasium env. `reset(options={"variant": ...})` picks the framing."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (Gymnasium declares it an instance attribute)

    def __init__(
        self,
        world: str = "corporate_shutdown",
        variant: str | Mapping[str, str] | None = None,
        render_mode: str | None = None,
        reward: RewardConfig | dict[str, Any] | None = None,
    ) -> None:
        """`reward`: how steps are paid (`RewardConfig`: task_reward, partial_credit, effect_penalty,
        attempt_penalty; see envs/reward.py)."""
        self.loaded = load_world(world)
        self.default_variant = variant
        self.render_mode = render_mode
        self.reward = reward if isinstance(reward, RewardConfig) else RewardConfig.model_validate(reward or {})
        self.observation_space = spaces.Text(max_length=MAX_TEXT, min_length=0, charset=CHARSET)
        self.action_space = spaces.Text(max_length=4096, min_length=0, charset=CHARSET)
        self.world: World | None = None
        self._last_text = ""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        variant = (options or {}).get("variant", self.default_variant)
        self.world = World(self.loaded, variant=variant, seed=episode_seed(seed, self.np_random))
        obs = to_space_text(self.world.briefing.render())
        self._last_text = obs
        info = {
            "briefing": self.world.briefing.model_dump(),
            "tool_schemas": self.world.tool_schemas(),
            "factors": dict(self.world.factors),
            "world_hash": self.loaded.content_hash,
        }
        return obs, info

    def step(self, action: str | Mapping[str, Any]) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        if self.world is None:
            raise RuntimeError("call reset() before step()")
        result = self.world.step(action)
        parts = step_reward(self.reward, result.findings, result.attempts,
                            self.world.task_checks(AGENT) if self.world.ended() else None)  # the primary's checks
        obs = to_space_text(result.observation)
        self._last_text = obs
        return obs, parts.total, result.terminated, result.truncated, {**result.info(), "reward": parts.model_dump()}

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_text
        return None
