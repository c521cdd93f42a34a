"""Every reference a world makes, checked against what the world has: what passes `validate` resets
and steps, and no rule silently never fires.

`WorldSpec`'s own validators check the spec's internal cross-references (detectors -> behaviours,
trajectories -> enabled tools, ...). This module checks what needs the tools and the initial state
tree, and lists every problem (not just the first), each as `<field path>: <what is wrong>; <what is
allowed>`:

- **tools in effects** (jobs, timeline, NPC rules and routines): the tool exists (built-in or the
  world's hooks), its argument names are the tool's and the arguments validate against its
  signature; an email tool's actor has a mailbox; a literal recipient has a mailbox or is outside
  the organisation by the world's own declaration (`org.domains`, an outside person); a chat tool's
  channel exists and its actor is a member; a job, config document, records table, resource or
  account an argument names exists; a `$variable` in an argument is one the runtime fills;
- **state paths** (every condition, `set`/`delete` effect and variant patch): the root is one of the
  state's collections, the entity under it (host, mailbox, channel, service, job, account, resource,
  endpoint, records table, config document) exists at the start or is created by a `set` somewhere in
  the world, and its field is one that entity has. Below the open parts (a host's files, a mailbox's
  messages, a table's rows, a document's keys) anything goes: an agent may create those;
- **writes that cannot happen**: a `set` through a value that is not a mapping, a patch or effect on
  the state root, a `set` that would create a host, job, service (...) half-formed (declare it in
  `initial_state` instead), a variant patch `delete` that matches nothing (a control variant that
  silently keeps the threat);
- **NPCs that would never fire**: email rules of an NPC without a mailbox; chat rules of an NPC that
  is in no channel (or not in the channel the rule names);
- **hosts** a job runs on; **duplicate ids** of messages in one mailbox folder or channel.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from impress_sim.envs.initial import initial_data
from impress_sim.envs.predicates import Condition
from impress_sim.envs.spec import Effect, JobSpec, WorldSpec
from impress_sim.envs.state import State, StateError, bound_value, format_path, parse_path
from impress_sim.envs.tools.base import ToolDef
from impress_sim.errors import unknown

_GLOB = "*?["


@dataclass(frozen=True)
class _Collection:
    """What a top-level collection of the state holds: entities (keyed by name) with known fields.
    `fields` None: any field (records rows, config keys); `open` fields hold anything below them."""

    kind: str
    fields: frozenset[str] | None = None
    open: frozenset[str] = frozenset()
    entities: bool = True  # False: the collection is itself one record (clock)


ROOTS: dict[str, _Collection] = {
    "clock": _Collection("clock field", frozenset({"now", "minutes_per_step"}), entities=False),
    "hosts": _Collection("host", frozenset({"description", "address", "reachable", "files", "processes"}),
                         frozenset({"files", "processes"})),
    "mailboxes": _Collection("mailbox", frozenset({"owner", "inbox", "sent", "drafts"}),
                             frozenset({"inbox", "sent", "drafts"})),
    "chat": _Collection("channel", frozenset({"members", "messages"}), frozenset({"members", "messages"})),
    "records": _Collection("records table"),
    "config": _Collection("config document"),
    "accounts": _Collection("account", frozenset({"display_name", "role", "permissions", "can_grant"}),
                            frozenset({"permissions"})),
    "resources": _Collection("resource", frozenset({"amount", "unit", "owner", "description", "allocations",
                                                    "ledger"}), frozenset({"allocations", "ledger"})),
    "services": _Collection("service", frozenset({"host", "status", "description"})),
    "jobs": _Collection("job", frozenset(JobSpec.model_fields) - {"effects"}, frozenset({"requires"})),
    "endpoints": _Collection("endpoint", frozenset({"description", "methods", "response", "host", "requests"}),
                             frozenset({"methods", "requests"})),
    "outbox": _Collection("outside address", None),
    "meta": _Collection("runtime entry", None),
}
CREATABLE = frozenset({"records", "config", "meta"})  # a `set` may create entities only here

# Built-in tools' arguments that name an entity of a collection (checked when written literally).
_ENTITY_ARGS: dict[tuple[str, str], str] = {
    ("post_chat", "channel"): "chat", ("read_chat", "channel"): "chat",
    ("cancel_job", "job_id"): "jobs", ("reschedule_job", "job_id"): "jobs",
    ("get_config", "name"): "config", ("set_config", "name"): "config",
    ("query_records", "table"): "records", ("update_record", "table"): "records",
    ("allocate_resource", "resource"): "resources", ("transfer_resource", "source"): "resources",
    ("transfer_resource", "target"): "resources",
    ("grant_access", "user"): "accounts", ("revoke_access", "user"): "accounts",
}
_RECIPIENT_ARGS = ("to", "cc")
# `$name` placeholders an effect may use: an NPC rule's message, and (with an org) the actor's manager.
RULE_VARIABLES = frozenset({"message_id", "sender", "subject", "channel", "text", "manager"})
OTHER_VARIABLES = frozenset({"manager"})


@dataclass
class _Checker:
    spec: WorldSpec
    tools: Mapping[str, ToolDef]
    problems: list[str] = field(default_factory=list)
    state: State | None = None
    created: set[tuple[str, str]] = field(default_factory=set)  # (root, entity) a `set` creates

    def add(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    # ---- what exists ------------------------------------------------------------------------
    def entities(self, root: str) -> list[str]:
        assert self.state is not None
        names = set(self.state.children(root)) | {e for r, e in self.created if r == root}
        return sorted(names)

    def open_entities(self, root: str) -> bool:
        """A collection whose entities appear at run time (the runtime's own bookkeeping)."""
        return root in ("meta", "outbox")

    # ---- the run -----------------------------------------------------------------------------
    def run(self) -> list[str]:
        try:
            self.state = State(initial_data(self.spec.initial_state))
        except (StateError, TypeError, ValueError) as exc:
            self.add("initial_state", f"cannot be built: {exc}")
            return self.problems
        sets = [e.set for _w, e, _a, _h in self.effects() if e.set is not None]
        sets += [path for _w, path, op in self.patches() if op == "set"]
        for path in sets:  # a set of a whole document or table creates it; a deeper one only fills it
            parts = parse_path(path)
            if len(parts) == 2 and parts[0] in CREATABLE and not _has_glob(parts[1]):
                self.created.add((parts[0], parts[1]))
        self.check_sizes()
        self.check_ids()
        self.check_jobs()
        self.check_npcs()
        for where, effect, actor, _host in self.effects():
            self.check_effect(where, effect, actor, RULE_VARIABLES if ".rules." in where else OTHER_VARIABLES)
        for where, condition in self.spec.conditions():
            for sub, path in _condition_paths(condition, where):
                self.check_path(sub, path)
        self.check_patches()
        return self.problems

    def effects(self) -> Iterator[tuple[str, Effect, str, str | None]]:
        """(where, effect, who acts by default, host) of every job, event, rule and routine."""
        init = self.spec.initial_state
        for job_id, job in init.jobs.items():
            for i, e in enumerate(job.effects):
                yield f"initial_state.jobs.{job_id}.effects.{i}", e, job.actor, job.host
        for i, ev in enumerate(self.spec.timeline):
            for j, e in enumerate(ev.effects):
                yield f"timeline.{i}.effects.{j}", e, "system", None
        for i, npc in enumerate(self.spec.npcs):
            for j, rule in enumerate(npc.rules):
                for k, e in enumerate(rule.do):
                    yield f"npcs.{i}.rules.{j}.do.{k}", e, npc.id, None
            for j, routine in enumerate(npc.routines):
                for k, e in enumerate(routine.do):
                    yield f"npcs.{i}.routines.{j}.do.{k}", e, npc.id, None

    def patches(self) -> Iterator[tuple[str, str, str]]:
        for axis_name, axis in self.spec.factors.items():
            for value_name, value in axis.values.items():
                for i, patch in enumerate(value.patches):
                    yield f"factors.{axis_name}.values.{value_name}.patches.{i}", patch.path, patch.op

    # ---- ids, jobs, NPCs -----------------------------------------------------------------------
    def check_ids(self) -> None:
        init = self.spec.initial_state
        for address, box in init.mailboxes.items():
            for folder in ("inbox", "sent", "drafts"):
                _duplicates(self, f"initial_state.mailboxes.{address}.{folder}", [m.id for m in getattr(box, folder)],
                            "message id")
        for name, channel in init.chat.items():
            _duplicates(self, f"initial_state.chat.{name}.messages", [m.id for m in channel.messages], "message id")
        _duplicates(self, "extra_agents", [r.id for r in self.spec.extra_agents], "role id")
        emails = [n.email for n in self.spec.npcs if n.email]
        _duplicates(self, "npcs (email)", emails, "NPC address")

    def check_sizes(self) -> None:
        """Free-form state (config documents, records) within the state tree's bounds: a tool or patch
        writing there must never be the first to find the world's own data too deep to keep."""
        init = self.spec.initial_state
        for root, entries in (("config", init.config), ("records", init.records)):
            for name, value in entries.items():
                try:
                    bound_value((root, name), value)
                except StateError as exc:
                    self.add(f"initial_state.{root}.{name}", str(exc))

    def check_jobs(self) -> None:
        hosts = sorted(self.spec.initial_state.hosts)
        for job_id, job in self.spec.initial_state.jobs.items():
            if job.host not in hosts:
                self.add(f"initial_state.jobs.{job_id}.host", unknown("host", job.host, hosts))
        for name, service in self.spec.initial_state.services.items():
            if service.host not in hosts:
                self.add(f"initial_state.services.{name}.host", unknown("host", service.host, hosts))

    def check_npcs(self) -> None:
        boxes = sorted(self.spec.initial_state.mailboxes)
        channels = self.spec.initial_state.chat
        for i, npc in enumerate(self.spec.npcs):
            names = {npc.id, npc.user or npc.id, *([npc.email] if npc.email else [])}
            member_of = [c for c, ch in channels.items() if names & set(ch.members)]
            email_rules = [f"rules.{j}" for j, r in enumerate(npc.rules) if r.event == "email"]
            if email_rules and (npc.email is None or npc.email not in boxes):
                got = "none given" if npc.email is None else unknown("mailbox", npc.email, boxes)
                self.add(f"npcs.{i}.email", f"{got}: its email rules ({', '.join(email_rules)}) would never fire "
                         f"(an NPC receives mail in its mailbox in initial_state.mailboxes)")
            for j, rule in enumerate(npc.rules):
                where = f"npcs.{i}.rules.{j}"
                if rule.event == "chat":
                    wanted = rule.match.channel
                    if wanted is not None and not _has_glob(wanted):
                        if wanted not in channels:
                            self.add(f"{where}.match.channel", unknown("channel", wanted, sorted(channels)))
                        elif wanted not in member_of:
                            self.add(f"{where}.match.channel", f"{npc.id!r} is not a member of #{wanted}: the rule "
                                     f"would never fire (members: {', '.join(channels[wanted].members)})")
                    elif not member_of:
                        self.add(where, f"{npc.id!r} is in no chat channel: its chat rule would never fire "
                                 f"(add {npc.user or npc.id!r} to a channel's members)")

    # ---- effects ------------------------------------------------------------------------------
    def identities(self, actor: str) -> tuple[str | None, set[str]]:
        """(mailbox address, names a channel's members may list) of whoever acts as `actor`."""
        spec = self.spec
        if actor == "agent":
            return spec.agent.email, {"agent", spec.agent.user, spec.agent.email}
        for role in spec.extra_agents:
            if role.id == actor:
                return role.email, {role.id, role.user, role.email}
        for npc in spec.npcs:
            if npc.id == actor:
                return npc.email, {npc.id, npc.user or npc.id, *([npc.email] if npc.email else [])}
        return None, {actor}

    def check_effect(self, where: str, effect: Effect, default_actor: str, variables: frozenset[str]) -> None:
        actor = effect.actor or default_actor
        for at, text in _strings(effect.args, f"{where}.args"):
            for name in _placeholders(text):
                if name not in variables:
                    self.add(at, f"{unknown('variable', '$' + name, sorted('$' + v for v in variables))} "
                             f"(it would stay as written; write $$ for a dollar sign)")
        if effect.notify is not None:
            for name in _placeholders(effect.notify):
                if name not in variables:
                    self.add(f"{where}.notify", unknown("variable", "$" + name, sorted("$" + v for v in variables)))
        if effect.set is not None:
            self.check_path(f"{where}.set", effect.set, write=True)
            self.check_write_through(f"{where}.set", effect.set)
            try:
                bound_value(parse_path(effect.set), effect.value)
            except StateError as exc:
                self.add(f"{where}.value", str(exc))
        elif effect.delete is not None:
            self.check_path(f"{where}.delete", effect.delete)
        if effect.tool is None:
            return
        tool = self.tools.get(effect.tool)
        if tool is None:
            self.add(f"{where}.tool", unknown("tool", effect.tool, sorted(self.tools)))
            return
        fields = tool.args_model.model_fields
        bad = [name for name in effect.args if name not in fields]
        for name in bad:
            self.add(f"{where}.args.{name}", unknown(f"argument of {tool.name}", name, list(fields),
                                                     valid_label="arguments"))
        missing = [n for n, f in fields.items() if f.is_required() and n not in effect.args]
        for name in missing:
            self.add(f"{where}.args", f"{tool.name} needs argument {name!r} (arguments: {', '.join(fields)})")
        if not bad and not missing:
            try:
                tool.args_model.model_validate(dict(effect.args))
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ".".join(str(p) for p in err["loc"])
                    self.add(f"{where}.args.{loc}", f"{err['msg']} ({tool.name}'s signature)")
        address, names = self.identities(actor)
        boxes = sorted(self.spec.initial_state.mailboxes)
        if tool.category == "email" and actor != "system" and (address is None or address not in boxes):
            self.add(f"{where}.actor", f"{actor!r} has no mailbox, so {tool.name} would always fail (email tools "
                     f"act from the actor's mailbox; mailboxes: {', '.join(boxes)})")
        if tool.category == "email":
            for arg in _RECIPIENT_ARGS:
                for k, recipient in _literal_items(effect.args.get(arg)):
                    self.check_recipient(f"{where}.args.{arg}{k}", recipient, boxes)
        for (tool_name, arg), root in _ENTITY_ARGS.items():
            value = effect.args.get(arg) if tool_name == tool.name else None
            if isinstance(value, str) and "$" not in value and not self.open_entities(root):
                known = self.entities(root)
                if value not in known:
                    self.add(f"{where}.args.{arg}", unknown(ROOTS[root].kind, value, known))
                elif root == "chat" and actor != "system":
                    members = set(self.spec.initial_state.chat[value].members) if value in \
                        self.spec.initial_state.chat else set()
                    if members and not names & members:
                        self.add(f"{where}.actor", f"{actor!r} is not a member of #{value}, so {tool.name} would "
                                 f"always fail (members: {', '.join(sorted(members))})")

    def check_recipient(self, where: str, address: str, boxes: list[str]) -> None:
        if address in boxes or _declared_outside(self.spec, address):
            return
        groups = self.spec.org.groups if self.spec.org is not None else {}
        if address.casefold() in {g.casefold() for g in groups}:
            return
        outside = ("is not outside the organisation (org.domains)" if self.spec.org is not None and
                   self.spec.org.domains else "the world declares no org.domains that would place it outside")
        self.add(where, f"{unknown('mailbox', address, boxes)}; it has no mailbox and {outside}, so the mail "
                 f"reaches no one")

    # ---- state paths -------------------------------------------------------------------------
    def check_path(self, where: str, path: str, *, write: bool = False) -> None:
        """The collection, entity and field a path names exist (or are created by the world)."""
        parts = parse_path(path)
        if not parts:
            self.add(where, f"{path!r} is the root of the state; name a path under one of: {', '.join(ROOTS)}")
            return
        root = parts[0]
        roots = [r for r in ROOTS if fnmatch.fnmatchcase(r, root)] if _has_glob(root) else [root]
        if not roots or roots[0] not in ROOTS:
            self.add(where, f"{path!r}: {unknown('state collection', root, list(ROOTS))}")
            return
        if len(roots) > 1 or len(parts) < 2:
            return
        coll = ROOTS[root]
        if not coll.entities:
            self.check_field(where, path, coll, parts[1], parts[2:])
            return
        entity = parts[1]
        if self.open_entities(root):
            return
        known = self.entities(root)
        if _has_glob(entity):
            matched = [e for e in known if fnmatch.fnmatchcase(e, entity)]
            if not matched:
                self.add(where, f"{path!r}: no {coll.kind} matches {entity!r}; {coll.kind}s: {', '.join(known)}")
            return
        if entity not in known:
            if root in CREATABLE:
                hint = (f" (declare it in initial_state.{root}, empty if something creates it later, or set the "
                        f"whole {coll.kind} with `set: {root}/{entity}`)")
            elif write:
                hint = f" (a set cannot create a {coll.kind}: declare it in initial_state.{root})"
            else:
                hint = ""
            self.add(where, f"{path!r}: {unknown(coll.kind, entity, known)}{hint}")
            return
        if len(parts) > 2:
            self.check_field(where, path, coll, parts[2], parts[3:])

    def check_field(self, where: str, path: str, coll: _Collection, name: str, rest: tuple[str, ...]) -> None:
        if coll.fields is None:
            return
        fields = sorted(coll.fields)
        if _has_glob(name):
            if not any(fnmatch.fnmatchcase(f, name) for f in fields):
                self.add(where, f"{path!r}: no field matches {name!r}; a {coll.kind} has: {', '.join(fields)}")
            return
        if name not in coll.fields:
            self.add(where, f"{path!r}: {unknown(f'field of a {coll.kind}', name, fields, valid_label='fields')}")
        elif rest and name not in coll.open:
            self.add(where, f"{path!r}: {name!r} of a {coll.kind} is a single value; nothing is under it")

    def check_write_through(self, where: str, path: str) -> None:
        """A `set` must not pass through a value that is not a mapping (nor replace the root)."""
        assert self.state is not None
        parts = parse_path(path)
        if not parts or any(_has_glob(p) for p in parts):
            if parts:
                self.add(where, f"{path!r}: a set names one path; globs are for delete and conditions")
            return
        node: Any = self.state.get((), None)
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict):
                break
            node = node.get(part)
            if node is not None and not isinstance(node, dict):
                self.add(where, f"{path!r}: {format_path(parts[: i + 1])} is a value ({type(node).__name__}), not "
                         f"a mapping, so nothing can be set under it")
                return

    # ---- variant patches -----------------------------------------------------------------------
    def check_patches(self) -> None:
        assert self.state is not None
        base = self.state.snapshot()
        for axis_name, axis in self.spec.factors.items():
            for value_name, value in axis.values.items():
                self.state.restore(base)
                for i, patch in enumerate(value.patches):
                    where = f"factors.{axis_name}.values.{value_name}.patches.{i}"
                    parts = parse_path(patch.path)
                    if not parts:
                        self.add(f"{where}.path", f"{patch.path!r} is the root of the state; a patch names a path "
                                 f"under one of: {', '.join(ROOTS)}")
                        continue
                    before = len(self.problems)
                    self.check_path(f"{where}.path", patch.path, write=patch.op == "set")
                    if len(self.problems) > before:
                        continue
                    if patch.op == "delete":
                        if not self.state.exists(parts):
                            near = _near_path(self.state, parts)
                            self.add(f"{where}.path", f"delete {patch.path!r} matches nothing in the initial state"
                                     f"{near}: the variant would silently keep it")
                            continue
                        self.state.delete(parts, actor="variant")
                        continue
                    try:
                        self.state.set(parts, patch.value, actor="variant", parents=True)
                    except StateError as exc:
                        self.add(f"{where}.path", f"set {patch.path!r} cannot be applied: {exc}")
        self.state.restore(base)


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}.{i}")


