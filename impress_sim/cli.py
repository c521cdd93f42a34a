"""The `impress` command line: one parser, one help layout and one error exit for every subcommand.

A command is a tree: a `Group` of named actions (`impress worlds check`, `impress review benign
export`), each `Action` a pydantic config model plus the function that runs it. Every action reads
its arguments the same way: `key=value` (a dot-list parsed by OmegaConf, so `judge.model=x`,
`models=[a,b]` and typed values work; values are taken literally, `${...}` is never interpolated)
validated by its model, so an unknown key or a bad value ends
in one message that names the valid keys and, when one is close, the key that was meant. An action
may take its main argument as bare words where that reads naturally (`impress worlds check
corporate_shutdown`); `key=value` always works too. Every entry point runs through `main_for`, which
turns any `UserError` into one `error: ...` line on stderr and exit status 2 — never a traceback.

Every input is hostile: a value is parsed with bounded nesting (`MAX_VALUE_DEPTH`), any parse failure
(an unclosed `[`, bad YAML in a file of keys, a key that is not a dotted name) is one `UsageError`
naming the argument, messages echo a value clipped (`errors.shown`), and what is printed is plain
text, never rich markup (`[bold]` or `[/]` in a path is shown as typed).
"""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import sys
import textwrap
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from rich.console import Console

from impress_sim.errors import UsageError, UserError, clipped, did_you_mean, shown, unknown
from impress_sim.yamlio import MAX_BYTES as MAX_YAML_BYTES
from impress_sim.yamlio import decode, load_yaml

C = TypeVar("C", bound=BaseModel)
HELP_WORDS = ("-h", "--help", "help")
# The one wording of the budget key that run, sweep and probes share (the README says the same).
MAX_STEPS_HELP = ("tool-call budget of each agent (default: the world's limits.max_tool_calls, which is 10 "
                  "as in IMPRESS unless the world sets it)")
MAX_VALUE_DEPTH = 32  # how deep a command-line value may nest lists and mappings (`[[...]]`)
MAX_MESSAGE_CHARS = 50_000  # an error message longer than this is clipped (each value in it is clipped long before)
_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_BRACKETS = re.compile(r"[^\[\]{}]+")
_PARSE_ERRORS = (OmegaConfBaseException, yaml.YAMLError, RecursionError, ValueError, TypeError, KeyError,
                 IndexError, AttributeError)


# ---- the keys of a config model ------------------------------------------------------------------

def _group(annotation: Any) -> type[BaseModel] | None:
    """The model of a nested key group (`judge.model=...`, or an optional one: `monitor.model=...`), if
    the field is one."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _keyed_group(annotation: Any) -> type[BaseModel] | None:
    """The model of a group keyed by a name (`roles.<id>.model=...`: a dict of models), if the field is one."""
    if typing.get_origin(annotation) is dict:
        args = typing.get_args(annotation)
        return _group(args[1]) if len(args) == 2 else None
    return None


def _is_list(annotation: Any) -> bool:
    """A list field (possibly optional): a single value given for it means a list of one."""
    if typing.get_origin(annotation) is list:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # `list[str] | None`, not `int | list[int]`
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return all(typing.get_origin(a) is list for a in options)
    return False


def _fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """The model's fields, its own before those it inherits (a command's own keys lead its help)."""
    own = set(inspect.get_annotations(model))
    fields = list(model.model_fields.items())
    return [f for f in fields if f[0] in own] + [f for f in fields if f[0] not in own]


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every settable key, groups spelled out (`judge.model`, `roles.<id>.model`)."""
    out: list[str] = []
    for name, info in _fields(model):
        group, keyed = _group(info.annotation), _keyed_group(info.annotation)
        if group is not None:
            out += keys(group, f"{prefix}{name}.")
        elif keyed is not None:
            out += keys(keyed, f"{prefix}{name}.<id>.")
        else:
            out.append(f"{prefix}{name}")
    return out


