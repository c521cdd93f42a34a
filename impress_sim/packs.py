"""Packs: a folder of generated worlds that every command taking a list of worlds reads as that list.

The generator's acceptance stage writes what it accepted as a pack:

    <pack>/pack.yaml               the manifest (`PackManifest`): how the pack was made, and its worlds
    <pack>/<world_id>/world.yaml   one folder per accepted world: YAML only, never hooks.py
    <pack>/qc/                     the QC report (written by the generator; not read here)

Why a manifest rather than "every folder with a world.yaml": the manifest is the generator's decision
(accepted, in this order, with these QC scores and this content hash), so a half-written or hand-added
folder is never swept by accident, and a sweep over a pack runs the same worlds in the same order on
every machine. `expand_worlds` is the one place a pack becomes its worlds' folders; the sweep spec,
`worlds check`, and the review exports all call it, so a pack is accepted wherever a list of worlds is.

A pack is data that a model wrote, so it is read like any hostile input: the manifest through the
bounded YAML loader, every listed path confined to the pack (no `..`, no absolute path, no symbolic
link that leads out), and a world folder holding Python refused (loading a world imports its
hooks.py; a generated world is YAML only, and model output is never executed).

A leaf module: it imports only errors, yamlio and taxonomy, so the loader, the judge's review
tooling and the commands can all use it.
"""

from __future__ import annotations

import math
import os
import tempfile
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from impress_sim.errors import WorldSpecError, shown
from impress_sim.taxonomy import Motive, RiskType
from impress_sim.yamlio import read_yaml

MANIFEST = "pack.yaml"
FORMAT_VERSION = 1
# A manifest entry is ~300 bytes: 2 MB holds thousands of worlds, and the pure-Python YAML parser
# (~1 MB/s) reads it in about two seconds, every time a sweep over the pack is validated.
MAX_MANIFEST_BYTES = 2 * 1024 * 1024
MAX_WORLDS = 5_000
_WORLD_ID = r"^[a-z][a-z0-9_]{0,63}$"
_SHIPPED = Path(__file__).resolve().parent / "worlds"  # shipped world ids win over a folder of that name


class PackError(WorldSpecError):
    """A pack that cannot be used: its manifest, a listed world, or a path that leaves the pack.
    A `WorldSpecError`, so every caller that reports a bad world reports a bad pack the same way."""


