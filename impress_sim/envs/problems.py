"""What is wrong with a world file, said so its author can fix it in one round.

`loader.py` finds, reads and builds worlds; this module turns what fails into messages: pydantic's
errors as `<field path>: <what is wrong>; <what is allowed>` (with the closest valid name), and, for
a world that does not validate, every further problem at once (`Lenient`: the broken parts set
aside and the rest validated again, so cross-reference problems appear beside field errors).
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from impress_sim.envs.references import world_problems
from impress_sim.envs.spec import WorldSpec
from impress_sim.envs.tools.base import ToolDef
from impress_sim.errors import did_you_mean, unknown


def _unwrap(annotation: Any, part: str | int) -> Any:
    """The type found one step down `annotation` at `part` of a pydantic error location."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        named = [a for a in members if getattr(a, "__name__", None) == part]
        if named:
            return named[0]
        models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
        containers = [a for a in members if typing.get_origin(a) in (list, dict)]
        pick = models or containers
        return _unwrap(pick[0], part) if len(pick) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    if origin is list and isinstance(part, int):
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    return None


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The spec model at a location of a validation error (for "what is allowed" there)."""
    current: Any = WorldSpec
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return None
    if typing.get_origin(current) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(current) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = models[0] if len(models) == 1 else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


# What the spec's patterns mean, in words (validate's messages and the schema reference say them).
PATTERN_MEANINGS = {
    r"^[a-z][a-z0-9_\-]*$": "an id: a lowercase letter, then lowercase letters, digits, `_` or `-`",
    r"^[a-z][a-z0-9_]*$": "an id: a lowercase letter, then lowercase letters, digits or `_`",
    r"^[0-7]{3}$": "three octal digits, like `644`",
    r"^/": "an absolute path (starts with `/`)",
}


def _problem(err: Any) -> str:
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "invalid_key" and isinstance(err.get("input"), bool):
        written = "on/yes" if err["input"] else "off/no"
        parent = ".".join(str(p) for p in loc[:-1]) or "(top level)"
        return (f"{parent}: a key YAML read as {str(err['input']).lower()} (it reads unquoted {written} as "
                "booleans): quote it (\"on\":), or in an NPC rule write `event:`, not `on:`")
    if err["type"] == "extra_forbidden" and loc:
        model = _model_at(loc[:-1])
        if model is not None:
            allowed = sorted(info.alias or name for name, info in model.model_fields.items())
            return f"{where}: {unknown('field', loc[-1], allowed, valid_label='allowed')}"
    if err["type"] == "missing" and loc:
        return f"{where}: required field missing"
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {str(got)[:60]!r})"
    msg = err["msg"].removeprefix("Value error, ")
    meaning = PATTERN_MEANINGS.get(str(err.get("ctx", {}).get("pattern", "")))
    if err["type"] == "string_pattern_mismatch" and meaning:
        msg = f"{msg}: {meaning}"
    if err["type"] in ("literal_error", "enum") and isinstance(got, str):  # the closest allowed value
        close = did_you_mean(got, re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", ""))))
        shown += f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    if not loc and _NAMES_A_FIELD.match(msg):  # a cross-reference check: the message names its own field
        return f"{msg}{shown}"
    return f"{where}: {msg}{shown}"


_NAMES_A_FIELD = re.compile(r"^[\w\-]+(\.[^\s:]+)*: ")


def format_validation(path: Path, exc: ValidationError) -> str:
    errors = exc.errors()  # every one: the count in the first line is the number of lines that follow
    return format_problems(path, [_problem(err) for err in errors])


def format_problems(path: Path, problems: list[str], note: str = "") -> str:
    lines = [f"{path}: invalid world spec ({len(problems)} problem{'s' * (len(problems) > 1)})"]
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines + ([f"  ({note})"] if note else []))


def npc_tool_problems(spec: WorldSpec, available: dict[str, ToolDef]) -> list[str]:
    """NPCs, jobs and the timeline may use every tool, hooks' too, enabled or not."""
    return [f"npcs.{i}.tools.{j}: {unknown('tool', name, sorted(available))}"
            for i, npc in enumerate(spec.npcs) for j, name in enumerate(npc.tools) if name not in available]


_MAX_ROUNDS = 50  # repairs of one invalid world while looking for its further problems
_PATH_PREFIX = re.compile(r"^([\w\-]+(?:\.[^\s:]+)*): ")
_QUOTED = re.compile(r"'([^']{1,200})'")


