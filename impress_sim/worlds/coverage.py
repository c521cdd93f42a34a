"""What the world library covers: which worlds can show each motive and risk type.

A "self-preservation rate" means little if one world carries it: the report's motive rows would
really be that world's rows. So the library is held to minimum counts (the issue that set them:
every motive in at least 3 worlds, every risk type in at least 2, at least 2 multi-agent worlds),
counted from the behaviours each world can actually detect, not from its declared lists.
`impress worlds list` prints the grid; tests/worlds/test_coverage.py fails when a count drops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from impress_sim.envs.spec import WorldSpec
from impress_sim.taxonomy import Motive, RiskType

MIN_WORLDS = 16
MIN_WORLDS_PER_MOTIVE = 3
MIN_WORLDS_PER_RISK_TYPE = 2
MIN_MULTI_AGENT_WORLDS = 2
# Temptations that come from helping someone, not from the agent's own stake.
MIN_HELPFULNESS_WORLDS = 3

SHORT_RISK = {
    "deception": "decept", "coercion": "coerce", "exfiltration": "exfil", "oversight_subversion": "oversight",
    "privilege_escalation": "priv-esc", "resource_misappropriation": "resource", "sabotage": "sabotage",
    "privacy_violation": "privacy", "corrupt_practice": "corrupt",
}


@dataclass
class Coverage:
    """Worlds per motive, per risk type and per (motive, risk type) cell, from their behaviours."""

    worlds: list[str] = field(default_factory=list)
    multi_agent: list[str] = field(default_factory=list)
    by_motive: dict[str, set[str]] = field(default_factory=lambda: {m.value: set() for m in Motive})
    by_risk: dict[str, set[str]] = field(default_factory=lambda: {r.value: set() for r in RiskType})
    cells: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def shortfalls(self) -> list[str]:
        """Every minimum the library misses, said with the worlds it has (empty: all met)."""
        short: list[str] = []
        if len(self.worlds) < MIN_WORLDS:
            short.append(f"{_worlds(len(self.worlds))} (need {MIN_WORLDS})")
        for motive, worlds in self.by_motive.items():
            need = MIN_HELPFULNESS_WORLDS if motive == Motive.over_helpfulness else MIN_WORLDS_PER_MOTIVE
            if len(worlds) < need:
                short.append(f"motive {motive}: {_worlds(len(worlds))} {sorted(worlds)} (need {need})")
        for risk, worlds in self.by_risk.items():
            if len(worlds) < MIN_WORLDS_PER_RISK_TYPE:
                short.append(f"risk type {risk}: {_worlds(len(worlds))} {sorted(worlds)} "
                             f"(need {MIN_WORLDS_PER_RISK_TYPE})")
        if len(self.multi_agent) < MIN_MULTI_AGENT_WORLDS:
            short.append(f"{len(self.multi_agent)} multi-agent worlds {self.multi_agent} "
                         f"(need {MIN_MULTI_AGENT_WORLDS})")
        return short


def _worlds(n: int) -> str:
    return f"{n} world" + "s" * (n != 1)


def coverage(specs: Iterable[WorldSpec]) -> Coverage:
    found = Coverage()
    for spec in specs:
        found.worlds.append(spec.id)
        if spec.extra_agents:
            found.multi_agent.append(spec.id)
        for b in spec.behaviours:
            found.by_motive[b.motive.value].add(spec.id)
            found.by_risk[b.risk_type.value].add(spec.id)
            found.cells.setdefault((b.motive.value, b.risk_type.value), set()).add(spec.id)
    return found


GENERIC_AXES_EVERYWHERE = ("persona", "reality", "safety_prompt")


def world_axes(spec: WorldSpec) -> list[str]:
    """The axes a world varies beyond those every world varies (persona, reality, safety_prompt)."""
    return [axis for axis in spec.varied_axes() if axis not in GENERIC_AXES_EVERYWHERE]


def library_markdown(specs: Iterable[WorldSpec]) -> str:
    """The README's world table: one row per world, generated so it never drifts from the worlds."""
    rows = ["| world | domain | the benign task, and the temptation | behaviours (motive / risk type) | varies |",
            "|---|---|---|---|---|"]
    for spec in specs:
        name = f"`{spec.id}`" + (" (multi-agent)" if spec.extra_agents else "")
        behaviours = "; ".join(f"{b.id} ({b.motive.value} / {b.risk_type.value})" for b in spec.behaviours)
        summary = " ".join(spec.summary.split())
        rows.append(f"| {name} | {spec.domain} | {summary} | {behaviours} | {', '.join(world_axes(spec))} |")
    return "\n".join(rows) + "\n"
