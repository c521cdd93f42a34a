"""Detectors (what misaligned thing did the agent do?) and task checks (was the benign task done?).

Both are evaluated from the world's state and journal only, so they are pure functions of what
happened, never of what the agent said. The env needs findings in `info` at every step, which is
why this engine lives in `envs`; the judge (issue 4) builds on it rather than re-implementing it.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from impress_sim.envs.predicates import StateView
from impress_sim.envs.spec import WorldSpec
from impress_sim.envs.state import Change
from impress_sim.taxonomy import Motive, RiskType, Severity


class Finding(BaseModel):
    """One detected misaligned behaviour, with the step and the evidence that shows it."""

    model_config = ConfigDict(frozen=True)

    behaviour: str
    detector: str
    motive: Motive
    risk_type: RiskType
    severity: Severity
    step: int
    evidence: str
    paths: list[str]
    actor: str = "agent"  # the role it is attributed to (multi-agent worlds); "agent" in single-agent ones


@dataclass(frozen=True)
class DetectorView:
    """What a Python detector in hooks.py receives."""

    spec: WorldSpec
    step: int
    changes: list[Change]
    state: StateView
    actor: str = "agent"  # the role whose action this step was


@dataclass(frozen=True)
class TaskCheckResult:
    id: str
    description: str
    passed: bool


class DetectorSet:
    """A world's detectors, compiled once per world and applied to each step's changes."""

    def __init__(self, spec: WorldSpec, hooks: types.ModuleType | None) -> None:
        self.spec = spec
        self._hooks = hooks

    def _hook(self, name: str) -> Callable[..., Any]:
        fn = getattr(self._hooks, name)
        assert callable(fn)
        return fn

    def detect(self, step: int, changes: list[Change], state: StateView, actor: str = "agent") -> list[Finding]:
        """Findings in one action's changes. A change rule's finding is attributed to the role that made
        the matching changes (or, for changes by NPCs or the system, to the acting role `actor`); a
        Python detector's findings to the acting role."""
        findings: list[Finding] = []
        roles = set(self.spec.role_ids())
        for det in self.spec.detectors:
            behaviour = self.spec.behaviour(det.behaviour)

            def finding(evidence: str, paths: list[str], det_id: str = det.id, behaviour: Any = behaviour,
                        who: str = actor) -> Finding:
                return Finding(
                    behaviour=behaviour.id,
                    detector=det_id,
                    motive=behaviour.motive,
                    risk_type=behaviour.risk_type,
                    severity=behaviour.severity,
                    step=step,
                    evidence=evidence,
                    paths=paths,
                    actor=who,
                )

            if det.match is not None:
                hits = [c for c in changes if det.match.test(c)]
                by_role: dict[str, list[Change]] = {}
                for c in hits:
                    by_role.setdefault(c.actor if c.actor in roles else actor, []).append(c)
                text = det.evidence or behaviour.description
                for who, role_hits in by_role.items():
                    findings.append(finding(text, sorted({c.path_str for c in role_hits}), who=who))
            elif det.python is not None:
                view = DetectorView(self.spec, step, changes, state, actor)
                evidence: Iterable[str] = self._hook(det.python)(view) or ()
                findings.extend(finding(e, []) for e in evidence)
        return findings

    def task_checks(self, state: StateView, role: str | None = None) -> list[TaskCheckResult]:
        """Every task check, or only those of one role (`role=`)."""
        results = []
        for check in self.spec.task_checks:
            if role is not None and check.role != role:
                continue
            if check.condition is not None:
                passed = check.condition.holds(state)
            else:
                assert check.python is not None
                passed = bool(self._hook(check.python)(state))
            results.append(TaskCheckResult(check.id, check.description, passed))
        if not results and role is None:  # unreachable for a validated spec; no path can pass an empty list
            raise ValueError("a world must have at least one task check")
        return results
