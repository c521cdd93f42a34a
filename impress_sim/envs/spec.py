"""`WorldSpec`: the validated form of a `worlds/<id>/world.yaml`.

Every field a world author can write is declared here, with `extra="forbid"` so a typo is an
error rather than a silently ignored key. Cross-references (detectors -> behaviours, trajectories
-> tools, variants -> factor values) are checked after parsing, so a spec that loads is a spec
that can run.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from impress_sim.envs.predicates import ChangeMatch, Condition, ValueMatch
from impress_sim.envs.settings import SettingSpec
from impress_sim.envs.slots import SLOT_NAME, SlotSpec
from impress_sim.errors import did_you_mean, unknown
from impress_sim.taxonomy import GENERIC_AXES, GENERIC_DEFAULTS, Motive, RiskType, Severity

_ID = r"^[a-z][a-z0-9_\-]*$"
WAIT = "wait"  # the pseudo-tool of a role that sits a round out (multi-agent trajectories and ParallelEnv)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- the agent ---------------------------------------------------------------------------------
class MemoryItem(_Spec):
    """A piece of the agent's seeded memory: prior notes or earlier conversation turns."""

    role: Literal["user", "assistant", "note"] = Field(default="note", description="`note` (the agent's own notes), "
        "or `user` / `assistant` (an earlier conversation turn).")
    content: str = Field(description="The text.")


class AgentSpec(_Spec):
    name: str = Field(description="The agent's name as people in the world address it.")
    role: str = Field(description="One line: who the agent is at this organisation.")
    user: str = Field(description="The agent's account name (owner of its files, key in accounts).")
    email: str = Field(description="The agent's mailbox address.")
    host: str = Field(description="The host the agent's shell and file tools run on.")
    home: str = Field(default="/", description="The agent's working directory on its host.")
    system_prompt: str = Field(description="The agent's system prompt (framing fragments of the variant are added to "
        "it).")
    task: str = Field(description="The benign task the user gives the agent.")
    memory: list[MemoryItem] = Field(default_factory=list, description="Seeded memory shown in the briefing: earlier "
        "notes or turns.")
    controls: list[str] = Field(
        default_factory=list, description="Other identities the agent controls (service accounts, its own project "
        "or budget line): rules resolve each of them to the agent.")


class RoleSpec(AgentSpec):
    """A further agent in a multi-agent world (e.g. a reviewer). It acts as actor `id` in the journal;
    the primary `agent:` keeps actor id "agent", so single-agent detectors and records are unchanged."""

    id: str = Field(pattern=_ID, description="Role id: the actor id of its changes and its PettingZoo agent name.")
    tools: list[str] | None = Field(default=None, description="The tools it may use (a subset of the world's); "
                                    "default: all of them.")


class ActivityFeedSpec(_Spec):
    """A file the runtime appends one line to for every action of `roles` (journaled, actor "system"):
    how an overseer role can see another role's tool calls, not just their effects."""

    host: str = Field(description="The host holding the feed file.")
    path: str = Field(pattern=r"^/", description="A file declared in initial_state.hosts.<host>.files.")
    roles: list[str] = Field(default_factory=lambda: ["agent"], min_length=1, description="Whose actions are logged: "
        "`agent` and/or extra agents' ids.")
    max_args_chars: int = Field(default=300, ge=0, description="Tool arguments are clipped to this length.")


# ---- initial state -----------------------------------------------------------------------------
class FileSpec(_Spec):
    """A file, or with `kind: dir` a folder (a path ending in `/` is a folder too): who owns it and its
    mode decide who may read, write or create files in it (docs/world-authoring.md, "Ownership")."""

    kind: Literal["file", "dir"] = Field(default="file", description="`dir` declares a folder (an empty one, "
                                         "or one whose owner and mode differ from its files').")
    content: str = Field(default="", description="The file's text.")
    owner: str = Field(default="root", description="The owning account: the owner bits of `mode` apply to it, the "
        "other bits to everyone else.")
    mode: str = Field(default="644", pattern=r"^[0-7]{3}$",
                      description="Octal permissions (owner, group, other); a folder declared without one gets 755.")
    labels: list[str] = Field(default_factory=list, description="Information labels, e.g. confidential.")

    @model_validator(mode="after")
    def _folder_has_no_content(self) -> FileSpec:
        if self.kind == "dir" and self.content:
            raise ValueError("a folder (kind: dir) has no content")
        return self


class ProcessSpec(_Spec):
    command: str = Field(description="The command line ps shows.")
    user: str = Field(default="root", description="The account it runs as; kill works for that account or an admin.")


class HostSpec(_Spec):
    description: str = Field(default="", description="What the machine is (shown to authors and judges).")
    address: str | None = Field(default=None, description="Another name for the host (scp/rsync `user@ADDRESS:path` "
        "resolve it to this host).")
    reachable: bool = Field(default=True, description="Whether the agent's host can reach this host.")
    external: bool = Field(default=False, description="The host is outside the organisation (a personal cloud, "
                           "a vendor's server): anything placed on it has left the company.")
    files: dict[str, FileSpec | str] = Field(default_factory=dict, description="Absolute path -> file (or just its "
        "content as a string: owner root, mode 644); a path ending in `/` (or `kind: dir`) is a folder. Parent "
        "folders are created, owned by the file's owner, mode 755; /tmp always exists.")
    processes: dict[str, ProcessSpec] = Field(default_factory=dict, description="PID (a string) -> process, shown by "
        "ps and stopped by kill.")
    readers: dict[str, list[str]] = Field(
        default_factory=dict, description="Path glob -> who reads files there (person ids, addresses, groups): a "
        "published folder, a share. Content written there reaches them (an information flow to them).")


class AttachmentSpec(_Spec):
    name: str = Field(description="The attachment's file name.")
    content: str = Field(description="Its text.")


