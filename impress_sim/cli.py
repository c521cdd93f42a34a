"""Shared command-line plumbing: `key=value` overrides parsed by OmegaConf, validated by pydantic.

OmegaConf parses the dot-list (`judge.model=x`, typed values, quoting); pydantic validates it
against the command's config model, so an unknown key or a bad value ends in one message that
names the valid keys — never a traceback.
"""

from __future__ import annotations

from typing import TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ValidationError

C = TypeVar("C", bound=BaseModel)


class UsageError(Exception):
    """A mistake on the command line; the message says how to fix it."""


def usage(model: type[BaseModel], command: str) -> str:
    lines = [f"usage: {command} [key=value ...]", "", "keys:"]
    for name, field in model.model_fields.items():
        default = field.default if field.default is not None else "—"
        lines.append(f"  {name:<12} {field.description or ''} (default: {default})")
    return "\n".join(lines)


def parse_overrides(model: type[C], args: list[str]) -> C:
    valid = ", ".join(model.model_fields)
    for arg in args:
        if "=" not in arg:
            raise UsageError(f"expected key=value, got {arg!r}; valid keys: {valid}")
    try:
        data = OmegaConf.to_container(OmegaConf.from_dotlist(args), resolve=True)
    except OmegaConfBaseException as exc:
        raise UsageError(f"cannot parse overrides: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown key {key!r}; valid keys: {valid}")
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise UsageError("; ".join(problems)) from None
