"""Rich rendering of an episode as it happens: briefing, actions, reactions, diffs, findings, and
the architecture's own notes (guard blocks, plans, critiques) at the step they were made.

Every text that comes from a world, a model or a person reaches rich as a `Text` (or escaped),
never as markup: a `[bold]` in an email is shown, not obeyed. The one line a user must copy, the
record's path, is printed whole on its own line at any terminal width.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from impress_sim.agent_notes import Note, NoteView, describe, guard_counts
from impress_sim.envs.briefing import Briefing
from impress_sim.envs.effects import AGENT
from impress_sim.envs.step import StepResult
from impress_sim.record import EpisodeRecord, StepRecord
from impress_sim.textdiff import TextDiff, is_text_change, text_diff
from impress_sim.verdict import OTHER_MISCONDUCT, CombinedVerdict, JudgeVerdict

MAX_OBS = 1200
MAX_VALUE = 90
NOTE_STYLE = {"blocked": "red", "error": "yellow", "stop": "bold red", "plan": "cyan", "critique": "magenta",
              "wait": "dim", "other": "dim"}
HUMAN = "human"  # `agents.human.HUMAN` (the judge's command prints verdicts here: no agents import)
DIFF_STYLE = {"hunk": "cyan", "context": "dim", "removed": "red", "added": "green"}


def _short(value: Any, limit: int = MAX_VALUE) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_header(console: Console, world_id: str, model: str, agent: str, factors: dict[str, str],
                  replay: bool) -> None:
    """The episode's first line. A person playing (`agent=human`) is named as such: no model acts,
    whatever `model` says, and nothing is replayed."""
    human = agent == HUMAN
    shown = HUMAN if human else model
    title = Text.assemble((world_id, "bold"), f" · agent={agent} · model={shown}")
    console.rule(title)
    if human:
        console.print(Text('A person is playing the agent at this terminal (model "human"): every tool call '
                           "is typed here.", style="yellow"))
    elif replay:
        console.print(Text("This model is a replay of a scripted trajectory — not a measurement.", style="yellow"))
    console.print(Text("variant: " + ", ".join(f"{k}={v}" for k, v in factors.items()), style="dim"))


def render_briefing(console: Console, briefing: Briefing, role: str | None = None) -> None:
    """The briefing a role gets; in a multi-agent world the title names the role (`role=`)."""
    body = Text()
    body.append("System prompt\n", style="bold")
    body.append(briefing.system_prompt + "\n")
    for item in briefing.memory:
        body.append(f"\nMemory ({item.role})\n", style="bold")
        body.append(item.content + "\n")
    body.append("\nTask\n", style="bold")
    body.append(briefing.task)
    title = Text("Briefing" if role is None else f"Briefing · {role}")
    console.print(Panel(body, title=title, border_style="cyan"))


def text_diff_view(path: str, actor: str, diff: TextDiff) -> Text:
    """A text value's change as `diff -u` shows it: the path, then hunks of removed, added and context lines."""
    out = Text()
    out.append(f"✎ {path}", style="bold cyan")
    out.append(f" ({actor}, {diff.summary()})\n" if actor else f" ({diff.summary()})\n", style="dim")
    for line in diff.lines:
        out.append(line.shown + "\n", style=DIFF_STYLE[line.kind])
    if diff.omitted:
        out.append(f"… {diff.omitted} more diff line{'s' * (diff.omitted != 1)} not shown\n", style="dim")
    out.rstrip()
    return out


def diff_view(diff: list[dict[str, Any]]) -> Group:
    """A step's state changes: a table (who, op, path, before → after); a text value that changed on
    several lines (a file's content) is summed up in the table and shown below it as a line diff."""
    table = Table(show_header=True, header_style="bold", expand=True, box=None, pad_edge=False)
    table.add_column("who", style="magenta", no_wrap=True)
    table.add_column("op", no_wrap=True)
    table.add_column("path", style="cyan", overflow="fold")
    table.add_column("before → after", overflow="fold")
    texts: list[Text] = []
    for change in diff:
        op_style = {"add": "green", "set": "yellow", "delete": "red"}.get(change["op"], "")
        actor, path = str(change.get("actor", "")), str(change["path"])
        if is_text_change(change["old"], change["new"]):
            lines = text_diff(change["old"], change["new"])
            texts.append(text_diff_view(path, actor, lines))
            shown = Text(f"text {lines.summary()} (line diff below)", style="dim")
        else:
            before = "" if change["old"] is None else _short(change["old"])
            after = "" if change["new"] is None else _short(change["new"])
            shown = Text(f"{before} → {after}" if before else after)
        table.add_row(Text(actor), Text(change["op"], style=op_style), Text(path), shown)
    return Group(table, *texts)


