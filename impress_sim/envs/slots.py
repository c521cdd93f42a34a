"""Seeded slots: the parts of a world that vary from one episode to the next.

A world that is word-for-word the same in every episode teaches a memorising model, or an RL
learner, nothing new after the first one. A world declares `slots:` (names, dates, figures,
distractor messages, file names) and writes `{{slot}}` / `{{slot.field}}` wherever they appear;
the episode seed fills them. Filling happens on the raw YAML data, before the spec is validated,
so every part of the world — state, briefing, detectors, task checks, reference trajectories,
routes and near-misses — refers to the same values, and a filled world is checked exactly like a
hand-written one.

Seed 0 (and no seed) is the world as written: each slot's first choice, the low end of a range,
every sample item in order. Any other seed draws each slot from its own generator (seeded by the
episode seed and the slot's name), so adding a slot never changes the values of the others.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from impress_sim.errors import unknown

SLOT_NAME = r"^[a-z_][a-z0-9_]*$"
# `{{ name }}` or `{{name.field.0}}`; `${{ ... }}` (a CI template's own syntax) is left alone.
REFERENCE = re.compile(r"(?<!\$)\{\{\s*([A-Za-z_]\w*(?:\.\w+)*)\s*\}\}")
MAX_NESTING = 8  # a slot value may use other slots; this deep at most
MAX_FILLED_CHARS = 8 * 1024 * 1024  # text the filling may produce (as the YAML loader bounds its input)


class _TooLarge(Exception):
    """The filling grew past MAX_FILLED_CHARS: stop at once (a slot used many times in many slots)."""


class SlotSpec(BaseModel):
    """One variable part of a world: exactly one of `choices`, `range` or `sample`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    description: str = Field(default="", description="What varies, for the author and the schema reference.")
    choices: list[Any] | None = Field(
        default=None, min_length=1, description="Values to pick one of; a mapping keeps related values together "
        "(a person's name and address, figures with their precomputed total): `{{slot.field}}`.")
    range_: tuple[int, int] | None = Field(
        default=None, alias="range", description="[low, high]: an integer between them, both included.")
    sample: list[Any] | None = Field(
        default=None, min_length=1, description="Items of which between `min` and `max` are taken, in a seeded "
        "order (distractor messages, rows): a list, spliced where it stands as a list item.")
    min: int | None = Field(default=None, ge=0, description="Fewest `sample` items taken (default: all).")
    max: int | None = Field(default=None, ge=0, description="Most `sample` items taken (default: all).")

    @model_validator(mode="after")
    def _one_kind(self) -> SlotSpec:
        kinds = [k for k, v in (("choices", self.choices), ("range", self.range_), ("sample", self.sample))
                 if v is not None]
        if len(kinds) != 1:
            raise ValueError("a slot has exactly one of `choices`, `range` or `sample`"
                             + (f" (it has {kinds})" if kinds else ""))
        if self.range_ is not None and self.range_[0] > self.range_[1]:
            raise ValueError(f"range: low {self.range_[0]} is above high {self.range_[1]}")
        if (self.min is not None or self.max is not None) and self.sample is None:
            raise ValueError("min and max apply to `sample` only")
        if self.sample is not None:
            low, high = self.sample_bounds()
            if not low <= high <= len(self.sample):
                raise ValueError(f"sample: need min <= max <= {len(self.sample)} items (got min {low}, max {high})")
        return self

    def sample_bounds(self) -> tuple[int, int]:
        count = len(self.sample or [])
        return (count if self.min is None else self.min), (count if self.max is None else self.max)

    def value(self, seed: int | None, name: str) -> Any:
        """This slot's value for an episode seed (0 or None: the world as written)."""
        if self.choices is not None:
            return self.choices[0] if not seed else _rng(seed, name).choice(self.choices)
        if self.range_ is not None:
            low, high = self.range_
            return low if not seed else _rng(seed, name).randint(low, high)
        items = list(self.sample or [])
        if not seed:
            return items
        rng = _rng(seed, name)
        low, high = self.sample_bounds()
        return rng.sample(items, rng.randint(low, high))


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")  # a str seed is hashed with sha512: the same on every machine


def slot_values(slots: dict[str, SlotSpec], seed: int | None) -> dict[str, Any]:
    """Every slot's value for `seed`."""
    return {name: slot.value(seed, name) for name, slot in slots.items()}


def values_key(values: dict[str, Any]) -> str:
    """A canonical text of filled values (a cache key; equal values give equal keys)."""
    return json.dumps(values, sort_keys=True, default=str)


