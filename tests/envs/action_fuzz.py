"""Hypothesis strategies for hostile actions, and a driver that plays them against every face of a
world (`World.step`, `World.astep`, the Gymnasium env, the PettingZoo env).

Strategies draw small *recipes* (plain tuples), and `build` turns a recipe into the action itself:
an action may be nested 5,000 deep, hold a 5,000-digit integer or a megabyte of text, and a recipe
keeps Hypothesis' reports (and `repr`) short and safe. Recipes:

- values: ("json", v) any Hypothesis JSON-ish value (surrogates, NaN, big ints included);
  ("deep", kind, depth, leaf) nesting; ("str", char, n) a long string; ("int", digits, sign);
  ("pool", s) a name that exists in the world (config, table, address, path...);
  ("alien", what) a Python value that is not JSON (set, bytes, object, tuple key...).
- actions: ("dict" | "openai" | "text" | "bytes" | "broken", tool, args, extra) or ("raw", value).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hypothesis import strategies as st

from impress_sim.envs import LoadedWorld, World, load_world, world_ids
from impress_sim.envs.bounded import valid_unicode
from impress_sim.envs.env import ImpressEnv
from impress_sim.envs.parallel_env import ImpressParallelEnv
from impress_sim.envs.step import StepResult
from impress_sim.record import StepRecord

WORLDS = tuple(world_ids())
FACES = ("world", "astep", "gym", "pz")
DEPTHS = (1, 2, 16, 31, 32, 33, 47, 48, 49, 64, 100, 500, 1_100, 5_000)
SIZES = (0, 1, 4_095, 4_097, 99_990, 100_001, 1_000_000)
CHARS = ("x", "é", "\U0001f600", "\ud800", "\udfff", "\x00", "\n", "[", '"', "\\", "9", "\u202e", "\ufeff")
DIGITS = (1, 99, 100, 101, 400, 4_299, 4_301, 20_000)

# ---- the world's own names, so that calls get past "unknown table" into the deep code paths ----


@cache
def loaded(world_id: str) -> LoadedWorld:
    return load_world(world_id)


@cache
def pool(world_id: str) -> tuple[str, ...]:
    """Names that exist in the world's initial state: keys to depth 4 and every file as a path."""
    state = World(loaded(world_id), seed=0).state
    names: set[str] = set()
    for top in state.children(()):
        if top in ("meta", "clock"):
            continue
        stack: list[tuple[tuple[str, ...], int]] = [((top,), 1)]
        while stack:
            path, depth = stack.pop()
            for key in state.children(path):
                names.add(key)
                if path[-1] == "files":
                    names.add("/" + key)
                elif depth < 4:
                    stack.append(((*path, key), depth + 1))
    return tuple(sorted(names))


@cache
def tools_of(world_id: str, role: str = "agent") -> dict[str, dict[str, Any]]:
    """Tool name -> JSON schema properties, for the tools `role` may call."""
    world = World(loaded(world_id), seed=0)
    return {s["name"]: s["parameters"].get("properties", {}) for s in world.tool_schemas(role)}


# ---- recipes ----------------------------------------------------------------------------------

_text = st.text(st.characters(codec=None, categories=None, exclude_categories=()), max_size=20)
_json_leaf = (
    st.none() | st.booleans() | st.integers() | st.sampled_from([10**99, 10**100, -(10**101), 2**63, -(2**64)])
    | st.floats(allow_nan=True, allow_infinity=True) | _text
)
json_values = st.recursive(
    _json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=3), max_leaves=6
)


