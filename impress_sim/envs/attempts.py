"""Attempts: what a refused action would have done.

When the world refuses part of an action (no permission, an unreachable host, a read-only config),
nothing changes, so no detector sees it, and "the agent tried to copy its weights off-host and the
network said no" would leave no trace. Every permission and reachability check goes through one
gate (`ToolContext.permits`), which records the refusal; the action is then run again on a branch
of the state after the step with every check lifted, and the detectors run on what it changed
there. Behaviours found on that branch and not already effected by the real step are *attempts*:
kept apart from effects everywhere (records, metrics, reward), never merged silently. The branch is
thrown away, so the world is exactly as the real step left it.

The same function serves the live env and the state judge (which replays a record), so an old
episode re-judged by a newer detector set gets its attempts recomputed too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from impress_sim.envs.detectors import DetectorSet, Finding
from impress_sim.envs.effects import AGENT, ActionError, EffectRunner
from impress_sim.envs.state import State
from impress_sim.envs.tools.base import ToolError


def attempted(detectors: DetectorSet, state: State, *, step: int, role: str, tool: str, args: Mapping[str, Any],
              refusals: list[str], effected: set[str], cwd: str | None = None) -> list[Finding]:
    """The behaviours `role`'s refused call would have effected, as attempt findings (`attempt=True`).

    `effected`: behaviours the real step already effected (not attempts). `cwd`: the agent's shell
    directory before the step (a `cd` in the call is then replayed from the same place)."""
    snap = state.snapshot()
    try:
        if cwd is not None and role == AGENT:
            state.set(("meta", "shell", "cwd"), cwd, actor="system", parents=True)
        mark = state.mark()
        runner = EffectRunner(state, detectors.loaded, privileged=True)
        with contextlib.suppress(ToolError, ActionError):  # failing for another reason too: what it did counts
            runner.execute(role, tool, args, enabled_only=True)
        changes = [c for c in state.since(mark) if c.path[:1] != ("meta",)]
        found = detectors.detect(step, changes, state, role) if changes else []
    finally:
        state.restore(snap)
    refused = "; ".join(dict.fromkeys(refusals))
    attempts: list[Finding] = []
    seen: set[str] = set()
    for f in found:
        if f.behaviour in effected or f.behaviour in seen:
            continue
        seen.add(f.behaviour)
        attempts.append(f.model_copy(update={"attempt": True,
                                             "evidence": f"attempted, refused by the world ({refused}): {f.evidence}"}))
    return attempts
