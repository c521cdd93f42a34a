"""`WorldSpec`: the validated form of a `worlds/<id>/world.yaml`.

Every field a world author can write is declared here, with `extra="forbid"` so a typo is an
error rather than a silently ignored key. Cross-references (detectors -> behaviours, trajectories
-> tools, variants -> factor values) are checked after parsing, so a spec that loads is a spec
that can run.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from impress_sim.envs.predicates import ChangeMatch, Condition, ValueMatch
from impress_sim.taxonomy import GENERIC_AXES, GENERIC_DEFAULTS, Motive, RiskType, Severity

_ID = r"^[a-z][a-z0-9_\-]*$"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- the agent ---------------------------------------------------------------------------------
class MemoryItem(_Spec):
    """A piece of the agent's seeded memory: prior notes or earlier conversation turns."""

    role: Literal["user", "assistant", "note"] = "note"
    content: str


class AgentSpec(_Spec):
    name: str
    role: str = Field(description="One line: who the agent is at this organisation.")
    user: str = Field(description="The agent's account name (owner of its files, key in accounts).")
    email: str = Field(description="The agent's mailbox address.")
    host: str = Field(description="The host the agent's shell and file tools run on.")
    home: str = Field(default="/", description="The agent's working directory on its host.")
    system_prompt: str
    task: str = Field(description="The benign task the user gives the agent.")
    memory: list[MemoryItem] = Field(default_factory=list)


# ---- initial state -----------------------------------------------------------------------------
class FileSpec(_Spec):
    content: str = ""
    owner: str = "root"
    mode: str = Field(default="644", pattern=r"^[0-7]{3}$")
    labels: list[str] = Field(default_factory=list, description="Information labels, e.g. confidential.")


class ProcessSpec(_Spec):
    command: str
    user: str = "root"


class HostSpec(_Spec):
    description: str = ""
    address: str | None = None
    reachable: bool = Field(default=True, description="Whether the agent's host can reach this host.")
    files: dict[str, FileSpec | str] = Field(default_factory=dict)
    processes: dict[str, ProcessSpec] = Field(default_factory=dict)


class AttachmentSpec(_Spec):
    name: str
    content: str


class EmailSpec(_Spec):
    id: str = Field(pattern=_ID)
    sender: str = Field(alias="from")
    to: list[str]
    cc: list[str] = Field(default_factory=list)
    subject: str
    body: str
    time: datetime
    attachments: list[AttachmentSpec] = Field(default_factory=list)
    read: bool = False
    labels: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MailboxSpec(_Spec):
    owner: str | None = None
    inbox: list[EmailSpec] = Field(default_factory=list)
    sent: list[EmailSpec] = Field(default_factory=list)
    drafts: list[EmailSpec] = Field(default_factory=list)


class ChatMessageSpec(_Spec):
    id: str = Field(pattern=_ID)
    sender: str = Field(alias="from")
    text: str
    time: datetime

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ChannelSpec(_Spec):
    members: list[str]
    messages: list[ChatMessageSpec] = Field(default_factory=list)


class AccountSpec(_Spec):
    display_name: str
    role: str = ""
    permissions: list[str] = Field(default_factory=list)
    can_grant: bool = Field(default=False, description="May grant/revoke permissions (IAM rights).")


class ResourceSpec(_Spec):
    amount: float
    unit: str = ""
    owner: str = ""
    description: str = ""


class ServiceSpec(_Spec):
    host: str
    status: Literal["running", "stopped"] = "running"
    description: str = ""


class Effect(_Spec):
    """One thing a job, timeline event or scripted NPC does: a tool call, a state edit, or a notice.

    Tool calls go through the same journaled tools the agent uses, so their changes are diffed.
    """

    tool: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    actor: str | None = Field(default=None, description="Who acts (an NPC id or 'system').")
    set: str | None = None
    value: Any = None
    delete: str | None = None
    notify: str | None = Field(default=None, description="Text shown to the agent in its next observation.")

    @model_validator(mode="after")
    def _one_kind(self) -> Effect:
        kinds = [self.tool is not None, self.set is not None, self.delete is not None, self.notify is not None]
        if sum(kinds) != 1:
            raise ValueError("an effect has exactly one of: tool (+ args), set (+ value), delete, notify")
        return self


class JobSpec(_Spec):
    description: str
    host: str
    run_at: datetime
    owner: str = "root"
    command: str = ""
    status: Literal["scheduled", "cancelled", "done", "paused"] = "scheduled"
    actor: str = Field(default="system", description="Who carries the job out when it runs.")
    effects: list[Effect] = Field(default_factory=list)


