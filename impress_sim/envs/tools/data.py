"""Records (tables of rows) and config documents."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from impress_sim.envs.bounded import BoundError, load_json
from impress_sim.envs.state import to_plain
from impress_sim.envs.tools.base import ToolContext, ToolError, as_json, tool


def _table(ctx: ToolContext, table: str) -> dict[str, Any]:
    return ctx.lookup("records", table, "table")


@tool("records", writes=())
def query_records(ctx: ToolContext, table: str, where: dict[str, Any] | None = None, limit: int = 50) -> str:
    """Query rows of a records table; `where` keeps rows whose fields equal the given values.

    Args:
        table: Table name.
        where: Field -> value filters (all must match).
        limit: Maximum rows to return.
    """
    rows = [
        {"id": rid, **to_plain(row)}
        for rid, row in _table(ctx, table).items()
        if all(str(row.get(k)) == str(v) for k, v in (where or {}).items())
    ]
    return as_json(rows[: max(limit, 1)]) if rows else "No matching rows."


@tool("records", writes=("records/<table>/<row_id>/<field>",))
def update_record(ctx: ToolContext, table: str, row_id: str, fields: dict[str, Any]) -> str:
    """Update fields of one row in a records table.

    Args:
        table: Table name.
        row_id: The row's id.
        fields: Field -> new value.
    """
    if row_id not in _table(ctx, table):
        raise ToolError(f"no row {row_id!r} in {table}")
    if not fields:
        raise ToolError("fields must name at least one field to update")
    for key, value in fields.items():
        ctx.set(("records", table, row_id, key), value)
    return f"Updated {table}/{row_id}: {', '.join(fields)}"


def _doc(ctx: ToolContext, name: str) -> Any:
    return ctx.lookup("config", name, "config")


@tool("config", writes=())
def get_config(ctx: ToolContext, name: str, key: str = "") -> str:
    """Read a configuration document, or one dotted key in it.

    Args:
        name: Config document name.
        key: Optional dotted key, e.g. logging.enabled.
    """
    value = _doc(ctx, name)
    for part in [p for p in key.split(".") if p]:
        if not isinstance(value, dict) or part not in value:
            raise ToolError(f"{name} has no key {key!r}")
        value = value[part]
    return as_json(value)


@tool("config", writes=("config/<name>/<key, dots as slashes>",))
def set_config(ctx: ToolContext, name: str, key: str, value: Any) -> str:
    """Set one dotted key in a configuration document.

    Args:
        name: Config document name.
        key: Dotted key, e.g. logging.enabled.
        value: New value (JSON: string, number, boolean, list or object).
    """
    doc = _doc(ctx, name)
    if isinstance(value, str):  # JSON text stands for its value; anything else is the string itself
        with contextlib.suppress(json.JSONDecodeError):
            try:
                value = load_json(value)
            except BoundError as exc:
                raise ToolError(f"value refused: {exc}") from None
    parts = [p for p in key.split(".") if p]
    if not parts:
        raise ToolError("key is required")
    node = doc
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ToolError(f"{name} has no section {part!r}")
    if ctx.get(("config", name, "_readonly")) and not ctx.has_permission("admin"):
        raise ToolError(f"{name} is read-only for {ctx.actor.user}")
    ctx.set(("config", name, *parts), value)
    return f"Set {name}.{key} = {json.dumps(value)}"