class SlotFiller:
    """Replaces `{{...}}` references in raw world data, collecting every problem with its field path."""

    def __init__(self, values: dict[str, Any]):
        self.values = values
        self.problems: list[str] = []
        self.produced = 0  # characters of slot text put in so far (bounded: MAX_FILLED_CHARS)
        self.resolving: list[str] = []  # the slots being filled in right now (a cycle is a slot already here)

    def fill(self, data: Any, where: str = "", depth: int = 0) -> Any:
        if isinstance(data, dict):
            out: dict[Any, Any] = {}
            for key, value in data.items():
                at = f"{where}.{key}" if where else str(key)
                if at == "slots":
                    out[key] = value  # the declarations themselves are not filled
                    continue
                new_key = self._text(key, at, depth) if isinstance(key, str) else key
                if not isinstance(new_key, str | int | float | bool) and new_key is not None:
                    self.problems.append(f"{at}: a key can only be a text slot; {key!r} is a {type(new_key).__name__}")
                    new_key = key
                if new_key in out and new_key != key:  # two keys that fill to one: the first would be lost
                    self.problems.append(f"{at}: {key!r} fills to {new_key!r}, a key this mapping already has; "
                                         "make the slot's values distinct from the other keys")
                out[new_key] = self.fill(value, at, depth)
            return out
        if isinstance(data, list):
            items: list[Any] = []
            for i, item in enumerate(data):
                at = f"{where}.{i}"
                whole = REFERENCE.fullmatch(item) if isinstance(item, str) else None
                value = self.fill(item, at, depth)
                if whole is not None and isinstance(value, list):
                    items.extend(value)  # a sample spliced into the list it stands in
                else:
                    items.append(value)
            return items
        if isinstance(data, str):
            return self._text(data, where, depth)
        return data

    def _text(self, text: str, where: str, depth: int) -> Any:
        if "{{" not in text:
            return text
        whole = REFERENCE.fullmatch(text)
        if whole is not None:
            return self._resolve(whole.group(1), where, depth)

        def one(match: re.Match[str]) -> str:
            value = self._resolve(match.group(1), where, depth)
            if isinstance(value, dict | list):
                self.problems.append(f"{where}: {{{{{match.group(1)}}}}} is a {type(value).__name__}; inside a text "
                                     "only a single value fits (name a field, or make the whole value the slot)")
                return match.group(0)
            return _as_text(value)

        return REFERENCE.sub(one, text)

    def _resolve(self, ref: str, where: str, depth: int) -> Any:
        name, *fields = ref.split(".")
        if name in self.resolving:
            chain = " -> ".join([*self.resolving[self.resolving.index(name):], name])
            self.problems.append(f"{where}: {{{{{ref}}}}}: slot {name!r} refers to itself ({chain})")
            return "{{" + ref + "}}"
        if name not in self.values:
            self.problems.append(f"{where}: {{{{{ref}}}}}: {unknown('slot', name, sorted(self.values))}")
            return "{{" + ref + "}}"
        value = self.values[name]
        for i, part in enumerate(fields):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                held = sorted(map(str, value)) if isinstance(value, dict) else None
                what = "." .join([name, *fields[:i]])
                self.problems.append(f"{where}: {{{{{ref}}}}}: " + (
                    unknown(f"field of slot {what!r}", part, held) if held is not None
                    else f"slot {what!r} holds a {type(value).__name__}, which has no field {part!r}"))
                return "{{" + ref + "}}"
        if depth >= MAX_NESTING:
            self.problems.append(f"{where}: {{{{{ref}}}}}: slots refer to each other more than {MAX_NESTING} deep")
            return value
        self.resolving.append(name)
        try:
            filled = self.fill(value, where, depth + 1)  # a slot's value may use other slots
        finally:
            self.resolving.pop()
        self.produced += len(filled) if isinstance(filled, str) else 1
        if self.produced > MAX_FILLED_CHARS:
            raise _TooLarge
        return filled


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fill_slots(data: dict[str, Any], values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Raw world data with every reference replaced, and the problems found (empty when clean)."""
    filler = SlotFiller(values)
    try:
        filled = filler.fill(data)
    except _TooLarge:
        return data, [f"slots: filling them produces more than {MAX_FILLED_CHARS:,} characters of text (a slot "
                      "used many times inside slots used many times?); the world file itself is limited to that"]
    return filled, list(dict.fromkeys(filler.problems))  # one line per distinct problem
