"""The run folder: every stage's output on disk, and a ledger of every model call, so a run resumes.

```
<out>/config.yaml                      the config of the latest start
<out>/understanding/<cell>--<domain>.json
<out>/ideation/<cell>--<domain>.json
<out>/drafts/<idea>.json  (+ drafts/<idea>/world.yaml, the draft being checked)
<out>/qc/<idea>.json, <out>/pilot/<idea>.json
<out>/ledger.jsonl                      one line per model call: stage, model, tokens, cost
```

An artifact is stored with the hash of the inputs it was made from. A stage whose stored artifact
has the same inputs hash is not redone; one whose inputs changed (another model, another prompt
version, an edited idea) is. Writes are atomic (a temporary file, then `os.replace`), so a run killed
mid-write leaves either the old artifact or the new one, never half of one. The ledger is appended
line by line and read back tolerantly: a torn last line (a kill mid-append) is skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from impress_sim.errors import UserError
from impress_sim.generate.artifacts import StageCost
from impress_sim.models.settings import LLMSettings

M = TypeVar("M", bound=BaseModel)


class BudgetSpent(Exception):
    """The run's budget is spent: no further model call is made (a rerun with a larger budget resumes)."""


def inputs_hash(*parts: Any) -> str:
    """A stable hash of a stage's inputs (pydantic models, strings, numbers, lists of them)."""
    def plain(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        return value
    return hashlib.sha256(json.dumps(plain(list(parts)), sort_keys=True, default=str).encode()).hexdigest()[:20]


def shaping(settings: LLMSettings) -> dict[str, Any]:
    """What of a model's settings shapes its replies (so belongs in an inputs hash): not where it is
    served, how long to wait, or how often to retry."""
    return {k: v for k, v in settings.request_params().items() if k != "api_base"}


def safe_name(text: str) -> str:
    """A file name for a key (cell--domain, idea id): letters, digits, `_-.` only, bounded."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "item"
    return name[:100] + ("-" + hashlib.sha1(text.encode()).hexdigest()[:8] if len(name) > 100 else "")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunStore:
    """Typed artifacts by (stage, key), each reused only while its inputs hash still matches."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the run folder {folder}: {exc.strerror or exc}") from None
        if not os.access(folder, os.W_OK):
            raise UserError(f"the run folder {folder} is not writable")
        self.ledger = Ledger(folder / "ledger.jsonl")
        self.reused = 0  # stage outputs read back instead of made again (what a resumed run says it skipped)

    def path(self, stage: str, key: str) -> Path:
        return self.folder / stage / f"{safe_name(key)}.json"

    def load(self, stage: str, key: str, model: type[M], inputs: str) -> M | None:
        """The stored artifact, if it exists, parses and was made from these inputs; else None."""
        path = self.path(stage, key)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("inputs") != inputs:
                return None
            artifact = model.model_validate(stored["data"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ValidationError):
            return None  # absent, torn or from an older format: made again
        self.reused += 1
        return artifact

    def save(self, stage: str, key: str, artifact: BaseModel, inputs: str) -> None:
        payload = {"inputs": inputs, "data": artifact.model_dump(mode="json")}
        write_atomic(self.path(stage, key), json.dumps(payload, indent=1))


def _well_formed(entry: dict[str, Any]) -> bool:
    """A ledger line whose counts are finite, non-negative numbers (a hand-edited NaN would make the budget
    never stop, an infinity make it always stopped, and text crash the sums): others are skipped."""
    for key in ("input_tokens", "output_tokens", "cost_usd"):
        value = entry.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            return False
    return True


class Ledger:
    """Every model call of every run of this folder: what the budget is measured against."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.entries: list[dict[str, Any]] = self._read()

    def _read(self) -> list[dict[str, Any]]:
        entries = []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn line from a kill mid-append
            if isinstance(entry, dict) and _well_formed(entry):
                entries.append(entry)
        return entries

    def record(self, stage: str, model: str, *, input_tokens: int, output_tokens: int, cost_usd: float,
               cache_hit: bool) -> None:
        entry = {"stage": stage, "model": model, "input_tokens": input_tokens, "output_tokens": output_tokens,
                 "cost_usd": cost_usd, "cache_hit": cache_hit}
        with self._lock:
            self.entries.append(entry)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    @property
    def cost_usd(self) -> float:
        return sum(float(e.get("cost_usd") or 0) for e in self.entries if not e.get("cache_hit"))

    @property
    def tokens(self) -> int:
        return sum(int(e.get("input_tokens") or 0) + int(e.get("output_tokens") or 0)
                   for e in self.entries if not e.get("cache_hit"))

    def check(self, budget_usd: float | None, budget_tokens: int | None) -> None:
        """Raise `BudgetSpent` when either budget is used up (cached replies cost nothing)."""
        if budget_usd is not None and self.cost_usd >= budget_usd:
            raise BudgetSpent(f"budget spent: ${self.cost_usd:.4f} of ${budget_usd:.4f}")
        if budget_tokens is not None and self.tokens >= budget_tokens:
            raise BudgetSpent(f"token budget spent: {self.tokens:,} of {budget_tokens:,} tokens")

    def costs(self) -> list[StageCost]:
        """Totals per stage and model, in stage order of first appearance."""
        table: dict[tuple[str, str], StageCost] = {}
        for e in self.entries:
            key = (str(e.get("stage", "?")), str(e.get("model", "?")))
            row = table.setdefault(key, StageCost(stage=key[0], model=key[1]))
            if e.get("cache_hit"):
                row.cache_hits += 1
                continue
            row.calls += 1
            row.input_tokens += int(e.get("input_tokens") or 0)
            row.output_tokens += int(e.get("output_tokens") or 0)
            row.cost_usd += float(e.get("cost_usd") or 0)
        return list(table.values())