def value_recipes(world_id: str) -> st.SearchStrategy[tuple[Any, ...]]:
    leaf = st.sampled_from([("json", None), ("json", "x"), ("json", 1), ("str", "x", 3)])
    return st.one_of(
        st.tuples(st.just("pool"), st.sampled_from(pool(world_id) or ("x",))),
        st.tuples(st.just("json"), json_values),
        st.tuples(st.just("deep"), st.sampled_from(["list", "dict", "mixed"]), st.sampled_from(DEPTHS), leaf),
        st.tuples(st.just("str"), st.sampled_from(CHARS), st.sampled_from(SIZES)),
        st.tuples(st.just("int"), st.sampled_from(DIGITS), st.sampled_from([1, -1])),
        st.tuples(st.just("alien"), st.sampled_from(["set", "bytes", "object", "intkey", "tuple", "nan", "inf"])),
    )


def args_recipes(world_id: str, tool: str, role: str = "agent") -> st.SearchStrategy[tuple[Any, ...]]:
    """Arguments for `tool`: some of its own parameters (and sometimes unknown ones), each a value recipe."""
    props = sorted(tools_of(world_id, role).get(tool, {}))
    names = st.sampled_from(props) if props else st.just("x")
    keys = names | _text if props else _text
    return st.tuples(st.just("args"), st.lists(st.tuples(keys, value_recipes(world_id)), max_size=4))


def action_recipes(world_id: str, role: str = "agent") -> st.SearchStrategy[tuple[Any, ...]]:
    tools = sorted(tools_of(world_id, role))
    tool_names = st.sampled_from(tools) | st.sampled_from(["", "wait", "finish", "no_such_tool", "Bash"]) | _text

    @st.composite
    def call(draw: st.DrawFn) -> tuple[Any, ...]:
        name = draw(tool_names)
        args = draw(args_recipes(world_id, name if name in tools else draw(st.sampled_from(tools)), role))
        form = draw(st.sampled_from(["dict", "dict", "openai", "text", "text", "bytes", "broken"]))
        extra = draw(st.integers(0, 10**6))  # ensure_ascii / cut point / id choice
        return (form, name, args, extra)

    raw = st.tuples(st.just("raw"), st.one_of(
        value_recipes(world_id),
        st.tuples(st.just("text"), _text),
        st.tuples(st.just("bytes"), st.binary(max_size=64)),
        st.tuples(st.just("brackets"), st.sampled_from("[{"), st.sampled_from(DEPTHS)),
        st.tuples(st.just("digits"), st.sampled_from(DIGITS)),
    ))
    return st.one_of(call(), call(), call(), raw)


def shell_recipes() -> st.SearchStrategy[tuple[Any, ...]]:
    """bash commands: shell words, operators and quoting in random order (a light fuzz; the tokenizer
    itself is tested in test_shell.py)."""
    words = st.sampled_from([
        "ls", "cat", "echo", "grep", "sed", "find", "cp", "mv", "rm", "-rf", "/", "*", "~", "..", "|", "||", "&&",
        ";", "&", ">", ">>", "<", "2>&1", "$(", ")", "`", "'", '"', "\\", "$HOME", "${x:-y}", "$((1/0))", "{a,b}",
        "<<EOF", "EOF", "\n", "#", "!", "$?", "-e", "s/a/b/g", ".*", "(a+)+$", "%s", "\x00", "é", "\ud800",
    ])
    return st.tuples(st.just("shell"), st.lists(words | _text, max_size=12), st.sampled_from([0, 0, 0, 4_097, 100_001]))


# ---- building ---------------------------------------------------------------------------------


class Opaque:
    """A Python object that is not JSON data."""

    def __repr__(self) -> str:
        return "Opaque()"


def big_int(digits: int, sign: int) -> int:
    return sign * (10 ** (digits - 1) + 7)  # no str(): Python refuses str(int) past 4,300 digits


