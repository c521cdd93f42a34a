"""`EpisodeSession`: the one place an agent's tool calls meet the world.

Every architecture acts through `session.act`, which performs exactly one `World.step` and keeps
the step's record; so what the agent did, what it caused and what was detected are recorded the
same way whatever the agent is made of. A step that may wait on a model (LLM NPCs answering) runs
in a worker thread, so the event loop goes on with the batch's other episodes meanwhile.

In a multi-agent world each role has its own session (`role=`: "agent" is the primary, who acts
through `World.step`; an extra agent acts through `World.step_as`), and the sessions of one episode
share a `TurnBaton`: roles act in a fixed order, one tool call per turn, so the world sees the same
sequence of actions however long each model takes to think (thinking happens outside the baton).
A role may `wait` (sit its turn out: no world step, no budget) in a multi-agent run.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from impress_sim.agent_notes import Note
from impress_sim.envs.briefing import Briefing
from impress_sim.envs.spec import WAIT
from impress_sim.envs.world import AGENT, StepResult, World
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


@functools.cache
def _stepping_threads() -> ThreadPoolExecutor:
    """Threads for world steps that wait on a model. Not asyncio's default pool (a handful of threads
    on a small machine): hundreds of episodes' NPCs may be waiting on their replies at once."""
    return ThreadPoolExecutor(max_workers=256, thread_name_prefix="impress-world-step")


class TurnBaton:
    """Deterministic turn-taking between the roles of one episode: `roles` act in that order, one
    tool call per turn. A role that is done (its agent stopped) is skipped; the others wait for the
    current role to act or be done, never for a clock, so the order never depends on timing."""

    def __init__(self, roles: Sequence[str]) -> None:
        self.order = list(roles)
        self.done: set[str] = set()
        self._turn = 0
        self._ready = {role: asyncio.Event() for role in self.order}
        self._ready[self.order[0]].set()

    @property
    def holder(self) -> str | None:
        return None if len(self.done) == len(self.order) else self.order[self._turn]

    def others_active(self, role: str) -> bool:
        return any(r not in self.done for r in self.order if r != role)

    async def acquire(self, role: str) -> None:
        await self._ready[role].wait()

    def release(self, role: str) -> None:
        """`role` acted: the turn passes to the next role that is not done."""
        if self.holder == role:
            self._ready[role].clear()
            self._advance()

    def retire(self, role: str) -> None:
        """`role` will act no more (its agent stopped, finished, or failed)."""
        self.done.add(role)
        if self.order[self._turn] == role:
            self._ready[role].clear()
            self._advance()

    def _advance(self) -> None:
        for _ in range(len(self.order)):
            self._turn = (self._turn + 1) % len(self.order)
            if self.order[self._turn] not in self.done:
                self._ready[self.order[self._turn]].set()
                return


class EpisodeSession:
    def __init__(
        self,
        world: World,
        max_tool_calls: int | None = None,
        listener: StepListener | None = None,
        role: str = AGENT,
        baton: TurnBaton | None = None,
    ):
        self.world = world
        self.role = role
        self.baton = baton
        self.max_tool_calls = max_tool_calls or world.spec.limits.max_tool_calls
        self.steps: list[StepRecord] = []
        self.trace: list[dict[str, Any]] = []
        self.last: StepResult | None = None
        self.waits = 0
        self.failed = False  # whether the last call's observation was an error
        self._listener = listener

    @property
    def ended(self) -> bool:
        if self.baton is None and self.role == AGENT:  # a single-agent run
            return self.world.ended or len(self.steps) >= self.max_tool_calls
        # a role of a multi-agent run: also over when the world ended for everyone, or it waited out
        return self.world.role_ended(self.role) or max(len(self.steps), self.waits) >= self.max_tool_calls

    @property
    def briefing(self) -> Briefing:
        """This role's briefing (the world's `briefing` for the primary agent)."""
        return self.world.briefing if self.role == AGENT else self.world.role_briefing(self.role)

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The tools this session's role may call (plus `wait` when it takes turns with other roles)."""
        if self.role == AGENT and self.baton is None:
            return self.world.tool_schemas()
        schemas = self.world.role_tool_schemas(self.role)
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
        """Sit a turn out: no world step, no budget; returns what reached the role meanwhile."""
        self.waits += 1
        self.failed = False
        self.note("wait")
        notes = self.world.take_notices(self.role)
        if self.baton is not None and not self.baton.others_active(self.role):
            notes = [*notes, "Every other agent has stopped; nothing more will happen while you wait."]
        return "\n".join([WAITED, *notes])

    @property
    def budget_left(self) -> int:
        return max(self.max_tool_calls - len(self.steps), 0)

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
        step = functools.partial(self.world.step_as, self.role, {"tool": tool, "args": args})
        if self.world.steps_call_models:
            result = await asyncio.get_running_loop().run_in_executor(_stepping_threads(), step)
        else:
            result = step()
        if not result.terminated and len(self.steps) + 1 >= self.max_tool_calls:
            result.truncated = True
            if self.role == AGENT:
                self.world.ended = True
        record = StepRecord(
            index=result.step,
            clock=result.clock,
            thought=thought,
            tool=result.call.name if result.call else tool,
            args=args if isinstance(args, dict) else {"_raw": args},
            call_id=call_id,
            observation=result.observation,
            error=result.error,
            diff=[c.as_dict() for c in result.visible_changes()],
            findings=result.findings,
            attempts=result.attempts,
            refusals=result.refusals,
            events=result.events,
            notices=result.notices,
            npc_errors=result.npc_errors,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        self.steps.append(record)
        self.last = result
        self.failed = result.error is not None
        if self._listener is not None:
            self._listener(record, result)
        return result.observation

    def note(self, kind: str, **data: Any) -> None:
        """Record an internal step of the architecture (a plan, a critique, a guard decision)."""
        entry = {"kind": kind, "after_step": len(self.steps), **data}
        self.trace.append(entry)
        if self._listener is not None:
            self._listener(Note(self.role, entry), None)
