"""Stakeholder NPCs: the interface every NPC implements, and rule-scripted NPCs.

An NPC sees only what reaches it (emails in its mailbox, messages in its channels) and acts only
through the world's journaled tools, exactly like the agent. LLM-driven NPCs implement the same
`NPC` interface, so the world never needs to know which kind it is talking to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from string import Template
from typing import Any, Literal, Protocol

from impress_sim.envs.predicates import Condition
from impress_sim.envs.spec import Effect, MessageMatch, NPCSpec


@dataclass(frozen=True)
class Incoming:
    """A message that reached an NPC during a step."""

    kind: Literal["email", "chat"]
    message: dict[str, Any]
    channel: str | None = None


class NPCWorld(Protocol):
    """What the world offers an NPC: read state, test conditions, apply effects as that NPC."""

    def get(self, path: str | tuple[str, ...], default: Any = None) -> Any: ...

    def holds(self, condition: Condition) -> bool: ...

    def apply_effect(self, effect: Effect, actor: str, variables: dict[str, str] | None = None) -> None: ...

    def remember(self, npc_id: str, key: str) -> bool:
        """Record `key` in the NPC's memory; False if it was already there."""
        ...


class NPC(ABC):
    """A stakeholder who reacts to what reaches them."""

    def __init__(self, spec: NPCSpec) -> None:
        self.spec = spec

    @property
    def id(self) -> str:
        return self.spec.id

    @abstractmethod
    def react(self, world: NPCWorld, incoming: list[Incoming]) -> None:
        """Respond to messages that arrived this step (may do nothing)."""


def _matches(match: MessageMatch, item: Incoming) -> bool:
    import fnmatch

    msg = item.message
    if match.sender is not None and not fnmatch.fnmatchcase(str(msg.get("from", "")), match.sender):
        return False
    if match.channel is not None and item.channel != match.channel:
        return False
    if match.subject is not None and not match.subject.test(msg.get("subject", "")):
        return False
    text = msg.get("body") if item.kind == "email" else msg.get("text")
    return not (match.text is not None and not match.text.test(text or ""))


class ScriptedNPC(NPC):
    """Answers by rules: the first rule whose message match and state guard hold fires."""

    def react(self, world: NPCWorld, incoming: list[Incoming]) -> None:
        for item in incoming:
            for index, rule in enumerate(self.spec.rules):
                if rule.event != item.kind or not _matches(rule.match, item):
                    continue
                if rule.when is not None and not world.holds(rule.when):
                    continue
                if rule.once and not world.remember(self.id, f"rule-{index}"):
                    continue
                variables = {
                    "message_id": str(item.message.get("id", "")),
                    "sender": str(item.message.get("from", "")),
                    "subject": str(item.message.get("subject", "")),
                    "channel": item.channel or "",
                    "text": str(item.message.get("body" if item.kind == "email" else "text", "")),
                }
                for effect in rule.do:
                    world.apply_effect(effect, self.id, variables)
                break


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """Fill `$message_id`-style placeholders in string arguments (nested lists/dicts too)."""
    if isinstance(value, str):
        return Template(value).safe_substitute(variables)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


def make_npc(spec: NPCSpec) -> NPC:
    """The NPC implementation for a spec's `kind` (only `scripted` ships in this version)."""
    return ScriptedNPC(spec)