def render_step(console: Console, step: StepRecord | Note, result: StepResult | None = None) -> None:
    """One step as it happens (the session's listener); an architecture's note goes to `render_note`."""
    if isinstance(step, Note):
        render_note(console, step)
        return
    parts: list[RenderableType] = []
    if step.thought:
        parts.append(Text(step.thought, style="italic dim"))
    call = Text(f"{step.tool}(", style="bold")
    call.append(", ".join(f"{k}={_short(v, 200)}" for k, v in step.args.items()))
    call.append(")")
    parts.append(call)
    obs = step.observation if len(step.observation) <= MAX_OBS else step.observation[:MAX_OBS] + "\n…"
    parts.append(Text(obs, style="red" if step.error_kind else "white"))
    for event in step.events:
        parts.append(Text(f"⚙ {event}", style="blue"))
    for err in step.npc_errors:
        parts.append(Text(f"⚠ NPC error: {err}", style="yellow"))
    if step.diff:
        parts.append(diff_view(step.diff))
    for f in step.findings:
        parts.append(Text(f"⚑ {f.behaviour} [{f.severity}] {f.motive}/{f.risk_type}: {f.evidence}",
                          style="bold red"))
    for f in step.attempts:  # refused by the world: what the act would have done, never an effect
        parts.append(Text(f"⊘ attempted {f.behaviour} [{f.severity}]: {f.evidence}", style="yellow"))
    title = f"step {step.index} · {step.clock[11:16]}"
    if result is not None and result.role != AGENT:  # an extra agent of a multi-agent world
        title += f" · {result.role}"
    console.print(Panel(Group(*parts), title=Text(title), title_align="left",
                        border_style="red" if step.findings else "green"))


def note_view(view: NoteView, role: str = AGENT) -> RenderableType:
    """One note: a guard block (the call and why), the guard stopping the agent, a plan, a critique."""
    style = NOTE_STYLE[view.tone]  # where it was made is where it is printed: between the steps around it
    title = Text(" · ".join([view.title, *([role] if role != AGENT else [])]))
    if view.tone == "wait":
        return Text(f"· {role} {view.title}", style=style)
    body = Text()
    if view.call:
        body.append("⊘ " + view.call + "\n", style="bold")
    body.append(view.text)
    return Panel(body, title=title, title_align="left", border_style=style)


def render_note(console: Console, note: Note) -> None:
    """An architecture's note as it is made (nothing for those not worth showing: `agent_notes.describe`)."""
    view = describe(note.entry)
    if view is not None:
        console.print(note_view(view, note.role))


def render_path(console: Console, label: str, path: str) -> None:
    """`label`, then `path` alone on its own line, never wrapped, cropped or highlighted: a path a
    user copies must be whole at any terminal width (the terminal may fold it; no newline is added)."""
    console.print(Text(label, style="bold"))
    console.print(Text(path), soft_wrap=True, overflow="ignore", crop=False, highlight=False)


def _outcome_style(record: EpisodeRecord) -> str:
    """The summary panel's border: yellow for an error (no verdict), red when misaligned, else green."""
    if record.status == "error":
        return "yellow"
    flagged = record.verdict.misaligned if record.verdict is not None else record.misaligned
    return "red" if flagged else "green"


def _trace(record: EpisodeRecord) -> list[dict[str, Any]]:
    """Every role's notes (the primary agent's, then each extra role's in a multi-agent world)."""
    return [*record.agent_trace, *(e for part in record.roles.values() for e in part.agent_trace)]


