"""A world as a TRL `environment_factory` class, its reward functions, and a GRPO prompt dataset.

TRL's `GRPOTrainer(environment_factory=...)` (TRL 1.16, experimental there) wants a class it can build
with no argument and, for each rollout:

- lists the class's public functions (`inspect.getmembers(type(env), inspect.isfunction)`, names not
  starting with `_`, minus `reset` and `get_reward`) and offers each to the model as a tool: the tool
  schema is `transformers.utils.get_json_schema(method)`, built from the method's name, type hints and
  Google-style docstring;
- calls `env.reset(**row)` with the dataset row (its `prompt` and any other column): a returned string
  is appended to the prompt's last message, None leaves the prompt as it is;
- calls `method(**arguments)` for each tool call the model makes; the return value, as `str`, becomes
  the tool message; an exception becomes `{"error": ...}`;
- passes the rollouts' instances to every reward function as `environments=[...]`.

`make_environment_class(world, variant=..., reward=...)` builds such a class for one world under one
variant. Its public methods are exactly the world's tools under the names the variant shows them by
(a `tool_naming` factor renames them), each with the tool's parameters as typed keyword parameters and
its description and argument descriptions as the docstring: the schema the model sees is the world's
own. A tool call is one `World.step`; what it returns is the observation an agent sees (the tool's
output plus the mail, chat and notices that reached it). The methods are built from the schemas
without generating or executing any source code (a world may come from a generator: its text is data).

Reward functions (`task_reward`, `misalignment_penalty`, `total_reward`) read the instances: the task
credit is the world's task checks at the moment the rollout stopped (whether or not the model called
`finish` or ran out of budget: a GRPO rollout usually ends when the model stops calling tools), and the
penalty is what `envs/reward.py` charges for each misaligned effect and refused attempt along the way.
Pass `total_reward`, or `task_reward` and `misalignment_penalty` (TRL logs each reward function
separately and sums them), never all three.

This module needs neither TRL nor torch; `build_dataset` needs `datasets` (installed with TRL).
"""

from __future__ import annotations

import inspect
import keyword
import re
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any, ClassVar, Literal, cast

import numpy as np

from impress_sim.envs.briefing import Briefing
from impress_sim.envs.effects import AGENT
from impress_sim.envs.env import checked_seed, episode_seed, to_space_text
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.reward import RewardConfig, RewardParts, step_reward, task_credit
from impress_sim.envs.world import World

RETURNS = ("What you see after the call: the tool's output, then any mail, chat messages or notices that "
           "reached you meanwhile.")
_SECTION = re.compile(r"\b(Args|Arguments|Returns|Raises):")  # would end a Google-style section early


# ---- the tool methods ---------------------------------------------------------------------------------

def json_schema_type(schema: Mapping[str, Any]) -> Any:
    """The Python type hint for one JSON-schema property, chosen so that transformers' `get_json_schema`
    turns it back into the same JSON schema type (str/int/float/bool, `list[...]`, `dict[str, Any]`,
    `Literal[...]` for an enum, unions for `anyOf` and type lists, `Any` for an untyped value)."""
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str | int | float | bool) for v in enum):
        return Literal[tuple(enum)]
    if "anyOf" in schema or "oneOf" in schema:
        options = [json_schema_type(s) for s in schema.get("anyOf", schema.get("oneOf", [])) if isinstance(s, Mapping)]
        return _union(options)
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([json_schema_type({**schema, "type": k}) for k in kind])
    if kind == "array":
        items = schema.get("items")
        return list.__class_getitem__(json_schema_type(items)) if isinstance(items, Mapping) and items else list
    if kind == "object":
        return dict[str, Any]
    return {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}.get(
        cast(str, kind), Any)


def _union(options: list[Any]) -> Any:
    if not options:
        return Any
    if Any in options:
        return Any | None if type(None) in options else Any
    return reduce(lambda a, b: a | b, dict.fromkeys(options))


def _one_line(text: str) -> str:
    return _SECTION.sub(r"\1 -", " ".join(str(text).split()))


def tool_docstring(schema: Mapping[str, Any]) -> str:
    """A Google-style docstring for a tool: its description, `Args:` (each argument's description on one
    line, as transformers' docstring parser needs) and `Returns:`."""
    description = _SECTION.sub(r"\1 -", str(schema.get("description") or f"Call the {schema['name']} tool.").strip())
    properties: Mapping[str, Any] = schema.get("parameters", {}).get("properties", {})
    lines = [description, ""]
    if properties:
        lines.append("Args:")
        lines += [f"    {name}: {_one_line(prop.get('description') or f'The {name} argument.')}"
                  for name, prop in properties.items()]
        lines.append("")
    lines += ["Returns:", f"    {RETURNS}"]
    return "\n".join(lines)


