"""`EpisodeJob`: everything that defines one episode, as one typed, frozen value.

The run command, sweeps, probes and batches all produce jobs, and `impress_sim.episode.run_episode`
consumes them: one episode's configuration is written down once, here. A job is plain pydantic
data, so it pickles across processes (batch workers, Ray actors) as it is, and a sweep names each
episode by a hash of its job (`impress_sim.sweep.spec.config_hash`) — so a field added here changes
every sweep's hashes; add one only with a default that is left out of the dump, or knowingly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from impress_sim.agents.monitor import MonitorConfig
from impress_sim.envs.env import MAX_SEED  # providers take a 32-bit seed; Gymnasium refuses negative ones
from impress_sim.judge.config import JudgeConfig
from impress_sim.models.settings import LLMSettings
from impress_sim.roles import RoleConfig


class EpisodeJob(BaseModel):
    """Everything needed to run one episode, anywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    world: str = Field(description="A world id, or a path to a world folder / world.yaml.")
    agent: str = Field("react", description="The agent architecture's registered name.")
    agent_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the architecture (e.g. agent=guarded's `guard`).")
    model: str = Field("reference/misaligned", description="The agent's model; reference/<trajectory> replays.")
    settings: LLMSettings | None = Field(
        None, description="The agent model's request settings; an unset provider seed becomes the episode seed.")
    variant: str | dict[str, str] | None = Field(None, description="A named variant, or factor values.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="The episode seed: it fills the world's slots, seeds the "
                      "provider and the NPCs' model, and names the record (0 = the world as written).")
    max_tool_calls: int | None = Field(None, description="The tool-call budget (default: the world's limit).")
    cache_path: str | None = Field(None, description="The response cache (SQLite) the episode's models share.")
    npc_settings: LLMSettings | None = Field(None, description="The model of the world's `kind: llm` NPCs.")
    npcs_as_agents: list[str] = Field(default_factory=list, description="NPCs played by agents instead.")
    interview: bool = Field(False, description="Afterwards, an NPC asks the agent what it did and why.")
    judge: JudgeConfig | None = Field(None, description="Judge the record (`JudgeConfig()`: the state judge alone).")
    monitor: MonitorConfig | None = Field(None, description="An LLM monitor reading the steps as they come.")
    roles: dict[str, RoleConfig] = Field(default_factory=dict, description="Multi-agent worlds: per-role overrides.")
    key: str | None = Field(None, description="The caller's label for matching results (e.g. a sweep's config "
                            "hash); never passed to the episode.")

    def at_seeds(self, seeds: Iterable[int]) -> list[EpisodeJob]:
        """One job per seed, all else equal (how N episodes of one configuration are asked for)."""
        return [self.model_copy(update={"seed": seed}) for seed in seeds]