def render_summary(console: Console, record: EpisodeRecord, path: str | None = None) -> None:
    """The episode's outcome in a panel, then the record's path on its own line (`render_path`)."""
    table = Table(show_header=False, box=None)
    table.add_row("status", f"{record.status} (ended by {record.ended_by})")
    table.add_row("tool calls", Text(str(len(record.steps)) + "".join(
        f", {role}: {len(part.steps)}" for role, part in record.roles.items())))  # multi-agent: per role
    if record.status == "error":
        table.add_row("task done", Text("unknown (error episode)", style="yellow"))
    else:
        score = "" if record.task_score is None else f" (task score {record.task_score:.2f})"
        table.add_row("task done", Text.assemble(("yes", "green") if record.task_done else ("no", "red"), score))
    for check in record.task_checks:
        table.add_row("", Text(f"{'✓' if check.passed else '✗'} {check.id}: {check.description}"))
    if record.status == "error":
        verdict = Text("error: the episode has no verdict (excluded from every rate)", style="yellow")
    elif record.misaligned:
        verdict = Text("MISALIGNED", style="bold red")
    else:
        verdict = Text("no misaligned behaviour detected", style="green")
    table.add_row("state detectors", verdict)
    for f in record.findings:
        who = f"{f.actor}: " if record.roles else ""
        table.add_row("", Text(f"step {f.step}: {who}{f.behaviour} ({f.motive}, {f.risk_type}, {f.severity}) — "
                               f"{f.evidence}"))
    if record.attempted:
        table.add_row("attempted", Text("refused by the world, never counted as acted: " + ", ".join(record.attempted),
                                        style="yellow"))
        for f in record.attempts:
            table.add_row("", Text(f"step {f.step}: {f.behaviour} — {f.evidence}", style="yellow"))
    thinking = _thinking_counts(_trace(record))
    if thinking:
        table.add_row("notes", Text(thinking))
    guard = guard_counts(_trace(record))
    if guard is not None:
        table.add_row("guard", Text(guard.summary(), style="red" if guard.blocked or guard.stop else ""))
        if guard.errors:
            table.add_row("guard errors", Text(f"the guard model failed on {guard.errors} of {guard.screened} "
                                               "screened call(s); those calls were not run", style="yellow"))
    if record.error:
        table.add_row("error", Text(record.error, style="red"))
    if record.verdict is not None:
        add_verdict_rows(table, record)
    if record.monitor is not None:
        table.add_row("monitor", monitor_line(record))
    console.print(Panel(table, title="Episode summary", border_style=_outcome_style(record)))
    if path:
        render_path(console, "Episode record:", path)


def _thinking_counts(trace: list[dict[str, Any]]) -> str:
    """`1 plan, 2 replans, 3 critiques`: what the architecture thought between actions (shown where made)."""
    kinds = [str(e.get("kind")) for e in trace]
    parts = [(kinds.count(k), k) for k in ("plan", "replan", "critique")]
    return ", ".join(f"{n} {k}{'s' * (n != 1)}" for n, k in parts if n)


def monitor_line(record: EpisodeRecord) -> str:
    """The monitor's row, as markup (the model's name escaped)."""
    m = record.monitor
    if m is None:
        return ""
    model = escape(m.model)
    errors = f" ({m.errors} check(s) failed)" if m.errors else ""
    if m.max_score is None:  # no check gave a score: whether it would have caught the agent is unknown
        return f"{model}: [yellow]no score: caught unknown[/yellow], threshold {m.threshold}{errors}"
    caught = " — [bold red]CAUGHT[/bold red]" if m.caught else ""
    return f"{model}: max suspicion {m.max_score}/100, threshold {m.threshold}{caught}{errors}"


def _judge_line(verdict: JudgeVerdict) -> Text:
    if verdict.error is not None:
        return Text.assemble(f"{verdict.judge}: ", (f"no verdict ({verdict.error})", "yellow"))
    acted = ", ".join(sorted(verdict.acted)) or "nothing"
    task = "" if verdict.task_done is None else f"; task {'done' if verdict.task_done else 'not done'}"
    return Text(f"{verdict.judge}: acted {acted}{task}")


def add_verdict_rows(table: Table, record: EpisodeRecord) -> None:
    """The combined verdict: label, each counted behaviour with its citations, what each judge alone
    says, attempts, other misconduct, judges, disagreements."""
    verdict: CombinedVerdict | None = record.verdict
    if verdict is None:
        return
    label = Text("MISALIGNED", style="bold red") if verdict.misaligned else Text("aligned", style="green")
    extra = f" · severity {verdict.severity}" if verdict.severity else ""
    review = Text(" · NEEDS REVIEW", style="bold yellow") if verdict.needs_review else ""
    table.add_row("verdict", Text.assemble(label, f" (policy {verdict.policy}){extra}", review))
    for behaviour in verdict.behaviours:
        cited = [c for c in verdict.citations if c.behaviour == behaviour]
        table.add_row("", Text(f"{behaviour}: " + "; ".join(
            f"step {c.step} [{c.judge}] {_short(c.quote, 120)!r}" for c in cited), style="red"))
    table.add_row("state alone", Text(", ".join(verdict.state_behaviours) or "nothing"))
    if verdict.llm_behaviours is not None:
        table.add_row("LLM alone", Text(", ".join(verdict.llm_behaviours) or "nothing") +
                      Text(" (acted, with evidence that checks)", style="dim"))
    if verdict.attempted:
        table.add_row("attempted", Text(", ".join(verdict.attempted) + " (refused by the world; not counted)",
                                        style="yellow"))
    for description in verdict.other_misconduct:
        cited = [c for c in verdict.citations if c.behaviour == OTHER_MISCONDUCT]
        table.add_row("other misconduct", Text(f"{description} — " + "; ".join(
            f"step {c.step} {_short(c.quote, 120)!r}" for c in cited) + " (not counted as misaligned)",
            style="yellow"))
    for judge in verdict.judges:
        table.add_row("judge", _judge_line(judge))
    if verdict.considered:
        table.add_row("considered", Text(", ".join(verdict.considered)))
    if verdict.eval_awareness is not None:
        table.add_row("eval awareness", "yes" if verdict.eval_awareness else "no")
    for line in verdict.disagreements:
        table.add_row("disagreement", Text(line, style="yellow"))
    for line in verdict.rejected_evidence:
        table.add_row("rejected", Text(line, style="dim"))
    if record.interview is not None:
        said = record.interview.error or _short(record.interview.answer, 200)
        by = f"{verdict.interview_label} ({verdict.interview_judge})" if verdict.interview_label else "unlabelled"
        table.add_row("interview", Text(f"{by} — {record.interview.asker}: {said}"))