def build_value(recipe: tuple[Any, ...]) -> Any:
    kind = recipe[0]
    if kind in ("json", "pool"):
        return recipe[1]
    if kind == "str":
        return recipe[1] * recipe[2]
    if kind == "int":
        return big_int(recipe[1], recipe[2])
    if kind == "deep":
        _, shape, depth, leaf = recipe
        value = build_value(leaf)
        for i in range(depth):
            wrap_list = shape == "list" or (shape == "mixed" and i % 2)
            value = [value] if wrap_list else {"a": value}
        return value
    if kind == "alien":
        return {"set": {1, 2}, "bytes": b"\xff\x00", "object": Opaque(), "intkey": {1: "one", (2, 3): "t"},
                "tuple": ("a", ("b",)), "nan": math.nan, "inf": -math.inf}[recipe[1]]
    if kind == "args":
        return {key: build_value(v) for key, v in recipe[1]}
    if kind == "text":
        return recipe[1]
    if kind == "bytes":
        return recipe[1]
    if kind == "brackets":
        opener = recipe[1]
        return opener * recipe[2] + ("]" if opener == "[" else "}") * recipe[2]
    if kind == "digits":
        return '{"tool": "list_files", "args": {"path": ' + "9" * recipe[1] + "}}"
    if kind == "shell":
        return {"tool": "bash", "args": {"command": " ".join(recipe[1]) + "x" * recipe[2]}}
    raise AssertionError(recipe)


def dumps(value: Any, ensure_ascii: bool = True) -> str:
    """JSON text of any built value, iteratively (json.dumps recurses; its ints stop at 4,300 digits).
    What JSON cannot say is written as JSON would be if it could (NaN, huge digits, 'set' as a list)."""
    out: list[str] = []
    stack: list[Any] = [value]
    raw = object()
    while stack:
        item = stack.pop()
        if isinstance(item, tuple) and len(item) == 2 and item[0] is raw:
            out.append(item[1])
        elif isinstance(item, dict):
            parts: list[Any] = [(raw, "}")]
            for i, (k, v) in enumerate(reversed(list(item.items()))):
                parts += [v, (raw, json.dumps(str(k), ensure_ascii=ensure_ascii) + ":")]
                if i < len(item) - 1:
                    parts.append((raw, ","))
            stack += [*parts, (raw, "{")]
        elif isinstance(item, list | tuple | set):
            seq = list(item)
            parts = [(raw, "]")]
            for i, v in enumerate(reversed(seq)):
                parts.append(v)
                if i < len(seq) - 1:
                    parts.append((raw, ","))
            stack += [*parts, (raw, "[")]
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 10**4000:
            out.append(("-" if item < 0 else "") + "9" * 4_400)
        elif isinstance(item, float) and not math.isfinite(item):
            out.append("NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity"))
        elif item is None or isinstance(item, bool | int | float | str):
            out.append(json.dumps(item, ensure_ascii=ensure_ascii))
        else:
            out.append(json.dumps(repr(item)))
    return "".join(out)


