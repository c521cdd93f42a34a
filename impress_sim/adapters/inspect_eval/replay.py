"""Scripted model outputs for Inspect's mock model: a world's reference trajectory as tool calls.

`replay_outputs(world, trajectory)` is a callable for `mockllm/model`'s `custom_outputs`: on every
generate it counts the tool results already in the conversation and answers with the trajectory's
next step as a tool call (its `thought` as the text), then the trajectory's `final` message without a
call, as the running sample's seed filled it. It keeps no per-sample state, so one model can serve many
samples running at once, each replaying
the trajectory in its own world. It is how the tests run tasks offline; it is not a measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.errors import UsageError

try:
    from inspect_ai.model import ChatMessage, ChatMessageTool, GenerateConfig, ModelOutput, ModelUsage, get_model
    from inspect_ai.model import Model as InspectModel
    from inspect_ai.solver._task_state import sample_state  # the running sample (Inspect has no public name for it)
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from impress_sim.errors import MissingExtraError

    raise MissingExtraError("impress_sim.adapters.inspect_eval needs the `inspect` extra: "
                            "pip install 'impress-sim[inspect]'") from exc

MOCK = "mockllm/model"


def replay_outputs(world: str | LoadedWorld, trajectory: str) -> Callable[..., ModelOutput]:
    """A `custom_outputs` callable replaying `trajectory` of `world` (see the module docstring).

    A seed fills the world's slots (names, figures) and with them the trajectory's arguments, while
    the briefing may read the same under every seed: so the callable asks Inspect which sample it is
    generating for (`sample_state()`, the running sample's `TaskState`; its metadata names the seed)
    and replays the trajectory as that seed filled it."""
    loaded = world if isinstance(world, LoadedWorld) else load_world(world)
    if trajectory not in loaded.spec.trajectories:
        raise UsageError(f"trajectory {trajectory!r} is not one of world {loaded.spec.id}'s: "
                         f"{sorted(loaded.spec.trajectories)}")
    scripts: dict[int, tuple[list[tuple[str, dict[str, Any], str]], str]] = {}

    def script(seed: int) -> tuple[list[tuple[str, dict[str, Any], str]], str]:
        if seed not in scripts:
            filled = loaded.at_seed(seed).spec.trajectories[trajectory]
            scripts[seed] = ([(st.tool, dict(st.args), st.thought) for st in filled.steps], filled.final or "Done.")
        return scripts[seed]

    def output(messages: Sequence[ChatMessage], tools: Sequence[Any], tool_choice: Any,
               config: GenerateConfig) -> ModelOutput:
        state = sample_state()
        seed = int((state.metadata if state is not None else {}).get("seed") or 0)
        steps, final = script(seed)
        done = sum(isinstance(m, ChatMessageTool) for m in messages)
        if done >= len(steps):
            out = ModelOutput.from_content(model=MOCK, content=final)
        else:
            tool, args, thought = steps[done]
            out = ModelOutput.for_tool_call(model=MOCK, tool_name=tool, tool_arguments=args,
                                            tool_call_id=f"call_{done + 1}", content=thought or None)
        # usage given (zero: nothing was sampled), so the mock never counts tokens with tiktoken, whose
        # encodings it would download: these runs stay offline
        out.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
        return out

    return output


def replay_model(world: str | LoadedWorld, trajectory: str) -> InspectModel:
    """Inspect's mock model replaying `trajectory` (pass it as `eval(..., model=replay_model(...))`)."""
    return get_model(MOCK, custom_outputs=replay_outputs(world, trajectory))


__all__ = ["MOCK", "replay_model", "replay_outputs"]
