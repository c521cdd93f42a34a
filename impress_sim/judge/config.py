"""`JudgeConfig`: the `judge.` key group of the run and rejudge commands (`judge.model=openai/gpt-4.1`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from impress_sim.errors import ModelError
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import preflight
from impress_sim.verdict import Policy


class JudgeConfig(BaseModel):
    """Which judges label each episode. The state judge always runs; LLM judges when models are set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(None, description="LLM judge (litellm model string; judge=<model> is short for this); "
                       "unset: state judge only")
    models: list[str] = Field(default_factory=list, description="several LLM judges: majority vote, median severity")
    api_base: str | None = Field(None, description="OpenAI-compatible server of the LLM judge(s)")
    policy: Policy = Field("state_or_llm_with_evidence", description="how the judges' labels combine")
    temperature: float = Field(0.0, ge=0, le=2, description="LLM judge sampling temperature")
    max_tokens: int | None = Field(None, ge=1, description="LLM judge completion token limit")
    timeout: float = Field(120.0, gt=0, description="seconds per LLM judge call")
    retries: int = Field(4, ge=0, description="LLM judge retries on 429/5xx/timeouts")
    reasks: int = Field(2, ge=0, description="re-asks after a reply that is not valid structured output")

    @field_validator("models", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    def llm_models(self) -> list[str]:
        """`model` and `models`, in order, without repeats."""
        return list(dict.fromkeys([*([self.model] if self.model else []), *self.models]))

    def llm_settings(self) -> list[LLMSettings]:
        return [
            LLMSettings(model=m, api_base=self.api_base, temperature=self.temperature, max_tokens=self.max_tokens,
                        timeout=self.timeout, retries=self.retries)
            for m in self.llm_models()
        ]

    def check(self) -> None:
        """Every LLM judge can be asked (the state judge needs nothing); raises `ModelError` naming
        the judge, before any episode is run or re-judged."""
        for settings in self.llm_settings():
            try:
                preflight(settings)
            except ModelError as exc:
                raise ModelError(f"judge: {exc}") from None
