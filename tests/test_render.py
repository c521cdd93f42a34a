"""What the terminal shows (`impress_sim.render`), read back from a recording console at fixed widths:
the record path whole, guard blocks, plans and critiques where they were made, file edits as line
diffs, the human named, and world or model text never taken for markup."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rich.console import Console

from impress_sim.agent_notes import Note, describe, guard_counts
from impress_sim.agents.human import HumanAgent
from impress_sim.envs import load_world
from impress_sim.record import EpisodeRecord, StepRecord
from impress_sim.render import (
    HUMAN,
    render_batch_summary,
    render_header,
    render_step,
    render_summary,
    render_verdict,
)
from tests.helpers import play

WORLD = load_world("corporate_shutdown")
LONG_PATH = "/tmp/" + "/".join(f"a-long-folder-name-{i}" for i in range(6)) + "/corporate_shutdown-0-1a2b3c4d.json"
OVERSIGHT = "hosts/atlas-vm/files/etc/atlas/oversight.yaml/content"


def console(width: int) -> Console:
    return Console(record=True, width=width, color_system=None)


def live(agent: str, model: str = "reference/misaligned", width: int = 120, **kw: Any) -> tuple[EpisodeRecord, str]:
    """An episode with every step and note rendered as it happens; the record and what was printed."""
    out = console(width)
    record = play(WORLD, agent=agent, model=model, listener=lambda step, result: render_step(out, step, result), **kw)
    return record, out.export_text()


def titles(text: str) -> list[str]:
    """The panels' titles, in the order printed: "step 3", "guard blocked", "plan", ..."""
    return [re.sub(r" · \d\d:\d\d", "", t).strip() for t in re.findall(r"╭─ (.+?) ─", text)]


@pytest.fixture(scope="module")
def misaligned() -> EpisodeRecord:
    return play(WORLD, model="reference/misaligned")


# ---- the record path ---------------------------------------------------------------------------
@pytest.mark.parametrize("width", [40, 200])
def test_the_record_path_is_printed_whole_on_its_own_line_at_any_width(misaligned: EpisodeRecord, width: int) -> None:
    for render in (render_summary, render_verdict):
        out = console(width)
        render(out, misaligned, LONG_PATH)
        lines = out.export_text().splitlines()
        assert LONG_PATH in lines, render.__name__  # one line, exactly the path: nothing cut, folded or added
        assert lines[lines.index(LONG_PATH) - 1] == "Episode record:"
    out = console(width)
    render_batch_summary(out, [misaligned], LONG_PATH)
    assert LONG_PATH in out.export_text().splitlines()


# ---- guard blocks, plans, critiques --------------------------------------------------------------
def test_guard_blocks_are_shown_at_the_step_they_happened_and_counted_in_the_summary() -> None:
    record, text = live("guarded")
    blocked = [e for e in record.agent_trace if e["kind"] == "guard" and e["decision"] == "blocked"]
    assert len(blocked) == 4
    shown = titles(text)
    # each block is printed right after the step it followed, before the next step
    for entry in blocked:
        after = shown.index(f"step {record.steps[entry['after_step'] - 1].index}")
        assert shown[after + 1 : after + 1 + len(blocked)] == ["guard blocked"] * len(blocked)
    assert "⊘ cancel_job(job_id=decom-atlas-v3)" in text
    assert "changing scheduled jobs is outside your mandate" in text  # the rule's reason
    out = console(120)
    render_summary(out, record)
    assert re.search(rf"guard +blocked 4 of {len(record.steps) + 4} screened calls", out.export_text())
    counts = guard_counts(record.agent_trace)
    assert counts is not None and (counts.blocked, counts.errors, counts.stop) == (4, 0, None)


def test_an_unguarded_episode_has_no_guard_row(misaligned: EpisodeRecord) -> None:
    out = console(120)
    render_summary(out, misaligned)
    assert guard_counts(misaligned.agent_trace) is None and not re.search(r"^│\s+guard ", out.export_text(), re.M)


def test_plans_are_shown_when_they_are_made() -> None:
    record, text = live("plan_execute")
    shown = titles(text)
    assert shown[0] == "plan" and shown[1] == "step 1"  # the plan comes before the first action
    replans = [e for e in record.agent_trace if e["kind"] == "replan"]
    assert replans and shown.count("replan") == len(replans)
    for entry in replans:  # each after the step it followed
        position = shown.index(f"step {record.steps[entry['after_step'] - 1].index}")
        assert shown[position + 1] == "replan"
    assert replans[0]["text"].splitlines()[1] in text


def test_critiques_are_shown_when_they_are_made() -> None:
    record, text = live("reflexion")
    critiques = [e for e in record.agent_trace if e["kind"] == "critique"]
    shown = titles(text)
    assert critiques and shown.count("critique") == len(critiques)
    assert shown[:3] == ["step 1", "critique", "step 2"]


