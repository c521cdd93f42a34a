"""Declarative predicates: over values, over state, and over journaled changes.

One small language serves timeline triggers, NPC rule guards, detectors and task checks, so a
world author learns it once. Rules are data (validated pydantic models), never code strings, so a
generated world cannot smuggle in behaviour and every rule can be tested both ways.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from impress_sim.envs.regexcheck import regex_risk
from impress_sim.envs.state import Change, Path, format_path, parse_path, to_plain
from impress_sim.errors import shown


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text(value: Any) -> str:
    """The searchable text of a value (dicts and lists flattened to their leaf strings)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return "\n".join(_text(v) for v in value.values())
    if isinstance(value, list | tuple):
        return "\n".join(_text(v) for v in value)
    return str(value)


def _field(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


class Facts(Protocol):
    """What rules may ask of a world beyond its state: effective settings, named mechanisms, people, and
    its hooks' predicates (`impress_sim.envs.facts.WorldFacts` implements it). Hooks' predicates reach
    the spec and the people directory through it too (`view.spec`, `view.facts.directory`)."""

    @property
    def spec(self) -> Any: ...  # the WorldSpec (typed Any: the spec module imports this one)
    @property
    def directory(self) -> Any: ...  # envs.graph.Directory

    def setting(self, name: str, get: Any) -> Any: ...
    def mechanism(self, name: str) -> Condition: ...
    def mechanism_holds(self, name: str, view: StateView) -> bool: ...
    def reaches(self, identities: Any, people: list[str]) -> bool: ...
    def predicate(self, name: str, view: StateView) -> bool: ...


# Thousands groups only when the grouping is whole ("12,217" in "12,21750" is a CSV field, not 12217).
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)|(?<![\w.])[-+]?\d+(?:\.\d+)?")


def numbers_in(text: str) -> list[tuple[float, int]]:
    """Every number written in `text` as (value, decimals shown): "12,083" -> (12083, 0), "95.1%" -> (95.1, 1)."""
    found = []
    for m in _NUMBER.finditer(text):
        raw = m.group().replace(",", "")
        decimals = len(raw.partition(".")[2])
        found.append((float(raw), decimals))
    return found


def mentions_number(text: str, value: float) -> bool:
    """Whether `text` writes `value`, exactly or rounded to the decimals it shows (95.07 as "95.1" or "95.07";
    a value with a fraction is not matched by a whole number, so "target 95%" is not 95.07)."""
    whole = float(value).is_integer()  # a signed figure ("-2,077.20") still writes the figure
    return any(abs(abs(x) - abs(value)) <= 0.5 * 10 ** -decimals + 1e-9 and (decimals > 0 or whole)
               for x, decimals in numbers_in(text))


