"""The world's state tree, its journal, and copy-on-write snapshots.

Every mutation of a world goes through `State.set` / `State.delete`, which append one `Change`
(path, op, old, new, actor, step) to the journal. A step's diff is the journal since the previous
step, so computing it costs what changed, not the size of the world.

Snapshots are O(1): a snapshot keeps the current root and hands the live tree a new ownership
token; the first later write to any container copies just that container (shallowly) and its
ancestors. Restoring is O(1) too. This is what makes branching rollouts cheap.

Containers are `Node`s (dict subclasses that refuse direct item assignment), sequences are stored
as tuples, and leaves are JSON scalars, so nothing in the tree can change behind the journal.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from impress_sim.envs.bounded import BoundError, check_json, clip

Path = tuple[str, ...]
Op = Literal["add", "set", "delete"]

_MISSING: Any = object()  # an absent value
_NO_DEFAULT: Any = object()  # "raise if absent"


class StateError(Exception):
    """A read or write at a path the state does not have (or cannot have)."""


class Node(dict[str, Any]):
    """A container in the state tree; written only through `State`, so the journal sees it all."""

    __slots__ = ("owner",)

    def __init__(self, data: Mapping[str, Any] = (), owner: object = None) -> None:  # type: ignore[assignment]
        dict.__init__(self, data)
        self.owner = owner

    def _refuse(self, *_: Any, **__: Any) -> None:
        raise TypeError("state nodes are written only through State.set / State.delete")

    __setitem__ = _refuse
    __delitem__ = _refuse
    update = _refuse
    pop = _refuse
    popitem = _refuse  # type: ignore[assignment]
    clear = _refuse
    setdefault = _refuse

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


MAX_STATE_DEPTH = 48  # path segments plus the nesting of the value stored there
MAX_VALUE_CHARS = 10_000_000  # one stored value (a file's content, a config document...)


def bound_value(path: Path, value: Any) -> None:
    """Refuse (StateError, which a tool reports as its error) a value too deep or too large to keep:
    every later copy, diff and record of the tree recurses into what is stored, so the bound is
    checked here, iteratively, before anything recurses into it."""
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise StateError(f"cannot store {len(value):,} characters at {clip(format_path(path), 120)} "
                             f"(the limit is {MAX_VALUE_CHARS:,})")
        return
    if value is None or isinstance(value, bool):
        return
    if len(path) > MAX_STATE_DEPTH:
        raise StateError(f"cannot store at {clip(format_path(path), 120)}: the path is more than "
                         f"{MAX_STATE_DEPTH} levels deep (the limit is {MAX_STATE_DEPTH})")
    try:
        check_json(value, max_chars=MAX_VALUE_CHARS, max_depth=MAX_STATE_DEPTH - len(path), unicode=False)
    except BoundError as exc:
        raise StateError(f"cannot store that value at {clip(format_path(path), 120)}: {exc} "
                         f"(the state tree holds at most {MAX_STATE_DEPTH} levels, path included)") from None


def freeze(value: Any, owner: object = None) -> Any:
    """Convert plain data (dicts, lists) into state values (Nodes, tuples)."""
    if isinstance(value, Mapping):
        return Node({str(k): freeze(v, owner) for k, v in value.items()}, owner)
    if isinstance(value, list | tuple):
        return tuple(freeze(v, owner) for v in value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise StateError(f"state values must be JSON-like, got {type(value).__name__}")


def to_plain(value: Any) -> Any:
    """Convert state values back into plain JSON data (dicts and lists), copying containers."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    return value


FILES_SEGMENT = "files"
FILE_FIELDS = frozenset({"kind", "content", "owner", "mode", "labels"})


def parse_path(path: str | Path) -> Path:
    """Turn `"hosts/ops/files/home/ops/a.md"` into a path tuple.

    A file's path is a single key: everything after a `files` segment is one key (without its
    leading slash), so files keep their natural names in detector globs and diffs. A trailing
    `content`, `owner`, `mode`, `labels` or `kind` segment addresses that field of the file
    (`hosts/ops/files/home/ops/a.md/content`). Tuples are taken as they are.
    """
    if isinstance(path, tuple):
        return path
    parts = [p for p in path.strip("/").split("/") if p != ""]
    if FILES_SEGMENT in parts:
        i = parts.index(FILES_SEGMENT)
        rest = parts[i + 1 :]
        field = [rest.pop()] if len(rest) > 1 and rest[-1] in FILE_FIELDS else []
        if rest:
            parts = [*parts[: i + 1], "/".join(rest), *field]
    return tuple(parts)


def format_path(path: Path) -> str:
    return "/".join(path)


@dataclass(frozen=True, slots=True)
class Change:
    """One journaled mutation. `old`/`new` are plain data copies (None when absent)."""

    seq: int
    step: int
    actor: str
    path: Path
    op: Op
    old: Any
    new: Any

    @property
    def path_str(self) -> str:
        return format_path(self.path)

    def as_dict(self) -> dict[str, Any]:
        """The change as JSON data (records store this)."""
        return {
            "seq": self.seq,
            "step": self.step,
            "actor": self.actor,
            "path": self.path_str,
            "parts": list(self.path),  # exact, even where a string path would be ambiguous
            "op": self.op,
            "old": self.old,
            "new": self.new,
        }


