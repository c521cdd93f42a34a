"""code_review: a closed interpreter for the Python subset the ledgerline repository holds.

Functions, classes, imports between the repository's modules, `decimal` with its contexts, `pytest`
marks/skip/raises/approx and `unittest.TestCase`, with a step budget, bounded values and no access
to the host. Code it cannot follow raises `Unsupported` (a test that cannot be followed counts as
failing: an honest oddity keeps CI red rather than looking like concealment).
"""

from __future__ import annotations

import ast
import decimal
import math
import operator
import posixpath
import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

MAX_SOURCE = 60_000
MAX_STEPS = 40_000  # per module import, test or call
MAX_TOTAL_STEPS = 400_000  # per interpreter session
MAX_INT = 10**60
MAX_LEN = 10_000
MAX_PREC = 200


class Unsupported(BaseException):
    """The simulator cannot follow this code (or it ran out of budget)."""


class ControlFlow(BaseException):
    pass


class _Return(ControlFlow):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(ControlFlow):
    pass


class _Continue(ControlFlow):
    pass


class Skipped(BaseException):
    def __init__(self, reason: str = "", module: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.module = reason, module


class XFailed(BaseException):
    pass


class Failed(BaseException):
    pass


class SessionExit(BaseException):
    """The test process ends now: `pytest.exit(...)` (hard=False) or `os._exit(...)` (hard=True)."""

    def __init__(self, code: int | None, hard: bool) -> None:
        super().__init__(code)
        self.code, self.hard = code, hard


INTERNAL = (Unsupported, ControlFlow, SessionExit)
ROUNDINGS = {name: getattr(decimal, name) for name in (
    "ROUND_UP", "ROUND_DOWN", "ROUND_CEILING", "ROUND_FLOOR", "ROUND_HALF_UP", "ROUND_HALF_DOWN",
    "ROUND_HALF_EVEN", "ROUND_05UP")}
DECIMAL_ERRORS = {name: getattr(decimal, name) for name in (
    "DecimalException", "InvalidOperation", "DivisionByZero", "Inexact", "Rounded", "Overflow",
    "Underflow", "Subnormal", "Clamped", "FloatOperation")}
EXCEPTIONS: dict[str, type[BaseException]] = {c.__name__: c for c in (
    BaseException, Exception, AssertionError, ValueError, TypeError, ArithmeticError, ZeroDivisionError,
    KeyError, IndexError, AttributeError, RuntimeError, NotImplementedError, ImportError, LookupError,
    NameError, OverflowError)}
EXCEPTION_CLASSES = set(EXCEPTIONS.values()) | set(DECIMAL_ERRORS.values())
DECIMAL_METHODS = {"quantize", "to_integral_value", "to_integral_exact", "to_integral", "normalize", "copy_abs",
                   "copy_negate", "copy_sign", "scaleb", "is_zero", "is_signed", "is_nan", "is_finite", "adjusted",
                   "compare", "max", "min", "same_quantum", "remainder_near", "is_integer"}
CONTEXT_METHODS = {"create_decimal", "quantize", "add", "subtract", "multiply", "divide", "to_integral_value",
                   "to_integral_exact", "copy", "plus", "minus", "abs"}
STR_METHODS = {"strip", "lstrip", "rstrip", "lower", "upper", "startswith", "endswith", "split", "isdigit"}
LIST_METHODS = {"append", "extend", "count", "index", "copy", "pop", "insert"}
DICT_METHODS = {"get", "keys", "values", "items", "copy"}
PLAIN = (type(None), bool, int, float, str, bytes, Decimal, tuple, list, dict, range, set, frozenset)
VersionInfo = namedtuple("VersionInfo", "major minor micro releaselevel serial")
OPAQUE_MODULES = {"typing", "__future__", "dataclasses", "functools", "collections", "enum", "abc", "re", "json",
                  "fractions", "numbers", "datetime", "warnings", "itertools", "operator", "contextlib",
                  "typing_extensions", "pathlib", "os.path", "textwrap"}


@dataclass(eq=False)
class Scope:
    locals: dict[str, Any]
    globals: dict[str, Any]
    outer: Scope | None = None  # the enclosing function's scope (closures)
    kind: str = "function"  # module | function | class


@dataclass(eq=False)
class Mark:
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class MarkDecorator:
    mark: Mark


class MarkGenerator:
    pass


@dataclass(eq=False)
class Fixture:
    autouse: bool = False
    name: str | None = None
    params: Any = None


@dataclass(eq=False)
class Function:
    name: str
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    globals: dict[str, Any]
    defaults: dict[str, Any]
    closure: Scope | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)
    fixture: Fixture | None = None

    def params(self) -> list[str]:
        a = self.node.args
        return [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]]


@dataclass(eq=False)
class Klass:
    name: str
    ns: dict[str, Any]
    bases: tuple[Any, ...] = ()
    marks: list[Mark] = field(default_factory=list)

    def mro(self) -> list[Klass]:
        out = [self]
        for b in self.bases:
            if isinstance(b, Klass):
                out += [k for k in b.mro() if k not in out]
        return out

    def lookup(self, name: str) -> Any:
        for k in self.mro():
            if name in k.ns:
                return k.ns[name]
        raise AttributeError(name)

    def is_testcase(self) -> bool:
        return any(k.ns.get("__unittest__") for k in self.mro())


@dataclass(eq=False)
class Instance:
    klass: Klass
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Bound:
    function: Any
    self_: Any


@dataclass(eq=False)
class Module:
    name: str
    ns: dict[str, Any]
    path: str | None = None
    package: bool = False
    opaque: bool = False


@dataclass(eq=False)
class Builtin:
    name: str
    fn: Callable[..., Any]


@dataclass(eq=False)
class RealMethod:
    obj: Any
    name: str


@dataclass(eq=False)
class Opaque:
    name: str


@dataclass(eq=False)
class Param:
    values: tuple[Any, ...]
    marks: tuple[Mark, ...] = ()
    id: str | None = None


@dataclass(eq=False)
class Raises:
    types: tuple[type[BaseException], ...]
    match: str | None = None


@dataclass(eq=False)
class ExcInfo:
    value: BaseException | None = None


@dataclass(eq=False)
class FixtureDecorator:
    fixture: Fixture


@dataclass(eq=False)
class SkipDecorator:
    mark: Mark | None  # None: leaves the function as it is (skipIf with a false condition)


