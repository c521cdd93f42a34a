"""Agent architectures and models by name: the one lookup `run` and `sweep` use."""

from __future__ import annotations

from typing import Protocol

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage

from impress_sim.agents.cache import ResponseCache
from impress_sim.agents.llm import LiteLLMChatModel, LLMSettings, ModelError, preflight
from impress_sim.agents.react import ReactAgent
from impress_sim.agents.reference import PREFIX, ReferenceChatModel
from impress_sim.agents.session import EpisodeSession
from impress_sim.envs.spec import WorldSpec


class Architecture(Protocol):
    name: str

    async def arun(self, model: BaseChatModel, session: EpisodeSession) -> list[BaseMessage]: ...


ARCHITECTURES: dict[str, type[ReactAgent]] = {"react": ReactAgent}


class UnknownAgentError(ValueError):
    pass




def make_architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise UnknownAgentError(f"unknown agent {name!r}; valid: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[name]()


def is_replay(model: str) -> bool:
    return model.startswith(PREFIX)


def make_model(
    model: str, spec: WorldSpec, settings: LLMSettings | None = None, cache: ResponseCache | None = None
) -> BaseChatModel:
    """A chat model for a model string. `reference/<trajectory>` replays one of the world's trajectories;
    anything else is a litellm model string, configured by `settings`."""
    if is_replay(model):
        name = model[len(PREFIX) :]
        if name not in spec.trajectories:
            valid = ", ".join(PREFIX + t for t in sorted(spec.trajectories))
            raise ModelError(f"world {spec.id} has no trajectory {name!r}; valid reference models: {valid}")
        return ReferenceChatModel(trajectory=spec.trajectories[name], name_=model)
    return LiteLLMChatModel(settings=settings or LLMSettings(model=model), response_cache=cache)


def check_model(model: str, spec: WorldSpec, settings: LLMSettings | None = None) -> None:
    """Fail before any episode starts: unknown trajectory, provider, credentials or api_base."""
    if is_replay(model):
        make_model(model, spec)
    else:
        preflight(settings or LLMSettings(model=model))
