"""The virtual filesystem: hosts' files in the state tree, with owners and Unix-style modes.

Shared by the file tools and the simulated shell so both see the same files and obey the same
permissions. Paths are normalised against `/` and can never leave the virtual root, so `..` games
reach nothing; nothing here touches the host machine.
"""

from __future__ import annotations

import posixpath
from typing import Any

from impress_sim.envs.state import Path
from impress_sim.envs.tools.base import ToolContext, ToolError


def absolute(ctx: ToolContext, path: str) -> str:
    """Normalise `path` (relative to the actor's cwd) to an absolute virtual path under `/`."""
    if not path:
        raise ToolError("a path is required")
    joined = path if path.startswith("/") else posixpath.join(ctx.actor.cwd or "/", path)
    return posixpath.normpath("/" + joined.lstrip("/")).replace("//", "/")


def file_key(host: str, abs_path: str) -> Path:
    return ("hosts", host, "files", abs_path.lstrip("/"))


def home_host(ctx: ToolContext, host: str | None = None) -> str:
    name = host or ctx.actor.host or ctx.spec.agent.host
    if ctx.get(("hosts", name)) is None:
        raise ToolError(f"unknown host: {name}")
    return name


def _entry(ctx: ToolContext, host: str, abs_path: str) -> Any:
    return ctx.get(file_key(host, abs_path))


def _allowed(ctx: ToolContext, entry: Any, bit: int) -> bool:
    """The file-permission gate (owner and other bits; admin and the system may do anything)."""
    mode = str(entry.get("mode", "644"))
    granted = (
        ctx.actor.id == "system" or ctx.granted("admin")
        or (entry.get("owner") == ctx.actor.user and bool(int(mode[0]) & bit)) or bool(int(mode[2]) & bit)
    )
    what = {4: "read", 2: "write", 1: "execute"}.get(bit, "use")
    return ctx.permits(granted, f"{ctx.actor.user} may not {what} a file owned by {entry.get('owner')} (mode {mode})")


def is_file(ctx: ToolContext, host: str, abs_path: str) -> bool:
    entry = _entry(ctx, host, abs_path)
    return entry is not None and entry.get("kind", "file") == "file"


def is_dir(ctx: ToolContext, host: str, abs_path: str) -> bool:
    if abs_path == "/":
        return True
    entry = _entry(ctx, host, abs_path)
    if entry is not None:
        return bool(entry.get("kind") == "dir")
    prefix = abs_path.lstrip("/") + "/"
    # Scan the live keys lazily, stopping at the first file under the directory; copying all the
    # host's file names into a list first cost O(files on the host) on every new-file write.
    files = ctx.get(("hosts", host, "files"))
    return isinstance(files, dict) and any(k.startswith(prefix) for k in files)


def read(ctx: ToolContext, host: str, abs_path: str) -> str:
    entry = _entry(ctx, host, abs_path)
    if entry is None:
        if is_dir(ctx, host, abs_path):
            raise ToolError(f"{abs_path}: Is a directory")
        raise ToolError(f"{abs_path}: No such file or directory")
    if entry.get("kind") == "dir":
        raise ToolError(f"{abs_path}: Is a directory")
    if not _allowed(ctx, entry, 4):
        raise ToolError(f"{abs_path}: Permission denied")
    return str(entry.get("content", ""))


def write(
    ctx: ToolContext, host: str, abs_path: str, content: str, *, append: bool = False,
    labels: list[str] | None = None,
) -> None:
    """Create, overwrite or append to a file. `labels` (if given) label the new content; a new file
    gets them in the same journaled `add` as its content, so detectors see them on that change."""
    entry = _entry(ctx, host, abs_path)
    if entry is not None and entry.get("kind") == "dir":
        raise ToolError(f"{abs_path}: Is a directory")
    parent = posixpath.dirname(abs_path)
    if entry is None and parent != "/" and not is_dir(ctx, host, parent):
        raise ToolError(f"{parent}: No such file or directory")
    if entry is not None:
        if not _allowed(ctx, entry, 2):
            raise ToolError(f"{abs_path}: Permission denied")
        new = str(entry.get("content", "")) + content if append else content
        ctx.set((*file_key(host, abs_path), "content"), new)
        if labels or (not append and entry.get("labels")):  # labels mark content: overwritten content loses them
            ctx.set((*file_key(host, abs_path), "labels"), list(labels or []))
        return
    ctx.set(
        file_key(host, abs_path),
        {"kind": "file", "content": content, "owner": ctx.actor.user, "mode": "644", "labels": list(labels or [])},
    )


def copy_entry(ctx: ToolContext, src_host: str, src: str, dst_host: str, dst: str) -> None:
    """Copy a file (content and labels travel with it; the copier owns the copy)."""
    content = read(ctx, src_host, src)
    labels = list(_entry(ctx, src_host, src).get("labels", ()))
    if is_dir(ctx, dst_host, dst):
        dst = posixpath.join(dst, posixpath.basename(src))
    write(ctx, dst_host, dst, content, labels=labels)


def remove(ctx: ToolContext, host: str, abs_path: str) -> None:
    entry = _entry(ctx, host, abs_path)
    if entry is None:
        raise ToolError(f"{abs_path}: No such file or directory")
    parent_entry = {"owner": entry.get("owner"), "mode": entry.get("mode", "644")}
    if not _allowed(ctx, parent_entry, 2):
        raise ToolError(f"{abs_path}: Permission denied")
    ctx.delete(file_key(host, abs_path))


def listdir(ctx: ToolContext, host: str, abs_path: str) -> list[str]:
    """Immediate children of a directory; sub-directories end with '/'."""
    if not is_dir(ctx, host, abs_path):
        if is_file(ctx, host, abs_path):
            return [posixpath.basename(abs_path)]
        raise ToolError(f"{abs_path}: No such file or directory")
    prefix = "" if abs_path == "/" else abs_path.lstrip("/") + "/"
    names: set[str] = set()
    for key, entry in ctx.get(("hosts", host, "files"), {}).items():
        if not key.startswith(prefix) or key == prefix.rstrip("/"):
            continue
        rest = key[len(prefix) :]
        head, sep, _ = rest.partition("/")
        names.add(head + "/" if sep or entry.get("kind") == "dir" else head)
    return sorted(names)


def walk_files(ctx: ToolContext, host: str, abs_path: str) -> list[str]:
    """Absolute paths of every file under `abs_path` (or the file itself)."""
    if is_file(ctx, host, abs_path):
        return [abs_path]
    prefix = "" if abs_path == "/" else abs_path.lstrip("/") + "/"
    files = ctx.get(("hosts", host, "files"), {})
    return sorted("/" + k for k, e in files.items() if k.startswith(prefix) and e.get("kind", "file") == "file")


def reachable(ctx: ToolContext, host: str) -> bool:
    """Whether the actor's host (default: the agent's) can connect to `host` (see envs/graph.py)."""
    from impress_sim.envs.graph import can_reach

    return ctx.permits(can_reach(ctx.spec, ctx.get, ctx.actor.host, host),
                       f"host {host} is not reachable from {ctx.actor.host or ctx.spec.agent.host}")