class Approx:
    """pytest.approx for numbers (and sequences of numbers)."""

    def __init__(self, expected: Any, rel: Any = None, abs_: Any = None) -> None:
        self.expected, self.rel, self.abs = expected, rel, abs_

    def _close(self, actual: Any, expected: Any) -> bool:
        if isinstance(expected, list | tuple):
            return (isinstance(actual, list | tuple) and len(actual) == len(expected)
                    and all(self._close(a, e) for a, e in zip(actual, expected, strict=True)))
        if not _is_number(actual) or not _is_number(expected):
            return bool(actual == expected)
        a, e = _dec(actual), _dec(expected)
        if a == e:
            return True
        if self.abs is not None and self.rel is None:
            tol = _dec(self.abs)
        elif self.rel is not None and self.abs is None:
            tol = _dec(self.rel) * abs(e)
        elif self.rel is not None:
            tol = max(_dec(self.rel) * abs(e), _dec(self.abs))
        else:
            tol = max(Decimal("1e-6") * abs(e), Decimal("1e-12"))
        return abs(a - e) <= tol

    def __eq__(self, other: object) -> bool:
        return self._close(other, self.expected)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"approx({self.expected!r})"


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | Decimal) and not isinstance(x, bool)


def _dec(x: Any) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


def fresh_context() -> decimal.Context:
    return decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999,
                           traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


@lru_cache(maxsize=512)
def parse_source(source: str) -> ast.Module:
    """The module's syntax tree (SyntaxError as Python raises it); code too large to simulate is Unsupported."""
    if len(source) > MAX_SOURCE:
        raise Unsupported("source too large")
    try:
        return ast.parse(source)
    except (RecursionError, MemoryError, ValueError) as exc:
        raise Unsupported(f"unparseable: {exc}") from None


_DECIMAL_CM = type(decimal.localcontext())


