"""Stage 5: quality control — independent LLM judges score a world that passed its self-check.

Each judge scores five criteria from 1 to 5 with a rationale: realism, benignness of the task, relevance
to the cell, absence of leading nudges in what the agent is told, solvability with the tools given. The
judges vote by median (robust to one odd judge); a criterion whose median falls below its threshold
rejects the world, with the lowest-scoring judge's rationale as the reason. A judge that cannot be
reached or never answers usably is recorded with its error and left out of the vote; if no judge
answers, QC is an error (the world is neither accepted nor rejected, and a rerun asks again).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from impress_sim.envs.briefing import compose_briefing
from impress_sim.envs.loader import LoadedWorld
from impress_sim.errors import ImpressError
from impress_sim.generate import prompts
from impress_sim.generate.artifacts import CRITERIA, Cell, Criterion, JudgeScores, QCResult, Score
from impress_sim.generate.ask import Asker
from impress_sim.generate.runstore import inputs_hash, shaping

ENVIRONMENT_CHARS = 8_000  # what the judges are shown of the world's files and mail
PREVIEW_CHARS = 240


class QCReply(BaseModel):
    """What a QC judge answers: one score with a rationale per criterion."""

    model_config = ConfigDict(extra="ignore")

    realism: Score
    benign_task: Score
    relevance: Score
    no_nudge: Score
    solvable: Score


class NoJudgeAnswered(ImpressError):
    """Fewer than a majority of the QC judges answered (unreachable, or no usable reply): QC cannot decide."""


def _preview(text: Any) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[:PREVIEW_CHARS] + " ..."


def environment_text(loaded: LoadedWorld) -> str:
    """What the agent can find, briefly: each host's files (with a preview) and the agent's mail."""
    spec = loaded.spec
    state = spec.initial_state.model_dump(mode="json", exclude_none=True)
    lines: list[str] = []
    for host, data in (state.get("hosts") or {}).items():
        for path, entry in (data.get("files") or {}).items():
            content = entry.get("content", "") if isinstance(entry, dict) else entry
            lines.append(f"  file {host}:{path}: {_preview(content)}")
    mailbox = (state.get("mailboxes") or {}).get(spec.agent.email or "", {})
    for folder, messages in mailbox.items():
        for message in messages if isinstance(messages, list) else []:
            if isinstance(message, dict):
                lines.append(f"  mail ({folder}) from {message.get('sender')}: {_preview(message.get('subject'))} — "
                             f"{_preview(message.get('body'))}")
    for name in state.get("records") or {}:
        lines.append(f"  records table {name}")
    text = "\n".join(lines)
    return text if len(text) <= ENVIRONMENT_CHARS else text[:ENVIRONMENT_CHARS] + "\n  ... (more not shown)"


def qc_messages(loaded: LoadedWorld, cell: Cell, domain: str) -> list[dict[str, str]]:
    spec = loaded.spec
    briefing = compose_briefing(spec, {})
    return prompts.render(
        "qc", cell=cell, domain=domain,
        briefing={"system": briefing.system_prompt, "task": briefing.task,
                  "memory": " / ".join(m.content for m in briefing.memory)},
        world={"id": spec.id, "title": spec.title, "summary": spec.summary, "background": spec.background,
               "benignness": spec.benignness},
        tools=", ".join(spec.tools), environment=environment_text(loaded),
        behaviours=[{"id": b.id, "motive": b.motive, "risk_type": b.risk_type, "description": b.description}
                    for b in spec.behaviours])


async def _judge(asker: Asker, judge: str, messages: list[dict[str, str]]) -> JudgeScores:
    try:
        reply = await asker.structured("qc", messages, QCReply, asker.config.settings("qc", judge))
    except ImpressError as exc:
        return JudgeScores(judge=judge, error=str(exc)[:500])
    except Exception as exc:  # retries spent on a provider fault
        if type(exc).__name__ == "BudgetSpent":
            raise
        return JudgeScores(judge=judge, error=f"{type(exc).__name__}: {str(exc)[:400]}")
    return JudgeScores(judge=judge, scores={c: getattr(reply, c) for c in CRITERIA})


def vote(idea_id: str, judges: list[JudgeScores], thresholds: Mapping[Criterion, float]) -> QCResult:
    """Median per criterion over the judges that answered, if a majority of them did (one judge alone
    must not decide for three); a criterion below its threshold fails."""
    answered = [j for j in judges if not j.error]
    needed = len(judges) // 2 + 1
    if len(answered) < needed:
        errors = "; ".join(f"{j.judge}: {j.error}" for j in judges if j.error)
        raise NoJudgeAnswered(f"only {len(answered)} of {len(judges)} QC judges answered (a majority, {needed}, "
                              f"must): {errors}")
    medians: dict[Criterion, float] = {c: float(statistics.median(j.scores[c].score for j in answered))
                                       for c in CRITERIA}
    failed: dict[Criterion, str] = {}
    for c in CRITERIA:
        if medians[c] < thresholds[c]:
            worst = min(answered, key=lambda j: j.scores[c].score)
            failed[c] = (f"median {medians[c]:g} < {thresholds[c]:g} ({worst.judge}: "
                         f"{' '.join(worst.scores[c].rationale.split())[:300]})")
    return QCResult(idea_id=idea_id, judges=judges, medians=medians, failed=failed)


async def quality_control(asker: Asker, loaded: LoadedWorld, cell: Cell, domain: str, idea_id: str) -> QCResult:
    config = asker.config
    judges = config.judges()
    inputs = inputs_hash(prompts.fingerprint("qc"), [shaping(config.settings("qc", j)) for j in judges],
                         loaded.content_hash, cell, domain)
    stored = asker.store.load("qc", idea_id, QCResult, inputs)
    # a judge's scores stand (other thresholds only re-decide them); a judge that failed is asked again
    have = {j.judge: j for j in (stored.judges if stored is not None else []) if not j.error}
    missing = [j for j in judges if j not in have]
    if missing:
        messages = qc_messages(loaded, cell, domain)
        for scored in await asyncio.gather(*(_judge(asker, j, messages) for j in missing)):
            have[scored.judge] = scored
    scores = [have[j] for j in judges]
    if missing or stored is None:  # kept even without a majority, so the judges that answered are not asked again
        asker.store.save("qc", idea_id, QCResult(idea_id=idea_id, judges=scores), inputs)
    result = vote(idea_id, scores, config.thresholds)
    if missing or stored is None:
        asker.store.save("qc", idea_id, result, inputs)
    return result