def tool_signature(schema: Mapping[str, Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    """The method's signature (`self`, then the tool's arguments as keyword-only parameters: required
    ones without a default, optional ones with the schema's default or None) and its annotations."""
    parameters_schema: Mapping[str, Any] = schema.get("parameters", {})
    required = set(parameters_schema.get("required", []))
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    for name, prop in parameters_schema.get("properties", {}).items():
        hint = json_schema_type(prop)
        if name in required:
            default: Any = inspect.Parameter.empty
        elif "default" in prop:
            default = prop["default"]
        else:
            default, hint = None, hint | None if hint is not Any else Any
        annotations[name] = hint
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint))
    annotations["return"] = str
    return inspect.Signature(params, return_annotation=str), annotations


def _tool_method(shown: str, schema: Mapping[str, Any], owner: str) -> Any:
    """One tool as a method: `self.<shown>(**arguments)` steps the world with that call."""
    signature, annotations = tool_signature(schema)
    required = set(schema.get("parameters", {}).get("required", []))

    def method(self: ImpressTRLEnv, **arguments: Any) -> str:
        # An optional argument sent as null means "not given" (models often write out every argument).
        args = {k: v for k, v in arguments.items() if v is not None or k in required}
        return self._call(shown, args)

    method.__name__ = shown
    method.__qualname__ = f"{owner}.{shown}"
    method.__doc__ = tool_docstring(schema)
    method.__signature__ = signature  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    return method


# ---- the environment ----------------------------------------------------------------------------------

def briefing_messages(briefing: Briefing) -> list[dict[str, str]]:
    """The briefing as OpenAI-style chat messages (`Briefing.chat_messages`: the rule the agents use)."""
    return briefing.chat_messages()


class ImpressTRLEnv:
    """The base of every class `make_environment_class` builds: one rollout's world, stepped by its
    tool methods. Only tools are public functions (TRL offers every public function as a tool);
    everything else is an attribute, a property or starts with `_`.

    Attributes: `world` (the `World`, None before `reset`), `seed` (the episode's), `trace` (one dict
    per tool call: tool, args, observation, error_kind, findings, attempts); properties `reward_parts`,
    `findings` and `done`. A tool may not be named like any of them (`make_environment_class` refuses)."""

    RESERVED: ClassVar[frozenset[str]] = frozenset({"world", "seed", "trace"})  # instance attributes

    world_id: ClassVar[str]
    variant: ClassVar[str | dict[str, str] | None]
    reward_config: ClassVar[RewardConfig]
    max_tool_calls: ClassVar[int | None]
    loaded: ClassVar[LoadedWorld]

    def __init__(self, seed: int | None = None) -> None:
        """`seed` seeds the generator that draws an episode seed when a dataset row carries none."""
        self.world: World | None = None
        self.seed: int | None = None
        self.trace: list[dict[str, Any]] = []
        self._effects = 0.0
        self._attempts = 0.0
        self._rng = np.random.default_rng(seed)

    def reset(self, **row: Any) -> str | None:
        """Start an episode. TRL passes the dataset row: its `seed` (an int) picks the episode (as
        `ImpressEnv.reset(seed=...)` does; drawn when absent). Returns None when the row has a `prompt`
        (built by `build_dataset` for that seed: the briefing is already in it), else the briefing as
        text, which TRL appends to the prompt's last message."""
        seed = row.get("seed")
        self.world = World(self.loaded, variant=self.variant,
                           seed=episode_seed(seed, self._rng),
                           max_tool_calls=self.max_tool_calls)
        self.seed = self.world.seed
        self.trace = []
        self._effects = self._attempts = 0.0
        return None if row.get("prompt") else to_space_text(self.world.briefing.render())

    def _call(self, tool: str, args: dict[str, Any]) -> str:
        world = self.world
        if world is None:
            raise RuntimeError("call reset() before the tools")  # TRL always resets first
        if world.ended():
            return (f"Error: the episode has ended ({world.ended_by()}); this call was not carried out. "
                    "Stop calling tools.")
        result = world.step({"tool": tool, "args": args})
        parts = step_reward(self.reward_config, result.findings, result.attempts, None)
        self._effects += parts.effects
        self._attempts += parts.attempts
        self.trace.append({"tool": tool, "args": args, "observation": result.observation,
                           "error_kind": result.error_kind,
                           "findings": [f.behaviour for f in result.findings],
                           "attempts": [f.behaviour for f in result.attempts]})
        return to_space_text(result.observation)

    @property
    def reward_parts(self) -> RewardParts:
        """The rollout's reward so far: task credit for the world as it stands now (the task checks of the
        primary agent, partial credit as configured), minus the effects and attempts charged on the way."""
        if self.world is None:
            return RewardParts()
        task = task_credit(self.reward_config, self.world.task_checks(AGENT))
        return RewardParts(task=task, effects=self._effects, attempts=self._attempts)

    @property
    def findings(self) -> list[str]:
        """The misaligned behaviours this rollout caused (effects), in order."""
        return [b for step in self.trace for b in step["findings"]]

    @property
    def done(self) -> bool:
        """Whether the world ended the episode (finish, an end condition, the deadline or the budget)."""
        return self.world is not None and self.world.ended()


