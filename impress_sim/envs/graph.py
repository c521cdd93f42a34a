"""The world's network and social graphs, and the queries judges and reports ask of them.

- The **network graph** says which host can open a connection to which. With a `network:` in the
  spec, only its links connect hosts (both ways unless `directed`); without one, every host whose
  `reachable` flag is true is reachable from the agent's host, as before. A host whose flag is false
  is down: nobody reaches it. The shell's scp/rsync and curl ask `can_reach`.
- The **social graph** holds people (the `org:` people, then any NPC or the agent not listed there),
  mailboxes and chat channels: `mailbox -> person` (reads it: its owner and delegates),
  `channel -> person` (member) and `person -> person` (reports to).
- **Queries**: `reached` (who received content carrying a text, label or message id, and by which
  chain of messages), `outside_company` (which of those are not in the company).

A *source* is anything with `get(path, default)` (a `World` or `State`: every message in the state
counts) or with `steps` whose `diff`s hold journaled changes (an `EpisodeRecord`: only what was
delivered during the episode counts). `networkx` is imported only when a graph is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import parseaddr
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from impress_sim.envs.spec import WorldSpec

if TYPE_CHECKING:
    import networkx as nx

AGENT = "agent"
Getter = Callable[..., Any]


# ---- network -----------------------------------------------------------------------------------
def _hosts(spec: WorldSpec, get: Getter | None) -> dict[str, bool]:
    """Host -> up (its `reachable` flag), from the state when given, else from the spec."""
    if get is not None:
        return {h: bool(n.get("reachable", True)) for h, n in (get("hosts", {}) or {}).items()}
    return {h: spec_h.reachable for h, spec_h in spec.initial_state.hosts.items()}


def links(spec: WorldSpec, get: Getter | None = None) -> set[tuple[str, str]]:
    """Directed (from, to) pairs that may connect, before hosts being down is considered."""
    if spec.network is None:
        src = spec.agent.host
        return {(src, h) for h in _hosts(spec, get) if h != src}
    pairs = {(a, b) for a, b in spec.network.links}
    if not spec.network.directed:
        pairs |= {(b, a) for a, b in pairs}
    return pairs


def can_reach(spec: WorldSpec, get: Getter, src: str | None, dst: str) -> bool:
    """Whether `src` (default: the agent's host) can open a connection to `dst` now."""
    node = get(("hosts", dst), None)
    if node is None or not bool(node.get("reachable", True)):
        return False
    src = src or spec.agent.host
    if spec.network is None or src == dst:
        return True
    return (src, dst) in links(spec, get)


def network_graph(spec: WorldSpec, get: Getter | None = None) -> nx.DiGraph:
    """Hosts (attribute `up`) and the links between them (edges to a down host are left out)."""
    import networkx as nx

    hosts = _hosts(spec, get)
    graph = nx.DiGraph()
    for host, up in hosts.items():
        graph.add_node(host, up=up)
    graph.add_edges_from((a, b) for a, b in links(spec, get) if hosts.get(b, False) and a in hosts)
    return graph


# ---- people, identities and the organisation boundary ----------------------------------------
@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str | None
    organisation: str | None
    manager: str | None = None
    reads: tuple[str, ...] = ()
    user: str | None = None
    identities: frozenset[str] = frozenset()  # every address, account and handle, case-folded


class Directory:
    """Who is who: every identity (addresses, accounts, chat handles, NPC ids, group aliases) resolved
    to people, and which side of the organisation's boundary each is on.

    Built once per spec (`directory(spec)`). Rules and judges ask it instead of comparing addresses,
    so mail to someone's personal address, to a group they are in, or to a mailbox they read all
    reach the same person."""

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        org = spec.org
        self.company = org.company if org is not None else None
        self.domains = frozenset(d.casefold() for d in org.domains) if org is not None else frozenset()
        self.people: dict[str, Person] = {}
        for p in org.people if org is not None else []:
            names = {p.id, *(x for x in (p.email,) if x), *p.identities}
            self.people[p.id] = Person(p.id, p.name, p.email, p.organisation or self.company, p.manager,
                                       tuple(p.reads), identities=frozenset(n.casefold() for n in names))
        self._index: dict[str, str] = {}
        for person in self.people.values():
            for name in person.identities:
                self._index.setdefault(name, person.id)
        for npc in spec.npcs:  # NPCs not in the org chart are people of the company too
            known = self._index.get(npc.id.casefold()) or (npc.email and self._index.get(npc.email.casefold()))
            if known:
                self._add_names(known, npc.id, npc.email, npc.user or npc.id)
                continue
            names = {npc.id, npc.user or npc.id, *(x for x in (npc.email,) if x)}
            self.people[npc.id] = Person(npc.id, npc.name, npc.email, self.company, user=npc.user or npc.id,
                                         identities=frozenset(n.casefold() for n in names))
            for name in names:
                self._index.setdefault(name.casefold(), npc.id)
        agent = spec.agent
        agent_id = self._index.get(agent.email.casefold()) or self._index.get(agent.user.casefold())
        if agent_id is None:
            agent_id = AGENT
            self.people[AGENT] = Person(AGENT, agent.name, agent.email, self.company, user=agent.user)
        self.agent_id = agent_id
        self._add_names(agent_id, AGENT, agent.email, agent.user, *agent.controls)
        for role in spec.extra_agents:  # further agents are people of the company, by their role id
            rid = self._index.get(role.email.casefold()) or role.id
            if rid not in self.people:
                self.people[rid] = Person(rid, role.name, role.email, self.company, user=role.user)
            self._add_names(rid, role.id, role.email, role.user)
        self.groups: dict[str, tuple[str, ...]] = {
            alias.casefold(): tuple(members) for alias, members in (org.groups if org is not None else {}).items()
        }

    def _add_names(self, person_id: str, *names: str | None) -> None:
        person = self.people[person_id]
        folded = {n.casefold() for n in names if n}
        self.people[person_id] = dataclasses.replace(person, identities=person.identities | folded)
        for name in folded:
            self._index.setdefault(name, person_id)

    def person(self, identity: str) -> str | None:
        """The person id of any of their identities (case-blind, display names ignored), or None."""
        return self._index.get(_bare(identity))

    def audience(self, identity: str) -> set[str]:
        """Who reads what is sent to `identity`: its person, a group's members (recursively), and the
        delegates who read that mailbox. Someone the world does not know is their folded address."""
        found: set[str] = set()
        stack, seen = [_bare(identity)], set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in self.groups:
                stack.extend(m.casefold() for m in self.groups[name])
                continue
            person = self._index.get(name)
            delegates = {p.id for p in self.people.values() if name in {r.casefold() for r in p.reads}}
            found |= delegates
            if person is not None or not delegates:  # an unowned mailbox is read by its delegates alone
                found.add(person if person is not None else name)
        return found

    def reaches(self, identities: Iterable[str] | str, people: Iterable[str]) -> bool:
        """Whether anything sent to `identities` is read by any of `people` (person ids)."""
        names = [identities] if isinstance(identities, str) else list(identities)
        wanted = set(people)
        return any(self.audience(n) & wanted for n in names if n)

    def inside(self, who: str) -> bool:
        """Whether `who` (a person id or an identity) is inside the organisation. Without an `org`,
        everyone is (the world does not say who is outside)."""
        if self.company is None:
            return True
        person = self.people.get(who) or self.people.get(self.person(who) or "")
        if person is not None:
            return person.organisation == self.company
        address = _bare(who)
        return "@" in address and address.rpartition("@")[2] in self.domains

    def outside(self, who: str) -> bool:
        """Whether anything sent to `who` (a person, an identity, a group) leaves the organisation: it
        reaches someone outside, or travels through a mail domain that is not the company's (an insider's
        personal address is still a way out of the company's systems)."""
        if self.company is None:
            return False
        if self.external_address(who):
            return True
        if who in self.people or self.person(who) is not None:
            return not self.inside(who)
        return any(not self.inside(m) for m in self.audience(who))

    def external_address(self, who: str) -> bool:
        """An email address outside the company's mail domains (when the org declares any)."""
        address = _bare(who)
        return bool(self.domains) and "@" in address and address.rpartition("@")[2] not in self.domains

    def file_readers(self, host: str, path: str) -> frozenset[str]:
        """Who reads a file at `path` on `host` besides the host's own users: the audiences of the
        readers the host declares for folders matching it (a published reports folder, a share)."""
        spec_host = self.spec.initial_state.hosts.get(host)
        if spec_host is None or not spec_host.readers:
            return frozenset()
        return frozenset(m for glob, readers in spec_host.readers.items() if fnmatchcase(path, glob)
                         for r in readers for m in self.audience(r))

    def host_inside(self, host: str) -> bool:
        spec_host = self.spec.initial_state.hosts.get(host)
        return spec_host is not None and not spec_host.external


def _bare(identity: str) -> str:
    """An identity as the directory keys it: `"IT Security <sec@x.com>"` is `sec@x.com`; case-blind."""
    text = identity.strip()
    if "<" in text and text.endswith(">"):
        text = parseaddr(text)[1] or text
    return text.casefold()


_DIRECTORIES: dict[int, tuple[WorldSpec, Directory]] = {}


def directory(spec: WorldSpec) -> Directory:
    """The spec's directory, built once (specs are immutable)."""
    hit = _DIRECTORIES.get(id(spec))
    if hit is None or hit[0] is not spec:
        if len(_DIRECTORIES) > 256:
            _DIRECTORIES.clear()
        hit = (spec, Directory(spec))
        _DIRECTORIES[id(spec)] = hit
    return hit[1]


def people(spec: WorldSpec) -> dict[str, Person]:
    """Everyone the world knows: the org's people, then NPCs, the agent and extra agents not listed there."""
    return directory(spec).people


def person_of(spec: WorldSpec, who: str) -> Person | None:
    """The person with this id or any of their identities (case-blind)."""
    d = directory(spec)
    pid = who if who in d.people else d.person(who)
    return d.people.get(pid) if pid is not None else None


def outside_company(spec: WorldSpec, who: Iterable[str]) -> set[str]:
    """Those of `who` (person ids or identities) outside the company. Without an `org`: none known.

    A person is outside when their organisation is not the company; an address no person has is
    outside unless its domain is one of the org's `domains`. A group is outside if any member is.
    """
    if spec.org is None:
        return set()
    d = directory(spec)
    return {w for w in who if d.outside(w)}


def sink_outside(spec: WorldSpec, sink: str) -> bool | None:
    """Whether an information-flow sink (`email:<a>`, `chat:<c>`) reaches anyone outside the company;
    None when the world has no `org` or the sink is a host or URL (the org does not say)."""
    kind, _, name = sink.partition(":")
    if spec.org is None or kind not in ("email", "chat"):
        return None
    if kind == "email":
        return bool(outside_company(spec, [name]))
    members = spec.initial_state.chat[name].members if name in spec.initial_state.chat else []
    return bool(outside_company(spec, members))


def readers(spec: WorldSpec, address: str) -> set[str]:
    """Who reads a mailbox: its owner and delegates (person ids); an unknown address reads itself."""
    found = directory(spec).audience(address)
    return {address if p == address.casefold() and p not in people(spec) else p for p in found}


def social_graph(spec: WorldSpec, get: Getter | None = None) -> nx.DiGraph:
    """People, mailboxes and channels: `mailbox:<a>` -> `person:<id>` (reads), `channel:<c>` ->
    `person:<id>` (member), `person:<id>` -> `person:<manager>` (reports_to)."""
    import networkx as nx

    graph = nx.DiGraph()
    everyone = people(spec)
    outside = outside_company(spec, everyone)
    for p in everyone.values():
        graph.add_node(f"person:{p.id}", kind="person", name=p.name, email=p.email,
                       organisation=p.organisation, outside=p.id in outside)
    boxes = set(get("mailboxes", {}) or {}) if get is not None else set(spec.initial_state.mailboxes)
    boxes |= {p.email for p in everyone.values() if p.email}
    for box in sorted(boxes):
        graph.add_node(f"mailbox:{box}", kind="mailbox")
        for reader in readers(spec, box):
            if reader in everyone:
                graph.add_edge(f"mailbox:{box}", f"person:{reader}", kind="reads")
    channels = ({c: list(n.get("members", ())) for c, n in (get("chat", {}) or {}).items()} if get is not None
                else {c: ch.members for c, ch in spec.initial_state.chat.items()})
    for channel, members in sorted(channels.items()):
        graph.add_node(f"channel:{channel}", kind="channel")
        for member in members:
            person = person_of(spec, member)
            if person is not None:
                graph.add_edge(f"channel:{channel}", f"person:{person.id}", kind="member")
    for p in everyone.values():
        if p.manager is not None:
            graph.add_edge(f"person:{p.id}", f"person:{p.manager}", kind="reports_to")
    return graph


def manager_email(spec: WorldSpec, who: str) -> str | None:
    """The email address of `who`'s manager (an NPC id, person id or address), if the org says."""
    person = person_of(spec, who)
    if person is None or person.manager is None:
        return None
    manager = people(spec).get(person.manager)
    return manager.email if manager else None


# ---- what reached whom -------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """A message that arrived somewhere: a mailbox (`email:<a>`) or a channel (`chat:<c>`)."""

    where: str
    message: dict[str, Any]
    actor: str | None = None  # who sent it, per the journal (records only)
    step: int | None = None


def _messages(source: Any) -> Iterator[Delivery]:
    if hasattr(source, "steps"):
        for step in source.steps:
            for change in step.diff:
                parts = change.get("parts") or str(change["path"]).split("/")
                if change.get("op") == "add" and isinstance(change.get("new"), dict):
                    yield from _delivered(tuple(parts), change["new"], change.get("actor"), change.get("step"))
        return
    for address, box in (source.get("mailboxes", {}) or {}).items():
        for folder in ("inbox", "sent"):
            for msg_id, msg in (box.get(folder) or {}).items():
                yield from _delivered(("mailboxes", address, folder, msg_id), msg, None, None)
    for channel, node in (source.get("chat", {}) or {}).items():
        for msg_id, msg in (node.get("messages") or {}).items():
            yield from _delivered(("chat", channel, "messages", msg_id), msg, None, None)


def _delivered(parts: tuple[str, ...], msg: Any, actor: str | None, step: int | None) -> Iterator[Delivery]:
    if len(parts) != 4 or not isinstance(msg, dict):
        return
    if parts[0] == "mailboxes" and parts[2] == "inbox":
        yield Delivery(f"email:{parts[1]}", dict(msg), actor, step)
    elif parts[0] == "mailboxes" and parts[2] == "sent":
        for address in msg.get("external") or ():  # mail that left the world still reached them
            yield Delivery(f"email:{address}", dict(msg), actor, step)
    elif parts[0] == "chat" and parts[2] == "messages":
        yield Delivery(f"chat:{parts[1]}", dict(msg), actor, step)


def _carries(msg: dict[str, Any], needle: str) -> bool:
    if msg.get("id") == needle or needle in (msg.get("labels") or ()):
        return True
    folded = needle.casefold()
    texts = [msg.get("subject", ""), msg.get("body", ""), msg.get("text", ""),
             *(a.get("content", "") for a in msg.get("attachments") or () if isinstance(a, dict))]
    return any(folded in str(t).casefold() for t in texts)


def _recipients(spec: WorldSpec, where: str, get: Getter | None) -> set[str]:
    kind, _, name = where.partition(":")
    if kind == "email":
        return readers(spec, name)
    members = get(("chat", name, "members"), ()) if get is not None else (
        spec.initial_state.chat[name].members if name in spec.initial_state.chat else ())
    found = set()
    for m in members or ():
        person = person_of(spec, m)
        found.add(person.id if person else m)
    return found


def thread(source: Any, message_id: str) -> list[str]:
    """The chain of message ids that led to `message_id` (forwards and replies), oldest first."""
    by_id = {d.message.get("id"): d.message for d in _messages(source)}
    chain: list[str] = []
    current: str | None = message_id
    while current is not None and current not in chain:
        chain.append(current)
        msg = by_id.get(current, {})
        current = msg.get("forwarded_from") or msg.get("in_reply_to")
    return chain[::-1]


def reached(spec: WorldSpec, source: Any, needle: str) -> dict[str, list[str]]:
    """Who received content carrying `needle` (a text, a label or a message id): person id (or the
    address/member name of someone the world does not know) -> the message chain that got it there,
    oldest first. For a record, only what was delivered during the episode counts."""
    get = getattr(source, "get", None) if not hasattr(source, "steps") else None
    found: dict[str, list[str]] = {}
    for delivery in _messages(source):
        if not _carries(delivery.message, needle):
            continue
        sender = person_of(spec, str(delivery.message.get("from", "")))
        for who in sorted(_recipients(spec, delivery.where, get)):
            if sender is not None and who == sender.id:
                continue
            if who not in found:
                found[who] = thread(source, str(delivery.message.get("id")))
    return found

