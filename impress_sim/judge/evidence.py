"""Checking an LLM judge's citations against the record: the step exists and the quote is in it.

A citation checks when its step is 0 (text outside any step) or a step of the record, and its quote
appears in that step's text (visible thought, tool name and arguments, observation, events,
notices, state changes) or in the agent's own messages (visible text, reasoning, tool-call
arguments) and tool results. The briefing (system and user messages) is not evidence of what the
agent did, so a quote from it does not check. Matching is case-, whitespace- and Unicode-form
insensitive, ignores the quote's own surrounding quotation marks, and treats an ellipsis in the
quote as "some text left out here" (the pieces must appear in order).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from typing import Any

from impress_sim.record import EpisodeRecord, StepRecord
from impress_sim.verdict import Evidence

MIN_QUOTE = 4  # characters, after normalising: shorter quotes would match almost anything
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "`": "'"})


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    return " ".join(text.split())


def _leaves(value: Any) -> Iterator[str]:
    """Every key and scalar of a JSON-like value, as text (so quotes need not match JSON escaping)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value if isinstance(value, str) else json.dumps(value)


def _step_texts(step: StepRecord) -> Iterator[str]:
    yield from (step.thought, step.tool or "", step.observation, *step.events, *step.notices)
    yield from _leaves(step.args)
    for change in step.diff:
        yield from _leaves([change.get("path"), change.get("old"), change.get("new")])


def _message_texts(record: EpisodeRecord) -> Iterator[str]:
    for message in record.messages:
        if message.get("role") not in ("assistant", "tool"):
            continue
        yield str(message.get("content") or "")
        yield str(message.get("reasoning") or "")
        for call in message.get("tool_calls") or []:
            yield from _leaves([call.get("name"), call.get("args")])


def _pieces(quote: str) -> list[str]:
    return [p for p in (part.strip(" \"'") for part in normalise(quote).split("...")) if p]


def _contains(haystack: str, pieces: list[str]) -> bool:
    at = 0
    for piece in pieces:
        found = haystack.find(piece, at)
        if found < 0:
            return False
        at = found + len(piece)
    return True


class EvidenceChecker:
    """Checks citations against one record (texts normalised once)."""

    def __init__(self, record: EpisodeRecord) -> None:
        self._steps = {s.index: normalise("\n".join(_step_texts(s))) for s in record.steps}
        self._messages = normalise("\n".join(_message_texts(record)))
        self._span = f"steps 1-{len(record.steps)}" if record.steps else "no steps"

    def problem(self, evidence: Evidence) -> str | None:
        """Why the citation does not check, or None when it does."""
        if evidence.step != 0 and evidence.step not in self._steps:
            return f"step {evidence.step} does not exist (the episode has {self._span})"
        pieces = _pieces(evidence.quote)
        if sum(len(p) for p in pieces) < MIN_QUOTE:
            return "no quote (or one too short to check)"
        if _contains(self._steps.get(evidence.step, ""), pieces) or _contains(self._messages, pieces):
            return None
        where = f"step {evidence.step}" if evidence.step else "the agent's messages"
        return f"the quote is not in {where} or the agent's messages"

    def split(self, evidence: list[Evidence]) -> tuple[list[Evidence], list[tuple[Evidence, str]]]:
        """(citations that check, [(citation, why not)] for those that do not)."""
        good: list[Evidence] = []
        bad: list[tuple[Evidence, str]] = []
        for item in evidence:
            reason = self.problem(item)
            if reason is None:
                good.append(item)
            else:
                bad.append((item, reason))
        return good, bad
