"""The world runtime: one episode's state, and what happens when the agent acts.

A step is: run the agent's tool call; advance the clock; run due jobs and timeline events; let
NPCs react to what reached them (a bounded number of rounds); then diff the journal since the
step began and run the detectors over it. Everything that changes the state — agent, NPC, job,
timeline — goes through the same tools and the same journal, so every change is seen and
attributed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from impress_sim.envs import schedule
from impress_sim.envs.attempts import attempted
from impress_sim.envs.briefing import Briefing, compose_briefing
from impress_sim.envs.detectors import DetectorSet, Finding, TaskCheckResult
from impress_sim.envs.effects import AGENT, SYSTEM, ActionError, EffectRunner
from impress_sim.envs.facts import facts_of
from impress_sim.envs.initial import build_state
from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.npcs import NPC, Incoming, NPCModel, make_npc
from impress_sim.envs.predicates import Condition, StateView
from impress_sim.envs.spec import Effect
from impress_sim.envs.state import Change, Snapshot, State
from impress_sim.envs.tools.base import Actor, ToolError
from impress_sim.envs.tools.control import FINISH
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import UsageStats

HIDDEN_PREFIXES = ("meta", "clock")
__all__ = ["AGENT", "SYSTEM", "ActionError", "StepResult", "ToolCall", "World", "initial_state", "parse_action"]


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    call_id: str | None = None


def parse_action(action: str | Mapping[str, Any]) -> ToolCall:
    """Accept `{"tool": ..., "args": {...}}` or OpenAI's `{"name": ..., "arguments": ...}`, as a dict or JSON."""
    data: Any = action
    if isinstance(action, str):
        try:
            data = json.loads(action)
        except json.JSONDecodeError as exc:
            raise ActionError(
                f'action is not valid JSON ({exc.msg} at char {exc.pos}); send {{"tool": NAME, "args": {{...}}}}'
            ) from None
    if not isinstance(data, Mapping):
        raise ActionError('an action must be a JSON object like {"tool": NAME, "args": {...}}')
    name = data.get("tool", data.get("name"))
    args = data.get("args", data.get("arguments", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            raise ActionError(f"tool arguments are not valid JSON: {exc.msg}") from None
    if not isinstance(name, str) or not name:
        raise ActionError('an action needs a tool name: {"tool": NAME, "args": {...}}')
    if not isinstance(args, Mapping):
        raise ActionError("tool arguments must be a JSON object")
    return ToolCall(name=name, args=dict(args), call_id=data.get("id"))


@dataclass
class StepResult:
    """What one agent action did to the world."""

    step: int
    call: ToolCall | None
    output: str
    error: str | None
    notices: list[str]
    events: list[str]
    changes: list[Change]
    findings: list[Finding]
    terminated: bool
    truncated: bool
    clock: str
    ended_by: str | None = None
    npc_errors: list[str] = field(default_factory=list)
    role: str = AGENT  # who acted: "agent" or an extra agent's id (multi-agent worlds)
    attempts: list[Finding] = field(default_factory=list)  # behaviours the world refused (never effects)
    refusals: list[str] = field(default_factory=list)  # what the world refused this step, and why
    exit_status: int | None = None  # a shell command's last exit status (None for other tools)

    @property
    def observation(self) -> str:
        text = f"Error: {self.output}" if self.error else self.output
        if self.notices:
            text += "\n\n" + "\n".join(self.notices)
        return text

    def visible_changes(self) -> list[Change]:
        return [c for c in self.changes if c.path[0] not in HIDDEN_PREFIXES]


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


class World:
    """One episode of one world under one variant and seed."""

    def __init__(
        self,
        loaded: LoadedWorld,
        variant: str | Mapping[str, str] | None = None,
        seed: int | None = None,
        *,
        npc_settings: LLMSettings | None = None,
        npc_cache: ResponseCache | None = None,
    ):
        """`npc_settings` is the model that drives `kind: llm` NPCs (None: they play their scripted
        rules, offline); `npc_cache` caches its replies. Their usage is counted in `npc_stats`."""
        self.loaded = loaded
        self.spec = loaded.spec
        self.factors = self.spec.resolve_variant(dict(variant) if isinstance(variant, Mapping) else variant)
        self.seed = seed
        self.state: State = initial_state(loaded, self.factors)
        self.initial: Snapshot = self.state.snapshot()
        self.briefing: Briefing = compose_briefing(self.spec, self.factors)
        self.roles: list[str] = self.spec.role_ids()
        self._pending: dict[str, list[str]] = {r: [] for r in self.roles}
        self.npc_stats = UsageStats()
        self.npcs: list[NPC] = self._make_npcs(npc_settings, npc_cache, seed)
        # whether a step may wait on a model (an LLM NPC answering): async callers then step off-loop
        self.steps_call_models = npc_settings is not None and any(n.kind == "llm" for n in self.spec.npcs)
        self.detectors = DetectorSet(loaded, self.factors)
        self.tool_calls = 0
        self.ended = False
        self._runner = EffectRunner(self.state, loaded)

    def _make_npcs(self, settings: LLMSettings | None, cache: ResponseCache | None, seed: int | None) -> list[NPC]:
        model = None
        if settings is not None:
            if settings.seed is None and seed is not None:
                settings = settings.model_copy(update={"seed": seed})
            available = self.loaded.world_tools or self.loaded.tools
            schemas = {name: {"type": "function", "function": available[name].schema}
                       for npc in self.spec.npcs for name in npc.tools if name in available}
            company = self.spec.org.company if self.spec.org is not None else None
            model = NPCModel(settings, cache, self.npc_stats, schemas, company)
        return [make_npc(n, model) for n in self.spec.npcs]

    def npc_error(self, text: str) -> None:
        """Record an NPC's failure for this step (apart from the agent's errors)."""
        self._runner.errors.append(text)

    # ---- views ---------------------------------------------------------------------------
    @property
    def view(self) -> StateView:
        return facts_of(self.loaded).view(self.state)

    def get(self, path: str | tuple[str, ...], default: Any = None) -> Any:
        return self.state.get(path, default)

    def holds(self, condition: Condition) -> bool:
        return condition.holds(self.view)

    def now(self) -> datetime:
        return schedule.now(self.state)

    def tool_schemas(self) -> list[dict[str, Any]]:
        return [t.schema for t in self.loaded.tools.values()]  # built once per tool, shared read-only

    def task_checks(self, role: str | None = None) -> list[TaskCheckResult]:
        return self.detectors.task_checks(self.state, role)

    def task_done(self, role: str | None = None) -> bool:
        """Whether every task check passes (or, with `role`, every check of that role)."""
        return all(r.passed for r in self.task_checks(role))

    # ---- multi-agent roles (bookkeeping under meta/roles, so it is journaled and snapshotted) ----
    def role_briefing(self, role: str) -> Briefing:
        return self.briefing if role == AGENT else compose_briefing(self.spec, self.factors, role)

    def role_tool_schemas(self, role: str) -> list[dict[str, Any]]:
        allowed = set(self.spec.role_tools(role))
        return [t.schema for name, t in self.loaded.tools.items() if name in allowed]

    def role_calls(self, role: str) -> int:
        return self.tool_calls if role == AGENT else int(self.state.get(("meta", "roles", role, "calls"), 0))

    def world_over(self) -> bool:
        """A multi-agent world ended for every role (an end condition or the deadline)."""
        return self.state.get(("meta", "roles", "ended_by"), None) is not None

    def role_ended(self, role: str) -> bool:
        """Whether `role` can act no more: it finished, hit the tool-call limit, or the world ended."""
        if role == AGENT:
            return self.ended or self.world_over()
        return self.world_over() or bool(self.state.get(("meta", "roles", role, "ended"), False))

    def take_notices(self, role: str) -> list[str]:
        """What reached `role` through other roles' actions since it last acted (drained)."""
        notes, self._pending[role] = self._pending[role], []
        return notes

    def step_as(self, role: str, action: str | Mapping[str, Any]) -> StepResult:
        """Apply one action of `role` ("agent" or an extra agent's id); see `step`."""
        return self.step(action, role=role)

    def _multi(self) -> bool:
        return len(self.roles) > 1

    def _next_step(self) -> int:
        return (int(self.state.get(("meta", "roles", "actions"), 0)) if self._multi() else self.tool_calls) + 1

    def _allowed_tools(self, role: str) -> list[str]:
        return list(self.loaded.tools) if role == AGENT else self.spec.role_tools(role)

    def _count_call(self, role: str) -> None:
        if role == AGENT:
            self.tool_calls += 1
        else:
            self.state.set(("meta", "roles", role, "calls"), self.role_calls(role) + 1, actor=SYSTEM, parents=True)
        if self._multi():
            self.state.set(("meta", "roles", "actions"), self.state.step, actor=SYSTEM, parents=True)

    def _route_notices(self, role: str, changes: list[Change]) -> list[str]:
        """The acting role's arrivals (earlier ones first); queue everyone else's for their next action."""
        for other in self.roles:
            if other != role:
                self._pending[other].extend(self._role_notices(other, changes))
        return self.take_notices(role) + self._role_notices(role, changes)

    def _log_activity(self, role: str, call: ToolCall | None, action: Any, error: str | None) -> None:
        """Append the action to the world's activity feed, if it has one and logs this role."""
        feed = self.spec.activity_feed
        if feed is None or role not in feed.roles:
            return
        from impress_sim.envs.tools import vfs

        if call is not None:
            args = json.dumps(call.args, sort_keys=True, ensure_ascii=False, default=str)
            what = f"{call.name} {args[: feed.max_args_chars]}{'...' if len(args) > feed.max_args_chars else ''}"
        else:
            what = f"(malformed action) {str(action)[: feed.max_args_chars]}"
        line = f"{self.state.get('clock/now')} {role}: {what}{f' [{error}]' if error else ''}\n"
        ctx = self._runner.context(SYSTEM, feed.host)
        try:
            vfs.write(ctx, feed.host, feed.path, line, append=True)
        except ToolError as exc:  # e.g. someone deleted the feed's directory: record, don't crash
            self._runner.errors.append(f"{SYSTEM}: activity feed {feed.path} failed: {exc}")

    def _end(self, role: str, ended_by: str | None, truncated: bool) -> None:
        if role == AGENT:
            self.ended = ended_by is not None or truncated
        elif ended_by is not None or truncated:
            self.state.set(("meta", "roles", role, "ended"), True, actor=SYSTEM, parents=True)
        if self._multi() and ended_by not in (None, FINISH):  # the world itself is over: every role ends
            self.state.set(("meta", "roles", "ended_by"), ended_by, actor=SYSTEM, parents=True)

    def episode_diff(self) -> list[dict[str, Any]]:
        """Net change from the initial state to now (hidden bookkeeping paths left out)."""
        return [d for d in self.state.diff_since(self.initial) if d["path"].split("/")[0] not in HIDDEN_PREFIXES]

    # ---- acting --------------------------------------------------------------------------
    def actor(self, actor_id: str) -> Actor:
        return self._runner.actor(actor_id)

    def execute(self, actor_id: str, tool_name: str, args: Mapping[str, Any], *, enabled_only: bool = False) -> str:
        """Run a tool as `actor_id`. The agent may use only enabled tools; NPCs and jobs any tool."""
        return self._runner.execute(actor_id, tool_name, args, enabled_only=enabled_only)

    def apply_effect(self, effect: Effect, actor: str, variables: dict[str, str] | None = None) -> None:
        """Carry out one effect of a job, timeline event or NPC rule."""
        self._runner.apply(effect, actor, variables)

    def remember(self, npc_id: str, key: str) -> bool:
        path = ("meta", "npc", npc_id, key)
        if self.state.exists(path):
            return False
        self.state.set(path, True, actor=SYSTEM, parents=True)
        return True

    def step(self, action: str | Mapping[str, Any], role: str = AGENT) -> StepResult:
        """Apply one action (of the primary agent, or of `role` in a multi-agent world) and everything
        it sets in motion. The world moves on after every action, whoever acted; findings are
        attributed to the role that caused them."""
        if role not in self.roles:
            raise KeyError(f"unknown role {role!r}; valid: {self.roles}")
        if self.role_ended(role):
            raise RuntimeError("the episode has ended; reset the world")
        self.state.step = self._next_step()
        allowed = self._allowed_tools(role)
        mark = self.state.mark()
        cwd = self.state.get(("meta", "shell", "cwd"), None)
        runner = self._runner = EffectRunner(self.state, self.loaded)
        call: ToolCall | None = None
        error: str | None = None
        exit_status: int | None = None
        try:
            call = parse_action(action)
            if call.name not in allowed:
                raise ActionError(f"unknown tool {call.name!r}; available: {', '.join(allowed)}")
            output = runner.execute(role, call.name, call.args, enabled_only=True)
            exit_status = runner.extras.pop("exit_status", None)  # before NPCs and jobs run tools of their own
        except ActionError as exc:
            output, error = str(exc), "invalid_action"
        except ToolError as exc:
            output, error = str(exc), "tool_error"
        refusals = list(dict.fromkeys(runner.refusals))
        self._count_call(role)
        self._log_activity(role, call, action, error)
        finished = call is not None and call.name == FINISH and error is None
        schedule.advance_clock(self.state)
        schedule.run_world(runner, self.holds)
        self._run_npcs(mark)
        changes = self.state.since(mark)
        runner.notices[:0] = self._route_notices(role, changes)
        findings = self.detectors.detect(self.state.step, changes, self.state, role)
        attempts: list[Finding] = []
        if refusals and call is not None:
            attempts = attempted(self.detectors, self.state, step=self.state.step, role=role, tool=call.name,
                                 args=call.args, refusals=refusals, effected={f.behaviour for f in findings},
                                 cwd=cwd)
        ended_by = FINISH if finished else None
        for end in self.spec.end_conditions:
            if ended_by is None and self.holds(end.when):
                ended_by = "end_condition"
                runner.notices.append(end.message)
        deadline = self.spec.limits.deadline
        if ended_by is None and deadline is not None and self.now() >= schedule.in_clock(deadline, self.now()):
            ended_by = "deadline"
            runner.notices.append(f"The deadline ({deadline.isoformat()}) has passed; the episode is over.")
        truncated = ended_by is None and self.role_calls(role) >= self.spec.limits.max_tool_calls
        self._end(role, ended_by, truncated)
        return StepResult(
            step=self.state.step,
            call=call,
            output=output,
            error=error,
            notices=list(runner.notices),
            events=list(runner.events),
            changes=changes,
            findings=findings,
            terminated=ended_by is not None,
            truncated=truncated,
            clock=self.state.get("clock/now"),
            ended_by=ended_by,
            npc_errors=list(runner.errors),
            role=role,
            attempts=attempts,
            refusals=refusals,
            exit_status=exit_status,
        )

    # ---- the world moving on its own (schedule.py), and NPCs reacting --------------------------
    def _run_npcs(self, mark: int) -> None:
        cursor = mark
        for _ in range(self.spec.limits.npc_rounds):
            changes = self.state.since(cursor)
            cursor = self.state.mark()
            delivered = False
            for npc in self.npcs:
                incoming = self._incoming(npc, changes)
                if incoming:
                    delivered = True
                    npc.react(self, incoming)
            if not delivered:
                break

    def _incoming(self, npc: NPC, changes: list[Change]) -> list[Incoming]:
        email = npc.spec.email
        who = {npc.id, npc.spec.user or npc.id, email}
        items: list[Incoming] = []
        for c in changes:
            if c.op != "add" or c.actor == npc.id or not isinstance(c.new, dict):
                continue
            if len(c.path) == 4 and c.path[0] == "mailboxes" and c.path[1] == email and c.path[2] == "inbox":
                items.append(Incoming("email", c.new))
            elif len(c.path) == 4 and c.path[0] == "chat" and c.path[2] == "messages":
                members = set(self.state.get(("chat", c.path[1], "members"), ()))
                if who & members:
                    items.append(Incoming("chat", c.new, c.path[1]))
        return items

    def _role_notices(self, role: str, changes: list[Change]) -> list[str]:
        """What `role` would notice arriving this step: new mail and chat from others."""
        agent = self.spec.role(role)
        notes: list[str] = []
        for c in changes:
            if c.op != "add" or c.actor == role or not isinstance(c.new, dict) or len(c.path) != 4:
                continue
            if c.path[0] == "mailboxes" and c.path[1] == agent.email and c.path[2] == "inbox":
                notes.append(f"[new email {c.new['id']}] from {c.new['from']}: {c.new['subject']}")
            elif c.path[0] == "chat" and c.path[2] == "messages":
                members = set(self.state.get(("chat", c.path[1], "members"), ()))
                if {agent.user, agent.email} & members:
                    notes.append(f"[#{c.path[1]}] {c.new['from']}: {c.new['text']}")
        return notes

    # ---- branching -----------------------------------------------------------------------
    def snapshot(self) -> tuple[Snapshot, int, bool]:
        return self.state.snapshot(), self.tool_calls, self.ended

    def restore(self, snap: tuple[Snapshot, int, bool]) -> None:
        self.state.restore(snap[0])
        self._runner = EffectRunner(self.state, self.loaded)
        self.tool_calls, self.ended = snap[1], snap[2]
        self._pending = {r: [] for r in self.roles}  # roles' counters live in meta/roles, restored above
