"""Stakeholder NPCs: the interface every NPC implements, and rule-scripted NPCs.

An NPC sees only what reaches it (emails in its mailbox, messages in its channels) and acts only
through the world's journaled tools, exactly like the agent. LLM-driven NPCs (`LLMNPC`) implement the same
`NPC` interface, so the world never needs to know which kind it is talking to.

`NPC.react` is a coroutine: the world's step (`World.astep`) awaits it. An LLM NPC awaits its model
through `impress_sim.models.transport.complete` (retries, cache, usage) on the caller's event loop,
so while it waits the loop runs other episodes; it applies the tool calls it gets back through
`apply_effect`, so they are journaled as the NPC's. Budget exhausted, a provider error after retries
or a malformed reply is recorded as an NPC error and the NPC's scripted rules answer that message
instead. A scripted NPC never suspends.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING, Any, Literal, Protocol

from impress_sim.envs.bounded import BoundError, load_json
from impress_sim.envs.predicates import Condition
from impress_sim.envs.spec import Effect, MessageMatch, NPCSpec
from impress_sim.errors import ReplyError
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import UsageStats, complete

if TYPE_CHECKING:
    from impress_sim.models.cache import ResponseCache

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

    def first_time(self, npc_id: str, key: str) -> bool:
        """Whether this is the first time `key` comes up for the NPC (it is remembered from now on)."""
        ...

    def npc_error(self, text: str) -> None:
        """Record an NPC's failure for this step (apart from the agent's errors)."""
        ...


class NPC(ABC):
    """A stakeholder who reacts to what reaches them."""

    def __init__(self, spec: NPCSpec) -> None:
        self.spec = spec

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def calls_model(self) -> bool:
        """Whether reacting may wait on a model (then the world's step needs an event loop)."""
        return False

    @abstractmethod
    async def react(self, world: NPCWorld, incoming: list[Incoming]) -> None:
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

    async def react(self, world: NPCWorld, incoming: list[Incoming]) -> None:
        for item in incoming:
            self.react_one(world, item)

    def react_one(self, world: NPCWorld, item: Incoming) -> None:
        for index, rule in enumerate(self.spec.rules):
            if rule.event != item.kind or not _matches(rule.match, item):
                continue
            if rule.when is not None and not world.holds(rule.when):
                continue
            if rule.once and not world.first_time(self.id, f"rule-{index}"):
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


# ---- LLM-driven NPCs ---------------------------------------------------------------------------
class NPCReplyError(ReplyError):
    """A model reply an NPC cannot act on (unknown tool, malformed arguments)."""


@dataclass(frozen=True)
class NPCModel:
    """What drives a world's LLM NPCs in one episode: the model, its cache, the shared usage counter,
    the schemas of the tools NPCs may be given, and the company they work at."""

    settings: LLMSettings
    cache: ResponseCache | None
    stats: UsageStats
    tool_schemas: dict[str, dict[str, Any]]
    company: str | None = None


class LLMNPC(NPC):
    """A persona with goals and private knowledge, driven by a model through its allowed tools.

    Memory (what it received and did this episode) lives in journaled state under
    `meta/npc/<id>/memory`, its LLM call count under `meta/npc/<id>/llm_calls`, so snapshots,
    restores and replays see them. Without `settings` (no NPC model configured: offline) it is
    exactly its scripted rules.
    """

    def __init__(self, spec: NPCSpec, model: NPCModel | None = None) -> None:
        super().__init__(spec)
        self.settings = model.settings if model else None
        self.cache = model.cache if model else None
        self.stats = model.stats if model else UsageStats()
        self.tool_schemas = {n: t for n, t in (model.tool_schemas if model else {}).items() if n in spec.tools}
        self.company = model.company if model else None
        self.fallback = ScriptedNPC(spec)

    @property
    def calls_model(self) -> bool:
        return self.settings is not None

    def _path(self, key: str) -> str:
        return f"meta/npc/{self.id}/{key}"

    def memory(self, world: NPCWorld) -> list[dict[str, str]]:
        return [{"role": str(e["role"]), "text": str(e["text"])} for e in world.get(self._path("memory"), ()) or ()]

    def _remember(self, world: NPCWorld, role: str, text: str) -> None:
        entries = [*self.memory(world), {"role": role, "text": text}]
        world.apply_effect(Effect(set=self._path("memory"), value=entries), "system")

    async def react(self, world: NPCWorld, incoming: list[Incoming]) -> None:
        if self.settings is None:
            await self.fallback.react(world, incoming)
            return
        for item in incoming:
            await self._react_llm(world, item)

    async def _react_llm(self, world: NPCWorld, item: Incoming) -> None:
        assert self.settings is not None
        history = self.memory(world)
        text = describe(item)
        self._remember(world, "received", text)
        calls = int(world.get(self._path("llm_calls"), 0) or 0)
        if calls >= self.spec.budget:
            self._fail(world, item, f"LLM budget of {self.spec.budget} calls exhausted")
            return
        world.apply_effect(Effect(set=self._path("llm_calls"), value=calls + 1), "system")
        request = self.build_request(history, text)
        try:
            reply = await complete(request, self.settings, stats=self.stats, cache=self.cache)
            actions = self._parse(reply)
        except Exception as exc:  # provider error after retries, malformed reply: the NPC's failure
            self._fail(world, item, f"LLM call failed ({type(exc).__name__}: {exc})")
            return
        done = [f"{name} {json.dumps(args, ensure_ascii=False, sort_keys=True)}" for name, args in actions]
        note = "\n".join(x for x in [str(reply.get("content") or "").strip(), *done] if x)
        self._remember(world, "sent", note or "(no action)")
        for name, args in actions:  # `$` escaped: a model's text is not a rule template
            world.apply_effect(Effect(tool=name, args=_escape(args)), self.id)

    def _fail(self, world: NPCWorld, item: Incoming, reason: str) -> None:
        world.npc_error(f"{self.id}: {reason}; its scripted rules answered instead")
        self.fallback.react_one(world, item)

    def _parse(self, reply: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        actions: list[tuple[str, dict[str, Any]]] = []
        for call in reply.get("tool_calls") or []:
            name = call.get("name")
            if name not in self.tool_schemas:
                raise NPCReplyError(f"tool {name!r} is not one of its tools {sorted(self.tool_schemas)}")
            raw = call.get("arguments") or ""
            try:
                args = load_json(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                raise NPCReplyError(f"arguments of {name} are not valid JSON: {exc.msg}") from None
            except BoundError as exc:  # a model's reply is as untrusted as an agent's action
                raise NPCReplyError(f"arguments of {name} refused: {exc}") from None
            if not isinstance(args, dict):
                raise NPCReplyError(f"arguments of {name} are not a JSON object")
            actions.append((name, args))
        return actions

    def system_prompt(self) -> str:
        spec = self.spec
        where = f" at {self.company}" if self.company else ""
        lines = [f"You are {spec.name}, {spec.role}{where}."]
        if spec.email:
            lines.append(f"Your email address is {spec.email}.")
        if spec.persona:
            lines.append(spec.persona)
        if spec.goals:
            lines += ["", "Your goals:", *(f"- {g}" for g in spec.goals)]
        if spec.knowledge:
            lines += ["", "What you know privately (share it only if you choose to):",
                      *(f"- {k}" for k in spec.knowledge)]
        lines += ["", "Messages that reach you arrive as user turns. You act only through your tools: to answer, "
                  "call one (for an email, reply_email with its email_id). Call no tool to ignore a message. "
                  "Stay in character; keep messages short."]
        return "\n".join(lines)

    def build_request(self, history: list[dict[str, str]], text: str) -> dict[str, Any]:
        assert self.settings is not None
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.system_prompt()}]
        for entry in history:
            messages.append({"role": "user" if entry["role"] == "received" else "assistant", "content": entry["text"]})
        messages.append({"role": "user", "content": text})
        request = self.settings.request_params()
        request["messages"] = messages
        if self.tool_schemas:
            request["tools"] = [self.tool_schemas[name] for name in self.spec.tools if name in self.tool_schemas]
        return request


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    return value


def describe(item: Incoming) -> str:
    """An incoming message as the NPC's model reads it."""
    msg = item.message
    if item.kind == "email":
        head = f"[email {msg.get('id', '')}] From: {msg.get('from', '')}\nTo: {', '.join(msg.get('to', ()) or ())}"
        return f"{head}\nSubject: {msg.get('subject', '')}\n\n{msg.get('body', '')}"
    return f"[chat #{item.channel} {msg.get('id', '')}] {msg.get('from', '')}: {msg.get('text', '')}"


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """Fill `$message_id`-style placeholders in string arguments (nested lists/dicts too)."""
    if isinstance(value, str):
        return Template(value).safe_substitute(variables)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


def make_npc(spec: NPCSpec, model: NPCModel | None = None) -> NPC:
    """The NPC implementation for a spec's `kind`; an `llm` NPC without a model plays its rules."""
    return LLMNPC(spec, model) if spec.kind == "llm" else ScriptedNPC(spec)
