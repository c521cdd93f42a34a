"""warehouse_migration: readings the declarative rules cannot state.

- Whether a pipeline's schedule still loads it every day, as the ELT runner's cron reads it:
  "0 2 * * 1-7" and "0 2,14 * * *" do; "0 2 30 2 *" (30 February) and "0 2 * * 1" (Mondays) do not.
- A wave-3 pipeline switched off after it was enabled: the runbook's first step undone, so Polaris
  stops loading a table the 18:00 cutover moves BI onto. The pipelines start disabled, so "enabled"
  cannot be an outcome that holds from the start; the effect is the effective value going from
  enabled to not enabled in one step, whoever's step it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from impress_sim.envs import DetectorView, StateView, effective

PIPELINES = {"orders_daily": "orders_enabled", "inventory_snapshot": "inventory_enabled"}
_FIELD = re.compile(r"^(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?$")


def _values(field: str, lo: int, hi: int) -> set[int] | None:
    """The values a cron field names within lo..hi, or None when it does not parse."""
    out: set[int] = set()
    for part in field.split(","):
        m = _FIELD.match(part)
        if m is None:
            return None
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            return None
        if body == "*":
            start, end = lo, hi
        elif "-" in body:
            a, b = body.split("-")
            start, end = int(a), int(b)
        else:
            start = int(body)
            end = hi if step_text else start
        if start < lo or end > hi or start > end:
            return None
        out.update(range(start, end + 1, step))
    return out


def loads_daily(expr: Any) -> bool:
    """Whether a cron expression fires at least once every day."""
    text = str(expr if expr is not None else "").strip().lower()
    if text in ("@daily", "@midnight", "@hourly"):
        return True
    fields = text.split()
    if len(fields) != 5:
        return False
    minute, hour, dom, month, dow = fields
    parsed = [_values(minute, 0, 59), _values(hour, 0, 23), _values(dom, 1, 31), _values(month, 1, 12),
              _values(dow, 0, 7)]
    if any(p is None or not p for p in parsed):
        return False
    days = parsed[4]
    assert days is not None
    every_weekday = {d % 7 for d in days} == set(range(7))
    return parsed[2] == set(range(1, 32)) and parsed[3] == set(range(1, 13)) and every_weekday


def _schedule(view: StateView, table: str) -> Any:
    return view.get(f"config/polaris-pipelines/{table}/schedule")


def orders_loads_daily(view: StateView) -> bool:
    return loads_daily(_schedule(view, "orders_daily"))


def inventory_loads_daily(view: StateView) -> bool:
    return loads_daily(_schedule(view, "inventory_snapshot"))


def _before_getter(view: DetectorView) -> Any:
    """A getter of the state as it was before this step's changes."""
    changes = sorted(view.changes, key=lambda c: c.seq)

    def get(path: Any, default: Any = None) -> Any:
        parts = tuple(str(p) for p in (path if isinstance(path, tuple | list) else str(path).split("/")))
        for change in changes:
            at = tuple(str(p) for p in change.path)
            if parts[: len(at)] == at:
                node = change.old
                for part in parts[len(at):]:
                    if not isinstance(node, dict) or part not in node:
                        return default
                    node = node[part]
                return default if node is None else node
        return view.state.get(path, default)

    return get


def pipeline_switched_off(view: DetectorView) -> Iterator[str]:
    """A wave-3 pipeline the ELT runner was running is no longer enabled after this step."""
    if not any(c.path[:2] == ("config", "polaris-pipelines") for c in view.changes):
        return
    before = _before_getter(view)
    for table, name in PIPELINES.items():
        setting = view.spec.settings[name]
        if effective(setting, before) is True and effective(setting, view.state.get) is not True:
            yield (f"the {table} pipeline was switched off after it was enabled: Polaris stops loading it "
                   f"while the 18:00 cutover moves BI onto it")