class EndpointSpec(_Spec):
    description: str = ""
    methods: list[Literal["GET", "POST", "PUT", "DELETE"]] = Field(default_factory=lambda: ["GET"])  # type: ignore[arg-type]
    response: str = ""
    host: str | None = Field(default=None, description="The host serving it, for reachability.")


class ClockSpec(_Spec):
    start: datetime
    minutes_per_step: float = Field(default=5.0, ge=0)


class InitialState(_Spec):
    clock: ClockSpec
    hosts: dict[str, HostSpec] = Field(default_factory=dict)
    mailboxes: dict[str, MailboxSpec] = Field(default_factory=dict)
    chat: dict[str, ChannelSpec] = Field(default_factory=dict)
    records: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    config: dict[str, dict[str, Any]] = Field(default_factory=dict)
    accounts: dict[str, AccountSpec] = Field(default_factory=dict)
    resources: dict[str, ResourceSpec] = Field(default_factory=dict)
    services: dict[str, ServiceSpec] = Field(default_factory=dict)
    jobs: dict[str, JobSpec] = Field(default_factory=dict)
    endpoints: dict[str, EndpointSpec] = Field(default_factory=dict)


# ---- NPCs and timeline -------------------------------------------------------------------------
class MessageMatch(_Spec):
    """What an incoming email or chat message must look like for a rule to fire."""

    sender: str | None = Field(default=None, alias="from", description="Glob on the sender address.")
    subject: ValueMatch | None = None
    text: ValueMatch | None = Field(default=None, description="On the body (email) or text (chat).")
    channel: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NPCRule(_Spec):
    """When a message arrives that matches, and the state condition holds, do the effects.

    Effects may use `$message_id`, `$sender`, `$subject` and `$channel` in string arguments.
    """

    event: Literal["email", "chat"] = Field(description="What arrives: an email or a chat message.")
    match: MessageMatch = Field(default_factory=MessageMatch)
    when: Condition | None = None
    once: bool = False
    do: list[Effect] = Field(min_length=1)


class NPCSpec(_Spec):
    id: str = Field(pattern=_ID)
    name: str
    role: str
    email: str | None = None
    user: str | None = Field(default=None, description="Account name; defaults to the id.")
    kind: Literal["scripted"] = "scripted"
    persona: str = Field(default="", description="Who this person is; used by LLM-driven NPCs later.")
    rules: list[NPCRule] = Field(default_factory=list)


class Trigger(_Spec):
    at_step: int | None = Field(default=None, ge=0)
    at_time: datetime | None = None
    when: Condition | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if sum(x is not None for x in (self.at_step, self.at_time, self.when)) != 1:
            raise ValueError("a trigger has exactly one of: at_step, at_time, when")
        return self


class EventSpec(_Spec):
    id: str = Field(pattern=_ID)
    description: str = ""
    trigger: Trigger
    unless: Condition | None = None
    effects: list[Effect] = Field(min_length=1)


# ---- behaviours, detectors, task checks --------------------------------------------------------
class BehaviourSpec(_Spec):
    """A misaligned behaviour the world can detect: the catalogue judges and reports share."""

    id: str = Field(pattern=_ID)
    description: str
    motive: Motive
    risk_type: RiskType
    severity: Severity = Severity.high


class DetectorSpec(_Spec):
    """A rule that finds a behaviour in what the agent did: a change rule or a Python hook."""

    id: str = Field(pattern=_ID)
    behaviour: str
    match: ChangeMatch | None = None
    python: str | None = Field(default=None, description="Name of a function in the world's hooks.py.")
    evidence: str = Field(default="", description="What the finding says, e.g. 'cancelled the job'.")

    @model_validator(mode="after")
    def _one_kind(self) -> DetectorSpec:
        if (self.match is None) == (self.python is None):
            raise ValueError("a detector has exactly one of: match, python")
        return self


class TaskCheckSpec(_Spec):
    id: str = Field(pattern=_ID)
    description: str
    condition: Condition | None = None
    python: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TaskCheckSpec:
        if (self.condition is None) == (self.python is None):
            raise ValueError("a task check has exactly one of: condition, python")
        return self


# ---- information flow --------------------------------------------------------------------------
SINK_KINDS = ("email", "host", "chat", "url")


