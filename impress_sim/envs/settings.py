"""Settings: a value in a config file or document, read the way the program that consumes it reads it.

A detector that matches the text `enabled: false` misses `enabled: no`, `enabled: "False"`, a
duplicated key that wins, a deleted key whose program default is off, or a file that no longer
parses. A setting names the value instead — where it lives (a file on a host, or a config document
in the state), the format the program parses it with, the key, the type it coerces it to, its
default when the key is missing, and what the program ends up with when the file is missing or
broken — and rules test the *effective* value.

Parsers are the ones a Python program would use: PyYAML's `safe_load` (YAML 1.1: `yes`/`no`/`on`/
`off` are booleans, a duplicated key keeps the last value), `json` (last duplicate wins),
`configparser` (a duplicated option is an error, as in the standard library), `tomllib`, and
python-dotenv for `.env`. Values are coerced with pydantic in lax mode (after stripping whitespace
from strings), so `"false"`, `"Off"`, `0` and `no` all read as `False` for a `bool`, while `"fals"`
is a coercion error; a `datetime` is compared in one spelling (ISO 8601), however it was written. A
`null` value counts as a missing key (the program's default).
"""

from __future__ import annotations

import configparser
import io
import json
import posixpath
import tomllib
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from impress_sim.yamlio import program_yaml

Format = Literal["yaml", "json", "ini", "toml", "env"]
ValueType = Literal["bool", "int", "float", "str", "datetime", "list", "any"]
Getter = Callable[..., Any]

_EXTENSIONS: dict[str, Format] = {
    ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".ini": "ini", ".cfg": "ini", ".conf": "ini",
    ".toml": "toml", ".env": "env",
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "bool": TypeAdapter(bool), "int": TypeAdapter(int), "float": TypeAdapter(float), "str": TypeAdapter(str),
    "list": TypeAdapter(list[Any]), "datetime": TypeAdapter(datetime),
}


class SettingSpec(BaseModel):
    """Where a program's setting lives and how the program reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(default="", description="What the setting controls, for authors and judges.")
    host: str | None = Field(default=None, description="The host of `file`.")
    file: str | None = Field(default=None, pattern=r"^/", description="An absolute file path on `host`.")
    config: str | None = Field(default=None, description="Or: a config document in the state (get_config/set_config).")
    format: Format | None = Field(default=None, description="How the program parses the file; default: by extension.")
    key: str = Field(default="", description="Dotted key (`a.b.0.c`); for ini `section.option`, for env `NAME`. "
                     "Empty: the whole document.")
    type: ValueType = Field(default="any", description="What the program coerces the value to (pydantic lax mode).")
    default: Any = Field(default=None, description="The program's value when the key is missing (or null).")
    missing: Any = Field(default=None, description="The program's value when the file or document does not exist.")
    on_error: Any = Field(default=None, description="The program's value when the file does not parse or the value "
                          "does not coerce (None: it has none, so a test for a value fails).")

    @model_validator(mode="after")
    def _one_source(self) -> SettingSpec:
        if (self.file is None) == (self.config is None):
            raise ValueError("a setting reads exactly one of: file (+ host), config")
        if self.file is not None and self.host is None:
            raise ValueError("a setting with `file` needs the `host` it lives on")
        if self.file is not None and self.format is None and self.file_format() is None:
            raise ValueError(f"cannot tell the format of {self.file!r} from its extension; give `format` "
                             f"(one of {sorted(set(_EXTENSIONS.values()))})")
        return self

    def file_format(self) -> Format | None:
        if self.format is not None:
            return self.format
        return format_of(self.file or "")


def format_of(path: str) -> Format | None:
    """How a program reads a file, by its name (`.env` alone is a dotenv file too), or None."""
    name = posixpath.basename(path).lower()
    if name == ".env":
        return "env"
    return _EXTENSIONS.get(posixpath.splitext(name)[1])


class _Broken:
    """A document that does not parse (the program fails to read it)."""

    def __repr__(self) -> str:
        return "<unparseable>"


BROKEN: Any = _Broken()
_MISSING: Any = object()


@lru_cache(maxsize=4096)
def parse_document(text: str, fmt: Format) -> Any:
    """The document as the program's parser returns it, or BROKEN. Cached: programs reread unchanged files."""
    try:
        if fmt == "yaml":
            return program_yaml(text)  # safe_load's reading, but an alias bomb is BROKEN, not a hang
        if fmt == "json":
            return json.loads(text)
        if fmt == "toml":
            return tomllib.loads(text)
        if fmt == "env":
            return dict(dotenv_values(stream=io.StringIO(text)))
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(text)
        return {section: dict(parser[section]) for section in parser.sections()}
    except (yaml.YAMLError, ValueError, tomllib.TOMLDecodeError, configparser.Error, RecursionError):
        return BROKEN  # json.JSONDecodeError is a ValueError


def lookup(document: Any, key: str) -> Any:
    """The value at a dotted key (list items by index), or _MISSING."""
    node = document
    for part in [p for p in key.split(".") if p] if key else []:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def coerce(value: Any, value_type: ValueType) -> Any:
    """`value` as the program coerces it, or BROKEN."""
    if value_type == "any":
        return value
    if isinstance(value, str):
        value = value.strip()
    if value_type == "list" and isinstance(value, tuple):
        value = list(value)
    if value_type == "bool" and isinstance(value, int | float) and not isinstance(value, bool) and value not in (0, 1):
        return BROKEN  # pydantic refuses 2 as a bool too; say so explicitly
    try:
        result = _ADAPTERS[value_type].validate_python(value)
    except ValidationError:
        return BROKEN
    return result.isoformat() if isinstance(result, datetime) else result  # one spelling of a moment


def effective(setting: SettingSpec, get: Getter) -> Any:
    """The value the program would act on now, given a state getter `get(path, default)`."""
    from impress_sim.envs.state import to_plain

    if setting.config is not None:
        parts = tuple(p for p in setting.key.split(".") if p)
        value = get(("config", setting.config, *parts), None) if parts else None
        if value is not None:  # read just the key, so changes elsewhere in the document leave answers be
            result = coerce(to_plain(value), setting.type)
            return setting.on_error if result is BROKEN else result
        document = get(("config", setting.config), None)  # looked up in place: only the value is copied
        if document is None:
            return setting.missing
    else:
        assert setting.file is not None and setting.host is not None
        entry = get(("hosts", setting.host, "files", setting.file.lstrip("/")), None)
        if not isinstance(entry, dict) or entry.get("kind", "file") != "file":
            return setting.missing
        fmt = setting.file_format()
        assert fmt is not None
        document = parse_document(str(entry.get("content", "")), fmt)
        if document is BROKEN:
            return setting.on_error
    value = lookup(document, setting.key)
    if value is _MISSING or value is None:
        return setting.default
    result = coerce(to_plain(value), setting.type)
    return setting.on_error if result is BROKEN else result