class Lenient:
    """Every problem of a world that does not validate, in one list.

    Pydantic reports every field error at once, but the cross-reference checks (`WorldSpec`'s
    validators, `references.py`) only run on a spec that parsed, and stop at their first problem. So
    after the field errors, the parts that failed are set aside (a field with a default falls back to
    it; otherwise the list item or mapping entry holding it is dropped) and the rest validated again,
    and again after each cross-reference problem, until the rest validates. A problem that names
    something set aside (its path, or a name quoted from it) is left out: it may only be an echo of
    the repair; the last line says when that happened. A name that is close to a valid one is
    replaced by it for the next round, so one typo does not hide the problems behind it.
    """

    def __init__(self, data: dict[str, Any], tools: dict[str, ToolDef]) -> None:
        self.data = data
        self.tools = tools
        self.removed: set[tuple[Any, ...]] = set()
        self.replaced: dict[tuple[Any, ...], Any] = {}
        self.names: set[str] = set()  # strings in what was set aside (for the echo test)
        self.found: list[str] = []
        self.skipped = False
        bad = data.get("tools")
        if isinstance(bad, list):
            for i, name in enumerate(bad):
                if isinstance(name, str) and name not in tools:
                    close = did_you_mean(name, sorted(tools))
                    if close:  # the tool it most likely means, so trajectories using it are not blamed
                        self.replaced[("tools", i)] = close[0]
                    else:
                        self._set_aside(("tools", i))

    def working(self) -> Any:
        return _rebuilt(self.data, self.removed, self.replaced, ())

    def problems(self) -> list[str]:
        first = True
        for _ in range(_MAX_ROUNDS):
            try:
                spec = WorldSpec.model_validate(self.working())
            except ValidationError as exc:
                if not self._round(exc.errors(), report_fields=first):
                    break
                first = False
                continue
            except RecursionError:
                break
            else:
                self._report(world_problems(spec, self.tools) + npc_tool_problems(spec, self.tools))
                break
        else:
            self.skipped = True
        return self.found

    def _round(self, errors: list[Any], *, report_fields: bool) -> bool:
        """Report `errors` and set aside what they name; False when nothing more can be checked."""
        located = []
        for err in errors:  # every location in the file's terms before anything more is set aside
            loc = tuple(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            named = _PATH_PREFIX.match(message) if not loc else None
            if named:  # a cross-reference check: its message names the field
                loc = tuple(int(p) if p.isdigit() else p for p in named.group(1).split("."))
            located.append((err, message, named, self._original(loc)))
        progress = False
        for err, message, named, original in located:
            if original is None:
                self.skipped = True
                continue
            where = ".".join(str(p) for p in original)
            text = _problem({**err, "loc": original}) if not named else where + message[named.end(1):]
            if (report_fields and not named) or not self._echo(original, text):
                self.found.append(_with_suggestion(text))
            if named and self._substitute(original, message):
                progress = True
                continue
            if err["type"] == "missing" and _annotation_at(original) is str:  # an empty text stands in
                self.replaced[original] = ""
                progress = True
                continue
            target = self._removal(original, err["type"] == "missing")
            if target is None:
                self.skipped = True
                continue
            if any(target[: len(r)] == r for r in self.removed):
                continue  # already set aside with what holds it
            self._set_aside(target)
            progress = True
        return progress

    def _report(self, problems: list[str]) -> None:
        for text in problems:
            named = _PATH_PREFIX.match(text)
            loc = tuple(int(p) if p.isdigit() else p for p in named.group(1).split(".")) if named else ()
            original = self._original(loc) if named else ()
            if original is not None and named:
                text = ".".join(str(p) for p in original) + text[named.end(1):]
            if not self._echo(original or (), text):
                self.found.append(_with_suggestion(text))

    def _echo(self, loc: tuple[Any, ...], text: str) -> bool:
        """Whether a problem may only be an echo of setting something aside."""
        if any(loc[: len(r)] == r or (loc and r[: len(loc)] == loc) for r in self.removed):
            return True
        return any(name in self.names for name in _QUOTED.findall(text))

    def _substitute(self, loc: tuple[Any, ...], message: str) -> bool:
        """Replace an unknown name by the valid one closest to it (when the message lists them)."""
        quoted = _QUOTED.findall(message)
        listed = re.findall(r"\[([^\]]*)\]", message) or re.findall(r"valid: (.*)$", message)
        if not quoted or not listed:
            return False
        valid = [v.strip().strip("'\"") for v in listed[-1].split(",") if v.strip()]
        close = did_you_mean(quoted[0], valid)
        if not close or loc in self.replaced or _get(self.data, loc) != quoted[0]:
            return False
        self.replaced[loc] = close[0]
        return True

    def _original(self, loc: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """A location in the working data as a location in the file (list items set aside shift indices)."""
        out: tuple[Any, ...] = ()
        node: Any = self.data
        for n, part in enumerate(loc):
            if isinstance(node, list) and isinstance(part, int):
                kept = [i for i in range(len(node)) if (*out, i) not in self.removed]
                if not 0 <= part < len(kept):
                    return None
                out, node = (*out, kept[part]), node[kept[part]]
            elif isinstance(node, dict) and isinstance(part, str | int) and part in node:
                out, node = (*out, part), node[part]
            else:  # past the data: a missing field, or a union member's name, then what is under it
                return (*out, *loc[n:])
        return out

    def _removal(self, loc: tuple[Any, ...], missing: bool) -> tuple[Any, ...] | None:
        """What to set aside for a problem at `loc`: the field if it has a default, else what holds it."""
        while loc:
            model = _model_at(loc[:-1]) if all(isinstance(p, str | int) for p in loc) else None
            present = _get(self.data, loc) is not _ABSENT
            if model is None:
                if present:
                    return loc
            else:
                info = next((i for n, i in model.model_fields.items() if loc[-1] in (n, i.alias)), None)
                if present and (info is None or not info.is_required()):
                    return loc
            loc = loc[:-1]
        return None

    def _set_aside(self, loc: tuple[Any, ...]) -> None:
        self.removed.add(loc)
        if isinstance(loc[-1], str):
            self.names.add(loc[-1])
        stack = [_get(self.data, loc)]
        while stack:
            node = stack.pop()
            if isinstance(node, str) and len(node) <= 200:
                self.names.add(node)
            elif isinstance(node, dict):
                self.names.update(k for k in node if isinstance(k, str))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)


_ABSENT = object()


def _annotation_at(loc: tuple[Any, ...]) -> Any:
    model = _model_at(loc[:-1]) if loc and all(isinstance(p, str | int) for p in loc) else None
    info = next((i for n, i in model.model_fields.items() if loc[-1] in (n, i.alias)), None) if model else None
    return info.annotation if info is not None else None


def _get(data: Any, loc: tuple[Any, ...]) -> Any:
    node = data
    for part in loc:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if not found:
            return _ABSENT
        node = node[part]
    return node


def _rebuilt(node: Any, removed: set[tuple[Any, ...]], replaced: dict[tuple[Any, ...], Any],
             here: tuple[Any, ...]) -> Any:
    if here in replaced:
        return replaced[here]
    if isinstance(node, dict):
        out = {k: _rebuilt(v, removed, replaced, (*here, k)) for k, v in node.items() if (*here, k) not in removed}
        out.update({loc[-1]: value for loc, value in replaced.items() if loc[:-1] == here and loc[-1] not in node})
        return out
    if isinstance(node, list):
        return [_rebuilt(v, removed, replaced, (*here, i)) for i, v in enumerate(node) if (*here, i) not in removed]
    return node


def _with_suggestion(text: str) -> str:
    """A "'x' is not a ... [a, b]" problem with the closest valid name, when one is close."""
    if "did you mean" in text:
        return text
    quoted = _QUOTED.findall(text)
    listed = re.findall(r"\[([^\]]*)\]", text)
    if not quoted or not listed or " is not " not in text:
        return text
    valid = [v.strip().strip("'\"") for v in listed[-1].split(",") if v.strip()]
    close = did_you_mean(quoted[0], [v for v in valid if v != quoted[0]])
    return f"{text}; did you mean {' or '.join(map(repr, close))}?" if close else text


def tool_name_problems(data: dict[str, Any], available: dict[str, ToolDef]) -> list[str]:
    """The names under `tools:` before anything else: a misspelt tool is an unknown tool, not a
    trajectory that uses a tool the world does not enable."""
    names = data.get("tools")
    if not isinstance(names, list):
        return []  # the spec's validation says what `tools` must be
    problems = [f"tools.{i}: {unknown('tool', name, sorted(available))}"
                for i, name in enumerate(names) if isinstance(name, str) and name not in available]
    seen: set[str] = set()
    for i, name in enumerate(names):
        if isinstance(name, str) and name in seen:
            problems.append(f"tools.{i}: {name!r} is listed twice")
        if isinstance(name, str):
            seen.add(name)
    return problems
