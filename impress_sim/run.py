"""`impress run world=corporate_shutdown agent=react [model=...] [variant=...] ...` (the same command:
`python -m impress_sim.run ...`)

Runs N episodes of one world with one agent and model, renders each as it happens, and writes
one JSON record per episode under `out/`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from impress_sim.agents.monitor import MonitorConfig
from impress_sim.agents.registry import is_replay, make_architecture
from impress_sim.batch import run_job, run_jobs_in_processes, tune_gc_for_many_episodes
from impress_sim.cli import MAX_STEPS_HELP, Action, main_for
from impress_sim.envs.briefing import compose_briefing
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.swap import npcs_as_agents
from impress_sim.errors import UsageError
from impress_sim.job import MAX_SEED, EpisodeJob
from impress_sim.judge.config import JudgeConfig
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings, ModelOptions
from impress_sim.packs import PackError, describe_pack, is_pack, pack_world_paths, read_pack
from impress_sim.preflight import check_job
from impress_sim.record import EpisodeRecord
from impress_sim.render import render_batch_summary, render_briefing, render_header, render_step, render_summary
from impress_sim.roles import RoleConfig


class RunConfig(ModelOptions):

    world: str = Field("corporate_shutdown", description="world id, or a path to a world folder / world.yaml "
                       "(one world of a pack: world=<pack>/<id>)")
    agent: str = Field("react", description="agent architecture")
    model: str = Field("reference/misaligned", description="model; reference/<trajectory> replays offline")
    variant: str | dict[str, str] = Field("default", description="variant name, or variant.<axis>=<value> "
                                             "(default: the world's default framing)")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of the first episode (episode k uses seed+k); "
                      "0 is each world as written, other seeds fill its slots differently")
    episodes: int = Field(1, ge=1, description="number of episodes")
    max_steps: int | None = Field(None, ge=1, description=MAX_STEPS_HELP)
    out: str = Field("runs", description="folder for episode records")
    quiet: bool = Field(False, description="print only the summary")
    concurrency: int = Field(1, ge=1, description="episodes in flight at once (asyncio); >1 shows a progress bar")
    workers: int = Field(1, ge=1, description="processes sharing the concurrency (each step costs client CPU)")
    # Options of agent=guarded (docs/agents.md); unset means the agent's default.
    guard: Literal["rules", "model", "none"] | None = Field(
        None, description="agent=guarded: screen tool calls by deny rules, a guard model, or not (default: rules)")
    guard_rules: str | None = Field(None, description="agent=guarded: deny-list YAML for guard=rules")
    guard_model: str | None = Field(None, description="agent=guarded: litellm model for guard=model")
    guard_api_base: str | None = Field(None, description="agent=guarded: server URL of the guard model")
    safety_prompt: bool | None = Field(None, description="agent=guarded: append the safety prompt (default: true)")
    interview: bool = Field(False, description="after the episode, an NPC asks the agent what it did and why")
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="judges (docs/judge.md)")
    roles: dict[str, RoleConfig] = Field(
        default_factory=dict,
        description="multi-agent worlds: per-role overrides, roles.<id>.agent= / roles.<id>.model= "
        "(default: every role uses agent and model)")
    monitor: MonitorConfig = Field(default_factory=MonitorConfig, description="LLM monitor (docs/agents.md)")
    npc_model: str | None = Field(None, description="litellm model for the world's `kind: llm` NPCs (default: "
                                  "their scripted rules, offline)")
    npc_api_base: str | None = Field(None, description="server URL of the NPC model")
    npcs_as_agents: list[str] = Field(default_factory=list, description="NPCs played by agents instead, e.g. "
                                      "npcs_as_agents=[it_admin]; each becomes a role (roles.<id>.model= etc.)")

    def npc_settings(self) -> LLMSettings | None:
        if self.npc_model is None:
            return None
        return LLMSettings(model=self.npc_model, api_base=self.npc_api_base, timeout=self.timeout, retries=self.retries)

    @field_validator("judge", mode="before")
    @classmethod
    def _judge_shorthand(cls, value: object) -> object:
        return {"model": value} if isinstance(value, str) else value  # judge=<model> means judge.model=<model>

    @field_validator("monitor", mode="before")
    @classmethod
    def _monitor_shorthand(cls, value: object) -> object:
        return {"model": value} if isinstance(value, str) else value  # monitor=<model> means monitor.model=<model>

    def agent_options(self) -> dict[str, Any]:
        """The agent options that were set: passed to the architecture, which rejects foreign ones."""
        names = ("guard", "guard_rules", "guard_model", "guard_api_base", "safety_prompt")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def llm_settings(self) -> LLMSettings:
        return self.settings_for(self.model)

    def chosen_variant(self) -> str | dict[str, str] | None:
        """The variant as `WorldSpec.resolve_variant` takes it ("default" is the world's defaults)."""
        return None if self.variant == "default" else self.variant

    def models_cache_path(self) -> str | None:
        """The response cache, when any model is asked (a replayed agent asks none; an LLM judge does)."""
        asks_models = (not is_replay(self.model) or bool(self.judge.llm_models())
                       or self.monitor.model is not None or self.npc_model is not None)
        return self.cache_path() if asks_models else None

    def jobs(self, factors: dict[str, str]) -> list[EpisodeJob]:
        """The run's episodes (seeds seed, seed+1, ...) as jobs, the variant resolved to `factors`:
        the same jobs whether they run live or in a batch."""
        job = EpisodeJob(
            world=self.world, agent=self.agent, agent_options=self.agent_options(), model=self.model,
            settings=self.llm_settings(), variant=factors, max_tool_calls=self.max_steps,
            cache_path=self.models_cache_path(), npc_settings=self.npc_settings(),
            npcs_as_agents=self.npcs_as_agents, interview=self.interview, judge=self.judge, monitor=self.monitor,
            roles=self.roles)
        return job.at_seeds(range(self.seed, self.seed + self.episodes))


class Plan(BaseModel):
    """A validated run: everything checked before the first episode starts."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    loaded: LoadedWorld
    factors: dict[str, str]
    architecture: Any
    settings: LLMSettings
    out_dir: Path


def refuse_pack(world: str) -> None:
    """`world=<pack>`: a run is one world, so say which worlds the pack holds and the two ways to run them
    (one by its folder, all in a sweep), rather than "no world.yaml in <pack>"."""
    if not is_pack(world):
        return
    manifest = read_pack(world)
    if not manifest.worlds:
        raise PackError(f"pack {world} has no accepted worlds: there is nothing in it to run")
    example = pack_world_paths(world, manifest)[0]
    raise UsageError(f"{describe_pack(world, manifest)}: run one with world={example} (world=<pack>/<id>), or "
                     f"all of them in a sweep (worlds=[{world}])")


def _plan(config: RunConfig) -> Plan:
    refuse_pack(config.world)
    loaded = npcs_as_agents(load_world(config.world), config.npcs_as_agents)
    try:
        factors = loaded.spec.resolve_variant(config.chosen_variant())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # fail on a bad agent, agent option or any model the episodes will ask, before anything is shown
    architecture = make_architecture(config.agent, **config.agent_options())
    settings = config.llm_settings()
    check_job(config.jobs(factors)[0], loaded)
    cache_path = config.models_cache_path()
    if cache_path:
        ResponseCache(cache_path).close()  # a cache path that is not a cache is refused before any call
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(config.out) / f"{stamp}-{loaded.spec.id}-{config.agent}"
    check_writable(out_dir, config.out)
    return Plan(loaded=loaded, factors=factors, architecture=architecture, settings=settings, out_dir=out_dir)


def check_writable(out_dir: Path, out: str) -> None:
    """Create the run's folder and write (and remove) a file in it, so a folder records cannot be
    written to fails before any model is called rather than after every episode has been paid for."""
    probe = out_dir / f".impress-write-check-{os.getpid()}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"out={out}: cannot write episode records to {out_dir} ({exc.strerror or exc}); give a "
                         "folder you can write to") from None


class RecordSink:
    """Saves each record under the run's folder; if that fails mid-run (disk full, folder removed),
    the record is saved instead in a new temporary folder (or, failing that, printed on stderr as
    one JSON line), so a record made is never lost. `check` then fails loudly, saying where they are."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.failure: OSError | None = None
        self.fallback: Path | None = None
        self.rescued = 0
        self.printed = 0

    def save(self, record: EpisodeRecord) -> Path | None:
        """Where the record was saved (None: only printed)."""
        try:
            return record.save(self.out_dir)
        except OSError as exc:
            self.failure = self.failure or exc
        try:
            if self.fallback is None:
                self.fallback = Path(tempfile.mkdtemp(prefix="impress-unsaved-records-"))
            path = record.save(self.fallback)
            self.rescued += 1
            return path
        except OSError:
            sys.stderr.write(record.model_dump_json() + "\n")  # the last place left: the record itself
            sys.stderr.flush()
            self.printed += 1
            return None

    def check(self, made: int) -> None:
        if self.failure is None:
            return
        where = []
        if self.rescued:
            where.append(f"{self.rescued} saved instead in {self.fallback}")
        if self.printed:
            where.append(f"{self.printed} printed on stderr as JSON lines")
        raise UsageError(f"cannot write episode records to {self.out_dir} ({self.failure.strerror or self.failure}); "
                         f"stopped with {made} episode(s) run: {made - self.rescued - self.printed} saved there, "
                         f"{', '.join(where)}")


async def _run_live(config: RunConfig, plan: Plan, console: Console) -> list[EpisodeRecord]:
    """Episodes one after another, each rendered step by step as it happens."""
    cache_path = config.models_cache_path()
    cache = ResponseCache(cache_path) if cache_path else None
    try:
        return await _run_episodes_live(config, plan, console, cache)
    finally:
        if cache is not None:
            cache.close()


async def _run_episodes_live(config: RunConfig, plan: Plan, console: Console,
                             cache: ResponseCache | None) -> list[EpisodeRecord]:
    shown = {**plan.factors, **plan.architecture.variant_overrides()}
    records = []
    sink = RecordSink(plan.out_dir)
    for job in config.jobs(plan.factors):
        if sink.failure is not None:
            break  # records can no longer be written there: spend no more model calls
        if not config.quiet:
            render_header(console, plan.loaded.spec.id, config.model, config.agent, shown, is_replay(config.model))
            roles = plan.loaded.spec.role_ids()  # a multi-agent world's briefings each name their role
            for role in roles:
                named = role if len(roles) > 1 else None
                render_briefing(console, compose_briefing(plan.loaded.spec, shown, role), named)
        record = await run_job(
            job, cache, loaded=plan.loaded, architecture=plan.architecture,
            listener=None if config.quiet else (lambda step, result: render_step(console, step, result)),
        )
        path = sink.save(record)
        render_summary(console, record, str(path or "(stderr)"))
        records.append(record)
    sink.check(len(records))
    return records


def _run_batch(config: RunConfig, plan: Plan, console: Console) -> list[EpisodeRecord]:
    """Episodes concurrently (and across processes), with a progress bar and a closing table."""
    jobs = config.jobs(plan.factors)
    tune_gc_for_many_episodes()
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=console) as progress:
        task = progress.add_task(f"{plan.loaded.spec.id} · {config.agent} · {config.model}", total=len(jobs))

        sink = RecordSink(plan.out_dir)

        def done(record: EpisodeRecord) -> None:
            sink.save(record)
            progress.advance(task)

        records = run_jobs_in_processes(jobs, config.concurrency, config.workers, done)
    render_batch_summary(console, records, str(plan.out_dir))
    sink.check(len(records))
    return records


def _run(config: RunConfig, console: Console) -> int:
    plan = _plan(config)
    if config.concurrency > 1 or config.workers > 1:
        records = _run_batch(config, plan, console)
    else:
        records = asyncio.run(_run_live(config, plan, console))
    return 1 if any(r.status == "error" for r in records) else 0


COMMAND = Action(
    summary="Runs episodes of one world with one agent and model, shows each step as it happens, and writes "
            "one JSON record per episode under out=. Exit status: 0; 1 if an episode ended in error; 2 on an "
            "error you can fix (the message says what).",
    config=RunConfig,
    run=_run,
    positional="world",  # `impress run corporate_shutdown agent=react`
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.run key=value ...`: the same command as `impress run`."""
    return main_for(COMMAND, argv, "python -m impress_sim.run")


if __name__ == "__main__":
    sys.exit(main())