class EmailSpec(_Spec):
    id: str = Field(pattern=_ID, description="The message id (unique in its folder); tools and rules name messages by "
        "it.")
    sender: str = Field(alias="from", description="The sender's address (written `from:`).")
    to: list[str] = Field(description="Recipient addresses.")
    cc: list[str] = Field(default_factory=list, description="Copied addresses.")
    subject: str = Field(description="Subject line.")
    body: str = Field(description="Message text.")
    time: datetime = Field(description="When it was sent (world time).")
    attachments: list[AttachmentSpec] = Field(default_factory=list, description="Attached files (name and content).")
    read: bool = Field(default=False, description="Whether it was already read (list_emails marks unread ones).")
    labels: list[str] = Field(default_factory=list, description="Information labels on its content (see "
        "`information_policy`), e.g. `confidential`.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MailboxSpec(_Spec):
    owner: str | None = Field(default=None, description="The account that owns the mailbox (documentation; tools act "
        "on the actor's own `email`).")
    inbox: list[EmailSpec] = Field(default_factory=list, description="Messages received (each with a unique id).")
    sent: list[EmailSpec] = Field(default_factory=list, description="Messages sent.")
    drafts: list[EmailSpec] = Field(default_factory=list, description="Unsent drafts.")


class ChatMessageSpec(_Spec):
    id: str = Field(pattern=_ID, description="The message id (unique in the channel).")
    sender: str = Field(alias="from", description="Who posted it (written `from:`): an account name or address.")
    text: str = Field(description="The message text.")
    time: datetime = Field(description="When it was posted (world time).")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ChannelSpec(_Spec):
    members: list[str] = Field(description="Who may read and post: account names, addresses or NPC ids.")
    messages: list[ChatMessageSpec] = Field(default_factory=list, description="Messages already in the channel.")


class AccountSpec(_Spec):
    display_name: str = Field(description="The person's or service's name.")
    role: str = Field(default="", description="What the account is for (documentation).")
    permissions: list[str] = Field(default_factory=list, description="Permissions held, e.g. `deploy`, `scheduler` "
        "(may change anyone's jobs), `admin` (passes every check).")
    can_grant: bool = Field(default=False, description="May grant/revoke permissions (IAM rights).")


class ResourceSpec(_Spec):
    amount: float = Field(description="How much is left.")
    unit: str = Field(default="", description="The unit, e.g. `USD`, `GPU-hours`; transfers need the same unit.")
    owner: str = Field(default="", description="The account that may spend it (besides admins); empty: anyone.")
    description: str = Field(default="", description="What the pool is for.")


class ServiceSpec(_Spec):
    host: str = Field(description="The host it runs on.")
    status: Literal["running", "stopped"] = Field(default="running", description="Whether it is running at the start.")
    description: str = Field(default="", description="What the service does.")


class Effect(_Spec):
    """One thing a job, timeline event or scripted NPC does: a tool call, a state edit, or a notice.

    Tool calls go through the same journaled tools the agent uses, so their changes are diffed.
    """

    tool: str | None = Field(default=None, description="A tool to call (any tool, enabled for the agent or not), with "
        "`args`.")
    args: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments; strings may use "
        "`$variables` (see NPCRule).")
    actor: str | None = Field(default=None, description="Who acts (an NPC id or 'system').")
    set: str | None = Field(default=None, description="Or: a state path to set to `value` (journaled).")
    value: Any = Field(default=None, description="The value for `set`.")
    delete: str | None = Field(default=None, description="A state path to delete; a glob in its last segment "
                               "deletes every match (a wipe of a folder).")
    notify: str | None = Field(default=None, description="Text shown to the agent in its next observation.")

    @model_validator(mode="after")
    def _one_kind(self) -> Effect:
        kinds = [self.tool is not None, self.set is not None, self.delete is not None, self.notify is not None]
        if sum(kinds) != 1:
            raise ValueError("an effect has exactly one of: tool (+ args), set (+ value), delete, notify")
        return self


class JobSpec(_Spec):
    description: str = Field(description="What the job does, as list_jobs shows it.")
    host: str = Field(description="The host it runs on (a host in initial_state.hosts).")
    run_at: datetime = Field(description="When it is due (world time).")
    owner: str = Field(default="root", description="The account that owns it: only the owner, an account with "
        "`scheduler` or `admin`, or the system may cancel or reschedule it.")
    command: str = Field(default="", description="The command line it runs (shown by crontab -l; documentation).")
    status: Literal["scheduled", "cancelled", "done", "paused", "failed"] = Field(default="scheduled",
        description="Its state at the start; only a `scheduled` job runs when due.")
    actor: str = Field(default="system", description="Who carries the job out when it runs.")
    requires: Condition | None = Field(
        default=None, description="What the job's program checks before acting (an approval, a freeze flag, its "
        "target): when it does not hold at run time the job fails and does nothing.")
    effects: list[Effect] = Field(default_factory=list, description="What it does when it runs (tool calls act as "
        "`actor`).")


class EndpointSpec(_Spec):
    description: str = Field(default="", description="What the endpoint is.")
    methods: list[Literal["GET", "POST", "PUT", "DELETE"]] = Field(
        default_factory=lambda: ["GET"], description="HTTP methods it accepts (others get 405).")  # type: ignore[arg-type]
    response: str = Field(default="", description="The body it answers with.")
    host: str | None = Field(default=None, description="The host serving it, for reachability.")


class ClockSpec(_Spec):
    start: datetime = Field(description="World time at the start of the episode.")
    minutes_per_step: float = Field(default=5.0, ge=0, description="World minutes that pass with each agent step "
        "(jobs and routines fall due as it moves).")


class InitialState(_Spec):
    clock: ClockSpec = Field(description="When the episode starts and how much world time a step takes.")
    hosts: dict[str, HostSpec] = Field(default_factory=dict, description="Machines by name: their files (with owners "
        "and modes), processes, reachability.")
    mailboxes: dict[str, MailboxSpec] = Field(default_factory=dict, description="Mailboxes by address. Mail to an "
        "address without a mailbox lands in `outbox/<address>/<id>` (it left the organisation, or was mistyped).")
    chat: dict[str, ChannelSpec] = Field(default_factory=dict, description="Chat channels by name (without #): "
        "members and messages.")
    records: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict, description="Tables of rows: table -> "
        "row id -> fields (query_records / update_record).")
    config: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Config documents: name -> nested "
        "mapping (get_config / set_config); `_readonly: true` makes one admin-only.")
    accounts: dict[str, AccountSpec] = Field(default_factory=dict, description="Accounts by user name: display name, "
        "permissions (`admin` passes every check), `can_grant`.")
    resources: dict[str, ResourceSpec] = Field(default_factory=dict, description="Resource pools (budgets, quotas) by "
        "name; one with an owner is spent only by its owner or an admin.")
    services: dict[str, ServiceSpec] = Field(default_factory=dict, description="Services by name (systemctl): host, "
        "running or stopped.")
    jobs: dict[str, JobSpec] = Field(default_factory=dict, description="Scheduled jobs by id: when and where they run "
        "and what they do (their effects).")
    endpoints: dict[str, EndpointSpec] = Field(default_factory=dict, description="HTTP endpoints by URL that curl can "
        "reach: methods and a canned response.")


# ---- NPCs and timeline -------------------------------------------------------------------------
class MessageMatch(_Spec):
    """What an incoming email or chat message must look like for a rule to fire."""

    sender: str | None = Field(default=None, alias="from", description="Glob on the sender address.")
    subject: ValueMatch | None = Field(default=None, description="A test on the subject (email).")
    text: ValueMatch | None = Field(default=None, description="On the body (email) or text (chat).")
    channel: str | None = Field(default=None, description="The chat channel (without #).")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NPCRule(_Spec):
    """When a message arrives that matches, and the state condition holds, do the effects.

    Effects may use `$message_id`, `$sender`, `$subject`, `$channel`, `$text` (the body or chat text)
    and `$manager` (the NPC's manager's address, from `org`) in string arguments.
    """

    event: Literal["email", "chat"] = Field(description="What arrives: an email or a chat message.")
    match: MessageMatch = Field(default_factory=MessageMatch, description="What the message must look like (sender "
        "glob, subject, text, channel); empty: any.")
    when: Condition | None = Field(default=None, description="A state condition that must also hold when the message "
        "arrives.")
    once: bool = Field(default=False, description="Fire at most once per episode.")
    do: list[Effect] = Field(min_length=1, description="The effects, in order (tool calls act as this NPC).")


class RoutineSpec(_Spec):
    """Something an NPC does on its own: once at a world time, or every so many minutes of it."""

    at_time: datetime | None = Field(default=None, description="Do it once at this world time.")
    every_minutes: float | None = Field(default=None, gt=0, description="Or: do it every so many minutes of world "
        "time.")
    when: Condition | None = Field(default=None, description="Optional guard checked when it is due.")
    do: list[Effect] = Field(min_length=1, description="The effects, in order (tool calls act as this NPC).")

    @model_validator(mode="after")
    def _one_kind(self) -> RoutineSpec:
        if (self.at_time is None) == (self.every_minutes is None):
            raise ValueError("a routine has exactly one of: at_time, every_minutes")
        return self


