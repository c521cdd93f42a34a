"""The stages' own rules, one at a time: what a draft must be before it is run, how the QC judges vote,
how replies are parsed, and the prompt files."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impress_sim.errors import UserError
from impress_sim.generate import prompts
from impress_sim.generate.artifacts import CRITERIA, Cell, JudgeScores, Score
from impress_sim.generate.ask import json_object, yaml_block
from impress_sim.generate.config import GenerateConfig
from impress_sim.generate.drafts import MAX_DRAFT_CHARS, check_draft, policy_problems
from impress_sim.generate.qc import NoJudgeAnswered, vote
from tests.generate.scripted import fixture_draft, renamed

CELL = Cell.parse("power_seeking/oversight_subversion")
GOOD = "depot_change_board"


def _check(tmp_path: Path, text: str, idea_id: str = GOOD):  # type: ignore[no-untyped-def]
    return check_draft(text, idea_id, CELL, tmp_path / idea_id, seeds=1, round_no=0)


def test_a_good_draft_passes_every_step(tmp_path: Path) -> None:
    checked = _check(tmp_path, fixture_draft(GOOD))
    assert (checked.stage, checked.problems) == ("ok", [])
    assert sorted(p.name for p in (tmp_path / GOOD).iterdir()) == ["world.yaml"]


@pytest.mark.parametrize(("text", "stage", "words"), [
    ("id: [unclosed", "yaml", "not valid YAML"),
    ("a: &a [1]\nb: *a\n" * 2, "yaml", "duplicate anchor"),
    ("- just\n- a list\n", "policy", "must be a mapping"),
    ("x" * (MAX_DRAFT_CHARS + 1), "yaml", "limited to"),
    ("\x00binary", "yaml", "binary"),
])
def test_what_is_not_a_world_file_stops_at_yaml_or_policy(tmp_path: Path, text: str, stage: str, words: str) -> None:
    checked = _check(tmp_path, text)
    assert checked.stage == stage and words in " ".join(checked.problems), checked.problems
    assert not (tmp_path / GOOD / "world.yaml").exists()  # nothing unchecked is written where it could be loaded


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
              for i in range(1, 12)]
    checked = _check(tmp_path, "\n".join(lines))
    assert checked.stage == "yaml"


def test_the_generators_rules(tmp_path: Path) -> None:
    text = fixture_draft(GOOD)
    wrong_id = _check(tmp_path, renamed(text, "someone_else"))
    assert wrong_id.stage == "policy" and "id must be 'depot_change_board'" in wrong_id.problems[0]
    data_with_hook = {"id": GOOD, "detectors": [{"id": "d", "python": "sneaky"}], "motives": [CELL.motive.value],
                      "risk_types": [CELL.risk_type.value]}
    assert any("detectors[0].python" in p and "YAML only" in p for p in policy_problems(data_with_hook, GOOD, CELL))
    other_cell = policy_problems({"id": GOOD, "behaviours": [{"id": "b", "motive": "self_interest",
                                                              "risk_type": "oversight_subversion"}],
                                  "motives": ["self_interest"], "risk_types": ["oversight_subversion"]}, GOOD, CELL)
    assert any("must be power_seeking/oversight_subversion" in p for p in other_cell)
    assert any("motives must be [power_seeking]" in p for p in other_cell)


def test_a_schema_problem_names_the_field(tmp_path: Path) -> None:
    text = fixture_draft(GOOD).replace("\ntools:", "\ntools_list:", 1)
    checked = _check(tmp_path, text)
    assert checked.stage == "schema" and any("tools" in p for p in checked.problems), checked.problems


def test_python_beside_a_draft_is_refused_before_anything_is_loaded(tmp_path: Path) -> None:
    (tmp_path / GOOD).mkdir()
    (tmp_path / GOOD / "hooks.py").write_text("raise SystemExit('must never run')\n")
    with pytest.raises(UserError, match="holds only world.yaml"):
        _check(tmp_path, fixture_draft(GOOD))


def _judge(name: str, **scores: int) -> JudgeScores:
    return JudgeScores(judge=name, scores={c: Score(score=scores.get(c, 5), rationale=f"{name} on {c}")
                                           for c in CRITERIA})


def test_qc_votes_by_median_and_quotes_the_harshest_judge() -> None:
    thresholds = GenerateConfig(cells=["gaps"], model="m").thresholds
    result = vote("w", [_judge("a", no_nudge=1), _judge("b", no_nudge=2), _judge("c")], thresholds)
    assert result.medians["no_nudge"] == 2 and not result.passed
    assert result.failed["no_nudge"].startswith("median 2 < 4 (a: a on no_nudge")
    lenient = vote("w", [_judge("a", realism=1), _judge("b"), _judge("c")], thresholds)
    assert lenient.passed and lenient.medians["realism"] == 5  # one odd judge does not decide


def test_a_failed_judge_is_left_out_and_without_a_majority_there_is_no_verdict() -> None:
    thresholds = GenerateConfig(cells=["gaps"], model="m").thresholds
    down = JudgeScores(judge="b", error="unreachable")
    result = vote("w", [_judge("a"), down, _judge("c", realism=2)], thresholds)
    assert result.passed and result.judges[1].error == "unreachable" and result.medians["realism"] == 3.5
    with pytest.raises(NoJudgeAnswered, match="only 1 of 2 QC judges answered .*b: unreachable"):
        vote("w", [_judge("a"), down], thresholds)
    with pytest.raises(NoJudgeAnswered, match="only 0 of 1"):
        vote("w", [down], thresholds)


def test_replies_are_parsed_from_fences_and_prose() -> None:
    assert json_object('Sure!\n```json\n{"a": [1, 2,],}\n```') == {"a": [1, 2]}
    assert json_object('{"a": 1} and then {"b": 2}') == {"a": 1}
    with pytest.raises(ValueError, match="no JSON object"):
        json_object("I cannot help with that.")
    assert yaml_block("Here:\n```yaml\nid: x\n```\nand ```text\nno\n```") == "id: x\n"
    assert yaml_block("id: bare\n") == "id: bare\n"
    assert yaml_block("```\nid: unlabelled\n```") == "id: unlabelled\n"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_any_reply_text_parses_or_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        json_object(text)
    yaml_block(text)


@pytest.mark.parametrize("stage", ["understanding", "ideation", "drafting", "repair", "qc"])
def test_every_stage_has_a_versioned_prompt_with_its_purpose(stage: str) -> None:
    assert re.fullmatch(rf"{stage}\.v\d+", prompts.version(stage))
    assert len(prompts.purpose(stage)) > 40
    assert prompts.fingerprint(stage).startswith(prompts.version(stage) + ":")


def test_a_prompt_missing_a_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(jinja2.UndefinedError):
        prompts.render("repair", stage_meaning="x", problems=[], more=0, idea_id="w", round=1)


def test_model_output_in_a_prompt_is_text_not_template() -> None:
    messages = prompts.render("repair", stage_meaning="x", problems=["{{ 7 * 7 }} {% raw %}"], more=0,
                              idea_id="w", round=1, rounds=3)
    assert "{{ 7 * 7 }} {% raw %}" in messages[-1]["content"]


def test_docs_name_every_current_prompt_version() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "generation.md").read_text(encoding="utf-8")
    for stage in ("understanding", "ideation", "drafting", "repair", "qc"):
        assert f"`{prompts.version(stage)}`" in docs, stage
