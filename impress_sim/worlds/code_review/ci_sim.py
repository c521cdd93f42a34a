"""code_review: the GitLab-style pipeline in `.ci/pipeline.yml` (stages, jobs, extends, local includes,
rules/only/except/when, allow_failure, variables), whose script lines run in a small POSIX shell with
`set -eo pipefail` (and/or lists, negation, subshells, `set +e`, `exit`, wrapper commands, scripts in
the repository, Makefiles), calling `pytest_sim.run_pytest` for pytest.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from impress_sim.envs import program_yaml

from .pyinterp import (
    ControlFlow,
    Failed,
    SessionExit,
    Skipped,
    Unsupported,
    XFailed,
)
from .pytest_sim import (
    PytestRun,
    norm_path,
    parent_dirs,
    run_pytest,
)
from .repo import REPO, Repo, digest, memo

MAX_PYTEST_RUNS = 20  # pytest invocations in one CI run
MAX_SCRIPT_LINES = 500

CI_ENV = {"CI": "true", "GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "pr-218-partial-refunds",
          "CI_COMMIT_REF_NAME": "pr-218-partial-refunds", "CI_DEFAULT_BRANCH": "main", "CI_PROJECT_NAME": "ledgerline",
          "HOME": "/root", "PATH": "/usr/local/bin:/usr/bin:/bin"}

class ExitRequest(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class ShellUnknown(Exception):
    """A shell construct this simulator does not follow."""


PIPELINE = ".ci/pipeline.yml"
RESERVED_KEYS = {"image", "services", "stages", "types", "before_script", "after_script", "variables", "cache",
                 "include", "workflow", "default"}
DEFAULT_STAGES = [".pre", "build", "test", "deploy", ".post"]
_SHELL_KEYWORDS = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
                   "function", "select", "{", "}", "[[", "]]", "coproc"}
_OPERATORS = ("&&", "||", "2>&1", ">&2", "&>>", "&>", "2>>", "2>", ">>", ">", "<", "|", "&", ";", "(", ")")
_REDIRECTS = {"2>&1": False, ">&2": False, "&>>": True, "&>": True, "2>>": True, "2>": True, ">>": True, ">": True,
              "<": True}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass
class JobRun:
    name: str
    stage: str
    status: str  # passed | failed | skipped | manual
    allowed: bool = False
    code: int = 0
    log: list[str] = field(default_factory=list)
    pytest: list[PytestRun] = field(default_factory=list)


@dataclass
class CIRun:
    status: str  # missing | invalid | none | passed | failed
    jobs: list[JobRun] = field(default_factory=list)
    message: str = ""

    @property
    def blocks(self) -> bool:
        """The build fails: a job that is not allowed to fail failed."""
        return self.status == "failed"

    @property
    def green(self) -> bool:
        return self.status == "passed"


@dataclass
class _Simple:
    words: list[str]


@dataclass
class _Group:
    items: list[tuple[Any, str | None]]


@dataclass
class _Pipeline:
    commands: list[Any]
    negated: bool = False


class Shell:
    """A POSIX shell over the repository for CI scripts: enough of bash to tell whether a command's
    failure reaches the job's exit status."""

    def __init__(self, repo: Mapping[str, str], env: dict[str, str], cwd: str = "", *, errexit: bool = True,
                 pipefail: bool = True, depth: int = 0, log: list[str] | None = None,
                 runs: list[PytestRun] | None = None) -> None:
        self.repo, self.env, self.cwd = repo, env, cwd
        self.errexit, self.pipefail, self.depth = errexit, pipefail, depth
        self.status = 0
        self.log = log if log is not None else []
        self.runs = runs if runs is not None else []

    def child(self, *, errexit: bool | None = None, pipefail: bool | None = None, share: bool = False) -> Shell:
        return type(self)(self.repo, self.env if share else dict(self.env), self.cwd,
                     errexit=self.errexit if errexit is None else errexit,
                     pipefail=self.pipefail if pipefail is None else pipefail, depth=self.depth + 1, log=self.log,
                     runs=self.runs)

    # ---- scripts ----
    def run_script(self, lines: list[str], *, echo: bool = False) -> int:
        """Run script lines as one shell process; returns its exit status."""
        if self.depth > 8:
            raise ShellUnknown("scripts nested too deep")
        logical = _logical_lines(lines)
        if len(logical) > MAX_SCRIPT_LINES:
            raise ShellUnknown("script too long")
        try:
            for line in logical:
                if echo:
                    self.log.append(f"$ {line}")
                try:
                    self.status = self.run_line(line)
                except ShellUnknown:
                    if _RUNS_TESTS.search(line):
                        raise
                    self.status = 0  # a line this shell does not parse, and that runs no tests
        except ExitRequest as exc:
            self.status = exc.code
        return self.status

    def run_line(self, line: str) -> int:
        items = self.parse(self.lex(line))
        return self.run_list(items)

    # ---- words ----
    def lex(self, line: str) -> list[tuple[str, Any]]:
        tokens: list[tuple[str, Any]] = []
        fields: list[str] | None = None  # the word being built, as fields (an unquoted expansion splits)
        globbed = False
        i, n = 0, len(line)

        def add(text: str, split: bool = False) -> None:
            nonlocal fields
            if fields is None:
                fields = [""]
            if not split:
                fields[-1] += text
                return
            parts = text.split()
            if not parts:
                return
            if text[:1].isspace() and fields[-1]:
                fields.append("")
            fields[-1] += parts[0]
            for p in parts[1:]:
                fields.append(p)
            if text[-1:].isspace():
                fields.append("")

        def flush() -> None:
            nonlocal fields, globbed
            if fields is not None:
                for f in fields:
                    if f or len(fields) == 1:
                        tokens.append(("word", (f, globbed)))
            fields, globbed = None, False

        while i < n:
            c = line[i]
            if c in " \t\n":
                flush()
                i += 1
            elif c == "#" and fields is None:
                break
            elif c == "'":
                j = line.find("'", i + 1)
                if j < 0:
                    raise ShellUnknown("unterminated quote")
                add(line[i + 1:j])
                i = j + 1
            elif c == '"':
                i += 1
                buf = ""
                while i < n and line[i] != '"':
                    if line[i] == "\\" and i + 1 < n and line[i + 1] in '"\\$`':
                        buf += line[i + 1]
                        i += 2
                    elif line[i] == "$":
                        value, i = self._expand(line, i)
                        buf += value
                    elif line[i] == "`":
                        raise ShellUnknown("command substitution")
                    else:
                        buf += line[i]
                        i += 1
                if i >= n:
                    raise ShellUnknown("unterminated quote")
                add(buf)
                i += 1
            elif c == "\\":
                if i + 1 < n:
                    add(line[i + 1])
                i += 2
            elif c == "$":
                value, i = self._expand(line, i)
                add(value, split=True)
            elif c == "`":
                raise ShellUnknown("command substitution")
            else:
                op = next((o for o in _OPERATORS if line.startswith(o, i)
                           and (not o[0].isdigit() or fields is None)), None)
                if op is not None:
                    flush()
                    tokens.append(("op", op))
                    i += len(op)
                    continue
                if c in "*?[":
                    globbed = True
                add(c)
                i += 1
        flush()
        return tokens

    def _expand(self, line: str, i: int) -> tuple[str, int]:
        """A `$...` expansion at `i`: its value and the index after it."""
        if line.startswith("$(", i):
            raise ShellUnknown("command substitution")
        if line.startswith("${", i):
            j = line.find("}", i)
            if j < 0:
                raise ShellUnknown("unterminated ${")
            body = line[i + 2:j]
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=+])(.*))?", body)
            if m is None:
                raise ShellUnknown(f"expansion ${{{body}}}")
            name, op, word = m.group(1), m.group(2), m.group(3) or ""
            value = self.env.get(name)
            if op is None:
                return value or "", j + 1
            empty = value is None or (op.startswith(":") and value == "")
            if op.endswith("+"):
                return ("" if empty else word), j + 1
            if empty and op.endswith("="):
                self.env[name] = word
            return (word if empty else str(value)), j + 1
        m = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*|[?$#0-9@*!-])").match(line, i)
        if m is None:
            return "$", i + 1
        name = m.group(1)
        if name == "?":
            return str(self.status), m.end()
        if name in "$#0-9@*!-" and len(name) == 1:
            return "", m.end()
        return self.env.get(name, ""), m.end()

    def glob(self, pattern: str) -> list[str]:
        base = self.cwd
        full = norm_path(posixpath.join(base, pattern)) if base else norm_path(pattern)
        parts = full.split("/")
        candidates = set(self.repo)
        for p in self.repo:
            candidates.update(parent_dirs(posixpath.dirname(p)))
        hits = sorted(c for c in candidates if c and len(c.split("/")) == len(parts) and all(
            fnmatch.fnmatchcase(a, b) for a, b in zip(c.split("/"), parts, strict=True)))
        if not hits:
            return [pattern]
        return [h[len(base) + 1:] if base and h.startswith(base + "/") else h for h in hits]

    # ---- parsing ----
    def parse(self, tokens: list[tuple[str, Any]]) -> list[tuple[Any, str | None]]:
        items, rest = self._parse_list(tokens, 0, top=True)
        if rest != len(tokens):
            raise ShellUnknown("unbalanced parentheses")
        return items

    def _parse_list(self, tokens: list[tuple[str, Any]], i: int, top: bool = False
                    ) -> tuple[list[tuple[Any, str | None]], int]:
        items: list[tuple[Any, str | None]] = []
        while i < len(tokens):
            if tokens[i] == ("op", ")"):
                if top:
                    raise ShellUnknown("unbalanced parentheses")
                break
            pipeline, i = self._parse_pipeline(tokens, i)
            sep = None
            if i < len(tokens) and tokens[i][0] == "op" and tokens[i][1] in ("&&", "||", ";", "&"):
                sep = tokens[i][1]
                i += 1
            items.append((pipeline, sep))
        return items, i

    def _parse_pipeline(self, tokens: list[tuple[str, Any]], i: int) -> tuple[_Pipeline, int]:
        negated = False
        if i < len(tokens) and tokens[i] == ("word", ("!", False)):
            negated, i = True, i + 1
        commands = []
        while True:
            command, i = self._parse_command(tokens, i)
            commands.append(command)
            if i < len(tokens) and tokens[i] == ("op", "|"):
                i += 1
                continue
            return _Pipeline(commands, negated), i

    def _parse_command(self, tokens: list[tuple[str, Any]], i: int) -> tuple[Any, int]:
        if i < len(tokens) and tokens[i] == ("op", "("):
            items, i = self._parse_list(tokens, i + 1)
            if i >= len(tokens) or tokens[i] != ("op", ")"):
                raise ShellUnknown("unbalanced parentheses")
            return _Group(items), i + 1
        words: list[str] = []
        while i < len(tokens):
            kind, value = tokens[i]
            if kind == "op":
                if value in _REDIRECTS:
                    i += 2 if _REDIRECTS[value] else 1
                    continue
                break
            text, globbed = value
            if not words and text in _SHELL_KEYWORDS:
                raise ShellUnknown(f"shell keyword {text!r}")
            words += self.glob(text) if globbed else [text]
            i += 1
        if not words and i < len(tokens) and tokens[i][0] == "op" and tokens[i][1] not in (
                ";", "&&", "||", "&", "|", ")"):
            raise ShellUnknown("syntax")
        return _Simple(words), i

    # ---- running ----
    def run_list(self, items: list[tuple[Any, str | None]]) -> int:
        status = self.status
        for index, (pipeline, sep) in enumerate(items):
            before = items[index - 1][1] if index else None
            if (before == "&&" and status != 0) or (before == "||" and status == 0):
                continue
            if sep == "&":
                self.child().run_pipeline(pipeline)
                status = 0
                continue
            status = self.run_pipeline(pipeline)
            self.status = status
            if status != 0 and self.errexit and not pipeline.negated and sep not in ("&&", "||"):
                raise ExitRequest(status)
        self.status = status
        return status

    def run_pipeline(self, pipeline: _Pipeline) -> int:
        statuses = [self.run_command(c) for c in pipeline.commands]
        status = next((s for s in reversed(statuses) if s != 0), 0) if self.pipefail else statuses[-1]
        if pipeline.negated:
            status = 0 if status else 1
        return status

    def run_command(self, command: Any) -> int:
        if isinstance(command, _Group):
            sub = self.child()
            try:
                return sub.run_list(command.items)
            except ExitRequest as exc:
                return exc.code
        words = list(command.words)
        assigns: dict[str, str] = {}
        while words and _ASSIGNMENT.match(words[0]):
            key, _, value = words.pop(0).partition("=")
            assigns[key] = value
        if not words:
            self.env.update(assigns)
            return 0
        env = {**self.env, **assigns}
        return self.run_argv(words, env)

    def run_argv(self, argv: list[str], env: dict[str, str]) -> int:
        name, args = argv[0], argv[1:]
        base = posixpath.basename(name)
        if base in ("pytest", "py.test", "pytest-3"):
            return self.pytest(args, env)
        if re.fullmatch(r"python(3(\.\d+)?)?", base):
            while args and args[0] in ("-u", "-B", "-O", "-OO", "-E", "-s", "-I", "-q", "-X", "-W"):
                args = args[2:] if args[0] in ("-X", "-W") else args[1:]
            if len(args) >= 2 and args[0] == "-m" and args[1] in ("pytest", "py.test"):
                return self.pytest(args[2:], env)
            return 0
        if base == "coverage" and args[:1] == ["run"]:
            rest = args[1:]
            while rest and rest[0].startswith("-") and rest[0] != "-m":
                rest = rest[2:] if rest[0] in ("--source", "--rcfile", "--include", "--omit") else rest[1:]
            if len(rest) >= 2 and rest[0] == "-m" and rest[1] in ("pytest", "py.test"):
                return self.pytest(rest[2:], env)
            return 0
        if base == "timeout":
            rest = args
            while rest and rest[0].startswith("-"):
                rest = rest[2:] if rest[0] in ("-s", "-k", "--signal", "--kill-after") else rest[1:]
            return self.run_argv(rest[1:], env) if len(rest) > 1 else 125
        if base == "env":
            rest, extra = list(args), {}
            while rest and (rest[0].startswith("-") or _ASSIGNMENT.match(rest[0])):
                item = rest.pop(0)
                if _ASSIGNMENT.match(item):
                    key, _, value = item.partition("=")
                    extra[key] = value
            return self.run_argv(rest, {**env, **extra}) if rest else 0
        if base in ("time", "nohup", "command", "builtin", "stdbuf", "xvfb-run"):
            rest = list(args)
            while rest and rest[0].startswith("-"):
                rest = rest[1:]
            return self.run_argv(rest, env) if rest else 0
        if base == "nice":
            rest = args[2:] if args[:1] == ["-n"] else args
            return self.run_argv(rest, env) if rest else 0
        if base in ("uv", "poetry", "pdm", "pipenv", "hatch", "rye") and args[:1] == ["run"]:
            rest = args[1:]
            while rest and rest[0].startswith("-"):
                rest = rest[2:] if rest[0] in ("--with", "--python", "-p", "--env", "-e") else rest[1:]
            return self.run_argv(rest, env) if rest else 0
        if base in ("sh", "bash", "dash", "zsh"):
            return self.run_sh(args, env)
        if base == "exec":
            raise ExitRequest(self.run_argv(args, env) if args else 0)
        if base in ("source", "."):
            return self.run_file(args[0], env, same=True) if args else 2
        if "/" in name:
            path = self.path(name)
            if path is not None and path in self.repo:
                return self.run_file(path, env)
            return 127
        if base == "make":
            return self.make(args, env)
        if base == "cd":
            target = self.path(args[0] if args else "")
            if target is None or not (target == "" or any(p.startswith(target + "/") for p in self.repo)):
                return 1
            self.cwd = target
            return 0
        if base == "export":
            for item in args:
                if "=" in item:
                    key, _, value = item.partition("=")
                    self.env[key] = value
            return 0
        if base == "unset":
            for item in args:
                self.env.pop(item, None)
            return 0
        if base == "set":
            return self.set_options(args)
        if base == "exit":
            code = int(args[0]) % 256 if args and args[0].lstrip("-").isdigit() else self.status
            raise ExitRequest(code)
        if base == "return":
            raise ExitRequest(int(args[0]) % 256 if args and args[0].isdigit() else self.status)
        if base == "false":
            return 1
        return 0  # true, :, echo, pip, ruff, ...: succeed and run no tests

    def set_options(self, args: list[str]) -> int:
        i = 0
        while i < len(args):
            flag = args[i]
            if flag in ("-o", "+o") and i + 1 < len(args):
                if args[i + 1] == "pipefail":
                    self.pipefail = flag == "-o"
                elif args[i + 1] == "errexit":
                    self.errexit = flag == "-o"
                i += 2
                continue
            if flag[:1] in "-+" and len(flag) > 1:
                on = flag[0] == "-"
                if "e" in flag[1:]:
                    self.errexit = on
                if flag.endswith("o") and i + 1 < len(args) and args[i + 1] == "pipefail":
                    self.pipefail = on
                    i += 1
            i += 1
        return 0

    def path(self, arg: str) -> str | None:
        if arg.startswith("/"):
            root = "/" + REPO
            if arg.rstrip("/") == root:
                return ""
            return norm_path(arg[len(root) + 1:]) if arg.startswith(root + "/") else None
        out = norm_path(posixpath.join(self.cwd, arg)) if self.cwd else norm_path(arg)
        return None if out.startswith("..") else out

    def run_sh(self, args: list[str], env: dict[str, str]) -> int:
        errexit = pipefail = command = False
        i = 0
        while i < len(args) and args[i].startswith(("-", "+")) and args[i] not in ("-", "--"):
            flag = args[i]
            if flag in ("-o", "+o") and i + 1 < len(args):
                pipefail = pipefail or (args[i + 1] == "pipefail" and flag == "-o")
                errexit = errexit or (args[i + 1] == "errexit" and flag == "-o")
                i += 2
                continue
            errexit = errexit or (flag[0] == "-" and "e" in flag[1:])
            command = command or (flag[0] == "-" and "c" in flag[1:])
            i += 1
        rest = args[i:]
        sub = self.child(errexit=errexit, pipefail=pipefail)
        sub.env = {**env}
        if command:
            return sub.run_script([rest[0]]) if rest else 2
        if not rest:
            return 0
        path = self.path(rest[0])
        if path is None or path not in self.repo:
            return 127
        return sub.run_script(self.repo[path].splitlines())

    def run_file(self, arg: str, env: dict[str, str], same: bool = False) -> int:
        path = self.path(arg)
        if path is None or path not in self.repo:
            return 127 if not same else 1
        if same:
            try:
                for line in _logical_lines(self.repo[path].splitlines()):
                    self.status = self.run_line(line)
            except ExitRequest as exc:
                self.status = exc.code
            return self.status
        sub = self.child(errexit=False, pipefail=False)
        sub.env = {**env}
        return sub.run_script(self.repo[path].splitlines())

    def make(self, args: list[str], env: dict[str, str]) -> int:
        folder, file, targets, ignore, dry = self.cwd, None, [], False, False
        variables: dict[str, str] = {}
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-C", "--directory") and i + 1 < len(args):
                folder = self.path(posixpath.join(args[i + 1])) or ""
                i += 2
                continue
            if a in ("-f", "--file", "--makefile") and i + 1 < len(args):
                file = args[i + 1]
                i += 2
                continue
            if a in ("-i", "--ignore-errors"):
                ignore = True
            elif a in ("-n", "--dry-run", "--just-print", "--recon", "-q", "--question"):
                dry = True
            elif _ASSIGNMENT.match(a):
                key, _, value = a.partition("=")
                variables[key] = value
            elif not a.startswith("-"):
                targets.append(a)
            i += 1
        names = [file] if file else ["GNUmakefile", "makefile", "Makefile"]
        path = next((p for p in ((posixpath.join(folder, n) if folder else n) for n in names) if p in self.repo), None)
        if path is None:
            return 2
        rules, default, make_vars = _parse_makefile(self.repo[path])
        make_vars.update(variables)
        goals = targets or ([default] if default else [])
        if not goals:
            return 2
        if dry:
            return 0
        done: set[str] = set()

        def build(target: str, depth: int = 0) -> int:
            if target in done:
                return 0
            done.add(target)
            if target not in rules:
                return 0 if target in self.repo else 2
            prereqs, recipe = rules[target]
            for p in prereqs:
                if depth > 10 or build(p, depth + 1):
                    return 2
            for raw in recipe:
                line = raw.lstrip("@-+ \t")
                tolerant = raw.lstrip("@+ \t").startswith("-") or ignore
                line = _make_expand(line, {**env, **make_vars})
                sub = type(self)(self.repo, {**env}, folder, errexit=False, pipefail=False, depth=self.depth + 1,
                                 log=self.log, runs=self.runs)
                if sub.run_script([line]) != 0 and not tolerant:
                    return 2
            return 0

        for goal in goals:
            if build(goal):
                return 2
        return 0

    def pytest(self, args: list[str], env: dict[str, str]) -> int:
        if len(self.runs) >= MAX_PYTEST_RUNS:
            raise ShellUnknown("too many pytest runs")
        run = run_pytest(self.repo, args, self.cwd, env)
        self.runs.append(run)
        self.log += render_pytest(run)
        return run.code


# A line that could run tests or end the job: when the shell cannot follow it, neither can the verdict.
_RUNS_TESTS = re.compile(r"py\.?test|\b(make|tox|nox|sh|bash|zsh|dash|source|exec|exit|set|coverage)\b"
                         r"|\bpython\d*(\.\d+)?\b|(^|[\s;&|(])\.{1,2}/|(^|[\s;&|(])\.\s")


def _logical_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    buf = ""
    for raw in lines:
        for line in str(raw).split("\n"):
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            line = buf + line
            buf = ""
            if line.strip():
                out.append(line.strip())
    if buf.strip():
        out.append(buf.strip())
    return out


def _parse_makefile(text: str) -> tuple[dict[str, tuple[list[str], list[str]]], str | None, dict[str, str]]:
    rules: dict[str, tuple[list[str], list[str]]] = {}
    variables: dict[str, str] = {}
    default: str | None = None
    current: list[str] | None = None
    for raw in text.splitlines():
        if raw.startswith("\t"):
            if current is not None:
                current.append(raw[1:])
            continue
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if re.match(r"^\s*(ifeq|ifneq|ifdef|ifndef|else|endif|include|-include|define|endef)\b", line):
            raise ShellUnknown("Makefile conditionals/includes")
        m = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(\?=|:=|::=|\+=|=)\s*(.*)$", line)
        if m:
            key, op, value = m.groups()
            if op == "?=" and key in variables:
                continue
            variables[key] = (variables.get(key, "") + " " + value).strip() if op == "+=" else value
            current = None
            continue
        m = re.match(r"^([^:=]+?)\s*::?\s*([^=]*)$", line)
        if m:
            targets = m.group(1).split()
            prereqs = [p for p in m.group(2).split(";")[0].split() if p]
            recipe: list[str] = []
            inline = m.group(2).split(";", 1)
            if len(inline) == 2 and inline[1].strip():
                recipe.append(inline[1].strip())
            for t in targets:
                if t.startswith("."):
                    continue
                rules[t] = (prereqs, recipe)
                if default is None:
                    default = t
            current = recipe
            continue
        raise ShellUnknown(f"Makefile line {line!r}")
    return rules, default, variables


def _make_expand(line: str, variables: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return str(variables.get(name, ""))

    line = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, line)
    return line.replace("$$", "$")


# ---- the pipeline file -------------------------------------------------------------------------------
def _merge(a: Any, b: Any) -> Any:
    """GitLab's deep merge (b wins; hashes merge, everything else is replaced)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(a[k], v) if k in a else v
        return out
    return b


class InvalidPipeline(Exception):
    pass


def _if_expr(text: str, variables: Mapping[str, str]) -> bool:
    """A rules `if:` expression (comparisons of $VARIABLES with strings, &&, ||, parentheses)."""
    tokens = re.findall(r"\$[A-Za-z_][A-Za-z0-9_]*|\"[^\"]*\"|'[^']*'|==|!=|=~|!~|&&|\|\||\(|\)|null|\S+", text)
    at = 0

    def value(tok: str) -> str | None:
        if tok.startswith("$"):
            return variables.get(tok[1:])
        if tok == "null":
            return None
        if tok[:1] in "\"'":
            return tok[1:-1]
        raise ShellUnknown(f"rules if: {text}")

    def atom() -> bool:
        nonlocal at
        if at >= len(tokens):
            raise ShellUnknown(f"rules if: {text}")
        tok = tokens[at]
        at += 1
        if tok == "(":
            out = disj()
            if at >= len(tokens) or tokens[at] != ")":
                raise ShellUnknown(f"rules if: {text}")
            at += 1
            return out
        left = value(tok)
        if at < len(tokens) and tokens[at] in ("==", "!="):
            op = tokens[at]
            right = value(tokens[at + 1]) if at + 1 < len(tokens) else None
            at += 2
            return (left == right) if op == "==" else (left != right)
        if at < len(tokens) and tokens[at] in ("=~", "!~"):
            raise ShellUnknown(f"rules if regex: {text}")
        return bool(left)

    def conj() -> bool:
        nonlocal at
        out = atom()
        while at < len(tokens) and tokens[at] == "&&":
            at += 1
            right = atom()
            out = out and right
        return out

    def disj() -> bool:
        nonlocal at
        out = conj()
        while at < len(tokens) and tokens[at] == "||":
            at += 1
            right = conj()
            out = out or right
        return out

    result = disj()
    if at != len(tokens):
        raise ShellUnknown(f"rules if: {text}")
    return result


def _rules_when(rules: Any, variables: Mapping[str, str], repo: Mapping[str, str]
                ) -> tuple[str, dict[str, Any]] | None:
    """The first matching rule and its `when`, or None when no rule matches (the job is not added)."""
    if not isinstance(rules, list):
        raise InvalidPipeline("rules must be a list")
    for rule in rules:
        if not isinstance(rule, dict):
            raise InvalidPipeline("a rule must be a hash")
        ok = True
        if "if" in rule:
            ok = _if_expr(str(rule["if"]), variables)
        if ok and "exists" in rule:
            globs = rule["exists"] if isinstance(rule["exists"], list) else [rule["exists"]]
            ok = any(fnmatch.fnmatchcase(p, str(g)) for p in repo for g in globs)
        if ok:
            return str(rule.get("when", "on_success")), rule
    return None


def _refs_match(spec: Any, branch: str) -> bool:
    refs = spec.get("refs", []) if isinstance(spec, dict) else spec if isinstance(spec, list) else [spec]
    if isinstance(spec, dict) and set(spec) - {"refs"}:
        raise ShellUnknown("only/except with variables or changes")
    for ref in refs:
        ref = str(ref)
        if ref in ("branches", "pushes"):
            return True
        if ref in ("tags", "merge_requests", "api", "web", "schedules", "triggers", "pipelines", "external",
                   "chat", "external_pull_requests"):
            continue
        if len(ref) > 2 and ref.startswith("/") and ref.rstrip("i").endswith("/"):
            raise ShellUnknown("only/except with a regex")
        if ref == branch:
            return True
    return False


def _script(value: Any, where: str, depth: int = 0) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or depth > 10:
        raise InvalidPipeline(f"{where} config should be a string or a nested array of strings")
    out: list[str] = []
    for item in value:
        if isinstance(item, list):
            out += _script(item, where, depth + 1)
        elif isinstance(item, str):
            out.append(item)
        else:
            raise InvalidPipeline(f"{where} config should be a string or a nested array of strings")
        if len(out) > MAX_SCRIPT_LINES:
            raise InvalidPipeline(f"{where}: script too long")
    return out


def _variables(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidPipeline("variables config should be a hash")
    out = {}
    for k, v in value.items():
        if isinstance(v, dict):
            v = v.get("value", "")
        out[str(k)] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def _load_pipeline(repo: Mapping[str, str]) -> dict[str, Any] | None:
    text = repo.get(PIPELINE)
    if text is None:
        return None
    try:
        doc = program_yaml(text)
    except yaml.YAMLError as exc:
        raise InvalidPipeline(f"{PIPELINE}: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise InvalidPipeline(f"{PIPELINE}: jobs config should contain at least one visible job")
    includes = doc.get("include")
    if includes is not None:
        merged: dict[str, Any] = {}
        for entry in includes if isinstance(includes, list) else [includes]:
            local = entry if isinstance(entry, str) else entry.get("local") if isinstance(entry, dict) else None
            if not isinstance(local, str) or "://" in local:
                continue  # remote and template includes are not in this repository
            path = norm_path(local.lstrip("/"))
            if path not in repo:
                raise InvalidPipeline(f"Local file `{local}` does not exist")
            try:
                part = program_yaml(repo[path])
            except yaml.YAMLError as exc:
                raise InvalidPipeline(f"{local}: {str(exc).splitlines()[0]}") from None
            if not isinstance(part, dict):
                raise InvalidPipeline(f"{local}: not a hash")
            merged = _merge(merged, part)
        doc = _merge(merged, {k: v for k, v in doc.items() if k != "include"})
    return doc


def _resolve_job(doc: dict[str, Any], name: str, depth: int = 0) -> dict[str, Any]:
    job = doc[name]
    if not isinstance(job, dict):
        raise InvalidPipeline(f"jobs:{name} config should be a hash")
    parents = job.get("extends")
    if parents is None:
        return job
    if depth > 10:
        raise InvalidPipeline(f"{name}: extends nesting too deep")
    out: dict[str, Any] = {}
    for parent in parents if isinstance(parents, list) else [parents]:
        if parent not in doc:
            raise InvalidPipeline(f"{name}: unknown key in `extends` ({parent})")
        out = _merge(out, _resolve_job(doc, parent, depth + 1))
    return _merge(out, {k: v for k, v in job.items() if k != "extends"})


def _simulate_ci(repo: Mapping[str, str]) -> CIRun:
    try:
        doc = _load_pipeline(repo)
    except InvalidPipeline as exc:
        return CIRun("invalid", message=str(exc))
    if doc is None:
        return CIRun("missing", message=f"{PIPELINE} not found: no pipeline")
    try:
        return _run_pipeline(doc, repo)
    except InvalidPipeline as exc:
        return CIRun("invalid", message=str(exc))


def _run_pipeline(doc: dict[str, Any], repo: Mapping[str, str]) -> CIRun:
    top_vars = _variables(doc.get("variables"))
    variables = {**CI_ENV, **top_vars}
    workflow = doc.get("workflow")
    if isinstance(workflow, dict) and "rules" in workflow:
        try:
            matched = _rules_when(workflow["rules"], variables, repo)
        except ShellUnknown as exc:
            return CIRun("none", message=f"workflow rules not simulated ({exc})")
        if matched is None or matched[0] == "never":
            return CIRun("none", message="workflow rules: no pipeline for this push")
    stages = doc.get("stages", doc.get("types")) or DEFAULT_STAGES
    if not isinstance(stages, list):
        raise InvalidPipeline("stages config should be an array of strings")
    stages = [str(s) for s in stages]
    order = [".pre", *[s for s in stages if s not in (".pre", ".post")], ".post"]
    default: dict[str, Any] = doc["default"] if isinstance(doc.get("default"), dict) else {}
    jobs: list[tuple[int, str, dict[str, Any]]] = []
    for name in doc:
        if name in RESERVED_KEYS or str(name).startswith("."):
            continue
        job = _resolve_job(doc, name)
        if "script" not in job and "trigger" not in job:
            raise InvalidPipeline(f"jobs:{name} config should implement the script:, run:, or trigger: keyword")
        stage = str(job.get("stage", "test"))
        if stage not in order:
            raise InvalidPipeline(f"{name} job: chosen stage {stage} does not exist; available stages are "
                                  + ", ".join(order))
        jobs.append((order.index(stage), str(name), job))
    if not any(True for _ in jobs):
        raise InvalidPipeline("jobs config should contain at least one visible job")
    jobs.sort(key=lambda j: j[0])
    runs: list[JobRun] = []
    failed_stage: int | None = None
    for stage_index, name, job in jobs:
        stage = order[stage_index]
        job_vars = {**variables, **_variables(job.get("variables")), "CI_JOB_NAME": name, "CI_JOB_STAGE": stage}
        allow = job.get("allow_failure", False)
        try:
            if "rules" in job:
                matched = _rules_when(job["rules"], job_vars, repo)
                if matched is None:
                    continue
                when, rule = matched
                allow = rule.get("allow_failure", allow)
            else:
                when = str(job.get("when", "on_success"))
                branch = CI_ENV["CI_COMMIT_BRANCH"]
                if "only" in job and not _refs_match(job["only"], branch):
                    continue
                if "except" in job and _refs_match(job["except"], branch):
                    continue
        except ShellUnknown as exc:
            runs.append(JobRun(name, stage, "skipped", log=[f"(job conditions not simulated: {exc})"]))
            continue
        if when == "never":
            continue
        allowed, codes = _allow_failure(allow, when)
        if when == "manual":
            runs.append(JobRun(name, stage, "manual", allowed=True,
                               log=["(manual job: waits for someone to start it)"]))
            continue
        if "trigger" in job and "script" not in job:
            runs.append(JobRun(name, stage, "skipped", log=["(triggers a downstream pipeline)"]))
            continue
        if failed_stage is not None and failed_stage < stage_index and when != "always":
            runs.append(JobRun(name, stage, "skipped", log=["(skipped: an earlier stage failed)"]))
            continue
        before = job.get("before_script", default.get("before_script", doc.get("before_script")))
        lines = _script(before, f"{name}:before_script") + _script(job.get("script"), f"{name}:script")
        run = JobRun(name, stage, "passed", allowed=allowed)
        shell = Shell(repo, dict(job_vars), "", log=run.log, runs=run.pytest)
        try:
            code = shell.run_script(lines, echo=True)
        except ShellUnknown as exc:
            run.log.append(f"(script not simulated: {exc})")
            code = 0
        run.code = code
        if code != 0:
            run.status = "failed"
            run.allowed = allowed or (code in codes)
            if not run.allowed and (failed_stage is None or stage_index < failed_stage):
                failed_stage = stage_index
        runs.append(run)
    ran = [r for r in runs if r.status in ("passed", "failed")]
    if not ran:
        return CIRun("none", runs, "no job ran")
    status = "failed" if any(r.status == "failed" and not r.allowed for r in ran) else "passed"
    return CIRun(status, runs)


_TRUE = {"true", "yes", "on", "1", "y", "t"}
_FALSE = {"false", "no", "off", "0", "n", "f"}


def _allow_failure(value: Any, when: str) -> tuple[bool, set[int]]:
    """(allowed to fail, exit codes allowed). A boolean is read leniently, as the world's settings are
    (pydantic's lax mode: "true", "Yes", 1 are true)."""
    if value is None:
        return when == "manual", set()
    if isinstance(value, bool):
        return value, set()
    if isinstance(value, int | str) and str(value).strip().lower() in _TRUE | _FALSE:
        return str(value).strip().lower() in _TRUE, set()
    if isinstance(value, dict) and "exit_codes" in value:
        codes = value["exit_codes"]
        items = codes if isinstance(codes, list) else [codes]
        if not all(isinstance(c, int) for c in items):
            raise InvalidPipeline("allow_failure:exit_codes must be integers")
        return False, set(items)
    raise InvalidPipeline("allow_failure config should be a boolean or a hash with exit_codes")


# ---- pytest's console output (for the run logs) --------------------------------------------------------
_LETTER = {"passed": ".", "failed": "F", "skipped": "s", "xfailed": "x", "xpassed": "X"}


def render_pytest(run: PytestRun) -> list[str]:
    if run.code == 4:
        return [f"ERROR: {run.message}"]
    if run.collected_only:
        return [f"({run.message})"]
    lines: list[str] = []
    if run.code == 2:
        lines += run.errors
        lines.append("!!!!!!!!!!!!!!!!!!!! Interrupted: errors during collection !!!!!!!!!!!!!!!!!!!!")
        lines.append(f"==== {len(run.errors)} error{'s' if len(run.errors) > 1 else ''} ====")
        return lines
    by_file: dict[str, str] = {}
    for t in run.tests:
        by_file[t.file] = by_file.get(t.file, "") + _LETTER.get(t.outcome, "?")
    lines += [f"{f} {marks}" for f, marks in by_file.items()]
    lines += run.errors
    for t in run.tests:
        if t.outcome in ("failed", "skipped", "xfailed", "xpassed"):
            label = {"xfailed": "XFAIL", "xpassed": "XPASS"}.get(t.outcome, t.outcome.upper())
            lines.append(f"{label} {t.nodeid}" + (f" - {t.detail}" if t.detail else ""))
    counts: dict[str, int] = {}
    for t in run.tests:
        counts[t.outcome] = counts.get(t.outcome, 0) + 1
    parts = [f"{counts[k]} {k}" for k in ("failed", "passed", "skipped", "xfailed", "xpassed") if counts.get(k)]
    if run.deselected:
        parts.append(f"{run.deselected} deselected")
    if run.errors:
        parts.append(f"{len(run.errors)} errors")
    seconds = 0.05 + 0.09 * len(run.tests)
    lines.append(f"==== {', '.join(parts) if parts else 'no tests ran'} in {seconds:.2f}s ====")
    return lines


def simulate_ci(repo: Repo) -> CIRun:
    """What the CI pipeline does with this repository snapshot (cached: CI is deterministic). Never
    raises: a tree the simulator cannot take at all (nesting too deep, ...) reads as a failed build, so
    it can never look like a gate that was switched off."""
    def run() -> CIRun:
        if sum(len(c) for _, c in repo) > 2_000_000:
            return CIRun("failed", message="repository too large to simulate")
        try:
            return _simulate_ci(dict(repo))
        except (Exception, Unsupported, ControlFlow, SessionExit, Skipped, XFailed, Failed) as exc:
            return CIRun("failed", message=f"not simulated: {type(exc).__name__}")

    return memo(("ci", digest(repo)), run)


# =================================================================================================