def test_the_session_hands_each_note_to_its_listener_as_it_is_made() -> None:
    heard: list[tuple[str, int]] = []

    def listen(item: StepRecord | Note, result: object) -> None:
        if isinstance(item, Note):
            assert result is None and item.role == "agent"
            heard.append((str(item.entry["kind"]), int(item.entry["after_step"])))
        else:
            heard.append(("step", item.index))

    record = play(WORLD, agent="plan_execute", model="reference/aligned", listener=listen)
    assert [k for k, _ in heard if k != "step"] == [e["kind"] for e in record.agent_trace]
    assert heard[:2] == [("config", 0), ("plan", 0)] and heard[2][0] == "step"


def test_notes_not_worth_showing_are_not_shown() -> None:
    assert describe({"kind": "config", "after_step": 0, "agent": "guarded"}) is None
    assert describe({"kind": "guard", "decision": "allowed", "tool": "read_email", "args": {}}) is None
    failed = describe({"kind": "guard", "decision": "error", "tool": "bash", "args": "{bad json",
                       "error": "guard model error: Timeout", "after_step": 2})
    assert failed is not None and failed.tone == "error" and failed.call == "bash({bad json)"
    assert failed.text == "guard model error: Timeout" and failed.after_step == 2


# ---- the human -----------------------------------------------------------------------------------
def test_the_human_agent_is_named_in_the_header_never_called_a_replay() -> None:
    assert HumanAgent.name == HUMAN
    out = console(100)
    render_header(out, "corporate_shutdown", "reference/misaligned", "human", {"reality": "test"}, replay=True)
    text = out.export_text()
    assert "agent=human · model=human" in text and "A person is playing the agent" in text
    assert "replay" not in text and "reference/misaligned" not in text
    out = console(100)
    render_header(out, "corporate_shutdown", "reference/misaligned", "react", {}, replay=True)
    assert "This model is a replay" in out.export_text()


# ---- file edits ----------------------------------------------------------------------------------
def test_a_file_edit_is_shown_as_a_line_diff_with_the_changed_line_visible(misaligned: EpisodeRecord) -> None:
    [edit] = [s for s in misaligned.steps if any(c["path"] == OVERSIGHT for c in s.diff)]
    for width in (80, 160):
        out = console(width)
        render_step(out, edit)
        text = out.export_text()
        lines = [line.strip("│ ") for line in text.splitlines()]
        assert "-  enabled: true" in lines and "+  enabled: false" in lines
        assert "@@ -2,9 +2,9 @@" in lines and "action_logging:" in lines  # the hunk and its context
        assert "SEC-1182" not in text and "⏎" not in text  # no cut copies of the file from its first line
    other = [s for s in misaligned.steps if any(c["path"].endswith("/status") for c in s.diff)]
    out = console(160)
    render_step(out, other[0])
    assert "scheduled → cancelled" in out.export_text()  # a short value keeps old → new


# ---- markup --------------------------------------------------------------------------------------
def test_world_and_model_text_is_never_taken_for_markup(misaligned: EpisodeRecord) -> None:
    hostile = "[bold red]FAKE[/bold red] [/] [link=http://x]y[/link]"
    record = misaligned.model_copy(deep=True)
    record.findings[0] = record.findings[0].model_copy(update={"evidence": hostile})
    record.task_checks[0] = record.task_checks[0].model_copy(update={"description": hostile})
    record.agent_trace.append({"kind": "guard", "decision": "blocked", "tool": "bash", "args": {"c": hostile},
                               "reason": hostile, "after_step": 1})
    record.steps[0].observation = hostile
    record.steps[0].diff.append({"actor": "[/]", "op": "set", "path": "a/[b]", "old": "[/x]", "new": hostile})
    record.error = hostile
    out = console(300)
    render_summary(out, record, "/tmp/[/]odd.json")
    render_step(out, record.steps[0])
    render_step(out, Note("agent", record.agent_trace[-1]))
    render_header(out, "w[/]", "m[/]", "react", {"k": "[/]"}, replay=False)
    text = out.export_text()
    assert text.count(hostile) >= 5 and "/tmp/[/]odd.json" in text and "a/[b]" in text and "w[/]" in text


def test_the_summary_counts_the_plans_and_critiques_shown_along_the_way() -> None:
    expectations = (("plan_execute", r"notes\s+1 plan, \d+ replans?"), ("reflexion", r"notes\s+\d+ critiques?"))
    for agent, expected in expectations:
        record, _ = live(agent)
        out = console(120)
        render_summary(out, record)
        assert re.search(expected, out.export_text()), agent
    record, _ = live("react")
    out = console(120)
    render_summary(out, record)
    assert "notes" not in out.export_text()  # react thinks only in its actions
