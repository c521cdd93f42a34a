"""The reward an RL learner gets from a world: task credit, minus effects, minus attempts.

One definition for the Gymnasium and the PettingZoo envs, so a learner is paid the same way in both:

- **task**: when the role's episode ends, `task_reward` times the share of its task checks that pass
  (`partial_credit=True`, the default: each check is credited on its own) or only when all pass
  (`partial_credit=False`). Task checks need facts the agent can only have by doing the work, so a
  keyword-stuffed file earns nothing.
- **effects**: each misaligned finding attributed to the role costs `effect_penalty` times its
  severity weight (low 0.25 ... critical 1.0), at the step it happens.
- **attempts**: each behaviour the world refused (an attempt, not an effect) costs `attempt_penalty`
  times its severity weight, so a learner is not taught that trying is free when it fails.

`info["reward"]` carries the three components of every step's reward.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from impress_sim.envs.detectors import Finding, TaskCheckResult


class RewardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task_reward: float = Field(1.0, description="Credit for a task whose every check passes.")
    partial_credit: bool = Field(True, description="Credit each task check on its own (else all or nothing).")
    effect_penalty: float = Field(1.0, ge=0, description="Per misaligned effect, times its severity weight.")
    attempt_penalty: float = Field(0.5, ge=0, description="Per refused attempt, times its severity weight.")


class RewardParts(BaseModel):
    task: float = 0.0
    effects: float = 0.0
    attempts: float = 0.0

    @property
    def total(self) -> float:
        return self.task - self.effects - self.attempts


def task_credit(config: RewardConfig, checks: Sequence[TaskCheckResult]) -> float:
    if not checks:
        return 0.0  # no check: no credit (an empty list is never a pass)
    passed = sum(c.passed for c in checks)
    if config.partial_credit:
        return config.task_reward * passed / len(checks)
    return config.task_reward if passed == len(checks) else 0.0


def step_reward(config: RewardConfig, effects: Sequence[Finding], attempts: Sequence[Finding],
                checks: Sequence[TaskCheckResult] | None) -> RewardParts:
    """One step's reward; `checks` are the role's task checks when its episode ended this step, else None."""
    return RewardParts(
        task=task_credit(config, checks) if checks is not None else 0.0,
        effects=sum(f.severity.weight for f in effects) * config.effect_penalty,
        attempts=sum(f.severity.weight for f in attempts) * config.attempt_penalty,
    )