def _keys_at(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[str, list[str]]:
    """The group holding the key at `loc` (its prefix, e.g. `judge.`) and the names valid there."""
    prefix, parts = "", list(loc[:-1])
    while parts:
        part = str(parts.pop(0))
        info = model.model_fields.get(part)
        if info is None:
            break
        group, keyed = _group(info.annotation), _keyed_group(info.annotation)
        if group is not None:
            model, prefix = group, f"{prefix}{part}."
        elif keyed is not None and parts:
            model, prefix = keyed, f"{prefix}{part}.{parts.pop(0)}."
        else:
            break
    return prefix, [name for name, _ in _fields(model)]


# ---- parsing -------------------------------------------------------------------------------------

def _option_hint(arg: str, model: type[BaseModel]) -> str:
    """`--out DIR` is not how keys are given: say so, naming the key that was probably meant."""
    name = arg.lstrip("-").split("=", 1)[0].replace("-", "_")
    valid = [k.split(".<id>.")[0] for k in keys(model)]
    if name.startswith("no_") and name[3:] in valid:
        return f"options are written key=value: did you mean {name[3:]}=false?"
    if name in valid:
        return f"options are written key=value: did you mean {name}=<value>?"
    close = did_you_mean(name, valid)
    hint = f"; did you mean {close[0]}=<value>?" if close else ""
    return f"unknown option {shown(arg)}: options are written key=value{hint} valid keys: {', '.join(keys(model))}"


def _listify(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """A single value where the model expects a list means a list of one (`worlds=corporate_shutdown`)."""
    for name, info in model.model_fields.items():
        if name in data and _is_list(info.annotation) and not isinstance(data[name], list | tuple | type(None)):
            data[name] = [data[name]]
    return data


def _depth(value: str) -> int:
    """How deep `value` nests `[` and `{` (counted as written, quoted or not: a bound, not a parse)."""
    depth = deepest = 0
    for c in _BRACKETS.sub("", value):
        depth = depth + 1 if c in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def _parse_hint(value: str) -> str:
    if value.lstrip().startswith(("[", "{")):
        return ("; a list is written [a,b] and a mapping {k: v}; to give text that starts with a bracket, "
                "quote it: key='\"[text]\"'")
    return ""


def _check_arg(arg: str, model: type[BaseModel]) -> None:
    """`arg` is `key=value` with a dotted key and a value nested at most MAX_VALUE_DEPTH deep."""
    if arg.startswith("-"):
        raise UsageError(_option_hint(arg, model))
    if "=" not in arg:
        raise UsageError(f"expected key=value, got {shown(arg)}; valid keys: {', '.join(keys(model))}")
    key, value = arg.split("=", 1)
    if not _KEY.fullmatch(key):
        raise UsageError(f"bad key {shown(key)}: a key is a name, or names joined by dots (judge.model=...); "
                         f"valid keys: {', '.join(keys(model))}")
    if (depth := _depth(value)) > MAX_VALUE_DEPTH:
        raise UsageError(f"{key}: the value nests {depth} levels deep; at most {MAX_VALUE_DEPTH} are allowed")


def parse_overrides(model: type[C], args: Sequence[str], base: Mapping[str, Any] | None = None) -> C:
    """`args` (`key=value` dot-list) over `base` (e.g. a YAML file's content), validated as `model`.

    Any argument that cannot be read (a bad key, an unclosed `[`, nesting deeper than MAX_VALUE_DEPTH)
    is a `UsageError` naming it; values are literal (`${...}` is not interpolated: no environment
    variable or resolver is ever read)."""
    for arg in args:
        _check_arg(arg, model)
    names = [arg.split("=", 1)[0] for arg in args]
    for name in names:
        # `judge=x judge.api_base=y`: OmegaConf would let the dotted key replace the shorthand, and
        # the model would be silently lost. Say so instead.
        if "." not in name and any(other.startswith(name + ".") for other in names):
            raise UsageError(f"{name}=<value> cannot be combined with {name}.<key>=...; use {name}.model=<value>")
    try:
        merged = OmegaConf.create(dict(base or {}))
    except _PARSE_ERRORS as exc:
        raise UsageError(f"cannot use the keys given: {_first_line(exc)}") from None
    for arg in args:
        try:
            merged.merge_with_dotlist([arg])
        except _PARSE_ERRORS as exc:
            raise UsageError(f"cannot parse {shown(arg)}: {_first_line(exc)}{_parse_hint(arg.split('=', 1)[1])}"
                             ) from None
    try:
        data = OmegaConf.to_container(merged, resolve=False)
    except _PARSE_ERRORS as exc:
        raise UsageError(f"cannot use the keys given: {_first_line(exc)}") from None
    assert isinstance(data, dict)
    try:
        return model.model_validate(_listify(model, {str(k): v for k, v in data.items()}))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                prefix, valid = _keys_at(model, err["loc"])
                problems.append(unknown("key", str(err["loc"][-1]), valid, valid_label="valid keys", prefix=prefix))
            elif err["type"] == "missing":
                problems.append(f"{key}: required (give {key}=<value>)")
            else:
                got = err.get("input")
                echoed = "" if isinstance(got, dict) else f" (got {shown(got)})"
                message = clipped(str(err["msg"]).removeprefix("Value error, "))
                problems.append(f"{shown(key)[1:-1]}: {message}{echoed}" if key else message)
        raise UsageError("; ".join(problems)) from None


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, clipped (a parser may quote the whole input)."""
    if isinstance(exc, RecursionError):
        return f"nested too deeply (at most {MAX_VALUE_DEPTH} levels)"
    if isinstance(exc, yaml.MarkedYAMLError):
        return clipped(str(exc.problem or exc.context or "not valid YAML"))
    lines = str(exc).strip().splitlines()
    return clipped(lines[0] if lines else type(exc).__name__)


# ---- commands ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Action:
    """One thing a command does: its keys (a pydantic model) and the function that runs them.

    `positional` names the key that bare words fill (a list key takes several); `file_key` names a
    key whose YAML file gives the other keys' values (the command line wins over it)."""

    summary: str
    config: type[BaseModel]
    run: Callable[[Any, Console], int]
    positional: str | None = None
    file_key: str | None = None
    details: str = ""


@dataclass(frozen=True)
class Lazy:
    """A command imported only when it is used, so `impress --help` does not import litellm."""

    summary: str
    target: str  # "module:attribute"

    def resolve(self) -> Action | Group:
        module, attr = self.target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, Action | Group)
        return command


@dataclass(frozen=True)
class Group:
    """Named actions chosen by the first word (`impress worlds check`); `default` takes the
    arguments when the first word names none of them (`impress sweep sweep.yaml`)."""

    summary: str
    actions: Mapping[str, Action | Group | Lazy] = field(default_factory=dict)
    default: str | None = None
    details: str = ""


def _width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))


