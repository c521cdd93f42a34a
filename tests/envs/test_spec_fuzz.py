"""Mutation fuzz of the shipped worlds: what `validate` accepts resets and steps; what it rejects it
rejects with one message naming the file, the field and what is allowed, never a traceback.

Every shipped world is mutated in the ways a careless or hostile author would: dropped keys, wrong
types, dangling references (renamed tools, argument names, hosts, addresses, job ids, services,
paths, channels), duplicates, deep nesting, aliases, encodings, timestamps. Each mutation is
`known_bad` (it must be rejected, and the message must name `where`) or `maybe` (either is fine, but
an accepted world must reset under every variant and take steps without raising).

The bounded profile (one mutation of each kind, the worlds in turn, and every `STRIDE`-th) runs in the normal
suite; `pytest -m fuzz` runs all of them. The seed that picks targets is printed; set
`IMPRESS_FUZZ_SEED` to reproduce another one.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from impress_sim.envs.env import ImpressEnv
from impress_sim.envs.loader import load_world, world_ids, worlds_dir
from impress_sim.worlds.__main__ import main as worlds_main
from impress_sim.yamlio import read_yaml

SEED = int(os.environ.get("IMPRESS_FUZZ_SEED", "20260112"))
STRIDE = 40
ALLOWED_MARKERS = ("valid:", "allowed:", "did you mean", "expected", "should", "must", "need", "at most",
                   "save ", "declare", "not allowed", "required", "is not a", "may appear once", "indents",
                   "under one of", "exactly one of", "never fire", "matches nothing", "reaches no one",
                   "would always fail", "nothing is under it", "nothing can be set", "cannot be applied",
                   "not yaml text", "is not an enabled", "has no", "no world", "listed twice", "alias",
                   "nested more than", "duplicate", "its tools:")


@dataclass(frozen=True)
class Mutation:
    world: str
    kind: str
    name: str
    make: Callable[[dict[str, Any], str], str | bytes]  # (parsed world, its text) -> new world.yaml
    known_bad: bool
    where: str = ""  # a field path (or text) the rejection must name

    @property
    def id(self) -> str:
        return f"{self.world}:{self.kind}:{self.name}"


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)


def edit(fn: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any], str], str]:
    def make(data: dict[str, Any], _text: str) -> str:
        copied = copy.deepcopy(data)
        fn(copied)
        return dump(copied)

    return make


def text_edit(fn: Callable[[str], str | bytes]) -> Callable[[dict[str, Any], str], str | bytes]:
    return lambda _data, text: fn(text)


def typo(word: str) -> str:
    """A plausible misspelling: two neighbouring characters swapped (or one added when too short)."""
    if len(word) < 4:
        return word + "x"
    i = len(word) // 2
    swapped = word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    return swapped if swapped != word else word + "x"


def typo_local(address: str) -> str:
    """A misspelt address in the same domain (a typo in the domain is an outside address: legitimate)."""
    local, at, domain = address.partition("@")
    return typo(local) + at + domain


def get(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


def dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


# ---- mutation sites -------------------------------------------------------------------------------
def effects(data: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    init = data["initial_state"]
    for job_id, job in init.get("jobs", {}).items():
        for i, e in enumerate(job.get("effects", [])):
            yield ("initial_state", "jobs", job_id, "effects", i), e
    for i, ev in enumerate(data.get("timeline", [])):
        for j, e in enumerate(ev.get("effects", [])):
            yield ("timeline", i, "effects", j), e
    for i, npc in enumerate(data.get("npcs", [])):
        for j, rule in enumerate(npc.get("rules", [])):
            for k, e in enumerate(rule.get("do", [])):
                yield ("npcs", i, "rules", j, "do", k), e
        for j, routine in enumerate(npc.get("routines", [])):
            for k, e in enumerate(routine.get("do", [])):
                yield ("npcs", i, "routines", j, "do", k), e


def conditions(data: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every condition with a literal `path` (nested in all/any/not too)."""
    roots: list[tuple[tuple[Any, ...], Any]] = []
    for i, e in enumerate(data.get("end_conditions", [])):
        roots.append((("end_conditions", i, "when"), e["when"]))
    for i, ev in enumerate(data.get("timeline", [])):
        if "unless" in ev:
            roots.append((("timeline", i, "unless"), ev["unless"]))
        if "when" in ev.get("trigger", {}):
            roots.append((("timeline", i, "trigger", "when"), ev["trigger"]["when"]))
    for i, d in enumerate(data.get("detectors", [])):
        if "outcome" in d:
            roots.append((("detectors", i, "outcome", "holds"), d["outcome"]["holds"]))
    for job_id, job in data["initial_state"].get("jobs", {}).items():
        if "requires" in job:
            roots.append((("initial_state", "jobs", job_id, "requires"), job["requires"]))
    for name, m in data.get("mechanisms", {}).items():
        roots.append((("mechanisms", name, "works"), m["works"]))
    stack = roots
    while stack:
        where, c = stack.pop()
        if not isinstance(c, dict):
            continue
        if isinstance(c.get("path"), str):
            yield where, c
        for kind in ("all", "any"):
            for i, sub in enumerate(c.get(kind) or []):
                stack.append(((*where, kind, i), sub))
        if "not" in c:
            stack.append(((*where, "not"), c["not"]))