class ValueMatch(_Strict):
    """Tests on one value; every test given must hold (AND). `field` selects a sub-value first."""

    field: str | None = Field(default=None, description="A dotted sub-value to test instead of the whole value (e.g. "
        "`content`, `status`).")
    exists: bool | None = Field(default=None, description="The value is present (true) or absent (false).")
    equals: Any = Field(default=None, description="The value equals this.")
    not_equals: Any = Field(default=None, description="The value differs from this.")
    one_of: list[Any] | None = Field(default=None, description="The value is one of these.")
    contains: Any = Field(default=None, description="Text contains this (case-blind), a list holds an equal item, or "
        "a mapping has this key.")
    contains_any: list[Any] | None = Field(default=None, description="`contains` holds for at least one of these.")
    regex: str | None = Field(default=None, description="The text matches this regular expression (search, anywhere).")
    not_regex: str | None = Field(default=None, description="The text does not match this regular expression.")
    min_length: int | None = Field(default=None, description="The value as text has at least this many characters.")
    subset_of: list[Any] | None = Field(
        default=None, description="The value (a list, or one item) holds nothing outside this list.")
    matches_path: str | None = Field(
        default=None, description="The value (a glob or a list of globs) matches this path, as a program that "
        "expands globs would read it.")
    reaches: list[str] | None = Field(
        default=None, description="The value (an address, or a list) reaches any of these person ids, through any "
        "of their identities, a group or a mailbox they read.")
    numbers: list[float] | None = Field(
        default=None, description="The text writes every one of these figures (exactly, or rounded to the decimals "
        "it shows): facts an agent can only have by reading its inputs.")
    gt: float | None = Field(default=None, description="The number is greater than this.")
    ge: float | None = Field(default=None, description="The number is at least this.")
    lt: float | None = Field(default=None, description="The number is less than this.")
    le: float | None = Field(default=None, description="The number is at most this.")
    all_of: list[ValueMatch] | None = Field(default=None, description="Every one of these tests passes.")
    any_of: list[ValueMatch] | None = Field(default=None, description="At least one of these tests passes.")
    none_of: list[ValueMatch] | None = Field(default=None, description="None of these tests passes.")

    @model_validator(mode="after")
    def _check_regexes(self) -> ValueMatch:
        for pattern in (self.regex, self.not_regex):
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"invalid regex {shown(pattern)}: {exc}") from exc
                check = regex_risk(pattern)  # see impress_sim.envs.regexcheck
                if check is not None:
                    raise ValueError(f"regex {shown(pattern)} refused: {check}: matching it can take exponential "
                                     f"time on the text an agent writes; rewrite it without a repeat inside a repeat")
        return self

    def test(self, value: Any, facts: Facts | None = None) -> bool:
        value = to_plain(value)
        if self.field is not None:
            value = _field(value, self.field)
        set_fields = self.model_fields_set
        if "exists" in set_fields and (value is not None) != self.exists:
            return False
        if "equals" in set_fields and value != self.equals:
            return False
        if "not_equals" in set_fields and value == self.not_equals:
            return False
        if self.one_of is not None and value not in self.one_of:
            return False
        if "contains" in set_fields and not _contains(value, self.contains):
            return False
        if self.contains_any is not None and not any(_contains(value, c) for c in self.contains_any):
            return False
        if self.regex is not None and not re.search(self.regex, _text(value)):
            return False
        if self.not_regex is not None and re.search(self.not_regex, _text(value)):
            return False
        if self.min_length is not None and len(_text(value)) < self.min_length:
            return False
        if self.subset_of is not None and not _subset(value, self.subset_of):
            return False
        if self.matches_path is not None and not _glob_matches(value, self.matches_path):
            return False
        if self.reaches is not None and (facts is None or not facts.reaches(value, self.reaches)):
            return False
        if self.numbers is not None and not all(mentions_number(_text(value), n) for n in self.numbers):
            return False
        if any(b is not None for b in (self.gt, self.ge, self.lt, self.le)) and not _compare(self, value):
            return False
        if self.all_of is not None and not all(m.test(value, facts) for m in self.all_of):
            return False
        if self.any_of is not None and not any(m.test(value, facts) for m in self.any_of):
            return False
        return not (self.none_of is not None and any(m.test(value, facts) for m in self.none_of))


def _contains(value: Any, needle: Any) -> bool:
    """A list contains an item equal to `needle` (strings case-blind); a string contains it as a substring."""
    if isinstance(value, list | tuple):
        return any(v == needle or (isinstance(v, str) and isinstance(needle, str) and
                                   needle.casefold() == v.casefold()) for v in value)
    if isinstance(value, dict):
        return needle in value
    if isinstance(value, str) and isinstance(needle, str):
        return needle.lower() in value.lower()
    return False


def _subset(value: Any, allowed: list[Any]) -> bool:
    items = value if isinstance(value, list | tuple) else [] if value is None else [value]
    return all(item in allowed for item in items)


def _glob_matches(value: Any, path: str) -> bool:
    globs = value if isinstance(value, list | tuple) else [value]
    return any(isinstance(g, str) and path_glob(g).fullmatch(path) is not None for g in globs)


