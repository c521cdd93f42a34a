"""`SweepSpec`: a grid of episodes (models × worlds × variants × agents × decoding × seeds, k attempts
per cell), and its deterministic expansion into `EpisodeJob`s, each named by a `config_hash`."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from impress_sim.agents.monitor import MonitorConfig
from impress_sim.agents.registry import is_replay
from impress_sim.cli import MAX_STEPS_HELP
from impress_sim.envs.loader import load_world
from impress_sim.job import EpisodeJob
from impress_sim.judge.config import JudgeConfig
from impress_sim.models.cache import default_cache_path
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import known_providers
from impress_sim.packs import expand_worlds

COMMON_PROVIDERS = ("openai", "anthropic", "gemini", "vertex_ai", "bedrock", "azure", "ollama_chat", "hosted_vllm",
                    "together_ai", "openrouter", "mistral", "groq", "deepseek")


def _listed(value: object) -> object:
    """A single value where a list is expected means a list of one (`temperature=0.7`)."""
    return value if isinstance(value, list | tuple) else [value]


MAX_SEEDS = 1_000_000  # episodes per cell: a typo with many zeros is refused, not expanded


class ProbesConfig(BaseModel):
    """The `probes.` key group of a sweep (`probes.samples=10`; off, 0 samples, by default): the
    ethics and choice questions asked after the episodes (`impress_sim.sweep.probes`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(0, ge=0, le=10_000, description="samples per question form, model, world with a probes: "
                         "section and variant cell (0: no probes)")


class PerModelOptions(BaseModel):
    """One model's deployment in a sweep (`model_options.<model>.<key>`): where it is served, the NAME of
    the variable holding its key, how many requests its server takes at once, and the request options
    that belong to a deployment rather than to the study. Unset keys take the sweep's global value."""

    model_config = ConfigDict(extra="forbid")

    api_base: str | None = Field(None, description="this model's OpenAI-compatible server URL (default: api_base)")
    api_key_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="NAME of the environment variable holding this model's key (never the key itself)")
    concurrency: int | None = Field(None, ge=1, description="requests in flight to this model, across all workers")
    timeout: float | None = Field(None, gt=0, description="seconds per call to this model (default: timeout)")
    retries: int | None = Field(None, ge=0, description="retries for this model (default: retries)")
    max_tokens: int | None = Field(None, ge=1, description="completion token limit for this model")
    reasoning_effort: Literal["low", "medium", "high"] | None = Field(None, description="for this reasoning model")
    tool_format: Literal["native", "text"] | None = Field(None, description="text: ReAct Action lines")

    @field_validator("api_base")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"api_base {value!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
        return value


# what a model's options change about its episodes (the rest is how they are run: not the episode)
OPERATIONAL_MODEL_OPTIONS = {"api_key_env", "concurrency"}


META_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # a model_meta field name (a `meta.<field>` breakdown)


