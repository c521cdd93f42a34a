"""The world runtime: one episode's state, and what happens when a role acts.

A step is: run the role's tool call; advance the clock; run due jobs and timeline events
(`schedule`); let NPCs react to what reached them, a bounded number of rounds (`routing`); then diff
the journal since the step began, run the detectors over it, and decide whether the role or the
world has ended (`turns`). Everything that changes the state — agent, NPC, job, timeline — goes
through the same tools and the same journal, so every change is seen and attributed.

`World`'s public surface:

- `World(loaded, variant, seed, *, max_tool_calls, npc_settings, npc_cache)` builds an episode.
- Acting: `await world.astep(action, role=...)` is the step; `world.step(...)` runs it to completion
  for synchronous callers (Gymnasium); `world.wait(role)` sits a turn out.
- Ending: `world.ended(role)` is the one way to ask whether a role can act no more (`ended_by(role)`
  says why); `calls(role)` counts its actions.
- Reading: `get`, `holds`, `view`, `now`, `briefing_for(role)`, `tool_schemas(role)` (under the names a
  `tool_naming` value shows them by; `shown_name(tool)`), `task_checks`,
  `task_done`, `episode_diff`.
- Branching: `snapshot()` / `restore()`.
- What NPCs may do (`NPCWorld`): `get`, `holds`, `apply_effect`, `first_time`, `npc_error`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from impress_sim.envs import routing, schedule
from impress_sim.envs.attempts import attempted
from impress_sim.envs.bounded import MAX_ERROR_CHARS, clip
from impress_sim.envs.briefing import Briefing, compose_briefing
from impress_sim.envs.detectors import DetectorSet, Finding, TaskCheckResult
from impress_sim.envs.effects import AGENT, SYSTEM, ActionError, EffectRunner
from impress_sim.envs.facts import facts_of
from impress_sim.envs.initial import build_state
from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.npcs import NPC, NPCModel, make_npc
from impress_sim.envs.predicates import Condition, StateView
from impress_sim.envs.spec import Effect, ToolRename
from impress_sim.envs.state import Snapshot, State
from impress_sim.envs.step import HIDDEN_PREFIXES, ErrorKind, StepResult, ToolCall, parse_action
from impress_sim.envs.tools.base import ToolError
from impress_sim.envs.tools.control import FINISH
from impress_sim.envs.turns import EndReason, Turns, end_state
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import UsageStats


class EpisodeEnded(RuntimeError):
    """A step of a role that can act no more (`World.ended(role)`): a caller's mistake, not an action's.
    The Gymnasium env answers it with an observation instead (see `ImpressEnv.step`)."""


def internal_error(call: ToolCall | None, exc: Exception) -> str:
    """The observation for a tool that failed with an unexpected exception (a bug, reported as such)."""
    name = call.name if call is not None else "?"
    return (f"internal error in tool {name}: {type(exc).__name__}: {clip(str(exc), 300)} "
            "(a bug in the world's tools, not in your action; the step was counted)")


@lru_cache(maxsize=256)
def _initial_snapshot(loaded: LoadedWorld, factors: tuple[tuple[str, str], ...]) -> Snapshot:
    state = build_state(loaded.spec, dict(factors))
    DetectorSet(loaded, dict(factors)).arm(state)  # which outcomes hold at the start
    state.journal.clear()
    return state.snapshot()


def initial_state(loaded: LoadedWorld, factors: dict[str, str]) -> State:
    """A fresh episode state. The tree for each (world, variant) is built once and shared
    copy-on-write, so starting an episode costs O(1) however large the world is."""
    return State.from_snapshot(_initial_snapshot(loaded, tuple(sorted(factors.items()))))


@dataclass(frozen=True)
class WorldSnapshot:
    """A branch point: the state and every role's turns (`World.restore` goes back to it)."""

    state: Snapshot
    turns: Turns