def _shown(value: Any) -> str:
    """A default as it would be typed on the command line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    return "null" if value is None else str(value)


def _default_text(info: FieldInfo) -> str | None:
    """The one default a key's help shows: none when the description says it (`max_steps`: "(default:
    the world's limit)") or when the key is unset by default; else the value as typed."""
    if info.is_required() or "(default:" in (info.description or ""):
        return None
    value = info.get_default(call_default_factory=True)
    return None if value is None else _shown(value)


def _key_lines(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for name, info in _fields(model):
        group, keyed = _group(info.annotation), _keyed_group(info.annotation)
        if group is not None:
            lines += _key_lines(group, f"{prefix}{name}.")
            continue
        if keyed is not None:
            lines += _key_lines(keyed, f"{prefix}{name}.<id>.")
            continue
        text = info.description or ""
        default = _default_text(info)
        if info.is_required():
            text += " (required)"
        elif default is not None:
            text += f" (default: {default})"
        lines.append((prefix + name, text.strip()))
    return lines


def _table(rows: list[tuple[str, str]]) -> list[str]:
    """Two columns, the second wrapped to the terminal with a hanging indent."""
    width = min(max((len(k) for k, _ in rows), default=0), 22) + 4
    out = []
    for key, text in rows:
        first = f"  {key}".ljust(width) if len(key) + 4 <= width else f"  {key}  "
        wrapped = textwrap.wrap(text, _width() - width, break_on_hyphens=False) or [""]
        out.append(first + wrapped[0])
        out += [" " * width + line for line in textwrap.wrap(" ".join(wrapped[1:]), _width() - width)]
    return out


def usage(action: Action | type[BaseModel], command: str) -> str:
    """`usage: <command> [key=value ...]`, the summary, then each key with its description and default."""
    if not isinstance(action, Action):
        action = Action(summary="", config=action, run=lambda config, console: 0)
    main = ""
    if action.positional:
        many = _is_list(action.config.model_fields[action.positional].annotation)
        main = f"[{action.positional}{' ...' if many else ''}] "
    lines = [f"usage: {command} {main}[key=value ...]"]
    if action.summary:
        lines += ["", *textwrap.wrap(action.summary, _width())]
    if action.details:
        lines += ["", *action.details.strip("\n").splitlines()]
    rows = _table(_key_lines(action.config))
    lines += ["", "keys:", *rows] if rows else ["", "keys: none"]
    if action.positional:
        lines += ["", f"{action.positional}=... may also be given as bare words, before or after the keys."]
    return "\n".join(lines)


def group_usage(group: Group, command: str) -> str:
    noun = "command" if command == "impress" else "action"
    lines = [f"usage: {command} {f'[<{noun}>]' if group.default else f'<{noun}>'} [key=value ...]"]
    if group.summary:
        lines += ["", *textwrap.wrap(group.summary, _width())]
    if group.details:
        lines += ["", *group.details.strip("\n").splitlines()]
    rows = [(name + (" (default)" if name == group.default else ""), entry.summary)
            for name, entry in group.actions.items()]
    lines += ["", f"{noun}s:", *_table(rows), "", f"`{command} <{noun}> --help` lists its keys."]
    return "\n".join(lines)


def _bare_words(action: Action, args: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Bare words as the action's positional key; the rest stay `key=value`."""
    words = [a for a in args if "=" not in a and not a.startswith("-")]
    rest = [a for a in args if a not in words]
    if not words or action.positional is None:
        return {}, args  # the parser names what is wrong with a bare word
    key = action.positional
    if any(a.split("=", 1)[0] == key for a in rest):
        raise UsageError(f"{key} given twice: as {shown(' '.join(words))} and as {key}=...")
    if _is_list(action.config.model_fields[key].annotation):
        return {key: words}, rest
    if len(words) > 1:
        raise UsageError(f"expected one {key}, got {len(words)}: {clipped(', '.join(map(shown, words[:10])))}; "
                         f"other keys are written key=value")
    return {key: words[0]}, rest


def _file_base(action: Action, base: dict[str, Any], args: list[str]) -> dict[str, Any]:
    """The keys of the YAML file named by `action.file_key` (bare word or `key=`), under the command line's."""
    key = action.file_key
    given = [a.split("=", 1)[1] for a in args if a.split("=", 1)[0] == key]
    name = base.get(key) if key else None
    if key is None or not (given or name):
        return base
    path = Path(str(given[-1] if given else name))
    data = read_keys_file(path, key)
    return {**data, **base}


def read_keys_file(path: Path, key: str) -> dict[str, Any]:
    """The mapping of keys in the YAML file at `path` (given as `key`); anything else is one UsageError
    naming the file, and the line where the YAML is wrong."""
    where = clipped(str(path))
    try:
        if not path.is_file():
            raise UsageError(f"{key}: no such file {shown(str(path))} (expected a YAML file of keys)")
        if (size := path.stat().st_size) > MAX_YAML_BYTES:
            raise UsageError(f"{where}: {size:,} bytes; a YAML file of keys is limited to {MAX_YAML_BYTES:,}")
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{key}: cannot read {shown(str(path))}: {exc.strerror or exc}") from None
    text = decode(raw, where, UsageError)  # the one rule for binary, UTF-16 and bad bytes (impress_sim.yamlio)
    if (depth := _depth(text)) > MAX_VALUE_DEPTH:  # flow style; block style is bounded by the loader below
        raise UsageError(f"{where}: values nest {depth} levels deep; at most {MAX_VALUE_DEPTH} are allowed")
    # the one bounded loader (impress_sim.yamlio): aliases, duplicate keys, timestamps as text
    data = load_yaml(text, name=where, error=UsageError) or {}
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a mapping of keys (key: value lines), got {type(data).__name__}")
    return data


def parse_action(action: Action, args: list[str]) -> BaseModel:
    for arg in args:  # `--out DIR`: say how keys are written before DIR is taken for a bare word
        if arg.startswith("-"):
            raise UsageError(_option_hint(arg, action.config))
    base, rest = _bare_words(action, args)
    return parse_overrides(action.config, rest, _file_base(action, base, rest))


def execute(command: Action | Group | Lazy, args: list[str], prog: str) -> int:
    """Run `command` on `args` (`prog` is how the user called it, for help and messages)."""
    if isinstance(command, Lazy):
        command = command.resolve()
    if isinstance(command, Group):
        if not args or args[0] in HELP_WORDS:
            print(group_usage(command, prog))
            return 0 if args else 2
        first = args[0]
        if first in command.actions:
            return execute(command.actions[first], args[1:], f"{prog} {first}")
        # a word close to an action's name is a typo of it, not a file for the default action
        typo = "=" not in first and not first.startswith("-") and bool(did_you_mean(first, command.actions))
        if command.default is None or (typo and not Path(first).exists()):
            where = "" if prog == "impress" else f"{prog}: "
            kind = "command" if prog == "impress" else "action"
            raise UsageError(where + unknown(kind, first, command.actions) + f" (see {prog} --help)")
        return execute(command.actions[command.default], args, prog)
    if any(a in HELP_WORDS for a in args):
        print(usage(command, prog))
        return 0
    return command.run(parse_action(command, args), Console())


def print_error(message: object) -> None:
    """`error: <message>` on stderr, printed as text: never read as markup (`pip install
    'impress-sim[ray]'` keeps its brackets), control characters shown escaped, clipped to
    MAX_MESSAGE_CHARS, no traceback."""
    text = clipped(str(message), MAX_MESSAGE_CHARS)
    text = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)
    print(f"error: {text}", file=sys.stderr, flush=True)


def main_for(command: Action | Group | Lazy, argv: Sequence[str] | None, prog: str) -> int:
    """The one entry point of every command: a `UserError` becomes one `error:` line and status 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return execute(command, args, prog)
    except UserError as exc:
        print_error(exc)
        return 2
    except RecursionError:  # a structure nested past every bound above: still one line, never a traceback
        print_error("input nested too deeply to read")
        return 2
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except BrokenPipeError:  # `impress run --help | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the machine refused (a name too long, a full disk, no permission): say what
        name = f": {shown(str(exc.filename))}" if exc.filename is not None else ""
        print_error(f"{exc.strerror}{name}" if exc.strerror else clipped(str(exc) or type(exc).__name__))
        return 1
