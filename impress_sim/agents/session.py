"""`EpisodeSession`: the one place an agent's tool calls meet the world.

Every architecture acts through `session.act`, which awaits exactly one `World.astep` and keeps
the step's record; so what the agent did, what it caused and what was detected are recorded the
same way whatever the agent is made of. A step whose NPCs wait on a model suspends on the episode's
event loop, which runs the batch's other episodes meanwhile (no threads).

The world owns the budget and decides when a role has ended (`World.ended(role)`); the session
asks it. In a multi-agent world each role has its own session (`role=`: "agent" is the primary, an
extra agent acts as its role id), and the sessions of one episode share a `TurnBaton`: roles act in
a fixed order, one tool call per turn, so the world sees the same sequence of actions however long
each model takes to think (thinking happens outside the baton). A role may `wait` (sit its turn
out: no world step, no tool call) in a multi-agent run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from impress_sim.agent_notes import Note
from impress_sim.envs.briefing import Briefing
from impress_sim.envs.effects import AGENT
from impress_sim.envs.spec import WAIT
from impress_sim.envs.step import StepResult
from impress_sim.envs.world import World
from impress_sim.record import StepRecord

StepListener = Callable[[StepRecord | Note, StepResult | None], None]
"""Hears a session as it goes: each step with the world's result, and each note (result None) when
it is made, so a live view shows a guard block or a plan where it happened, not after the episode."""

WAITED = "(You waited this turn.)"
WAIT_SCHEMA: dict[str, Any] = {
    "name": WAIT,
    "description": "Sit this turn out and let the other agents act; what reaches you (mail, chat) is shown "
    "with the answer. Does not use your tool budget.",
    "parameters": {"type": "object", "properties": {}},
}


class TurnBaton:
    """Deterministic turn-taking between the roles of one world: they act in `world.roles` order,
    one tool call per turn. A role is skipped when it is out: the world says it ended
    (`World.ended`), or its agent stopped (`retire`: it finished talking, or failed) — the one thing
    only the agent side knows. The others wait for the current role to act or be out, never for a
    clock, so the order never depends on timing."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.order = list(world.roles)
        self.retired: set[str] = set()  # roles whose agent stopped
        self._turn = 0
        self._ready = {role: asyncio.Event() for role in self.order}
        self._ready[self.order[0]].set()

    def out(self, role: str) -> bool:
        return role in self.retired or self.world.ended(role)

    @property
    def holder(self) -> str | None:
        return None if all(self.out(r) for r in self.order) else self.order[self._turn]

    def others_active(self, role: str) -> bool:
        return any(not self.out(r) for r in self.order if r != role)

    async def acquire(self, role: str) -> None:
        await self._ready[role].wait()

    def release(self, role: str) -> None:
        """`role` acted: the turn passes to the next role that is not out."""
        if self.order[self._turn] == role:
            self._ready[role].clear()
            self._advance()

    def retire(self, role: str) -> None:
        """`role`'s agent will act no more (it stopped, finished, or failed)."""
        self.retired.add(role)
        if self.order[self._turn] == role:
            self._ready[role].clear()
            self._advance()

    def _advance(self) -> None:
        """Pass the turn on. A role that is out is woken too: an agent already waiting for its turn
        when the world ended for it then finds its session ended instead of waiting forever."""
        for _ in range(len(self.order)):
            self._turn = (self._turn + 1) % len(self.order)
            role = self.order[self._turn]
            self._ready[role].set()
            if not self.out(role):
                return


class EpisodeSession:
    def __init__(
        self,
        world: World,
        listener: StepListener | None = None,
        role: str = AGENT,
        baton: TurnBaton | None = None,
    ):
        """`world` owns the tool-call budget (`World(max_tool_calls=...)`) and the episode's end."""
        self.world = world
        self.role = role
        self.baton = baton
        self.steps: list[StepRecord] = []
        self.trace: list[dict[str, Any]] = []
        self.last: StepResult | None = None
        self.failed = False  # whether the last call's observation was an error
        self._listener = listener

    @property
    def ended(self) -> bool:
        """Whether this role can act no more (the world decides: `World.ended`)."""
        return self.world.ended(self.role)

    @property
    def max_tool_calls(self) -> int:
        return self.world.max_tool_calls

    @property
    def briefing(self) -> Briefing:
        """This role's briefing (the world's `briefing` for the primary agent)."""
        return self.world.briefing_for(self.role)

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The tools this session's role may call (plus `wait` when it takes turns with other roles)."""
        schemas = self.world.tool_schemas(self.role)
        return [*schemas, WAIT_SCHEMA] if self.baton is not None else schemas

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the turn for one call (a no-op without a baton, i.e. in a single-agent run)."""
        if self.baton is None:
            yield
            return
        await self.baton.acquire(self.role)
        try:
            yield
        finally:
            self.baton.release(self.role)

    def wait(self) -> str:
        """Sit a turn out: no world step, no tool call; returns what reached the role meanwhile."""
        self.failed = False
        self.note("wait")
        notes = self.world.wait(self.role)
        if self.baton is not None and not self.baton.others_active(self.role):
            notes = [*notes, "Every other agent has stopped; nothing more will happen while you wait."]
        return "\n".join([WAITED, *notes])

    @property
    def budget_left(self) -> int:
        return max(self.world.max_tool_calls - self.world.calls(self.role), 0)

    async def act(self, tool: str, args: dict[str, Any] | str, call_id: str | None = None, thought: str = "") -> str:
        """Perform one tool call as one env step; returns the observation text.

        `args` may be the raw text of a malformed call: the world answers it with an error
        observation, so a model's bad JSON costs it a step, as it would in any real harness.
        """
        if self.ended:
            return "Error: the episode has ended; no further actions are possible."
        if tool == WAIT and self.baton is not None and not args:
            return self.wait()
        started = time.perf_counter()
        result = await self.world.astep({"tool": tool, "args": args}, role=self.role)
        record = StepRecord.from_result(result, tool=tool, args=args, call_id=call_id, thought=thought,
                                        duration_ms=(time.perf_counter() - started) * 1000)
        self.steps.append(record)
        self.last = result
        self.failed = result.error_kind is not None
        if self._listener is not None:
            self._listener(record, result)
        return result.observation

    def note(self, kind: str, **data: Any) -> None:
        """Record an internal step of the architecture (a plan, a critique, a guard decision)."""
        entry = {"kind": kind, "after_step": len(self.steps), **data}
        self.trace.append(entry)
        if self._listener is not None:
            self._listener(Note(self.role, entry), None)