class World:
    """One episode of one world under one variant and seed (see the module's docstring)."""

    def __init__(
        self,
        loaded: LoadedWorld,
        variant: str | Mapping[str, str] | None = None,
        seed: int | None = None,
        *,
        max_tool_calls: int | None = None,
        npc_settings: LLMSettings | None = None,
        npc_cache: ResponseCache | None = None,
    ):
        """`seed` is the episode seed: it fills the world's slots (seed 0 or None: the world as written)
        and seeds the NPCs' model (`LLMSettings.seeded`).
        `max_tool_calls` is each role's tool-call budget (default: the world's `limits.max_tool_calls`).
        `npc_settings` is the model that drives `kind: llm` NPCs (None: they play their scripted
        rules, offline); `npc_cache` caches its replies. Their usage is counted in `npc_stats`."""
        loaded = loaded.at_seed(seed)  # the seed fills the world's slots (envs/slots.py)
        self.loaded = loaded
        self.spec = loaded.spec
        self.factors = self.spec.resolve_variant(dict(variant) if isinstance(variant, Mapping) else variant)
        self.seed = seed
        self.max_tool_calls = max_tool_calls or self.spec.limits.max_tool_calls
        self.state: State = initial_state(loaded, self.factors)
        self.initial: Snapshot = self.state.snapshot()
        self.briefing: Briefing = compose_briefing(self.spec, self.factors)
        # `tool_naming`-style factor values: the tools every role sees under other names (calls with the
        # shown name run the real tool; results, journals and detectors speak of the real one)
        self.tool_names: dict[str, ToolRename] = self.spec.tool_renames(self.factors)
        self._real_tool = {rename.name: real for real, rename in self.tool_names.items()}
        self.roles: list[str] = self.spec.role_ids()
        self.npc_stats = UsageStats()
        self.npcs: list[NPC] = self._make_npcs(npc_settings, npc_cache, seed)
        self.detectors = DetectorSet(loaded, self.factors)
        self._turns = Turns(self.roles, self.max_tool_calls)
        self._mailroom = routing.Mailroom(self.spec, self.state, self.roles)
        self._runner = EffectRunner(self.state, loaded)
        self._waits_on_models = any(npc.calls_model for npc in self.npcs)
        self._stepping = False

    def _make_npcs(self, settings: LLMSettings | None, cache: ResponseCache | None, seed: int | None) -> list[NPC]:
        model = None
        if settings is not None:
            available = self.loaded.world_tools or self.loaded.tools
            schemas = {name: {"type": "function", "function": available[name].schema}
                       for npc in self.spec.npcs for name in npc.tools if name in available}
            company = self.spec.org.company if self.spec.org is not None else None
            model = NPCModel(settings.seeded(seed), cache, self.npc_stats, schemas, company)
        return [make_npc(n, model) for n in self.spec.npcs]

    # ---- reading -------------------------------------------------------------------------
    @property
    def view(self) -> StateView:
        return facts_of(self.loaded).view(self.state)

    def get(self, path: str | tuple[str, ...], default: Any = None) -> Any:
        return self.state.get(path, default)

    def holds(self, condition: Condition) -> bool:
        return condition.holds(self.view)

    def now(self) -> datetime:
        return schedule.now(self.state)

    def briefing_for(self, role: str = AGENT) -> Briefing:
        """`role`'s briefing (the world's `briefing` for the primary agent)."""
        return self.briefing if role == AGENT else compose_briefing(self.spec, self.factors, role)

    def tool_schemas(self, role: str = AGENT) -> list[dict[str, Any]]:
        """The schemas of the tools `role` may call, under the names the variant shows them by (built
        once per tool, shared read-only)."""
        allowed = None if role == AGENT else set(self.spec.role_tools(role))
        return [self._shown_schema(t.schema) for name, t in self.loaded.tools.items()
                if allowed is None or name in allowed]

    def shown_name(self, tool: str) -> str:
        """The name the agents see `tool` under in this episode (its own name unless the variant renames it)."""
        rename = self.tool_names.get(tool)
        return rename.name if rename is not None else tool

    def real_name(self, shown: str) -> str:
        """The tool a name the agents see stands for (itself unless the variant renames a tool to it)."""
        return self._real_tool.get(shown, shown)

    def _shown_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        rename = self.tool_names.get(schema["name"])
        if rename is None:
            return schema
        return {**schema, "name": rename.name, "description": rename.description or schema["description"]}

    def task_checks(self, role: str | None = None) -> list[TaskCheckResult]:
        return self.detectors.task_checks(self.state, role)

    def task_done(self, role: str | None = None) -> bool:
        """Whether every task check passes (or, with `role`, every check of that role)."""
        return all(r.passed for r in self.task_checks(role))

    def episode_diff(self) -> list[dict[str, Any]]:
        """Net change from the initial state to now (hidden bookkeeping paths left out)."""
        return [d for d in self.state.diff_since(self.initial) if d["path"].split("/")[0] not in HIDDEN_PREFIXES]

    # ---- ending (the world is the one owner: `turns.py`) -----------------------------------
    def ended(self, role: str = AGENT) -> bool:
        """Whether `role` can act no more: it finished, used up its budget, or the world ended."""
        return self._turns.why_ended(role) is not None

    def ended_by(self, role: str = AGENT) -> EndReason | None:
        """Why `role` can act no more: "finish", "end_condition" or "deadline" (it terminated) or
        "step_limit" (truncated: its budget ran out); None while it may act."""
        return self._turns.why_ended(role)

    def calls(self, role: str = AGENT) -> int:
        """Tool calls `role` has made (each counts against `max_tool_calls`)."""
        return self._turns.calls.get(role, 0)

    # ---- what NPCs, jobs and the timeline may do ------------------------------------------
    def apply_effect(self, effect: Effect, actor: str, variables: dict[str, str] | None = None) -> None:
        """Carry out one effect of a job, timeline event or NPC rule."""
        self._runner.apply(effect, actor, variables)

    def first_time(self, npc_id: str, key: str) -> bool:
        """Whether this is the first time `key` comes up for the NPC (remembered in journaled state,
        so snapshots and restores carry it): a `once` rule fires only the first time."""
        path = ("meta", "npc", npc_id, key)
        if self.state.exists(path):
            return False
        self.state.set(path, True, actor=SYSTEM, parents=True)
        return True

    def npc_error(self, text: str) -> None:
        """Record an NPC's failure for this step (apart from the agent's errors)."""
        self._runner.errors.append(text)

    # ---- acting --------------------------------------------------------------------------
    def step(self, action: str | Mapping[str, Any], role: str = AGENT) -> StepResult:
        """`astep` run to completion, for synchronous callers (Gymnasium, scripts, the self-check).

        A world whose NPCs are driven by a model needs an event loop to wait on it: this runs one;
        called from inside a running event loop it refuses (the wait would block that loop) — await
        `astep` there instead."""
        if self._waits_on_models:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(self.astep(action, role=role))
            raise RuntimeError("World.step would block the running event loop while the LLM NPCs wait for "
                               "their model; use `await world.astep(action, role=...)` instead")
        coro = self.astep(action, role=role)
        try:  # nothing in it suspends without model-driven NPCs: no event loop needed
            coro.send(None)
        except StopIteration as done:
            return cast(StepResult, done.value)
        coro.close()
        raise RuntimeError("a world step without model-driven NPCs suspended")  # pragma: no cover

    async def astep(self, action: str | Mapping[str, Any], role: str = AGENT) -> StepResult:
        """Apply one action of `role` (the primary agent by default, or an extra agent of a multi-agent
        world) and everything it sets in motion. The world moves on after every action, whoever
        acted; findings are attributed to the role that caused them. Bad actions never raise: they
        come back as error observations (`StepResult.error_kind`)."""
        if role not in self.roles:
            raise KeyError(f"unknown role {role!r}; valid: {self.roles}")
        if self.ended(role):
            raise EpisodeEnded(f"the episode has ended for {role} ({self.ended_by(role)}); reset the world")
        if self._stepping:
            raise RuntimeError("a step of this world is already running; await it before the next")
        self._stepping = True
        try:
            return await self._step(action, role)
        finally:
            self._stepping = False

    async def _step(self, action: str | Mapping[str, Any], role: str) -> StepResult:
        state = self.state
        state.step = self._turns.actions + 1
        allowed = [self.shown_name(t) for t in (self.loaded.tools if role == AGENT else self.spec.role_tools(role))]
        mark = state.mark()
        cwd = state.get(("meta", "shell", "cwd"), None)
        runner = self._runner = EffectRunner(state, self.loaded)
        call: ToolCall | None = None
        shown_as: str | None = None
        error_kind: ErrorKind | None = None
        exit_status: int | None = None
        try:
            call = parse_action(action)
            if call.name not in allowed:
                raise ActionError(f"unknown tool {clip(call.name, 80)!r}; available: {', '.join(allowed)}")
            if call.name in self._real_tool:  # a renamed tool: run the real one, remember what was called
                shown_as, call = call.name, ToolCall(self._real_tool[call.name], call.args, call.call_id)
            output = runner.execute(role, call.name, call.args, enabled_only=True)
            exit_status = runner.extras.pop("exit_status", None)  # before NPCs and jobs run tools of their own
        except ActionError as exc:
            output, error_kind = clip(str(exc), MAX_ERROR_CHARS), "invalid_action"
        except ToolError as exc:  # a message quoting a huge argument is clipped, not echoed whole
            output, error_kind = clip(str(exc), MAX_ERROR_CHARS), "tool_error"
            if shown_as is not None and call is not None:  # the agent never learns the real name from an error
                output = output.replace(f"invalid arguments for {call.name}:", f"invalid arguments for {shown_as}:")
        except Exception as exc:  # a bug in a tool (a world's hooks.py included): the env still never raises
            output, error_kind = internal_error(call, exc), "internal_error"
            runner.extras.pop("exit_status", None)
        refusals = list(dict.fromkeys(runner.refusals))
        routing.log_activity(runner, self.spec, role, call, action, error_kind)
        schedule.advance_clock(state)
        schedule.run_world(runner, self.holds)
        await routing.deliver(self.npcs, self, state, mark, self.spec.limits.npc_rounds)
        changes = state.since(mark)
        runner.notices[:0] = self._mailroom.route(role, changes)
        findings = self.detectors.detect(state.step, changes, state, role)
        attempts: list[Finding] = []
        if refusals and call is not None:
            attempts = attempted(self.detectors, state, step=state.step, role=role, tool=call.name,
                                 args=call.args, refusals=refusals, effected={f.behaviour for f in findings},
                                 cwd=cwd)
        finished = call is not None and call.name == FINISH and error_kind is None
        reason, notice = end_state(self.spec, state, self.holds, finished)
        if notice is not None:
            runner.notices.append(notice)
        terminated, truncated = self._turns.acted(role, reason)
        return StepResult(
            step=state.step,
            call=call,
            output=output,
            error_kind=error_kind,
            notices=list(runner.notices),
            events=list(runner.events),
            changes=changes,
            findings=findings,
            terminated=terminated,
            truncated=truncated,
            clock=state.get("clock/now"),
            ended_by=reason,
            npc_errors=list(runner.errors),
            role=role,
            attempts=attempts,
            refusals=refusals,
            exit_status=exit_status,
            shown_as=shown_as,
        )

    def wait(self, role: str) -> list[str]:
        """`role` sits a turn out (no world step, no tool call): returns what reached it since it last
        acted. Waiting out the whole budget ends the role (truncated), like acting it out."""
        self._turns.waited(role)
        return self._mailroom.take(role)

    # ---- branching -----------------------------------------------------------------------
    def snapshot(self) -> WorldSnapshot:
        return WorldSnapshot(self.state.snapshot(), self._turns.copy())

    def restore(self, snap: WorldSnapshot) -> None:
        self.state.restore(snap.state)
        self._runner = EffectRunner(self.state, self.loaded)
        self._turns = snap.turns.copy()
        self._mailroom.clear()
