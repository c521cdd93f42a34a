"""Swapping stakeholder NPCs for agents: the same world, with a person played by a model.

`npcs_as_agents(loaded, ["it_admin"])` turns each named NPC into an extra agent role with the
NPC's identity (id, account, mailbox), a briefing made from its persona, goals and private
knowledge, and the tools it was allowed as an NPC. Its scripted rules no longer answer: whatever
reaches it now reaches an agent. The world's content hash is kept (the world file is the same),
and the swap is recorded in the spec's roles, so records say who played whom.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

from pydantic import ValidationError

from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.spec import NPCSpec, RoleSpec, WorldSpec
from impress_sim.errors import WorldSpecError

READING = ("list_emails", "read_email", "read_chat")  # an agent must read what an NPC was simply handed
COMMS = ("send_email", "reply_email", "forward_email", "post_chat")


def _briefing(npc: NPCSpec) -> str:
    parts = [f"You are {npc.name}, {npc.role}." + (f" {npc.persona}" if npc.persona else "")]
    if npc.goals:
        parts.append("Your goals:\n" + "\n".join(f"- {g}" for g in npc.goals))
    if npc.knowledge:
        parts.append("What you know (not everyone does):\n" + "\n".join(f"- {k}" for k in npc.knowledge))
    return "\n\n".join(parts)


def npc_as_role(spec: WorldSpec, npc: NPCSpec) -> RoleSpec:
    if npc.email is None:
        raise WorldSpecError(f"npcs_as_agents: NPC {npc.id!r} has no mailbox, so an agent could not play it")
    wanted = [*READING, *(npc.tools or COMMS), "finish"]
    tools = [t for t in dict.fromkeys(wanted) if t in spec.tools]
    return RoleSpec(
        id=npc.id,
        name=npc.name,
        role=npc.role,
        user=npc.user or npc.id,
        email=npc.email,
        host=spec.agent.host,  # NPCs have no machine of their own; their tools here are mail and chat
        home="/",
        system_prompt=_briefing(npc),
        task=f"Work through what reaches you by email and chat today, as {npc.name} would.",
        tools=tools,
    )


def npcs_as_agents(loaded: LoadedWorld, npc_ids: Sequence[str]) -> LoadedWorld:
    """A copy of `loaded` in which each named NPC is an agent role instead."""
    if not npc_ids:
        return loaded
    spec = loaded.spec
    by_id = {n.id: n for n in spec.npcs}
    unknown = [i for i in npc_ids if i not in by_id]
    if unknown:
        raise WorldSpecError(f"npcs_as_agents: unknown NPC {unknown[0]!r}; valid: {', '.join(by_id)}")
    roles = [npc_as_role(spec, by_id[i]) for i in npc_ids]
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["npcs"] = [n for n in data["npcs"] if n["id"] not in npc_ids]
    data["extra_agents"] = [*data.get("extra_agents", []), *(r.model_dump(mode="json") for r in roles)]
    try:
        swapped = WorldSpec.model_validate(data)
    except ValidationError as exc:
        raise WorldSpecError(f"npcs_as_agents {list(npc_ids)}: {exc.errors()[0]['msg']}") from None
    redo = functools.partial(npcs_as_agents, npc_ids=tuple(npc_ids))  # the same swap at every seed
    return dataclasses.replace(loaded, spec=swapped, derived=(*loaded.derived, redo))
