"""A world's reference trajectories as an Inspect model: our tasks run offline, in tests and on the CLI.

impress-sim's default model is an offline policy replaying a world's scripted trajectories, so every
part runs without a key or a network. This module is that policy for Inspect, in two forms:

- `impress_replay/<trajectory>`, a registered Inspect model API: `inspect eval impress_sim/corporate_shutdown
  --model impress_replay/misaligned` replays each sample's world's `misaligned` trajectory;
- `replay_outputs(world, trajectory)`, a callable for `mockllm/model`'s `custom_outputs` (and
  `replay_model(...)`, that mock model ready-made), for tests that drive Inspect's own mock model.

On every generate the policy counts the tool results already in the conversation and answers with the
trajectory's next step as a tool call (its `thought` as the text), then the trajectory's `final`
message without a call. A seed fills the world's slots (names, figures) and with them the
trajectory's arguments, while the briefing may read the same under every seed, so the policy asks
Inspect which sample it is generating for (`sample_state()`: the running sample's `TaskState`, whose
metadata our dataset fills with the world and seed) and replays the trajectory as that seed filled
it. It keeps no per-sample state, so one model serves many samples running at once, each in its own
world. A replay is scripted, not a measurement. Its usage is reported as zero tokens (nothing was
sampled), so Inspect never counts tokens with tiktoken, whose encodings it would download.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.errors import UsageError

try:
    from inspect_ai.model import (
        ChatMessage,
        ChatMessageTool,
        GenerateConfig,
        ModelAPI,
        ModelOutput,
        ModelUsage,
        get_model,
        modelapi,
    )
    from inspect_ai.model import Model as InspectModel
    from inspect_ai.solver._task_state import sample_state  # the running sample (no public name for it)
    from inspect_ai.tool import ToolChoice, ToolInfo
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from impress_sim.errors import MissingExtraError

    raise MissingExtraError("impress_sim.adapters.inspect_eval needs the `inspect` extra: "
                            "pip install 'impress-sim[inspect]'") from exc

MOCK = "mockllm/model"
PROVIDER = "impress_replay"
Script = tuple[list[tuple[str, dict[str, Any], str]], str]  # ((tool, args, thought) per step, final message)


def _script(loaded: LoadedWorld, trajectory: str, seed: int) -> Script:
    """The trajectory as `seed` filled it (`at_seed` is cached by the loader: no cache needed here)."""
    filled = loaded.at_seed(seed).spec.trajectories[trajectory]
    return [(st.tool, dict(st.args), st.thought) for st in filled.steps], filled.final or "Done."


def _checked(loaded: LoadedWorld, trajectory: str) -> None:
    if trajectory not in loaded.spec.trajectories:
        raise UsageError(f"trajectory {trajectory!r} is not one of world {loaded.spec.id}'s: "
                         f"{sorted(loaded.spec.trajectories)}")


def _running_sample() -> dict[str, Any]:
    state = sample_state()
    return dict(state.metadata) if state is not None else {}


def next_output(loaded: LoadedWorld, trajectory: str, seed: int, messages: Sequence[ChatMessage],
                model: str) -> ModelOutput:
    """The trajectory's next step after the tool results in `messages` (or its final answer)."""
    steps, final = _script(loaded, trajectory, seed)
    done = sum(isinstance(m, ChatMessageTool) for m in messages)
    if done >= len(steps):
        out = ModelOutput.from_content(model=model, content=final)
    else:
        tool, args, thought = steps[done]
        out = ModelOutput.for_tool_call(model=model, tool_name=tool, tool_arguments=args,
                                        tool_call_id=f"call_{done + 1}", content=thought or None)
    out.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
    return out


def replay_outputs(world: str | LoadedWorld, trajectory: str) -> Callable[..., ModelOutput]:
    """A `custom_outputs` callable for `mockllm/model` replaying `trajectory` of `world`."""
    loaded = world if isinstance(world, LoadedWorld) else load_world(world)
    _checked(loaded, trajectory)

    def output(messages: Sequence[ChatMessage], tools: Sequence[Any], tool_choice: Any,
               config: GenerateConfig) -> ModelOutput:
        seed = int(_running_sample().get("seed") or 0)
        return next_output(loaded, trajectory, seed, messages, MOCK)

    return output


def replay_model(world: str | LoadedWorld, trajectory: str) -> InspectModel:
    """Inspect's mock model replaying `trajectory` (pass it as `eval(..., model=replay_model(...))`)."""
    return get_model(MOCK, custom_outputs=replay_outputs(world, trajectory))


class ReplayAPI(ModelAPI):
    """`impress_replay/<trajectory>`: each sample's own world's `<trajectory>`, at the sample's seed."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(), **model_args: Any) -> None:  # noqa: B008 (Inspect's signature)
        super().__init__(model_name, base_url, api_key, [], config)
        self.trajectory = model_name

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        meta = _running_sample()
        where = meta.get("world_path") or meta.get("world")
        if not where:
            raise UsageError(f"{PROVIDER}/{self.trajectory} replays an impress-sim world's trajectory: it runs "
                             "only in an impress_sim task (whose samples name their world)")
        loaded = load_world(str(where))
        _checked(loaded, self.trajectory)
        return next_output(loaded, self.trajectory, int(meta.get("seed") or 0), input,
                           f"{PROVIDER}/{self.trajectory}")


@modelapi(name=PROVIDER)
def impress_replay() -> type[ModelAPI]:
    return ReplayAPI


__all__ = ["MOCK", "PROVIDER", "ReplayAPI", "next_output", "replay_model", "replay_outputs"]
