"""A change to a text value (a file's content, a long note) as a unified line diff, for people.

Shown side by side, two copies of a file cut to one short line each hide the one line that changed
(a `sed -i` that turns `enabled: true` into `enabled: false` in a 40-line config). The terminal
(`impress_sim.render`) and the HTML pages (`impress_sim.judge.review.export.step_view`, shared by
the report) both show such a change with this module: the changed lines with a few lines of
context, as `diff -u` would, clipped to a number of lines with a count of what was left out.

A value is shown this way when it is text on more than one line (on either side; a file that
appears or disappears is all added or all removed lines); anything else keeps the short
`old → new` form. Every input is hostile: a diff is never quadratic in a huge value. The lines both
sides share at the start and the end are set aside first (in linear time), and when what remains
is still large on both sides it is shown as one replaced block instead of being matched line by line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

CONTEXT = 3  # unchanged lines shown around each change, as `diff -u`
MAX_LINES = 60  # diff lines shown; the rest are counted
MAX_LINE_CHARS = 400  # a shown line is cut here (a minified file is one enormous line)
MAX_MATCHED = 250_000  # above (old lines x new lines) of the changed middle, no line matching

LineKind = Literal["hunk", "context", "removed", "added"]
PREFIX: dict[LineKind, str] = {"hunk": "", "context": " ", "removed": "-", "added": "+"}


@dataclass(frozen=True)
class DiffLine:
    kind: LineKind
    text: str  # the line without its prefix (a hunk header in full)

    @property
    def shown(self) -> str:
        """The line as `diff -u` prints it: prefixed by " ", "-" or "+"."""
        return PREFIX[self.kind] + self.text


@dataclass(frozen=True)
class TextDiff:
    lines: list[DiffLine]
    added: int  # lines added, over the whole change (not only those shown)
    removed: int
    omitted: int  # diff lines left out after the first `MAX_LINES`

    def summary(self) -> str:
        """"+2 −1 lines", the size of the change in one phrase."""
        return f"+{self.added} −{self.removed} line{'s' * (self.added + self.removed != 1)}"


def is_text_change(old: Any, new: Any) -> bool:
    """Whether a change is best read as a line diff: text (or nothing) on both sides, on several lines."""
    sides = (old, new)
    return (all(v is None or isinstance(v, str) for v in sides) and any(isinstance(v, str) for v in sides)
            and any(isinstance(v, str) and "\n" in v.rstrip("\n") for v in sides))


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"


def _shared_ends(a: list[str], b: list[str]) -> tuple[int, int]:
    """How many lines `a` and `b` share at the start, then at the end (never overlapping)."""
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return start, end


Opcode = tuple[str, int, int, int, int]


def _opcodes(a: list[str], b: list[str]) -> list[Opcode]:
    """difflib's opcodes over the whole of `a` and `b`, in near-linear time for a large value."""
    start, end = _shared_ends(a, b)
    middle_a, middle_b = a[start : len(a) - end], b[start : len(b) - end]
    if len(middle_a) * len(middle_b) <= MAX_MATCHED:
        inner = difflib.SequenceMatcher(None, middle_a, middle_b, autojunk=False).get_opcodes()
    else:  # too large to match line by line: one replaced block
        inner = [("replace", 0, len(middle_a), 0, len(middle_b))]
    codes: list[Opcode] = [("equal", 0, start, 0, start)] if start else []
    codes += [(tag, i1 + start, i2 + start, j1 + start, j2 + start) for tag, i1, i2, j1, j2 in inner]
    if end:
        codes.append(("equal", len(a) - end, len(a), len(b) - end, len(b)))
    return codes


def _hunks(codes: list[Opcode], n: int = CONTEXT) -> list[list[Opcode]]:
    """Opcodes grouped into hunks with `n` lines of context, as `difflib.SequenceMatcher.get_grouped_opcodes`."""
    if not any(tag != "equal" for tag, *_ in codes):
        return []
    codes = list(codes)
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    hunks: list[list[Opcode]] = []
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * n:  # a long unchanged stretch ends one hunk and starts the next
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            hunks.append(group)
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        hunks.append(group)
    return hunks


def _range(start: int, length: int) -> str:
    """A hunk header's range, as difflib's `unified_diff` writes it."""
    first = start + 1 if length else start
    return f"{first}" if length == 1 else f"{first},{length}"


def text_diff(old: str | None, new: str | None, max_lines: int = MAX_LINES) -> TextDiff:
    """The change from `old` to `new` (None: no text) as a unified line diff, clipped to `max_lines`."""
    a = (old or "").splitlines()
    b = (new or "").splitlines()
    lines: list[DiffLine] = []
    total = added = removed = 0

    def emit(kind: LineKind, source: list[str]) -> None:
        room = max(max_lines - len(lines), 0)  # lines past the limit are counted, never built
        lines.extend(DiffLine(kind, _clip(x)) for x in source[:room])

    for group in _hunks(_opcodes(a, b)):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        emit("hunk", [f"@@ -{_range(i1, i2 - i1)} +{_range(j1, j2 - j1)} @@"])
        total += 1
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                emit("context", a[a1:a2])
            else:
                emit("removed", a[a1:a2])
                emit("added", b[b1:b2])
                removed += a2 - a1
                added += b2 - b1
            total += (a2 - a1) + (0 if tag == "equal" else b2 - b1)
    return TextDiff(lines=lines, added=added, removed=removed, omitted=total - len(lines))
