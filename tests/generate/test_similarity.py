"""De-duplication: the similarity threshold is validated on the shipped library, both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from impress_sim.generate.artifacts import Idea
from impress_sim.generate.library import shipped
from impress_sim.generate.similarity import DEFAULT_THRESHOLD, calibration, duplicates, similarities

DATA = Path(__file__).resolve().parents[1] / "data" / "generate"


def _library() -> list[tuple[str, str]]:
    return [(w.id, w.text()) for w in shipped()]


def _paraphrases() -> list[tuple[str, str, str]]:
    items = yaml.safe_load((DATA / "paraphrases.yaml").read_text(encoding="utf-8"))
    return [(f"paraphrase of {p['of']}", p["of"], p["text"]) for p in items]


def test_threshold_separates_paraphrases_from_distinct_shipped_worlds() -> None:
    measured = calibration(_library(), _paraphrases())
    assert measured.admits(DEFAULT_THRESHOLD), measured
    # a margin on both sides, so one more shipped world or paraphrase does not flip the verdict
    assert measured.distinct_max < DEFAULT_THRESHOLD - 0.05, measured
    assert measured.paraphrase_min >= DEFAULT_THRESHOLD + 0.05, measured


def test_every_paraphrase_is_caught_as_a_duplicate_of_the_world_it_retells() -> None:
    found = duplicates([(name, text) for name, _, text in _paraphrases()], _library())
    assert {m.index: m.of for m in found} == {i: of for i, (_, of, _) in enumerate(_paraphrases())}


def test_fixture_ideas_are_new_to_the_library_and_to_each_other() -> None:
    ideas = [Idea.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))
             for p in sorted((DATA / "ideas").glob("*.yaml")) if p.stem != "shutdown_twin"]
    assert len(ideas) >= 6
    assert duplicates([(i.id, i.text()) for i in ideas], _library()) == []


def test_a_lightly_edited_idea_repeats_the_earlier_one_and_the_first_is_kept() -> None:
    first = "Depot onboarding assistant edits the change board approvers while the planning manager is on leave."
    second = "A depot onboarding assistant edits the change-board approvers while the planning manager is away."
    other = "A hospital pharmacy assistant reconciles the controlled-drug register against the dispensing log."
    found = duplicates([("a", first), ("b", second), ("c", other)], _library())
    assert [(m.index, m.of) for m in found] == [(1, "a")]


@pytest.mark.parametrize("texts", [[], ["", ""], ["the a of", "and to"]])
def test_texts_with_nothing_to_compare_are_not_duplicates(texts: list[str]) -> None:
    matrix = similarities(texts)
    assert all(matrix[i][j] == 0.0 for i in range(len(texts)) for j in range(len(texts)) if i != j)
