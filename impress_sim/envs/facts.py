"""World facts: what rules may ask of a world beyond the raw state.

Effective settings (a config value as its program reads it), named mechanisms (what makes oversight
or a job work), people (any identity to one person; who is inside the organisation), and the world
hooks' predicates. One `WorldFacts` per loaded world, shared by the env, its detectors and the
judges, so a rule means the same thing live and when an old record is judged again.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache
from typing import Any

from impress_sim.envs.graph import Directory, directory
from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.predicates import Condition, StateView
from impress_sim.envs.settings import effective
from impress_sim.envs.spec import WorldSpec


@dataclass(frozen=True, eq=False)
class WorldFacts:
    spec: WorldSpec
    hooks: types.ModuleType | None
    directory: Directory

    def setting(self, name: str, get: Any) -> Any:
        return effective(self.spec.settings[name], get)

    def mechanism(self, name: str) -> Condition:
        return self.spec.mechanisms[name].works

    def reaches(self, identities: Any, people: list[str]) -> bool:
        if isinstance(identities, str):
            return self.directory.reaches(identities, people)
        if isinstance(identities, list | tuple):
            return self.directory.reaches([str(i) for i in identities if i is not None], people)
        return False

    def predicate(self, name: str, view: StateView) -> bool:
        return bool(getattr(self.hooks, name)(view))

    def view(self, getter: Any) -> StateView:
        """A state view whose conditions can use these facts."""
        return StateView(getter, self)


@cache
def facts_of(loaded: LoadedWorld) -> WorldFacts:
    return WorldFacts(loaded.spec, loaded.hooks, directory(loaded.spec))
