"""A response cache on disk (SQLite, WAL), keyed by a hash of the full request.

Shared by every model call in the package (agents, guard models, LLM judges) through
`impress_sim.models.transport`; it sits at the top level because `judge` must not import `agents`.

A rerun with the cache on is reproducible and free: same request, same stored reply, no HTTP.
The key covers everything that shapes the reply (model, messages, tools, decoding settings,
api_base), so changing any of them is a miss, never a stale hit.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from impress_sim.models.dbfile import CACHE_ID, Database, Kind

KIND = Kind(name="response cache", key="cache", application_id=CACHE_ID,
            tables=frozenset({"responses"}), required=frozenset({"responses"}),
            hint="give a new file, an existing response cache, or cache=off")
SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, reply TEXT NOT NULL, created REAL)"


def default_cache_path() -> str:
    """`$XDG_CACHE_HOME/impress_sim/llm-cache.sqlite` (default `~/.cache/...`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "impress_sim" / "llm-cache.sqlite")


def request_key(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


class ResponseCache:
    """One connection to a response cache. A path that is not one (a folder, a read-only file,
    random bytes, another program's SQLite database) is refused with one `UserError` before
    anything is written (`impress_sim.models.dbfile`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._file = Database(self.path, KIND, check_same_thread=False)
        try:
            self._file.create(SCHEMA)
        except BaseException:
            self._file.close()
            raise
        self._db = self._file.conn

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, reply: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, reply, created) VALUES (?, ?, ?)",
                (key, json.dumps(reply, sort_keys=True), time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._file.close()