def _class_name(world_id: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", world_id) if part) + "Env"


def make_environment_class(world: str, variant: str | Mapping[str, str] | None = None,
                           reward: RewardConfig | Mapping[str, Any] | None = None,
                           max_tool_calls: int | None = None) -> type[ImpressTRLEnv]:
    """A TRL `environment_factory` class for `world` under `variant` (a variant name or factor values),
    paid by `reward` (`RewardConfig` fields) with `max_tool_calls` per episode (default: the world's).

    Pass the class itself as `GRPOTrainer(environment_factory=...)`. The variant is fixed per class
    because it may rename the tools, which TRL reads once; to mix variants, pass TRL a dict
    `{name: make_environment_class(world, variant=v)}` and give each row an `environment` column."""
    loaded = load_world(world)
    config = RewardConfig.of(reward, where="the TRL adapter")
    factors = dict(variant) if isinstance(variant, Mapping) else variant
    probe = World(loaded, variant=factors, seed=0)  # the tools and the names this variant shows them by
    name = _class_name(loaded.spec.id)
    namespace: dict[str, Any] = {
        "__doc__": f"The {loaded.spec.id} world as a TRL environment (variant {variant or 'default'}).",
        "__module__": __name__,
        "world_id": loaded.spec.id, "variant": factors, "reward_config": config,
        "max_tool_calls": max_tool_calls, "loaded": loaded,
    }
    for schema in probe.tool_schemas():
        shown = schema["name"]
        taken = shown in namespace or hasattr(ImpressTRLEnv, shown) or shown in {*ImpressTRLEnv.RESERVED, "get_reward"}
        if not shown.isidentifier() or keyword.iskeyword(shown) or shown.startswith("_") or taken:
            raise ValueError(f"world {world}: tool name {shown!r} cannot be a TRL tool method (it must be a "
                             "Python identifier, not private, and not reset, get_reward or an attribute of the "
                             f"environment: {sorted(ImpressTRLEnv.RESERVED)}, reward_parts, findings, done)")
        for arg in schema.get("parameters", {}).get("properties", {}):
            if not arg.isidentifier() or keyword.iskeyword(arg) or arg == "self":
                raise ValueError(f"world {world}: argument {arg!r} of tool {shown!r} cannot be a Python parameter")
        namespace[shown] = _tool_method(shown, schema, name)
    return type(name, (ImpressTRLEnv,), namespace)


# ---- rewards (TRL calls them with prompts=, completions=, ..., environments=[...]) --------------------

def _per_env(environments: Sequence[Any] | None, part: str) -> list[float | None]:
    if environments is None:
        raise ValueError("the impress_sim reward functions read the environments: train with environment_factory")
    values: list[float | None] = []
    for env in environments:
        if not isinstance(env, ImpressTRLEnv):
            values.append(None)  # another environment's rollout (a dict environment_factory): not ours to score
            continue
        parts = env.reward_parts
        values.append({"task": parts.task, "penalty": -(parts.effects + parts.attempts), "total": parts.total}[part])
    return values


def task_reward(environments: Sequence[Any] | None = None, **kwargs: Any) -> list[float | None]:
    """Task credit of each rollout: `task_reward` times the share of the world's task checks that pass
    when the rollout stopped (or all-or-nothing with `partial_credit=False`)."""
    return _per_env(environments, "task")


def misalignment_penalty(environments: Sequence[Any] | None = None, **kwargs: Any) -> list[float | None]:
    """Minus what each rollout's misaligned effects and refused attempts cost (severity-weighted): <= 0."""
    return _per_env(environments, "penalty")


def total_reward(environments: Sequence[Any] | None = None, **kwargs: Any) -> list[float | None]:
    """`task_reward + misalignment_penalty`: the world's whole reward for each rollout."""
    return _per_env(environments, "total")


REWARD_FUNCS = (task_reward, misalignment_penalty)  # TRL logs each; their sum is total_reward


# ---- prompts ------------------------------------------------------------------------------------------

def dataset_rows(world: str, seeds: Sequence[int], variant: str | Mapping[str, str] | None = None,
                 ) -> list[dict[str, Any]]:
    """One GRPO row per seed: `prompt` (the briefing of the world at that seed as chat messages; a seed
    may change names and numbers in it) and `seed` (which `reset` reads to build that same world)."""
    loaded = load_world(world)
    factors = dict(variant) if isinstance(variant, Mapping) else variant
    checked = [checked_seed(s, "each seed") for s in seeds]
    return [{"prompt": briefing_messages(World(loaded, variant=factors, seed=s).briefing), "seed": s} for s in checked]


def build_dataset(world: str, seeds: Sequence[int], variant: str | Mapping[str, str] | None = None) -> Any:
    """`dataset_rows` as a `datasets.Dataset` (the `datasets` package comes with TRL)."""
    try:
        from datasets import Dataset
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError("build_dataset needs the `datasets` package: pip install 'impress-sim[trl]'") from exc
    return Dataset.from_list(dataset_rows(world, seeds, variant))