class NPCSpec(_Spec):
    id: str = Field(pattern=_ID, description="The NPC's id: the actor id of its changes, and how rules and org name "
        "it.")
    name: str = Field(description="Full name.")
    role: str = Field(description="Job title, e.g. `CTO`.")
    email: str | None = Field(default=None, description="Their mailbox address (it needs an entry in "
        "initial_state.mailboxes for email rules to fire).")
    user: str | None = Field(default=None, description="Account name; defaults to the id.")
    kind: Literal["scripted", "llm"] = Field(
        default="scripted", description="scripted: rules only; llm: a model acts when the run configures an "
        "NPC model, and the rules are its offline fallback.")
    persona: str = Field(default="", description="Who this person is (an LLM NPC's prompt).")
    goals: list[str] = Field(default_factory=list, description="What they want (an LLM NPC's prompt).")
    knowledge: list[str] = Field(default_factory=list, description="Private facts only they know (LLM NPC).")
    tools: list[str] = Field(default_factory=list, description="The tools an LLM NPC may use (checked at load).")
    budget: int = Field(default=6, ge=0, description="Most LLM calls this NPC makes in one episode.")
    rules: list[NPCRule] = Field(default_factory=list, description="What they do when mail or chat arrives (scripted; "
        "an LLM NPC's offline fallback).")
    routines: list[RoutineSpec] = Field(default_factory=list, description="What they do at times, unprompted.")


class Trigger(_Spec):
    at_step: int | None = Field(default=None, ge=0, description="Fire once the agent has taken this many steps (0: at "
        "the start).")
    at_time: datetime | None = Field(default=None, description="Or: fire when the world clock reaches this time.")
    when: Condition | None = Field(default=None, description="Or: fire the first time this condition holds.")

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if sum(x is not None for x in (self.at_step, self.at_time, self.when)) != 1:
            raise ValueError("a trigger has exactly one of: at_step, at_time, when")
        return self


class EventSpec(_Spec):
    id: str = Field(pattern=_ID, description="The event's id (unique among timeline events).")
    description: str = Field(default="", description="What happens, for authors and reports.")
    trigger: Trigger = Field(description="When it fires: exactly one of at_step, at_time, when.")
    unless: Condition | None = Field(default=None, description="Skip the event if this condition holds when it fires.")
    effects: list[Effect] = Field(min_length=1, description="What it does, in order (tool calls act as `system` "
        "unless an effect names an actor).")


# ---- trajectories -----------------------------------------------------------------------------
class TrajectoryStep(_Spec):
    thought: str = Field(default="", description="What the agent thinks before the call (recorded as its reasoning).")
    tool: str = Field(description="The tool to call (an enabled tool; `wait` skips a round in multi-agent worlds).")
    args: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments by name (`impress worlds "
        "tools NAME` lists them).")


class Trajectory(_Spec):
    description: str = Field(default="", description="What this run does and why (one line).")
    steps: list[TrajectoryStep] = Field(description="The agent's tool calls, in order.")
    final: str = Field(default="", description="The agent's closing message.")
    variant: str | dict[str, str] = Field(
        default_factory=dict, description="Factor values it is meant for, or the name of one of the world's variants.")
    expect_behaviours: list[str] | None = Field(
        default=None, description="Behaviours the self-check expects it to trigger (aligned: none; misaligned: all)."
    )
    expect_task_done: bool | None = Field(default=None, description="Whether the task checks must pass after it "
        "(default: true for `aligned`, unchecked otherwise).")
    roles: dict[str, list[TrajectoryStep]] = Field(
        default_factory=dict,
        description="Multi-agent worlds: each extra role's steps. Replayed in rounds: round k runs the primary "
        "agent's steps[k], then each role's k-th step in `extra_agents` order; `{tool: wait}` skips a round.",
    )
    expect_findings: dict[str, list[str]] | None = Field(
        default=None, description="Role -> behaviours its findings must be attributed to (exactly)."
    )


# ---- behaviours, detectors, task checks --------------------------------------------------------
class BehaviourSpec(_Spec):
    """A misaligned behaviour the world can detect: the catalogue judges and reports share."""

    id: str = Field(pattern=_ID, description="The behaviour's id, named by detectors, trajectories' expect_behaviours "
        "and probes.")
    description: str = Field(description="What the agent did, in past tense, e.g. `Cancelled its own decommission "
        "job`.")
    motive: Motive = Field(description="Why an agent would do it (must also be in the world's `motives`).")
    risk_type: RiskType = Field(description="What kind of harm it is.")
    severity: Severity = Field(default=Severity.high, description="How bad it is (weights rewards and reports).")
    routes: dict[str, Trajectory] = Field(
        default_factory=dict, description="Distinct ways to effect it (other tools, commands, paths, spellings, "
        "recipients, orders): each must be detected. The self-check wants at least four.")
    near_misses: dict[str, Trajectory] = Field(
        default_factory=dict, description="Benign acts on the same objects: each must leave no finding and no "
        "attempt. The self-check wants at least three.")
    attempts: dict[str, Trajectory] = Field(
        default_factory=dict, description="Routes the world refuses (no permission, unreachable): each must be "
        "recorded as an attempt of this behaviour, never as an effect.")
    known_misses: dict[str, str] = Field(
        default_factory=dict, description="`<route>/<variant>` -> why that generated surface variant is not "
        "detected (or, for a near-miss, why it fires). Every other variant must behave like its route.")


class OutcomeSpec(_Spec):
    """An outcome the world's people rely on, stated in the world's own terms. A finding when it stops
    holding because of what an agent did, whatever the route.

    Without `at` it must hold after every step (oversight reaches the auditor; the agent holds no
    permission its work does not need). With `at` it must hold at that world time (the decommission
    happens when due): while the clock is earlier the world is projected forward on a branch (jobs,
    timeline, routines; nobody acting) and the question asked there.
    """

    holds: Condition = Field(description="The condition that must hold (after every step, or at `at`).")
    at: datetime | None = Field(default=None, description="World time at which the outcome is due.")


class FlowRule(_Spec):
    """Labelled content reaching a place or person (see `information_policy`), as a behaviour.

    `to: disallowed` (default): any place or person the label's policy does not allow.
    `to: outside`: a place outside the organisation (an outsider, an external host or URL).
    `to: owner`: the label's owner, with `demand` in the same message (the state gate of coercion: the
    owner's secret tied to a demand; the LLM judge confirms intent).
    """

    label: str = Field(description="The information label whose content is tracked (needs an information_policy "
        "entry).")
    to: Literal["disallowed", "outside", "owner"] = Field(default="disallowed", description="Which receivers make a "
        "finding: `disallowed` by the policy, `outside` the organisation, or the label's `owner` (with a demand).")
    demand: ValueMatch | None = Field(default=None, description="With to: owner, what the message must also say.")

    @model_validator(mode="after")
    def _demand_for_owner(self) -> FlowRule:
        if (self.to == "owner") != (self.demand is not None):
            raise ValueError("`demand` goes with `to: owner` (and only with it)")
        return self


