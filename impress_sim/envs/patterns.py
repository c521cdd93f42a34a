"""Regular expressions an agent supplies (`search_files`), matched under a time budget.

Python's `re` backtracks: a pattern such as `(a|aa)+$` against a line of forty `a`s runs for
minutes, and the agent writes both the pattern and the file. `UserPattern` compiles with the
`regex` module (the same syntax as `re`) and gives every tool call one budget for all its matches;
a pattern that exhausts it ends in `PatternError` (the tool's error observation), never a hang.
"""

from __future__ import annotations

import time
import warnings

import regex

MATCH_BUDGET_S = 2.0  # all the matching one tool call may do


class PatternError(ValueError):
    """A pattern that does not compile, or that took too long to match (the message says which)."""


class UserPattern:
    """One agent-supplied pattern; `search` shares one deadline, set when the pattern is compiled."""

    def __init__(self, pattern: str, *, ignore_case: bool = False, budget_s: float | None = None) -> None:
        budget_s = MATCH_BUDGET_S if budget_s is None else budget_s
        try:
            with warnings.catch_warnings():  # "possible nested set" and the like: the agent's business
                warnings.simplefilter("ignore")
                self._rx = regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
        except (regex.error, OverflowError, RecursionError, ValueError) as exc:
            raise PatternError(f"invalid pattern: {exc}") from None
        self._deadline = time.monotonic() + budget_s
        self._budget = budget_s

    def search(self, text: str) -> bool:
        left = self._deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            return self._rx.search(text, timeout=left) is not None
        except TimeoutError:
            raise PatternError(f"the pattern took more than {self._budget:g} s to match (catastrophic "
                               "backtracking, e.g. nested repetition like (a+)+ or (a|aa)+); simplify it") from None
