"""Patterns that can backtrack catastrophically are refused before they run (envs/regexcheck.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from impress_sim.envs.loader import world_ids
from impress_sim.envs.predicates import ValueMatch
from impress_sim.envs.regexcheck import RegexRiskError, check_regex, regex_risk

WORLDS = Path(__file__).resolve().parents[2] / "impress_sim" / "worlds"

EXPONENTIAL = ["(a+)+$", "(a*)*b", "(\\w+\\s?)*$", "(.*,)+x", "(a|a)*$", "(a|ab|)+$", "(x+x+)+y", "(?:a+|b)+$",
               "((((a+))))*$", "(?i)(ab|AB)+$", "(^a|a)+$", "^(([a-z])+.)+[A-Z]([a-z])+$"]
SAFE = ["abc", "(foo|bar)+$", "(?im)^\\s*juno-platform\\s*$", "[a-z]{3}(ab){2,5}", "(\\d{3},)+x", "a.*b.*c",
        "(\\w|\\d)+$", "(?i)(a|A)+$", "a++", "(?>a+)+$", "(a+)?b", "(ab){1,3}$", "\\?"]


@pytest.mark.parametrize("pattern", EXPONENTIAL)
def test_exponential_patterns_are_refused(pattern: str) -> None:
    assert regex_risk(pattern) is not None
    with pytest.raises(RegexRiskError, match="exponential time"):
        check_regex(pattern)


@pytest.mark.parametrize("pattern", SAFE)
def test_linear_or_polynomial_patterns_pass(pattern: str) -> None:
    assert regex_risk(pattern) is None
    check_regex(pattern)


def test_a_pattern_that_does_not_parse_is_left_to_re() -> None:
    assert regex_risk("(") is None
    assert regex_risk("(" * 5000 + "a" + ")" * 5000) in (None, "nested too deeply to check")


def test_a_world_regex_that_backtracks_fails_validation() -> None:
    with pytest.raises(ValidationError, match=r"regex '\(a\+\)\+\$' refused: a repeat inside a repeat"):
        ValueMatch.model_validate({"regex": "(a+)+$"})
    with pytest.raises(ValidationError, match="refused"):
        ValueMatch.model_validate({"not_regex": "(a|a)*$"})
    assert ValueMatch.model_validate({"regex": "(?i)alloc"}).test("Allocation")


def test_a_huge_pattern_is_echoed_clipped() -> None:
    with pytest.raises(ValidationError) as info:
        ValueMatch.model_validate({"regex": "(a+)+" + "b" * 100_000})
    assert len(str(info.value)) < 2_000 and "more characters" in str(info.value)


def _regexes(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("regex", "not_regex") and isinstance(v, str)]
        return found + [r for v in node.values() for r in _regexes(v)]
    if isinstance(node, list):
        return [r for v in node for r in _regexes(v)]
    return []


@pytest.mark.parametrize("world", world_ids())
def test_every_shipped_world_pattern_passes(world: str) -> None:
    patterns = _regexes(yaml.safe_load((WORLDS / world / "world.yaml").read_text(encoding="utf-8")))
    for pattern in patterns:
        re.compile(pattern)
        assert regex_risk(pattern) is None, pattern
