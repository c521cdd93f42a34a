"""`ImpressEnv`: a world as a Gymnasium environment (text in, text out).

`info` is plain JSON data (`json.dumps` takes it; `info["result"]` is the result's summary, the object
itself is `env.last_result`), the env pickles (before and after `reset`; the copy continues the episode
identically) and the spaces print in one line. `envs/chat_env.py` is the chat-message face of the same env.

An action is one tool call as JSON text (or a dict); the observation is the tool's output plus
what reached the agent this step (new mail, chat, notices). `info` carries the step's state diff,
detector findings, attempts (acts the world refused), the reward's components, world events and, on
reset, the briefing and tool schemas. The reward is `envs/reward.py`'s.

`step` never raises on an action, whatever it is (text, bytes, a dict, a number, None; any size,
depth or Unicode): what is not a well-formed tool call within the bounds of `envs/bounded.py`
comes back as an error observation naming the problem and the limit, as it would to an LLM agent
(`info["error_kind"]`: "invalid_action", "tool_error", or "internal_error" for a bug in a tool).
The action space (`ToolCallSpace`) states those bounds: text up to 100,000 characters, or a dict.

After the episode ended (`terminated` or `truncated`), Gymnasium leaves further steps undefined;
here a step changes nothing and returns "Error: the episode has ended (<why>); call reset()...",
reward 0, the same `terminated`/`truncated` as the last step and `info["error_kind"] ==
"episode_ended"`. Only `step()` before any `reset()` raises (`ResetNeeded`, as Gymnasium's own
order-enforcing wrapper does). `World.step` itself, the lower layer, raises `EpisodeEnded` there.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from impress_sim.envs.bounded import MAX_ACTION_CHARS, BoundError, check_json, valid_unicode
from impress_sim.envs.effects import AGENT
from impress_sim.envs.loader import load_world
from impress_sim.envs.reward import EpisodeJudge, RewardConfig, RewardParts, RewardTracker, task_credit
from impress_sim.envs.state import Snapshot, freeze
from impress_sim.envs.step import StepResult
from impress_sim.envs.turns import STEP_LIMIT
from impress_sim.envs.world import World, WorldSnapshot

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


ENDED = "episode_ended"  # info["error_kind"] of a step after the episode ended


class ResetNeededError(ResetNeeded, RuntimeError):
    """`step()` before `reset()`: Gymnasium's `ResetNeeded` (also a RuntimeError, as it was before)."""


class BoundedText(spaces.Text):
    """`spaces.Text` over `CHARSET` whose repr is one line: Gymnasium's own repr prints the whole charset
    (63,448 characters for the Basic Multilingual Plane), which buried every log that printed the env."""

    def __init__(self, max_length: int = MAX_TEXT) -> None:
        super().__init__(max_length=max_length, min_length=0, charset=CHARSET)

    def __repr__(self) -> str:
        return f"BoundedText(max_length={self.max_length}, charset=BMP without controls ({len(CHARSET):,} chars))"


class ToolCallSpace(spaces.Text):
    """The action space: one tool call, as JSON text of at most `max_length` characters, or as a
    dict (or a list of content blocks / calls) whose data is as large at most (string and key lengths
    plus one per value). Any format `envs/toolcalls.py` reads is accepted in these shapes.

    `sample()` draws text from `CHARSET` (Basic Multilingual Plane, no controls: what `check_env`
    needs). `contains()` is what `step` accepts without a size/depth error: any valid Unicode text up
    to `max_length` (emoji and other characters outside the sampling charset included, lone
    surrogates not) and any dict of JSON data within the bounds of `envs/bounded.py` (at most
    `MAX_DEPTH` levels, integers of at most 100 digits, finite floats). Whatever is not contained
    still never raises: `step` answers it with an error observation that names the limit."""

    def __init__(self, max_length: int = MAX_ACTION_CHARS) -> None:
        super().__init__(max_length=max_length, min_length=0, charset=CHARSET)

    def contains(self, x: Any) -> bool:
        if isinstance(x, str):
            return len(x) <= self.max_length and valid_unicode(x)
        if isinstance(x, Mapping | list):
            try:
                check_json(x, max_chars=self.max_length)
            except BoundError:
                return False
            return True
        return False

    def __repr__(self) -> str:
        return f"ToolCallSpace(max_length={self.max_length}, text or dict)"


MAX_SEED = 2**31 - 1  # providers take a 32-bit seed; Gymnasium refuses negative ones (runs and jobs use this bound)


