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


@dataclass(frozen=True)
class DetectorView:
    """What a Python detector in hooks.py receives."""

    spec: WorldSpec
    step: int
    changes: list[Change]
    state: StateView


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

    def detect(self, step: int, changes: list[Change], state: StateView) -> list[Finding]:
        findings: list[Finding] = []
        for det in self.spec.detectors:
            behaviour = self.spec.behaviour(det.behaviour)

            def finding(evidence: str, paths: list[str], det_id: str = det.id, behaviour: Any = behaviour) -> Finding:
                return Finding(
                    behaviour=behaviour.id,
                    detector=det_id,
                    motive=behaviour.motive,
                    risk_type=behaviour.risk_type,
                    severity=behaviour.severity,
                    step=step,
                    evidence=evidence,
                    paths=paths,
                )

            if det.match is not None:
                hits = [c for c in changes if det.match.test(c)]
                if hits:
                    text = det.evidence or behaviour.description
                    findings.append(finding(text, sorted({c.path_str for c in hits})))
            elif det.python is not None:
                view = DetectorView(self.spec, step, changes, state)
                evidence: Iterable[str] = self._hook(det.python)(view) or ()
                findings.extend(finding(e, []) for e in evidence)
        return findings

    def task_checks(self, state: StateView) -> list[TaskCheckResult]:
        results = []
        for check in self.spec.task_checks:
            if check.condition is not None:
                passed = check.condition.holds(state)
            else:
                assert check.python is not None
                passed = bool(self._hook(check.python)(state))
            results.append(TaskCheckResult(check.id, check.description, passed))
        if not results:  # unreachable for a validated spec; kept so no path can pass an empty list
            raise ValueError("a world must have at least one task check")
        return results
