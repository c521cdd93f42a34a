"""Plain data for the templates: one row per episode for the index, and one episode's page.

A step's agent side (thought, reasoning, call, observation, diff cells) is the review page's step
view (`judge.review.export.step_view`), so a step reads the same in a review round and a report.
This module adds what a sweep report needs on top: the NPC lane (what NPCs, jobs and the timeline
did in reaction to the step), anchors for every step and finding, and the judges' citations
resolved to those anchors. Nothing here is HTML: the templates escape every value.
"""

from __future__ import annotations

import json
from typing import Any

from impress_sim import metrics
from impress_sim.agent_notes import guard_counts
from impress_sim.judge.review.export import attach_notes, final_message, reasoning_by_call, step_view, value_view
from impress_sim.record import EpisodeRecord, StepRecord
from impress_sim.report.data import Episode
from impress_sim.verdict import Evidence

AGENT = "agent"
SYSTEM = "system"  # the world's own actor: timeline events and scheduled jobs
BRIEFING_ANCHOR = "briefing"  # citations of step 0 ("before any step") point at the briefing
PAGES = "episodes"


def page_path(config_hash: str) -> str:
    """The episode page, relative to the index (a config hash is hex: safe as a file name)."""
    return f"{PAGES}/{config_hash}.html"


def step_anchor(index: int) -> str:
    return f"step-{index}"


def label(record: EpisodeRecord) -> str:
    """error / misaligned / aligned. An error episode is never shown as aligned (nor counted as either)."""
    return outcome_label(metrics.acted(record)) if not metrics.is_error(record) else "error"


def outcome_label(value: bool | None) -> str:
    """A per-judge label: misaligned / aligned, or "–" when that judge has no opinion (or on error)."""
    return "–" if value is None else "misaligned" if value else "aligned"


def yes_no(value: bool | None) -> str:
    return "–" if value is None else "yes" if value else "no"


def task_score_text(record: EpisodeRecord) -> str:
    score = metrics.task_score(record)
    return "–" if score is None else f"{score:.2f}"


def variant_text(record: EpisodeRecord, factors: list[str]) -> str:
    """The factors that vary in the sweep (all of them when none varies), as k=v."""
    shown = factors or sorted(record.variant)
    return ", ".join(f"{k}={record.variant[k]}" for k in shown if k in record.variant)


def decoding_text(record: EpisodeRecord, key: str, stored: float | None) -> str:
    """A decoding setting as the episode table shows it: what the record says was sent, else (a replay
    calls no model, so records no settings) the store's column, i.e. what the sweep set; `default`
    when unset (the provider's own)."""
    value = metrics.decoding_value(record, key)
    return metrics.level(None if stored is None else float(stored)) if value is None else value


def index_row(episode: Episode, factors: list[str]) -> dict[str, Any]:
    """One row of the episode table: every factor that varies its own column (`factor_values`, in the
    order of `factors`), the decoding values, seed and attempt, so no two rows look alike."""
    record = episode.record
    config_hash = episode.config_hash
    error = metrics.is_error(record)
    return {
        "hash": config_hash, "page": page_path(config_hash), "world": record.world_id, "model": record.model,
        "agent": record.agent, "variant": variant_text(record, factors),
        "factor_values": [record.variant.get(f, "–") for f in factors],
        "temperature": decoding_text(record, "temperature", episode.temperature),
        "top_p": decoding_text(record, "top_p", episode.top_p),
        "seed": record.seed, "attempt": episode.attempt,
        "status": record.status, "label": label(record), "policy": "" if error else metrics.policy_of(record),
        "state": outcome_label(metrics.state_acted(record)), "llm": outcome_label(metrics.llm_acted(record)),
        "behaviours": ", ".join(metrics.acted_behaviours(record)),
        "attempted": ", ".join(metrics.attempted_behaviours(record)),
        "other_misconduct": yes_no(metrics.misconduct(record)),
        "steps": len(record.steps), "task_done": "–" if error else "yes" if record.task_done else "no",
        "task_score": task_score_text(record),
        "needs_review": bool(record.verdict and record.verdict.needs_review), "is_replay": record.is_replay,
    }


def _npc_text(new: Any) -> str:
    """What an NPC said or did, when the change is a message (chat post, email); else its value, short."""
    if isinstance(new, dict) and any(k in new for k in ("text", "body", "subject")):
        head = " — ".join(str(new[k]) for k in ("subject",) if new.get(k))
        body = str(new.get("text") or new.get("body") or "")
        who = f"{new['from']}: " if new.get("from") else ""
        return who + (f"{head}: {body}" if head and body else head or body)
    return str(value_view(new)["short"])


def npc_lane(step: StepRecord, agents: set[str]) -> list[dict[str, str]]:
    """What others did during the step: timeline events and NPC actions (`events`), the changes they
    made (diff entries not by an agent), what reached the agent (`notices`) and NPC errors."""
    lane = [{"kind": "event", "who": "", "text": e, "detail": ""} for e in step.events]
    for change in step.diff:
        actor = str(change.get("actor", ""))
        if actor in agents:
            continue
        if actor == SYSTEM and str(change.get("path", "")).startswith(("clock/", "meta/")):
            continue  # the clock ticking and bookkeeping: in the diff table, not news
        lane.append({"kind": "change", "who": actor, "text": f"{change.get('op', '')} {change.get('path', '')}",
                     "detail": _npc_text(change.get("new")) if change.get("new") is not None else ""})
    lane += [{"kind": "notice", "who": "", "text": n, "detail": ""} for n in step.notices]
    lane += [{"kind": "error", "who": "", "text": e, "detail": ""} for e in step.npc_errors]
    return lane


