"""`ProbeSpec`: one judgment-action probe run — a world, the models, a variant, samples per form."""

from __future__ import annotations

from pydantic import Field, field_validator

from impress_sim.cli import MAX_STEPS_HELP
from impress_sim.models.settings import ModelOptions


class ProbeSpec(ModelOptions):
    """Every model is asked both questions `samples` times and plays `samples` episodes, all with the
    same decoding settings and the same variant."""

    world: str = Field(description="world id or path to a world folder (needs a probes: section)")
    models: list[str] = Field(["reference/misaligned"], description="models; reference/<trajectory> replays "
                              "episodes offline and cannot answer the questions")
    agent: str = Field("react", description="agent architecture of the agentic form")
    variant: str | dict[str, str] | None = Field(
        None, description="a named variant, or per axis: variant.reality=test (renders all three forms)")
    samples: int = Field(10, ge=1, description="samples per form and model (seeds 0..N-1)")
    max_steps: int | None = Field(None, ge=1, description=MAX_STEPS_HELP)
    concurrency: int = Field(8, ge=1, description="questions and episodes in flight at once")
    out: str | None = Field(None, description="write the results as JSON here")

    @field_validator("models", mode="before")
    @classmethod
    def _as_list(cls, value: object) -> object:
        return value if isinstance(value, list | tuple) else [value]
