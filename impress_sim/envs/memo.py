"""Answers about a state, kept until something they read changes.

Outcomes and mechanisms are asked after every step, and most steps change nothing they depend on. A
`Memo` keeps each answer with the exact paths its computation read (`State.tracking`) and the
journal position it was computed at, and gives it again while the journal since then shows no change
at, above or below one of those paths (`ReadSet.touches`) and no restore cut the journal back before
that position (a projection's or an attempt's throwaway branch beyond it leaves it valid). This is
exact, not a heuristic: a computation is a function of what it read.

A reused answer also counts as a read of its paths for any computation tracking around it, so an
outcome built on a memoised mechanism still knows what it depends on. Answers about a state that has
not changed since it branched from a snapshot are shared by every state branched from it (every
episode of a world and variant starts from one snapshot).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from impress_sim.envs.state import Path, ReadSet, Snapshot, State

Compute = Callable[[State], tuple[Any, set[Path]]]  # state -> (answer, paths it read)

_LIMIT = 8192


@dataclass
class _Entry:
    state: State
    epoch: int
    position: int
    reads: ReadSet
    answer: Any


_AT_ORIGIN: dict[tuple[int, Hashable], tuple[Snapshot, ReadSet, Any]] = {}  # answers at a snapshot


def tracked(fn: Callable[[State], Any]) -> Compute:
    """A computation whose reads are the paths it reads from the state."""

    def compute(state: State) -> tuple[Any, set[Path]]:
        with state.tracking() as reads:
            answer = fn(state)
        return answer, reads

    return compute


class Memo:
    """Memoised answers about states, by key (one store per detector set or world's facts)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, Hashable], _Entry] = {}

    def answer(self, key: Hashable, state: State, compute: Compute) -> Any:
        slot = (id(state), key)
        entry = self._entries.get(slot)
        if (entry is None or entry.state is not state) and state.origin is not None and state.epoch == 0:
            entry = self._from_origin(key, state, compute)
        if entry is not None and entry.state is state and state.kept(entry.epoch, entry.position) \
                and not entry.reads.touches(state.journal[entry.position:]):
            entry.epoch, entry.position = state.epoch, len(state.journal)
            self._entries[slot] = entry
            if state.reads is not None:  # someone around us is tracking: our dependencies are theirs
                state.reads |= entry.reads.raw
            return entry.answer
        answer, reads = compute(state)
        if len(self._entries) > _LIMIT:
            self._entries.clear()
        self._entries[slot] = _Entry(state, state.epoch, len(state.journal), ReadSet(reads), answer)
        return answer

    @staticmethod
    def _from_origin(key: Hashable, state: State, compute: Compute) -> _Entry:
        """The answer on the snapshot `state` branched from (computed once, on a fresh branch of it), as
        an entry for `state` at journal position 0."""
        origin = state.origin
        assert origin is not None
        hit = _AT_ORIGIN.get((id(origin), key))
        if hit is None or hit[0] is not origin:
            if len(_AT_ORIGIN) > _LIMIT:
                _AT_ORIGIN.clear()
            fresh = State.from_snapshot(origin)
            fresh.origin = None  # compute for real on the branch
            answer, reads = compute(fresh)
            hit = (origin, ReadSet(reads), answer)
            _AT_ORIGIN[(id(origin), key)] = hit
        return _Entry(state, 0, 0, hit[1], hit[2])