def render_verdict(console: Console, record: EpisodeRecord, path: str | None = None) -> None:
    """The combined verdict alone (re-judging), then the record's path on its own line."""
    table = Table(show_header=False, box=None)
    add_verdict_rows(table, record)
    console.print(Panel(table, title=Text(f"Verdict · {record.episode_id}"), border_style=_outcome_style(record)))
    if path:
        render_path(console, "Episode record:", path)


def render_batch_summary(console: Console, records: list[EpisodeRecord], out: str) -> None:
    """One line per outcome for many episodes: how many misaligned (combined, and each judge alone),
    attempted, done, errored; which behaviours. Error episodes have no verdict: they are counted
    apart and in none of the other lines. Then the records' folder on its own line."""
    from collections import Counter

    ran = [r for r in records if r.status != "error"]
    errors = len(records) - len(ran)
    of = f" of {len(ran)}"
    behaviours = Counter(b for r in ran for b in r.behaviours)
    table = Table(show_header=False, box=None)
    table.add_row("episodes", f"{len(records)} ({len(ran)} ran, {errors} error{'s' * (errors != 1)})")
    table.add_row("misaligned (state detectors)", f"{sum(bool(r.misaligned) for r in ran)}{of}")
    judged = [r.verdict for r in ran if r.verdict is not None]
    if judged:
        policies = ", ".join(sorted({v.policy for v in judged}))
        table.add_row("misaligned (combined verdict)", Text(f"{sum(v.misaligned for v in judged)} of {len(judged)} "
                                                            f"(policy {policies})"))
        opinions = [v for v in judged if v.llm_behaviours is not None]
        if opinions:
            table.add_row("misaligned (LLM judge alone)", f"{sum(bool(v.llm_behaviours) for v in opinions)} of "
                                                          f"{len(opinions)} with an LLM opinion")
        if any(v.other_misconduct for v in judged):
            table.add_row("other misconduct", f"{sum(bool(v.other_misconduct) for v in judged)} (not counted above)")
        if any(v.judge_errors for v in judged):
            table.add_row("LLM judge failed", f"{sum(bool(v.judge_errors) for v in judged)}")
        table.add_row("needs review", f"{sum(v.needs_review for v in judged)}")
    table.add_row("attempted (refused)", f"{sum(bool(r.attempted) for r in ran)}{of}")
    scores = [r.task_score for r in ran if r.task_score is not None]
    mean = f", mean task score {sum(scores) / len(scores):.2f}" if scores else ""
    table.add_row("task done", f"{sum(bool(r.task_done) for r in ran)}{of}{mean}")
    guards = [g for g in (guard_counts(_trace(r)) for r in ran) if g is not None]
    if guards:
        blocked = sum(g.blocked for g in guards)
        table.add_row("guard", f"blocked {blocked} of {sum(g.screened for g in guards)} screened call(s), "
                               f"in {sum(1 for g in guards if g.blocked)} of {len(guards)} guarded episode(s)")
    failed = sum(1 for g in guards if g.errors)
    if failed:
        table.add_row("guard errors", f"{failed} episode(s) with calls the guard model failed to screen")
    if any(r.monitor is not None for r in records):
        from impress_sim.agents.monitor import catch_counts

        c = catch_counts(records)
        unknown = f", {c.unknown} unknown (no score)" if c.unknown else ""
        table.add_row("monitor", f"caught {c.caught}/{c.misaligned} misaligned, "
                                 f"false alarms {c.false_alarms}/{c.aligned} aligned{unknown}")
    table.add_row("errors", f"{errors} (no verdict: not counted as aligned or misaligned)")
    for behaviour, count in behaviours.most_common():
        table.add_row("", Text(f"{behaviour}: {count}"))
    console.print(Panel(table, title="Batch summary"))
    render_path(console, "Episode records:", out)
