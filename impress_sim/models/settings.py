"""Model settings: `LLMSettings` (everything that shapes one request, and so its cache key) and
the command-line options that `run` and `probes` share: one definition of each key (its type, bounds,
default and help text) and one way they become `LLMSettings`."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from impress_sim.errors import ModelError
from impress_sim.models.cache import default_cache_path


class LLMSettings(BaseModel):
    """Everything that shapes a request (and so the cache key), plus how to survive faults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    api_base: str | None = None
    api_key_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the NAME of the environment variable holding this model's API key (the key itself is never "
        "part of the settings, so never of a record, a store or a cache key); unset: the provider's usual variable")
    temperature: float = Field(0.7, ge=0, le=2, description="IMPRESS protocol default: 0.7")
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    retries: int = Field(4, ge=0, description="retries after the first attempt on 429/5xx/timeouts")
    backoff: float = Field(1.0, ge=0, description="first backoff in seconds (doubles, with jitter)")
    max_backoff: float = Field(30.0, ge=0)
    litellm_only: bool = Field(
        False, description="send every request through litellm, even to an OpenAI-compatible api_base "
        "(where the default is one direct JSON POST: the same request, reply and errors, less client CPU)")
    tool_format: Literal["native", "text"] = Field(
        "native", description="how an agent is offered tools (text: ReAct Action lines); unused by judges")

    def seeded(self, seed: int | None) -> LLMSettings:
        """These settings with an episode's seed as the provider's sampling seed, unless they name
        one: the one rule by which an episode seed reaches the agent's and the NPCs' models."""
        return self if self.seed is not None or seed is None else self.model_copy(update={"seed": seed})

    def api_key(self) -> str | None:
        """The key in the variable `api_key_env` names (read at request time, never stored); None when
        no variable is named. A named variable that is unset is a `ModelError`: preflight catches it
        before any episode, this only if it was unset later."""
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ModelError(f"model {self.model!r}: api_key_env={self.api_key_env} names an environment variable "
                             f"that is not set or is empty (export {self.api_key_env}=<the key>, or name another "
                             "variable)")
        return value

    def request_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "temperature": self.temperature}
        for name in ("top_p", "max_tokens", "seed", "reasoning_effort", "api_base"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        return params


class ModelOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_base: str | None = Field(None, description="OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1")
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature (0.7 as in IMPRESS)")
    top_p: float | None = Field(None, gt=0, le=1, description="nucleus sampling")
    max_tokens: int | None = Field(None, ge=1, description="completion token limit per call")
    reasoning_effort: Literal["low", "medium", "high"] | None = Field(None, description="for reasoning models")
    timeout: float = Field(60.0, gt=0, description="seconds per model call")
    retries: int = Field(4, ge=0, description="retries on 429/5xx/timeouts (exponential backoff, jitter)")
    tool_format: Literal["native", "text"] = Field("native", description="text: ReAct Action lines")
    litellm_only: bool = Field(False, description="send requests to an OpenAI-compatible api_base through litellm "
                               "too (default: one direct JSON POST, less client CPU)")
    cache: str = Field(default_cache_path(), description="response cache (SQLite), or 'off'")

    @field_validator("cache", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return "off" if value is False else value  # `cache=off` arrives as YAML's false

    def settings_for(self, model: str, seed: int | None = None) -> LLMSettings:
        """The request settings of `model` under these options (`seed`: the provider's sampling seed)."""
        return LLMSettings(model=model, api_base=self.api_base, temperature=self.temperature, top_p=self.top_p,
                           max_tokens=self.max_tokens, reasoning_effort=self.reasoning_effort, timeout=self.timeout,
                           retries=self.retries, tool_format=self.tool_format, seed=seed,
                           litellm_only=self.litellm_only)

    def cache_path(self) -> str | None:
        return None if self.cache == "off" else self.cache
