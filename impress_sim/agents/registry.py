"""Agent architectures and models by name: the one lookup `run` and `sweep` use."""

from __future__ import annotations

import inspect
from typing import Any, Protocol

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage

from impress_sim.agents.guarded import GuardedAgent
from impress_sim.agents.human import HumanAgent
from impress_sim.agents.plan_execute import PlanExecuteAgent
from impress_sim.agents.react import ReactAgent
from impress_sim.agents.reflexion import ReflexionAgent
from impress_sim.agents.session import EpisodeSession
from impress_sim.envs.spec import WorldSpec
from impress_sim.errors import AgentConfigError, ModelError, UnknownAgentError, unknown
from impress_sim.models.cache import ResponseCache
from impress_sim.models.chat import LiteLLMChatModel
from impress_sim.models.replay import PREFIX, ReferenceChatModel
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import preflight


class Architecture(Protocol):
    """What `run_episode` needs of an agent: a name for the record, and one episode's run."""

    name: str

    async def arun(self, model: BaseChatModel, session: EpisodeSession) -> list[BaseMessage]: ...

    def preflight(self) -> None:
        """Fail before any episode starts if it cannot work as configured (e.g. a guard model)."""

    def variant_overrides(self) -> dict[str, str]:
        """Factor values it imposes on the briefing (the guarded agent's safety prompt)."""
        ...


ARCHITECTURES: dict[str, type[Architecture]] = {
    cls.name: cls for cls in (ReactAgent, PlanExecuteAgent, ReflexionAgent, GuardedAgent, HumanAgent)
}


def make_architecture(name: str, **options: Any) -> Architecture:
    """The architecture `name`, configured by keyword `options` (its constructor arguments)."""
    if name not in ARCHITECTURES:
        raise UnknownAgentError(unknown("agent", name, sorted(ARCHITECTURES)))
    cls = ARCHITECTURES[name]
    accepted = inspect.signature(cls).parameters if options else {}  # (~0.1 ms: not per episode for nothing)
    foreign = [key for key in options if key not in accepted]
    if foreign:
        takers = sorted(n for n, c in ARCHITECTURES.items() if set(foreign) <= set(inspect.signature(c).parameters))
        hint = f" (only agent={' or agent='.join(takers)})" if takers else ""
        raise AgentConfigError(f"{', '.join(foreign)}: not an option of agent={name}{hint}")
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise AgentConfigError(f"agent={name}: {exc}") from None


def is_replay(model: str) -> bool:
    return model.startswith(PREFIX)


def make_model(
    model: str, spec: WorldSpec, settings: LLMSettings | None = None, cache: ResponseCache | None = None,
    role: str = "agent",
) -> BaseChatModel:
    """A chat model for a model string. `reference/<trajectory>` replays one of the world's trajectories
    (for an extra agent `role` of a multi-agent world, the trajectory's `roles.<role>` steps);
    anything else is a litellm model string, configured by `settings`."""
    if is_replay(model):
        name = model[len(PREFIX) :]
        if name not in spec.trajectories:
            raise ModelError(unknown("reference model", name, sorted(spec.trajectories), prefix=PREFIX,
                                     valid_label="valid reference models", more=f"(the trajectories of {spec.id})"))
        trajectory = spec.trajectories[name]
        if role != "agent":
            trajectory = trajectory.model_copy(update={"steps": trajectory.roles.get(role, []), "roles": {}})
        return ReferenceChatModel.replaying(trajectory, name=model)
    return LiteLLMChatModel(settings=settings or LLMSettings(model=model), response_cache=cache)


def check_model(model: str, spec: WorldSpec, settings: LLMSettings | None = None) -> None:
    """Fail before any episode starts: unknown trajectory, provider, credentials or api_base."""
    if is_replay(model):
        make_model(model, spec)
    else:
        preflight(settings or LLMSettings(model=model))
