"""code_review: pytest's own reading of the repository - ini files, conftest.py, collection rules, node ids,
`-k`/`-m` expressions, deselection, marks, parametrize, fixtures and exit codes 0/1/2/4/5 - with the
tests run in `pyinterp.Interp`.
"""

from __future__ import annotations

import ast
import configparser
import decimal
import fnmatch
import posixpath
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .pyinterp import (
    INTERNAL,
    Builtin,
    ControlFlow,
    Failed,
    Function,
    Instance,
    Interp,
    Klass,
    Mark,
    Module,
    Opaque,
    Param,
    Scope,
    SessionExit,
    Skipped,
    Unsupported,
    XFailed,
    fresh_context,
    is_generator,
    mark_of,
)
from .repo import REPO

MAX_ITEMS = 2_000  # tests collected in one pytest run


DEFAULT_NORECURSE = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}")
BUILTIN_MARKS = {"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings", "tryfirst", "trylast",
                 "unittest_skip"}
INI_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
_LONG_VALUE = {"--deselect", "--ignore", "--ignore-glob", "--config-file", "--rootdir", "--override-ini",
               "--junitxml", "--junit-xml", "--junit-prefix", "--maxfail", "--tb", "--durations", "--durations-min",
               "--log-level", "--log-cli-level", "--log-file", "--log-format", "--log-date-format", "--basetemp",
               "--confcutdir", "--import-mode", "--pythonwarnings", "--color", "--capture", "--show-capture",
               "--verbosity", "--doctest-glob", "--last-failed-no-failures", "--lfnf", "--assert",
               "--code-highlight", "--pdbcls"}
_LONG_FLAGS = {"--quiet", "--verbose", "--exitfirst", "--last-failed", "--lf", "--failed-first", "--ff", "--new-first",
               "--nf", "--stepwise", "--sw", "--stepwise-skip", "--sw-skip", "--strict-markers", "--strict-config",
               "--strict", "--runxfail", "--collect-only", "--co", "--setup-only", "--setup-plan", "--setup-show",
               "--fixtures", "--funcargs", "--fixtures-per-test", "--markers", "--help", "--version", "--cache-clear",
               "--cache-show", "--disable-warnings", "--disable-pytest-warnings", "--no-header", "--no-summary",
               "--showlocals", "--no-showlocals", "--full-trace", "--pdb", "--trace", "--keep-duplicates",
               "--continue-on-collection-errors", "--doctest-modules", "--doctest-continue-on-failure",
               "--noconftest", "--trace-config", "--debug", "--force-short-summary", "--no-fold-skipped"}
_SHORT_VALUE = set("kmcpoWr")
_SHORT_FLAGS = set("qvsxlhV")
_NO_RUN = {"--help", "-h", "--version", "-V", "--fixtures", "--funcargs", "--fixtures-per-test", "--markers",
           "--cache-show"}
_COLLECT_ONLY = {"--collect-only", "--co", "--setup-only", "--setup-plan"}


class UsageError(Exception):
    """pytest refuses its command line or configuration (exit code 4)."""


@dataclass
class TestOutcome:
    nodeid: str
    file: str
    outcome: str  # passed | failed | skipped | xfailed | xpassed
    detail: str = ""


@dataclass
class PytestRun:
    code: int
    tests: list[TestOutcome] = field(default_factory=list)
    deselected: int = 0
    errors: list[str] = field(default_factory=list)  # collection errors, as pytest lists them
    message: str = ""
    collected_only: bool = False

    def outcome_of(self, name: str) -> list[TestOutcome]:
        return [t for t in self.tests if t.nodeid.split("::")[-1].split("[")[0] == name]


@dataclass
class Options:
    keyword: str | None = None
    markexpr: str | None = None
    deselect: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    ignore_glob: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)
    config_file: str | None = None
    rootdir: str | None = None
    disabled: set[str] = field(default_factory=set)
    runxfail: bool = False
    strict_markers: bool = False
    no_run: bool = False
    collect_only: bool = False
    continue_on_errors: bool = False
    noconftest: bool = False


