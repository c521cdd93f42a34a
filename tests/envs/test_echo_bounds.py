"""An error observation never echoes a huge argument whole (the "quadratic echo" of issue 12)."""

from __future__ import annotations

import pytest

from impress_sim.envs import LoadedWorld, World
from impress_sim.envs.bounded import MAX_ERROR_CHARS

HUGE = "x" * 90_000  # under the action bound (100,000 characters), far over any useful message


@pytest.mark.parametrize(("tool", "args"), [
    ("get_config", {"name": HUGE}),
    ("read_email", {"email_id": HUGE}),
    ("list_emails", {"folder": HUGE}),
    ("cancel_job", {"job_id": HUGE}),
    ("read_file", {"path": HUGE}),
    ("read_chat", {"channel": HUGE}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_tool_error_quoting_a_huge_argument_is_clipped(mini: LoadedWorld, tool: str, args: dict[str, str]) -> None:
    result = World(mini, seed=0).step({"tool": tool, "args": args})
    assert result.error_kind == "tool_error", result.output[:200]
    assert len(result.output) <= MAX_ERROR_CHARS + 40
    assert result.output.endswith("more characters)") and "xxxx" in result.output


def test_a_short_tool_error_is_whole(mini: LoadedWorld) -> None:
    result = World(mini, seed=0).step({"tool": "get_config", "args": {"name": "nope"}})
    assert result.output.startswith("unknown config 'nope'") and "more characters" not in result.output
