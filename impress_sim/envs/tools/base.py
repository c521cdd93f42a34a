"""The tool contract: a typed function, its JSON schema, and the context it acts through.

A tool is a plain function `def name(ctx: ToolContext, arg: type, ...) -> str` marked with
`@tool`. Its argument model (and so its JSON schema) is derived from the signature, and its
descriptions from the docstring (Google style), so what the model sees and what is validated can
never drift apart. Tools act only on the world state through `ctx`; none of them touches the host.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from impress_sim.envs.state import Change, Path, State, StateError, to_plain

if TYPE_CHECKING:
    from impress_sim.envs.spec import WorldSpec


class ToolError(Exception):
    """A tool refused or failed; its message becomes the observation, prefixed with 'Error:'."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: the agent, an NPC, or the system (jobs, timeline)."""

    id: str
    user: str
    email: str | None = None
    host: str | None = None
    cwd: str = "/"


@dataclass
class ToolContext:
    """Everything a tool may use. Writes go through `set`/`delete`, attributed to `actor`."""

    state: State
    spec: WorldSpec
    actor: Actor
    notices: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)  # what the world refused this actor, this step
    privileged: bool = False  # every check passes: only on a branch, to see what a refused act would do

    def permits(self, granted: bool, what: str) -> bool:
        """The one gate for every permission and reachability check: a denial is recorded as a refusal
        (an attempt the detectors may look at), and lifted when running privileged."""
        if granted:
            return True
        self.refusals.append(f"{self.actor.id}: {what}")
        return self.privileged

    def get(self, path: str | Path, default: Any = None) -> Any:
        return self.state.get(path, default)

    def set(self, path: str | Path, value: Any, *, parents: bool = False) -> Change | None:
        return self.state.set(path, value, actor=self.actor.id, parents=parents)

    def delete(self, path: str | Path) -> Change:
        return self.state.delete(path, actor=self.actor.id)

    def now(self) -> datetime:
        return datetime.fromisoformat(self.state.get("clock/now"))

    def new_id(self, prefix: str) -> str:
        """A deterministic fresh id (per world, per prefix) for new emails, messages, pids."""
        n = int(self.state.get(("meta", "counters", prefix), 0)) + 1
        self.state.set(("meta", "counters", prefix), n, actor="system", parents=True)
        return f"{prefix}-{n:04d}"

    def lookup(self, collection: str, name: str, kind: str) -> dict[str, Any]:
        """The entry `name` of a top-level collection (tables, configs, pools...), or a ToolError
        that lists the valid names: an agent that guessed wrong learns what exists."""
        entry = self.state.get((collection, name), None)
        if entry is None:
            raise ToolError(f"unknown {kind} {name!r}; valid: {', '.join(self.state.children(collection))}")
        return dict(entry)

    def granted(self, permission: str) -> bool:
        """Whether the actor holds `permission` (or admin): a question, never a refusal."""
        held = {str(p).strip().casefold() for p in self.state.get(("accounts", self.actor.user, "permissions"), ())}
        return permission.casefold() in held or "admin" in held or self.actor.id == "system"

    def has_permission(self, permission: str) -> bool:
        """The gate for an act that needs `permission`: a denial is a refusal (see `permits`)."""
        return self.permits(self.granted(permission), f"{self.actor.user} lacks permission {permission!r}")


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ToolDef:
    name: str
    description: str
    category: str
    fn: Callable[..., str]
    args_model: type[ToolArgs]
    # What it journals: state path patterns (`<name>` stands for any text, slashes included), e.g.
    # `mailboxes/<your address>/sent/<id>`; () writes nothing; None: not declared (a hooks tool may
    # leave it out). `impress worlds tools` shows it; runtime bookkeeping under `meta/` is not listed.
    writes: tuple[str, ...] | None = None

    @functools.cached_property
    def schema(self) -> dict[str, Any]:
        """OpenAI-style function schema, built once per tool (treat as read-only)."""
        return self.json_schema()

    def json_schema(self) -> dict[str, Any]:
        """OpenAI-style function schema (a fresh copy)."""
        params = self.args_model.model_json_schema()
        params.pop("title", None)
        for prop in params.get("properties", {}).values():
            prop.pop("title", None)
        return {"name": self.name, "description": self.description, "parameters": params}

    def call(self, ctx: ToolContext, args: Mapping[str, Any]) -> str:
        """Validate `args` and run; bad arguments and refusals come back as ToolError."""
        try:
            parsed = self.args_model.model_validate(dict(args))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolError(f"invalid arguments for {self.name}: {problems}") from None
        try:
            return self.fn(ctx, **parsed.model_dump())
        except StateError as exc:
            raise ToolError(str(exc)) from None


_MARK = "__impress_tool__"


def tool(
    category: str, name: str | None = None, *, writes: Iterable[str] | None = None
) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Mark a function as a world tool; worlds' hooks.py use the same decorator. `writes` lists the
    state paths it may change (patterns, `<name>` for any text), shown by `impress worlds tools`."""

    def wrap(fn: Callable[..., str]) -> Callable[..., str]:
        built = _build(fn, category, name or fn.__name__)
        if writes is not None:
            built = dataclasses.replace(built, writes=tuple(writes))
        setattr(fn, _MARK, built)
        return fn

    return wrap


def _build(fn: Callable[..., str], category: str, name: str) -> ToolDef:
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    param_docs = {p.arg_name: p.description or "" for p in doc.params}
    hints = get_type_hints(fn)
    fields: dict[str, Any] = {}
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].name != "ctx":
        raise TypeError(f"tool {name}: the first parameter must be `ctx: ToolContext`")
    for p in params[1:]:
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints[p.name], Field(default=default, description=param_docs.get(p.name, "")))
    description = "\n\n".join(x for x in (doc.short_description, doc.long_description) if x)
    model = create_model(f"{name}_args", __base__=ToolArgs, **fields)
    return ToolDef(name=name, description=description, category=category, fn=fn, args_model=model)


def collect(modules: Iterable[types.ModuleType]) -> dict[str, ToolDef]:
    """All tools marked with `@tool` in `modules`, by name; a duplicate name is an error."""
    found: dict[str, ToolDef] = {}
    for module in modules:
        for value in vars(module).values():
            spec = getattr(value, _MARK, None)
            if isinstance(spec, ToolDef):
                if spec.name in found and found[spec.name].fn is not spec.fn:
                    raise ValueError(f"two tools are named {spec.name!r}")
                found[spec.name] = spec
    return found


def as_json(value: Any) -> str:
    """Tool output for structured values: stable, indented JSON."""
    return json.dumps(to_plain(value), indent=2, sort_keys=True, default=str)