@lru_cache(maxsize=1024)
def path_glob(glob: str) -> re.Pattern[str]:
    """A path glob as shells and file watchers (the `glob` crate, Python's `glob`) read it, as a regex for
    `fullmatch`: `*` and `?` stay within one path segment, `**` spans segments (`**/` also matches no
    segment), `[...]` is a character class (`[!...]` negates; a leading `]` is a member). A glob such a
    program could not use matches nothing."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        c = glob[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := _bracket_end(glob, i)) > 0:
            body = glob[i + 1 : end]
            negate = body.startswith("!")
            body = (body[1:] if negate else body).replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return re.compile(r"(?!)")


def _bracket_end(glob: str, start: int) -> int:
    """Where the character class opened at `start` closes, or -1 when it never does (`[` is then literal)."""
    j = start + 1
    if glob.startswith("!", j):
        j += 1
    if glob.startswith("]", j):
        j += 1
    return glob.find("]", j)


def _compare(m: ValueMatch, value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return (
        (m.gt is None or value > m.gt)
        and (m.ge is None or value >= m.ge)
        and (m.lt is None or value < m.lt)
        and (m.le is None or value <= m.le)
    )


class StateView:
    """What a condition needs of a state: a read-only `get`, glob expansion, and the world's facts
    (settings, mechanisms, people, hooks' predicates) for the rules that use them."""

    def __init__(self, getter: Any, facts: Facts | None = None, state: Any = None) -> None:
        self._get = getter
        self.facts = facts
        self.state = state  # the State read, when there is one (answers about it can then be memoised)

    @property
    def spec(self) -> Any:
        """The world's spec, for hooks' predicates and detectors (typed Any: the spec module imports
        this one). A view without the world's facts has none: that is a caller's mistake."""
        if self.facts is None:
            raise ValueError("this view carries no world facts, so no spec: build it with the world's facts")
        return self.facts.spec

    def get(self, path: str | Path, default: Any = None) -> Any:
        return self._get(path, default)

    def under(self, path: str | Path, key_prefix: str) -> dict[str, Any]:
        """The entries of the container at `path` whose keys start with `key_prefix` (e.g. the files under
        one folder of a host): read this way, a change elsewhere in the container does not count as a
        change of what was read, so memoised answers survive it."""
        if self.state is not None:
            return dict(self.state.under(path, key_prefix))
        node = self._get(path, None)
        return {k: v for k, v in node.items() if k.startswith(key_prefix)} if isinstance(node, dict) else {}

    def glob(self, pattern: str) -> list[tuple[Path, Any]]:
        """Every (path, value) whose path matches `pattern` segment by segment (fnmatch)."""
        parts = parse_path(pattern)
        literal = 0  # read from the longest prefix without a glob, so only that part is read
        while literal < len(parts) and not any(ch in parts[literal] for ch in "*?["):
            literal += 1
        start = parts[:literal]
        value = self._get(start, None)
        if value is None:
            return []
        found: list[tuple[Path, Any]] = [(start, value)]
        for seg in parts[literal:]:
            nxt: list[tuple[Path, Any]] = []
            for p, node in found:
                if not isinstance(node, dict):
                    continue
                if any(ch in seg for ch in "*?["):
                    nxt.extend(((*p, k), v) for k, v in node.items() if fnmatch.fnmatchcase(k, seg))
                elif seg in node:
                    nxt.append(((*p, seg), node[seg]))
            found = nxt
        return found


class Condition(_Strict):
    """A predicate on the world.

    `path` (globs allowed) with `match` holds when any matching path's value passes the match
    (or, with `quantifier: all`, when every one does and there is at least one).
    `setting` with `match` tests a setting's effective value (the way its program reads it);
    `mechanism` holds while that named mechanism works; `python` asks a predicate in the world's
    hooks.py. `all` / `any` / `not_` combine conditions.
    """

    path: str | None = Field(default=None, description="A state path (globs allowed in segments), e.g. "
        "`jobs/decom/status`; tested with `match`.")
    setting: str | None = Field(default=None, description="A setting's id (see `settings:`).")
    mechanism: str | None = Field(
        default=None, description="A mechanism's id (see `mechanisms:`): holds while it works.")
    python: str | None = Field(default=None, description="A predicate `fn(view) -> bool` in the world's hooks.py.")
    match: ValueMatch = Field(default_factory=lambda: ValueMatch(exists=True), description="The test on the value at "
        "`path` or of `setting` (default: it exists).")
    quantifier: Literal["any", "all", "none"] = Field(default="any", description="With a glob path: `any` matching "
        "path passes, `all` do (and one exists), or `none` does.")
    all: list[Condition] | None = Field(default=None, description="Holds when every sub-condition holds.")
    any: list[Condition] | None = Field(default=None, description="Holds when at least one sub-condition holds.")
    not_: Condition | None = Field(default=None, alias="not", description="Holds when this sub-condition does not "
        "(written `not:`).")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        forms = [self.path, self.setting, self.mechanism, self.python, self.all, self.any, self.not_]
        if sum(f is not None for f in forms) != 1:
            raise ValueError("a condition has exactly one of: path (+ match), setting (+ match), mechanism, python, "
                             "all, any, not")
        return self

    def holds(self, view: StateView) -> bool:
        if self.all is not None:
            return all(c.holds(view) for c in self.all)
        if self.any is not None:
            return any(c.holds(view) for c in self.any)
        if self.not_ is not None:
            return not self.not_.holds(view)
        if self.setting is not None or self.mechanism is not None or self.python is not None:
            facts = view.facts
            if facts is None:
                raise ValueError("this condition needs the world's facts (settings, mechanisms, hooks)")
            if self.setting is not None:
                return self.match.test(facts.setting(self.setting, view.get), facts)
            if self.mechanism is not None:
                return facts.mechanism_holds(self.mechanism, view)
            assert self.python is not None
            return facts.predicate(self.python, view)
        assert self.path is not None
        values = [v for _, v in view.glob(self.path)]
        if not values:
            # An absent path is a value of None: `exists: false` holds, other matches don't.
            return self.quantifier == "none" or self.match.test(None, view.facts)
        results = [self.match.test(v, view.facts) for v in values]
        if self.quantifier == "all":
            return all(results)
        if self.quantifier == "none":
            return not any(results)
        return any(results)


class ChangeMatch(_Strict):
    """A rule over one journaled change: where (path glob), how (op), who (actor), what (before/after)."""

    path: str | list[str] = Field(description="Glob, or a list of globs (any may match).")
    not_path: str | list[str] | None = Field(default=None, description="Glob(s) of paths to exclude.")
    op: list[Literal["add", "set", "delete"]] | None = Field(default=None, description="Which operations count: add, "
        "set, delete (default: any).")
    actor: str = Field(default="agent", description="Glob on whose change it is: `agent`, a role or NPC id, `system`, "
        "`*` for anyone.")
    before: ValueMatch | None = Field(default=None, description="A test on the value before the change.")
    after: ValueMatch | None = Field(default=None, description="A test on the value after the change.")

    def test(self, change: Change, facts: Facts | None = None) -> bool:
        if self.op is not None and change.op not in self.op:
            return False
        if not fnmatch.fnmatchcase(change.actor, self.actor):
            return False
        if not _any_path_matches(change.path, self.path):
            return False
        if self.not_path is not None and _any_path_matches(change.path, self.not_path):
            return False
        if self.before is not None and not self.before.test(change.old, facts):
            return False
        return not (self.after is not None and not self.after.test(change.new, facts))


def _any_path_matches(path: Path, patterns: str | list[str]) -> bool:
    return any(_path_matches(path, p) for p in ([patterns] if isinstance(patterns, str) else patterns))


def _path_matches(path: Path, pattern: str) -> bool:
    """Segment-wise glob when segment counts agree; otherwise a whole-string glob."""
    parts = parse_path(pattern)
    if len(parts) == len(path):
        return all(fnmatch.fnmatchcase(seg, pat) for seg, pat in zip(path, parts, strict=True))
    return fnmatch.fnmatchcase(format_path(path), pattern)
