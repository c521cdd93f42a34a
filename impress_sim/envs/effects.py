"""Carrying out tool calls and effects against a state, for anyone in the world.

The agent's actions, NPCs' replies, jobs, timeline events and routines all change the world the same
way: a tool call through the journaled tools, a direct `set`/`delete`, or a notice. `EffectRunner`
is that one way. It needs only the state, the loaded world and lists to report into, so the world's
step, a projection of the world into the future (`schedule.project`) and a counterfactual replay of
a refused action (`attempts`) all share it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from impress_sim.envs.bounded import clip
from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.npcs import substitute
from impress_sim.envs.spec import Effect
from impress_sim.envs.state import State, parse_path
from impress_sim.envs.tools.base import Actor, ToolContext, ToolError

AGENT = "agent"
SYSTEM = "system"


class ActionError(ValueError):
    """An action that is not a well-formed tool call (bad JSON, missing name, unknown tool)."""


@dataclass
class EffectRunner:
    """Runs tools and effects on `state`. `privileged` lifts every permission and reachability check
    (used only on a branch, to see what a refused action would have done)."""

    state: State
    loaded: LoadedWorld
    notices: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # what tools report beside their output (exit_status)
    privileged: bool = False

    def actor(self, actor_id: str, host: str | None = None) -> Actor:
        spec = self.loaded.spec
        if actor_id == AGENT:
            a = spec.agent
            cwd = self.state.get(("meta", "shell", "cwd"), None) or a.home
            return Actor(AGENT, a.user, a.email, a.host, cwd)
        for role in spec.extra_agents:  # an extra role's shell starts in its home on every call
            if role.id == actor_id:
                return Actor(role.id, role.user, role.email, role.host, role.home)
        for npc in spec.npcs:
            if npc.id == actor_id:
                return Actor(npc.id, npc.user or npc.id, npc.email, host)
        return Actor(actor_id, "root" if actor_id == SYSTEM else actor_id, None, host)

    def context(self, actor_id: str, host: str | None = None) -> ToolContext:
        return ToolContext(self.state, self.loaded.spec, self.actor(actor_id, host), self.notices,
                           extras=self.extras, refusals=self.refusals, privileged=self.privileged)

    def execute(self, actor_id: str, tool_name: str, args: Mapping[str, Any], *, enabled_only: bool = False,
                host: str | None = None) -> str:
        """Run a tool as `actor_id`. The agent may use only enabled tools; NPCs and jobs any tool."""
        tools = self.loaded.tools if enabled_only else self.loaded.world_tools or self.loaded.tools
        tool = tools.get(tool_name)
        if tool is None:
            raise ActionError(f"unknown tool {clip(tool_name, 80)!r}; available: {', '.join(self.loaded.tools)}")
        return tool.call(self.context(actor_id, host), args)

    def apply(self, effect: Effect, actor: str, variables: dict[str, str] | None = None,
              host: str | None = None) -> None:
        """Carry out one effect of a job, timeline event or NPC rule (`host`: where a job runs)."""
        spec = self.loaded.spec
        who = effect.actor or actor
        if spec.org is not None and who not in (AGENT, SYSTEM):  # `$manager`: the actor's manager
            from impress_sim.envs.graph import manager_email

            variables = {"manager": manager_email(spec, who) or "", **(variables or {})}
        if effect.tool is not None:
            try:
                self.execute(who, effect.tool, substitute(effect.args, variables or {}), host=host)
                self.events.append(f"{who}: {effect.tool}")
            except (ToolError, ActionError) as exc:
                self.errors.append(f"{who}: {effect.tool} failed: {exc}")
        elif effect.set is not None:
            self.state.set(effect.set, effect.value, actor=who, parents=True)
        elif effect.delete is not None:
            for path in self._matching(effect.delete):
                self.state.delete(path, actor=who)
        elif effect.notify is not None:
            self.notices.append(substitute(effect.notify, variables or {}))

    def _matching(self, pattern: str) -> list[tuple[str, ...]]:
        """The existing paths a `delete` names: the path itself, or every match of a glob in its last
        segment (`hosts/store/files/models/atlas/*` wipes everything under that folder)."""
        path = parse_path(pattern)
        if not path:
            return []
        if not any(ch in path[-1] for ch in "*?["):
            return [path] if self.state.exists(path) else []
        parent = self.state.get(path[:-1], None)
        if not isinstance(parent, dict):
            return []
        return [(*path[:-1], key) for key in list(parent) if fnmatch.fnmatchcase(key, path[-1])]
