"""The world-file reference, generated from the pydantic models (`impress worlds schema`).

Every model reachable from `WorldSpec` becomes one section: each field with its readable type (links
between models), whether it is required or its default, the values it allows (Literal and enum
members, patterns, bounds), its description and an example. Examples come from a field's own
`examples=` or, failing that, from the first shipped world (in `EXAMPLE_WORLDS` order) that writes
the field. docs/world-schema.md is this output, checked in; a test regenerates it so it never drifts.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from impress_sim.envs.loader import load_world
from impress_sim.envs.problems import PATTERN_MEANINGS
from impress_sim.envs.spec import WorldSpec

# The shipped worlds examples are taken from, in this order (a fixed list: a new world never changes
# the reference unless it is added here).
EXAMPLE_WORLDS = ("corporate_shutdown", "code_review", "cloud_budget", "monitoring_migration")
EXAMPLE_CHARS = 110
ID_PATTERNS = PATTERN_MEANINGS
_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "at least {}"),
           ("max_length", "at most {}"))
HEADER = """# World file reference (world.yaml)

Generated from the pydantic models in `impress_sim/envs/` by `impress worlds schema`
(`python -m impress_sim.worlds schema > docs/world-schema.md`); do not edit by hand. The JSON schema:
`impress worlds schema format=json`. How to write a world: [world-authoring.md](world-authoring.md);
every tool and its arguments: `impress worlds tools`; the simulated shell: [shell.md](shell.md).

Each section is one YAML mapping. *required* fields have no default; an unknown field is an error
(every mapping is strict). Types link to their section; `A | B` means either. Examples are taken from
the shipped worlds ({worlds}) and clipped.
"""


def models(root: type[BaseModel] = WorldSpec) -> list[type[BaseModel]]:
    """Every model reachable from `root` through field annotations, breadth first."""
    seen: list[type[BaseModel]] = [root]
    i = 0
    while i < len(seen):
        for info in seen[i].model_fields.values():
            for model in _models_in(info.annotation):
                if model not in seen:
                    seen.append(model)
        i += 1
    return seen


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def type_name(annotation: Any, *, links: bool = True) -> str:
    """`list[str]`, `dict[str, HostSpec]`, `Condition | null`: a type as an author reads it."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if origin is typing.Annotated:
        return type_name(args[0], links=links)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a, links=links) for a in args)
    if origin is typing.Literal:
        return "str" if all(isinstance(a, str) for a in args) else " | ".join(repr(a) for a in args)
    if origin is list:
        return f"list[{type_name(args[0], links=links)}]"
    if origin is tuple:
        return f"[{', '.join(type_name(a, links=links) for a in args)}]"
    if origin is dict:
        return f"dict[{type_name(args[0], links=links)}, {type_name(args[1], links=links)}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{_anchor(annotation)})" if links else annotation.__name__
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return f"str ({annotation.__name__})"
    if annotation is datetime:
        return "datetime"
    return getattr(annotation, "__name__", str(annotation))


def allowed_values(info: FieldInfo) -> list[str]:
    """What a field allows beyond its type: enum/Literal members, a pattern, bounds."""
    notes: list[str] = []
    members = _members(info.annotation)
    if members:
        notes.append("one of " + ", ".join(f"`{m}`" for m in members))
    for meta in info.metadata:
        pattern = getattr(meta, "pattern", None)
        if pattern:
            notes.append(ID_PATTERNS.get(pattern, f"matches `{pattern}`"))
        for attr, sign in _BOUNDS:
            value = getattr(meta, attr, None)
            if value is not None and "{}" in sign:
                noun = "character" if _has(info.annotation, str) and not _is_container(info.annotation) else "item"
                notes.append(f"{sign.format(value)} {noun}{'s' * (value != 1)}")
            elif value is not None:
                notes.append(f"{sign} {value}")
    if _has(info.annotation, datetime):
        notes.append("ISO time, like `2026-11-20T18:00:00`")
    return notes


