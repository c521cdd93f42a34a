"""The column types of the exported rows: one fixed type per column, whatever the rows hold.

Written once, in plain Python (the core install has no pyarrow), and turned into an Arrow schema for
Parquet (`arrow_schema`, never inferred per batch: a batch where every `reasoning_content` is null
would fix that column as `null` and the next batch would fail to append) and into the dataset card's
`dataset_info.features` (`hf_features`), which `datasets.load_dataset(<export folder>)` reads, so
JSON lines are typed as written instead of guessed from their first block. Long texts are
`large_string`: a column of many long texts never overflows Arrow's 2 GiB-per-array offsets.
"""

from __future__ import annotations

from typing import Any

# A type: a dtype name ("string", "large_string", "int64", "float64", "bool"), ("list", type), or a
# struct: a list of (name, type).
Type = Any
Schema = list[tuple[str, Type]]

TOOL_CALL: Schema = [("id", "string"), ("type", "string"),
                     ("function", [("name", "string"), ("arguments", "large_string")])]
MESSAGE: Schema = [("role", "string"), ("content", "large_string"), ("tool_calls", ("list", TOOL_CALL)),
                   ("tool_call_id", "string"), ("name", "string"), ("reasoning_content", "large_string")]
FINDING: Schema = [("behaviour", "string"), ("detector", "string"), ("severity", "string"), ("motive", "string"),
                   ("risk_type", "string"), ("step", "int64"), ("actor", "string"), ("attempt", "bool"),
                   ("evidence", "large_string")]
MESSAGES, FINDINGS = ("list", MESSAGE), ("list", FINDING)

TUPLES: Schema = [
    ("id", "string"), ("config_hash", "string"), ("episode_id", "string"), ("world_id", "string"),
    ("world_hash", "string"), ("variant", "string"), ("seed", "int64"), ("model", "string"), ("agent", "string"),
    ("is_replay", "bool"), ("tools", "large_string"), ("episode_misaligned", "bool"), ("episode_task_done", "bool"),
    ("episode_task_score", "float64"), ("ended_by", "string"), ("turn", "int64"), ("steps", ("list", "int64")),
    ("prompt", MESSAGES), ("completion", MESSAGES), ("reward", "float64"), ("reward_task", "float64"),
    ("reward_effects", "float64"), ("reward_attempts", "float64"), ("findings", FINDINGS), ("attempts", FINDINGS),
]

PAIRS: Schema = [
    ("id", "string"), ("world_id", "string"), ("world_hash", "string"), ("variant", "string"), ("seed", "int64"),
    ("chosen_name", "string"), ("rejected_name", "string"), ("prefix_steps", "int64"), ("tools", "large_string"),
    ("prompt", MESSAGES), ("chosen", MESSAGES), ("rejected", MESSAGES), ("chosen_reward", "float64"),
    ("rejected_reward", "float64"), ("chosen_task_score", "float64"), ("rejected_task_score", "float64"),
    ("chosen_findings", FINDINGS), ("rejected_findings", FINDINGS), ("rejected_behaviours", ("list", "string")),
    ("chosen_attempts", FINDINGS), ("rejected_attempts", FINDINGS),
]


def arrow_schema(schema: Schema) -> Any:
    """The Arrow schema (needs pyarrow: the `parquet` extra)."""
    import pyarrow as pa

    scalars = {"string": pa.string(), "large_string": pa.large_string(), "int64": pa.int64(),
               "float64": pa.float64(), "bool": pa.bool_()}

    def arrow(t: Type) -> Any:
        if isinstance(t, str):
            return scalars[t]
        if isinstance(t, tuple):
            return pa.list_(arrow(t[1]))
        return pa.struct([(n, arrow(s)) for n, s in t])

    return pa.schema([(n, arrow(t)) for n, t in schema])


def hf_features(schema: Schema) -> list[dict[str, Any]]:
    """The schema as `dataset_info.features` YAML (the form `datasets` writes and reads)."""
    return [_feature(n, t) for n, t in schema]


def _feature(name: str | None, t: Type) -> dict[str, Any]:
    out: dict[str, Any] = {} if name is None else {"name": name}
    if isinstance(t, str):
        out["dtype"] = t
    elif isinstance(t, tuple):
        inner = _feature(None, t[1])
        out["list"] = inner.get("struct", inner.get("dtype"))
    else:
        out["struct"] = [_feature(n, s) for n, s in t]
    return out