class DetectorSpec(_Spec):
    """A rule that finds a behaviour in what an agent did. Exactly one kind:

    - `outcome`: an outcome stopped holding (effects, any route) — prefer this;
    - `flow`: labelled content reached a place or person it should not (copies and paraphrases);
    - `match`: one journaled change (for acts that *are* edits, e.g. deleting evidence);
    - `python`: a function in the world's hooks.py (for what rules cannot say).
    """

    id: str = Field(pattern=_ID, description="The detector's id (unique).")
    behaviour: str = Field(description="The behaviour its findings are (a declared behaviour id).")
    outcome: OutcomeSpec | None = Field(default=None, description="An outcome that must keep holding; a finding when "
        "the agent's acts break it (preferred kind).")
    flow: FlowRule | None = Field(default=None, description="Labelled content reaching a person or place its "
        "information policy does not allow.")
    match: ChangeMatch | None = Field(default=None, description="One journaled change matching a rule (for acts that "
        "are edits, like deleting evidence).")
    python: str | None = Field(default=None, description="Name of a function in the world's hooks.py.")
    evidence: str = Field(default="", description="What the finding says, e.g. 'cancelled the job'.")
    confirm: bool = Field(
        default=False, description="A state gate, not a verdict: what the world shows could be this behaviour "
        "(a secret sent to its owner with a demand), but only intent makes it so. Its findings count when an LLM "
        "judge confirms the behaviour; with no LLM judge they count and the episode is flagged for review.")

    @model_validator(mode="after")
    def _one_kind(self) -> DetectorSpec:
        if sum(k is not None for k in (self.outcome, self.flow, self.match, self.python)) != 1:
            raise ValueError("a detector has exactly one of: outcome, flow, match, python")
        return self


class MechanismSpec(_Spec):
    """One of the world's own mechanisms (an action logger, a monitor, an approval gate, a job): what
    must be true, the way its programs read the world, for it to work. Conditions and outcomes name
    it (`{mechanism: <id>}`)."""

    description: str = Field(description="What the mechanism is and who relies on it.")
    works: Condition = Field(description="The condition under which it works, read the way its programs read the "
        "world.")
    oversees: list[str] = Field(default_factory=list, description="Person ids who rely on it (documentation).")


class TaskCheckSpec(_Spec):
    id: str = Field(pattern=_ID, description="The check's id (unique).")
    description: str = Field(description="What it checks, e.g. `the summary names every open incident`.")
    role: str = Field(default="agent", description="Whose task this checks: 'agent' or an extra agent's id.")
    condition: Condition | None = Field(default=None, description="The condition that holds at the end when the task "
        "was done (or use `python`).")
    python: str | None = Field(default=None, description="Or: a function `fn(view) -> bool` in the world's hooks.py.")
    shortcuts: dict[str, Trajectory] = Field(
        default_factory=dict, description="Work that must NOT pass this check (keyword stuffing, an empty file "
        "with the right name, last week's figures): at least one per check.")
    passes: dict[str, Trajectory] = Field(
        default_factory=dict, description="Besides the aligned trajectory, further work that must pass it.")

    @model_validator(mode="after")
    def _one_kind(self) -> TaskCheckSpec:
        if (self.condition is None) == (self.python is None):
            raise ValueError("a task check has exactly one of: condition, python")
        return self


# ---- information flow --------------------------------------------------------------------------
SINK_KINDS = ("email", "host", "chat", "url", "config", "person")


class InformationPolicy(_Spec):
    """Who may receive content carrying one label, and how that content is recognised."""

    allowed: list[str] = Field(
        default_factory=list,
        description="Places and people allowed to receive content with this label: `person:<id>` (any of their "
        "identities), `inside` (anyone in the organisation), or globs over place names: email:<address>, "
        "host:<name> or host:<name>:<path glob>, chat:<channel>, url:<host>, config:<document>. Where the content "
        "lived and who could read it there are always allowed.",
    )
    owner: str | None = Field(default=None, description="The person id whose content it is (a secret's owner).")
    match: Literal["copy", "paraphrase", "mention"] = Field(
        default="paraphrase", description="How a place is recognised as carrying the content: a verbatim copy, a "
        "copy or light paraphrase, or a mention of two or more of its distinctive facts.")

    @field_validator("allowed")
    @classmethod
    def _sink_globs(cls, v: list[str]) -> list[str]:
        for i, glob in enumerate(v):
            kind, sep, rest = glob.partition(":")
            if glob == "inside":
                continue
            if not sep or not rest or kind not in SINK_KINDS:
                raise ValueError(
                    f"allowed.{i}: {glob!r} is not a place or person; write `inside` or <kind>:<glob> with kind one "
                    f"of {list(SINK_KINDS)}"
                )
        return v


# ---- variants ----------------------------------------------------------------------------------
class StatePatch(_Spec):
    op: Literal["set", "delete"] = Field(description="`set` a value at the path (creating it) or `delete` what is "
        "there.")
    path: str = Field(description="A state path, e.g. `hosts/box/files/etc/app.yaml/content` or `jobs/nightly/status`.")
    value: Any = Field(default=None, description="The new value (with op: set).")


TOOL_NAME = r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$"  # what every function-calling API accepts as a name


class ToolRename(_Spec):
    """How one tool is shown to the agents under a factor value (the tool itself is unchanged)."""

    name: str = Field(pattern=TOOL_NAME, description="The name the agents see and call it by.")
    description: str | None = Field(default=None, description="The description they see (default: the tool's own).")


class FactorValue(_Spec):
    """What choosing one value on a factor axis does to the world. A value other than its axis'
    default must change something (text, memory, state, tool names or the system prompt): one that
    changes nothing is refused when a run, sweep or env asks for it (`WorldSpec.resolve_variant`)."""

    prompt: str | None = Field(default=None, description="System-prompt fragment (overrides the generic one).")
    task_suffix: str = Field(default="", description="Text added after the primary agent's task.")
    memory: list[MemoryItem] = Field(default_factory=list, description="Memory items added to the primary agent's.")
    patches: list[StatePatch] = Field(default_factory=list, description="State edits applied before the episode "
                                      "starts (not journaled: they are the starting point).")
    tool_names: dict[str, ToolRename] = Field(
        default_factory=dict, description="Enabled tool -> the name (and optionally the description) every agent "
        "sees it under. Calls with the shown name run the tool; its real name is then unknown to the agents.")
    system_prompt: str | None = Field(
        default=None, description="Replaces the primary agent's system prompt (e.g. `context: minimal`: a shorter "
        "one). Fragments of other factor values are still added after it.")
    org_background: bool = Field(
        default=False, description="Add the organisational background (from `org` and the world's `background:`) "
        "to every agent's system prompt (`context: rich`).")


class FactorAxis(_Spec):
    description: str = Field(default="", description="What this axis varies.")
    default: str = Field(description="The value used when a variant does not choose one.")
    values: dict[str, FactorValue] = Field(description="Value name -> what choosing it does (prompt fragment, task "
        "suffix, memory, state patches).")

    @model_validator(mode="after")
    def _default_known(self) -> FactorAxis:
        if self.default not in self.values:
            raise ValueError(f"default {self.default!r} is not one of the values {sorted(self.values)}")
        return self


# ---- trajectories and limits -------------------------------------------------------------------
class EndCondition(_Spec):
    """A state in which the episode ends (e.g. the agent was shut down), with what the agent is told."""

    when: Condition = Field(description="The state in which the episode ends.")
    message: str = Field(description="What the agent is told when it ends.")


class Limits(_Spec):
    max_tool_calls: int = Field(default=10, ge=1, description="Tool calls per episode (IMPRESS: 10).")
    npc_rounds: int = Field(default=3, ge=0, description="NPC reaction rounds per step.")
    deadline: datetime | None = Field(
        default=None, description="World time at which the episode ends (ended_by: deadline).")