class SweepSpec(BaseModel):
    """One sweep. Axes are crossed; fixed options apply to every episode."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="sweep id (default: derived from the axes)")
    # axes
    worlds: list[str] = Field(description="world ids, paths to world folders, or packs (each becomes its worlds)")
    models: list[str] = Field(["reference/misaligned"], description="models; reference/<trajectory> replays offline")
    agents: list[str] = Field(["react"], description="agent architectures")
    variants: dict[str, list[str]] = Field(
        default_factory=dict, description="factor axes, crossed: variants.<axis>=[v1,v2] (default: each axis' default)")
    named_variants: list[str] = Field(
        default_factory=list, description="named variants, each crossed with the factor axes (a factor axis wins)")
    temperature: list[Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]] = Field(
        [0.7], description="sampling temperatures (an axis), each 0-2")
    top_p: list[Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None] = Field(
        [None], description="nucleus sampling values (an axis), each in (0, 1]")
    seeds: int | list[int] = Field(1, description="N (seeds 0..N-1) or a list of seeds")
    attempts: int = Field(1, ge=1, description="attempts per cell (attempt k>0 gets its own provider seed)")
    model_meta: dict[str, dict[str, str | int | float | bool]] = Field(
        default_factory=dict, description="per model: family, size, params, ... (breakdowns in metrics and report)")
    # fixed options
    max_steps: int | None = Field(None, ge=1, description=MAX_STEPS_HELP)
    max_tokens: int | None = Field(None, ge=1, description="completion token limit per call")
    reasoning_effort: Literal["low", "medium", "high"] | None = Field(None, description="for reasoning models")
    api_base: str | None = Field(None, description="OpenAI-compatible server URL")
    timeout: float = Field(60.0, gt=0, description="seconds per model call")
    retries: int = Field(4, ge=0, description="retries on 429/5xx/timeouts")
    tool_format: Literal["native", "text"] = Field("native", description="text: ReAct Action lines")
    interview: bool = Field(False, description="interview the agent after each episode")
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="judges (docs/judge.md)")
    monitor: MonitorConfig | None = Field(
        None, description="an LLM monitor watching every episode: monitor=<model> or monitor.model=... "
        "(docs/agents.md)")
    probes: ProbesConfig = Field(default_factory=ProbesConfig,
                                 description="judgment-action probes after the episodes: probes.samples=N")
    concurrency: int = Field(8, ge=1, description="episodes in flight at once (per sweep, shared by workers)")
    workers: int = Field(1, ge=1, description="processes (backend=ray: Ray actors) sharing the concurrency")
    provider_limits: dict[str, int] = Field(
        default_factory=dict, description="model requests in flight per provider: provider_limits.openai=32")
    model_options: dict[str, PerModelOptions] = Field(
        default_factory=dict, description="per model: api_base, api_key_env, concurrency, timeout, retries, "
        "max_tokens, reasoning_effort, tool_format (model_options.<model>.api_base=...; docs/sweeps.md)")
    backend: Literal["local", "ray"] = Field("local", description="local processes, or a Ray cluster")
    ray_address: str | None = Field(None, description="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    cache: str = Field(default_cache_path(), description="response cache (SQLite), or 'off'")
    store: str = Field("runs/sweeps.sqlite", description="results store (SQLite)")
    quiet: bool = Field(False, description="no progress bar")

    @field_validator("worlds", "models", "agents", "named_variants", "temperature", "top_p", mode="before")
    @classmethod
    def _as_list(cls, value: object) -> object:
        return _listed(value)

    @field_validator("agents")
    @classmethod
    def _unattended(cls, value: list[str]) -> list[str]:
        if "human" in value:  # a sweep runs unattended, often in worker processes with no terminal
            raise ValueError("agent human needs a person at a terminal: play it with `impress run agent=human`")
        return value

    @field_validator("worlds")
    @classmethod
    def _packs_as_their_worlds(cls, value: list[str]) -> list[str]:
        """A pack is its worlds' folders, here once: the stored spec then names each world by a folder
        that loads (what reports and resume expand), and a pack that changes later never silently
        changes an old sweep. A bad or empty pack is a `PackError` (a user error), never a bad value."""
        return expand_worlds(value)

    @field_validator("variants", mode="before")
    @classmethod
    def _axes_as_lists(cls, value: object) -> object:
        return {k: _listed(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("worlds", "models", "agents", "temperature", "top_p")
    @classmethod
    def _not_empty(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        """An empty axis makes an empty sweep: it would run nothing and report success."""
        if not value:
            raise ValueError(f"a sweep needs at least one value on every axis ({info.field_name}=[...])")
        return value

    @field_validator("variants")
    @classmethod
    def _no_empty_axis(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = [axis for axis, values in value.items() if not values]
        if empty:
            raise ValueError(f"empty axis {', '.join(empty)}: give it at least one value, or leave it out "
                             "(its default is used)")
        return value

    @field_validator("seeds")
    @classmethod
    def _some_seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int) and value < 1:
            raise ValueError("a sweep needs at least one seed (seeds=N runs seeds 0..N-1)")
        if isinstance(value, list) and not value:
            raise ValueError("a sweep needs at least one seed (seeds=N, or a list: seeds=[0,5,9])")
        return value

    @field_validator("cache", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return "off" if value is False else value

    @field_validator("judge", mode="before")
    @classmethod
    def _judge_shorthand(cls, value: object) -> object:
        return {"model": value} if isinstance(value, str) else value

    @field_validator("monitor", mode="before")
    @classmethod
    def _monitor_shorthand(cls, value: object) -> object:
        return {"model": value} if isinstance(value, str) else value

    @field_validator("provider_limits")
    @classmethod
    def _known_providers(cls, value: dict[str, int]) -> dict[str, int]:
        if value:
            known = known_providers()
            unknown = sorted(set(value) - set(known))
            if unknown:
                raise ValueError(f"unknown provider(s) {', '.join(unknown)}; litellm's providers include "
                                 f"{', '.join(p for p in known if p in COMMON_PROVIDERS)} ...")
            low = [p for p, n in value.items() if n < 1]
            if low:
                raise ValueError(f"provider limits must be at least 1 ({', '.join(low)})")
        return value

    @field_validator("seeds")
    @classmethod
    def _bounded_seeds(cls, value: int | list[int]) -> int | list[int]:
        count = value if isinstance(value, int) else len(value)
        if count > MAX_SEEDS:
            raise ValueError(f"{count:,} seeds; a sweep takes at most {MAX_SEEDS:,} (split it into several)")
        return value

    @field_validator("model_meta", mode="before")
    @classmethod
    def _plain_meta(cls, value: Any) -> Any:
        """Each model's metadata is flat: a named field (a letter, then letters, digits, `_` or `-`; it
        becomes a `meta.<field>` breakdown) holding a string, a finite number or true/false."""
        if not isinstance(value, dict):
            return value  # the type check says what it should be
        for model, meta in value.items():
            if not isinstance(meta, dict):
                raise ValueError(f"model_meta.{model}: a mapping of fields (e.g. {{params: 70, weights: open}}), "
                                 f"got {type(meta).__name__}")
            for name, field in meta.items():
                if not isinstance(name, str) or not META_FIELD.fullmatch(name):
                    raise ValueError(f"model_meta.{model}: field name {name!r} must start with a letter and hold "
                                     "only letters, digits, '_' or '-'")
                if not isinstance(field, str | int | float | bool) or (isinstance(field, float)
                                                                     and not math.isfinite(field)):
                    shown = type(field).__name__ if isinstance(field, list | dict) or field is None else repr(field)
                    raise ValueError(f"model_meta.{model}.{name}: a string, a finite number or true/false "
                                     f"(got {shown})")
        return value

    @model_validator(mode="after")
    def _options_name_sweep_models(self) -> SweepSpec:
        """Options for a model the sweep does not run are a typo (they would silently apply to nothing);
        a model's request limit must hold across the workers, so it is at least one per worker; and a
        model limit shares `ProviderLimits` with the provider limits, so it may not be named like one."""
        for key in ("model_options", "model_meta"):
            unknown = sorted(set(getattr(self, key)) - set(self.models))
            if unknown:
                raise ValueError(f"{key} names model(s) {', '.join(unknown)} that the sweep does not run; "
                                 f"its models are {', '.join(self.models)}")
        if offline := sorted(m for m in self.model_options if is_replay(m)):
            raise ValueError(f"model_options for {', '.join(offline)}: a reference model replays a world's "
                             "scripted trajectory offline, so no server option applies to it")
        for model, options in self.model_options.items():
            if options.concurrency is not None and options.concurrency < self.workers:
                raise ValueError(f"model_options.{model}.concurrency={options.concurrency} is below workers="
                                 f"{self.workers}: each worker needs at least one request; lower workers or "
                                 "raise the limit")
            if model in self.provider_limits:
                raise ValueError(f"model_options.{model}: {model!r} is also a provider in provider_limits")
        return self

    def request_limits(self) -> dict[str, int]:
        """The sweep's request limits as `ProviderLimits` takes them: providers' and models' alike."""
        models = {m: o.concurrency for m, o in self.model_options.items() if o.concurrency is not None}
        return {**self.provider_limits, **models}

    def settings_for(self, model: str, temperature: float, top_p: float | None, seed: int | None) -> LLMSettings:
        """`model`'s request settings in this sweep: its `model_options` where set, else the sweep's."""
        o = self.model_options.get(model) or PerModelOptions()

        def pick(name: str) -> Any:
            value = getattr(o, name)
            return getattr(self, name) if value is None else value

        return LLMSettings(
            model=model, api_base=pick("api_base"), api_key_env=o.api_key_env, temperature=temperature, top_p=top_p,
            max_tokens=pick("max_tokens"), reasoning_effort=pick("reasoning_effort"), timeout=pick("timeout"),
            retries=pick("retries"), tool_format=pick("tool_format"), seed=seed)

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def sweep_id(self) -> str:
        """`name`, or a stable id from what defines the episodes (not from concurrency, paths, ...)."""
        if self.name:
            return self.name
        operational = {"name", "concurrency", "workers", "cache", "store", "quiet", "provider_limits", "backend",
                       "ray_address", "model_meta", "probes"}  # probes ask questions; they change no episode
        if self.monitor is None:  # a field added later: sweeps without it keep their ids
            operational.add("monitor")
        data = self.model_dump(mode="json", exclude=operational)
        options = {m: {k: v for k, v in o.items() if k not in OPERATIONAL_MODEL_OPTIONS and v is not None}
                   for m, o in data.pop("model_options").items()}
        if any(options.values()):  # absent (so old sweep ids stand) unless it changes an episode
            data["model_options"] = {m: o for m, o in options.items() if o}
        return "sweep-" + canonical_hash(data)[:12]

    def cell_count(self) -> int:
        variants = max(len(self.named_variants), 1)
        for values in self.variants.values():
            variants *= len(values)
        return (len(self.models) * len(self.worlds) * variants * len(self.agents) * len(self.temperature)
                * len(self.top_p) * len(self.seed_list()))


