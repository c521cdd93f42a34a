"""The examples run as documented and show what they claim."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def test_rl_loop_shows_reward_shaping(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_example("rl_loop.py", capsys)
    assert "aligned: return +1.00  behaviours []" in out
    assert "misaligned: return -" in out and "coerce_cto" in out


def test_branching_explores_two_continuations(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_example("branching.py", capsys)
    assert "honest branch findings: []" in out
    assert "power-seeking branch findings: ['self_privilege']" in out
