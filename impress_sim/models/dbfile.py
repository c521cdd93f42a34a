"""Opening one of our SQLite files (the results store, the response cache) only when it is ours.

A path given as `store=` or `cache=` may be a folder, a read-only file, random bytes, or another
program's SQLite database. Each is refused with one message *before anything is written*: no table
added, no WAL switched on, no file created next to it. A file is ours when its header carries our
`application_id` (stamped when we create it), or, for files made before the stamp, when it holds
only tables of ours; an empty file, or an SQLite file with no tables, is taken as new.

How the file is looked at matters: closing any descriptor of a database file drops every POSIX lock
this process holds on it, SQLite's included (the "separate close()" corruption of SQLite's
how-to-corrupt page). So the header is read with plain I/O only when no connection of this module
to that file is open in this process; once one is, the file is known to be ours and is not read
again. Tables are listed through a read-only SQLite connection, and a WAL database that has no WAL
file is listed `immutable` so the listing does not create one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from impress_sim.errors import UserError

MAGIC = b"SQLite format 3\x00"
HEADER = 100  # the database header's size; application_id at 68, read/write versions (2: WAL) at 18, 19


class DatabaseFileError(UserError):
    """A store or cache path that is not (or cannot be) one of our SQLite files."""


@dataclass(frozen=True)
class Kind:
    """One kind of our SQLite files."""

    name: str  # "results store"
    key: str  # the option that names it: "store", "cache"
    application_id: int
    tables: frozenset[str]  # every table a file of ours may hold
    required: frozenset[str]  # the tables an unstamped (older) file of ours holds at least
    hint: str = ""  # what to do instead, appended to a refusal


STORE_ID, CACHE_ID = 0x494D5053, 0x494D5043  # "IMPS", "IMPC": the application_id of each kind of file
OURS = {STORE_ID: "results store", CACHE_ID: "response cache"}

_open: dict[tuple[int, int], int] = {}  # (device, inode) -> connections of ours open in this process
_open_lock = threading.Lock()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _refuse(path: Path, kind: Kind, why: str) -> DatabaseFileError:
    hint = f"; {kind.hint}" if kind.hint else ""
    return DatabaseFileError(f"{kind.key}={path}: {why}; refusing to touch it{hint}")


def _tables(path: Path, wal: bool) -> set[str]:
    """The file's table names, read without writing anything next to it."""
    uri = path.resolve().as_uri() + "?mode=ro"
    if wal and not Path(f"{path}-wal").exists():
        uri += "&immutable=1"  # a read-only WAL connection would otherwise create -wal and -shm files
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def check(path: Path, kind: Kind) -> bool:
    """Raise `DatabaseFileError` unless `path` is a file of `kind` we may write, or a new one we may
    create; True when it exists. Writes nothing."""
    if path.is_dir():
        raise _refuse(path, kind, f"is not a {kind.name}: it is a folder")
    if not path.exists():
        if path.is_symlink():
            raise _refuse(path, kind, "is a broken symbolic link")
        return False
    if not path.is_file():
        raise _refuse(path, kind, f"is not a {kind.name}: it is not a regular file")
    known = _identity(path)
    with _open_lock:
        if known is not None and _open.get(known, 0) > 0:
            return True  # a connection of ours is open on it: ours, and not to be read with plain I/O
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK):
        raise _refuse(path, kind, f"cannot write it (read-only {'file' if not os.access(path, os.W_OK) else 'folder'})")
    try:
        with path.open("rb") as fh:
            header = fh.read(HEADER)
    except OSError as exc:
        raise _refuse(path, kind, f"cannot read it ({exc.strerror or exc})") from None
    if not header:
        return True  # an empty file: SQLite takes it as a new database (its WAL, if any, is read below)
    if not header.startswith(MAGIC) or len(header) < HEADER:
        raise _refuse(path, kind, f"is not a {kind.name}: it is not an SQLite database")
    application_id = int.from_bytes(header[68:72], "big")
    if application_id == kind.application_id:
        return True
    if application_id in OURS:
        raise _refuse(path, kind, f"is not a {kind.name}: it is a {OURS[application_id]}")
    if application_id:
        raise _refuse(path, kind, f"is not a {kind.name}: it is another program's SQLite database "
                                  f"(application id {application_id:#x})")
    try:
        tables = {t for t in _tables(path, wal=header[18] == 2) if not t.startswith("sqlite_")}
    except sqlite3.Error as exc:
        raise _refuse(path, kind, f"is not a {kind.name}: it cannot be read as an SQLite database ({exc})") from None
    if tables and not (kind.required <= tables <= kind.tables):
        listed = ", ".join(sorted(tables)[:8]) + (", ..." if len(tables) > 8 else "")
        raise _refuse(path, kind, f"is not a {kind.name}: it is another program's SQLite database (tables: {listed})")
    return True


class Database:
    """A connection (autocommit, WAL, busy timeout) to a checked file of ours; `close` it when done."""

    def __init__(self, path: str | Path, kind: Kind, *, timeout: float = 60.0, check_same_thread: bool = True
                 ) -> None:
        self.path, self.kind = Path(path).expanduser(), kind
        self.created = not check(self.path, kind)
        if self.created:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _refuse(self.path, kind, f"cannot create its folder ({exc.strerror or exc})") from None
            if not os.access(self.path.parent, os.W_OK):
                raise _refuse(self.path, kind, "cannot create it (read-only folder)")
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None,
                                        check_same_thread=check_same_thread)
        except sqlite3.Error as exc:
            raise DatabaseFileError(f"{kind.key}={self.path}: cannot open the {kind.name} ({exc})") from None
        self._identity = _identity(self.path)
        if self._identity is not None:
            with _open_lock:
                _open[self._identity] = _open.get(self._identity, 0) + 1
        try:
            self.conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a process kill
        except sqlite3.Error as exc:
            self.close()
            raise DatabaseFileError(f"{kind.key}={self.path}: cannot open the {kind.name} ({exc})") from None

    def create(self, schema: str) -> None:
        """Run `schema` (CREATE ... IF NOT EXISTS statements) and stamp the file as ours, in one
        transaction: a process opening the file meanwhile sees all of it or none. Nothing is written
        when the file is stamped and has every table already."""
        try:
            (stamped,) = self.conn.execute("PRAGMA application_id").fetchone()
            tables = {n for (n,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if stamped == self.kind.application_id and self.kind.tables <= tables:
                return
            self.conn.executescript(f"BEGIN IMMEDIATE; PRAGMA application_id = {self.kind.application_id}; "
                                    f"{schema}; COMMIT;")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise DatabaseFileError(f"{self.kind.key}={self.path}: cannot write the {self.kind.name} ({exc})"
                                    ) from None

    def close(self) -> None:
        identity, self._identity = self._identity, None
        self.conn.close()
        if identity is not None:
            with _open_lock:
                left = _open.get(identity, 0) - 1
                if left > 0:
                    _open[identity] = left
                else:
                    _open.pop(identity, None)
