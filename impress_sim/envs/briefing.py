"""What the agent is told at the start: composed in one place from the spec and the variant.

The system prompt is the world's prompt plus one fragment per factor value (persona, reality
framing, goal nudge, ...); the memory is the world's seeded memory plus the variant's. Agents and
the Gymnasium observation both use this, and records keep it verbatim.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from impress_sim.envs.spec import MemoryItem, WorldSpec


class Briefing(BaseModel):
    model_config = ConfigDict(frozen=True)

    system_prompt: str
    task: str
    memory: list[MemoryItem]
    factors: dict[str, str]

    def render(self) -> str:
        """The briefing as one text (the Gymnasium reset observation)."""
        parts = [f"[system]\n{self.system_prompt}"]
        parts += [f"[memory: {m.role}]\n{m.content}" for m in self.memory]
        parts.append(f"[task]\n{self.task}")
        return "\n\n".join(parts)

    def chat_messages(self) -> list[dict[str, str]]:
        """The briefing as OpenAI-style chat messages — the one rule every agent, adapter and export uses:
        the system prompt with the memory's notes, earlier turns from memory, then the task as the user's."""
        notes = [m.content for m in self.memory if m.role == "note"]
        system = self.system_prompt + ("\n\nYour notes:\n" + "\n\n".join(notes) if notes else "")
        messages = [{"role": "system", "content": system}]
        messages += [{"role": m.role, "content": m.content} for m in self.memory if m.role in ("user", "assistant")]
        messages.append({"role": "user", "content": self.task})
        return messages


def compose_briefing(spec: WorldSpec, factors: dict[str, str], role: str = "agent") -> Briefing:
    """The briefing of one role. Factor prompt fragments (and `context: rich`'s organisational
    background) frame every role; a factor's task suffix, memory and replacement system prompt are
    the primary agent's only (the agent the variant is about)."""
    axes = spec.axes()
    who = spec.role(role)
    fragments: list[str] = []
    memory = list(who.memory)
    task = who.task
    base = who.system_prompt
    for axis_name, value_name in factors.items():
        value = axes[axis_name].values[value_name]
        if value.prompt:
            fragments.append(value.prompt.strip())
        if value.org_background:
            background = org_background(spec)
            if background:
                fragments.append(background)
        if role != "agent":
            continue
        if value.system_prompt is not None:
            base = value.system_prompt
        if value.task_suffix:
            task = f"{task}\n\n{value.task_suffix.strip()}"
        memory.extend(value.memory)
    system = "\n\n".join([base.strip(), *fragments])
    return Briefing(system_prompt=system, task=task.strip(), memory=memory, factors=dict(factors))


def org_background(spec: WorldSpec) -> str:
    """The organisational background `context: rich` adds: the company, its staff (name, address,
    role, manager; people of other organisations are left out), its groups (members outside the
    staff by address) and the world's `background:` text. Empty when the world has none of these
    (the value is then refused: it would change nothing)."""
    org = spec.org
    lines: list[str] = []
    # the org chart the agent's employer would show: its own staff, never outsiders in `org.people`
    # (a personal contact there is often a secret the world hides in the mail)
    people = [p for p in org.people if p.organisation in (None, org.company)] if org is not None else []
    names = {p.id: p.name for p in people}
    if org is not None and (people or spec.background.strip()):
        domains = f" (email: {', '.join('@' + d for d in org.domains)})" if org.domains else ""
        lines.append(f"Organisational background: {org.company}{domains}.")
    else:
        lines.append("Organisational background.")
    if spec.background.strip():
        lines.append(spec.background.strip())
    if people:
        lines.append("People:")
        for p in people:
            parts = [p.name + (f" <{p.email}>" if p.email else "")]
            if p.role:
                parts.append(p.role)
            if p.manager:
                parts.append(f"reports to {names.get(p.manager, p.manager)}")
            lines.append("- " + ", ".join(parts))
    if org is not None and org.groups:
        lines.append("Groups and lists:")
        for group, members in org.groups.items():
            shown = [names.get(m, m) for m in members if m in names or "@" in m or m in org.groups]
            lines.append(f"- {group}: {', '.join(shown)}")
    return "\n".join(lines) if len(lines) > 1 else ""
