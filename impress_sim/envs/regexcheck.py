"""Regular expressions a world or an agent gives are checked for catastrophic backtracking first.

Python's `re` backtracks: a pattern that can match the same text in exponentially many ways — a
repeat of a repeat, `(a+)+$`, `(\\w+\\s?)*$`, `(.*,)+x`, or a repeated alternation whose branches can
start alike, `(a|a)*$`, `(ab|a)+$` — takes time exponential in the length of a text it does *not*
match: 30 characters can hang a process for minutes, and nothing can interrupt `re` once it runs.

So such a pattern is refused before it runs, deterministically, by looking at its parse tree
(`re._parser`): a world's `regex:` / `not_regex:` fails `validate` naming the pattern, and an agent's
`grep`/`sed` pattern in the simulated shell is refused (exit status 2 and 1, as GNU grep and sed
exit on a bad pattern). The same refusal on every machine: no clock is involved. A possessive
repeat (`a++`) or an atomic group (`(?>...)`) cannot backtrack and is allowed anywhere. The check is
conservative: a few patterns that would in fact be harmless (a repeat of `[a-z]+\\.`) are refused
too; each can be rewritten without a repeat inside a repeat.

What is not refused: polynomial backtracking (`a.*b` on a long line with no `b` is quadratic in the
line, `a.*b.*c` cubic). It finishes, but on a line of a megabyte it can take minutes; only the
size of what one shell command reads (`MAX_INPUT_CHARS`) bounds it.
"""

from __future__ import annotations

import importlib
import re
import warnings
from typing import Any

sre: Any = importlib.import_module("re._constants")  # the parse tree's node kinds
sre_parse: Any = importlib.import_module("re._parser")  # re's own parser (public as sre_parse before 3.11)

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)
_ANY = None  # a first-character set that may be anything


class RegexRiskError(ValueError):
    """A pattern refused because it can backtrack catastrophically; the message says why."""


def regex_risk(pattern: str, flags: int = 0) -> str | None:
    """Why `pattern` can take time exponential in its text (a short phrase), or None if it cannot.
    A pattern that does not parse is None here: compiling it reports that."""
    try:
        with warnings.catch_warnings():  # "possible nested set" and the like: compiling warns once, if at all
            warnings.simplefilter("ignore")
            tree = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    try:
        return _walk(list(tree))
    except RecursionError:
        return "nested too deeply to check"


def check_regex(pattern: str, flags: int = 0) -> None:
    """Raise `RegexRiskError` if `pattern` can backtrack catastrophically (see `regex_risk`)."""
    risk = regex_risk(pattern, flags)
    if risk is not None:
        raise RegexRiskError(f"{risk}: matching it can take exponential time; rewrite it without a repeat "
                             f"inside a repeat (or make the inner one possessive, e.g. a++)")


def _walk(items: list[tuple[Any, Any]]) -> str | None:
    for op, av in items:
        risk: str | None = None
        if op in _REPEATS:
            _low, high, body = av
            body = list(body)
            if high > 1:  # the body may match more than once in a row
                if _has_variable_repeat(body):
                    return "a repeat inside a repeat (like (a+)+)"
                if _ambiguous_branch(body):
                    return "a repeated alternation whose branches can match alike (like (a|a)*)"
            risk = _walk(body)
        else:
            for child in _children(op, av):
                risk = risk or _walk(child)
        if risk is not None:
            return risk
    return None


def _children(op: Any, av: Any) -> list[list[tuple[Any, Any]]]:
    """The sub-sequences of a node that backtracking can enter (an atomic group cannot be re-entered)."""
    if op is sre.SUBPATTERN:
        return [list(av[-1])]
    if op is sre.BRANCH:
        return [list(b) for b in av[1]]
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [list(av[1])]
    if op is sre.GROUPREF_EXISTS:
        return [list(b) for b in av[1:] if b is not None]
    return []  # ATOMIC_GROUP, POSSESSIVE_REPEAT and leaves


def _has_variable_repeat(items: list[tuple[Any, Any]]) -> bool:
    """Whether `items` hold a repeat that can match different lengths (outside atomic groups)."""
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            if low != high or _has_variable_repeat(list(body)):
                return True
        elif any(_has_variable_repeat(child) for child in _children(op, av)):
            return True
    return False


def _ambiguous_branch(items: list[tuple[Any, Any]]) -> bool:
    """Whether `items` hold an alternation two of whose branches can start with the same character."""
    for op, av in items:
        if op is sre.BRANCH:
            starts = [_first(list(b)) for b in av[1]]
            seen: set[int] = set()
            for chars in starts:
                if chars is _ANY or chars & seen:
                    if len(starts) > 1:
                        return True
                else:
                    seen |= chars
            if any(_ambiguous_branch(list(b)) for b in av[1]):
                return True
        else:
            children = [list(av[2])] if op in _REPEATS else _children(op, av)
            if any(_ambiguous_branch(child) for child in children):
                return True
    return False


def _fold(code: int) -> int:
    return ord(chr(code).lower()[:1] or chr(code))


def _first(items: list[tuple[Any, Any]]) -> set[int] | None:
    """The characters a match of `items` can start with, if easily known (literals and plain sets), else None."""
    for op, av in items:
        if op is sre.LITERAL:  # case folded: under (?i) `a` and `A` start alike
            return {_fold(av)}
        if op is sre.IN and all(o is sre.LITERAL for o, _ in av):
            return {_fold(a) for _, a in av}
        if op is sre.SUBPATTERN:
            return _first(list(av[-1]))
        if op is sre.AT:  # an anchor matches no character: look past it
            continue
        return _ANY
    return _ANY  # an empty branch matches alike with anything