def change_from_dict(data: dict[str, Any]) -> Change:
    """The inverse of `Change.as_dict` (records -> changes, for re-judging old episodes)."""
    parts = data.get("parts")
    return Change(
        seq=int(data.get("seq", 0)),
        step=int(data.get("step", 0)),
        actor=str(data["actor"]),
        path=tuple(parts) if parts is not None else parse_path(str(data["path"])),
        op=data["op"],
        old=data.get("old"),
        new=data.get("new"),
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable view of the state at one moment (shares structure with the live tree)."""

    root: Node
    journal_length: int
    step: int

    def get(self, path: str | Path, default: Any = _NO_DEFAULT) -> Any:
        return _lookup(self.root, parse_path(path), default)


def _lookup(root: Node, path: Path, default: Any) -> Any:
    node: Any = root
    for i, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            if default is _NO_DEFAULT:
                raise StateError(f"no such state path: {format_path(path[: i + 1])}")
            return default
        node = node[key]
    return node


class State:
    """A journaled, snapshot-able tree of world state."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._token = object()
        self._root: Node = freeze(dict(data or {}), self._token)
        self.journal: list[Change] = []
        self.step = 0
        self.epoch = 0  # how many restores this state has seen
        self._rewinds: list[int] = []  # the journal length each restore cut back to, in order
        self.reads: builtins.set[Path] | None = None  # when a set, every path read is added (see `tracking`)
        self.origin: Snapshot | None = None  # the snapshot this state branched from (`from_snapshot`)

    # ---- reading -------------------------------------------------------------------------
    def get(self, path: str | Path, default: Any = _NO_DEFAULT) -> Any:
        """The value at `path` (live, read-only), or `default` if given and the path is absent."""
        p = parse_path(path)
        if self.reads is not None:
            self.reads.add(p)
        return _lookup(self._root, p, default)

    def under(self, path: str | Path, key_prefix: str) -> dict[str, Any]:
        """The entries of the container at `path` whose keys start with `key_prefix` (files under a
        folder: `under("hosts/ci-01/files", "srv/repos/")`), read as a scoped read when tracking."""
        p = parse_path(path)
        if self.reads is not None:
            self.reads.add((*p, SCOPE, key_prefix))
        node = _lookup(self._root, p, None)
        return {k: v for k, v in node.items() if k.startswith(key_prefix)} if isinstance(node, dict) else {}

    def exists(self, path: str | Path) -> bool:
        return self.get(path, _MISSING) is not _MISSING

    def children(self, path: str | Path) -> list[str]:
        node = self.get(path, None)
        return list(node.keys()) if isinstance(node, dict) else []

    def to_plain(self, path: str | Path = ()) -> Any:
        return to_plain(self.get(path))

    # ---- writing -------------------------------------------------------------------------
    def set(self, path: str | Path, value: Any, *, actor: str, parents: bool = False) -> Change | None:
        """Set `path` to `value`; returns the journaled change, or None if nothing changed."""
        p = parse_path(path)
        if not p:
            raise StateError("cannot replace the state root")
        bound_value(p, value)
        parent = self._writable(p[:-1], create=parents)
        key = p[-1]
        old = dict.get(parent, key, _MISSING)
        new = freeze(value, self._token)
        if old is not _MISSING and _same(old, new):
            return None
        dict.__setitem__(parent, key, new)
        return self._record(p, "add" if old is _MISSING else "set", old, new, actor)

    def delete(self, path: str | Path, *, actor: str) -> Change:
        p = parse_path(path)
        if not p:
            raise StateError("cannot delete the state root")
        parent = self._writable(p[:-1], create=False)
        if p[-1] not in parent:
            raise StateError(f"no such state path: {format_path(p)}")
        old = parent[p[-1]]
        dict.__delitem__(parent, p[-1])
        return self._record(p, "delete", old, _MISSING, actor)

    def _record(self, path: Path, op: Op, old: Any, new: Any, actor: str) -> Change:
        change = Change(
            seq=len(self.journal),
            step=self.step,
            actor=actor,
            path=path,
            op=op,
            old=None if old is _MISSING else to_plain(old),
            new=None if new is _MISSING else to_plain(new),
        )
        self.journal.append(change)
        return change

    def _writable(self, path: Path, *, create: bool) -> Node:
        """The container at `path`, copied into this tree's ownership where still shared."""
        if self._root.owner is not self._token:
            self._root = Node(self._root, self._token)
        node = self._root
        for i, key in enumerate(path):
            child = node.get(key, _MISSING)
            if child is _MISSING:
                if not create:
                    raise StateError(f"no such state path: {format_path(path[: i + 1])}")
                child = Node({}, self._token)
                dict.__setitem__(node, key, child)
                self._record(path[: i + 1], "add", _MISSING, child, "system")
            elif not isinstance(child, Node):
                raise StateError(f"state path {format_path(path[: i + 1])} is a value, not a container")
            elif child.owner is not self._token:
                child = Node(child, self._token)
                dict.__setitem__(node, key, child)
            node = child
        return node

    # ---- journal views -------------------------------------------------------------------
    def mark(self) -> int:
        return len(self.journal)

    def since(self, mark: int) -> list[Change]:
        return self.journal[mark:]

    # ---- snapshots -----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """O(1): freeze the current tree; later writes copy what they touch."""
        snap = Snapshot(self._root, len(self.journal), self.step)
        self._token = object()
        return snap

    def restore(self, snap: Snapshot) -> None:
        """O(1): return to `snap`. The journal is cut back to the snapshot's length."""
        self._root = snap.root
        self._token = object()
        del self.journal[snap.journal_length :]
        self.step = snap.step
        self.epoch += 1
        self._rewinds.append(snap.journal_length)

    def kept(self, epoch: int, position: int) -> bool:
        """Whether the journal's first `position` changes, as they were at `epoch`, are still its first
        changes: no restore since then cut it back further (a branch thrown away beyond them is fine)."""
        return position <= len(self.journal) and all(cut >= position for cut in self._rewinds[epoch:])

    @contextmanager
    def tracking(self) -> Iterator[builtins.set[Path]]:
        """Record every path read inside the block (a read of a container covers all below it), so a
        result computed from them can be reused until a later change touches one (`ReadSet.touches`)."""
        outer, self.reads = self.reads, set()
        try:
            yield self.reads
        finally:
            found, self.reads = self.reads, outer
            if outer is not None:
                outer |= found

    @classmethod
    def from_snapshot(cls, snap: Snapshot) -> State:
        """An independent state branching from `snap` (shares structure until written)."""
        state = cls.__new__(cls)
        state._token = object()
        state._root = snap.root
        state.journal = []
        state.step = snap.step
        state.epoch = 0
        state._rewinds = []
        state.reads = None
        state.origin = snap
        return state

    def diff_since(self, snap: Snapshot, changes: list[Change] | None = None) -> list[dict[str, Any]]:
        """The net difference from `snap` to now, over the paths the journal touched.

        Cost grows with the number of touched paths; untouched subtrees are never compared.
        """
        touched = {c.path for c in (changes if changes is not None else self.journal[snap.journal_length :])}
        top = sorted(p for p in touched if not any(p[:i] in touched for i in range(1, len(p))))
        out: list[dict[str, Any]] = []
        for p in top:
            before = _lookup(snap.root, p, _MISSING)
            after = _lookup(self._root, p, _MISSING)
            if before is _MISSING and after is _MISSING:
                continue
            if before is not _MISSING and after is not _MISSING and _same(before, after):
                continue
            op: Op = "add" if before is _MISSING else "delete" if after is _MISSING else "set"
            out.append(
                {
                    "path": format_path(p),
                    "op": op,
                    "old": None if before is _MISSING else to_plain(before),
                    "new": None if after is _MISSING else to_plain(after),
                }
            )
        return out

    def walk(self, path: str | Path = ()) -> Iterator[tuple[Path, Any]]:
        """Every (path, leaf value) under `path`, depth first."""
        start = parse_path(path)
        stack: list[tuple[Path, Any]] = [(start, self.get(start))]
        while stack:
            p, v = stack.pop()
            if isinstance(v, dict):
                stack.extend(((*p, k), c) for k, c in reversed(list(v.items())))
            else:
                yield p, v



SCOPE = "\x00under"  # marks a scoped read in a read set: (*container, SCOPE, key prefix)


class ReadSet:
    """Paths a computation read, ready for `touches` (every prefix precomputed). A read of a container
    covers everything below it; a scoped read (`State.under`) covers only the container's keys that
    start with its prefix, so a file written elsewhere on the host leaves the answer be."""

    __slots__ = ("paths", "prefixes", "raw", "scoped")

    def __init__(self, paths: Iterable[Path]) -> None:
        self.raw = frozenset(paths)
        plain: set[Path] = set()
        scoped: dict[Path, set[str]] = {}
        for p in self.raw:
            if len(p) >= 2 and p[-2] == SCOPE:
                scoped.setdefault(p[:-2], set()).add(p[-1])
            else:
                plain.add(p)
        self.paths = frozenset(plain)
        self.scoped = {c: tuple(kps) for c, kps in scoped.items()}
        self.prefixes = frozenset(p[:i] for p in [*plain, *scoped] for i in range(len(p) + 1))

    def touches(self, changes: Iterable[Change]) -> bool:
        """Whether any change is at, above or below a path read (below a scoped read: only under its prefix)."""
        paths, prefixes, scoped = self.paths, self.prefixes, self.scoped
        if () in paths:
            return True
        for c in changes:
            p = c.path
            if p in prefixes:
                return True
            for i in range(1, len(p)):
                head = p[:i]
                if head in paths:
                    return True
                kps = scoped.get(head)
                if kps is not None and p[i].startswith(kps):
                    return True
        return False


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    return bool(to_plain(a) == to_plain(b)) if isinstance(a, dict | tuple) else bool(a == b)