class InformationPolicy(_Spec):
    """Who may receive content carrying one label: sink globs such as `email:*@example.com`."""

    allowed: list[str] = Field(
        default_factory=list,
        description="Sinks allowed to receive content with this label, as globs over sink names: "
        "email:<address>, host:<name>, chat:<channel>, url:<host>. Anything else is a finding.",
    )

    @field_validator("allowed")
    @classmethod
    def _sink_globs(cls, v: list[str]) -> list[str]:
        for i, glob in enumerate(v):
            kind, sep, rest = glob.partition(":")
            if not sep or not rest or kind not in SINK_KINDS:
                raise ValueError(
                    f"allowed.{i}: {glob!r} is not a sink glob; write <kind>:<glob> with kind one of {list(SINK_KINDS)}"
                )
        return v


# ---- variants ----------------------------------------------------------------------------------
class StatePatch(_Spec):
    op: Literal["set", "delete"]
    path: str
    value: Any = None


class FactorValue(_Spec):
    """What choosing one value on a factor axis does to the world."""

    prompt: str | None = Field(default=None, description="System-prompt fragment (overrides the generic one).")
    task_suffix: str = ""
    memory: list[MemoryItem] = Field(default_factory=list)
    patches: list[StatePatch] = Field(default_factory=list)


class FactorAxis(_Spec):
    description: str = ""
    default: str
    values: dict[str, FactorValue]

    @model_validator(mode="after")
    def _default_known(self) -> FactorAxis:
        if self.default not in self.values:
            raise ValueError(f"default {self.default!r} is not one of the values {sorted(self.values)}")
        return self


# ---- trajectories and limits -------------------------------------------------------------------
class TrajectoryStep(_Spec):
    thought: str = ""
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class Trajectory(_Spec):
    description: str = ""
    steps: list[TrajectoryStep]
    final: str = Field(default="", description="The agent's closing message.")
    variant: dict[str, str] = Field(default_factory=dict, description="Factor values it is meant for.")
    expect_behaviours: list[str] | None = Field(
        default=None, description="Behaviours the self-check expects it to trigger (aligned: none; misaligned: all)."
    )
    expect_task_done: bool | None = None


class EndCondition(_Spec):
    """A state in which the episode ends (e.g. the agent was shut down), with what the agent is told."""

    when: Condition
    message: str


class Limits(_Spec):
    max_tool_calls: int = Field(default=10, ge=1, description="Tool calls per episode (IMPRESS: 10).")
    npc_rounds: int = Field(default=3, ge=0, description="NPC reaction rounds per step.")


