"""The one `impress` CLI: subcommands, help layout, did-you-mean, and one error exit for every command."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from impress_sim.__main__ import IMPRESS
from impress_sim.__main__ import main as impress
from impress_sim.cli import Action, Group, Lazy, keys, parse_overrides, print_error, usage
from impress_sim.errors import UsageError
from tests.conftest import MINI

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["run", "sweep", "report", "worlds", "judge", "review", "probes", "generate", "export", "serve"]


def _every_command(entry: Action | Group | Lazy, path: list[str]) -> list[tuple[list[str], Action | Group]]:
    command = entry.resolve() if isinstance(entry, Lazy) else entry
    found: list[tuple[list[str], Action | Group]] = [(path, command)]
    if isinstance(command, Group):
        for name, child in command.actions.items():
            found += _every_command(child, [*path, name])
    return found


EVERY = _every_command(IMPRESS, [])


def _entries(help_text: str) -> dict[str, str]:
    """key -> its help text (wrapped lines joined), from the `keys:` section."""
    entries: dict[str, str] = {}
    key = None
    if "\nkeys: none" in help_text:  # a command with no keys says so
        return entries
    for line in help_text.split("keys:\n", 1)[1].splitlines():
        if not line.strip():
            break
        if line.startswith("  ") and not line.startswith("   "):
            key, _, text = line.strip().partition(" ")
            entries[key] = text.strip()
        elif key is not None:
            entries[key] += " " + line.strip()
    return entries


def test_impress_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert impress(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: impress <command> [key=value ...]")
    listed = re.findall(r"^  (\w+) ", out.split("commands:\n", 1)[1], re.MULTILINE)
    assert listed == COMMANDS
    assert impress([]) == 2 and capsys.readouterr().out == out  # no command: the same help, and status 2


@pytest.mark.parametrize("path", [p for p, _ in EVERY if p], ids=lambda p: " ".join(p))
def test_every_subcommand_help_has_one_layout(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    command = dict((tuple(p), c) for p, c in EVERY)[tuple(path)]
    assert impress([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: impress {' '.join(path)} ")
    if isinstance(command, Group):
        assert all(re.search(rf"^  {name}\b", out, re.MULTILINE) for name in command.actions)
        return
    entries = _entries(out)
    assert list(entries) == keys(command.config)  # every key once, groups spelled out (judge.model)
    for key, text in entries.items():
        assert text.count("(default:") + text.count("(required)") <= 1, (key, text)  # one default, never two


def test_grouped_keys_are_spelled_with_their_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert impress(["run", "--help"]) == 0
    entries = _entries(capsys.readouterr().out)
    assert {"judge.model", "judge.policy", "monitor.model", "roles.<id>.agent", "roles.<id>.model"} <= set(entries)
    assert entries["quiet"].endswith("(default: false)") and entries["episodes"].endswith("(default: 1)")
    assert "(default:" not in entries["top_p"]  # unset by default: no "(default: —)" after the description


# What README.md and docs/*.md say about a key's default, and what --help must say about it.
DOCUMENTED = [
    ("README.md", "`max_steps=` (tool-call budget; default the world's `limits.max_tool_calls`", ["run"],
     "max_steps", "the world's limits.max_tool_calls"),
    ("README.md", "`temperature=` (default 0.7)", ["run"], "temperature", "0.7"),
    ("README.md", "`agent=`): `react` (default)", ["run"], "agent", "react"),
    ("docs/agents.md", "(`safety_prompt=true|false`, default true)", ["run"], "safety_prompt", "true"),
    ("docs/agents.md", "(`guard=rules|model|none`, default `rules`)", ["run"], "guard", "rules"),
    ("docs/agents.md", "`every` (check after every N agent steps, default 1), `temperature` (default 0)", ["run"],
     "monitor.every", "1"),
    ("docs/agents.md", "`timeout` (default 60 s), `retries` (default 4)", ["run"], "monitor.timeout", "60"),
    ("docs/judge.md", "`timeout` (default 120 s), `retries` (transport retries, default 4)", ["run"],
     "judge.timeout", "120"),
    ("docs/judge.md", "`reasks` (re-asks after an invalid reply, default 2)", ["run"], "judge.reasks", "2"),
    ("docs/judge.md", "(`state_or_llm_with_evidence` default,", ["judge", "rejudge"], "judge.policy",
     "state_or_llm_with_evidence"),
    ("docs/sweeps.md", "the sweep id (default: derived from the axes)", ["sweep", "run"], "name",
     "derived from the axes"),
    ("docs/report.md", "(default runs/reports/<sweep-id>/)", ["report"], "out", "runs/reports/<sweep-id>/"),
    ("docs/probes.md", "(`temperature`, default 0.7;", ["probes"], "temperature", "0.7"),
]


@pytest.mark.parametrize(("doc", "phrase", "command", "key", "default"), DOCUMENTED, ids=[d[3] for d in DOCUMENTED])
def test_help_and_docs_agree_on_defaults(doc: str, phrase: str, command: list[str], key: str, default: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join((ROOT / doc).read_text(encoding="utf-8").split())
    assert phrase in text, f"{doc} no longer says {phrase!r}"
    assert impress([*command, "--help"]) == 0
    assert f"(default: {default}" in _entries(capsys.readouterr().out)[key]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rnu"], "unknown command 'rnu'; did you mean 'run'? valid: run, sweep, report, worlds, judge, review, "
                  "probes, generate, export, serve (see impress --help)"),
        (["worlds", "chek"], "impress worlds: unknown action 'chek'; did you mean 'check'?"),
        (["sweep", "exprot", "s.sqlite"], "impress sweep: unknown action 'exprot'; did you mean 'export'?"),
        (["run", "episods=2"], "unknown key 'episods'; did you mean 'episodes'? valid keys: world, agent"),
        (["run", "judge.polcy=x"], "unknown key 'judge.polcy'; did you mean 'judge.policy'? valid keys: judge.model"),
        (["run", "world=corporate_shutdwn"], "unknown world 'corporate_shutdwn'; did you mean 'corporate_shutdown'?"),
        (["run", "agent=plan_exec"], "unknown agent 'plan_exec'; did you mean 'plan_execute'?"),
        (["run", "variant=goal_conflct"], "unknown variant 'goal_conflct'; did you mean 'goal_conflict'?"),
        (["run", "variant.realty=test"], "unknown factor axis 'realty'; did you mean 'reality'?"),
        (["run", "variant.reality=tset"], "variant.reality: unknown value 'tset'; did you mean 'test'?"),
        (["probes", "corporate_shutdown", "sampels=2"], "unknown key 'sampels'; did you mean 'samples'?"),
        (["report", "s.sqlite", "--out", "x"], "options are written key=value: did you mean out=<value>?"),
        (["worlds", "check", "corporate_shutdown", "--no-variants"], "did you mean variants=false?"),
    ],
)
def test_did_you_mean(args: list[str], message: str, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert impress(args) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith("error: ") and printed.err.count("\n") == 1
    assert message in printed.err and not printed.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "world=nowhere"], "unknown world 'nowhere'"),
        (["sweep", "worlds=[cloud_budget]", "agents=[telepath]", "store=s.sqlite"], "unknown agent 'telepath'"),
        (["sweep", "nosuch.yaml"], "file: no such file 'nosuch.yaml'"),
        (["sweep", "export", "missing.sqlite"], "no store at missing.sqlite"),
        (["report", "missing.sqlite"], "no results store at"),
        (["worlds", "validate", "."], "no world.yaml in ./"),
        (["worlds", "list", "verbose=true"], "unknown key 'verbose'; valid keys: worlds, format"),
        (["judge", "rejudge"], "records: required"),
        (["review", "export", "nowhere", "out=x"], "no such file or folder"),
        (["probes", "world=corporate_shutdown", "models=[reference/nope]", "cache=off"],
         "unknown reference model 'reference/nope'"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_every_subcommand_ends_a_user_error_in_one_line_and_status_2(
        args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert impress(args) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith("error: ") and printed.err.count("\n") == 1, printed.err
    assert message in printed.err and "Traceback" not in printed.err and not printed.out
    assert not list(tmp_path.iterdir())  # nothing was written


def test_errors_are_printed_as_text_never_markup(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("pip install 'impress-sim[ray]' [red]now[/red] \x1b[2J")
    assert capsys.readouterr().err == "error: pip install 'impress-sim[ray]' [red]now[/red] \\x1b[2J\n"


class _Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(default_factory=list, description="some names")
    count: int | list[int] = Field(1, description="N or a list")


def test_the_parser_reads_lists_and_bare_words() -> None:
    assert parse_overrides(_Sample, ["names=a"]).names == ["a"]  # one value where a list goes: a list of one
    assert parse_overrides(_Sample, ["names=[a,b]", "count=3"]).count == 3  # `int | list[int]` stays an int
    action = Action("sample", _Sample, lambda config, console: 0, positional="names")
    assert usage(action, "x").startswith("usage: x [names ...] [key=value ...]")
    with pytest.raises(UsageError, match="names given twice"):
        from impress_sim.cli import parse_action

        parse_action(action, ["a", "names=[b]"])


def test_the_console_script_is_the_one_cli() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"impress": "impress_sim.__main__:main"}


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120, check=False)


def test_python_dash_m_impress_sim_and_the_module_shims(tmp_path: Path) -> None:
    proc = _python("impress_sim", "worlds", "validate", MINI, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("valid mini "), proc.stderr
    proc = _python("impress_sim.worlds", "validate", "world=nowhere", cwd=tmp_path)  # a shim: the same command
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown world 'nowhere'")
    assert proc.stderr.count("\n") == 1 and not proc.stdout
    proc = _python("impress_sim.probes", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: python -m impress_sim.probes [world] [key=value")


# ---- hostile input: one message, never a traceback; values clipped; markup shown as typed -------------
def _refused(args: list[str], capsys: pytest.CaptureFixture[str], status: int = 2) -> str:
    """Run `impress args`: it must end in `status` with one `error:` line and nothing on stdout."""
    assert impress(args) == status
    printed = capsys.readouterr()
    assert printed.err.startswith("error: ") and printed.err.count("\n") == 1, printed.err[:500]
    assert "Traceback" not in printed.err and not printed.out
    return printed.err


@pytest.mark.parametrize(("value", "message"), [
    ("[a,b", "cannot parse 'worlds=[a,b': did not find expected ',' or ']'; a list is written [a,b]"),
    ("[a,b]]", "cannot parse 'worlds=[a,b]]'"),
    ("{a: 1", "cannot parse 'worlds={a: 1'"),
    ("[" * 500 + "]" * 500, "worlds: the value nests 500 levels deep; at most 32 are allowed"),
    ("{a: " * 300 + "1" + "}" * 300, "worlds: the value nests 300 levels deep"),
    ("[" * 5000, "worlds: the value nests 5000 levels deep"),
])
def test_a_value_that_cannot_be_read_is_one_message(value: str, message: str, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert message in _refused(["sweep", f"worlds={value}", "seeds=1"], capsys)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("key", ["a..b", "[", "judge[0]", ".x", "x.", "é", "a b", "[/]"])
def test_a_key_that_is_not_a_dotted_name_is_one_message(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(["run", f"{key}=1"], capsys)
    assert "bad key" in err and "a key is a name, or names joined by dots" in err


def test_values_are_literal_never_interpolated(capsys: pytest.CaptureFixture[str]) -> None:
    """`${oc.env:...}` would read the environment (an API key into a results store): it is text."""
    assert "unknown world '${oc.env:HOME}'" in _refused(["run", "world=${oc.env:HOME}"], capsys)
    assert "unknown world '${oc.create:x}'" in _refused(["run", "world=${oc.create:x}"], capsys)


@pytest.mark.parametrize("arg", ["world=" + "x" * 1_000_000, "world=[" + "a," * 200_000 + "]", "x" * 1_000_000,
                                 "--" + "x" * 1_000_000, "wrold=" + "x" * 1_000_000, "x" * 500_000 + "=1"],
                         ids=["value", "list", "bare-word", "option", "unknown-key", "key"])
def test_a_megabyte_value_is_echoed_clipped(arg: str, capsys: pytest.CaptureFixture[str]) -> None:
    as_world = arg.startswith(("world=x", "xx")) and "=" not in arg[6:]  # the system refuses the name: status 1
    err = _refused(["run", arg], capsys, status=1 if as_world else 2)
    assert len(err) < 3_000, err[:300]


def test_a_path_the_system_refuses_is_one_message(capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(["worlds", "validate", "a" * 100_000], capsys, status=1)
    assert err.startswith("error: File name too long: 'aaa") and "more characters)" in err and len(err) < 400


def _sweep_file(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize(("content", "message"), [
    (b"worlds: [cloud_budget\nseeds: 1\n", "sweep.yaml:2:6: not valid YAML: expected ',' or ']', but got ':'"),
    (b"worlds:\n\t- cloud_budget\n", "sweep.yaml:2:1: not valid YAML: found character '\\t' that cannot start any "
                                     "token (YAML indents with spaces, never tabs)"),
    (bytes(range(256)), "sweep.yaml: a binary file (NUL byte at offset 0)"),
    (b"seeds: 1\n# caf\xe9\n", "sweep.yaml:2:6: not UTF-8 text (byte 0xe9 at offset 14); save the file as UTF-8"),
    (b"worlds: " + b"[" * 500 + b"]" * 500 + b"\n", "sweep.yaml: values nest 500 levels deep; at most 32"),
    (b"a:\n" + b"".join(b" " * (i + 1) + b"b:\n" for i in range(600)),
     "sweep.yaml:64:64: nested more than 64 levels deep"),
    (b"- cloud_budget\n", "sweep.yaml: expected a mapping of keys (key: value lines), got list"),
    (b"name: [/]\n", "name: Input should be a valid string (got ['/'])"),  # markup shown as typed
])
def test_a_sweep_file_that_cannot_be_read_is_one_message(content: bytes, message: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    err = _refused(["sweep", _sweep_file(tmp_path, content)], capsys)
    assert message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]  # nothing else was written


def test_rich_markup_in_paths_and_values_is_shown_as_typed(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    folder = tmp_path / "[bold]x[/]" / "[/]"
    shutil.copytree(MINI, folder)
    assert impress(["worlds", "validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"({folder}/world.yaml," in out.replace("\n", "")  # the path whole, brackets and all
    err = _refused(["report", str(folder / "[red]s.sqlite")], capsys)
    assert f"no results store at {folder}/[red]s.sqlite" in err
    assert "'[bold]x[/]'" in _refused(["run", "world=\"[bold]x[/]\""], capsys)  # quoted: the text itself
    assert "'world=[/]x'" in _refused(["run", "world=[/]x"], capsys)


def test_validate_prints_a_very_long_world_id_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 200,000-character id went through rich's highlighter (quadratic); it is plain text now."""
    folder = tmp_path / "w"
    shutil.copytree(MINI, folder)
    text = (folder / "world.yaml").read_text(encoding="utf-8")
    long_id = "m" + "a1_" * 66_666
    (folder / "world.yaml").write_text(text.replace("id: mini", f"id: {long_id}", 1), encoding="utf-8")
    assert impress(["worlds", "validate", str(folder)]) == 0
    assert long_id in capsys.readouterr().out.replace("\n", "")


def test_list_prints_world_text_as_text(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from impress_sim.envs.loader import load_world
    from impress_sim.worlds import __main__ as worlds_cli

    loaded = load_world(MINI)
    spec = loaded.spec.model_copy(update={"domain": "Mini [/] [bold]domain"})
    monkeypatch.setattr(worlds_cli, "world_ids", lambda: ["mini"])
    monkeypatch.setattr(worlds_cli, "load_world", lambda _: dataclasses.replace(loaded, spec=spec))
    monkeypatch.setenv("COLUMNS", "250")  # one line per cell: the text is found as written
    assert impress(["worlds", "list"]) == 0
    assert "Mini [/] [bold]domain" in capsys.readouterr().out


def test_an_unknown_key_in_an_optional_group_lists_that_groups_keys() -> None:
    """`monitor` is optional (off unless given): a typo under it names the monitor's own keys."""
    from impress_sim.sweep import SweepSpec

    with pytest.raises(UsageError, match=r"unknown key 'monitor.frobnicate'; valid keys: monitor.model, "
                                         r"monitor.api_base, monitor.threshold"):
        parse_overrides(SweepSpec, ["worlds=cloud_budget", "models=[openai/a]", "monitor.model=openai/m",
                                    "monitor.frobnicate=1"])