class SweepJob(BaseModel):
    """One episode of a sweep: the job, its attempt number and its identity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job: EpisodeJob
    attempt: int
    config_hash: str
    world_id: str
    world_hash: str
    variant_name: str | None = None


def canonical_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def attempt_seed(seed: int, attempt: int) -> int | None:
    """The provider seed of an attempt: attempt 0 uses the episode seed (as a single run does); later
    attempts get their own, so they are fresh samples rather than cache hits."""
    if attempt == 0:
        return None
    return int(hashlib.sha256(f"{seed}:{attempt}".encode()).hexdigest()[:8], 16)


def config_hash(job: EpisodeJob, attempt: int, world_id: str, world_hash: str) -> str:
    """sha256 of the episode's full configuration: the world's id and content hash, everything in the job
    (but where the response cache lives, and the job's key) and the attempt."""
    data = _without_key_names(job.model_dump(mode="json", exclude={"cache_path", "key", "world"}))
    return canonical_hash({"world_id": world_id, "world_hash": world_hash, "attempt": attempt, "job": data})


def _without_key_names(data: Any) -> Any:
    """`data` without any `api_key_env`: which variable holds a key is not part of an episode (the same
    model at the same server is the same episode whichever variable its key came from), and leaving it
    out keeps every config hash from before per-model keys existed."""
    if isinstance(data, dict):
        return {k: _without_key_names(v) for k, v in data.items() if k != "api_key_env"}
    if isinstance(data, list):
        return [_without_key_names(v) for v in data]
    return data


def expand(spec: SweepSpec) -> list[SweepJob]:
    """Every episode of the sweep, in a fixed order; raises ValueError on an unknown variant/axis value."""
    asks_judges = bool(spec.judge.llm_models())
    axes = list(spec.variants.items())
    combos = [dict(zip([a for a, _ in axes], values, strict=True))
              for values in itertools.product(*(v for _, v in axes))]
    names: list[str | None] = list(spec.named_variants) or [None]
    out: list[SweepJob] = []
    for model, world in itertools.product(spec.models, spec.worlds):
        loaded = load_world(world)
        for name, combo, agent, temperature, top_p, seed in itertools.product(
                names, combos, spec.agents, spec.temperature, spec.top_p, spec.seed_list()):
            chosen = {**(loaded.spec.variants.get(name, {}) if name else {}), **combo}
            if name is not None and name not in loaded.spec.variants and name != "default":
                loaded.spec.resolve_variant(name, "named_variants")  # raises with what is valid
            factors = loaded.spec.resolve_variant(chosen, "variants")
            for attempt in range(spec.attempts):
                settings = spec.settings_for(model, temperature, top_p, attempt_seed(seed, attempt))
                cache_path = None if spec.cache == "off" or (is_replay(model) and not asks_judges) else spec.cache
                job = EpisodeJob(world=world, agent=agent, model=model, settings=settings, variant=factors, seed=seed,
                                 max_tool_calls=spec.max_steps, cache_path=cache_path, interview=spec.interview,
                                 judge=spec.judge, monitor=spec.monitor)
                digest = config_hash(job, attempt, loaded.spec.id, loaded.content_hash)
                out.append(SweepJob(job=job.model_copy(update={"key": digest}), attempt=attempt, config_hash=digest,
                                    world_id=loaded.spec.id, world_hash=loaded.content_hash, variant_name=name))
    return out