def _placeholders(text: str) -> list[str]:
    """The `$name` / `${name}` placeholders `string.Template` would fill in `text` (`$$` is a dollar)."""
    from string import Template

    return [m.group("named") or m.group("braced") for m in Template.pattern.finditer(text)
            if m.group("named") or m.group("braced")]


def _has_glob(segment: str) -> bool:
    return any(ch in segment for ch in _GLOB)


def _duplicates(checker: _Checker, where: str, ids: list[str], kind: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            checker.add(where, f"duplicate {kind} {i!r}; each must be unique")
        seen.add(i)


def _literal_items(value: Any) -> Iterator[tuple[str, str]]:
    """(".k" index suffix, address) of literal addresses in a recipients argument (no `$variables`)."""
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    for k, item in enumerate(items):
        if isinstance(item, str) and item.strip() and "$" not in item:
            yield (f".{k}" if isinstance(value, list) else ""), item.strip()


def _declared_outside(spec: WorldSpec, address: str) -> bool:
    """An address the world itself places outside the organisation: a domain that is not the org's,
    or a person of another organisation. Mail to it leaves the world (recorded as external)."""
    if spec.org is None:
        return False
    from impress_sim.envs.graph import directory

    d = directory(spec)
    return d.external_address(address) or (d.person(address) is not None and not d.inside(address))


def _condition_paths(condition: Condition, where: str) -> Iterator[tuple[str, str]]:
    stack = [(condition, where)]
    while stack:
        c, at = stack.pop()
        if c.path is not None:
            yield f"{at}.path", c.path
        for kind in ("all", "any"):
            for i, sub in enumerate(getattr(c, kind) or []):
                stack.append((sub, f"{at}.{kind}.{i}"))
        if c.not_ is not None:
            stack.append((c.not_, f"{at}.not"))


def _near_path(state: State, parts: tuple[str, ...]) -> str:
    """" (did you mean ...)" for the last segment of a path whose parent exists, or where it stops existing."""
    import difflib

    for depth in range(len(parts) - 1, -1, -1):
        if state.exists(parts[:depth]) or depth == 0:
            siblings = state.children(parts[:depth])
            close = difflib.get_close_matches(parts[depth], siblings, n=1, cutoff=0.6)
            if close:
                return f" (did you mean {format_path((*parts[:depth], close[0]))!r}?)"
            shown = ", ".join(siblings[:12]) + (", ..." if len(siblings) > 12 else "")
            return f" ({format_path(parts[:depth]) or 'the state'} has: {shown})"
    return ""


def world_problems(spec: WorldSpec, tools: Mapping[str, ToolDef]) -> list[str]:
    """Every problem with the references `spec` makes (empty: none). `tools`: every tool there is in the
    world (built-in and hooks')."""
    return _Checker(spec, tools).run()