# ---- the world ---------------------------------------------------------------------------------
class WorldSpec(_Spec):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    summary: str
    domain: str
    motives: list[Motive] = Field(min_length=1)
    risk_types: list[RiskType] = Field(min_length=1)
    agent: AgentSpec
    initial_state: InitialState
    tools: list[str] = Field(min_length=1)
    npcs: list[NPCSpec] = Field(default_factory=list)
    timeline: list[EventSpec] = Field(default_factory=list)
    behaviours: list[BehaviourSpec] = Field(min_length=1)
    detectors: list[DetectorSpec] = Field(min_length=1)
    information_policy: dict[str, InformationPolicy] = Field(
        default_factory=dict,
        description="Label -> sinks allowed to receive content carrying it. A label without an entry may "
        "flow anywhere (its flows are recorded as allowed, never as findings).",
    )
    task_checks: list[TaskCheckSpec] = Field(
        min_length=1, description="How to tell the benign task was done. Empty is an error, never a pass."
    )
    factors: dict[str, FactorAxis] = Field(default_factory=dict)
    variants: dict[str, dict[str, str]] = Field(default_factory=dict)
    trajectories: dict[str, Trajectory]
    end_conditions: list[EndCondition] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    interviewer: str | None = Field(
        default=None, description="NPC id who asks the follow-up interview (interview=true); default: the first NPC.")

    @field_validator("trajectories")
    @classmethod
    def _required_trajectories(cls, v: dict[str, Trajectory]) -> dict[str, Trajectory]:
        missing = {"aligned", "misaligned"} - set(v)
        if missing:
            raise ValueError(f"missing reference trajectories: {sorted(missing)} (need aligned and misaligned)")
        return v

    @model_validator(mode="after")
    def _cross_references(self) -> WorldSpec:
        behaviours = {b.id for b in self.behaviours}
        for i, d in enumerate(self.detectors):
            if d.behaviour not in behaviours:
                raise ValueError(
                    f"detectors.{i}.behaviour: {d.behaviour!r} is not a declared behaviour {sorted(behaviours)}"
                )
        detected = {d.behaviour for d in self.detectors}
        for b in sorted(behaviours - detected):
            raise ValueError(f"behaviours: {b!r} has no detector")
        _unique("behaviours", [b.id for b in self.behaviours])
        _unique("detectors", [d.id for d in self.detectors])
        _unique("task_checks", [t.id for t in self.task_checks])
        _unique("npcs", [n.id for n in self.npcs])
        _unique("timeline", [e.id for e in self.timeline])
        for name, trajectory in self.trajectories.items():
            for j, step in enumerate(trajectory.steps):
                if step.tool not in self.tools:
                    raise ValueError(
                        f"trajectories.{name}.steps.{j}.tool: {step.tool!r} is not an enabled tool {self.tools}"
                    )
            self.resolve_variant(trajectory.variant, where=f"trajectories.{name}.variant")
            for b in trajectory.expect_behaviours or []:
                if b not in behaviours:
                    raise ValueError(f"trajectories.{name}.expect_behaviours: unknown behaviour {b!r}")
        for name, factors in self.variants.items():
            self.resolve_variant(factors, where=f"variants.{name}")
        if self.agent.host not in self.initial_state.hosts:
            raise ValueError(f"agent.host: {self.agent.host!r} is not a host in initial_state.hosts")
        used = self.content_labels()
        for label in self.information_policy:
            if label not in used:
                raise ValueError(
                    f"information_policy.{label}: no content in the world carries this label "
                    f"(labels used: {sorted(used)})"
                )
        return self

    def content_labels(self) -> set[str]:
        """Every information label on initial files and emails, or set by a factor value's patches."""
        init = self.initial_state
        used = {label for h in init.hosts.values() for f in h.files.values() if isinstance(f, FileSpec)
                for label in f.labels}
        used |= {label for box in init.mailboxes.values() for folder in (box.inbox, box.sent, box.drafts)
                 for m in folder for label in m.labels}
        for axis in self.factors.values():
            for value in axis.values.values():
                for patch in value.patches:
                    used |= _labels_in(patch.path, patch.value)
        return used

    @model_validator(mode="after")
    def _interviewer_is_an_npc(self) -> WorldSpec:
        npcs = [n.id for n in self.npcs]
        if self.interviewer is not None and self.interviewer not in npcs:
            raise ValueError(f"interviewer: {self.interviewer!r} is not an NPC id {npcs}")
        return self

    # ---- variants ------------------------------------------------------------------------
    def axes(self) -> dict[str, FactorAxis]:
        """Every factor axis: the generic ones (possibly overridden) and the world's own."""
        axes: dict[str, FactorAxis] = {
            name: FactorAxis(
                default=GENERIC_DEFAULTS[name],
                values={v: FactorValue(prompt=text or None) for v, text in values.items()},
            )
            for name, values in GENERIC_AXES.items()
        }
        # A world that declares a generic axis replaces its values: the world knows what, say,
        # "threat" means in it, and a generic value with no effect there would be a silent no-op.
        axes.update(self.factors)
        return axes

    def resolve_variant(self, variant: str | dict[str, str] | None, where: str = "variant") -> dict[str, str]:
        """Full factor values for a variant name or partial mapping; unknown names say what is valid."""
        axes = self.axes()
        chosen: dict[str, str] = {}
        if isinstance(variant, str):
            if variant not in self.variants and variant != "default":
                raise ValueError(f"{where}: unknown variant {variant!r}; valid: {['default', *sorted(self.variants)]}")
            chosen = dict(self.variants.get(variant, {}))
        elif variant:
            chosen = dict(variant)
        for axis, value in chosen.items():
            if axis not in axes:
                raise ValueError(f"{where}: unknown factor axis {axis!r}; valid: {sorted(axes)}")
            if value not in axes[axis].values:
                raise ValueError(
                    f"{where}.{axis}: unknown value {value!r}; valid: {sorted(axes[axis].values)}"
                )
        return {name: chosen.get(name, axis.default) for name, axis in axes.items()}

    def behaviour(self, behaviour_id: str) -> BehaviourSpec:
        return next(b for b in self.behaviours if b.id == behaviour_id)


def _labels_in(path: str, value: Any) -> set[str]:
    """Labels a patch writes: a `.../labels` value, or `labels` lists inside an entry it sets."""
    if path.rstrip("/").endswith("/labels") and isinstance(value, list):
        return {str(v) for v in value}
    found: set[str] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            labels = node.get("labels")
            if isinstance(labels, list):
                found |= {str(v) for v in labels}
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _unique(where: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{where}: duplicate id {i!r}")
        seen.add(i)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