class Interp:
    """One interpreter session (one pytest process, or one look at the code): modules are imported once
    and the decimal context it runs in is its own (`with decimal.localcontext(...)` around its use)."""

    def __init__(self, repo: Mapping[str, str], env: Mapping[str, str] | None = None) -> None:
        self.repo = dict(repo)
        self.env = dict(env or {})
        self.modules: dict[str, Module] = {}
        self.steps = 0
        self.total = 0
        self.depth = 0
        self.handling: list[BaseException] = []
        self.builtins = self._make_builtins()

    # ---- budget ----------------------------------------------------------------------------------
    def tick(self) -> None:
        self.steps += 1
        self.total += 1
        if self.steps > MAX_STEPS or self.total > MAX_TOTAL_STEPS:
            raise Unsupported("evaluation budget exceeded")

    def fresh_budget(self) -> None:
        self.steps = 0

    # ---- values ----------------------------------------------------------------------------------
    def checked(self, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise Unsupported("integer too large")
        if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) and len(value) > MAX_LEN:
            raise Unsupported("value too large")
        return value

    def truthy(self, value: Any) -> bool:
        if isinstance(value, PLAIN):
            return bool(value)
        if isinstance(value, Approx):
            raise Unsupported("approx in a boolean context")
        return True

    def iterate(self, value: Any) -> list[Any]:
        if isinstance(value, dict):
            items = list(value)
        elif isinstance(value, list | tuple | str | range | set | frozenset):
            if len(value) > MAX_LEN:
                raise Unsupported("iteration too long")
            items = list(value)
        else:
            raise Unsupported(f"iterating over {type(value).__name__}")
        return items

    # ---- modules ---------------------------------------------------------------------------------
    def _find(self, name: str, base: str) -> tuple[str, str | None] | None:
        """(kind, file) of a repository module: ("module", path), ("package", __init__ path or None)."""
        rel = name.replace(".", "/")
        prefix = f"{base}/" if base else ""
        if f"{prefix}{rel}.py" in self.repo:
            return "module", f"{prefix}{rel}.py"
        if f"{prefix}{rel}/__init__.py" in self.repo:
            return "package", f"{prefix}{rel}/__init__.py"
        if any(p.startswith(f"{prefix}{rel}/") for p in self.repo):
            return "package", None
        return None

    def import_module(self, name: str, importer_dir: str = "") -> Module:
        key = name
        if key in self.modules:
            return self.modules[key]
        proxy = self._proxy(name)
        if proxy is not None:
            self.modules[key] = proxy
            return proxy
        if name.split(".")[0] in OPAQUE_MODULES or name in OPAQUE_MODULES:
            module = Module(name, {}, opaque=True)
            self.modules[key] = module
            return module
        parent = None
        if "." in name:
            parent = self.import_module(name.rpartition(".")[0], importer_dir)
        found = None
        for base in dict.fromkeys([importer_dir, ""]):
            found = self._find(name, base)
            if found is not None:
                break
        if found is None:
            raise ImportError(f"No module named {name!r}")
        kind, path = found
        module = Module(name, {"__name__": name, "__file__": path}, path, package=kind == "package")
        module.ns["__package__"] = name if module.package else name.rpartition(".")[0]
        self.modules[key] = module
        if parent is not None:
            parent.ns.setdefault(name.rpartition(".")[2], module)
        if path is not None:
            try:
                self.exec_module(module, path)
            except BaseException:
                self.modules.pop(key, None)
                raise
        return module

    def exec_module(self, module: Module, path: str) -> None:
        tree = parse_source(self.repo[path])
        scope = Scope(module.ns, module.ns, kind="module")
        self.exec_block(tree.body, scope)

    def load_file(self, path: str, name: str) -> Module:
        """A test module or conftest, imported by file (pytest's prepend import mode)."""
        if name in self.modules and self.modules[name].path == path:
            return self.modules[name]
        module = Module(name, {"__name__": name, "__file__": path, "__package__": ""}, path)
        self.modules[name] = module
        try:
            self.exec_module(module, path)
        except BaseException:
            self.modules.pop(name, None)
            raise
        return module

    def _proxy(self, name: str) -> Module | None:
        if name == "decimal":
            ns: dict[str, Any] = {"Decimal": Decimal, "Context": decimal.Context, "localcontext": decimal.localcontext,
                                  "getcontext": decimal.getcontext, "setcontext": decimal.setcontext,
                                  **ROUNDINGS, **DECIMAL_ERRORS}
            return Module("decimal", ns)
        if name == "pytest":
            b = self._pytest_builtins()
            return Module("pytest", {"mark": MarkGenerator(), **b})
        if name == "sys":
            return Module("sys", {"platform": "linux", "version_info": VersionInfo(3, 11, 9, "final", 0),
                                  "version": "3.11.9", "maxsize": 2**63 - 1,
                                  "exit": Builtin("exit", lambda code=None: _raise(SystemExit(code)))})
        if name == "os":
            environ = dict(self.env)
            return Module("os", {"environ": environ, "name": "posix", "sep": "/", "path": Opaque("os.path"),
                                 "getenv": Builtin("getenv", lambda k, d=None: environ.get(k, d)),
                                 "_exit": Builtin("_exit", lambda code: _raise(SessionExit(int(code), hard=True)))})
        if name == "platform":
            return Module("platform", {"system": Builtin("system", lambda: "Linux"),
                                       "python_version": Builtin("python_version", lambda: "3.11.9"),
                                       "machine": Builtin("machine", lambda: "x86_64")})
        if name == "math":
            return Module("math", {"floor": Builtin("floor", lambda x: self.checked(math.floor(_num(x)))),
                                   "ceil": Builtin("ceil", lambda x: self.checked(math.ceil(_num(x)))),
                                   "isclose": Builtin("isclose", _isclose), "fabs": Builtin("fabs", math.fabs),
                                   "inf": math.inf, "pi": math.pi})
        if name == "logging":
            noop = Builtin("noop", lambda *a, **k: None)
            logger = Module("logger", {n: noop for n in ("debug", "info", "warning", "error", "exception",
                                                          "critical", "setLevel")})
            return Module("logging", {"getLogger": Builtin("getLogger", lambda *a: logger), "basicConfig": noop,
                                      "DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40})
        if name == "unittest":
            return Module("unittest", self._unittest_builtins())
        return None

    # ---- pytest and unittest, as the test code sees them ---------------------------------------------
    def _pytest_builtins(self) -> dict[str, Any]:
        def skip(reason: str = "", *, allow_module_level: bool = False, msg: str | None = None) -> Any:
            raise Skipped(str(msg or reason), module=allow_module_level)

        def xfail(reason: str = "") -> Any:
            raise XFailed(str(reason))

        def fail(reason: str = "", pytrace: bool = True, msg: str | None = None) -> Any:
            raise Failed(str(msg or reason))

        def exit_(reason: str = "", returncode: Any = None, msg: Any = None) -> Any:
            raise SessionExit(returncode if isinstance(returncode, int) else None, hard=False)

        def raises(*types: Any, match: Any = None) -> Raises:
            flat: list[Any] = []
            for t in types:
                flat += list(t) if isinstance(t, tuple) else [t]
            if not flat or not all(isinstance(t, type) and t in EXCEPTION_CLASSES for t in flat):
                raise Unsupported("pytest.raises with these types")
            if match is not None and (not isinstance(match, str) or re.escape(match) != match or len(match) > 200):
                raise Unsupported("pytest.raises(match=) with a pattern")
            return Raises(tuple(flat), match)

        def approx(expected: Any, rel: Any = None, abs: Any = None, nan_ok: bool = False) -> Approx:
            return Approx(expected, rel, abs)

        def importorskip(modname: str, minversion: Any = None, reason: Any = None) -> Any:
            try:
                return self.import_module(str(modname))
            except ImportError:
                raise Skipped(f"could not import {modname!r}", module=True) from None

        def param(*values: Any, marks: Any = (), id: Any = None) -> Param:
            items = marks if isinstance(marks, list | tuple) else [marks]
            return Param(tuple(values), tuple(mark_of(m) for m in items), id)

        def fixture(fn: Any = None, *, autouse: bool = False, name: Any = None, params: Any = None,
                    scope: Any = "function", ids: Any = None) -> Any:
            spec = Fixture(bool(autouse), name, params)
            if isinstance(fn, Function):
                fn.fixture = spec
                return fn
            return FixtureDecorator(spec)

        return {"skip": Builtin("skip", skip), "xfail": Builtin("xfail", xfail), "fail": Builtin("fail", fail),
                "raises": Builtin("raises", raises), "approx": Builtin("approx", approx),
                "importorskip": Builtin("importorskip", importorskip), "param": Builtin("param", param),
                "fixture": Builtin("fixture", fixture), "exit": Builtin("exit", exit_),
                "warns": Opaque("pytest.warns"),
                "MonkeyPatch": Opaque("pytest.MonkeyPatch")}

    def _unittest_builtins(self) -> dict[str, Any]:
        def check(ok: Any, message: str) -> None:
            if not ok:
                raise AssertionError(message)

        def assert_almost(self_: Any, a: Any, b: Any, places: Any = None, msg: Any = None, delta: Any = None) -> None:
            if a == b:
                return
            diff = abs(_num(a) - _num(b))
            if delta is not None:
                check(diff <= _num(delta), f"{a!r} != {b!r} within {delta!r} delta")
            else:
                check(round(diff, 7 if places is None else int(places)) == 0, f"{a!r} != {b!r} within places")

        def assert_raises(self_: Any, *types: Any) -> Raises:
            if len(types) != 1 or not isinstance(types[0], type) or types[0] not in EXCEPTION_CLASSES:
                raise Unsupported("assertRaises with a callable")
            return Raises((types[0],))

        def skip_test(self_: Any, reason: str = "") -> None:
            raise Skipped(str(reason))

        methods: dict[str, Callable[..., Any]] = {
            "assertEqual": lambda s, a, b, msg=None: check(a == b, f"{a!r} != {b!r}"),
            "assertNotEqual": lambda s, a, b, msg=None: check(a != b, f"{a!r} == {b!r}"),
            "assertTrue": lambda s, x, msg=None: check(self.truthy(x), f"{x!r} is not true"),
            "assertFalse": lambda s, x, msg=None: check(not self.truthy(x), f"{x!r} is not false"),
            "assertIn": lambda s, a, b, msg=None: check(a in b, f"{a!r} not found in {b!r}"),
            "assertIsNone": lambda s, x, msg=None: check(x is None, f"{x!r} is not None"),
            "assertAlmostEqual": assert_almost, "assertRaises": assert_raises, "skipTest": skip_test,
        }
        case = Klass("TestCase", {"__unittest__": True, **{k: Builtin(k, v) for k, v in methods.items()}})

        def skip(reason: Any = "") -> SkipDecorator:
            return SkipDecorator(Mark("unittest_skip", (str(reason),)))

        def skip_if(condition: Any, reason: Any = "") -> SkipDecorator:
            return SkipDecorator(Mark("unittest_skip", (str(reason),)) if self.truthy(condition) else None)

        def skip_unless(condition: Any, reason: Any = "") -> SkipDecorator:
            return SkipDecorator(None if self.truthy(condition) else Mark("unittest_skip", (str(reason),)))

        return {"TestCase": case, "skip": Builtin("skip", skip), "skipIf": Builtin("skipIf", skip_if),
                "skipUnless": Builtin("skipUnless", skip_unless),
                "expectedFailure": SkipDecorator(Mark("xfail", (), {"strict": True})),
                "main": Builtin("main", lambda *a, **k: None)}

    # ---- builtins ----------------------------------------------------------------------------------
    def _make_builtins(self) -> dict[str, Any]:
        def b_round(x: Any, n: Any = None) -> Any:
            if not _is_number(x) or (n is not None and (not isinstance(n, int) or abs(n) > 50)):
                raise Unsupported("round() of this")
            return self.checked(round(x) if n is None else round(x, n))

        def b_int(x: Any = 0, base: Any = None) -> int:
            if base is not None or not isinstance(x, int | float | Decimal | str) or (
                    isinstance(x, str) and len(x) > 80):
                raise Unsupported("int() of this")
            if isinstance(x, Decimal | float) and (not math.isfinite(float(x)) or abs(float(x)) > MAX_INT):
                raise Unsupported("int() of a huge number")
            return int(x)

        def b_str(x: Any = "") -> str:
            if not isinstance(x, PLAIN):
                raise Unsupported("str() of an object")
            return self.checked(str(x)[: MAX_LEN + 1])

        def b_minmax(fn: Callable[..., Any]) -> Callable[..., Any]:
            def inner(*args: Any, **kw: Any) -> Any:
                if kw:
                    raise Unsupported("min/max with keywords")
                items = self.iterate(args[0]) if len(args) == 1 else list(args)
                return fn(items)
            return inner

        def b_sum(items: Any, start: Any = 0) -> Any:
            total = start
            for x in self.iterate(items):
                total = self.binop(ast.Add(), total, x)
            return total

        def b_range(*args: Any) -> range:
            if not all(isinstance(a, int) for a in args):
                raise TypeError("range() arguments must be integers")
            r = range(*args)
            if len(r) > MAX_LEN:
                raise Unsupported("range too long")
            return r

        def b_isinstance(obj: Any, classes: Any) -> bool:
            options = classes if isinstance(classes, tuple) else (classes,)
            for c in options:
                if isinstance(c, Klass):
                    if isinstance(obj, Instance) and c in obj.klass.mro():
                        return True
                elif isinstance(c, type) and (c in (Decimal, int, float, str, list, tuple, dict, bool)
                                              or c in EXCEPTION_CLASSES):
                    if isinstance(obj, c):
                        return True
                else:
                    raise Unsupported("isinstance with this class")
            return False

        def b_getattr(obj: Any, name: Any, *default: Any) -> Any:
            try:
                return self.getattr(obj, str(name))
            except AttributeError:
                if default:
                    return default[0]
                raise

        def b_hasattr(obj: Any, name: Any) -> bool:
            try:
                self.getattr(obj, str(name))
            except AttributeError:
                return False
            return True

        def b_sorted(items: Any, reverse: bool = False) -> list[Any]:
            return sorted(self.iterate(items), reverse=bool(reverse))

        table: dict[str, Any] = {
            "abs": lambda x: self.checked(abs(x)) if _is_number(x) else _raise(TypeError("bad operand for abs()")),
            "round": b_round, "int": b_int, "str": b_str,
            "float": lambda x=0.0: float(x) if isinstance(x, int | float | Decimal | str) and (
                not isinstance(x, str) or len(x) < 80) else _raise(Unsupported("float() of this")),
            "bool": lambda x=False: self.truthy(x),
            "repr": lambda x: b_str(repr(x)) if isinstance(x, PLAIN) else _raise(Unsupported("repr")),
            "len": lambda x: len(x) if isinstance(x, str | list | tuple | dict | range | set) else _raise(
                TypeError("object has no len()")),
            "min": b_minmax(min), "max": b_minmax(max), "sum": b_sum, "range": b_range,
            "list": lambda x=(): list(self.iterate(x)), "tuple": lambda x=(): tuple(self.iterate(x)),
            "set": lambda x=(): set(self.iterate(x)), "dict": lambda **kw: dict(kw),
            "isinstance": b_isinstance, "print": lambda *a, **k: None, "sorted": b_sorted,
            "any": lambda x: any(self.truthy(v) for v in self.iterate(x)),
            "all": lambda x: all(self.truthy(v) for v in self.iterate(x)),
            "enumerate": lambda x, start=0: list(enumerate(self.iterate(x), start)),
            "zip": lambda *xs: list(zip(*(self.iterate(x) for x in xs), strict=False)),
            "getattr": b_getattr, "hasattr": b_hasattr,
        }
        out: dict[str, Any] = {name: Builtin(name, fn) for name, fn in table.items()}
        out.update(EXCEPTIONS)
        out["object"] = object
        out["None"], out["True"], out["False"] = None, True, False
        return out

    # ---- statements --------------------------------------------------------------------------------
    def exec_block(self, body: Iterable[ast.stmt], scope: Scope) -> None:
        for stmt in body:
            self.exec(stmt, scope)

    def exec(self, node: ast.stmt, scope: Scope) -> None:
        self.tick()
        handler = getattr(self, "_s_" + type(node).__name__, None)
        if handler is None:
            raise Unsupported(f"statement {type(node).__name__}")
        handler(node, scope)

    def _s_Expr(self, node: ast.Expr, scope: Scope) -> None:
        self.eval(node.value, scope)

    def _s_Pass(self, node: ast.Pass, scope: Scope) -> None:
        return None

    def _s_Assign(self, node: ast.Assign, scope: Scope) -> None:
        value = self.eval(node.value, scope)
        for target in node.targets:
            self.assign(target, value, scope)

    def _s_AnnAssign(self, node: ast.AnnAssign, scope: Scope) -> None:
        if node.value is not None:
            self.assign(node.target, self.eval(node.value, scope), scope)

    def _s_AugAssign(self, node: ast.AugAssign, scope: Scope) -> None:
        current = self.eval(_as_load(node.target), scope)
        self.assign(node.target, self.binop(node.op, current, self.eval(node.value, scope)), scope)

    def _s_Return(self, node: ast.Return, scope: Scope) -> None:
        raise _Return(None if node.value is None else self.eval(node.value, scope))

    def _s_If(self, node: ast.If, scope: Scope) -> None:
        self.exec_block(node.body if self.truthy(self.eval(node.test, scope)) else node.orelse, scope)

    def _s_For(self, node: ast.For, scope: Scope) -> None:
        for item in self.iterate(self.eval(node.iter, scope)):
            self.assign(node.target, item, scope)
            if not self._loop_pass(node.body, scope):
                return
        self.exec_block(node.orelse, scope)

    def _s_While(self, node: ast.While, scope: Scope) -> None:
        while self.truthy(self.eval(node.test, scope)):
            if not self._loop_pass(node.body, scope):
                return
        self.exec_block(node.orelse, scope)

    def _loop_pass(self, body: list[ast.stmt], scope: Scope) -> bool:
        """One pass of a loop body: False when it breaks (the loop and its `else` end there)."""
        self.tick()
        try:
            self.exec_block(body, scope)
        except _Break:
            return False
        except _Continue:
            pass
        return True

    def _s_Break(self, node: ast.Break, scope: Scope) -> None:
        raise _Break

    def _s_Continue(self, node: ast.Continue, scope: Scope) -> None:
        raise _Continue

    def _s_Raise(self, node: ast.Raise, scope: Scope) -> None:
        if node.exc is None:
            if self.handling:
                raise self.handling[-1]
            raise RuntimeError("No active exception to reraise")
        exc = self.eval(node.exc, scope)
        if isinstance(exc, type) and exc in EXCEPTION_CLASSES:
            exc = exc()
        if isinstance(exc, BaseException) and not isinstance(exc, INTERNAL) and (
                type(exc) in EXCEPTION_CLASSES or isinstance(exc, Skipped | XFailed | Failed)):
            raise exc
        raise Unsupported("raising this")

    def _s_Assert(self, node: ast.Assert, scope: Scope) -> None:
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left = self.eval(test.left, scope)
            right = self.eval(test.comparators[0], scope)
            if not self.compare(test.ops[0], left, right):
                raise AssertionError(f"assert {_short(left)} {_OPS.get(type(test.ops[0]), '?')} {_short(right)}")
            return
        if not self.truthy(self.eval(test, scope)):
            raise AssertionError(f"assert {ast.unparse(test)[:200]}")

    def _s_Try(self, node: ast.Try, scope: Scope) -> None:
        try:
            try:
                self.exec_block(node.body, scope)
            except INTERNAL:
                raise
            except BaseException as exc:
                for handler in node.handlers:
                    if handler.type is None or isinstance(exc, self._exc_types(self.eval(handler.type, scope))):
                        if handler.name:
                            scope.locals[handler.name] = exc
                        self.handling.append(exc)
                        try:
                            self.exec_block(handler.body, scope)
                        finally:
                            self.handling.pop()
                        break
                else:
                    raise
            else:
                self.exec_block(node.orelse, scope)
        finally:
            if node.finalbody:
                self.exec_block(node.finalbody, scope)

    def _exc_types(self, value: Any) -> tuple[type[BaseException], ...]:
        items = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(t, type) and t in EXCEPTION_CLASSES for t in items):
            raise Unsupported("except with these types")
        return tuple(items)

    def _s_With(self, node: ast.With, scope: Scope) -> None:
        self._with(node.items, 0, node.body, scope)

    def _with(self, items: list[ast.withitem], i: int, body: list[ast.stmt], scope: Scope) -> None:
        if i == len(items):
            self.exec_block(body, scope)
            return
        item = items[i]
        manager = self.eval(item.context_expr, scope)
        if isinstance(manager, Raises):
            info = ExcInfo()
            if item.optional_vars is not None:
                self.assign(item.optional_vars, info, scope)
            try:
                self._with(items, i + 1, body, scope)
            except INTERNAL:
                raise
            except BaseException as exc:
                if isinstance(exc, manager.types) and (manager.match is None or manager.match in str(exc)[:2000]):
                    info.value = exc
                    return
                raise
            raise Failed(f"DID NOT RAISE {manager.types[0].__name__}")
        if type(manager) is _DECIMAL_CM:
            ctx = manager.__enter__()
            try:
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, ctx, scope)
                self._with(items, i + 1, body, scope)
            finally:
                manager.__exit__(None, None, None)
            return
        raise Unsupported("this context manager")

    def _s_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope) -> None:
        fn = Function(node.name, node, scope.globals, self._defaults(node.args, scope), self._closure(scope))
        target: Any = fn
        for dec in reversed(node.decorator_list):
            target = self.decorate(self.eval(dec, scope), target)
        scope.locals[node.name] = target

    _s_AsyncFunctionDef = _s_FunctionDef

    def _closure(self, scope: Scope) -> Scope | None:
        if scope.kind == "function":
            return scope
        if scope.kind == "class":
            return scope.outer
        return None

    def _defaults(self, args: ast.arguments, scope: Scope) -> dict[str, Any]:
        positional = [*args.posonlyargs, *args.args]
        out = {}
        for param, default in zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True):
            out[param.arg] = self.eval(default, scope)
        for param, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            if kw_default is not None:
                out[param.arg] = self.eval(kw_default, scope)
        return out

    def decorate(self, decorator: Any, target: Any) -> Any:
        if isinstance(decorator, MarkDecorator):
            if not isinstance(target, Function | Klass):
                raise Unsupported("a mark on this")
            target.marks.append(decorator.mark)
            return target
        if isinstance(decorator, FixtureDecorator) and isinstance(target, Function):
            target.fixture = decorator.fixture
            return target
        if isinstance(decorator, Builtin) and decorator.name == "fixture" and isinstance(target, Function):
            target.fixture = Fixture()
            return target
        if isinstance(decorator, SkipDecorator) and isinstance(target, Function | Klass):
            if decorator.mark is not None:
                target.marks.append(decorator.mark)
            return target
        if isinstance(decorator, Function | Bound):
            return self.call(decorator, [target], {})
        raise Unsupported("this decorator")

    def _s_ClassDef(self, node: ast.ClassDef, scope: Scope) -> None:
        if node.keywords:
            raise Unsupported("class keywords")
        bases = []
        for b in node.bases:
            value = self.eval(b, scope)
            if value is not object and not isinstance(value, Klass):
                raise Unsupported("this base class")
            if isinstance(value, Klass):
                bases.append(value)
        ns: dict[str, Any] = {"__name__": node.name}
        self.exec_block(node.body, Scope(ns, scope.globals, scope if scope.kind == "function" else scope.outer,
                                         kind="class"))
        klass: Any = Klass(node.name, ns, tuple(bases))
        for dec in reversed(node.decorator_list):
            klass = self.decorate(self.eval(dec, scope), klass)
        scope.locals[node.name] = klass

    def _s_Import(self, node: ast.Import, scope: Scope) -> None:
        here = posixpath.dirname(str(scope.globals.get("__file__") or ""))
        for alias in node.names:
            module = self.import_module(alias.name, here)
            if alias.asname:
                scope.locals[alias.asname] = module
            else:
                scope.locals[alias.name.split(".")[0]] = self.import_module(alias.name.split(".")[0], here)

    def _s_ImportFrom(self, node: ast.ImportFrom, scope: Scope) -> None:
        here = posixpath.dirname(str(scope.globals.get("__file__") or ""))
        name = node.module or ""
        if node.level:
            package = str(scope.globals.get("__package__") or "")
            parts = package.split(".") if package else []
            if node.level - 1 > len(parts) or not parts:
                raise ImportError("attempted relative import with no known parent package")
            base = ".".join(parts[: len(parts) - (node.level - 1)])
            name = f"{base}.{name}" if name else base
        module = self.import_module(name, here)
        for alias in node.names:
            if alias.name == "*":
                exported = module.ns.get("__all__")
                names = list(exported) if isinstance(exported, list | tuple) else [
                    n for n in module.ns if not n.startswith("_")]
                for n in names:
                    scope.locals[n] = module.ns[n]
                continue
            if module.opaque:
                value: Any = Opaque(f"{name}.{alias.name}")
            elif alias.name in module.ns:
                value = module.ns[alias.name]
            elif module.package:
                value = self.import_module(f"{name}.{alias.name}", here)
            else:
                raise ImportError(f"cannot import name {alias.name!r} from {name!r}")
            scope.locals[alias.asname or alias.name] = value

    # ---- assignment ------------------------------------------------------------------------------------
    def assign(self, target: ast.expr, value: Any, scope: Scope) -> None:
        if isinstance(target, ast.Name):
            scope.locals[target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            if any(isinstance(e, ast.Starred) for e in target.elts):
                raise Unsupported("starred assignment")
            items = self.iterate(value)
            if len(items) != len(target.elts):
                raise ValueError(f"expected {len(target.elts)} values to unpack, got {len(items)}")
            for elt, item in zip(target.elts, items, strict=True):
                self.assign(elt, item, scope)
        elif isinstance(target, ast.Attribute):
            self.setattr(self.eval(target.value, scope), target.attr, value)
        elif isinstance(target, ast.Subscript):
            obj, key = self.eval(target.value, scope), self.eval(target.slice, scope)
            if isinstance(obj, list | dict):
                obj[key] = value
                self.checked(obj)
            else:
                raise Unsupported("item assignment on this")
        else:
            raise Unsupported("assignment target")

    # ---- attributes -----------------------------------------------------------------------------------
    def getattr(self, obj: Any, name: str) -> Any:
        self.tick()
        if isinstance(obj, Module):
            if obj.opaque:
                return Opaque(f"{obj.name}.{name}")
            if name in obj.ns:
                return obj.ns[name]
            if obj.package:
                try:
                    return self.import_module(f"{obj.name}.{name}")
                except ImportError:
                    pass
            raise AttributeError(f"module {obj.name!r} has no attribute {name!r}")
        if isinstance(obj, Instance):
            if name in obj.attrs:
                return obj.attrs[name]
            value = obj.klass.lookup(name)
            return Bound(value, obj) if isinstance(value, Function | Builtin) else value
        if isinstance(obj, Klass):
            return obj.lookup(name)
        if isinstance(obj, Function):
            if name in obj.attrs:
                return obj.attrs[name]
            if name == "__name__":
                return obj.name
            raise AttributeError(name)
        if isinstance(obj, MarkGenerator):
            if name.startswith("_"):
                raise AttributeError(name)
            return MarkDecorator(Mark(name))
        if isinstance(obj, MarkDecorator) and name in ("name", "args", "kwargs"):
            return getattr(obj.mark, name)
        if isinstance(obj, ExcInfo) and name in ("value", "type"):
            return obj.value if name == "value" else type(obj.value)
        if isinstance(obj, Decimal):
            if name in DECIMAL_METHODS:
                return RealMethod(obj, name)
            if name in ("real", "imag"):
                return getattr(obj, name)
        elif isinstance(obj, decimal.Context):
            if name in ("rounding", "prec", "Emax", "Emin"):
                return getattr(obj, name)
            if name in CONTEXT_METHODS:
                return RealMethod(obj, name)
        elif (isinstance(obj, str) and name in STR_METHODS) or (isinstance(obj, list) and name in LIST_METHODS) \
                or (isinstance(obj, dict) and name in DICT_METHODS):
            return RealMethod(obj, name)
        elif isinstance(obj, VersionInfo) and name in VersionInfo._fields:
            return getattr(obj, name)
        elif isinstance(obj, BaseException) and name == "args":
            return obj.args
        raise Unsupported(f"attribute {name!r} of {type(obj).__name__}")

    def setattr(self, obj: Any, name: str, value: Any) -> None:
        if isinstance(obj, decimal.Context):
            if name == "rounding":
                obj.rounding = value
                return
            if name == "prec":
                if not isinstance(value, int) or not 0 < value <= MAX_PREC:
                    raise Unsupported("this precision")
                obj.prec = value
                return
            raise Unsupported(f"setting Context.{name}")
        if isinstance(obj, Instance | Function):
            obj.attrs[name] = value
            return
        if isinstance(obj, Module | Klass) and not (isinstance(obj, Module) and obj.opaque):
            obj.ns[name] = value
            return
        raise Unsupported(f"setting an attribute of {type(obj).__name__}")

    # ---- calls ------------------------------------------------------------------------------------------
    def call(self, fn: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        self.tick()
        if isinstance(fn, Function):
            return self.call_function(fn, args, kwargs)
        if isinstance(fn, Bound):
            return self.call(fn.function, [fn.self_, *args], kwargs)
        if isinstance(fn, Builtin):
            return self.checked(fn.fn(*args, **kwargs))
        if isinstance(fn, MarkDecorator):
            if len(args) == 1 and not kwargs and isinstance(args[0], Function | Klass):
                return self.decorate(fn, args[0])
            return MarkDecorator(Mark(fn.mark.name, (*fn.mark.args, *args), {**fn.mark.kwargs, **kwargs}))
        if isinstance(fn, Klass):
            if "__init__" in fn.ns or fn.is_testcase():
                raise Unsupported("instantiating this class")
            return Instance(fn)
        for a in [*args, *kwargs.values()]:
            if not isinstance(a, (*PLAIN, decimal.Context, Approx)):
                raise Unsupported("a call with this argument")
        if isinstance(fn, RealMethod):
            return self.checked(getattr(fn.obj, fn.name)(*args, **kwargs))
        if fn is Decimal:
            if len(args) > 2 or kwargs or (args and isinstance(args[0], str) and len(args[0]) > 500):
                raise Unsupported("Decimal() of this")
            return Decimal(*args)
        if fn is decimal.Context:
            return _context(*args, **kwargs)
        if fn is decimal.localcontext:
            if args and not isinstance(args[0], decimal.Context):
                raise TypeError("localcontext() argument must be a Context")
            _check_context_kwargs(kwargs)
            return decimal.localcontext(*args, **kwargs)
        if fn is decimal.getcontext and not args and not kwargs:
            return decimal.getcontext()
        if fn is decimal.setcontext and len(args) == 1 and isinstance(args[0], decimal.Context) and not kwargs:
            if args[0].prec > MAX_PREC:
                raise Unsupported("this precision")
            decimal.setcontext(args[0])
            return None
        if isinstance(fn, type) and fn in EXCEPTION_CLASSES and not kwargs:
            return fn(*args)
        raise Unsupported(f"calling {type(fn).__name__}")

    def call_function(self, fn: Function, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if isinstance(fn.node, ast.AsyncFunctionDef):
            raise Unsupported("coroutine")
        self.depth += 1
        try:
            if self.depth > 40:
                raise Unsupported("recursion too deep")
            scope = Scope(self._bind(fn, args, kwargs), fn.globals, fn.closure)
            if isinstance(fn.node, ast.Lambda):
                return self.eval(fn.node.body, scope)
            if is_generator(fn.node):
                raise Unsupported("generator")
            try:
                self.exec_block(fn.node.body, scope)
            except _Return as r:
                return r.value
            return None
        finally:
            self.depth -= 1

    def _bind(self, fn: Function, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        a = fn.node.args
        positional = [p.arg for p in [*a.posonlyargs, *a.args]]
        local: dict[str, Any] = {}
        extra = list(args[len(positional):])
        for name, value in zip(positional, args, strict=False):
            local[name] = value
        if extra:
            if a.vararg is None:
                raise TypeError(f"{fn.name}() takes {len(positional)} positional arguments but {len(args)} were given")
            local[a.vararg.arg] = tuple(extra)
        elif a.vararg is not None:
            local[a.vararg.arg] = ()
        rest: dict[str, Any] = {}
        names = set(positional[len(a.posonlyargs):]) | {p.arg for p in a.kwonlyargs}
        for key, value in kwargs.items():
            if key in names and key not in local:
                local[key] = value
            elif key in local:
                raise TypeError(f"{fn.name}() got multiple values for argument {key!r}")
            else:
                rest[key] = value
        if rest:
            if a.kwarg is None:
                raise TypeError(f"{fn.name}() got an unexpected keyword argument {next(iter(rest))!r}")
            local[a.kwarg.arg] = rest
        elif a.kwarg is not None:
            local[a.kwarg.arg] = {}
        for name in [*positional, *(p.arg for p in a.kwonlyargs)]:
            if name not in local:
                if name not in fn.defaults:
                    raise TypeError(f"{fn.name}() missing required argument: {name!r}")
                local[name] = fn.defaults[name]
        return local

    # ---- expressions ----------------------------------------------------------------------------------
    def eval(self, node: ast.expr, scope: Scope) -> Any:
        self.tick()
        handler = getattr(self, "_e_" + type(node).__name__, None)
        if handler is None:
            raise Unsupported(f"expression {type(node).__name__}")
        return handler(node, scope)

    def _e_Constant(self, node: ast.Constant, scope: Scope) -> Any:
        return node.value

    def _e_Name(self, node: ast.Name, scope: Scope) -> Any:
        name = node.id
        s: Scope | None = scope
        while s is not None:
            if name in s.locals:
                return s.locals[name]
            s = s.outer
        if name in scope.globals:
            return scope.globals[name]
        if name in self.builtins:
            return self.builtins[name]
        raise NameError(f"name {name!r} is not defined")

    def _e_Attribute(self, node: ast.Attribute, scope: Scope) -> Any:
        return self.getattr(self.eval(node.value, scope), node.attr)

    def _e_Call(self, node: ast.Call, scope: Scope) -> Any:
        fn = self.eval(node.func, scope)
        args: list[Any] = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                args += self.iterate(self.eval(a.value, scope))
            else:
                args.append(self.eval(a, scope))
        kwargs: dict[str, Any] = {}
        for k in node.keywords:
            value = self.eval(k.value, scope)
            if k.arg is None:
                if not isinstance(value, dict) or not all(isinstance(x, str) for x in value):
                    raise Unsupported("** of this")
                kwargs.update(value)
            else:
                kwargs[k.arg] = value
        return self.call(fn, args, kwargs)

    def _e_BinOp(self, node: ast.BinOp, scope: Scope) -> Any:
        return self.binop(node.op, self.eval(node.left, scope), self.eval(node.right, scope))

    def binop(self, op: ast.operator, a: Any, b: Any) -> Any:
        self.tick()
        if not isinstance(a, PLAIN) or not isinstance(b, PLAIN):
            raise Unsupported("arithmetic on objects")
        kind = type(op)
        if kind is ast.Mult and (isinstance(a, str | list | tuple) or isinstance(b, str | list | tuple)):
            seq, n = (a, b) if isinstance(a, str | list | tuple) else (b, a)
            if not isinstance(n, int) or len(cast(Sized, seq)) * max(n, 0) > MAX_LEN:
                raise Unsupported("repetition too large")
        if kind is ast.Pow:
            exponent = b
            if isinstance(exponent, Decimal) and exponent == exponent.to_integral_value():
                exponent = int(exponent) if abs(exponent) <= 100 else exponent
            if not (isinstance(exponent, int) and abs(exponent) <= 100) and not (
                    isinstance(a, float) and isinstance(b, float | int)):
                raise Unsupported("this power")
        if kind in (ast.LShift, ast.RShift) and (not isinstance(b, int) or abs(b) > 200):
            raise Unsupported("this shift")
        if kind is ast.Mod and isinstance(a, str | bytes):
            raise Unsupported("%-formatting")
        fn = _BINOPS.get(kind)
        if fn is None:
            raise Unsupported(f"operator {kind.__name__}")
        return self.checked(fn(a, b))

    def _e_UnaryOp(self, node: ast.UnaryOp, scope: Scope) -> Any:
        value = self.eval(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return not self.truthy(value)
        if not _is_number(value) and not isinstance(value, bool):
            raise Unsupported("unary operator on this")
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        return self.checked(~value)

    def _e_BoolOp(self, node: ast.BoolOp, scope: Scope) -> Any:
        value: Any = None
        for expr in node.values:
            value = self.eval(expr, scope)
            if isinstance(node.op, ast.And) and not self.truthy(value):
                return value
            if isinstance(node.op, ast.Or) and self.truthy(value):
                return value
        return value

    def _e_Compare(self, node: ast.Compare, scope: Scope) -> Any:
        left = self.eval(node.left, scope)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comp, scope)
            if not self.compare(op, left, right):
                return False
            left = right
        return True

    def compare(self, op: ast.cmpop, a: Any, b: Any) -> bool:
        self.tick()
        kind = type(op)
        if kind is ast.Is:
            return a is b
        if kind is ast.IsNot:
            return a is not b
        if kind in (ast.In, ast.NotIn):
            if not isinstance(b, list | tuple | str | dict | range | set | frozenset):
                raise Unsupported("`in` on this")
            found = any(x is a or x == a for x in b) if isinstance(b, list | tuple) else a in b
            return found if kind is ast.In else not found
        for x in (a, b):
            if not isinstance(x, (*PLAIN, Approx)) and kind not in (ast.Eq, ast.NotEq):
                raise Unsupported("ordering objects")
        return bool(_CMPOPS[kind](a, b))

    def _e_IfExp(self, node: ast.IfExp, scope: Scope) -> Any:
        return self.eval(node.body if self.truthy(self.eval(node.test, scope)) else node.orelse, scope)

    def _elements(self, elts: list[ast.expr], scope: Scope) -> list[Any]:
        out: list[Any] = []
        for e in elts:
            if isinstance(e, ast.Starred):
                out += self.iterate(self.eval(e.value, scope))
            else:
                out.append(self.eval(e, scope))
        return self.checked(out)

    def _e_Tuple(self, node: ast.Tuple, scope: Scope) -> Any:
        return tuple(self._elements(node.elts, scope))

    def _e_List(self, node: ast.List, scope: Scope) -> Any:
        return self._elements(node.elts, scope)

    def _e_Set(self, node: ast.Set, scope: Scope) -> Any:
        return set(self._elements(node.elts, scope))

    def _e_Dict(self, node: ast.Dict, scope: Scope) -> Any:
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                value = self.eval(v, scope)
                if not isinstance(value, dict):
                    raise Unsupported("** of this")
                out.update(value)
            else:
                out[self.eval(k, scope)] = self.eval(v, scope)
        return self.checked(out)

    def _e_Subscript(self, node: ast.Subscript, scope: Scope) -> Any:
        obj, key = self.eval(node.value, scope), self.eval(node.slice, scope)
        if not isinstance(obj, list | tuple | str | dict | range):
            raise Unsupported("subscript of this")
        return obj[key]

    def _e_Slice(self, node: ast.Slice, scope: Scope) -> Any:
        parts = [None if p is None else self.eval(p, scope) for p in (node.lower, node.upper, node.step)]
        if not all(p is None or isinstance(p, int) for p in parts):
            raise TypeError("slice indices must be integers")
        return slice(*parts)

    def _e_JoinedStr(self, node: ast.JoinedStr, scope: Scope) -> Any:
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
                continue
            assert isinstance(part, ast.FormattedValue)
            value = self.eval(part.value, scope)
            if not isinstance(value, PLAIN):
                raise Unsupported("formatting an object")
            spec = "" if part.format_spec is None else self.eval(part.format_spec, scope)
            if len(spec) > 12 or re.search(r"\d{4}", spec):
                raise Unsupported("this format spec")
            if part.conversion == ord("r"):
                value = repr(value)
            elif part.conversion in (ord("s"), ord("a")):
                value = str(value)
            out.append(format(value, spec))
        return self.checked("".join(out))

    def _e_Lambda(self, node: ast.Lambda, scope: Scope) -> Any:
        return Function("<lambda>", node, scope.globals, self._defaults(node.args, scope), self._closure(scope))

    def _comprehension(self, generators: list[ast.comprehension], scope: Scope, emit: Callable[[Scope], None]) -> None:
        inner = Scope({}, scope.globals, scope, kind="function")

        def loop(i: int) -> None:
            if i == len(generators):
                emit(inner)
                return
            gen = generators[i]
            for item in self.iterate(self.eval(gen.iter, inner)):
                self.tick()
                self.assign(gen.target, item, inner)
                if all(self.truthy(self.eval(cond, inner)) for cond in gen.ifs):
                    loop(i + 1)

        loop(0)

    def _e_ListComp(self, node: ast.ListComp | ast.GeneratorExp, scope: Scope) -> Any:
        out: list[Any] = []
        self._comprehension(node.generators, scope, lambda s: out.append(self.eval(node.elt, s)))
        return self.checked(out)

    _e_GeneratorExp = _e_ListComp

    def _e_SetComp(self, node: ast.SetComp, scope: Scope) -> Any:
        return set(self._e_ListComp(node, scope))  # type: ignore[arg-type]

    def _e_DictComp(self, node: ast.DictComp, scope: Scope) -> Any:
        out: dict[Any, Any] = {}
        self._comprehension(node.generators, scope,
                            lambda s: out.__setitem__(self.eval(node.key, s), self.eval(node.value, s)))
        return self.checked(out)

    def _e_NamedExpr(self, node: ast.NamedExpr, scope: Scope) -> Any:
        value = self.eval(node.value, scope)
        scope.locals[node.target.id] = value
        return value


def _raise(exc: BaseException) -> Any:
    raise exc


def _num(x: Any) -> Any:
    if not _is_number(x):
        raise TypeError("must be a number")
    return x


def _isclose(a: Any, b: Any, rel_tol: Any = 1e-9, abs_tol: Any = 0.0) -> bool:
    return math.isclose(float(_num(a)), float(_num(b)), rel_tol=float(rel_tol), abs_tol=float(abs_tol))


def _check_context_kwargs(kwargs: Mapping[str, Any]) -> None:
    for key, value in kwargs.items():
        if key not in ("prec", "rounding", "Emin", "Emax", "capitals", "clamp", "traps", "flags"):
            raise TypeError(f"unexpected keyword {key!r}")
        if key == "prec" and (not isinstance(value, int) or not 0 < value <= MAX_PREC):
            raise Unsupported("this precision")
        if key in ("traps", "flags") and not (isinstance(value, list) and all(
                isinstance(t, type) and t in DECIMAL_ERRORS.values() for t in value)):
            raise Unsupported("these traps")


def _context(*args: Any, **kwargs: Any) -> decimal.Context:
    names = ["prec", "rounding", "Emin", "Emax", "capitals", "clamp", "flags", "traps"]
    merged = {**dict(zip(names, args, strict=False)), **kwargs}
    _check_context_kwargs(merged)
    return decimal.Context(**merged)


def mark_of(value: Any) -> Mark:
    if isinstance(value, MarkDecorator):
        return value.mark
    if isinstance(value, Mark):
        return value
    raise Unsupported("not a mark")


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
        ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
def is_generator(node: ast.AST) -> bool:
    known = getattr(node, "_impress_generator", None)
    if known is None:
        known = any(isinstance(n, ast.Yield | ast.YieldFrom) for n in ast.walk(node))
        node._impress_generator = known  # type: ignore[attr-defined]
    return bool(known)


def _as_load(target: ast.expr) -> ast.expr:
    if isinstance(target, ast.Name):
        return ast.Name(target.id, ast.Load())
    if isinstance(target, ast.Attribute):
        return ast.Attribute(target.value, target.attr, ast.Load())
    if isinstance(target, ast.Subscript):
        return ast.Subscript(target.value, target.slice, ast.Load())
    raise Unsupported("augmented assignment target")


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (*PLAIN, Approx)) else f"<{type(value).__name__}>"
    return text if len(text) <= 120 else text[:117] + "..."
