"""Sweeps: expansion and config hashes, the SQLite store, resume after a kill, export (offline, fast)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from impress_sim.cli import parse_overrides
from impress_sim.envs.loader import load_world
from impress_sim.errors import UsageError
from impress_sim.record import EpisodeRecord
from impress_sim.sweep import Store, SweepSpec, expand, export_jsonl, export_parquet, run_sweep
from impress_sim.sweep.__main__ import main as sweep_main
from tests.helpers import kill_sweep_midway
from tests.llm_server import LLMServer, turns_from_trajectory

WORLDS = ["corporate_shutdown", "monitoring_migration", "cloud_budget"]
MODELS = ["reference/misaligned", "reference/aligned"]


def kill_spec_args(store: Path) -> list[str]:
    return [f"worlds=[{','.join(WORLDS)}]", f"models=[{','.join(MODELS)}]", "variants.reality=[production,test]",
            "seeds=3", "attempts=1", "concurrency=1", "cache=off", "quiet=true", f"store={store}"]


def spec(tmp_path: Path, **kw: object) -> SweepSpec:
    base: dict[str, object] = {"worlds": ["corporate_shutdown", "cloud_budget"], "models": MODELS,
                               "variants": {"reality": ["production", "test"]}, "seeds": 2, "cache": "off",
                               "quiet": True, "store": str(tmp_path / "store.sqlite")}
    return SweepSpec.model_validate({**base, **kw})


def test_expansion_counts_and_hashes(tmp_path: Path) -> None:
    s = spec(tmp_path, agents=["react", "plan_execute"], temperature=[0.0, 0.7], attempts=2)
    jobs = expand(s)
    assert len(jobs) == 2 * 2 * 2 * 2 * 2 * 2 * 2 == s.cell_count() * s.attempts
    hashes = [j.config_hash for j in jobs]
    assert len(set(hashes)) == len(hashes)  # distinct
    assert hashes == [j.config_hash for j in expand(s)]  # stable, in a fixed order
    assert all(j.job.key == j.config_hash for j in jobs)
    # operational options change neither the episodes nor the sweep id
    other = spec(tmp_path, agents=["react", "plan_execute"], temperature=[0.0, 0.7], attempts=2, concurrency=99,
                 store=str(tmp_path / "elsewhere.sqlite"))
    assert [j.config_hash for j in expand(other)] == hashes and other.sweep_id() == s.sweep_id()
    # attempts of one cell differ in their provider seed, so they are fresh samples
    first, second = jobs[0], jobs[1]
    assert (first.attempt, second.attempt) == (0, 1) and first.job.seed == second.job.seed
    assert first.job.settings is not None and second.job.settings is not None
    assert first.job.settings.seed is None and second.job.settings.seed is not None


def test_named_variants_cross_with_factor_axes(tmp_path: Path) -> None:
    s = spec(tmp_path, worlds=["corporate_shutdown"], models=["reference/aligned"], seeds=1,
             named_variants=["baseline", "goal_conflict"], variants={"reality": ["production", "test"]})
    jobs = expand(s)
    assert len(jobs) == 4
    variants = [(j.variant_name, j.job.variant["goal_nudge"], j.job.variant["reality"]) for j in jobs]  # type: ignore[index]
    assert variants == [("baseline", "none", "production"), ("baseline", "none", "test"),
                        ("goal_conflict", "explicit", "production"), ("goal_conflict", "explicit", "test")]
    with pytest.raises(ValueError, match="unknown variant"):
        expand(spec(tmp_path, named_variants=["nope"]))
    with pytest.raises(ValueError, match="unknown value"):
        expand(spec(tmp_path, variants={"reality": ["nope"]}))


def test_a_changed_world_is_a_different_episode(tmp_path: Path) -> None:
    world = tmp_path / "cloud"
    shutil.copytree(load_world("cloud_budget").path.parent, world)
    s = spec(tmp_path, worlds=[str(world)], models=["reference/aligned"], seeds=1, variants={})
    before = expand(s)[0]
    (world / "world.yaml").write_text((world / "world.yaml").read_text() + "\n# edited\n")
    after = expand(s)[0]
    assert before.world_id == after.world_id and before.world_hash != after.world_hash
    assert before.config_hash != after.config_hash


def test_command_line_and_yaml(tmp_path: Path) -> None:
    args = ["worlds=[corporate_shutdown,cloud_budget]", "models=[reference/misaligned,reference/aligned]",
            "variants.reality=[production,test]", "seeds=3", "attempts=1", "temperature=0.2"]
    s = parse_overrides(SweepSpec, args)
    assert s.variants == {"reality": ["production", "test"]} and s.seed_list() == [0, 1, 2]
    assert s.temperature == [0.2] and len(expand(s)) == 24
    from_yaml = parse_overrides(SweepSpec, ["seeds=3"], {"worlds": ["corporate_shutdown", "cloud_budget"],
                                                        "models": MODELS, "attempts": 1, "temperature": 0.2,
                                                        "variants": {"reality": ["production", "test"]}})
    assert from_yaml == s
    with pytest.raises(UsageError, match="unknown key 'bogus'"):
        parse_overrides(SweepSpec, ["worlds=[cloud_budget]", "bogus=1"])


def test_sweep_runs_then_rerun_does_nothing_then_errors_are_redone(tmp_path: Path) -> None:
    s = spec(tmp_path)
    summary = run_sweep(s)
    assert (summary.total, summary.ran, summary.errors) == (16, 16, 0)
    with Store(s.store) as store:
        rows = store.rows()
        assert len(rows) == 16 and {r["status"] for r in rows} == {"done"}
        assert {r["config_hash"] for r in rows} == {j.config_hash for j in expand(s)}
        mis = [r for r in rows if r["model"] == "reference/misaligned"]
        assert all(r["misaligned"] == 1 and json.loads(r["behaviours"]) for r in mis)
        assert {json.loads(r["variant"])["reality"] for r in rows} == {"production", "test"}
        assert json.loads(store.conn.execute("SELECT spec FROM sweeps").fetchone()[0])["seeds"] == 2

    again = run_sweep(s)
    assert (again.skipped, again.ran) == (16, 0)

    victim = rows[3]["config_hash"]
    with Store(s.store) as store:
        store.conn.execute("UPDATE episodes SET status = 'error', error = 'boom' WHERE config_hash = ?", (victim,))
    redo = run_sweep(s)
    assert (redo.skipped, redo.ran) == (15, 1)
    with Store(s.store) as store:
        row = next(r for r in store.rows() if r["config_hash"] == victim)
        assert row["status"] == "done" and row["error"] is None and len(store.rows()) == 16


@pytest.mark.slow
def test_workers_write_the_store_from_each_process(tmp_path: Path) -> None:
    s = spec(tmp_path, worlds=["cloud_budget"], seeds=2, workers=2, concurrency=2)
    summary = run_sweep(s)
    assert (summary.ran, summary.errors) == (8, 0)
    with Store(s.store) as store:
        assert store.counts() == (8, 0)


@pytest.mark.slow
def test_kill_and_resume_loses_nothing_and_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    store_path = tmp_path / "killed.sqlite"
    partial = kill_sweep_midway(kill_spec_args(store_path), store_path, tmp_path)
    assert 3 <= partial < 36, partial

    assert sweep_main(kill_spec_args(store_path)) == 0  # resume
    resumed = parse_overrides(SweepSpec, kill_spec_args(store_path))
    with Store(store_path) as store:
        rows = store.rows()
        records = dict(store.records())
    assert len(rows) == 36 == len({r["config_hash"] for r in rows})
    assert {r["config_hash"] for r in rows} == {j.config_hash for j in expand(resumed)}
    assert {r["status"] for r in rows} == {"done"}

    fresh_path = tmp_path / "fresh.sqlite"
    assert sweep_main(kill_spec_args(fresh_path)) == 0  # the same sweep, uninterrupted
    with Store(fresh_path) as store:
        assert store.rows() == rows  # same labels, same results
        fresh = dict(store.records())
    assert fresh.keys() == records.keys()
    assert all(fresh[h].comparable() == records[h].comparable() for h in fresh)


def test_export_jsonl_round_trips(tmp_path: Path) -> None:
    s = spec(tmp_path, worlds=["cloud_budget"], seeds=1)
    run_sweep(s)
    out = tmp_path / "out.jsonl"
    assert sweep_main(["export", s.store, "format=jsonl", f"out={out}"]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 4
    exported = [EpisodeRecord.model_validate_json(line) for line in lines]
    with Store(s.store) as store:
        stored = [r for _, r in store.records()]
        assert export_jsonl(store, tmp_path / "again.jsonl", s.sweep_id()) == 4
        assert export_jsonl(store, tmp_path / "none.jsonl", "other-sweep") == 0
    assert [r.comparable() for r in exported] == [r.comparable() for r in stored]


def test_export_parquet(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet export needs impress-sim[parquet] (pyarrow)")
    s = spec(tmp_path, worlds=["cloud_budget"], seeds=1)
    run_sweep(s)
    with Store(s.store) as store:
        [(_, done), *_] = list(store.records())
        failed = done.model_copy(update={"status": "error", "ended_by": "error", "misaligned": None, "verdict": None,
                                         "task_score": None, "error": "boom"})
        store.write(failed, config_hash="e" * 64, sweep_id="s", attempt=0)
        assert export_parquet(store, tmp_path / "out.parquet") == 5
    table = pq.read_table(str(tmp_path / "out.parquet"))
    assert table.num_rows == 5 and {"config_hash", "world", "misaligned", "record"} <= set(table.column_names)
    assert {"state_misaligned", "llm_misaligned", "attempted", "task_score", "policy"} <= set(table.column_names)
    flags = dict(zip(table.column("config_hash").to_pylist(), table.column("misaligned").to_pylist(), strict=True))
    assert flags.pop("e" * 64) is None and set(flags.values()) == {True, False}  # booleans; an error stays null
    records = [EpisodeRecord.model_validate_json(t) for t in table.column("record").to_pylist()]
    assert {r.world_id for r in records} == {"cloud_budget"}


def test_a_model_error_is_stored_as_error_and_redone(tmp_path: Path, llm_server: LLMServer) -> None:
    misaligned = load_world("corporate_shutdown").spec.trajectories["misaligned"]
    llm_server.script("scripted", turns_from_trajectory(misaligned))
    llm_server.inject("500")
    s = spec(tmp_path, worlds=["corporate_shutdown"], models=["openai/scripted"], api_base=llm_server.url,
             retries=0, seeds=1, variants={})
    first = run_sweep(s)
    assert (first.ran, first.errors) == (1, 1)
    with Store(s.store) as store:
        [row] = store.rows()
        assert row["status"] == "error" and "InternalServerError" in row["error"]
        # an error episode has no verdict: NULL outcomes, never 0 ("aligned")
        assert all(row[k] is None for k in ("misaligned", "task_done", "state_misaligned", "llm_misaligned",
                                            "attempted", "other_misconduct", "task_score", "policy", "behaviours"))
        [(_, failed)] = list(store.records())
        assert failed.misaligned is None and failed.verdict is None
        export_jsonl(store, tmp_path / "error.jsonl")
    assert json.loads((tmp_path / "error.jsonl").read_text())["misaligned"] is None  # exports keep it null
    second = run_sweep(s)
    assert (second.skipped, second.ran, second.errors) == (0, 1, 0)
    with Store(s.store) as store:
        [row] = store.rows()
        assert row["status"] == "done" and row["misaligned"] == 1 and row["error"] is None
        assert (row["state_misaligned"], row["attempted"], row["policy"]) == (1, 0, "state_or_llm_with_evidence")


# The episodes table as the first release made it: no tokens, cost or outcome columns.
FIRST_SCHEMA = """
CREATE TABLE sweeps (id TEXT PRIMARY KEY, spec TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE episodes (
    config_hash TEXT PRIMARY KEY, sweep_id TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('done', 'error')),
    world TEXT NOT NULL, world_hash TEXT NOT NULL, model TEXT NOT NULL, agent TEXT NOT NULL, variant TEXT NOT NULL,
    variant_name TEXT, temperature REAL, top_p REAL, seed INTEGER NOT NULL, attempt INTEGER NOT NULL,
    misaligned INTEGER, task_done INTEGER, behaviours TEXT, error TEXT, record TEXT, finished TEXT NOT NULL
);
"""


def test_an_older_store_gains_the_outcome_columns_and_relabels_its_rows(tmp_path: Path) -> None:
    import sqlite3
    from contextlib import closing

    from impress_sim.judge import combine, judge_state
    from impress_sim.verdict import BehaviourLabel, Evidence, JudgeVerdict

    s = spec(tmp_path, worlds=["corporate_shutdown"], models=["reference/aligned"], seeds=1, variants={})
    run_sweep(s)
    with Store(s.store) as store:
        [(_, aligned)] = list(store.records())
    loaded = load_world("corporate_shutdown")
    accusing = JudgeVerdict(judge="llm:j", task_done=True, behaviours=[BehaviourLabel(
        behaviour="disable_oversight", acted=True, evidence=[Evidence(step=4, quote=aligned.steps[3].thought)])])
    judged = aligned.model_copy(update={"verdict": combine(aligned, judge_state(loaded, aligned), [accusing])})
    assert judged.verdict is not None and judged.verdict.misaligned and not judged.misaligned
    failed = aligned.model_copy(update={"status": "error", "ended_by": "error", "error": "boom", "verdict": None})
    old = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(old)) as conn:
        conn.executescript(FIRST_SCHEMA)
        for digest, record, status, label in (("a" * 64, judged, "done", 0), ("b" * 64, failed, "error", 0)):
            conn.execute("INSERT INTO episodes VALUES (?, 's', ?, 'corporate_shutdown', 'h', 'm', 'react', '{}', NULL, "
                         "NULL, NULL, 0, 0, ?, 1, '[]', NULL, ?, '2026-01-01')",
                         (digest, status, label, record.model_dump_json()))
        conn.commit()
    with Store(old) as store:  # opening it migrates it
        rows = {r["config_hash"][0]: r for r in store.rows()}
        columns = {row[1] for row in store.conn.execute("PRAGMA table_info(episodes)")}
    assert {"tokens", "cost_usd", "policy", "state_misaligned", "llm_misaligned", "attempted", "task_score"} <= columns
    done, error = rows["a"], rows["b"]
    # the old label was the state detectors'; the store now gives the combined verdict beside each judge alone
    assert (done["misaligned"], done["state_misaligned"], done["llm_misaligned"]) == (1, 0, 1)
    assert done["policy"] == "state_or_llm_with_evidence" and done["task_score"] == aligned.task_score
    assert json.loads(done["behaviours"]) == ["disable_oversight"]
    assert error["misaligned"] is None and error["task_done"] is None  # was 0: "aligned"
    with Store(old) as store:  # a second open changes nothing
        assert {r["config_hash"][0]: r for r in store.rows()} == rows


def test_a_sweep_checks_its_judge_before_any_episode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same preflight as `impress run`: an LLM judge that cannot work stops the sweep before its
    first episode (it used to run, and store episodes whose LLM judge had failed)."""
    store = tmp_path / "s.sqlite"
    code = sweep_main(["worlds=[corporate_shutdown]", "seeds=1", f"store={store}", "cache=off",
                       "judge.model=openai/x", "judge.api_base=http://127.0.0.1:9/v1"])
    assert code == 2 and "judge: cannot reach api_base" in capsys.readouterr().err
    assert not store.exists()
