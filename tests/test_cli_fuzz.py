"""Fuzz the command line: hostile `key=value` lists and sweep files never end in a traceback.

Every subcommand gets random keys (its own, near misses, dotted, bracketed, garbage), random values
(lists, unclosed brackets, deep nesting, rich markup, control characters, unicode, megabyte values)
and bare words, in-process through `impress_sim.__main__.main`. Whatever the input: the exit status
is 0, 1 or 2; nothing escapes as an exception; a refused input is one `error:` message on stderr
(no traceback) that echoes values clipped, and nothing is read as rich markup.

The actions' `run` functions are replaced by a stub here (so a valid combination does not start a
sweep of a million seeds): this suite is about reading hostile input. The inputs that do run
(markup in paths, deep values) have explicit tests in tests/test_cli.py.

The default profile is bounded (derandomized, a few hundred examples per test); `pytest -m fuzz`
runs the long one. A failure prints the falsifying argv (and Hypothesis's seed) to reproduce it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impress_sim.__main__ import IMPRESS
from impress_sim.__main__ import main as impress
from impress_sim.cli import MAX_MESSAGE_CHARS, Action, Group, Lazy, keys


def _actions(entry: Action | Group | Lazy, path: list[str]) -> list[tuple[list[str], Action]]:
    command = entry.resolve() if isinstance(entry, Lazy) else entry
    if isinstance(command, Action):
        return [(path, command)]
    found: list[tuple[list[str], Action]] = []
    for name, child in command.actions.items():
        found += _actions(child, [*path, name])
    return found


ACTIONS = _actions(IMPRESS, [])
RAN: list[Any] = []
COUNTS = {"argvs": 0, "exit0": 0, "exit1": 0, "exit2": 0, "files": 0}  # printed by each fuzz test


@pytest.fixture(autouse=True)
def stub_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every action parses for real and then records its config instead of running."""
    monkeypatch.chdir(tmp_path)
    saved = [action.run for _, action in ACTIONS]
    for _, action in ACTIONS:
        object.__setattr__(action, "run", lambda config, console: RAN.append(type(config)) or 0)  # frozen
    try:
        yield
    finally:
        for (_, action), run in zip(ACTIONS, saved, strict=True):
            object.__setattr__(action, "run", run)


MARKUP = ["[/]", "[bold]", "[red]x[/red]", "[link=http://x]y[/link]", "[/bold]", "[", "]", "[[", "]]"]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
WORD = st.one_of(
    TEXT,
    st.sampled_from(["a", "corporate_shutdown", "mini", "x.yaml", "true", "null", "3", "-1", "1e400", "~",
                     "${oc.env:HOME}", "${x}", "???", "&a [*a]", "!!python/object:os.system", "'", '"', "\\"]),
    st.sampled_from(MARKUP),
)