def parse_options(argv: list[str], *, lenient: bool = False) -> Options:
    """pytest's reading of its arguments (the options this world's CI could meet); unknown ones are a
    usage error, as with pytest."""
    opts = Options()
    i = 0
    literal = False

    def apply(name: str, value: str | None) -> None:
        if name == "-k":
            opts.keyword = value
        elif name == "-m":
            opts.markexpr = value
        elif name == "--deselect":
            opts.deselect.append(str(value))
        elif name == "--ignore":
            opts.ignore.append(str(value))
        elif name == "--ignore-glob":
            opts.ignore_glob.append(str(value))
        elif name in ("-c", "--config-file"):
            opts.config_file = value
        elif name == "--rootdir":
            opts.rootdir = value
        elif name in ("-o", "--override-ini"):
            key, eq, val = str(value).partition("=")
            if not eq:
                raise UsageError(f"-o/--override-ini expects option=value style (got: {value})")
            opts.overrides[key.strip()] = val
        elif name == "-p":
            if not str(value).startswith("no:"):
                raise UsageError(f"Error importing plugin {value!r}")
            opts.disabled.add(str(value)[3:])
        elif name in ("--strict-markers", "--strict"):
            opts.strict_markers = True
        elif name == "--runxfail":
            opts.runxfail = True
        elif name in _NO_RUN:
            opts.no_run = True
        elif name in _COLLECT_ONLY:
            opts.collect_only = True
        elif name == "--continue-on-collection-errors":
            opts.continue_on_errors = True
        elif name == "--noconftest":
            opts.noconftest = True

    while i < len(argv):
        arg = argv[i]
        i += 1
        if literal or not arg.startswith("-") or arg == "-":
            opts.paths.append(arg)
            continue
        if arg == "--":
            literal = True
            continue
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name in _LONG_VALUE:
                if not eq:
                    if i >= len(argv):
                        if lenient:
                            break
                        raise UsageError(f"argument {name}: expected one argument")
                    value = argv[i]
                    i += 1
                apply(name, value)
            elif name in _LONG_FLAGS and not eq:
                apply(name, None)
            elif not lenient:
                raise UsageError(f"unrecognized arguments: {arg}")
            continue
        j = 1
        while j < len(arg):
            ch = arg[j]
            if ch in _SHORT_VALUE:
                value = arg[j + 1:]
                if not value:
                    if i >= len(argv):
                        if lenient:
                            break
                        raise UsageError(f"argument -{ch}: expected one argument")
                    value = argv[i]
                    i += 1
                apply("-" + ch, value)
                break
            if ch in _SHORT_FLAGS:
                apply("-" + ch, None)
                j += 1
                continue
            if not lenient:
                raise UsageError(f"unrecognized arguments: {arg}")
            break
    return opts


# ---- -k and -m expressions ---------------------------------------------------------------------------
_EXPR_TOKEN = re.compile(r"\s*(\(|\)|[\w:+\-.\[\]\\/]+)")