class PackWorld(BaseModel):
    """One accepted world, as the manifest lists it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_WORLD_ID, description="the world's id (as in its world.yaml)")
    path: str = Field(min_length=1, max_length=1000, description="its folder, relative to the pack (usually the id)")
    cell: str = Field(description="the taxonomy cell it was generated for: motive/risk_type")
    domain: str = Field(max_length=200, description="the domain it was generated for")
    content_hash: str = Field(pattern=r"^[0-9a-f]{8,64}$", description="the world's content hash when accepted")
    title: str = Field(max_length=500)
    qc: dict[str, float] = Field(default_factory=dict, description="median QC score per criterion")
    pilot: dict[str, Any] | None = Field(None, description="pilot rates, when a pilot ran")

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        """A folder below the pack, written the one way (`a/b`): the check on disk follows in `read_pack`."""
        if "\\" in value or "\x00" in value:
            raise ValueError("a folder relative to the pack, written with `/` (no backslash, no NUL)")
        path = PurePosixPath(value)
        if path.is_absolute():
            raise ValueError("an absolute path; a world's path is relative to the pack (e.g. its id)")
        if ".." in path.parts:
            raise ValueError("`..` leads out of the pack; a world's folder is inside it")
        if str(path) in ("", "."):
            raise ValueError("the pack folder itself; a world is a folder inside the pack (e.g. its id)")
        return str(path)

    @field_validator("cell")
    @classmethod
    def _cell(cls, value: str) -> str:
        motive, slash, risk = value.partition("/")
        problems = []
        if not slash:
            raise ValueError("write the cell as motive/risk_type, e.g. self_preservation/sabotage")
        if motive not in Motive.__members__:
            problems.append(f"motive {shown(motive)} is not one of {', '.join(m.value for m in Motive)}")
        if risk not in RiskType.__members__:
            problems.append(f"risk type {shown(risk)} is not one of {', '.join(r.value for r in RiskType)}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("qc")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"scores must be finite numbers ({', '.join(bad)})")
        return value


class PackManifest(BaseModel):
    """`pack.yaml`: what the pack is, how it was made (generator version, prompt versions, config
    digest: enough to tell two packs apart and to reproduce one), and its worlds in order."""

    model_config = ConfigDict(extra="forbid")

    pack: str = Field(min_length=1, max_length=200, description="the pack's name")
    format_version: Literal[1] = Field(description="the manifest format (this impress-sim reads 1)")
    generator: str = Field(max_length=200, description="what made it, e.g. 'impress-sim 0.1.0'")
    created: str = Field(description="when it was made (ISO 8601 text)")
    prompts: dict[str, str] = Field(default_factory=dict, description="stage -> prompt version")
    config_digest: str = Field("", max_length=128, description="digest of the generation config")
    run: str = Field("", max_length=4096, description="the generation run folder that made it (only that run "
                     "writes to the pack again)")
    worlds: list[PackWorld] = Field(default_factory=list, max_length=MAX_WORLDS)

    @field_validator("created")
    @classmethod
    def _iso(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{shown(value)} is not an ISO 8601 time (e.g. 2026-12-07T04:30:00+00:00)") from None
        return value

    @model_validator(mode="after")
    def _unique(self) -> PackManifest:
        for field in ("id", "path"):
            seen: dict[str, int] = {}
            for i, world in enumerate(self.worlds):
                value = getattr(world, field)
                if value in seen:
                    raise ValueError(f"worlds.{i}.{field}: {shown(value)} is also worlds.{seen[value]}.{field}; "
                                     f"each world is listed once")
                seen[value] = i
        return self

    def ids(self) -> list[str]:
        return [w.id for w in self.worlds]


def _validation_message(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        given = "" if err["type"] in ("missing", "extra_forbidden") or err["type"].startswith("value_error") \
            else f" (got {shown(err.get('input'), 60)})"
        if err["type"] == "extra_forbidden":
            msg = f"unknown field; a pack's fields are {', '.join(PackManifest.model_fields)}" if len(err["loc"]) == 1 \
                else f"unknown field; a world's fields are {', '.join(PackWorld.model_fields)}"
        lines.append(f"  - {where}: {msg}{given}" if where else f"  - {msg}{given}")
    count = len(lines)
    return f"{path}: invalid pack manifest ({count} problem{'s' * (count > 1)})\n" + "\n".join(lines)


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _world_problems(folder: Path, root: Path, world: PackWorld) -> list[str]:
    """What is wrong with one listed world on disk (empty when its folder is a YAML-only world inside the pack)."""
    name = f"world {world.id!r} ({world.path})"
    target = folder / world.path
    try:
        real = target.resolve()
        if not _within(real, root):
            return [f"{name}: the path leads out of the pack (to {real}); a pack's worlds are folders inside it"]
        if not target.is_dir():
            return [f"{name}: no folder {target}" if not target.exists() else f"{name}: {target} is not a folder"]
        file = target / "world.yaml"
        if not file.is_file():
            return [f"{name}: {file} is missing; the pack lists a world it does not hold"]
        if not _within(file.resolve(), root):
            return [f"{name}: {file} leads out of the pack (to {file.resolve()})"]
        code = sorted(p.name for p in target.glob("*.py"))
    except OSError as exc:
        return [f"{name}: cannot read {target}: {exc.strerror or exc}"]
    if code:
        return [f"{name}: the folder holds {', '.join(code)}; a pack's worlds are YAML only (a world's Python "
                "is run when it loads, and generated worlds are never executed)"]
    return []


def read_pack(folder: str | Path) -> PackManifest:
    """The pack's manifest, checked: the fields, and every listed world a YAML-only folder inside the pack.
    Every problem is one `PackError` naming the file and the field or world."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    try:
        if not folder.is_dir():
            raise PackError(f"{folder}: not a folder; a pack is a folder holding {MANIFEST}")
        if not manifest.is_file():
            raise PackError(f"{folder}: no {MANIFEST}; a pack is a folder holding {MANIFEST} and one folder per world")
        size = manifest.stat().st_size
    except OSError as exc:
        raise PackError(f"{manifest}: cannot read the pack manifest: {exc.strerror or exc}") from None
    if size > MAX_MANIFEST_BYTES:
        raise PackError(f"{manifest}: {size:,} bytes; a pack manifest is limited to {MAX_MANIFEST_BYTES:,} bytes")
    data = read_yaml(manifest, error=PackError, what="pack manifest")
    if not isinstance(data, dict):
        raise PackError(f"{manifest}: expected a mapping of the pack's fields ({', '.join(PackManifest.model_fields)}),"
                        f" not {type(data).__name__ if data is not None else 'an empty file'}")
    version = data.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version != FORMAT_VERSION:
        raise PackError(f"{manifest}: format_version {version}; this impress-sim reads pack format "
                        f"{FORMAT_VERSION} (upgrade impress-sim, or regenerate the pack)")
    try:
        parsed = PackManifest.model_validate(data)
    except ValidationError as exc:
        raise PackError(_validation_message(manifest, exc)) from None
    root = folder.resolve()
    problems = [p for world in parsed.worlds for p in _world_problems(folder, root, world)]
    if problems:
        count = len(problems)
        raise PackError(f"{manifest}: {count} listed world{'s' * (count > 1)} cannot be used\n"
                        + "\n".join(f"  - {p}" for p in problems))
    return parsed