@st.composite
def values(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["word", "list", "unclosed", "deep", "dict", "long", "mixed"]))
    if kind == "word":
        return draw(WORD)
    if kind == "list":
        return "[" + ",".join(draw(st.lists(WORD, max_size=5))) + "]"
    if kind == "unclosed":
        return draw(st.sampled_from(["[", "{", "[a,b", "{a: 1", "[[a]", "a]", "[a]]", "}{"])) + draw(WORD)
    if kind == "deep":
        depth = draw(st.integers(1, 600))
        opener = draw(st.sampled_from(["[", "{a: "]))
        closer = "]" if opener == "[" else "}"
        return opener * depth + draw(WORD) + closer * draw(st.sampled_from([depth, 0, depth // 2]))
    if kind == "dict":
        return "{" + ", ".join(f"{k}: {v}" for k, v in draw(st.lists(st.tuples(WORD, WORD), max_size=3))) + "}"
    if kind == "long":
        return draw(st.sampled_from(["a", "[", "[/]", "é", "\x00", "x,"])) * draw(st.sampled_from([300, 20_000,
                                                                                                  1_000_000]))
    return draw(WORD) + draw(st.sampled_from(MARKUP)) + draw(WORD)


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    path, action = draw(st.sampled_from(ACTIONS))
    valid = keys(action.config)
    args: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        shape = draw(st.sampled_from(["key", "key", "near", "dotted", "garbage", "bare", "option", "help"]))
        key = draw(st.sampled_from(valid)).replace("<id>", draw(st.sampled_from(["a", "x-y", "[/]"]))) \
            if valid else "x"
        if shape == "near":
            key = key[:-1] + draw(st.sampled_from(["", "s", "_", "."]))
        elif shape == "dotted":
            key = key + "." + draw(WORD)
        elif shape == "garbage":
            key = draw(WORD)
        if shape == "bare":
            args.append(draw(values()))
        elif shape == "option":
            args.append("--" + draw(WORD))
        elif shape == "help":
            args.append(draw(st.sampled_from(["-h", "--help", "help"])))
        else:
            args.append(f"{key}={draw(values())}")
    return [*path, *args]


def _check(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = impress(argv)  # nothing may escape: an exception here fails the test with the argv
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (code, argv)
    COUNTS["argvs"] += 1
    COUNTS[f"exit{code}"] += 1
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2 and not out:  # a refused input: one error message, clipped
        assert err.startswith("error: "), (argv, err[:300])
        assert err.count("\nerror: ") == 0
        assert len(err) <= len("error: ") + MAX_MESSAGE_CHARS + 200
    if code == 2 and err:
        longest = max((len(a) for a in argv), default=0)
        if longest > 4 * MAX_MESSAGE_CHARS:  # a megabyte value is never echoed whole
            assert len(err) < longest // 2


PROFILE = settings(max_examples=300, deadline=None, derandomize=True, database=None, print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture])
LONG = settings(PROFILE, max_examples=10_000, derandomize=False)  # a new seed each run; printed on failure


def _report(what: str) -> None:
    print(f"\nCLI fuzz ({what}): {COUNTS['argvs']} argv lists ({COUNTS['files']} sweep files); exit 0: "
          f"{COUNTS['exit0']}, exit 1: {COUNTS['exit1']}, exit 2: {COUNTS['exit2']}; uncaught exceptions: 0")


def _fuzz_argvs(profile: settings, capsys: pytest.CaptureFixture[str]) -> None:
    @profile
    @given(argv=argvs())
    def one(argv: list[str]) -> None:
        _check(argv, capsys)

    COUNTS.update(dict.fromkeys(COUNTS, 0))
    one()
    _report("key=value lists")
    assert COUNTS["argvs"] >= 100 and COUNTS["exit2"] > 0  # the strategies reached the parser's refusals


YAML_PIECES = st.sampled_from([
    "worlds: [a, b]\n", "worlds: [a, b\n", "seeds: 3\n", "\tseeds: 3\n", "models:\n\t- x\n", "name: [/]\n",
    "name: '[bold]x[/]'\n", "a: &a [1, 2]\nb: *a\n", "x: !!python/object:os.system ls\n", "- a\n", "? a\n",
    "worlds:\n" + "".join(" " * (i + 1) + "- \n" for i in range(50)), "k: " + "[" * 500 + "]" * 500 + "\n",
    "k:\n" + "".join(" " * (i + 1) + "k:\n" for i in range(600)),
    "k: v\nk: w\n", "%YAML 1.1\n---\n", "---\n...\n---\n", "name: 2026-01-01T00:00:00Z\n", "{", "}", ":",
])


@st.composite
def sweep_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["pieces", "bytes", "text"]))
    if kind == "pieces":
        return "".join(draw(st.lists(YAML_PIECES, max_size=6))).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    return draw(TEXT).encode("utf-8")


def _fuzz_sweep_files(profile: settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    @profile
    @given(content=sweep_files(),
           extra=st.lists(st.sampled_from(["seeds=2", "worlds=[a", "name=[/]", "dry_run=1"]), max_size=2))
    def one(content: bytes, extra: list[str]) -> None:
        path = tmp_path / "sweep.yaml"
        path.write_bytes(content)
        COUNTS["files"] += 1
        _check(["sweep", str(path), *extra], capsys)

    COUNTS.update(dict.fromkeys(COUNTS, 0))
    one()
    _report("sweep files")
    assert COUNTS["files"] >= 100 and COUNTS["exit2"] > 0


def test_any_key_value_list_ends_in_a_status_never_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    _fuzz_argvs(PROFILE, capsys)


def test_any_sweep_file_ends_in_a_status_never_a_traceback(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _fuzz_sweep_files(PROFILE, tmp_path, capsys)


@pytest.mark.fuzz
def test_long_fuzz_of_key_value_lists(capsys: pytest.CaptureFixture[str]) -> None:
    _fuzz_argvs(LONG, capsys)


@pytest.mark.fuzz
def test_long_fuzz_of_sweep_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fuzz_sweep_files(LONG, tmp_path, capsys)
