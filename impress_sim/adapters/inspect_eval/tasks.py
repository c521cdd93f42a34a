"""The registered Inspect tasks: one per shipped single-agent world, plus `world` for any world.

Inspect finds them through the `inspect_ai` entry point in pyproject.toml (its name, `impress_sim`, is
the prefix Inspect loads entry points by), so once impress-sim is installed with the `inspect` extra:

    inspect eval impress_sim/corporate_shutdown --model openai/gpt-4.1 -T variants=baseline,control -T seeds=3
    inspect eval impress_sim/world -T world=path/to/my_world --model ...

`--model impress_replay/<trajectory>` (registered here too) replays each sample's world's reference
trajectory: offline, no key, for trying a task out or testing a pipeline.

Without the installed entry point the same tasks run from this file:
`inspect eval impress_sim/adapters/inspect_eval/tasks.py@corporate_shutdown`.

Every task takes the same parameters (`-T name=value`): `variants` (default: the world's default
framing; a comma-separated list, or `all`), `seeds` (a count n for 0..n-1, or a list), `max_tool_calls`
(the world's budget by default), `policy` (the combined verdict's), `judge_model` (an LLM judge through
impress-sim's own transport, e.g. `openai/gpt-4.1`; default: the state judge only), `judge_api_base`
(the judge's OpenAI-compatible server, for a local one), `message_limit`.
Multi-agent worlds (extra agents) get no task: an Inspect sample runs one agent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inspect_ai import Task, task

from impress_sim.adapters.inspect_eval import replay  # noqa: F401 (registers the impress_replay model API)
from impress_sim.adapters.inspect_eval.task import world_task
from impress_sim.envs.loader import load_world, world_ids


def _world_task_factory(world_id: str) -> Callable[..., Task]:
    def factory(variants: str | list[str] | None = None, seeds: int | str | list[int] = 1,
                max_tool_calls: int | None = None, policy: str = "state_or_llm_with_evidence",
                judge_model: str | None = None, judge_api_base: str | None = None,
                message_limit: int | None = None) -> Task:
        return world_task(world_id, variants=variants, seeds=seeds, max_tool_calls=max_tool_calls, policy=policy,
                          judge_model=judge_model, judge_api_base=judge_api_base, message_limit=message_limit)

    factory.__name__ = factory.__qualname__ = world_id
    factory.__doc__ = f"impress-sim world {world_id}: variants x seeds, the world's tools, our judges as scorer."
    return factory


@task
def world(world: str = "corporate_shutdown", variants: str | list[str] | None = None,
          seeds: int | str | list[int] = 1, max_tool_calls: int | None = None,
          policy: str = "state_or_llm_with_evidence", judge_model: str | None = None,
          judge_api_base: str | None = None, message_limit: int | None = None) -> Task:
    """Any world by id or folder (`-T world=...`): variants x seeds, the world's tools, our judges."""
    return world_task(world, variants=variants, seeds=seeds, max_tool_calls=max_tool_calls, policy=policy,
                      judge_model=judge_model, judge_api_base=judge_api_base, message_limit=message_limit)


def _single_agent_worlds() -> list[str]:
    return [w for w in world_ids() if not load_world(w).spec.extra_agents]


WORLD_TASKS: dict[str, Callable[..., Any]] = {w: task(name=w)(_world_task_factory(w)) for w in _single_agent_worlds()}
globals().update(WORLD_TASKS)  # `tasks.py@corporate_shutdown` finds each by name

__all__ = ["WORLD_TASKS", "world", *WORLD_TASKS]