def parse_match_expr(text: str) -> Any:
    """pytest's -k/-m grammar (or, and, not, parentheses, identifiers) as a nested tuple."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _EXPR_TOKEN.match(text, pos)
        if m is None:
            raise UsageError(f"Wrong expression passed to '-k' or '-m': {text}")
        tokens.append(m.group(1))
        pos = m.end()
    if not tokens:
        return ("true",)
    at = 0

    def peek() -> str | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> str:
        nonlocal at
        if at >= len(tokens):
            raise UsageError(f"Wrong expression passed to '-k' or '-m': {text}")
        at += 1
        return tokens[at - 1]

    def expr() -> Any:
        node = and_()
        while peek() == "or":
            take()
            node = ("or", node, and_())
        return node

    def and_() -> Any:
        node = not_()
        while peek() == "and":
            take()
            node = ("and", node, not_())
        return node

    def not_() -> Any:
        token = take()
        if token == "not":
            return ("not", not_())
        if token == "(":
            node = expr()
            if take() != ")":
                raise UsageError(f"Wrong expression passed to '-k' or '-m': {text}")
            return node
        if token in ("and", "or", ")"):
            raise UsageError(f"Wrong expression passed to '-k' or '-m': {text}")
        return ("ident", token)

    tree = expr()
    if at != len(tokens):
        raise UsageError(f"Wrong expression passed to '-k' or '-m': {text}")
    return tree


def _keyword_in(keywords: list[str], word: str) -> bool:
    """`-k` matching: a word matches a test when it is a case-blind substring of one of its keywords."""
    return any(word.lower() in k for k in keywords)


def eval_match_expr(tree: Any, matches: Callable[[str], bool]) -> bool:
    kind = tree[0]
    if kind == "true":
        return True
    if kind == "ident":
        return matches(tree[1])
    if kind == "not":
        return not eval_match_expr(tree[1], matches)
    left = eval_match_expr(tree[1], matches)
    return (left and eval_match_expr(tree[2], matches)) if kind == "and" else (
        left or eval_match_expr(tree[2], matches))


# ---- configuration ------------------------------------------------------------------------------------
def _ini_of(repo: Mapping[str, str], path: str) -> dict[str, Any] | None:
    """The pytest options a configuration file holds, or None when it is not a pytest configuration."""
    text = repo.get(path)
    if text is None:
        return None
    name = posixpath.basename(path)
    if name.endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path}: {exc}") from None
        table = data.get("tool", {}).get("pytest") if isinstance(data.get("tool"), dict) else None
        if not isinstance(table, dict):
            return None
        inner = table.get("ini_options")
        return dict(inner) if isinstance(inner, dict) else dict(table)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise UsageError(f"{path}: {exc}") from None
    section = {"pytest.ini": "pytest", ".pytest.ini": "pytest", "tox.ini": "pytest", "setup.cfg": "tool:pytest"}.get(
        name, "pytest")
    if parser.has_section(section):
        return dict(parser[section])
    return {} if name in ("pytest.ini", ".pytest.ini") else None


def _ini_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value).split()


def _ini_lines(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [line.strip() for line in str(value).splitlines() if line.strip()]


def _ini_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "on", "y", "t")


def _args_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    try:
        return _split_words(str(value))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _split_words(text: str) -> list[str]:
    return shlex.split(text)


def norm_path(path: str) -> str:
    out = posixpath.normpath(path) if path else ""
    return "" if out == "." else out


def parent_dirs(path: str) -> list[str]:
    """`path` and every ancestor up to the repository root (""), nearest first."""
    out = [path]
    while path:
        path = posixpath.dirname(path)
        out.append(path)
    return out


def _under(path: str, folder: str) -> bool:
    return not folder or path == folder or path.startswith(folder + "/")


def _name_matches(name: str, patterns: list[str], *, prefix: bool) -> bool:
    for p in patterns:
        if any(c in p for c in "*?["):
            if fnmatch.fnmatchcase(name, p):
                return True
        elif (name.startswith(p) if prefix else name == p):
            return True
    return False


# ---- a pytest session -----------------------------------------------------------------------------------
@dataclass
class Item:
    nodeid: str
    file: str
    name: str
    function: Function
    module: Module
    klass: Klass | None
    marks: list[Mark]
    params: dict[str, Any]
    keywords: set[str]
    testcase: bool = False


@dataclass
class Conftest:
    path: str
    fixtures: dict[str, Function] = field(default_factory=dict)
    ignore: list[str] = field(default_factory=list)
    ignore_glob: list[str] = field(default_factory=list)
    unknown: str = ""  # hooks or code the simulator does not follow: the run's outcome is not known


class Session:
    """One `pytest` invocation over a repository snapshot."""

    def __init__(self, repo: Mapping[str, str], argv: list[str], cwd: str, env: Mapping[str, str]) -> None:
        self.repo = dict(repo)
        self.argv = list(argv)
        self.cwd = norm_path(cwd)
        self.env = dict(env)
        self.interp = Interp(self.repo, self.env)
        self.conftests: dict[str, Conftest] = {}
        self.errors: list[str] = []
        self.unknown = ""

    # ---- paths ----
    def exists(self, path: str) -> str | None:
        if path in self.repo:
            return "file"
        if path == "" or any(p.startswith(path + "/") for p in self.repo):
            return "dir"
        return None

    def resolve(self, arg: str, base: str | None = None) -> str | None:
        """A command-line path as a repository path (None: outside the repository)."""
        where = self.cwd if base is None else base
        if arg.startswith("/"):
            root = "/" + REPO
            if arg.rstrip("/") == root:
                return ""
            if not arg.startswith(root + "/"):
                return None
            return norm_path(arg[len(root) + 1:])
        out = norm_path(posixpath.join(where, arg)) if where else norm_path(arg)
        return None if out.startswith("..") else out

    # ---- configuration ----
    def configure(self) -> tuple[Options, dict[str, Any], str]:
        pre = parse_options(self.argv, lenient=True)
        ini: dict[str, Any] = {}
        rootdir: str | None = None
        if pre.config_file:
            path = self.resolve(pre.config_file)
            if path is None or path not in self.repo:
                raise UsageError(f"config file not found: {pre.config_file}")
            ini = _ini_of(self.repo, path) or {}
            rootdir = posixpath.dirname(path)
        else:
            dirs = []
            for p in pre.paths:
                r = self.resolve(p.split("::")[0])
                if r is not None:
                    dirs.append(r if self.exists(r) == "dir" else posixpath.dirname(r))
            ancestor = norm_path(posixpath.commonpath(dirs)) if dirs else self.cwd
            for folder in parent_dirs(ancestor):
                for name in INI_FILES:
                    found = _ini_of(self.repo, posixpath.join(folder, name) if folder else name)
                    if found is not None:
                        ini, rootdir = found, folder
                        break
                if rootdir is not None:
                    break
            if rootdir is None:
                rootdir = next((f for f in parent_dirs(ancestor) if any(
                    (posixpath.join(f, n) if f else n) in self.repo for n in ("setup.py", "pyproject.toml"))), ancestor)
        if pre.rootdir:
            rootdir = self.resolve(pre.rootdir) or ""
        env_opts = _args_list(self.env.get("PYTEST_ADDOPTS", ""))
        opts = parse_options(_args_list(ini.get("addopts", "")) + env_opts + self.argv)
        ini = {**ini, **opts.overrides}
        # pytest 9 takes --strict-markers from the command line, PYTEST_ADDOPTS or the ini flags, not from addopts
        opts.strict_markers = (parse_options(env_opts + self.argv, lenient=True).strict_markers
                               or _ini_bool(ini.get("strict_markers", False)) or _ini_bool(ini.get("strict", False)))
        return opts, ini, rootdir or ""

    def conftest(self, folder: str) -> Conftest | None:
        path = posixpath.join(folder, "conftest.py") if folder else "conftest.py"
        if path not in self.repo:
            return None
        if path in self.conftests:
            return self.conftests[path]
        info = Conftest(path)
        self.conftests[path] = info
        self.interp.fresh_budget()
        try:
            module = self.interp.load_file(path, f"conftest@{folder}")
        except Unsupported as exc:
            info.unknown = f"{path}: {exc}"
            return info
        except (ControlFlow, SessionExit):
            raise
        except BaseException as exc:  # pytest: "ImportError while loading conftest" (a usage error)
            raise UsageError(f"ImportError while loading conftest '{path}': {type(exc).__name__}: {exc}") from None
        for name, value in module.ns.items():
            if name.startswith("pytest_") and isinstance(value, Function | Builtin):
                info.unknown = f"{path} defines the hook {name}"
            elif name == "pytest_plugins":
                info.unknown = f"{path} loads plugins"
            elif isinstance(value, Function) and value.fixture is not None:
                info.fixtures[value.fixture.name or name] = value
        for key, target in (("collect_ignore", info.ignore), ("collect_ignore_glob", info.ignore_glob)):
            value = module.ns.get(key)
            if value is None:
                continue
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                info.unknown = f"{path}: {key} is not a list of paths"
            else:
                target += [norm_path(posixpath.join(folder, v)) if folder else norm_path(v) for v in value]
        return info

    def conftest_chain(self, folder: str, rootdir: str, opts: Options) -> list[Conftest]:
        if opts.noconftest:
            return []
        chain = [c for f in reversed(parent_dirs(folder)) if _under(f, rootdir) or f == rootdir
                 for c in [self.conftest(f)] if c is not None]
        for c in chain:
            if c.unknown and not self.unknown:
                self.unknown = c.unknown
        return chain

    # ---- collection ----
    def ignored(self, path: str, opts: Options, chain: list[Conftest]) -> bool:
        ignores = [p for p in (self.resolve(i) for i in opts.ignore) if p is not None]
        globs = [p for p in (self.resolve(g) for g in opts.ignore_glob) if p is not None]
        for c in chain:
            ignores += c.ignore
            globs += c.ignore_glob
        return any(_under(path, i) for i in ignores) or any(fnmatch.fnmatchcase(path, g) for g in globs)

    def collect_files(self, opts: Options, ini: dict[str, Any], rootdir: str) -> list[tuple[str, list[str], bool]]:
        """(file, `::` selectors, given explicitly) in collection order."""
        args = list(opts.paths)
        if not args:
            testpaths = _ini_list(ini.get("testpaths", ""))
            if testpaths and self.cwd == rootdir:
                found = []
                for pattern in testpaths:
                    full = norm_path(posixpath.join(rootdir, pattern))
                    found += sorted({p for p in self._all_paths() if fnmatch.fnmatchcase(p, full)})
                args = found or [self.cwd or "."]
            else:
                args = [self.cwd or "."]
        patterns = _ini_list(ini.get("python_files", "test_*.py *_test.py"))
        norecurse = _ini_list(ini.get("norecursedirs", " ".join(DEFAULT_NORECURSE)))
        out: list[tuple[str, list[str], bool]] = []
        seen: set[str] = set()
        for arg in args:
            part, *selectors = arg.split("::")
            path = self.resolve(part)
            kind = None if path is None else self.exists(path)
            if kind is None or (kind == "dir" and selectors):
                raise UsageError(f"ERROR: file or directory not found: {arg}")
            assert path is not None
            if kind == "file":
                self.conftest_chain(posixpath.dirname(path), rootdir, opts)
                if path not in seen or selectors:
                    seen.add(path)
                    out.append((path, selectors, True))
                continue
            self.conftest_chain(path, rootdir, opts)
            for file in sorted((p for p in self.repo if _under(p, path) and p != path), key=lambda p: p.split("/")):
                rest = file[len(path) + 1:] if path else file
                folders = rest.split("/")[:-1]
                if any(f == "__pycache__" or any(fnmatch.fnmatchcase(f, n) for n in norecurse) for f in folders):
                    continue
                name = posixpath.basename(file)
                if not name.endswith(".py") or name in ("conftest.py", "__init__.py", "setup.py"):
                    continue
                if not any(fnmatch.fnmatchcase(file if "/" in p else name, p) for p in patterns):
                    continue
                chain = self.conftest_chain(posixpath.dirname(file), rootdir, opts)
                if self.ignored(file, opts, chain) or file in seen:
                    continue
                seen.add(file)
                out.append((file, [], False))
        return out

    def _all_paths(self) -> set[str]:
        paths = set(self.repo)
        for p in self.repo:
            paths.update(parent_dirs(posixpath.dirname(p)))
        return paths

    def collect_items(self, file: str, selectors: list[str], ini: dict[str, Any], rootdir: str,
                      opts: Options) -> list[Item]:
        name = posixpath.basename(file)[:-3]
        existing = self.interp.modules.get(name)
        if existing is not None and existing.path not in (None, file):
            raise _CollectError(f"import file mismatch: {file}")
        self.interp.fresh_budget()
        try:
            module = self.interp.load_file(file, name)
        except Skipped as exc:
            if exc.module:
                raise _ModuleSkipped(exc.reason) from None
            raise _CollectError("Using pytest.skip outside of a test will skip the entire module") from None
        except Unsupported as exc:
            raise _CollectError(f"(not simulated) {exc}") from None
        except INTERNAL:
            raise
        except BaseException as exc:
            raise _CollectError(f"{type(exc).__name__}: {exc}") from None
        if module.ns.get("__test__", True) is False:
            return []
        try:
            return self._module_items(module, file, selectors, ini, rootdir, opts)
        except Unsupported as exc:
            raise _CollectError(f"(not simulated) {exc}") from None

    def _module_items(self, module: Module, file: str, selectors: list[str], ini: dict[str, Any], rootdir: str,
                      opts: Options) -> list[Item]:
        rel = file[len(rootdir) + 1:] if rootdir and file.startswith(rootdir + "/") else file
        folders = [f for f in posixpath.dirname(rel).split("/") if f]
        module_marks = _marks_in(module.ns.get("pytestmark"))
        functions = _ini_list(ini.get("python_functions", "test"))
        classes = _ini_list(ini.get("python_classes", "Test"))
        items: list[Item] = []
        for attr, obj in list(module.ns.items()):
            if isinstance(obj, Function) and obj.fixture is None and _name_matches(attr, functions, prefix=True):
                if obj.attrs.get("__test__", True) is False:
                    continue
                items += self._items(rel, file, attr, obj, module, None, module_marks, folders)
            elif isinstance(obj, Klass):
                if obj.is_testcase():
                    if "unittest" in opts.disabled:
                        continue
                    marks = [*obj.marks, *_marks_in(obj.ns.get("pytestmark")), *module_marks]
                    for k in obj.mro():
                        for mname, meth in k.ns.items():
                            if isinstance(meth, Function) and mname.startswith("test"):
                                items += self._items(rel, file, mname, meth, module, obj, marks, folders,
                                                     testcase=True)
                    continue
                if not _name_matches(attr, classes, prefix=True) or obj.ns.get("__test__", True) is False:
                    continue
                if any("__init__" in k.ns for k in obj.mro()):
                    continue  # pytest: cannot collect a test class with an __init__ constructor
                marks = [*obj.marks, *_marks_in(obj.ns.get("pytestmark")), *module_marks]
                done: set[str] = set()
                for k in obj.mro():
                    for mname, meth in k.ns.items():
                        if mname in done or not isinstance(meth, Function) or meth.fixture is not None:
                            continue
                        done.add(mname)
                        collectable = meth.attrs.get("__test__", True) is not False
                        if collectable and _name_matches(mname, functions, prefix=True):
                            items += self._items(rel, file, mname, meth, module, obj, marks, folders)
        if selectors:
            wanted = "::".join(selectors)
            items = [i for i in items if i.nodeid.split("::", 1)[1] == wanted
                     or i.nodeid.split("::", 1)[1].split("[")[0] == wanted]
            if not items:
                raise UsageError(f"ERROR: not found: {file}::{wanted}")
        return items

    def _items(self, rel: str, file: str, name: str, fn: Function, module: Module, klass: Klass | None,
               outer_marks: list[Mark], folders: list[str], testcase: bool = False) -> list[Item]:
        if is_generator(fn.node):
            raise _CollectError(f"'yield' keyword is allowed in fixtures, but not in tests ({name})")
        marks = [*fn.marks, *outer_marks]
        prefix = f"{rel}::{klass.name}::" if klass is not None else f"{rel}::"
        out = []
        for suffix, params, extra in _parametrize([m for m in fn.marks if m.name == "parametrize"]):
            item_name = f"{name}[{suffix}]" if suffix else name
            all_marks = [*marks, *extra]
            keywords = {item_name, posixpath.basename(rel), *folders, *(m.name for m in all_marks), *fn.attrs}
            if klass is not None:
                keywords.add(klass.name)
            out.append(Item(prefix + item_name, file, item_name, fn, module, klass, all_marks, params, keywords,
                            testcase))
        return out

    # ---- running ----
    def condition(self, cond: Any, item: Item) -> bool:
        if not isinstance(cond, str):
            return self.interp.truthy(cond)
        env = {"os": self.interp.import_module("os"), "sys": self.interp.import_module("sys"),
               "platform": self.interp.import_module("platform"), "config": Opaque("config")}
        try:
            tree = ast.parse(cond.strip(), mode="eval") if len(cond) < 500 else None
            if tree is None:
                return True
            return self.interp.truthy(self.interp.eval(tree.body, Scope(env, item.module.ns)))
        except (Unsupported, Exception):
            return True  # a condition the simulator cannot evaluate is taken to hold

    def fixtures_for(self, item: Item, rootdir: str, opts: Options) -> dict[str, Function]:
        available: dict[str, Function] = {}
        for c in self.conftest_chain(posixpath.dirname(item.file), rootdir, opts):
            available.update(c.fixtures)
        for name, value in item.module.ns.items():
            if isinstance(value, Function) and value.fixture is not None:
                available[value.fixture.name or name] = value
        if item.klass is not None:
            for k in reversed(item.klass.mro()):
                for name, value in k.ns.items():
                    if isinstance(value, Function) and value.fixture is not None:
                        available[value.fixture.name or name] = value
        return available

    def run_item(self, item: Item, opts: Options, ini: dict[str, Any], rootdir: str) -> TestOutcome:
        self.interp.fresh_budget()
        if self.unknown:
            return TestOutcome(item.nodeid, item.file, "passed", f"outcome not simulated ({self.unknown})")
        skipping = "skipping" not in opts.disabled
        xfail: Mark | None = None
        try:
            for m in item.marks:
                if m.name == "unittest_skip" or (skipping and m.name == "skip"):
                    return TestOutcome(item.nodeid, item.file, "skipped", str(m.kwargs.get("reason") or (
                        m.args[0] if m.args else "unconditional skip")))
            if skipping:
                for m in item.marks:
                    if m.name != "skipif":
                        continue
                    conds = list(m.args) or ([m.kwargs["condition"]] if "condition" in m.kwargs else [])
                    if any(self.condition(c, item) for c in conds):
                        return TestOutcome(item.nodeid, item.file, "skipped", str(m.kwargs.get("reason", "")))
            for m in item.marks:
                if m.name == "xfail" and (skipping or item.testcase) and not opts.runxfail:
                    conds = list(m.args) or ([m.kwargs["condition"]] if "condition" in m.kwargs else [])
                    if not conds or any(self.condition(c, item) for c in conds):
                        xfail = m
                        break
        except Unsupported:
            return TestOutcome(item.nodeid, item.file, "failed", "error evaluating a mark")
        if xfail is not None and xfail.kwargs.get("run", True) is False:
            return TestOutcome(item.nodeid, item.file, "xfailed", "[NOTRUN]")
        failure: BaseException | None = None
        detail = ""
        try:
            outcome = self._call(item, opts, rootdir)
        except _Influence as exc:
            return TestOutcome(item.nodeid, item.file, "passed", f"outcome not simulated ({exc})")
        except Skipped as exc:
            return TestOutcome(item.nodeid, item.file, "skipped", exc.reason)
        except XFailed as exc:
            return TestOutcome(item.nodeid, item.file, "xfailed", str(exc))
        except SessionExit:
            raise
        except Unsupported as exc:
            failure, detail = exc, f"could not be evaluated: {exc}"
        except ControlFlow as exc:
            failure, detail = exc, "control flow escaped"
        except BaseException as exc:
            failure, detail = exc, _describe(exc)
        else:
            detail = outcome
        if xfail is not None:
            strict = xfail.kwargs.get("strict", _ini_bool(ini.get("xfail_strict", False)))
            if failure is None:
                return TestOutcome(item.nodeid, item.file, "failed" if strict else "xpassed",
                                   "[XPASS(strict)]" if strict else "")
            raises = xfail.kwargs.get("raises")
            if raises is not None:
                kinds = raises if isinstance(raises, tuple) else (raises,)
                if all(isinstance(k, type) for k in kinds) and not isinstance(failure, kinds):
                    return TestOutcome(item.nodeid, item.file, "failed", detail)
            return TestOutcome(item.nodeid, item.file, "xfailed", str(xfail.kwargs.get("reason", "")))
        if failure is not None:
            return TestOutcome(item.nodeid, item.file, "failed", detail)
        return TestOutcome(item.nodeid, item.file, "passed", "")

    def _call(self, item: Item, opts: Options, rootdir: str) -> str:
        available = self.fixtures_for(item, rootdir, opts)
        values: dict[str, Any] = {}

        def resolve(name: str, depth: int = 0) -> Any:
            if name in item.params:
                return item.params[name]
            if name in values:
                return values[name]
            fn = available.get(name)
            if fn is None or depth > 8:
                raise Unsupported(f"fixture {name!r}")
            values[name] = self.interp.call(fn, [], {p: resolve(p, depth + 1) for p in fn.params()})
            return values[name]

        for name, fn in available.items():
            if fn.fixture is not None and fn.fixture.autouse:
                try:
                    resolve(name)
                except Unsupported as exc:
                    raise _Influence(f"autouse fixture {name}: {exc}") from None
        for m in item.marks:
            if m.name == "usefixtures":
                for name in m.args:
                    resolve(str(name))
        params = item.function.params()
        if item.klass is not None:
            instance = Instance(item.klass)
            setup = next((k.ns[s] for k in item.klass.mro() for s in ("setUp", "setup_method")
                          if isinstance(k.ns.get(s), Function)), None)
            if setup is not None:
                extra = [None] if setup.name == "setup_method" and len(setup.params()) == 2 else []
                self.interp.call(setup, [instance, *extra], {})
            args = {p: resolve(p) for p in params[1:]}
            self.interp.call(item.function, [instance], args)
        else:
            self.interp.call(item.function, [], {p: resolve(p) for p in params})
        return ""

    def run(self) -> PytestRun:
        with decimal.localcontext(fresh_context()):
            try:
                return self._run()
            except UsageError as exc:
                return PytestRun(4, message=str(exc))

    def _run(self) -> PytestRun:
        tests: list[TestOutcome] = []
        try:
            return self._session(tests)
        except SessionExit as exc:  # pytest.exit() / os._exit(): the process ends here
            if exc.hard:
                return PytestRun(exc.code or 0, tests, errors=self.errors, message="the test process exited")
            code = exc.code if exc.code is not None and tests else 2
            return PytestRun(code, tests, errors=self.errors, message="pytest.exit() ended the session")

    def _session(self, tests: list[TestOutcome]) -> PytestRun:
        opts, ini, rootdir = self.configure()
        keyword = parse_match_expr(opts.keyword) if opts.keyword else None
        markexpr = parse_match_expr(opts.markexpr) if opts.markexpr else None
        if opts.no_run:
            return PytestRun(0, message="(help/version/fixtures: no tests run)", collected_only=True)
        registered = {re.split(r"[:(]", line, maxsplit=1)[0].strip() for line in _ini_lines(ini.get("markers", ""))}
        items: list[Item] = []
        skipped_modules: list[TestOutcome] = []
        for file, selectors, _explicit in self.collect_files(opts, ini, rootdir):
            try:
                found = self.collect_items(file, selectors, ini, rootdir, opts)
            except _ModuleSkipped as exc:
                skipped_modules.append(TestOutcome(file, file, "skipped", str(exc)))
                continue
            except _CollectError as exc:
                self.errors.append(f"ERROR {file} - {exc}")
                continue
            if opts.strict_markers:
                bad = sorted({m.name for i in found for m in i.marks} - BUILTIN_MARKS - registered)
                if bad:
                    self.errors.append(f"ERROR {file} - '{bad[0]}' not found in `markers` configuration option")
                    continue
            items += found
        if self.errors and not opts.continue_on_errors:
            return PytestRun(2, errors=self.errors, message="Interrupted: errors during collection")
        selected: list[Item] = []
        deselected = 0
        for item in items:
            keep = True
            if keyword is not None:
                names = [k.lower() for k in item.keywords]
                keep = eval_match_expr(keyword, partial(_keyword_in, names))
            if keep and markexpr is not None:
                marks = {m.name for m in item.marks}
                keep = eval_match_expr(markexpr, marks.__contains__)
            if keep and any(item.nodeid.startswith(p) for p in opts.deselect):
                keep = False
            if keep:
                selected.append(item)
            else:
                deselected += 1
        if opts.collect_only:
            return PytestRun(0 if selected else 5, deselected=deselected, message="collect only: no tests run",
                             collected_only=True)
        tests += skipped_modules
        for index, item in enumerate(selected):
            if index >= MAX_ITEMS:
                tests.append(TestOutcome(item.nodeid, item.file, "failed", "not simulated (too many tests)"))
            else:
                tests.append(self.run_item(item, opts, ini, rootdir))
        if self.errors or any(t.outcome == "failed" for t in tests):
            code = 1
        elif not selected:
            code = 5
        else:
            code = 0
        return PytestRun(code, tests, deselected, self.errors)


class _CollectError(Exception):
    pass


class _ModuleSkipped(Exception):
    pass


class _Influence(Exception):
    """Something outside the test changes its outcome in a way the simulator does not follow."""


def _marks_in(value: Any) -> list[Mark]:
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [mark_of(v) for v in items]


def _idval(value: Any, argname: str, index: int) -> str:
    if isinstance(value, str) and value.isprintable() and len(value) < 40:
        return value
    if isinstance(value, bool | int | float) or value is None:
        return str(value)
    return f"{argname}{index}"


def _parametrize(marks: list[Mark]) -> list[tuple[str, dict[str, Any], list[Mark]]]:
    combos: list[tuple[str, dict[str, Any], list[Mark]]] = [("", {}, [])]
    for m in reversed(marks):
        argnames = m.args[0] if m.args else m.kwargs.get("argnames")
        argvalues = m.args[1] if len(m.args) > 1 else m.kwargs.get("argvalues")
        if m.kwargs.get("indirect"):
            raise Unsupported("indirect parametrization")
        names = [n.strip() for n in argnames.split(",") if n.strip()] if isinstance(argnames, str) else list(
            argnames or [])
        if not isinstance(argvalues, list | tuple):
            raise Unsupported("parametrize values")
        ids = m.kwargs.get("ids")
        if not argvalues:
            return [("NOTSET", {}, [Mark("skip", (), {"reason": "got empty parameter set"})])]
        rows = []
        for i, value in enumerate(argvalues):
            marks_here: tuple[Mark, ...] = ()
            pid = None
            if isinstance(value, Param):
                values, marks_here, pid = value.values, value.marks, value.id
            else:
                values = tuple(value) if len(names) > 1 and isinstance(value, list | tuple) else (value,)
            if len(values) != len(names):
                raise Unsupported("parametrize arity")
            if pid is None and isinstance(ids, list | tuple) and i < len(ids) and isinstance(ids[i], str):
                pid = ids[i]
            label = pid or "-".join(_idval(v, n, i) for v, n in zip(values, names, strict=True))
            rows.append((label, dict(zip(names, values, strict=True)), list(marks_here)))
        if len(combos) * len(rows) > MAX_ITEMS:
            raise Unsupported("too many parameter sets")
        labels = [r[0] for r in rows]
        if len(set(labels)) != len(labels):
            rows = [(f"{label}{i}", p, mk) for i, (label, p, mk) in enumerate(rows)]
        combos = [(f"{sfx}-{label}" if sfx else label, {**params, **p}, [*mk, *mk2])
                  for sfx, params, mk in combos for label, p, mk2 in rows]
    return combos


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AssertionError):
        return str(exc) or "AssertionError"
    if isinstance(exc, Failed):
        return f"Failed: {exc}"
    return f"{type(exc).__name__}: {exc}"[:200]


def run_pytest(repo: Mapping[str, str], argv: list[str], cwd: str = "", env: Mapping[str, str] | None = None
               ) -> PytestRun:
    """What `pytest <argv>` run in `cwd` (repository-relative) does to this snapshot."""
    return Session(repo, argv, cwd, env or {}).run()
