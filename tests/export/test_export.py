"""`impress export`: tuples from a store whose rewards are the env's, same-state preference pairs
(one prefix, chosen without findings, rejected with them), and every hostile input one message."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from impress_sim.envs import World, load_world
from impress_sim.envs.env import ImpressEnv
from impress_sim.envs.reward import RewardConfig
from impress_sim.export.__main__ import main as export_main
from impress_sim.export.chat import Clip
from impress_sim.export.pairs import PairStats, world_pairs
from impress_sim.export.schema import PAIRS, TUPLES
from impress_sim.record import EpisodeRecord
from impress_sim.sweep import Store, SweepSpec, run_sweep

REPLAYS = ["reference/misaligned", "reference/aligned"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "store.sqlite"
    run_sweep(SweepSpec.model_validate({"worlds": ["corporate_shutdown"], "models": REPLAYS, "seeds": 2,
                                        "cache": "off", "quiet": True, "store": str(path), "name": "s1"}))
    return path


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def records(path: Path) -> dict[str, EpisodeRecord]:
    with Store(path) as s:
        return dict(s.records())


def fails(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert export_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


# ---- pairs ----------------------------------------------------------------------------------------
def replay_messages(world_id: str, seed: int, variant: dict[str, str], steps: list[Any]) -> list[str]:
    """The observations a fresh world gives for `steps`: what a same-state branch must reproduce."""
    world = World(load_world(world_id).at_seed(seed), variant=variant, seed=seed)
    return [world.step({"tool": s.tool, "args": s.args}).observation for s in steps if not world.ended()]


@pytest.mark.parametrize("seed", [0, 1])
def test_pairs_share_one_prefix_and_differ_in_findings(seed: int) -> None:
    stats = PairStats()
    pairs = list(world_pairs("corporate_shutdown", seed, config=RewardConfig(), clip=Clip(), routes=True,
                             stats=stats))
    assert len(pairs) >= 5 and stats.pairs == len(pairs)
    spec = load_world("corporate_shutdown").at_seed(seed).spec
    routes = {f"{b.id}.routes.{n}": t for b in spec.behaviours for n, t in b.routes.items()}
    trajectories = {**spec.trajectories, **routes}
    for pair in pairs:
        assert pair["chosen_findings"] == [] and pair["rejected_findings"] != []
        assert pair["rejected_behaviours"] and pair["chosen_reward"] > pair["rejected_reward"]
        n = pair["prefix_steps"]
        chosen, rejected = trajectories[pair["chosen_name"]], trajectories[pair["rejected_name"]]
        assert [(s.tool, s.args) for s in chosen.steps[:n]] == [(s.tool, s.args) for s in rejected.steps[:n]]
        variant = json.loads(pair["variant"])
        # the prompt's tool results are a fresh world's, and so is each branch taken from the snapshot:
        # both continuations start from the very state the prefix left
        tool_text = [m["content"] for m in pair["prompt"] if m["role"] == "tool"]
        assert tool_text == replay_messages("corporate_shutdown", seed, variant, chosen.steps[:n])
        for side, traj in (("chosen", chosen), ("rejected", rejected)):
            fresh = replay_messages("corporate_shutdown", seed, variant, traj.steps)
            assert [m["content"] for m in pair[side] if m["role"] == "tool"] == fresh[n:]
            first = pair[side][0]
            assert first["role"] == "assistant" and first["tool_calls"][0]["type"] == "function"
            json.loads(first["tool_calls"][0]["function"]["arguments"])
        assert pair["prompt"][0]["role"] == "system" and pair["prompt"][1]["role"] == "user"


def test_pairs_command_writes_data_and_a_card(tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    assert export_main(["kind=pairs", "worlds=[corporate_shutdown,cloud_budget]", "seeds=2", f"out={out}"]) == 0
    rows = rows_of(out / "data" / "train.jsonl")
    assert rows and {r["world_id"] for r in rows} == {"corporate_shutdown", "cloud_budget"}
    assert all(list(r) == [n for n, _ in PAIRS] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"| pairs | {len(rows)} |" in card and f"num_examples: {len(rows)}" in card
    hashes = {r["world_hash"] for r in rows}
    assert all(h in card for h in hashes) and "## License" in card and "## Known limits" in card
    assert "impress export kind=pairs worlds=[corporate_shutdown,cloud_budget] seeds=2" in card


# ---- tuples ---------------------------------------------------------------------------------------
def test_turn_rewards_are_the_envs_for_the_same_actions(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    assert export_main([f"store={store}", f"out={out}"]) == 0
    rows = rows_of(out / "data" / "train.jsonl")
    assert all(list(r) == [n for n, _ in TUPLES] for r in rows)
    by_episode: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_episode.setdefault(r["config_hash"], []).append(r)
    recs = records(store)
    assert set(by_episode) == set(recs)
    for digest, turns in by_episode.items():
        record = recs[digest]
        env = ImpressEnv(record.world_id, variant=record.variant)
        env.reset(seed=record.seed)
        total = sum(float(env.step({"tool": s.tool, "args": s.args})[1]) for s in record.steps)
        assert sum(t["reward"] for t in turns) == pytest.approx(total)
        assert [t["turn"] for t in turns] == list(range(len(turns)))
        for a, b in itertools.pairwise(turns):  # each prompt is the last one plus what followed
            assert b["prompt"][: len(a["prompt"]) + 1] == a["prompt"] + a["completion"]
            assert b["prompt"][len(a["prompt"]) + 1]["role"] == "tool"
        for t in turns:
            (completion,) = t["completion"]
            assert completion["role"] == "assistant"
            for call in completion["tool_calls"] or []:
                assert call["type"] == "function" and isinstance(json.loads(call["function"]["arguments"]), dict)
            found = {f.behaviour for s in record.steps if s.index in t["steps"] for f in s.findings}
            assert {f["behaviour"] for f in t["findings"]} == found
            assert (t["reward_effects"] > 0) == bool(found)
        names = {json.loads(t["tools"])[0]["type"] for t in turns}
        assert names == {"function"}
    misaligned = [t for t in rows if t["model"] == "reference/misaligned"]
    assert any(t["findings"] for t in misaligned)
    assert not any(t["findings"] for t in rows if t["model"] == "reference/aligned")


def test_episode_level_rows_hold_the_whole_trajectory(store: Path, tmp_path: Path) -> None:
    out_t, out_e = tmp_path / "t", tmp_path / "e"
    assert export_main([f"store={store}", f"out={out_t}"]) == 0
    assert export_main([f"store={store}", "level=episode", f"out={out_e}"]) == 0
    turns, episodes = rows_of(out_t / "data" / "train.jsonl"), rows_of(out_e / "data" / "train.jsonl")
    recs = records(store)
    assert len(episodes) == len(recs)
    for e in episodes:
        mine = [t for t in turns if t["config_hash"] == e["config_hash"]]
        assert e["reward"] == pytest.approx(sum(t["reward"] for t in mine))
        assert e["prompt"] == mine[0]["prompt"] and e["turn"] is None
        whole, last = e["prompt"] + e["completion"], mine[-1]
        assert whole[: len(last["prompt"]) + 1] == last["prompt"] + last["completion"]
        assert len(e["prompt"]) + len(e["completion"]) == len(recs[e["config_hash"]].messages)


def test_a_sweep_selects_its_episodes_and_an_unknown_one_is_named(store: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with Store(store) as s:
        (sweep_id,) = [i for (i,) in s.conn.execute("SELECT id FROM sweeps")]
    assert export_main([f"store={store}", f"sweep={sweep_id}", f"out={tmp_path / 'a'}"]) == 0
    err = fails([f"store={store}", f"sweep={sweep_id}x", f"out={tmp_path / 'b'}"], capsys)
    assert "unknown sweep" in err and sweep_id in err
    assert not (tmp_path / "b").exists()


# ---- hostile input ------------------------------------------------------------------------------
def test_a_missing_or_foreign_store_is_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no such file" in fails([f"store={tmp_path / 'nope.sqlite'}", f"out={tmp_path / 'o'}"], capsys)
    assert not (tmp_path / "nope.sqlite").exists()
    garbage = tmp_path / "g.sqlite"
    garbage.write_bytes(b"\x00\xffnot a database" * 100)
    assert "is not a results store" in fails([f"store={garbage}", f"out={tmp_path / 'o2'}"], capsys)
    foreign = tmp_path / "f.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER)")
    assert "is not a results store" in fails([f"store={foreign}", f"out={tmp_path / 'o3'}"], capsys)


def test_a_corrupt_record_is_one_message_and_leaves_no_data_file(store: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(store.read_bytes())
    for suffix in ("-wal", "-shm"):
        src = Path(f"{store}{suffix}")
        if src.exists():
            Path(f"{bad}{suffix}").write_bytes(src.read_bytes())
    with Store(bad) as s:
        s.conn.execute("UPDATE episodes SET record = ? WHERE rowid = (SELECT max(rowid) FROM episodes)",
                       ("\x00{not json",))
    err = fails([f"store={bad}", f"out={tmp_path / 'o'}"], capsys)
    assert "cannot be read" in err
    assert list((tmp_path / "o" / "data").iterdir()) == []  # no half-written data under any name


def test_an_existing_out_is_refused_unless_forced(store: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert "exists" in fails([f"store={store}", f"out={out}"], capsys)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert export_main([f"store={store}", f"out={out}", "force=true"]) == 0
    assert (out / "mine.txt").read_text() == "keep" and (out / "data" / "train.jsonl").exists()
    as_file = tmp_path / "file"
    as_file.write_text("x")
    assert "exists" in fails([f"store={store}", f"out={as_file}"], capsys)
    assert "is (or holds) the source" in fails([f"store={store}", f"out={store}", "force=true"], capsys)
    assert "is (or holds) the source" in fails([f"store={store}", f"out={store.parent}", "force=true"], capsys)
    assert store.exists()


def test_kinds_need_their_own_source(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # the default out= (runs/export-<kind>) must never be created by a refusal
    assert "kind=tuples needs store=" in fails([], capsys)
    assert "store= and sweep= are for kind=tuples" in fails(["kind=pairs", f"store={store}"], capsys)
    assert "worlds= is for kind=pairs" in fails([f"store={store}", "worlds=[corporate_shutdown]"], capsys)
    assert "unknown world" in fails(["kind=pairs", "worlds=[corporate_shutdwn]"], capsys)
    assert "unknown key" in fails(["kind=pairs", "sedes=2"], capsys)
    assert "seeds= and routes= are for kind=pairs" in fails([f"store={store}", "seeds=3"], capsys)
    assert "computes no judge term" in fails(["kind=pairs", "reward.judge_weight=1"], capsys)
    assert list(tmp_path.iterdir()) == []


def test_huge_fields_are_clipped_and_counted(store: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.sqlite"
    recs = records(store)
    digest, record = next(iter(recs.items()))
    huge = "A" * 3_000_000
    data = record.model_dump(mode="json")
    data["messages"][1]["content"] = huge  # the task, as a runaway tool or a hostile store might hold it
    data["steps"][0]["observation"] = huge
    for m in data["messages"]:
        if m["role"] == "tool":
            m["content"] = huge
            break
    with Store(big) as s:
        s.write(EpisodeRecord.model_validate(data), config_hash=digest, sweep_id="big", attempt=0)
    out = tmp_path / "o"
    assert export_main([f"store={big}", f"out={out}", "max_chars=1000"]) == 0
    rows = rows_of(out / "data" / "train.jsonl")
    assert rows and all(len(m["content"]) < 1100 for r in rows for m in r["prompt"] + r["completion"])
    assert any("characters clipped by the export" in m["content"] for m in rows[0]["prompt"])
    card = (out / "README.md").read_text(encoding="utf-8")
    clipped = int(card.split("| texts clipped | ")[1].split(" ")[0])
    assert clipped >= 2


def test_text_format_turns_get_their_steps_in_order(store: Path) -> None:
    """An agent that writes its calls as text (no native tool calls, no call ids): the k-th such turn
    made the k-th step, so each turn still carries its step's findings and cost."""
    from impress_sim.export.tuples import Provenance, record_rows

    record = next(r for r in records(store).values() if r.model == "reference/misaligned")
    data = record.model_dump(mode="json")
    for m in data["messages"]:
        if m["role"] == "assistant" and m.get("tool_calls"):
            call = m.pop("tool_calls")[0]
            m["content"] = f"Action: {call['name']}\nAction Input: {json.dumps(call['args'])}"
        if m["role"] == "tool":
            m["role"] = "user"
            m.pop("tool_call_id", None)
    for s in data["steps"]:
        s["call_id"] = None
    text = EpisodeRecord.model_validate(data)
    prov = Provenance()
    rows = list(record_rows(text, "x" * 64, level="turn", config=RewardConfig(), clip=Clip(), tools=None, prov=prov))
    native = list(record_rows(record, "x" * 64, level="turn", config=RewardConfig(), clip=Clip(), tools=None,
                              prov=Provenance()))
    assert prov.unattributed_steps == 0
    assert [r["steps"] for r in rows] == [r["steps"] for r in native]
    assert [r["reward"] for r in rows] == [r["reward"] for r in native]
    assert all(r["completion"][0]["tool_calls"] is None for r in rows)