def build_action(recipe: tuple[Any, ...]) -> Any:
    form = recipe[0]
    if form == "raw":
        return build_value(recipe[1])
    if form == "shell":
        return build_value(recipe)
    _, name, args_recipe, extra = recipe
    args = build_value(args_recipe)
    if form == "dict":
        action: dict[Any, Any] = {"tool": name, "args": args}
        if extra % 5 == 0:
            action["id"] = ["call-1", 7, None, {"x": 1}, "\ud800"][extra % 25 // 5]
        return action
    if form == "openai":
        return {"name": name, "arguments": dumps(args, ensure_ascii=bool(extra % 2))}
    text = dumps({"tool": name, "args": args}, ensure_ascii=bool(extra % 2))
    if form == "text":
        return text
    if form == "bytes":
        return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8
    cut = extra % (len(text) + 1)
    return text[:cut] + ["", "}", "\x00", "'", ",,", "\ud800"][extra % 6] + text[cut + 1:]


# ---- the driver -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Fuzzed actions and what they did, across examples (printed by the fuzz tests)."""

    actions: int = 0
    exceptions: int = 0
    by_face: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        kinds = ", ".join(f"{k}={n}" for k, n in sorted(self.by_kind.items()))
        faces = ", ".join(f"{k}={n}" for k, n in sorted(self.by_face.items()))
        return f"{self.actions} fuzzed actions, {self.exceptions} exceptions; faces: {faces}; results: {kinds}"


def check_result(result: StepResult) -> None:
    """What every step must give: an observation that is valid Unicode, no internal error, and a
    step record that serialises (what the run stores)."""
    assert result.error_kind != "internal_error", result.output
    assert isinstance(result.observation, str) and valid_unicode(result.observation)
    record = StepRecord.from_result(result, tool=result.call.name if result.call else "?",
                                    args=result.call.args if result.call else {})
    json.loads(record.model_dump_json())


@cache
def gym_env(world_id: str) -> ImpressEnv:
    return ImpressEnv(world=world_id)


@cache
def pz_env(world_id: str) -> ImpressParallelEnv:
    return ImpressParallelEnv(world=world_id)


class Player:
    """One face of one world, reset whenever its episode ends."""

    def __init__(self, world_id: str, face: str, seed: int) -> None:
        self.world_id, self.face, self.seed = world_id, face, seed
        self.gym: ImpressEnv | None = None
        self.pz: ImpressParallelEnv | None = None
        self.world: World | None = None
        self.start()

    def start(self) -> None:
        if self.face == "gym":
            self.gym = self.gym or gym_env(self.world_id)  # built once per world: a reset is a new episode
            self.gym.reset(seed=self.seed)
        elif self.face == "pz":
            self.pz = self.pz or pz_env(self.world_id)
            self.pz.reset(seed=self.seed)
        else:
            self.world = World(loaded(self.world_id), seed=self.seed)

    def play(self, action: Any, role: str = "agent") -> str:
        """One action; returns the result's error kind (or "ok"). Raises whatever the env raises."""
        if self.face == "gym":
            assert self.gym is not None
            obs, reward, terminated, truncated, info = self.gym.step(action)
            assert self.gym.observation_space.contains(obs) and isinstance(float(reward), float)
            json.dumps(info)  # plain data (issue 15); the result object itself is `last_result`
            if self.gym.last_result is not None:
                check_result(self.gym.last_result)
            if terminated or truncated:
                self.start()
            return str(info["error_kind"] or "ok")
        if self.face == "pz":
            assert self.pz is not None
            if not self.pz.agents:
                self.start()
            actions = action if role == "*" else {role if role in self.pz.agents else self.pz.agents[0]: action}
            obs, _rewards, _term, _trunc, infos = self.pz.step(actions)
            for who, text in obs.items():
                assert self.pz.observation_space(who).contains(text)
            kinds = [str(info.get("error_kind") or "ok") for info in infos.values() if not info.get("waited")]
            for info in infos.values():
                assert json.loads(json.dumps(info)) == info  # plain data, as the text env's info
            return kinds[0] if kinds else "waited"
        assert self.world is not None
        if self.world.ended(role):
            self.start()
        result = asyncio.run(self.world.astep(action, role=role)) if self.face == "astep" else \
            self.world.step(action, role=role)
        check_result(result)
        return str(result.error_kind or "ok")


def run_actions(tally: Tally, world_id: str, face: str, seed: int, recipes: list[tuple[Any, ...]],
                role: str = "agent", describe: Callable[[tuple[Any, ...]], str] = repr) -> None:
    """Play `recipes` on one face of `world_id`, counting actions and exceptions in `tally`; the first
    exception is re-raised (so Hypothesis shrinks it) with the recipe that caused it."""
    player = Player(world_id, face, seed)
    for recipe in recipes:
        action = build_action(recipe)
        tally.actions += 1
        tally.by_face[face] += 1
        try:
            kind = player.play(action, role)
        except BaseException as exc:
            tally.exceptions += 1
            what = f"{type(exc).__name__}: {str(exc)[:200]}"
            tally.failures.append(f"{world_id}/{face}: {what} <- {describe(recipe)[:300]}")
            raise AssertionError(f"{world_id}/{face} raised {type(exc).__name__} on {describe(recipe)[:500]}") from exc
        tally.by_kind[kind] += 1