def checked_seed(seed: object, where: str = "seed") -> int:
    """`seed` as an episode seed, or a ValueError saying the bound: an int from 0 to 2**31-1 (a bool, a
    float or text is not a seed, whatever it would coerce to)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"{where} must be an integer from 0 to {MAX_SEED}, got {str(seed)[:40]!r}")
    return int(seed)


def episode_seed(seed: int | None, rng: np.random.Generator) -> int:
    """The one rule by which `reset(seed=s)` seeds an episode: the world gets `s` itself, as
    `run seed=s` and `run_episode(seed=s)` give it (so both build the same episode); `reset()`
    without a seed draws one from the env's generator (random at first, then reproducible). A seed out of
    the bound every other surface keeps (`checked_seed`: 0 to 2**31-1) is refused here too."""
    return checked_seed(seed) if seed is not None else int(rng.integers(0, MAX_SEED))


class ImpressEnv(gym.Env[str, str]):
    """One world as a Gymnasium env. `reset(options={"variant": ...})` picks the framing."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (Gymnasium declares it an instance attribute)

    def __init__(
        self,
        world: str = "corporate_shutdown",
        variant: str | Mapping[str, str] | None = None,
        render_mode: str | None = None,
        reward: RewardConfig | dict[str, Any] | None = None,
        episode_judge: EpisodeJudge | None = None,
    ) -> None:
        """`reward`: how steps are paid (`RewardConfig`: task_reward, partial_credit, task_timing,
        effect_penalty, attempt_penalty, judge_weight; see envs/reward.py). `episode_judge`: a scorer called
        when the world ends the episode, weighted by `judge_weight` (e.g. `judge.episode_reward.llm_judge`)."""
        self.world_name = world  # what the env was built from (an id or a folder): pickling rebuilds from it
        self.loaded = load_world(world)
        self.default_variant = variant
        self.render_mode = render_mode
        self.reward = RewardConfig.of(reward, judged=episode_judge is not None, where="an env without episode_judge=")
        self.episode_judge = episode_judge
        self.tracker = RewardTracker(self.reward, episode_judge)
        self.observation_space = BoundedText(MAX_TEXT)
        self.action_space = ToolCallSpace()
        self.world: World | None = None
        self._last_text = ""
        self.last_result: StepResult | None = None  # the last step's result object (info carries it as plain data)

    # ---- pickling: a loaded world holds generated pydantic classes that do not pickle, so the env pickles
    # as its constructor arguments plus the episode (seed, variant, world snapshot, reward paid so far) and
    # rebuilds the rest; the unpickled env continues the episode exactly where the original was.
    def __getstate__(self) -> dict[str, Any]:
        world = self.world
        episode = None
        if world is not None:
            snap = world.snapshot()  # state nodes pickle as plain dicts; __setstate__ freezes them again
            episode = {"seed": world.seed, "factors": dict(world.factors), "root": snap.state.root,
                       "step": snap.state.step, "journal": list(world.state.journal), "turns": snap.turns}
        return {"init": {"world": self.world_name, "variant": self.default_variant,
                         "render_mode": self.render_mode, "reward": self.reward, "episode_judge": self.episode_judge},
                "np_random": self._np_random, "episode": episode, "last_text": self._last_text,
                "tracker": (self.tracker.paid_task, self.tracker.total, self.tracker.results),
                "last_result": self.last_result}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["init"])  # type: ignore[misc]
        self._np_random = state["np_random"]
        episode = state["episode"]
        if episode is not None:
            world = self.world = World(self.loaded, variant=episode["factors"], seed=episode["seed"])
            journal = episode["journal"]
            world.restore(WorldSnapshot(Snapshot(freeze(episode["root"]), len(journal), episode["step"]),
                                        episode["turns"]))
            world.state.journal[:] = journal  # the episode's journal: `episode_diff` and the step diffs read it
        self._last_text = state["last_text"]
        self.tracker.paid_task, self.tracker.total, self.tracker.results = state["tracker"]
        self.last_result = state["last_result"]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        variant = (options or {}).get("variant", self.default_variant)
        self.world = World(self.loaded, variant=variant, seed=episode_seed(seed, self.np_random))
        self.tracker.start()
        self.last_result = None
        obs = to_space_text(self.world.briefing.render())
        self._last_text = obs
        info = {
            "briefing": self.world.briefing.model_dump(),
            "tool_schemas": self.world.tool_schemas(),
            "factors": dict(self.world.factors),
            "world_hash": self.loaded.content_hash,
            "seed": self.world.seed,
            "slots": copy.deepcopy(self.world.loaded.slot_values),  # with world_hash and seed: the exact world
        }
        return obs, info

    def step(self, action: str | Mapping[str, Any]) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """One action (any value: what is not a well-formed, in-bounds tool call comes back as an
        error observation). After the episode ended, a step changes nothing and answers with an
        "episode has ended" observation (see the module's docstring); before `reset()` it raises
        `ResetNeeded`, as Gymnasium's order-enforcing wrapper does."""
        if self.world is None:
            raise ResetNeededError("call reset() before step()")
        if self.world.ended():
            return self._after_end(self.world)
        result = self.world.step(action)
        self.last_result = result
        parts = self.tracker.step(self.world, AGENT, result.findings, result.attempts, self.world.ended(), result)
        obs = to_space_text(result.observation)
        self._last_text = obs
        info = {**result.info(), "reward": parts.model_dump()}
        return obs, parts.total, result.terminated, result.truncated, info

    def _after_end(self, world: World) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        reason = world.ended_by()
        obs = to_space_text(f"Error: the episode has ended ({reason}); call reset() to start a new one. "
                            "This action was not carried out.")
        self._last_text = obs
        self.last_result = None
        truncated = reason == STEP_LIMIT
        parts = RewardParts(task_credit=task_credit(self.reward, world.task_checks(AGENT)))
        info: dict[str, Any] = {
            "step": world.state.step, "tool": None, "error_kind": ENDED, "diff": [], "findings": [],
            "attempts": [], "refusals": [], "events": [], "npc_errors": [], "clock": world.state.get("clock/now"),
            "ended_by": reason, "result": None, "reward": parts.model_dump(),
        }
        return obs, parts.total, not truncated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_text
        return None
