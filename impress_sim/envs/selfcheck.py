"""The world self-check: a world proves its own detectors and task checks both ways.

For every world: the aligned trajectory completes the task with no findings; the misaligned one
triggers every declared behaviour; doing nothing completes nothing and triggers nothing; every
detector fires in at least one reference trajectory; and two replays with one seed are identical.
A world that fails any of these cannot be trusted to measure anything.

Multi-agent worlds are proven the same way: their trajectories are replayed in rounds (the
primary agent's k-th step, then each extra role's k-th step in `extra_agents` order, as
`ImpressParallelEnv` applies actions), and `expect_findings` pins which role each behaviour is
attributed to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.spec import WAIT, Trajectory
from impress_sim.envs.world import AGENT, StepResult, World


@dataclass
class Replay:
    """The outcome of replaying one trajectory into a fresh world."""

    name: str
    steps: list[StepResult]
    behaviours: set[str]
    detectors: set[str]
    task_done: bool
    errors: list[str]
    by_role: dict[str, set[str]] = field(default_factory=dict)  # role -> behaviours attributed to it

    def fingerprint(self) -> str:
        """Everything that must be identical across two replays with one seed."""
        return json.dumps(
            [
                {
                    "role": s.role,
                    "observation": s.observation,
                    "changes": [c.as_dict() for c in s.changes],
                    "findings": [f.model_dump(mode="json") for f in s.findings],
                    "events": s.events,
                }
                for s in self.steps
            ],
            sort_keys=True,
            default=str,
        )


def replay(loaded: LoadedWorld, name: str, trajectory: Trajectory, seed: int = 0) -> Replay:
    world = World(loaded, variant=trajectory.variant or None, seed=seed)
    steps: list[StepResult] = []
    if len(world.roles) == 1:
        for step in trajectory.steps:
            if world.ended:
                break
            steps.append(world.step({"tool": step.tool, "args": step.args}))
    else:
        plans = {AGENT: trajectory.steps, **trajectory.roles}
        for k in range(max(len(p) for p in plans.values())):
            for role in world.roles:
                plan = plans.get(role, [])
                if k >= len(plan) or plan[k].tool == WAIT or world.role_ended(role):
                    continue
                steps.append(world.step_as(role, {"tool": plan[k].tool, "args": plan[k].args}))
    findings = [f for s in steps for f in s.findings]
    by_role: dict[str, set[str]] = {}
    for f in findings:
        by_role.setdefault(f.actor, set()).add(f.behaviour)
    errors = [f"step {s.step} ({s.call.name if s.call else '?'}): {s.output}" for s in steps if s.error]
    return Replay(
        name=name,
        steps=steps,
        behaviours={f.behaviour for f in findings},
        detectors={f.detector for f in findings},
        task_done=world.task_done(),
        errors=errors,
        by_role=by_role,
    )


@dataclass
class CheckReport:
    world_id: str
    problems: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def expect(self, condition: bool, what: str) -> None:
        (self.passed if condition else self.problems).append(what)


def check_world(loaded: LoadedWorld) -> CheckReport:
    spec = loaded.spec
    report = CheckReport(spec.id)
    all_behaviours = {b.id for b in spec.behaviours}
    fired_detectors: set[str] = set()

    noop = World(loaded, seed=0)
    report.expect(not noop.task_done(), "do-nothing: task not done")
    idle = noop.step({"tool": "finish", "args": {}}) if "finish" in loaded.tools else None
    report.expect(idle is None or not idle.findings, "do-nothing: no findings")
    for role in noop.roles[1:]:  # every extra role finishing at once triggers nothing either
        if "finish" in spec.role_tools(role):
            quiet = noop.step_as(role, {"tool": "finish", "args": {}})
            report.expect(not quiet.findings, f"do-nothing ({role}): no findings")

    for name, trajectory in spec.trajectories.items():
        run = replay(loaded, name, trajectory)
        fired_detectors |= run.detectors
        expected = trajectory.expect_behaviours
        if expected is None and trajectory.expect_findings is not None:
            expected = sorted({b for bs in trajectory.expect_findings.values() for b in bs})
        if expected is None:
            expected = [] if name == "aligned" else sorted(all_behaviours) if name == "misaligned" else None
        expected_done = trajectory.expect_task_done
        if expected_done is None and name == "aligned":
            expected_done = True
        if expected is not None:
            missing, extra = set(expected) - run.behaviours, run.behaviours - set(expected)
            detail = f" missing {sorted(missing)}" if missing else ""
            detail += f" unexpected {sorted(extra)}" if extra else ""
            report.expect(not missing and not extra, f"{name}: behaviours {sorted(run.behaviours)}{detail}")
        for role, wanted in (trajectory.expect_findings or {}).items():
            got = run.by_role.get(role, set())
            report.expect(got == set(wanted), f"{name}: {role}'s findings {sorted(got)} (want {sorted(wanted)})")
        if expected_done is not None:
            report.expect(run.task_done == expected_done, f"{name}: task_done={run.task_done} (want {expected_done})")
        report.expect(not run.errors, f"{name}: no tool errors" + (f" — {run.errors}" if run.errors else ""))
        again = replay(loaded, name, trajectory)
        report.expect(run.fingerprint() == again.fingerprint(), f"{name}: two replays with one seed are identical")

    unfired = {d.id for d in spec.detectors} - fired_detectors
    never = f" (never: {sorted(unfired)})" if unfired else ""
    report.expect(not unfired, f"every detector fires in some trajectory{never}")
    return report


def summary(report: CheckReport) -> dict[str, Any]:
    return {"world": report.world_id, "ok": report.ok, "problems": report.problems, "passed": report.passed}
