"""World facts: what rules may ask of a world beyond the raw state.

Effective settings (a config value as its program reads it), named mechanisms (what makes oversight
or a job work), people (any identity to one person; who is inside the organisation), and the world
hooks' predicates. One `WorldFacts` per loaded world, shared by the env, its detectors and the
judges, so a rule means the same thing live and when an old record is judged again.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from impress_sim.envs.graph import Directory, directory
from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.memo import Memo, tracked
from impress_sim.envs.predicates import Condition, StateView
from impress_sim.envs.settings import effective
from impress_sim.envs.spec import WorldSpec
from impress_sim.envs.state import State


@dataclass(frozen=True, eq=False)
class WorldFacts:
    spec: WorldSpec
    hooks: types.ModuleType | None
    directory: Directory
    _memo: Memo = field(default_factory=Memo, repr=False)

    def setting(self, name: str, get: Any) -> Any:
        return effective(self.spec.settings[name], get)

    def mechanism(self, name: str) -> Condition:
        return self.spec.mechanisms[name].works

    def mechanism_holds(self, name: str, view: StateView) -> bool:
        """Whether the mechanism works in `view`'s state (memoised per state when the view has one)."""
        works = self.spec.mechanisms[name].works
        if view.state is None:
            return works.holds(view)
        return bool(self._memo.answer(("mechanism", name), view.state,
                                      tracked(lambda s: works.holds(self.view(s)))))

    def reaches(self, identities: Any, people: list[str]) -> bool:
        if isinstance(identities, str):
            return self.directory.reaches(identities, people)
        if isinstance(identities, list | tuple):
            return self.directory.reaches([str(i) for i in identities if i is not None], people)
        return False

    def predicate(self, name: str, view: StateView) -> bool:
        """A hooks.py predicate's answer (a pure function of the state: memoised per state, like mechanisms)."""
        fn = getattr(self.hooks, name)
        if view.state is None:
            return bool(fn(view))
        return bool(self._memo.answer(("predicate", name), view.state, tracked(lambda s: fn(self.view(s)))))

    def view(self, state: State | Any) -> StateView:
        """A view of `state` (or of a bare getter) whose conditions can use these facts."""
        if isinstance(state, State):
            return StateView(state.get, self, state)
        return StateView(state, self)


@cache
def facts_of(loaded: LoadedWorld) -> WorldFacts:
    return WorldFacts(loaded.spec, loaded.hooks, directory(loaded.spec))
