"""Finding, loading and validating worlds; turning pydantic errors into one clear message.

A world is a folder holding `world.yaml` and optionally `hooks.py` (trusted code, like any
installed package), which may import sibling modules of the folder. Worlds shipped with the
package live in `impress_sim/worlds/`; a world author can point at any folder or `world.yaml`
path instead of an id.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from impress_sim.envs.problems import (
    Lenient,
    format_problems,
    format_validation,
    npc_tool_problems,
    tool_name_problems,
)
from impress_sim.envs.references import world_problems
from impress_sim.envs.slots import SlotSpec, fill_slots, slot_values, values_key
from impress_sim.envs.spec import WorldSpec
from impress_sim.envs.tools import builtin_tools
from impress_sim.envs.tools.base import ToolDef, collect
from impress_sim.errors import UnknownWorldError, WorldSpecError, did_you_mean, unknown
from impress_sim.yamlio import MAX_BYTES as MAX_WORLD_FILE_BYTES
from impress_sim.yamlio import read_yaml


@dataclass(frozen=True, eq=False)  # hashed by identity: one loaded world per file and content
class LoadedWorld:
    spec: WorldSpec
    path: Path
    content_hash: str
    hooks: types.ModuleType | None
    tools: dict[str, ToolDef]  # what the agent may call (the world's `tools:`)
    world_tools: dict[str, ToolDef] = field(default_factory=dict)  # NPCs, jobs, the timeline: every tool there is
    slot_values: dict[str, Any] = field(default_factory=dict)  # what the seed filled in (envs/slots.py)
    # what was done to the loaded world after filling (e.g. NPCs swapped for agents), redone at each seed
    derived: tuple[Callable[[LoadedWorld], LoadedWorld], ...] = ()

    def at_seed(self, seed: int | None) -> LoadedWorld:
        """This world with its slots filled for an episode seed (itself when nothing changes: a world
        without slots, or the seed that gave these values). Cached: one LoadedWorld per filling."""
        if not self.spec.slots:
            return self
        values = slot_values(self.spec.slots, seed)
        if values_key(values) == values_key(self.slot_values):
            return self
        filled = _load_filled(self.path, self.content_hash, values_key(values))
        for derive in self.derived:
            filled = derive(filled)
        return filled


def worlds_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "worlds"


def world_ids() -> list[str]:
    return sorted(p.parent.name for p in worlds_dir().glob("*/world.yaml"))


def _not_a_file(p: Path) -> str | None:
    """Why `p` is not a readable world file (a folder, a broken link, nothing there), or None if it is one."""
    if p.is_symlink() and not p.exists():
        return f"{p} is a broken symbolic link (to {str(p.readlink())!r})"
    if p.is_dir():
        return f"{p} is a folder, not a file"
    if not p.exists():
        return None
    if not p.is_file():
        return f"{p} is not a regular file"
    return ""


def _missing_world_file(folder: Path) -> str:
    """What is wrong with a folder that should hold world.yaml: said exactly, never "unknown world"."""
    target = folder / "world.yaml"
    if (folder / "pack.yaml").is_file():
        return (f"{folder} is a pack of generated worlds, not one world: name one of its worlds "
                f"({str(folder).rstrip('/')}/<id>; `impress worlds list {folder}` lists them)")
    why = _not_a_file(target)
    if why:
        return f"{why}; a world is a folder holding a world.yaml file"
    for other in ("world.yml", "World.yaml", "world.yaml.txt", "world.YAML"):
        if (folder / other).is_file():
            return f"{folder / other} found, but a world file is named world.yaml: rename it"
    return f"no world.yaml in {folder}{'/' * (not str(folder).endswith('/'))} (a world is a folder holding world.yaml)"


def _locate(world: str) -> Path:
    candidate = Path(world)
    target = candidate / "world.yaml"
    looks_like_path = candidate.is_absolute() or "/" in world or world.startswith(".")
    if candidate.suffix in (".yaml", ".yml") and not (looks_like_path and _not_a_file(target) == ""):
        why = _not_a_file(candidate)
        if why == "":
            return candidate
        if why:
            raise UnknownWorldError(f"{why}; expected a world.yaml file or a world folder")
    if _not_a_file(target) == "" and looks_like_path:
        return target
    shipped = worlds_dir() / world / "world.yaml"
    if world and "/" not in world and not world.startswith(".") and shipped.is_file():
        return shipped
    if _not_a_file(target) == "":  # a folder here named like an id: ids never load from the cwd
        raise UnknownWorldError(unknown("world", world, world_ids()) + f"; for the folder, write world=./{world}")
    if candidate.is_dir() or (candidate.is_symlink() and "/" in world):
        if not candidate.exists():
            raise UnknownWorldError(f"{_not_a_file(candidate)}; expected a world folder")
        raise UnknownWorldError(_missing_world_file(candidate))
    if candidate.suffix in (".yaml", ".yml") or "/" in world:
        raise UnknownWorldError(f"no world file or folder at {world!r}")
    shipped_folder = worlds_dir() / world
    if world and shipped_folder.is_dir() and not world.startswith((".", "_")):
        raise UnknownWorldError(f"shipped world {world!r} is broken: {_missing_world_file(shipped_folder)}")
    raise UnknownWorldError(unknown("world", world, world_ids(), more="(or a path to a world folder)"))


def read_world_data(path: Path) -> dict[str, Any]:
    """The mapping in a world.yaml, read with the bounded YAML loader (`impress_sim.yamlio`)."""
    data = read_yaml(path, error=WorldSpecError, what="world file")
    if not isinstance(data, dict):
        raise WorldSpecError(f"{path}: expected a mapping of world fields at the top level "
                             f"(id, title, agent, initial_state, tools, ...), got {type(data).__name__}")
    return data


def validate_spec(path: Path, data: dict[str, Any]) -> WorldSpec:
    try:
        return WorldSpec.model_validate(data)
    except ValidationError as exc:
        raise WorldSpecError(format_validation(path, exc)) from None
    except RecursionError:  # the YAML loader bounds depth; a last guard for data built in Python
        raise WorldSpecError(f"{path}: nested too deeply") from None


def parse_spec(path: Path) -> WorldSpec:
    """Read and validate one world.yaml, or raise WorldSpecError naming the file and field. A world
    with slots is validated as written (seed 0: `{{slot}}` references filled, list slots spliced in)."""
    data = read_world_data(path)
    slots = _declared_slots(path, data)
    return validate_spec(path, _filled(path, data, slot_values(slots, None)) if slots else data)


def _load_hooks(world_id: str, path: Path) -> types.ModuleType | None:
    """The world's hooks.py, imported as `hooks` of a package that is the world's folder, so that a
    large simulation can live in sibling modules it imports relatively (`from .ci_sim import ...`)."""
    folder = path.parent
    hooks_path = folder / "hooks.py"
    if not hooks_path.is_file():
        return None
    safe_id = re.sub(r"\W", "_", world_id)[:60]
    package = f"impress_sim_world_hooks.{safe_id}_{hashlib.sha1(str(hooks_path).encode()).hexdigest()[:8]}"
    name = f"{package}.hooks"
    if name in sys.modules:
        return sys.modules[name]
    if package not in sys.modules:
        parent = types.ModuleType(package)
        parent.__path__ = [str(folder)]
        sys.modules[package] = parent
    module_spec = importlib.util.spec_from_file_location(name, hooks_path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        for loaded in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[loaded]
        raise WorldSpecError(f"{hooks_path}: failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def content_hash(path: Path) -> str:
    """sha256 over world.yaml and the folder's Python (hooks.py and the modules it imports): records
    name it so changed worlds never pool silently."""
    digest = hashlib.sha256()
    for part in [path, *sorted(path.parent.glob("*.py"))]:
        if part.is_file() and part.stat().st_size > MAX_WORLD_FILE_BYTES:
            raise WorldSpecError(f"{part}: {part.stat().st_size:,} bytes; a world's files are limited to "
                                 f"{MAX_WORLD_FILE_BYTES:,} bytes each")
        if part.is_file():
            digest.update(part.name.encode())
            digest.update(part.read_bytes())
    return digest.hexdigest()[:16]


def load_world(world: str) -> LoadedWorld:
    """Load a world by id or path; cached per resolved file and content."""
    path = _locate(world).resolve()
    try:
        digest = content_hash(path)
    except OSError as exc:
        raise WorldSpecError(f"{path}: cannot read the world: {exc.strerror or exc}") from None
    return _load(path, digest)


@cache
def _load(path: Path, digest: str) -> LoadedWorld:
    data = read_world_data(path)
    raw_id = data.get("id")
    hooks = _load_hooks(raw_id if isinstance(raw_id, str) and raw_id else path.parent.name, path)
    slots = _declared_slots(path, data)
    values = slot_values(slots, None)
    if slots:
        _TEMPLATES[(path, digest)] = data  # the raw data each filling starts from (parsing it costs most)
    return _build(path, digest, _filled(path, data, values) if slots else data, hooks, values)


_TEMPLATES: dict[tuple[Path, str], dict[str, Any]] = {}


@lru_cache(maxsize=256)
def _load_filled(path: Path, digest: str, key: str) -> LoadedWorld:
    """The world at one filling of its slots (`key` is `values_key` of the values): validated and
    cross-checked like the world as written, since a value may name a host, a file or a person."""
    base = _load(path, digest)
    template = _TEMPLATES.get((path, digest)) or read_world_data(path)
    values = json.loads(key)
    return _build(path, digest, _filled(path, template, values), base.hooks, values)


def _declared_slots(path: Path, data: dict[str, Any]) -> dict[str, SlotSpec]:
    raw = data.get("slots")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise WorldSpecError(format_problems(path, [f"slots: a mapping of slot names to slots, got "
                                                     f"{type(raw).__name__}"]))
    slots: dict[str, SlotSpec] = {}
    problems: list[str] = []
    for name, slot in raw.items():
        try:
            slots[str(name)] = SlotSpec.model_validate(slot)
        except ValidationError as exc:
            problems += [f"slots.{name}" + (f".{'.'.join(map(str, e['loc']))}" if e["loc"] else "")
                         + f": {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
    if problems:
        raise WorldSpecError(format_problems(path, problems))
    return slots


def _filled(path: Path, data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    filled, problems = fill_slots(data, values)
    if problems:
        raise WorldSpecError(format_problems(path, problems))
    return filled


def _build(path: Path, digest: str, data: dict[str, Any], hooks: types.ModuleType | None,
           values: dict[str, Any]) -> LoadedWorld:
    available = dict(builtin_tools())
    if hooks is not None:
        available.update(collect([hooks]))
    problems = tool_name_problems(data, available)
    try:
        spec = validate_spec(path, data) if not problems else None
    except WorldSpecError:
        spec = None
    if spec is None:  # list every problem in one round: field errors, then what the rest's references say
        lenient = Lenient(data, available)
        problems += lenient.problems()
        note = "some references were not checked: fix the problems above and validate again" if lenient.skipped else ""
        raise WorldSpecError(format_problems(path, problems or ["the world does not validate"], note))
    problems = _hook_ref_problems(path, spec, hooks) + npc_tool_problems(spec, available)
    problems += world_problems(spec, available)
    if problems:
        raise WorldSpecError(format_problems(path, problems))
    tools = {name: available[name] for name in spec.tools}
    return LoadedWorld(spec=spec, path=path, content_hash=digest, hooks=hooks, tools=tools, world_tools=available,
                       slot_values=values)


def _hook_ref_problems(path: Path, spec: WorldSpec, hooks: types.ModuleType | None) -> list[str]:
    from impress_sim.envs.spec import condition_refs

    refs = [(f"detectors.{i}.python", d.python) for i, d in enumerate(spec.detectors)]
    refs += [(f"task_checks.{i}.python", t.python) for i, t in enumerate(spec.task_checks)]
    refs += [(where, ref) for where, c in spec.conditions() for kind, ref in condition_refs(c) if kind == "python"]
    problems = []
    for where, name in refs:
        if name is None:
            continue
        if hooks is None or not callable(getattr(hooks, name, None)):
            functions = sorted(n for n, v in vars(hooks).items() if callable(v) and not n.startswith("_")
                               and getattr(v, "__module__", None) == hooks.__name__) if hooks is not None else []
            close = did_you_mean(name, functions)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            problems.append(f"{where}: {name!r} is not a function in {path.parent / 'hooks.py'}{hint}")
    return problems
