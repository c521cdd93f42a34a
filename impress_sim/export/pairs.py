"""Same-state preference pairs from env rollouts: two continuations branched from one World snapshot.

For each world, seed and (chosen, rejected) couple of the world's scripted trajectories (chosen: the
`aligned` reference and every `aligned_*` one; rejected: the `misaligned` reference, other references
that expect behaviours, and with `routes=true` every behaviour's proven routes), both run under the
rejected trajectory's variant (a chosen trajectory meant for another variant is not paired with it):

1. the shared prefix is the steps the two have in common from the start (same tool, same arguments);
2. a fresh World replays the prefix, and `World.snapshot()` marks the branch point;
3. the chosen continuation runs from there; `World.restore()` goes back; the rejected one runs;
4. the pair is kept only when it says what it claims: the chosen continuation left no finding and
   the rejected one left at least one. Dropped couples are counted by reason for the card.

Both continuations therefore start from the very same state, and share the same prompt messages
(the briefing plus the prefix's assistant turns and tool results). Each side carries its findings,
attempts and reward (`envs/reward.py`: effects and attempts by severity, plus the task credit over
the primary agent's checks at the end of the continuation, as the env pays it when an episode stops).
Multi-agent worlds are skipped (their extra roles act between the agent's turns; a known limit).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from impress_sim.envs.effects import AGENT
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.reward import RewardConfig, RewardParts, step_reward, task_credit
from impress_sim.envs.spec import Trajectory, TrajectoryStep
from impress_sim.envs.step import StepResult
from impress_sim.envs.world import World
from impress_sim.export.chat import Clip, briefing_chat, finding_row, message, openai_tools, tool_call


@dataclass
class PairStats:
    """What pairing made and dropped, for the dataset card."""

    pairs: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    worlds: dict[str, set[str]] = field(default_factory=dict)  # world id -> content hashes


@dataclass
class Branch:
    """One continuation run from the branch point."""

    messages: list[dict[str, Any]]
    results: list[StepResult]
    reward: RewardParts
    task_score: float


def candidates(loaded: LoadedWorld, routes: bool) -> tuple[list[tuple[str, Trajectory]], list[tuple[str, Trajectory]]]:
    """(chosen, rejected) trajectories of a world, by name."""
    spec = loaded.spec
    chosen = [(n, t) for n, t in spec.trajectories.items() if n == "aligned" or n.startswith("aligned_")]
    rejected = [(n, t) for n, t in spec.trajectories.items() if n == "misaligned" or (
        not (n == "aligned" or n.startswith("aligned_")) and t.expect_behaviours)]
    if routes:
        rejected += [(f"{b.id}.routes.{n}", t) for b in spec.behaviours for n, t in b.routes.items()]
    return chosen, rejected


def common_prefix(a: list[TrajectoryStep], b: list[TrajectoryStep]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x.tool != y.tool or x.args != y.args:
            break
        n += 1
    return n


def _turn(world: World, step: TrajectoryStep, k: int, clip: Clip) -> tuple[list[dict[str, Any]], StepResult]:
    """One scripted step as the assistant turn that makes it and the tool message that answers it."""
    call_id = f"call_{k}"
    result = world.step({"tool": step.tool, "args": step.args})
    return [message("assistant", step.thought, clip, tool_calls=[tool_call(call_id, step.tool, step.args, clip)]),
            message("tool", result.observation, clip, tool_call_id=call_id, name=step.tool)], result


def _continue(world: World, steps: list[TrajectoryStep], start: int, final: str, config: RewardConfig,
              clip: Clip) -> Branch:
    messages: list[dict[str, Any]] = []
    results: list[StepResult] = []
    effects = attempts = 0.0
    for k, step in enumerate(steps, start=start):
        if world.ended():
            break
        turn, result = _turn(world, step, k, clip)
        messages += turn
        results.append(result)
        parts = step_reward(config, [f for f in result.findings if f.actor == AGENT],
                            [f for f in result.attempts if f.actor == AGENT], None)
        effects, attempts = effects + parts.effects, attempts + parts.attempts
    if final and not world.ended():
        messages.append(message("assistant", final, clip))
    checks = world.task_checks(AGENT)
    score = sum(c.passed for c in checks) / len(checks) if checks else 0.0
    return Branch(messages, results, RewardParts(task=task_credit(config, checks), effects=effects,
                                                 attempts=attempts), score)


def world_pairs(world_ref: str, seed: int, *, config: RewardConfig, clip: Clip, routes: bool,
                stats: PairStats) -> Iterator[dict[str, Any]]:
    """Every kept pair of one world at one seed."""
    loaded = load_world(world_ref).at_seed(seed)
    spec = loaded.spec
    stats.worlds.setdefault(spec.id, set()).add(loaded.content_hash)
    if len(spec.role_ids()) > 1:
        stats.dropped["multi-agent world (skipped)"] += 1
        return
    chosen, rejected = candidates(loaded, routes)
    for c_name, c_traj in chosen:
        for r_name, r_traj in rejected:
            # both run under the rejected side's variant (the one its behaviour needs); a chosen trajectory
            # written for no particular variant is tried there too, and kept only if it stays clean
            factors = spec.resolve_variant(r_traj.variant or None)
            if c_traj.variant and spec.resolve_variant(c_traj.variant) != factors:
                stats.dropped["chosen meant for another variant"] += 1
                continue
            row = _pair(loaded, seed, factors, (c_name, c_traj), (r_name, r_traj), config, clip)
            if isinstance(row, str):
                stats.dropped[row] += 1
                continue
            stats.pairs += 1
            yield row


def _pair(loaded: LoadedWorld, seed: int, factors: dict[str, str], chosen: tuple[str, Trajectory],
          rejected: tuple[str, Trajectory], config: RewardConfig, clip: Clip) -> dict[str, Any] | str:
    """The pair, or why it was dropped."""
    (c_name, c_traj), (r_name, r_traj) = chosen, rejected
    n = common_prefix(c_traj.steps, r_traj.steps)
    world = World(loaded, variant=factors, seed=seed)
    prompt = briefing_chat(world.briefing, clip)
    prefix_findings = []
    for k, step in enumerate(c_traj.steps[:n]):
        if world.ended():
            return "the episode ended inside the shared prefix"
        turn, result = _turn(world, step, k, clip)
        prompt += turn
        prefix_findings += result.findings
    if prefix_findings:
        return "the shared prefix itself has findings"
    branch_point = world.snapshot()
    good = _continue(world, c_traj.steps[n:], n, c_traj.final, config, clip)
    world.restore(branch_point)
    bad = _continue(world, r_traj.steps[n:], n, r_traj.final, config, clip)
    good_findings = [f for s in good.results for f in s.findings]
    bad_findings = [f for s in bad.results for f in s.findings]
    if good_findings:
        return "the chosen continuation has findings"
    if not bad_findings:
        return "the rejected continuation has no findings"
    if not good.messages or not bad.messages:
        return "a continuation is empty"
    world_id = loaded.spec.id
    return {
        "id": f"{world_id}-s{seed}-{c_name}-vs-{r_name}",
        "world_id": world_id, "world_hash": loaded.content_hash, "variant": json.dumps(factors, sort_keys=True),
        "seed": seed, "chosen_name": c_name, "rejected_name": r_name, "prefix_steps": n,
        "tools": json.dumps(openai_tools(world.tool_schemas()), ensure_ascii=False),
        "prompt": prompt, "chosen": good.messages, "rejected": bad.messages,
        "chosen_reward": good.reward.total, "rejected_reward": bad.reward.total,
        "chosen_task_score": good.task_score, "rejected_task_score": bad.task_score,
        "chosen_findings": [finding_row(f, clip) for f in good_findings],
        "rejected_findings": [finding_row(f, clip) for f in bad_findings],
        "rejected_behaviours": sorted({f.behaviour for f in bad_findings}),
        "chosen_attempts": [finding_row(f, clip) for s in good.results for f in s.attempts],
        "rejected_attempts": [finding_row(f, clip) for s in bad.results for f in s.attempts],
    }
