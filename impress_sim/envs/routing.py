"""Message routing: which NPC and which role gets which mail and chat, and when.

Mail and chat are state like any other: a message "arrives" when a step's journal adds it to a
mailbox's inbox or a channel the recipient is a member of. From a step's changes this module works
out what reached each NPC (`incoming`, which `deliver` hands to the NPCs, round by round) and what
each role notices (`Mailroom`: the acting role sees its arrivals at once, the others with their next
action), and writes the activity feed overseers read. It receives what it needs (the spec, the
state, the NPCs and what they may do to the world) and never imports the world module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from impress_sim.envs.effects import SYSTEM, EffectRunner
from impress_sim.envs.npcs import NPC, Incoming, NPCWorld
from impress_sim.envs.spec import AgentSpec, NPCSpec, WorldSpec
from impress_sim.envs.state import Change, State
from impress_sim.envs.step import ToolCall, describe_action
from impress_sim.envs.tools.base import ToolError


def _added_messages(changes: Sequence[Change], skip_actor: str) -> list[Change]:
    """Additions of a message (a mailbox or channel entry) by someone other than `skip_actor`."""
    return [c for c in changes if c.op == "add" and c.actor != skip_actor and isinstance(c.new, dict)
            and len(c.path) == 4]


def _is_inbox(change: Change, email: str | None) -> bool:
    return change.path[0] == "mailboxes" and change.path[1] == email and change.path[2] == "inbox"


def _is_chat_to(change: Change, state: State, names: set[str | None]) -> bool:
    if change.path[0] != "chat" or change.path[2] != "messages":
        return False
    return bool(names & set(state.get(("chat", change.path[1], "members"), ())))


def incoming(npc: NPCSpec, state: State, changes: Sequence[Change]) -> list[Incoming]:
    """What reached `npc` in `changes`: new mail in its inbox, new chat in its channels (not its own)."""
    names: set[str | None] = {npc.id, npc.user or npc.id, npc.email}
    items: list[Incoming] = []
    for c in _added_messages(changes, npc.id):
        if _is_inbox(c, npc.email):
            items.append(Incoming("email", c.new))
        elif _is_chat_to(c, state, names):
            items.append(Incoming("chat", c.new, c.path[1]))
    return items


def notices_for(role: str, agent: AgentSpec, state: State, changes: Sequence[Change]) -> list[str]:
    """What `role` would notice arriving in `changes`: new mail and chat from others, one line each."""
    notes: list[str] = []
    for c in _added_messages(changes, role):
        if _is_inbox(c, agent.email):
            notes.append(f"[new email {c.new['id']}] from {c.new['from']}: {c.new['subject']}")
        elif _is_chat_to(c, state, {agent.user, agent.email}):
            notes.append(f"[#{c.path[1]}] {c.new['from']}: {c.new['text']}")
    return notes


async def deliver(npcs: Sequence[NPC], world: NPCWorld, state: State, mark: int, rounds: int) -> None:
    """Let NPCs react to what reached them since journal position `mark`, then to what their
    reactions sent each other, for at most `rounds` rounds (or until nothing more arrives)."""
    cursor = mark
    for _ in range(rounds):
        changes = state.since(cursor)
        cursor = state.mark()
        delivered = False
        for npc in npcs:
            items = incoming(npc.spec, state, changes)
            if items:
                delivered = True
                await npc.react(world, items)
        if not delivered:
            break


class Mailroom:
    """What reached each role through other roles' actions and is not yet shown to it."""

    def __init__(self, spec: WorldSpec, state: State, roles: Sequence[str]) -> None:
        self.spec = spec
        self.state = state
        self._pending: dict[str, list[str]] = {r: [] for r in roles}

    def route(self, role: str, changes: Sequence[Change]) -> list[str]:
        """The acting role's arrivals (earlier ones first); queue everyone else's for their next action."""
        for other, queue in self._pending.items():
            if other != role:
                queue.extend(notices_for(other, self.spec.role(other), self.state, changes))
        return self.take(role) + notices_for(role, self.spec.role(role), self.state, changes)

    def take(self, role: str) -> list[str]:
        """What reached `role` since it last acted (drained)."""
        notes, self._pending[role] = self._pending[role], []
        return notes

    def clear(self) -> None:
        for queue in self._pending.values():
            queue.clear()


def log_activity(runner: EffectRunner, spec: WorldSpec, role: str, call: ToolCall | None, action: Any,
                 error_kind: str | None) -> None:
    """Append the action to the world's activity feed, if it has one and logs this role: overseers
    see the other roles' tool calls only through such a file."""
    feed = spec.activity_feed
    if feed is None or role not in feed.roles:
        return
    from impress_sim.envs.tools import vfs

    if call is not None:
        args = json.dumps(call.args, sort_keys=True, ensure_ascii=False, default=str)
        what = f"{call.name} {args[: feed.max_args_chars]}{'...' if len(args) > feed.max_args_chars else ''}"
    else:
        what = f"(malformed action) {describe_action(action, feed.max_args_chars)}"
    line = f"{runner.state.get('clock/now')} {role}: {what}{f' [{error_kind}]' if error_kind else ''}\n"
    try:
        vfs.write(runner.context(SYSTEM, feed.host), feed.host, feed.path, line, append=True)
    except ToolError as exc:  # e.g. someone deleted the feed's directory: record, don't crash
        runner.errors.append(f"{SYSTEM}: activity feed {feed.path} failed: {exc}")