def patches(data: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    for axis, spec in data.get("factors", {}).items():
        for value, fv in spec.get("values", {}).items():
            for i, p in enumerate(fv.get("patches", []) or []):
                yield ("factors", axis, "values", value, "patches", i), p


def scalar_sites(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from scalar_sites(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from scalar_sites(v, (*path, i))
    else:
        yield path


def rename_entity(path: str, index: int) -> str:
    parts = path.strip("/").split("/")
    if len(parts) > index and not any(ch in parts[index] for ch in "*?["):
        parts[index] = typo(parts[index])
    return "/".join(parts)


# ---- the mutations of one world ---------------------------------------------------------------------
def mutations_of(world: str, rng: random.Random) -> list[Mutation]:
    data = read_yaml(worlds_dir() / world / "world.yaml")
    muts: list[Mutation] = []

    def add(kind: str, name: str, make: Callable[[dict[str, Any], str], str | bytes], known_bad: bool,
            where: str = "") -> None:
        muts.append(Mutation(world, kind, name, make, known_bad, where))

    # dangling references in effects: tool names, argument names, recipients, channels, set/delete paths
    for where, e in effects(data):
        w = dotted(where)
        if "tool" in e:
            add("ref-tool", w, edit(lambda d, p=where: get(d, p).update(tool=typo(get(d, p)["tool"]))), True,
                f"{w}.tool")
            for arg in list(e.get("args", {}))[:2]:
                add("ref-arg", f"{w}.{arg}", edit(lambda d, p=where, a=arg: get(d, p).__setitem__(
                    "args", {(typo(k) if k == a else k): v for k, v in get(d, p)["args"].items()})), True,
                    f"{w}.args.{typo(arg)}")
            to = e.get("args", {}).get("to")
            if isinstance(to, list) and to and "$" not in to[0]:
                add("ref-address", w, edit(lambda d, p=where: get(d, p)["args"]["to"].__setitem__(
                    0, typo_local(get(d, p)["args"]["to"][0]))), True, f"{w}.args.to.0")
            placeholder = next((k for k, v in e.get("args", {}).items() if isinstance(v, str) and "$message_id" in v),
                               None)
            if placeholder is not None:
                add("ref-variable", w, edit(lambda d, p=where, k=placeholder: get(d, p)["args"].update(
                    {k: get(d, p)["args"][k].replace("$message_id", "$mesage_id")})), True, f"{w}.args.{placeholder}")
            if isinstance(e.get("args", {}).get("channel"), str):
                add("ref-channel", w, edit(lambda d, p=where: get(d, p)["args"].update(
                    channel=typo(get(d, p)["args"]["channel"]))), True, f"{w}.args.channel")
        if "set" in e:
            depth = len(e["set"].strip("/").split("/"))
            add("ref-set-entity", w, edit(lambda d, p=where: get(d, p).update(set=rename_entity(get(d, p)["set"], 1))),
                not e["set"].startswith("meta/") and depth > 2, f"{w}.set")
            add("set-through-scalar", w, edit(lambda d, p=where: get(d, p).update(
                set="clock/now/" + "x")), True, f"{w}.set")
            add("set-root", w, edit(lambda d, p=where: get(d, p).update(set="/")), True, f"{w}.set")
        if "delete" in e:
            add("ref-delete-root", w, edit(lambda d, p=where: get(d, p).update(delete=typo(get(d, p)["delete"]))),
                True, f"{w}.delete")
    # jobs: hosts, and job ids named by patches
    for job_id in data["initial_state"].get("jobs", {}):
        add("ref-host", f"job {job_id}", edit(lambda d, j=job_id: d["initial_state"]["jobs"][j].update(
            host=typo(d["initial_state"]["jobs"][j]["host"]))), True, f"initial_state.jobs.{job_id}.host")
    # NPCs: a mailbox for email rules
    for i, npc in enumerate(data.get("npcs", [])):
        if npc.get("email") and any(r.get("event") == "email" for r in npc.get("rules", [])):
            add("ref-npc-mailbox", f"npc {i}", edit(lambda d, i=i: d["npcs"][i].update(
                email=typo_local(d["npcs"][i]["email"]))),
                True, f"npcs.{i}.email")
    # condition paths: a misspelt collection, a misspelt host/job/service/mailbox
    for where, c in conditions(data):
        w = dotted(where)
        add("ref-path-root", w, edit(lambda d, p=where: get(d, p).update(path=rename_entity(get(d, p)["path"], 0))),
            True, f"{w}.path")
        root = c["path"].strip("/").split("/")[0]
        if root not in ("records", "config", "meta", "clock") and len(c["path"].strip("/").split("/")) > 1:
            add("ref-path-entity", w, edit(lambda d, p=where: get(d, p).update(
                path=rename_entity(get(d, p)["path"], 1))), "*" not in c["path"].split("/")[1], f"{w}.path")
    # variant patches: a delete that matches nothing, set through a scalar, the root
    for where, p in patches(data):
        w = dotted(where)
        if p.get("op") == "delete":
            add("patch-delete-typo", w, edit(lambda d, q=where: get(d, q).update(path=typo(get(d, q)["path"]))),
                True, f"{w}.path")
        add("patch-root", w, edit(lambda d, q=where: get(d, q).update(path="/")), True, f"{w}.path")
        add("patch-through-scalar", w, edit(lambda d, q=where: get(d, q).update(op="set", path="clock/now/x",
                                                                                 value=1)), True, f"{w}.path")
    # tools: a misspelt enabled tool is an unknown tool (not a trajectory problem)
    for i, name in enumerate(data["tools"][:4]):
        add("ref-enabled-tool", name, edit(lambda d, i=i: d["tools"].__setitem__(i, typo(d["tools"][i]))), True,
            f"tools.{i}: unknown tool")
    add("ref-trajectory-tool", "aligned.0", edit(lambda d: d["trajectories"]["aligned"]["steps"][0].update(
        tool=typo(d["trajectories"]["aligned"]["steps"][0]["tool"]))), True, "trajectories.aligned.steps.0.tool")
    add("ref-behaviour", "detector 0", edit(lambda d: d["detectors"][0].update(behaviour=typo(
        d["detectors"][0]["behaviour"]))), True, "detectors.0.behaviour")
    # duplicates
    boxes = data["initial_state"].get("mailboxes", {})
    for address, box in list(boxes.items())[:2]:
        if box.get("inbox"):
            add("dup-message-id", address, edit(lambda d, a=address: d["initial_state"]["mailboxes"][a]["inbox"].append(
                copy.deepcopy(d["initial_state"]["mailboxes"][a]["inbox"][0]))), True,
                f"initial_state.mailboxes.{address}.inbox")
    add("dup-key", "title", text_edit(lambda t: t.replace("\ntitle:", "\ntitle: Again\ntitle:", 1)), True,
        "duplicate key 'title'")
    add("dup-detector-id", "detectors", edit(lambda d: d["detectors"].append(copy.deepcopy(d["detectors"][0]))),
        True, "detectors: duplicate id")
    add("dup-tool", "tools", edit(lambda d: d["tools"].append(d["tools"][0])), True, "listed twice")
    # dropped keys: required ones must be named; optional ones may go either way
    for key in ("id", "title", "agent", "initial_state", "tools", "behaviours", "detectors", "task_checks",
                "trajectories"):
        add("drop-required", key, edit(lambda d, k=key: d.pop(k)), True, key)
    for key in ("npcs", "timeline", "factors", "variants", "org", "settings", "mechanisms", "end_conditions",
                "information_policy", "limits", "network"):
        if key in data:
            add("drop-optional", key, edit(lambda d, k=key: d.pop(k)), False)
    sites = [s for s in scalar_sites(data) if len(s) > 1]
    for s in rng.sample(sites, min(6, len(sites))):
        add("drop-random", dotted(s), edit(lambda d, s=s: _drop(d, s)), False)
    # wrong types
    add("type", "limits.max_tool_calls", edit(lambda d: d.setdefault("limits", {}).update(max_tool_calls="many")),
        True, "limits.max_tool_calls")
    add("type", "tools-as-text", edit(lambda d: d.update(tools="bash")), True, "tools")
    add("type", "npcs-as-map", edit(lambda d: d.update(npcs={"a": 1})), True, "npcs")
    add("type", "hosts-as-list", edit(lambda d: d["initial_state"].update(hosts=["a"])), True, "initial_state.hosts")
    add("type", "agent-host-list", edit(lambda d: d["agent"].update(host=["x"])), True, "agent.host")
    add("type", "clock-start", edit(lambda d: d["initial_state"]["clock"].update(start="yesterday")), True,
        "initial_state.clock.start")
    add("type", "top-level-list", text_edit(lambda _t: "- a list\n- of items\n"), True, "mapping of world fields")
    for s in rng.sample(sites, min(6, len(sites))):
        add("type-random", dotted(s), edit(lambda d, s=s: _set(d, s, {"unexpected": ["mapping"]})), False)
    add("extra-field", "agent", edit(lambda d: d["agent"].update(colour="blue")), True, "agent.colour")
    add("extra-field", "top", edit(lambda d: d.update(behaviors=[])), True, "unknown field 'behaviors'")
    # nesting, aliases, timestamps, encodings
    deep = "[" * 200 + "]" * 200
    add("deep", "200", text_edit(lambda t: t + f"\nzz_deep: {deep}\n"), True, "nested more than")
    add("deep", "config-40", edit(lambda d: d["initial_state"].setdefault("config", {}).update(
        deep_doc=_nest(40))), False)
    add("deep", "config-55", edit(lambda d: d["initial_state"].setdefault("config", {}).update(
        deep_doc=_nest(55))), True, "initial_state.config.deep_doc")
    add("alias", "bomb", text_edit(_text_bomb), True, "alias")
    add("alias", "bomb-in-config", edit(lambda d: d["initial_state"].setdefault("config", {}).update(
        bomb_doc={"rows": _shared_bomb(8)})), True, "alias")
    add("alias", "shared-small", edit(lambda d: d["initial_state"].setdefault("config", {}).update(
        shared_doc={"rows": _shared_bomb(2)})), False)
    add("alias", "recursive", text_edit(lambda t: t + "\nzz: &loop [1, *loop]\n"), True, "recursive alias")
    add("alias", "undefined", text_edit(lambda t: t + "\nzz: *nowhere\n"), True, "undefined alias")
    add("timestamp", "config", edit(lambda d: d["initial_state"].setdefault("config", {}).update(
        when_doc={"at": "__TS__"})), False)
    add("encoding", "latin1-comment", text_edit(lambda t: ("# caf\u00e9 notes\n" + t).encode("latin-1", "replace")),
        True, "not UTF-8")
    add("encoding", "nul", text_edit(lambda t: t.encode() + b"\x00\x01"), True, "binary")
    add("encoding", "utf16", text_edit(lambda t: t.encode("utf-16")), True, "UTF-16")
    add("encoding", "bom", text_edit(lambda t: b"\xef\xbb\xbf" + t.encode()), False)
    add("encoding", "tab-indent", text_edit(lambda t: t.replace("\n  ", "\n\t", 1)), True, "tabs")
    add("encoding", "control-char", text_edit(lambda t: t.replace("\ntitle:", "\ntitle: \x07", 1)), True,
        "not allowed in YAML")
    add("binary", "png", text_edit(lambda _t: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), True, "binary")
    # random string values renamed anywhere: either outcome, never a crash
    strings = [s for s in sites if isinstance(get(data, s), str) and len(get(data, s)) < 80]
    for s in rng.sample(strings, min(8, len(strings))):
        add("rename-random", dotted(s), edit(lambda d, s=s: _set(d, s, typo(get(d, s)))), False)
    return muts


def _drop(d: dict[str, Any], path: tuple[Any, ...]) -> None:
    parent = get(d, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        del parent[path[-1]]


def _set(d: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    get(d, path[:-1])[path[-1]] = value


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = {f"k{i}": value}
    return value


def _text_bomb(text: str) -> str:
    """"Billion laughs" appended as written by hand: nine anchors, each nine aliases of the previous."""
    lines = ["  b0: &c0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"  b{i}: &c{i} [" + ", ".join([f"*c{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return text + "\nzz_bomb:\n" + "\n".join(lines) + "\n"


def _shared_bomb(levels: int) -> Any:
    """Nested lists sharing one object per level: safe_dump writes them as anchors and aliases."""
    value: Any = ["lol"] * 9
    for _ in range(levels):
        value = [value] * 9
    return value


def all_mutations() -> list[Mutation]:
    rng = random.Random(SEED)
    return [m for world in world_ids() for m in mutations_of(world, rng)]


def bounded(muts: list[Mutation]) -> list[Mutation]:
    """One mutation of each kind (the worlds taken in turn), plus every STRIDE-th: a few dozen in all."""
    worlds = world_ids()
    by_kind: dict[str, list[Mutation]] = {}
    for m in muts:
        by_kind.setdefault(m.kind, []).append(m)
    chosen = {id(m) for m in muts[::STRIDE]}
    for i, (_kind, group) in enumerate(sorted(by_kind.items())):
        preferred = [m for m in group if m.world == worlds[i % len(worlds)]]
        chosen.add(id((preferred or group)[0]))
    return [m for m in muts if id(m) in chosen]


# ---- running one mutation ----------------------------------------------------------------------------
def write_mutant(root: Path, m: Mutation, index: int) -> Path:
    src = worlds_dir() / m.world
    folder = root / f"m{index:03d}_{m.world}"
    shutil.copytree(src, folder, ignore=shutil.ignore_patterns("__pycache__", "world.yaml"))
    data = read_yaml(src / "world.yaml")
    text = (src / "world.yaml").read_text(encoding="utf-8")
    out = m.make(data, text)
    if isinstance(out, str):
        out = out.replace("'__TS__'", "2026-01-01T09:00:00Z").replace("__TS__", "2026-01-01T09:00:00Z")
        out = out.encode("utf-8")
    (folder / "world.yaml").write_bytes(out)
    return folder


def reset_and_step(folder: Path) -> int:
    """Reset under the default, every named variant and every factor value; take a few steps. Returns steps."""
    loaded = load_world(str(folder))
    spec = loaded.spec
    variants: list[Any] = [None, *spec.variants]
    variants += [{axis: value} for axis, a in spec.factors.items() for value in a.values]
    steps = 0
    for variant in variants:
        env = ImpressEnv(world=str(folder))
        env.reset(seed=0, options={"variant": variant} if variant is not None else None)
        trajectory = spec.trajectories["misaligned" if steps else "aligned"].steps[:3]
        actions: list[Any] = [{"tool": s.tool, "args": s.args} for s in trajectory]
        actions += [json.dumps({"tool": spec.tools[0], "args": {}}), "not json"]
        for action in actions:
            _obs, _reward, terminated, truncated, _info = env.step(action)
            steps += 1
            if terminated or truncated:
                break
    return steps


@dataclass
class Tally:
    mutations: int = 0
    rejected: int = 0
    accepted_ran: int = 0
    steps: int = 0
    max_validate: float = 0.0


def run_profile(muts: list[Mutation], tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str) -> None:
    tally = Tally()
    failures: list[str] = []
    for index, m in enumerate(muts):
        folder = write_mutant(tmp_path, m, index)
        capsys.readouterr()
        start = time.perf_counter()
        try:
            code = worlds_main(["validate", str(folder)])
        except BaseException as exc:  # a traceback is the failure this suite exists to find
            failures.append(f"{m.id}: validate raised {type(exc).__name__}: {exc}")
            continue
        tally.max_validate = max(tally.max_validate, time.perf_counter() - start)
        out = capsys.readouterr()
        tally.mutations += 1
        if code == 0:
            if m.known_bad:
                failures.append(f"{m.id}: an invalid world was accepted")
                continue
            try:
                tally.steps += reset_and_step(folder)
                tally.accepted_ran += 1
            except Exception as exc:
                failures.append(f"{m.id}: validated but reset/step raised {type(exc).__name__}: {exc}")
            continue
        tally.rejected += 1
        message = out.err
        problem = _first_problem(message)
        if code != 2 or "Traceback" in message or not message.startswith("error:"):
            failures.append(f"{m.id}: exit {code}, not one error message: {message[:300]!r}")
        elif str(folder) not in message.replace("\n", ""):
            failures.append(f"{m.id}: the message does not name the file: {message[:300]!r}")
        elif m.where and m.where not in message:
            failures.append(f"{m.id}: the message does not name {m.where!r}: {message[:400]!r}")
        elif not any(marker in problem.casefold() for marker in ALLOWED_MARKERS):
            failures.append(f"{m.id}: the message does not say what is allowed: {problem[:300]!r}")
    with capsys.disabled():
        print(f"\nworld-spec fuzz ({label}, seed {SEED}): {tally.mutations} mutations, {tally.rejected} rejected, "
              f"{tally.accepted_ran} accepted and ran ({tally.steps} steps), max {tally.max_validate:.2f} s per "
              f"validate, {len(failures)} failures")
    assert not failures, "\n".join(failures)
    assert tally.rejected and tally.accepted_ran  # both sides exercised


def _first_problem(message: str) -> str:
    lines = [line.strip(" -") for line in message.splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 and "invalid world spec" in lines[0] else (lines[0] if lines else "")


# ---- the tests ----------------------------------------------------------------------------------------
def test_mutation_list_covers_every_world_and_kind() -> None:
    muts = all_mutations()
    assert len(muts) >= 200
    assert {m.world for m in muts} == set(world_ids())
    kinds = {m.kind for m in muts}
    for needed in ("ref-tool", "ref-arg", "ref-host", "ref-address", "ref-npc-mailbox", "ref-path-root",
                   "ref-path-entity", "ref-variable", "patch-delete-typo", "patch-root", "dup-message-id", "dup-key",
                   "deep", "alias", "encoding", "drop-required", "type", "timestamp"):
        assert needed in kinds, needed


def test_world_spec_mutations_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_profile(bounded(all_mutations()), tmp_path, capsys, "bounded")


@pytest.mark.fuzz
def test_world_spec_mutations_full(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_profile(all_mutations(), tmp_path, capsys, "full")
