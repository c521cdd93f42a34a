"""Bounds on untrusted JSON: the actions agents send and the values tools store.

Everything an agent sends is hostile until checked. These checks run BEFORE anything recurses into
the data (json's decoder, pydantic, the state tree's freeze/copy), they are iterative, and they
stop as soon as a bound is passed, so a value nested 100,000 deep, a million-element list or an
integer literal of 10,000 digits costs at most the bound and ends in a `BoundError` whose message
names the limit, never in a RecursionError or a ValueError from deep inside the standard library.

- `load_json(text, what)`: `json.loads` behind a length bound, a nesting-depth scan of the raw
  text, and hooks that refuse NaN/Infinity and over-long integer literals.
- `check_json(value, what)`: the same bounds for data already in Python (a dict action), plus
  JSON-only types (str keys; str, int, float, bool, None, list/tuple, dict values), finite floats
  and valid Unicode (no lone surrogates such as U+D800).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from impress_sim.errors import clipped

MAX_ACTION_CHARS = 100_000  # an action's JSON text (the Gymnasium action space's max_length)
MAX_DEPTH = 32  # nesting of arrays/objects in one action
MAX_ERROR_CHARS = 2_000  # an error observation (a tool's message quoting an argument) is clipped here
MAX_INT_DIGITS = 100  # an integer with more digits is refused (Python refuses str(int) past 4,300)

_BIG_INT = 10**MAX_INT_DIGITS


class BoundError(ValueError):
    """Data past a bound (size, depth, number) or not JSON; the message names what and the limit."""


_SPECIAL = re.compile(r'["\[\]{}]')
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: linear, even when it fails


def nesting_depth(text: str, limit: int) -> int:
    """The deepest nesting of `[`/`{` in JSON `text` (brackets inside strings not counted); raises
    `BoundError` as soon as it passes `limit`. Linear time; an unterminated string ends the scan
    (the decoder reports it)."""
    depth = deepest = 0
    pos = 0
    while True:
        m = _SPECIAL.search(text, pos)
        if m is None:
            return deepest
        ch = m.group()
        if ch == '"':
            rest = _STRING_REST.match(text, m.end())
            if rest is None:
                return deepest
            pos = rest.end()
            continue
        pos = m.end()
        if ch in "[{":
            depth += 1
            if depth > limit:
                raise BoundError(f"nested more than {limit} levels deep (the limit is {limit})")
            deepest = max(deepest, depth)
        else:
            depth -= 1


def _refuse_constant(name: str) -> Any:
    raise BoundError(f"{name} is not a JSON number; use a finite number or a string")


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise BoundError(f"an integer of {len(digits.lstrip('-'))} digits is too long (the limit is {MAX_INT_DIGITS})")
    return int(digits)


def load_json(text: str, *, max_chars: int = MAX_ACTION_CHARS, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON `text` within the bounds. Raises `BoundError` past a bound (message names the
    limit) and `json.JSONDecodeError` for text that is not JSON; nothing else."""
    if len(text) > max_chars:
        raise BoundError(f"{len(text):,} characters long (the limit is {max_chars:,})")
    nesting_depth(text, max_depth)
    value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int)
    check_json(value, max_chars=max_chars, max_depth=max_depth)  # finite floats (1e999), valid Unicode
    return value


def valid_unicode(text: str) -> bool:
    """Whether `text` can be encoded as UTF-8 (holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_json(value: Any, *, max_chars: int = MAX_ACTION_CHARS, max_depth: int = MAX_DEPTH,
               unicode: bool = True) -> int:
    """Check that `value` is JSON data within the bounds; returns its approximate size in
    characters (string and key lengths plus one per value). Iterative; stops at the first bound
    passed, so its cost is at most the bound. `unicode=False` skips the lone-surrogate check."""
    size = 1
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            size += len(item)
            if unicode and not valid_unicode(item):
                bad = next(i for i, ch in enumerate(item) if 0xD800 <= ord(ch) <= 0xDFFF)
                raise BoundError(f"{_at(where)}a string holds a lone surrogate (U+{ord(item[bad]):04X} at "
                                 f"character {bad}), which is not valid Unicode")
        elif item is None or isinstance(item, bool):
            pass
        elif isinstance(item, int):
            if item <= -_BIG_INT or item >= _BIG_INT:
                raise BoundError(f"{_at(where)}an integer with more than {MAX_INT_DIGITS} digits is too long "
                                 f"(the limit is {MAX_INT_DIGITS} digits)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise BoundError(f"{_at(where)}{item} is not a JSON number; use a finite number or a string")
        elif isinstance(item, Mapping | list | tuple):
            if len(where) >= max_depth:
                raise BoundError(f"{_at(where)}nested more than {max_depth} levels deep (the limit is {max_depth})")
            size += len(item)  # one per child, counted before any is looked at
            if size > max_chars:
                raise BoundError(f"more than {max_chars:,} characters of data (the limit is {max_chars:,})")
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise BoundError(f"{_at(where)}object keys must be strings, not {type(key).__name__}")
                    if unicode and not valid_unicode(key):
                        raise BoundError(f"{_at(where)}a key holds a lone surrogate, which is not valid Unicode")
                    size += len(key)
                    stack.append((child, (*where, key)))
            else:
                stack.extend((child, (*where, i)) for i, child in enumerate(item))
        else:
            raise BoundError(f"{_at(where)}{type(item).__name__} is not JSON data "
                             "(use strings, numbers, booleans, null, lists and objects)")
        if size > max_chars:
            raise BoundError(f"more than {max_chars:,} characters of data (the limit is {max_chars:,})")
    return size


def _at(where: tuple[str | int, ...]) -> str:
    if not where:
        return ""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
    return f"at {clip(text, 80)}: "


def clip(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters with a note of how much was left out (for echoing user input):
    `errors.clipped`, the one wording every message uses."""
    return clipped(text, limit)