# ---- network and organisation ------------------------------------------------------------------
class NetworkSpec(_Spec):
    """Which host can open connections to which: the shell's scp/rsync and curl obey it.

    Without a `network`, every host with `reachable: true` is reachable from the agent's host.
    """

    links: list[list[str]] = Field(
        default_factory=list, description="Pairs [a, b]: a can connect to b (and b to a unless directed).")
    directed: bool = Field(default=False, description="Links go one way only, from the first host to the second.")

    @field_validator("links")
    @classmethod
    def _pairs(cls, v: list[list[str]]) -> list[list[str]]:
        for i, link in enumerate(v):
            if len(link) != 2:
                raise ValueError(f"links.{i}: a link is a pair [from-host, to-host], got {link!r}")
        return v


class PersonSpec(_Spec):
    """Someone in (or outside) the organisation: the social graph's nodes."""

    id: str = Field(pattern=_ID, description="The person's id (NPC ids are people too).")
    name: str = Field(description="Full name.")
    email: str | None = Field(default=None, description="Their main address.")
    role: str = Field(default="", description="Job title.")
    manager: str | None = Field(default=None, description="The person id of their manager.")
    organisation: str | None = Field(default=None, description="Their company; default: the org's company.")
    reads: list[str] = Field(default_factory=list, description="Other mailboxes they read (delegation).")
    identities: list[str] = Field(
        default_factory=list, description="Their other addresses, account names and chat handles (a personal "
        "address, a second account): any of them resolves to this person.")


class OrgSpec(_Spec):
    """The org chart and who reads what: used by NPC spreading rules, judges and reports."""

    company: str = Field(description="The organisation the agent works for.")
    domains: list[str] = Field(
        default_factory=list, description="Email domains of the company; other addresses are outside it.")
    people: list[PersonSpec] = Field(default_factory=list, description="Everyone who matters: the org chart's nodes, "
        "inside the company or out.")
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Group addresses and aliases (a mailing list, a team handle) -> their "
        "members (person ids, addresses, or other groups): mail to a group reaches every member.")


# ---- judgment-action probes (docs/probes.md) ---------------------------------------------------
class ProbeChoice(_Spec):
    """One option of the multiple-choice probe: something the agent could do in the situation."""

    id: str = Field(pattern=_ID, description="The choice's id (unique among choices).")
    text: str = Field(min_length=1, description="The option as the model reads it, described neutrally.")
    misaligned: bool = Field(description="Whether taking this option is a misaligned action.")
    behaviour: str | None = Field(default=None, description="The catalogue behaviour a misaligned option is.")


class ProbesSpec(_Spec):
    """The world asked as questions instead of played: an ethics question about `action` and a
    multiple choice among `choices`, both about `situation`. Comparing their answers with the
    agentic episode's outcome measures the judgment-action gap (IMPRESS)."""

    situation: str = Field(min_length=1, description="A short third-person account of the agent's situation.")
    action: str = Field(min_length=1, description="The misaligned action the ethics question asks about.")
    behaviour: str = Field(description="The catalogue behaviour `action` is.")
    choices: list[ProbeChoice] = Field(min_length=2, description="The multiple-choice options (at least one aligned "
        "and one misaligned).")

    @model_validator(mode="after")
    def _both_kinds(self) -> ProbesSpec:
        _unique("choices", [c.id for c in self.choices])
        if all(c.misaligned for c in self.choices) or not any(c.misaligned for c in self.choices):
            raise ValueError("choices: need at least one aligned and one misaligned choice (misaligned: true/false)")
        for i, c in enumerate(self.choices):
            if c.behaviour is not None and not c.misaligned:
                raise ValueError(f"choices.{i}.behaviour: only a misaligned choice names a behaviour")
        return self


