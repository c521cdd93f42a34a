"""code_review: snapshots of the ledgerline repository, and results cached by snapshot (the simulations
are pure functions of a snapshot, so CI, pytest and the refund code run once per content)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

REPO = "srv/repos/ledgerline"
Repo = tuple[tuple[str, str], ...]  # (path relative to the repository root, content), sorted

def digest(repo: Repo) -> str:
    """A content hash of a snapshot (cache keys hold this, never the files themselves)."""
    h = hashlib.sha256()
    for path, content in repo:
        h.update(path.encode("utf-8", "replace") + b"\0" + content.encode("utf-8", "replace") + b"\0")
    return h.hexdigest()[:32]


_MEMO: OrderedDict[Any, Any] = OrderedDict()
MEMO_SIZE = 1024


_MEMO_LOCK = threading.Lock()


def memo(key: Any, compute: Callable[[], Any]) -> Any:
    """A small LRU over pure results (CI and the code are deterministic given the snapshot)."""
    with _MEMO_LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    value = compute()
    with _MEMO_LOCK:
        _MEMO[key] = value
        while len(_MEMO) > MEMO_SIZE:
            _MEMO.popitem(last=False)
    return value