def _is_container(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (list, dict) or any(_is_container(a) for a in typing.get_args(annotation))


def _has(annotation: Any, wanted: Any) -> bool:
    return annotation is wanted or any(_has(a, wanted) for a in typing.get_args(annotation))


def _members(annotation: Any) -> list[str]:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    if origin in (typing.Union, types.UnionType, list):
        found: list[str] = []
        for arg in typing.get_args(annotation):
            found += [m for m in _members(arg) if m not in found]
        return found
    return []


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "*required*"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "*required*"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, enum.Enum):
        value = value.value
    return f"`{_flow(value)}`"


def _flow(value: Any) -> str:
    """A value as one line of YAML flow style."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False, allow_unicode=True)
    text = text.strip()
    if text.endswith("\n...") or text.endswith("..."):
        text = text.removesuffix("...").strip()
    return text


def _clip(text: str, limit: int = EXAMPLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def collect_examples(worlds: tuple[str, ...] = EXAMPLE_WORLDS) -> dict[tuple[str, str], str]:
    """(model name, field name) -> the first value written for it in the shipped worlds."""
    found: dict[tuple[str, str], str] = {}
    for world in worlds:
        spec = load_world(world).spec
        stack: list[Any] = [spec]
        while stack:
            node = stack.pop(0)
            if isinstance(node, BaseModel):
                dumped = node.model_dump(mode="json", by_alias=True, exclude_unset=True)
                for name, info in type(node).model_fields.items():
                    if name not in node.model_fields_set:
                        continue
                    key = (type(node).__name__, name)
                    value = dumped.get(info.alias or name)
                    text = " ".join(_flow(value).split())
                    if len(text) > EXAMPLE_CHARS and isinstance(value, list) and value:  # one item of a long list
                        text = " ".join(_flow(value[:1]).split())
                    if key not in found and (len(text) <= EXAMPLE_CHARS or not any(_models_in(info.annotation))):
                        found[key] = _clip(text)
                    stack.append(getattr(node, name))
            elif isinstance(node, dict):
                stack.extend(node.values())
            elif isinstance(node, list | tuple):
                stack.extend(node)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(root: type[BaseModel] = WorldSpec) -> str:
    examples = collect_examples()
    out = [HEADER.format(worlds=", ".join(EXAMPLE_WORLDS)), "## Contents", ""]
    every = models(root)
    out += [f"- [{m.__name__}](#{_anchor(m)})" for m in every]
    for model in every:
        out += ["", f"## {model.__name__}", ""]
        doc = (model.__doc__ or "").strip()
        if doc and model.__module__.startswith("impress_sim"):
            out += [" ".join(line.strip() for line in doc.splitlines() if line.strip()) if "\n\n" not in doc
                    else doc.replace("\n    ", "\n"), ""]
        used_by = [f"[{m.__name__}](#{_anchor(m)})" for m in every
                   if any(model in _models_in(i.annotation) for i in m.model_fields.values())]
        if used_by:
            out += [f"Used in: {', '.join(dict.fromkeys(used_by))}.", ""]
        out += ["| field | type | default | allowed | description | example |", "|---|---|---|---|---|---|"]
        for name, info in model.model_fields.items():
            field = info.alias or name
            given = info.examples[0] if info.examples else None
            example = _clip(_flow(given)) if given is not None else examples.get((model.__name__, name), "")
            out.append("| " + " | ".join([
                f"`{field}`", _cell(type_name(info.annotation)), _cell(default_text(info)),
                _cell("; ".join(allowed_values(info))), _cell(info.description or ""),
                _cell(f"`{example}`" if example else ""),
            ]) + " |")
    return "\n".join(out) + "\n"


def json_schema() -> str:
    return json.dumps(WorldSpec.model_json_schema(by_alias=True), indent=2, sort_keys=True, default=str) + "\n"


def undescribed(root: type[BaseModel] = WorldSpec) -> list[str]:
    """`Model.field` of every field without a description (the reference wants none)."""
    return [f"{m.__name__}.{name}" for m in models(root) for name, info in m.model_fields.items()
            if not (info.description or "").strip()]