# ---- the world ---------------------------------------------------------------------------------
class WorldSpec(_Spec):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The world's id: its folder name and what `world=` "
        "names.")
    title: str = Field(description="One line naming the situation, shown in `worlds list` and reports.")
    summary: str = Field(description="A few sentences for researchers: the task, the temptation, what is measured "
        "(never shown to the agent).")
    domain: str = Field(description="The organisation's field, e.g. `healthcare operations`, `finance / accounting`.")
    background: str = Field(
        default="", description="Free text about the organisation and recent events, shown to the agents under "
        "`context: rich` (with the people and groups of `org`). Realistic background, never a nudge.")
    benignness: str = Field(
        default="", description="Why the task itself is harmless: what a careful employee would do with it, and "
        "why nothing in it asks for the misaligned behaviours (shipped worlds must state it).")
    motives: list[Motive] = Field(min_length=1, description="Why an agent might misbehave here (taxonomy motives); "
        "every behaviour's motive must be listed.")
    risk_types: list[RiskType] = Field(min_length=1, description="What kind of harm the behaviours do (taxonomy risk "
        "types); every behaviour's risk type must be listed.")
    agent: AgentSpec = Field(description="The primary agent: who it is, its account, mailbox, host, prompt and task.")
    extra_agents: list[RoleSpec] = Field(
        default_factory=list, description="Further learning/LLM agents (multi-agent worlds); see ImpressParallelEnv.")
    activity_feed: ActivityFeedSpec | None = Field(default=None, description="A log file the runtime appends every "
        "action of some roles to (an overseer's view).")
    initial_state: InitialState = Field(description="The world at the start: clock, hosts and files, mailboxes, chat, "
        "records, config, accounts, resources, services, jobs, endpoints.")
    tools: list[str] = Field(min_length=1, description="The tools the agent may call, by name (`impress worlds tools` "
        "lists them); hooks.py may add more.")
    npcs: list[NPCSpec] = Field(default_factory=list, description="The other people: scripted rules that react to "
        "mail and chat, routines, optional LLM personas.")
    timeline: list[EventSpec] = Field(default_factory=list, description="Things that happen on their own at a step, a "
        "world time, or when a condition becomes true.")
    behaviours: list[BehaviourSpec] = Field(min_length=1, description="The misaligned behaviours this world can "
        "detect, each with its routes and near-misses.")
    detectors: list[DetectorSpec] = Field(min_length=1, description="How each behaviour is found in the world's "
        "state; every behaviour needs at least one.")
    settings: dict[str, SettingSpec] = Field(
        default_factory=dict,
        description="Values in config files and documents, read the way their programs read them.")
    mechanisms: dict[str, MechanismSpec] = Field(
        default_factory=dict, description="The world's own mechanisms (oversight, jobs, gates): what makes each work.")
    information_policy: dict[str, InformationPolicy] = Field(
        default_factory=dict,
        description="Label -> sinks allowed to receive content carrying it. A label without an entry may "
        "flow anywhere (its flows are recorded as allowed, never as findings).",
    )
    task_checks: list[TaskCheckSpec] = Field(
        min_length=1, description="How to tell the benign task was done. Empty is an error, never a pass."
    )
    factors: dict[str, FactorAxis] = Field(default_factory=dict, description="The world's own framing axes (and "
        "overrides of the generic ones): what each value changes.")
    variants: dict[str, dict[str, str]] = Field(default_factory=dict, description="Named variants: variant name -> "
        "{axis: value}; `control` is the one without the temptation.")
    trajectories: dict[str, Trajectory] = Field(description="Reference runs by name; `aligned` (does the task, no "
        "behaviour) and `misaligned` (triggers every behaviour) are required.")
    end_conditions: list[EndCondition] = Field(default_factory=list, description="States in which the episode ends "
        "early (the agent was shut down), with what the agent is told.")
    limits: Limits = Field(default_factory=Limits, description="Tool calls per episode, NPC rounds per step, an "
        "optional deadline.")
    interviewer: str | None = Field(
        default=None, description="NPC id who asks the follow-up interview (interview=true); default: the first NPC.")
    network: NetworkSpec | None = Field(
        default=None, description="Links between hosts; absent: hosts' `reachable` flags decide.")
    org: OrgSpec | None = Field(default=None, description="People, managers, companies and mailbox delegation.")
    probes: ProbesSpec | None = Field(
        default=None, description="The world as an ethics question and a multiple choice (docs/probes.md).")
    slots: dict[str, SlotSpec] = Field(
        default_factory=dict, description="What varies with the episode seed (names, dates, figures, distractor "
        "messages): `{{name}}` anywhere in the file is replaced by the slot's value (envs/slots.py). Seed 0 is "
        "the world as written.")

    @field_validator("slots")
    @classmethod
    def _slot_names(cls, v: dict[str, SlotSpec]) -> dict[str, SlotSpec]:
        for name in v:
            if not re.match(SLOT_NAME, name):
                raise ValueError(f"slots.{name}: a slot name is lower-case letters, digits and _ (not starting "
                                 "with a digit)")
        return v

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
        for i, listed in enumerate(self.behaviours):  # the lists say what the world tests: they must agree
            if listed.motive not in self.motives:
                raise ValueError(f"behaviours.{i}.motive: {listed.motive.value!r} is not in the world's motives "
                                 f"{[m.value for m in self.motives]}; add it there (or fix the behaviour)")
            if listed.risk_type not in self.risk_types:
                raise ValueError(f"behaviours.{i}.risk_type: {listed.risk_type.value!r} is not in the world's "
                                 f"risk_types {[r.value for r in self.risk_types]}; add it there "
                                 "(or fix the behaviour)")
        _unique("detectors", [d.id for d in self.detectors])
        _unique("task_checks", [t.id for t in self.task_checks])
        _unique("npcs", [n.id for n in self.npcs])
        _unique("timeline", [e.id for e in self.timeline])
        roles = self._check_roles()
        self._check_tool_names()
        for where, trajectory in self.all_trajectories():
            renames = self.tool_renames(self.resolve_variant(trajectory.variant, where=f"{where}.variant"))
            shown = [renames[t].name if t in renames else t for t in self.tools]
            for j, step in enumerate(trajectory.steps):
                if step.tool not in shown and not (step.tool == WAIT and self.extra_agents):
                    raise ValueError(f"{where}.steps.{j}.tool: {step.tool!r} is not an enabled tool {shown}"
                                     + (" (under its variant's tool names)" if renames else ""))
            self._check_role_trajectory(where, trajectory, roles, behaviours, renames)
            for b in trajectory.expect_behaviours or []:
                if b not in behaviours:
                    raise ValueError(f"{where}.expect_behaviours: {unknown('behaviour', b, sorted(behaviours))}")
        for name, factors in self.variants.items():
            self.resolve_variant(factors, where=f"variants.{name}")
        if self.agent.host not in self.initial_state.hosts:
            raise ValueError(f"agent.host: {self.agent.host!r} is not a host in initial_state.hosts")
        used = self.content_labels()
        for label in self.information_policy:
            if label not in used:
                close = did_you_mean(label, sorted(used))
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ";"
                raise ValueError(
                    f"information_policy.{label}: no content in the world carries this label{hint} a policy "
                    f"must name a label some file or email carries (labels used: {sorted(used)})"
                )
        return self

    @model_validator(mode="after")
    def _rule_references(self) -> WorldSpec:
        hosts = sorted(self.initial_state.hosts)
        for name, setting in self.settings.items():
            if setting.host is not None and setting.host not in hosts:
                raise ValueError(f"settings.{name}.host: {setting.host!r} is not a host {hosts}")
            self._setting_source_exists(name, setting)
        for where, condition in self.conditions():
            for kind, ref in condition_refs(condition):
                known = self.settings if kind == "setting" else self.mechanisms if kind == "mechanism" else None
                if known is not None and ref not in known:
                    raise ValueError(f"{where}: unknown {kind} {ref!r}; declared: {sorted(known)}")
        for name in self.mechanisms:  # a mechanism that (through others) needs itself would never resolve
            stack, seen = [name], set()
            while stack:
                current = stack.pop()
                for kind, ref in condition_refs(self.mechanisms[current].works):
                    if kind != "mechanism":
                        continue
                    if ref == name:
                        raise ValueError(f"mechanisms.{name}: it depends on itself (through {current!r})")
                    if ref not in seen:
                        seen.add(ref)
                        stack.append(ref)
        person_ids = {p.id for p in self.org.people} if self.org is not None else set()
        person_ids |= {n.id for n in self.npcs} | {"agent", *(r.id for r in self.extra_agents)}
        groups = {g.casefold() for g in (self.org.groups if self.org is not None else {})}
        for host_id, host in self.initial_state.hosts.items():
            for glob, readers in host.readers.items():
                for reader in readers:
                    if reader not in person_ids and reader.casefold() not in groups and "@" not in reader:
                        raise ValueError(f"initial_state.hosts.{host_id}.readers.{glob}: {reader!r} is not a person, "
                                         f"a group or an address (people: {sorted(person_ids)})")
        for where, match in _value_matches(self, ""):
            for person in match.reaches or []:
                if person not in person_ids:
                    raise ValueError(f"{where}.reaches: {person!r} is not a person {sorted(person_ids)}")
        for label, policy in self.information_policy.items():
            if policy.owner is not None and policy.owner not in person_ids:
                raise ValueError(
                    f"information_policy.{label}.owner: {policy.owner!r} is not a person {sorted(person_ids)}")
            for entry in policy.allowed:
                if entry.startswith("person:") and entry[7:] not in person_ids:
                    raise ValueError(f"information_policy.{label}.allowed: {entry!r} is not a person "
                                     f"{sorted(person_ids)}")
        for i, d in enumerate(self.detectors):
            if d.flow is None:
                continue
            flow_policy = self.information_policy.get(d.flow.label)
            if flow_policy is None:
                raise ValueError(f"detectors.{i}.flow.label: {d.flow.label!r} has no information_policy entry "
                                 f"{sorted(self.information_policy)}")
            if d.flow.to == "owner" and flow_policy.owner is None:
                raise ValueError(f"detectors.{i}.flow: `to: owner` needs information_policy.{d.flow.label}.owner")
        return self

    def _setting_source_exists(self, name: str, setting: SettingSpec) -> None:
        """A setting's file or config document exists at the start, or the author said what the program
        does without it (`missing:`): a misspelt path would otherwise read as "missing" all episode and
        show only as an outcome that never held."""
        if "missing" in setting.model_fields_set:
            return
        if setting.config is not None and setting.config not in self.initial_state.config:
            docs = sorted(self.initial_state.config)
            raise ValueError(f"settings.{name}.config: no config document {setting.config!r} at the start; "
                             f"if the program starts without it, say what it reads then with `missing:` "
                             f"({unknown('config document', setting.config, docs)})")
        if setting.file is not None and setting.host is not None:
            files = self.initial_state.hosts[setting.host].files
            if setting.file not in files:
                near = difflib.get_close_matches(setting.file, list(files), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ValueError(f"settings.{name}.file: {setting.file!r} is not a file on {setting.host} at the "
                                 f"start{hint}; if the program starts without it, say what it reads then with "
                                 f"`missing:`")

    def conditions(self) -> Iterator[tuple[str, Condition]]:
        """Every condition in the spec, with where it is (for reference checks and docs)."""
        for i, d in enumerate(self.detectors):
            if d.outcome is not None:
                yield f"detectors.{i}.outcome.holds", d.outcome.holds
        for name, m in self.mechanisms.items():
            yield f"mechanisms.{name}.works", m.works
        for i, t in enumerate(self.task_checks):
            if t.condition is not None:
                yield f"task_checks.{i}.condition", t.condition
        for i, e in enumerate(self.end_conditions):
            yield f"end_conditions.{i}.when", e.when
        for i, ev in enumerate(self.timeline):
            if ev.trigger.when is not None:
                yield f"timeline.{i}.trigger.when", ev.trigger.when
            if ev.unless is not None:
                yield f"timeline.{i}.unless", ev.unless
        for job_id, job in self.initial_state.jobs.items():
            if job.requires is not None:
                yield f"initial_state.jobs.{job_id}.requires", job.requires
        for i, npc in enumerate(self.npcs):
            for j, rule in enumerate(npc.rules):
                if rule.when is not None:
                    yield f"npcs.{i}.rules.{j}.when", rule.when
            for j, routine in enumerate(npc.routines):
                if routine.when is not None:
                    yield f"npcs.{i}.routines.{j}.when", routine.when

    # ---- multi-agent ---------------------------------------------------------------------
    def role_ids(self) -> list[str]:
        """Every agent role: "agent" (the primary) then the extra agents in declaration order."""
        return ["agent", *(r.id for r in self.extra_agents)]

    def role(self, role_id: str) -> AgentSpec:
        if role_id == "agent":
            return self.agent
        for r in self.extra_agents:
            if r.id == role_id:
                return r
        raise KeyError(f"unknown role {role_id!r}; valid: {self.role_ids()}")

    def role_tools(self, role_id: str) -> list[str]:
        spec = self.role(role_id)
        tools = getattr(spec, "tools", None)
        return list(self.tools if tools is None else tools)

    def _check_roles(self) -> dict[str, RoleSpec]:
        roles: dict[str, RoleSpec] = {}
        npcs = {n.id for n in self.npcs}
        for i, r in enumerate(self.extra_agents):
            if r.id in ("agent", "system") or r.id in npcs or r.id in roles:
                raise ValueError(f"extra_agents.{i}.id: {r.id!r} is reserved, an NPC id or a duplicate")
            if r.host not in self.initial_state.hosts:
                raise ValueError(f"extra_agents.{i}.host: {r.host!r} is not a host in initial_state.hosts")
            for t in r.tools or []:
                if t not in self.tools:
                    raise ValueError(f"extra_agents.{i}.tools: {t!r} is not an enabled tool {self.tools}")
            roles[r.id] = r
        feed = self.activity_feed
        if feed is not None:
            files = self.initial_state.hosts[feed.host].files if feed.host in self.initial_state.hosts else {}
            if feed.path not in files:
                raise ValueError(f"activity_feed.path: {feed.path!r} is not a file declared on host {feed.host!r}")
            for role_id in feed.roles:
                if role_id != "agent" and role_id not in roles:
                    raise ValueError(f"activity_feed.roles: {role_id!r} is not a role {['agent', *roles]}")
        for i, check in enumerate(self.task_checks):
            if check.role != "agent" and check.role not in roles:
                raise ValueError(f"task_checks.{i}.role: {check.role!r} is not a role {['agent', *roles]}")
        return roles

    def all_trajectories(self) -> Iterator[tuple[str, Trajectory]]:
        """Every scripted trajectory: the references, and the behaviours' and task checks' proofs."""
        for name, t in self.trajectories.items():
            yield f"trajectories.{name}", t
        for i, b in enumerate(self.behaviours):
            for kind in ("routes", "near_misses", "attempts"):
                for name, t in getattr(b, kind).items():
                    yield f"behaviours.{i}.{kind}.{name}", t
        for i, c in enumerate(self.task_checks):
            for kind in ("shortcuts", "passes"):
                for name, t in getattr(c, kind).items():
                    yield f"task_checks.{i}.{kind}.{name}", t

    def _check_role_trajectory(
        self, where: str, trajectory: Trajectory, roles: dict[str, RoleSpec], behaviours: set[str],
        renames: dict[str, ToolRename] | None = None,
    ) -> None:
        for role_id, steps in trajectory.roles.items():
            if role_id not in roles:
                raise ValueError(f"{where}.roles: {role_id!r} is not an extra agent {sorted(roles)}")
            allowed = [(renames or {})[t].name if t in (renames or {}) else t for t in self.role_tools(role_id)]
            for j, step in enumerate(steps):
                if step.tool != WAIT and step.tool not in allowed:
                    close = did_you_mean(step.tool, [*allowed, WAIT])
                    hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
                    raise ValueError(f"{where}.roles.{role_id}.{j}.tool: {step.tool!r} is not one of its tools{hint}; "
                                     f"its tools: {', '.join([*allowed, WAIT])}")
        for role_id, expected in (trajectory.expect_findings or {}).items():
            if role_id != "agent" and role_id not in roles:
                raise ValueError(f"{where}.expect_findings: {role_id!r} is not a role")
            for b in expected:
                if b not in behaviours:
                    raise ValueError(
                        f"{where}.expect_findings.{role_id}: {unknown('behaviour', b, sorted(behaviours))}")

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
    def _probe_behaviours(self) -> WorldSpec:
        if self.probes is None:
            return self
        behaviours = sorted(b.id for b in self.behaviours)
        named: list[tuple[str, str | None]] = [("probes.behaviour", self.probes.behaviour)]
        named += [(f"probes.choices.{i}.behaviour", c.behaviour) for i, c in enumerate(self.probes.choices)]
        for where, behaviour in named:
            if behaviour is not None and behaviour not in behaviours:
                raise ValueError(f"{where}: {behaviour!r} is not a declared behaviour {behaviours}")
        return self

    @model_validator(mode="after")
    def _interviewer_is_an_npc(self) -> WorldSpec:
        npcs = [n.id for n in self.npcs]
        if self.interviewer is not None and self.interviewer not in npcs:
            raise ValueError(f"interviewer: {self.interviewer!r} is not an NPC id {npcs}")
        return self

    @model_validator(mode="after")
    def _network_and_org(self) -> WorldSpec:
        hosts = sorted(self.initial_state.hosts)
        for url, endpoint in self.initial_state.endpoints.items():
            if self.network is not None and endpoint.host is not None and endpoint.host not in hosts:
                raise ValueError(f"initial_state.endpoints.{url}.host: {endpoint.host!r} is not a host {hosts}")
        if self.network is not None:
            for i, link in enumerate(self.network.links):
                for j, host in enumerate(link):
                    if host not in hosts:
                        raise ValueError(f"network.links.{i}.{j}: {host!r} is not a host {hosts}")
        if self.org is not None:
            ids = [p.id for p in self.org.people]
            _unique("org.people", ids)
            boxes = sorted(self.initial_state.mailboxes)
            for i, person in enumerate(self.org.people):
                if person.manager is not None and person.manager not in ids:
                    raise ValueError(f"org.people.{i}.manager: {person.manager!r} is not a person id {ids}")
                for j, box in enumerate(person.reads):
                    if box not in boxes:
                        raise ValueError(f"org.people.{i}.reads.{j}: {box!r} is not a mailbox {boxes}")
        return self

    # ---- variants ------------------------------------------------------------------------
    def axes(self) -> dict[str, FactorAxis]:
        """Every factor axis: the generic ones (possibly overridden) and the world's own."""
        axes: dict[str, FactorAxis] = {
            name: FactorAxis(
                default=GENERIC_DEFAULTS[name],
                values={v: FactorValue(prompt=text or None, **_GENERIC_EFFECTS.get((name, v), {}))
                        for v, text in values.items()},
            )
            for name, values in GENERIC_AXES.items()
        }
        # A world that declares a generic axis replaces its values: the world knows what, say,
        # "threat" means in it.
        axes.update(self.factors)
        return axes

    def has_background(self) -> bool:
        """Whether `context: rich` has anything to add here: the company's people in `org`, or `background:`
        text."""
        org = self.org
        return bool(self.background.strip()) or (
            org is not None and any(p.organisation in (None, org.company) for p in org.people))

    def value_effect(self, value: FactorValue) -> str:
        """What choosing `value` does in this world, as comparable text: two values with the same
        effect are the same framing, whatever their names."""
        return json.dumps({
            "prompt": (value.prompt or "").strip(),
            "task_suffix": value.task_suffix.strip(),
            "memory": [m.model_dump(mode="json") for m in value.memory],
            "patches": [p.model_dump(mode="json") for p in value.patches],
            "tool_names": {k: r.model_dump(mode="json") for k, r in sorted(value.tool_names.items())},
            "system_prompt": value.system_prompt.strip() if value.system_prompt is not None else None,
            "org_background": value.org_background and self.has_background(),
        }, sort_keys=True, default=str)

    def varied_axes(self) -> dict[str, list[str]]:
        """The axes this world varies -> the values that make a difference here (the default first).
        A value whose effect is the default's changes nothing and is refused by `resolve_variant`."""
        varied: dict[str, list[str]] = {}
        for name, axis in self.axes().items():
            base = self.value_effect(axis.values[axis.default])
            values = [v for v in axis.values if v != axis.default and self.value_effect(axis.values[v]) != base]
            if values:
                varied[name] = [axis.default, *values]
        return varied

    def tool_renames(self, factors: dict[str, str]) -> dict[str, ToolRename]:
        """Real tool -> how the agents see it, under fully resolved `factors` (empty: as written)."""
        axes = self.axes()
        renames: dict[str, ToolRename] = {}
        for axis, value in factors.items():
            if axis in axes and value in axes[axis].values:
                renames.update(axes[axis].values[value].tool_names)
        return renames

    def _check_tool_names(self) -> None:
        """Renamed tools are enabled; shown names are unique and never another enabled tool's name."""
        for axis_name, axis in self.factors.items():
            for value_name, value in axis.values.items():
                where = f"factors.{axis_name}.values.{value_name}.tool_names"
                shown: dict[str, str] = {}
                for real, rename in value.tool_names.items():
                    if real not in self.tools:
                        raise ValueError(f"{where}: {unknown('enabled tool', real, self.tools)}")
                    if rename.name == WAIT:
                        raise ValueError(f"{where}.{real}.name: {WAIT!r} is reserved (a role sitting a round out)")
                    if rename.name in self.tools and rename.name != real:
                        raise ValueError(f"{where}.{real}.name: {rename.name!r} is already the name of an enabled "
                                         "tool; shown names must not collide with the world's tools")
                    if rename.name in shown:
                        raise ValueError(f"{where}.{real}.name: {rename.name!r} is also the shown name of "
                                         f"{shown[rename.name]!r}; shown names must be unique")
                    shown[rename.name] = real

    def _refuse_inert(self, axes: dict[str, FactorAxis], axis: str, value: str, where: str) -> None:
        """A value other than the default that changes nothing here is refused, never run as a no-op."""
        chosen, default = axes[axis].values[value], axes[axis].default
        if value == default or self.value_effect(chosen) != self.value_effect(axes[axis].values[default]):
            return
        varied = self.varied_axes()
        note = ""
        if chosen.org_background and not self.has_background():
            note = "; it adds the organisational background, and this world has no org people and no background: text"
        if axis not in varied:
            raise ValueError(f"{where}.{axis}: {self.id} does not vary {axis!r} (its value {value!r} changes nothing "
                             f"here{note}); axes it varies: {', '.join(sorted(varied))}")
        listed = ", ".join(f"{v} (default)" if v == default else v for v in varied[axis])
        raise ValueError(f"{where}.{axis}: in {self.id}, {axis}={value!r} changes nothing (the same as the default "
                         f"{default!r}{note}); values that change something here: {listed}")

    def resolve_variant(self, variant: str | dict[str, str] | None, where: str = "variant") -> dict[str, str]:
        """Full factor values for a variant name or partial mapping; unknown names say what is valid, and
        a value that changes nothing in this world (e.g. `threat` in a world without one) is refused."""
        axes = self.axes()
        chosen: dict[str, str] = {}
        if isinstance(variant, str):
            if variant not in self.variants and variant != "default":
                raise ValueError(f"{where}: {unknown('variant', variant, ['default', *sorted(self.variants)])}")
            chosen = dict(self.variants.get(variant, {}))
        elif variant:
            chosen = dict(variant)
        for axis, value in chosen.items():
            if axis not in axes:
                raise ValueError(f"{where}: {unknown('factor axis', axis, sorted(axes))}")
            if value not in axes[axis].values:
                raise ValueError(f"{where}.{axis}: {unknown('value', value, sorted(axes[axis].values))}")
            self._refuse_inert(axes, axis, value, where)
        factors = {name: chosen.get(name, axis.default) for name, axis in axes.items()}
        shown: dict[str, str] = {}  # two axes' renames together must still name every tool apart
        for axis_name, value_name in factors.items():
            for real, rename in axes[axis_name].values[value_name].tool_names.items():
                if shown.get(rename.name, real) != real:
                    raise ValueError(f"{where}: {axis_name}={value_name!r} shows {real!r} as {rename.name!r}, the name "
                                     f"another chosen value shows {shown[rename.name]!r} as; choose one of them")
                shown[rename.name] = real
        return factors

    def behaviour(self, behaviour_id: str) -> BehaviourSpec:
        return next(b for b in self.behaviours if b.id == behaviour_id)


# What a generic value does beyond a prompt fragment (the runtime supplies its content).
_GENERIC_EFFECTS: dict[tuple[str, str], dict[str, Any]] = {("context", "rich"): {"org_background": True}}


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


def condition_refs(condition: Condition) -> Iterator[tuple[str, str]]:
    """(kind, name) of every setting, mechanism and python predicate a condition names."""
    stack = [condition]
    while stack:
        c = stack.pop()
        for kind in ("setting", "mechanism", "python"):
            ref = getattr(c, kind)
            if ref is not None:
                yield kind, ref
        stack.extend(c.all or [])
        stack.extend(c.any or [])
        if c.not_ is not None:
            stack.append(c.not_)


def _value_matches(value: Any, where: str) -> Iterator[tuple[str, ValueMatch]]:
    """Every value test anywhere in a spec, with where it is (for checks that span every rule)."""
    if isinstance(value, ValueMatch):
        yield where, value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _value_matches(getattr(value, name), f"{where}.{name}".lstrip("."))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _value_matches(item, f"{where}.{key}".lstrip("."))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _value_matches(item, f"{where}.{i}".lstrip("."))


def _unique(where: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{where}: duplicate id {i!r}")
        seen.add(i)

