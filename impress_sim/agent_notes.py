"""What an architecture's notes say, for people: guard blocks, plans, critiques.

Architectures record their internal steps with `EpisodeSession.note(kind, **data)`; they end up in
the record's `agent_trace` (see `agents/guarded.py`, `plan_execute.py`, `reflexion.py`). The live
terminal (`impress_sim.render`, hearing each note as it is made) and the HTML pages (the report
and the review pages, reading the record) show the same notes the same way, so the reading of an
entry lives here, once: a leaf that imports nothing of the package.

Shown: a call the guard blocked, or could not screen (it was withheld), the guard stopping the
agent, each plan and replan, each critique, a role waiting its turn. Not shown: a call the guard
allowed (the step itself shows it ran) and the options an architecture ran with (`config`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Tone = Literal["blocked", "error", "stop", "plan", "critique", "wait", "other"]
HIDDEN = frozenset({"config"})  # recorded for the record's sake, said elsewhere (the header)
ARG_CHARS = 200


@dataclass(frozen=True)
class Note:
    """An internal step of an architecture as it is made (a plan, a critique, a guard decision):
    the entry `EpisodeSession.note` adds to the trace, and the role whose session made it. The
    session hands it to its listener, so a live view shows it where it happened."""

    role: str
    entry: Mapping[str, Any]


@dataclass(frozen=True)
class NoteView:
    kind: str  # the trace entry's kind
    tone: Tone  # how it is styled (terminal) or classed (HTML)
    title: str  # "guard blocked", "plan", "critique", ...
    call: str  # a screened call, as tool(arg=value, ...); "" for other notes
    text: str  # the reason, the plan, the critique
    after_step: int  # the role's steps before it was made (0: before its first step)


def call_text(tool: str, args: Any, limit: int = ARG_CHARS) -> str:
    """A tool call on one line, each argument cut to `limit` characters."""
    if not isinstance(args, Mapping):  # malformed arguments are recorded as their raw text
        return f"{tool}({_short(args, limit)})"
    return f"{tool}(" + ", ".join(f"{k}={_short(v, limit)}" for k, v in args.items()) + ")"


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(entry: Mapping[str, Any]) -> NoteView | None:
    """How a trace entry reads, or None when it is not worth showing (see the module's docstring)."""
    kind = str(entry.get("kind", ""))
    after = int(entry.get("after_step", 0) or 0)
    text = str(entry.get("text") or entry.get("reason") or "")
    if kind in HIDDEN:
        return None
    if kind == "guard":
        decision = entry.get("decision")
        if decision not in ("blocked", "error"):
            return None
        call = call_text(str(entry.get("tool", "")), entry.get("args", {}))
        if decision == "error":
            return NoteView(kind, "error", "guard could not screen (call withheld)", call,
                            str(entry.get("error") or text), after)
        return NoteView(kind, "blocked", "guard blocked", call, text, after)
    if kind == "guard_stop":
        return NoteView(kind, "stop", "guard stopped the agent", "", text, after)
    if kind == "plan":
        return NoteView(kind, "plan", "plan", "", text, after)
    if kind == "replan":
        why = {"error": " (after an error)", "every": ""}.get(str(entry.get("reason")), "")
        return NoteView(kind, "plan", f"replan{why}", "", str(entry.get("text") or ""), after)
    if kind == "critique":
        return NoteView(kind, "critique", "critique", "", text, after)
    if kind == "wait":
        return NoteView(kind, "wait", "waited its turn", "", "", after)
    rest = {k: v for k, v in entry.items() if k not in ("kind", "after_step")}
    return NoteView(kind, "other", kind or "note", "", _short(rest, 400) if rest else "", after)


def notes_by_step(trace: Iterable[Mapping[str, Any]]) -> dict[int, list[NoteView]]:
    """The notes worth showing, by how many of the role's steps came before each (0: before any)."""
    out: dict[int, list[NoteView]] = defaultdict(list)
    for entry in trace:
        view = describe(entry)
        if view is not None:
            out[view.after_step].append(view)
    return dict(out)


@dataclass(frozen=True)
class GuardCounts:
    screened: int  # calls the guard looked at
    blocked: int  # calls it blocked
    errors: int  # calls it failed to screen (withheld, never run)
    stop: str | None  # why it stopped the agent, when it did

    def summary(self) -> str:
        """"blocked 2 of 9 screened calls", with failures and a stop when there were any."""
        parts = [f"blocked {self.blocked} of {self.screened} screened call{'s' * (self.screened != 1)}"]
        if self.errors:
            parts.append(f"could not screen {self.errors} (withheld)")
        if self.stop:
            parts.append(self.stop)
        return "; ".join(parts)


def guard_counts(trace: Iterable[Mapping[str, Any]]) -> GuardCounts | None:
    """What the guard did over an episode, or None when no guard screened anything."""
    entries = list(trace)
    screened = [e for e in entries if e.get("kind") == "guard"]
    stops = [str(e.get("reason", "")) for e in entries if e.get("kind") == "guard_stop"]
    if not screened and not stops:
        return None
    return GuardCounts(screened=len(screened), blocked=sum(e.get("decision") == "blocked" for e in screened),
                       errors=sum(e.get("decision") == "error" for e in screened), stop=stops[-1] if stops else None)
