"""Finding, loading and validating worlds; turning pydantic errors into one clear message.

A world is a folder holding `world.yaml` and optionally `hooks.py` (trusted code, like any
installed package), which may import sibling modules of the folder. Worlds shipped with the
package live in `impress_sim/worlds/`; a world author can point at any folder or `world.yaml`
path instead of an id.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from impress_sim.envs.spec import WorldSpec
from impress_sim.envs.tools import builtin_tools
from impress_sim.envs.tools.base import ToolDef, collect
from impress_sim.errors import UnknownWorldError, WorldSpecError, unknown


@dataclass(frozen=True, eq=False)  # hashed by identity: one loaded world per file and content
class LoadedWorld:
    spec: WorldSpec
    path: Path
    content_hash: str
    hooks: types.ModuleType | None
    tools: dict[str, ToolDef]  # what the agent may call (the world's `tools:`)
    world_tools: dict[str, ToolDef] = field(default_factory=dict)  # NPCs, jobs, the timeline: every tool there is


def worlds_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "worlds"


def world_ids() -> list[str]:
    return sorted(p.parent.name for p in worlds_dir().glob("*/world.yaml"))


def _locate(world: str) -> Path:
    candidate = Path(world)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    if (candidate / "world.yaml").is_file() and (candidate.is_absolute() or "/" in world or world.startswith(".")):
        return candidate / "world.yaml"
    shipped = worlds_dir() / world / "world.yaml"
    if shipped.is_file():
        return shipped
    if (candidate / "world.yaml").is_file():  # a folder here named like an id: ids never load from the cwd
        raise UnknownWorldError(unknown("world", world, world_ids()) + f"; for the folder, write world=./{world}")
    if candidate.is_dir():  # a folder, but not a world's: say what is missing rather than "unknown world"
        raise UnknownWorldError(f"no world.yaml in {candidate}{'/' * (not world.endswith('/'))} "
                                f"(a world is a folder holding world.yaml)")
    if candidate.suffix in (".yaml", ".yml") or "/" in world:
        raise UnknownWorldError(f"no world file or folder at {world!r}")
    raise UnknownWorldError(unknown("world", world, world_ids(), more="(or a path to a world folder)"))


def _format_validation(path: Path, exc: ValidationError) -> str:
    errors = exc.errors()  # every one: the count in the first line is the number of lines that follow
    lines = [f"{path}: invalid world spec ({len(errors)} problem{'s' * (len(errors) > 1)})"]
    for err in errors:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {str(got)[:60]!r})"
        lines.append(f"  - {loc}: {err['msg']}{shown}")
    return "\n".join(lines)


def parse_spec(path: Path) -> WorldSpec:
    """Read and validate one world.yaml, or raise WorldSpecError naming the file and field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise WorldSpecError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise WorldSpecError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise WorldSpecError(f"{path}: expected a mapping of world fields at the top level")
    try:
        return WorldSpec.model_validate(data)
    except ValidationError as exc:
        raise WorldSpecError(_format_validation(path, exc)) from None


def _load_hooks(world_id: str, path: Path) -> types.ModuleType | None:
    """The world's hooks.py, imported as `hooks` of a package that is the world's folder, so that a
    large simulation can live in sibling modules it imports relatively (`from .ci_sim import ...`)."""
    folder = path.parent
    hooks_path = folder / "hooks.py"
    if not hooks_path.is_file():
        return None
    package = f"impress_sim_world_hooks.{world_id}_{hashlib.sha1(str(hooks_path).encode()).hexdigest()[:8]}"
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
        if part.is_file():
            digest.update(part.name.encode())
            digest.update(part.read_bytes())
    return digest.hexdigest()[:16]


def load_world(world: str) -> LoadedWorld:
    """Load a world by id or path; cached per resolved file and content."""
    path = _locate(world).resolve()
    return _load(path, content_hash(path))


@cache
def _load(path: Path, digest: str) -> LoadedWorld:
    spec = parse_spec(path)
    hooks = _load_hooks(spec.id, path)
    available = dict(builtin_tools())
    if hooks is not None:
        available.update(collect([hooks]))
    for i, name in enumerate(spec.tools):
        if name not in available:
            raise WorldSpecError(f"{path}: tools.{i}: unknown tool {name!r}; valid: {', '.join(sorted(available))}")
    _check_hook_refs(path, spec, hooks)
    tools = {name: available[name] for name in spec.tools}
    npc_tools = available  # NPCs, jobs and the timeline may use every tool, hooks' too, enabled or not
    for i, npc in enumerate(spec.npcs):
        for j, name in enumerate(npc.tools):
            if name not in npc_tools:
                raise WorldSpecError(
                    f"{path}: npcs.{i}.tools.{j}: unknown tool {name!r}; valid: {', '.join(sorted(npc_tools))}")
    return LoadedWorld(spec=spec, path=path, content_hash=digest, hooks=hooks, tools=tools, world_tools=available)


def _check_hook_refs(path: Path, spec: WorldSpec, hooks: types.ModuleType | None) -> None:
    from impress_sim.envs.spec import condition_refs

    refs = [(f"detectors.{i}.python", d.python) for i, d in enumerate(spec.detectors)]
    refs += [(f"task_checks.{i}.python", t.python) for i, t in enumerate(spec.task_checks)]
    refs += [(where, ref) for where, c in spec.conditions() for kind, ref in condition_refs(c) if kind == "python"]
    for where, name in refs:
        if name is None:
            continue
        if hooks is None or not callable(getattr(hooks, name, None)):
            raise WorldSpecError(f"{path}: {where}: {name!r} is not a function in {path.parent / 'hooks.py'}")
