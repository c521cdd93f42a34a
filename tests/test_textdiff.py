"""`impress_sim.textdiff`: a text value's change as a unified line diff (terminal and HTML)."""

from __future__ import annotations

import difflib
import random
import re

import pytest

from impress_sim.textdiff import MAX_LINE_CHARS, MAX_LINES, DiffLine, is_text_change, text_diff

CONFIG = "\n".join(f"key_{i}: value {i}" for i in range(40))


def apply(old: str, lines: list[DiffLine]) -> list[str]:
    """Patch `old` with a diff's hunks (every context and removed line must match): the new lines."""
    a, out, i, k = old.splitlines(), [], 0, 0
    while k < len(lines):
        header = re.fullmatch(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", lines[k].text)
        assert lines[k].kind == "hunk" and header is not None
        start = int(header.group(1)) - (1 if header.group(2) != "0" else 0)
        out += a[i:start]
        i, k = start, k + 1
        while k < len(lines) and lines[k].kind != "hunk":
            line = lines[k]
            if line.kind in ("context", "removed"):
                assert a[i] == line.text
                i += 1
            if line.kind in ("context", "added"):
                out.append(line.text)
            k += 1
    return out + a[i:]


def test_one_changed_line_is_shown_with_three_lines_of_context_as_diff_u() -> None:
    new = CONFIG.replace("key_20: value 20", "key_20: CHANGED")
    diff = text_diff(CONFIG, new)
    expected = list(difflib.unified_diff(CONFIG.splitlines(), new.splitlines(), lineterm="", n=3))[2:]
    assert [line.shown for line in diff.lines] == expected
    assert "-key_20: value 20" in expected and "+key_20: CHANGED" in expected and len(expected) == 9
    assert (diff.added, diff.removed, diff.omitted) == (1, 1, 0) and diff.summary() == "+1 −1 lines"


def test_a_long_diff_is_clipped_and_what_was_left_out_is_counted() -> None:
    new = "\n".join(f"key_{i}: other" for i in range(40))
    diff = text_diff(CONFIG, new, max_lines=10)
    assert len(diff.lines) == 10 and diff.omitted == 1 + 40 + 40 - 10  # one hunk header, 40 out, 40 in
    assert (diff.added, diff.removed) == (40, 40)


def test_a_new_or_removed_file_is_all_added_or_all_removed_lines() -> None:
    assert [line.shown for line in text_diff(None, "a\nb").lines] == ["@@ -0,0 +1,2 @@", "+a", "+b"]
    assert [line.shown for line in text_diff("a\nb", None).lines] == ["@@ -1,2 +0,0 @@", "-a", "-b"]


@pytest.mark.parametrize(("old", "new", "text"), [
    ("a\nb", "a\nc", True), (None, "a\nb", True), ("one line", "another", False), ("a\n", "b\n", False),
    ({"content": "a\nb"}, {"content": "a\nc"}, False), (["a\nb"], None, False), (None, None, False),
    (True, "a\nb", False),
])
def test_only_text_on_several_lines_is_shown_as_a_line_diff(old: object, new: object, text: bool) -> None:
    assert is_text_change(old, new) is text


def test_random_edits_patch_back_exactly() -> None:
    rng = random.Random(7)
    for _ in range(400):
        a = [rng.choice("abcdefg") for _ in range(rng.randint(0, 30))]
        b = list(a)
        for _ in range(rng.randint(1, 5)):
            where = rng.randint(0, len(b))
            roll = rng.random()
            if roll < 0.3 and b:
                b.pop(min(where, len(b) - 1))
            elif roll < 0.6:
                b.insert(where, rng.choice("xyz"))
            elif b:
                b[min(where, len(b) - 1)] = rng.choice("xyz")
        diff = text_diff("\n".join(a), "\n".join(b), max_lines=10**6)
        assert apply("\n".join(a), diff.lines) == b


def test_huge_values_are_never_matched_line_by_line_and_long_lines_are_cut() -> None:
    """Every input is hostile: 100,000 lines replaced on both sides is one block, counted, not matched."""
    old = "\n".join(f"old {i}" for i in range(100_000))
    new = "\n".join(f"new {i}" for i in range(100_000))
    diff = text_diff(old, new)
    assert (diff.added, diff.removed) == (100_000, 100_000) and len(diff.lines) == MAX_LINES
    assert diff.omitted == 1 + 200_000 - MAX_LINES
    wide = text_diff("x\n" + "y" * 10_000, "x\n" + "z" * 10_000)
    assert all(len(line.text) <= MAX_LINE_CHARS for line in wide.lines) and wide.lines[-1].text.endswith("…")