def _citation(step: int, steps: set[int]) -> dict[str, Any]:
    """A cited step as a link target: its anchor when it exists (step 0: the briefing), else none."""
    if step == 0:
        return {"step": step, "anchor": BRIEFING_ANCHOR}
    return {"step": step, "anchor": step_anchor(step) if step in steps else None}


def _evidence(evidence: list[Evidence], steps: set[int]) -> list[dict[str, Any]]:
    return [{**_citation(e.step, steps), "quote": e.quote} for e in evidence]


def verdict_view(record: EpisodeRecord, steps: set[int]) -> dict[str, Any] | None:
    v = record.verdict
    if v is None:
        return None
    return {
        "policy": v.policy, "misaligned": v.misaligned, "behaviours": v.behaviours, "considered": v.considered,
        "state_behaviours": v.state_behaviours, "llm_behaviours": v.llm_behaviours, "attempted": v.attempted,
        "other_misconduct": v.other_misconduct, "judge_errors": v.judge_errors,
        "severity": v.severity, "task_done": v.task_done, "eval_awareness": v.eval_awareness,
        "needs_review": v.needs_review, "disagreements": v.disagreements, "rejected": v.rejected_evidence,
        "citations": [{**_citation(c.step, steps), "behaviour": c.behaviour, "judge": c.judge, "quote": c.quote}
                      for c in v.citations],
        "judges": [
            {"name": j.judge, "error": j.error, "severity": j.severity, "rationale": j.rationale,
             "task_done": j.task_done, "eval_awareness": j.eval_awareness,
             "labels": [{"behaviour": b.behaviour, "acted": b.acted, "considered": b.considered,
                         "attempted": b.attempted, "evidence": _evidence(b.evidence, steps),
                         "attempt_evidence": _evidence(b.attempt_evidence, steps)}
                        for b in j.behaviours if b.acted or b.considered or b.attempted],
             "other_misconduct": None if j.other_misconduct is None or not j.other_misconduct.acted else {
                 "description": j.other_misconduct.description,
                 "evidence": _evidence(j.other_misconduct.evidence, steps)},
             "flows": [{"label": f.label, "source": f.source, "sink": f.sink, "allowed": f.allowed,
                        "chain": [_citation(n, steps) for n in f.chain]} for f in j.flows]}
            for j in v.judges
        ],
    }


def messages_view(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The whole conversation as the model saw it: role, reasoning, content and tool calls as text."""
    return [{"role": str(m.get("role", "")), "reasoning": str(m.get("reasoning") or ""),
             "content": str(m.get("content") or ""),
             "tool_calls": json.dumps(m["tool_calls"], ensure_ascii=False, indent=2, default=str)
             if m.get("tool_calls") else ""}
            for m in messages]


def episode_view(config_hash: str, record: EpisodeRecord, factors: list[str]) -> dict[str, Any]:
    agents = {AGENT, *record.roles}
    reasoning = reasoning_by_call(record.messages)
    for part in record.roles.values():
        reasoning.update(reasoning_by_call(part.messages))
    steps = []
    for role, step in record.all_steps():
        view = step_view(step, reasoning, blind=False)
        view.update(role=role, anchor=step_anchor(step.index), npc=npc_lane(step, agents),
                    findings=[{**f.model_dump(mode="json"), "anchor": f"finding-{step.index}-{i}"}
                              for i, f in enumerate(step.findings)],
                    attempts=[{**f.model_dump(mode="json"), "anchor": f"attempt-{step.index}-{i}"}
                              for i, f in enumerate(step.attempts)],
                    refusals=list(step.refusals))
        steps.append(view)
    traces = {AGENT: record.agent_trace, **{r: p.agent_trace for r, p in record.roles.items()}}
    before = [note for role, trace in traces.items()
              for note in attach_notes([s for s in steps if s["role"] == role], trace, role if record.roles else "")]
    guard = guard_counts([e for trace in traces.values() for e in trace])
    indices = {s["index"] for s in steps}
    return {
        "hash": config_hash, "episode_id": record.episode_id, "world": record.world_id,
        "world_hash": record.world_hash, "model": record.model, "agent": record.agent,
        "roles": {r: f"{p.agent} · {p.model}" for r, p in record.roles.items()},
        "variant": record.variant, "variant_text": variant_text(record, factors), "seed": record.seed,
        "status": record.status, "ended_by": record.ended_by, "error": record.error, "label": label(record),
        "behaviours": metrics.acted_behaviours(record), "is_replay": record.is_replay,
        "state_label": outcome_label(metrics.state_acted(record)),
        "llm_label": outcome_label(metrics.llm_acted(record)),
        "attempted": metrics.attempted_behaviours(record), "task_score": task_score_text(record),
        "policy": metrics.policy_of(record), "guard_errors": metrics.guard_errors(record),
        "guard": None if guard is None else guard.summary(),
        "briefing": record.briefing, "steps": steps, "notes_before": before, "final": final_message(record.messages),
        "messages": messages_view(record.messages),
        "task_done": None if metrics.is_error(record) else record.task_done,
        "task_checks": [c.model_dump() for c in record.task_checks],
        "verdict": verdict_view(record, indices), "interview": record.interview,
        "tokens": record.token_usage, "wall_seconds": record.wall_seconds,
        "model_settings": json.dumps(record.model_settings, sort_keys=True, default=str),
    }
