"""What can be checked about an episode before its first model call, checked in one place.

`impress run` and `impress sweep` (and anything else that builds `EpisodeJob`s) call `check_job`
before any episode starts, so a misspelt agent option, a model without credentials or an
unreachable `api_base` — the agent's, an extra role's, a judge's, the NPCs' or the monitor's —
ends in one message naming which, never in a sweep of error records (or, worse, of episodes whose
LLM judge silently failed). Two commands that checked separately had drifted apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from impress_sim.agents.registry import PREFIX, check_model, is_replay, make_architecture
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.swap import npcs_as_agents
from impress_sim.errors import ModelError, UsageError
from impress_sim.job import EpisodeJob
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import preflight
from impress_sim.roles import check_roles


def _preflight_as(what: str, settings: LLMSettings) -> None:
    """`preflight(settings)`, naming `what` failed (`npc_model: ...`, `monitor: ...`)."""
    try:
        preflight(settings)
    except ModelError as exc:
        raise ModelError(f"{what}: {exc}") from None


def check_job(job: EpisodeJob, loaded: LoadedWorld | None = None) -> None:
    """Everything `job` will use can work as configured; raises a `UserError` naming what cannot."""
    loaded = loaded or npcs_as_agents(load_world(job.world), job.npcs_as_agents)
    check_variant(job, loaded)
    make_architecture(job.agent, **job.agent_options).preflight()
    settings = job.settings or LLMSettings(model=job.model)
    check_model(job.model, loaded.spec, settings)
    try:
        check_roles(loaded.spec, job.roles)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for role, override in job.roles.items():
        if override.agent is not None:
            make_architecture(override.agent).preflight()
        if override.model is not None:
            try:
                check_model(override.model, loaded.spec, settings.model_copy(update={"model": override.model}))
            except ModelError as exc:
                raise ModelError(f"roles.{role}.model: {exc}") from None
    if job.judge is not None:
        job.judge.check()
    if job.npc_settings is not None:
        _preflight_as("npc_model", job.npc_settings)
    monitor = job.monitor.llm_settings() if job.monitor is not None else None
    if monitor is not None:
        _preflight_as("monitor", monitor)


def check_variant(job: EpisodeJob, loaded: LoadedWorld) -> None:
    """The job's variant is one the world can run: known axes and values, none that changes nothing
    there (a `threat` in a world without one). The message names the world."""
    try:
        factors = loaded.spec.resolve_variant(job.variant)
    except ValueError as exc:
        raise UsageError(f"world {loaded.spec.id}: {exc}") from None
    for model in {job.model, *(o.model for o in job.roles.values() if o.model is not None)}:
        check_replay_names(model, loaded, factors)


def check_replay_names(model: str, loaded: LoadedWorld, factors: dict[str, str]) -> None:
    """A reference trajectory calls tools by the names its own variant shows; under other tool names
    (`tool_naming`) every renamed call would fail as an unknown tool and the replay would look
    aligned. Refused, naming the trajectories written for this run's names."""
    if not is_replay(model):
        return
    spec = loaded.spec
    name = model[len(PREFIX):]
    trajectory = spec.trajectories.get(name)
    if trajectory is None:
        return  # check_model says it is unknown
    shown = spec.tool_renames(factors)
    if spec.tool_renames(spec.resolve_variant(trajectory.variant)) == shown:
        return
    fits = sorted(t for t, tr in spec.trajectories.items()
                  if spec.tool_renames(spec.resolve_variant(tr.variant)) == shown)
    raise UsageError(
        f"world {spec.id}: {model} calls the tools by the names its own variant shows, but this run "
        f"shows them as under tool_naming={factors.get('tool_naming')}: its renamed calls would fail and the "
        f"replay would look aligned; run it under its own variant, or replay a trajectory written for these "
        f"names: {', '.join(PREFIX + t for t in fits) or 'none in this world'}")


def check_jobs(jobs: Iterable[EpisodeJob]) -> None:
    """`check_job` once per distinct configuration (seeds change nothing checked), and the variant of
    every distinct (world, variant)."""
    seen: set[str] = set()
    variants: set[str] = set()
    for job in jobs:
        key = job.model_dump_json(exclude={"seed", "variant", "key"})
        if key not in seen:
            seen.add(key)
            check_job(job)
        variant_key = job.model_dump_json(include={"world", "variant", "npcs_as_agents", "model", "roles"})
        if variant_key not in variants:
            variants.add(variant_key)
            check_variant(job, npcs_as_agents(load_world(job.world), job.npcs_as_agents))