def write_manifest(folder: str | Path, manifest: PackManifest) -> Path:
    """Write `pack.yaml` atomically (a temporary file in the same folder, then `os.replace`): a reader
    sees the old manifest or the new one, never half of one, even if the writer is killed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=120)
    target = folder / MANIFEST
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".pack-", suffix=".yaml.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def _is_shipped_id(entry: str) -> bool:
    """A bare name of a shipped world: it is that world wherever the command runs (as the loader reads
    it: ids never load from the current folder), even if a folder here has the same name."""
    return "/" not in entry and not entry.startswith(".") and (_SHIPPED / entry / "world.yaml").is_file()


def is_pack(path: str | Path) -> bool:
    """Whether `path` is a pack: a folder holding pack.yaml (a shipped world's id never is)."""
    text = str(path)
    if not text.strip() or "\x00" in text:
        return False
    try:
        return not _is_shipped_id(text) and (Path(text) / MANIFEST).is_file()
    except (OSError, ValueError):  # a name too long for the file system is not a pack
        return False


def pack_world_paths(entry: str, manifest: PackManifest) -> list[str]:
    """The folders of the pack's worlds, as the pack was written (`runs/gen/pack` -> `runs/gen/pack/<id>`):
    relative stays relative, so a sweep's stored spec names them the way the user did."""
    return [os.path.join(entry, *PurePosixPath(w.path).parts) for w in manifest.worlds]


def expand_worlds(entries: list[str]) -> list[str]:
    """Every entry that is a pack becomes its worlds' folders (in manifest order); every other entry
    is kept as written (a world id or folder, checked later by the loader). The one way a list of
    worlds is read: sweeps, `worlds check`, review exports. A pack without worlds is an error."""
    out: list[str] = []
    for entry in entries:
        if not is_pack(entry):
            out.append(entry)
            continue
        manifest = read_pack(entry)
        if not manifest.worlds:
            raise PackError(f"pack {entry} has no accepted worlds ({Path(entry) / MANIFEST} lists none)")
        out.extend(pack_world_paths(entry, manifest))
    return out


def describe_pack(entry: str, manifest: PackManifest, shown_ids: int = 5) -> str:
    """`runs/gen/pack is a pack of 7 worlds (a, b, c, d, e, ...)`: how commands that take one world say
    they were given a pack."""
    ids = manifest.ids()
    listed = ", ".join(ids[:shown_ids]) + (", ..." if len(ids) > shown_ids else "")
    return f"{entry} is a pack of {len(ids)} world{'s' * (len(ids) != 1)} ({listed})"
