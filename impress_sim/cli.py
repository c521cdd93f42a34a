"""Shared command-line plumbing: `key=value` overrides parsed by OmegaConf, validated by pydantic.

OmegaConf parses the dot-list (`judge.model=x`, typed values, quoting); pydantic validates it
against the command's config model, so an unknown key or a bad value ends in one message that
names the valid keys — never a traceback.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape

from impress_sim.errors import UsageError

C = TypeVar("C", bound=BaseModel)


def _group(annotation: Any) -> type[BaseModel] | None:
    """The model of a nested key group (`judge.model=...`), if the field is one."""
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _fields(model: type[BaseModel]) -> list[tuple[str, Any]]:
    """The model's fields, its own before those it inherits (a command's own keys lead its help)."""
    own = set(inspect.get_annotations(model))
    fields = list(model.model_fields.items())
    return [f for f in fields if f[0] in own] + [f for f in fields if f[0] not in own]


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every settable key, nested groups spelled out (`judge.model`)."""
    out: list[str] = []
    for name, field in _fields(model):
        group = _group(field.annotation)
        out += keys(group, f"{prefix}{name}.") if group else [f"{prefix}{name}"]
    return out


def _valid_keys_at(model: type[BaseModel], loc: Sequence[int | str]) -> str:
    """The valid keys of the group holding the unknown key at `loc` (the top level, or e.g. judge.)."""
    prefix = ""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        group = _group(field.annotation) if field is not None else None
        if group is None:
            break
        model, prefix = group, f"{prefix}{part}."
    return ", ".join(keys(model, prefix))


def usage(model: type[BaseModel], command: str) -> str:
    lines = [f"usage: {command} [key=value ...]", "", "keys:"]
    for name, field in _fields(model):
        group = _group(field.annotation)
        if group is not None:
            lines += [f"  {name}.{line.strip()}" for line in usage(group, command).splitlines()[3:]]
            continue
        if field.is_required():
            lines.append(f"  {name:<12} {field.description or ''} (required)")
            continue
        default = field.get_default(call_default_factory=True)
        default = "—" if default is None else default
        lines.append(f"  {name:<12} {field.description or ''} (default: {default})")
    return "\n".join(lines)


def parse_overrides(model: type[C], args: list[str], base: dict[str, Any] | None = None) -> C:
    """`args` (`key=value` dot-list) over `base` (e.g. a YAML file's content), validated as `model`."""
    valid = ", ".join(keys(model))
    for arg in args:
        if "=" not in arg:
            raise UsageError(f"expected key=value, got {arg!r}; valid keys: {valid}")
    names = [arg.split("=", 1)[0] for arg in args]
    for name in names:
        # `judge=x judge.api_base=y`: OmegaConf would let the dotted key replace the shorthand, and
        # the model would be silently lost. Say so instead.
        if "." not in name and any(other.startswith(name + ".") for other in names):
            raise UsageError(f"{name}=<value> cannot be combined with {name}.<key>=...; use {name}.model=<value>")
    try:
        merged = OmegaConf.merge(OmegaConf.create(base or {}), OmegaConf.from_dotlist(args))
        data = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as exc:
        raise UsageError(f"cannot parse overrides: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown key {key!r}; valid keys: {_valid_keys_at(model, err['loc'])}")
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise UsageError("; ".join(problems)) from None


def print_error(console: Console, message: object) -> None:
    """`error: <message>` in red; the message is escaped, so `pip install 'impress-sim[ray]'` keeps its
    brackets (rich would read them as markup and drop them)."""
    console.print(f"[red]error:[/red] {escape(str(message))}", highlight=False, soft_wrap=True)
