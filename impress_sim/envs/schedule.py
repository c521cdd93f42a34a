"""The world moving on its own: the clock, scheduled jobs, timeline events and NPC routines.

Carved out of the world's step so that the same code can also run the world *forward* on a branch:
`project` asks "if nobody did anything more, what would the world look like at time T?" — which is
how a detector tells that a decommission will no longer happen when due, whatever route the agent
took to stop it (cancelling the job, moving it, breaking what the job's program checks, ...).
It receives what it needs (a state, an `EffectRunner`, a condition evaluator) and never imports the
world module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from impress_sim.envs.effects import SYSTEM, EffectRunner
from impress_sim.envs.predicates import Condition
from impress_sim.envs.spec import Trigger
from impress_sim.envs.state import State

Holds = Callable[[Condition], bool]


def now(state: State) -> datetime:
    return datetime.fromisoformat(state.get("clock/now"))


def in_clock(moment: datetime, clock: datetime) -> datetime:
    """`moment` in the world clock's terms, so the two compare: a time without a zone is the world's
    local time; one with a zone is converted to a zoned clock's zone (a local clock drops it: the
    scheduler tool refuses such times, so only a world file can give one)."""
    if moment.tzinfo is None or clock.tzinfo is None:
        return moment.replace(tzinfo=clock.tzinfo)
    return moment.astimezone(clock.tzinfo)


def advance_clock(state: State, minutes: float | None = None) -> None:
    step = float(state.get("clock/minutes_per_step")) if minutes is None else minutes
    state.set("clock/now", (now(state) + timedelta(minutes=step)).isoformat(), actor=SYSTEM)


def run_jobs(runner: EffectRunner, holds: Holds) -> None:
    """Every scheduled job that is due runs: its program checks `requires`, then does its effects."""
    state, spec = runner.state, runner.loaded.spec
    current = now(state)
    for job_id, job in sorted(state.get("jobs", {}).items(), key=lambda kv: kv[1]["run_at"]):
        if job["status"] != "scheduled" or in_clock(datetime.fromisoformat(job["run_at"]), current) > current:
            continue
        spec_job = spec.initial_state.jobs.get(job_id)
        actor = job.get("actor", SYSTEM)
        if spec_job is not None and spec_job.requires is not None and not holds(spec_job.requires):
            state.set(("jobs", job_id, "status"), "failed", actor=actor)
            runner.events.append(f"job {job_id} failed: its program's checks did not pass")
            continue
        for effect in spec_job.effects if spec_job else []:
            runner.apply(effect, actor, host=job.get("host"))
        state.set(("jobs", job_id, "status"), "done", actor=actor)
        runner.events.append(f"job {job_id} ran")


def _fires(trigger: Trigger, state: State, holds: Holds, *, steps: bool) -> bool:
    if trigger.at_step is not None:
        return steps and state.step >= trigger.at_step
    if trigger.at_time is not None:
        current = now(state)
        return current >= in_clock(trigger.at_time, current)
    assert trigger.when is not None
    return holds(trigger.when)


def run_timeline(runner: EffectRunner, holds: Holds, *, steps: bool = True) -> None:
    """Timeline events whose trigger fires (once each). `steps=False` (projections) leaves step-count
    triggers alone: a projection moves time, not the agent's step count."""
    state = runner.state
    for event in runner.loaded.spec.timeline:
        done = ("meta", "events", event.id)
        if state.exists(done) or not _fires(event.trigger, state, holds, steps=steps):
            continue
        if event.unless is not None and holds(event.unless):
            if event.trigger.when is None:
                state.set(done, "skipped", actor=SYSTEM, parents=True)
            continue
        state.set(done, "fired", actor=SYSTEM, parents=True)
        runner.events.append(f"event {event.id}: {event.description or 'fired'}")
        for effect in event.effects:
            runner.apply(effect, SYSTEM)


def run_routines(runner: EffectRunner, holds: Holds) -> None:
    """NPCs' own routines: once at a time, or every so many minutes (the last run is remembered)."""
    state, spec = runner.state, runner.loaded.spec
    current = now(state)
    start = in_clock(spec.initial_state.clock.start, current)
    for npc in spec.npcs:
        for index, routine in enumerate(npc.routines):
            done = ("meta", "routines", npc.id, str(index))
            last = state.get(done, None)
            if routine.at_time is not None:
                due = last is None and current >= in_clock(routine.at_time, current)
            else:
                assert routine.every_minutes is not None
                since = datetime.fromisoformat(last) if last else start
                due = current >= since + timedelta(minutes=routine.every_minutes)
            if not due or (routine.when is not None and not holds(routine.when)):
                continue
            state.set(done, current.isoformat(), actor=SYSTEM, parents=True)
            runner.events.append(f"routine {npc.id}#{index}")
            for effect in routine.do:
                runner.apply(effect, npc.id)


def run_world(runner: EffectRunner, holds: Holds, *, steps: bool = True) -> None:
    """Everything that happens on its own at the current time: jobs, then the timeline, then routines."""
    run_jobs(runner, holds)
    run_timeline(runner, holds, steps=steps)
    run_routines(runner, holds)


def project(state: State, runner_for: Callable[[State], EffectRunner], holds: Holds, until: datetime,
            question: Condition) -> tuple[bool, set[tuple[str, ...]]]:
    """Whether `question` would hold at `until` if nobody acted meanwhile: run jobs, timeline events and
    routines forward on a branch (no NPC replies, no step-count triggers), ask, and restore. The
    state, its journal and the clock are exactly as before afterwards.

    Also returns the paths the projection read (the clock aside: it is set to `until` first, so the
    answer does not depend on it), so a caller can reuse the answer until one of them changes."""
    snap = state.snapshot()
    try:
        current = now(state)
        target = in_clock(until, current)
        if target > current:
            state.set("clock/now", target.isoformat(), actor=SYSTEM)
        with state.tracking() as reads:
            run_world(runner_for(state), holds, steps=False)
            answer = holds(question)
        return answer, {p for p in reads if p[:1] != ("clock",)}
    finally:
        state.restore(snap)
