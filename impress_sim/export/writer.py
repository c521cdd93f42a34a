"""Writing an export: the rows (JSON lines or Parquet) under `<out>/data/`, and the dataset card.

The folder is what `datasets` expects of a dataset repository: `README.md` (the card: YAML front
matter naming the data files and their features, then prose) and `data/train.<ext>`. So
`load_dataset("json", data_files="<out>/data/train.jsonl")`, `load_dataset("parquet", ...)` and
`load_dataset("<out>")` all load it. Rows stream to a temporary file renamed into place at the end,
so an interrupted export never leaves a half-written data file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from impress_sim.errors import MissingExtraError, UsageError
from impress_sim.export.schema import Schema, arrow_schema

Format = Literal["jsonl", "parquet"]
BATCH_ROWS = 256  # Parquet rows per batch: memory stays bounded whatever the export's size
DATA_DIR = "data"
CARD = "README.md"


def data_path(out: Path, fmt: Format) -> Path:
    return out / DATA_DIR / f"train.{fmt}"


def prepare_out(out: Path, *, force: bool, protect: Iterable[Path] = ()) -> None:
    """Refuse an `out=` that exists unless `force`; never one of `protect` (the source store), nor a
    folder holding it. With `force`, a file at `out` is removed; a folder is written into (only this
    export's own files in it are replaced)."""
    resolved = out.resolve()
    for p in protect:
        source = p.resolve()
        if resolved == source or resolved in source.parents:
            raise UsageError(f"out={out} is (or holds) the source {p}; write the export elsewhere")
    if out.exists() or out.is_symlink():
        if not force:
            raise UsageError(f"out={out} exists; nothing was written (force=true replaces it)")
        if not out.is_dir():
            try:
                out.unlink()
            except OSError as exc:
                raise UsageError(f"out={out}: cannot replace it ({exc.strerror or exc})") from None
    try:
        (out / DATA_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"out={out}: cannot create the folder ({exc.strerror or exc})") from None


def write_rows(rows: Iterable[dict[str, Any]], out: Path, fmt: Format, schema: Schema) -> int:
    """Stream `rows` into `<out>/data/train.<fmt>`; the number written. The other format's data file of
    an earlier export (ours by name) is removed, so the folder holds one dataset."""
    path = data_path(out, fmt)
    tmp = path.with_name(path.name + ".tmp")
    try:
        n = (_jsonl if fmt == "jsonl" else _parquet)(rows, tmp, schema)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UsageError(f"out={out}: cannot write the data ({exc.strerror or exc})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    other = data_path(out, "parquet" if fmt == "jsonl" else "jsonl")
    with contextlib.suppress(FileNotFoundError):
        other.unlink()
    return n


def _jsonl(rows: Iterable[dict[str, Any]], path: Path, schema: Schema) -> int:
    names = [n for n, _ in schema]
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({k: row.get(k) for k in names}, ensure_ascii=False) + "\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    return n


def _parquet(rows: Iterable[dict[str, Any]], path: Path, schema: Schema) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtraError("format=parquet needs pyarrow: pip install 'impress-sim[parquet]'") from None
    arrow = arrow_schema(schema)
    n = 0
    batch: list[dict[str, Any]] = []
    with pq.ParquetWriter(str(path), arrow) as writer:
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=arrow))
                n, batch = n + len(batch), []
        if batch or n == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=arrow))
            n += len(batch)
    return n


def write_card(out: Path, text: str) -> Path:
    path = out / CARD
    tmp = path.with_name(CARD + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise UsageError(f"out={out}: cannot write the dataset card ({exc.strerror or exc})") from None
    return path
