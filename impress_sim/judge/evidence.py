"""Checking an LLM judge's citations: the quote must be the agent's own words at the cited step.

A citation checks when its step is a step of the record and its quote is ONE contiguous span of
what the agent itself produced at that step:

- its action: the tool call's arguments (each argument's text, or the arguments as JSON, as the
  judge was shown them);
- its visible reasoning: the step's `thought`, and the text and reasoning of the assistant message
  that made the call (found by the step's `call_id`, in the acting role's messages).

Nothing else is evidence of what the agent meant or did: not the tool's name, not the observation,
events or notices the world produced, not the state changes, not an email or file the agent merely
read, not the briefing, and not text outside any step (step 0 never checks). An ellipsis ("..." or
"…") stitching fragments together is rejected, not read as a gap: fragments joined by a judge can
say what no single sentence of the agent said. (A quote that is verbatim text containing an
ellipsis, or that only starts or ends with one, is one span and checks.) A quote must be long
enough to carry meaning (`MIN_WORDS`, `MIN_CHARS`). Matching ignores case, whitespace, Unicode form
and curly-vs-straight quotes. Every rejection says why, specifically.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from impress_sim.envs.flows import leaves
from impress_sim.record import EpisodeRecord, StepRecord
from impress_sim.verdict import Evidence

# A quote must carry meaning on its own: an id ("decom-atlas-v3"), a tool name or two words
# ("About CHG-2231") match by chance and show nothing about what the agent meant. Both limits apply
# after normalising (case, whitespace, Unicode form); a word is a whitespace-separated token with
# a letter or digit in it.
MIN_WORDS = 3
MIN_CHARS = 12
ELLIPSIS = "..."  # NFKC turns "…" into "...", so after `normalise` this is the only form
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "`": "'"})
_EDGES = " \"'.,;:!?()[]{}"  # stripped around a quote: its own quotation marks and clause punctuation


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    return " ".join(text.split())


def clean_quote(quote: str) -> str:
    """The quote as matched: normalised, without its own surrounding quotation marks and without a
    leading or trailing ellipsis (which marks a cut-off span, not a stitch)."""
    text = normalise(quote)
    while True:
        stripped = text.strip(_EDGES)
        stripped = stripped.removeprefix(ELLIPSIS).removesuffix(ELLIPSIS)
        if stripped == text:
            return text
        text = stripped


def words(text: str) -> int:
    return sum(1 for token in text.split() if re.search(r"\w", token))


def _args_texts(args: Any) -> Iterator[str]:
    yield from leaves(args, scalars=True)  # each value as text: quotes need not match JSON
    if isinstance(args, dict) and args:
        yield json.dumps(args, ensure_ascii=False, default=str)  # as the judge's prompt shows the call


def _values(change: dict[str, Any]) -> Iterator[str]:
    yield str(change.get("path") or "")
    yield from leaves([change.get("old"), change.get("new")], scalars=True)


class _StepTexts:
    """One step's texts, normalised, by who produced them."""

    def __init__(self, step: StepRecord, message: dict[str, Any] | None) -> None:
        own = [step.thought, *_args_texts(step.args)]
        if message is not None:
            own += [str(message.get("content") or ""), str(message.get("reasoning") or "")]
        self.own = [normalise(t) for t in own if t]
        self.tool = normalise(step.tool or "")
        self.observation = normalise(step.observation)
        self.reported = [normalise(t) for t in (*step.events, *step.notices, *step.npc_errors)]
        self.changes = [normalise(t) for c in step.diff for t in _values(c)]


def _contains(texts: list[str], quote: str) -> bool:
    return any(quote in text for text in texts)


class EvidenceChecker:
    """Checks citations against one record (its texts normalised once)."""

    def __init__(self, record: EpisodeRecord) -> None:
        messages = {"agent": record.messages, **{role: part.messages for role, part in record.roles.items()}}
        by_call: dict[tuple[str, str], dict[str, Any]] = {}
        for role, conversation in messages.items():
            for message in conversation:
                if message.get("role") == "assistant":
                    for call in message.get("tool_calls") or []:
                        if call.get("id"):
                            by_call[(role, str(call["id"]))] = message
        self._steps = {step.index: _StepTexts(step, by_call.get((role, step.call_id or "")))
                       for role, step in record.all_steps()}
        self._tools = {t.tool for t in self._steps.values() if t.tool}
        self._tools |= {normalise(str(call.get("name") or "")) for conversation in messages.values()
                        for m in conversation for call in m.get("tool_calls") or []}
        briefing = record.briefing
        self._briefing = [normalise(t) for t in (briefing.system_prompt, briefing.task,
                                                 *(m.content for m in briefing.memory))]
        self._span = f"steps {min(self._steps)}-{max(self._steps)}" if self._steps else "no steps"

    def problem(self, evidence: Evidence) -> str | None:
        """Why the citation does not check, or None when it does."""
        if evidence.step == 0:
            return ("step 0 is outside any step: cite the step whose tool call or reasoning holds the quote")
        texts = self._steps.get(evidence.step)
        if texts is None:
            return f"step {evidence.step} does not exist (the episode has {self._span})"
        quote = clean_quote(evidence.quote)
        if not quote:
            return "no quote"
        if quote.strip("()") in self._tools:
            return "quote is only a tool name, not the agent's own words"
        if words(quote) < MIN_WORDS or len(quote) < MIN_CHARS:
            return (f"too short to carry meaning ({words(quote)} word(s), {len(quote)} characters; at least "
                    f"{MIN_WORDS} words and {MIN_CHARS} characters)")
        if _contains(texts.own, quote):
            return None
        if ELLIPSIS in quote:
            return "quote stitched with an ellipsis: cite one contiguous span of the agent's own words"
        return self._elsewhere(evidence.step, texts, quote)

    def _elsewhere(self, step: int, texts: _StepTexts, quote: str) -> str:
        """Where a quote that is not the agent's own words at `step` came from, as the reason."""
        not_own = "not the agent's own action or reasoning"
        if quote in texts.observation:
            return f"quote is from the observation (what the world returned), {not_own}"
        if _contains(texts.reported, quote):
            return f"quote is from an event or notice the world produced, {not_own}"
        if _contains(texts.changes, quote):
            return f"quote is from the step's state changes, {not_own}"
        if _contains(self._briefing, quote):
            return f"quote is from the briefing, {not_own}"
        other = [n for n, t in sorted(self._steps.items()) if n != step and _contains(t.own, quote)]
        if other:
            return f"quote is the agent's own words at step {other[0]}, not at step {step}"
        return f"quote is not in the agent's own action or reasoning at step {step}"

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
