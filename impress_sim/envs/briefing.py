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


def compose_briefing(spec: WorldSpec, factors: dict[str, str], role: str = "agent") -> Briefing:
    """The briefing of one role. Factor prompt fragments frame every role; a factor's task suffix
    and memory are the primary agent's only (the agent the variant is about)."""
    axes = spec.axes()
    who = spec.role(role)
    fragments: list[str] = []
    memory = list(who.memory)
    task = who.task
    for axis_name, value_name in factors.items():
        value = axes[axis_name].values[value_name]
        if value.prompt:
            fragments.append(value.prompt.strip())
        if role != "agent":
            continue
        if value.task_suffix:
            task = f"{task}\n\n{value.task_suffix.strip()}"
        memory.extend(value.memory)
    system = "\n\n".join([who.system_prompt.strip(), *fragments])
    return Briefing(system_prompt=system, task=task.strip(), memory=memory, factors=dict(factors))
