"""Nothing lost, nothing touched: stores and caches that are not ours are refused untouched, a second
sweep on a store is refused while the first runs (and a killed sweep's lock does not block its
resume), a finished result is never replaced by an error, empty sweeps are errors, and a sweep's
export includes the episodes it shares with an earlier sweep."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from impress_sim.errors import UserError
from impress_sim.models import dbfile
from impress_sim.models.cache import ResponseCache
from impress_sim.record import EpisodeRecord
from impress_sim.report.__main__ import main as report_main
from impress_sim.sweep import Store, SweepSpec, expand, run_sweep
from impress_sim.sweep.__main__ import main as sweep_main
from impress_sim.sweep.store import SweepLock
from tests.llm_server import LLMServer

REPLAYS = ["reference/misaligned", "reference/aligned"]


def spec(tmp_path: Path, **kw: object) -> SweepSpec:
    base: dict[str, object] = {"worlds": ["cloud_budget"], "models": REPLAYS, "seeds": 1, "cache": "off",
                               "quiet": True, "store": str(tmp_path / "store.sqlite")}
    return SweepSpec.model_validate({**base, **kw})


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in the folder, name -> bytes: what "untouched" is compared against."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ---- files that are not ours -------------------------------------------------------------------
def foreign_rollback(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT, email TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('Ada', 'ada@example.org')")
        conn.commit()


def foreign_wal(path: Path) -> None:
    """Another program's database in WAL mode, closed cleanly (so no -wal/-shm beside it)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.commit()


def foreign_with_our_table_name(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE episodes (x)")  # one of our names, among theirs
        conn.execute("CREATE TABLE accounts (x)")
        conn.commit()


def stamped_by_someone_else(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA application_id = 1234")
        conn.execute("CREATE TABLE t (x)")
        conn.commit()


def garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 40)


def text_file(path: Path) -> None:
    path.write_text("worlds: [cloud_budget]\n")


def half_header(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 20)  # the magic, then nothing a database has


MAKERS: dict[str, Callable[[Path], None]] = {
    "foreign-sqlite": foreign_rollback, "foreign-wal-sqlite": foreign_wal,
    "foreign-our-names": foreign_with_our_table_name,
    "other-application-id": stamped_by_someone_else, "garbage-bytes": garbage, "text": text_file,
    "truncated-header": half_header,
}


@pytest.mark.parametrize("opener", [Store, ResponseCache], ids=["store", "cache"])
@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_a_file_that_is_not_ours_is_refused_untouched(tmp_path: Path, make: Callable[[Path], None],
                                                      opener: type) -> None:
    path = tmp_path / "thing.sqlite"
    make(path)
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match=r"=.*thing\.sqlite: is not a (results store|response cache): .*refusing "
                                        r"to touch it"):
        opener(path)
    assert snapshot(tmp_path) == before  # no table added, no WAL switched on, no file created beside it


@pytest.mark.parametrize("opener", [Store, ResponseCache], ids=["store", "cache"])
def test_a_folder_is_refused_and_left_empty(tmp_path: Path, opener: type) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(UserError, match="a-folder: is not a .*: it is a folder"):
        opener(folder)
    assert list(folder.iterdir()) == []


def test_a_store_is_not_a_cache_and_a_cache_is_not_a_store(tmp_path: Path) -> None:
    Store(tmp_path / "s.sqlite").close()
    ResponseCache(tmp_path / "c.sqlite").close()
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="is not a response cache: it is a results store"):
        ResponseCache(tmp_path / "s.sqlite")
    with pytest.raises(UserError, match="is not a results store: it is a response cache"):
        Store(tmp_path / "c.sqlite")
    assert snapshot(tmp_path) == before


def test_a_read_only_store_or_cache_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root every file is writable, so the permission check is simulated; the real thing below."""
    Store(tmp_path / "s.sqlite").close()
    ResponseCache(tmp_path / "c.sqlite").close()
    before = snapshot(tmp_path)
    real = os.access
    monkeypatch.setattr(dbfile.os, "access", lambda p, mode: real(p, mode) and not (mode & os.W_OK))
    with pytest.raises(UserError, match=r"s\.sqlite: cannot write it \(read-only"):
        Store(tmp_path / "s.sqlite")
    with pytest.raises(UserError, match=r"c\.sqlite: cannot write it \(read-only"):
        ResponseCache(tmp_path / "c.sqlite")
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_chmod_read_only_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    path.chmod(0o444)
    with pytest.raises(UserError, match="cannot write it"):
        Store(path)


def test_an_empty_file_and_an_older_unstamped_store_are_ours(tmp_path: Path) -> None:
    (tmp_path / "empty.sqlite").write_bytes(b"")
    with Store(tmp_path / "empty.sqlite") as store:
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == dbfile.STORE_ID
    older = tmp_path / "older.sqlite"  # a store made before the stamp: our tables, application_id 0
    with contextlib.closing(sqlite3.connect(older)) as conn:
        conn.executescript("CREATE TABLE sweeps (id TEXT PRIMARY KEY, spec TEXT NOT NULL, created TEXT NOT NULL);"
                           "CREATE TABLE episodes (config_hash TEXT PRIMARY KEY, sweep_id TEXT NOT NULL, status TEXT"
                           " NOT NULL, world TEXT NOT NULL, world_hash TEXT NOT NULL, model TEXT NOT NULL, agent TEXT"
                           " NOT NULL, variant TEXT NOT NULL, variant_name TEXT, temperature REAL, top_p REAL, seed"
                           " INTEGER NOT NULL, attempt INTEGER NOT NULL, misaligned INTEGER, task_done INTEGER,"
                           " behaviours TEXT, error TEXT, record TEXT, finished TEXT NOT NULL);")
    with Store(older) as store:
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == dbfile.STORE_ID
    cache = tmp_path / "older-cache.sqlite"
    with contextlib.closing(sqlite3.connect(cache)) as conn:
        conn.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, reply TEXT NOT NULL, created REAL)")
        conn.execute("INSERT INTO responses VALUES ('k', '{\"content\": \"hi\"}', 0)")
        conn.commit()
    opened = ResponseCache(cache)
    assert opened.get("k") == {"content": "hi"}
    opened.close()


def run_cli(main: Callable[[list[str]], int], args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run a command that must fail with one `error:` line (exit 2); return that line."""
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("make", [foreign_rollback, garbage], ids=["foreign-sqlite", "garbage"])
def test_commands_refuse_a_store_or_cache_that_is_not_ours_with_one_message(
        tmp_path: Path, make: Callable[[Path], None], capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.sqlite"
    make(path)
    before = snapshot(tmp_path)
    err = run_cli(sweep_main, ["worlds=cloud_budget", "cache=off", "quiet=true", f"store={path}"], capsys)
    assert "is not a results store" in err
    err = run_cli(sweep_main, ["export", str(path), f"out={tmp_path / 'out.jsonl'}"], capsys)
    assert "is not a results store" in err
    err = run_cli(report_main, [str(path), f"out={tmp_path / 'report'}"], capsys)
    assert "is not a results store" in err
    assert snapshot(tmp_path) == before


def test_a_sweep_refuses_a_cache_that_is_not_ours_before_any_episode(tmp_path: Path, llm_server: LLMServer,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache.sqlite"
    garbage(cache)
    store = tmp_path / "store.sqlite"
    err = run_cli(sweep_main, ["worlds=cloud_budget", "models=[openai/scripted]", f"api_base={llm_server.url}",
                               f"cache={cache}", "quiet=true", f"store={store}"], capsys)
    assert "cache=" in err and "is not a response cache" in err
    assert llm_server.request_count == 0 and not store.exists()


def test_a_garbage_record_in_a_store_is_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = spec(tmp_path)
    run_sweep(s)
    with Store(s.store) as store:
        store.conn.execute("UPDATE episodes SET record = ? WHERE rowid = 1", ("\x00{not json",))
    err = run_cli(sweep_main, ["export", s.store, f"out={tmp_path / 'out.jsonl'}"], capsys)
    assert "cannot be read" in err and "store=" in err


# ---- one writer at a time -------------------------------------------------------------------------
def test_a_second_sweep_on_a_store_in_use_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = spec(tmp_path)
    Store(s.store).close()
    with SweepLock(s.store):  # the first sweep, still running
        with pytest.raises(UserError, match=rf"store .*store\.sqlite is in use by another sweep \(pid {os.getpid()}\)"):
            run_sweep(s)
        err = run_cli(sweep_main, ["worlds=cloud_budget", "cache=off", "quiet=true", f"store={s.store}"], capsys)
        assert "is in use by another sweep" in err
    with Store(s.store) as store:
        assert store.rows() == []  # the refused sweep ran nothing
    assert run_sweep(s).ran == 2  # the lock is released with the first sweep


HOLD_LOCK = """
import sys, time
from impress_sim.sweep.store import SweepLock
from tests.llm_server import LLMServer
with SweepLock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_killed_sweeps_lock_does_not_block_its_resume(tmp_path: Path) -> None:
    """SIGKILL leaves no stale lock: the kernel releases `flock` with the process (a pid file would not)."""
    s = spec(tmp_path)
    Store(s.store).close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, s.store], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"locked"
        with pytest.raises(UserError, match=rf"in use by another sweep \(pid {proc.pid}\)"):
            run_sweep(s)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert Path(f"{s.store}.lock").read_text() == str(proc.pid)  # the killed holder's pid is still written
    assert run_sweep(s).ran == 2  # yet the resume runs


def test_two_sweeps_started_at_once_one_runs_the_other_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "shared.sqlite"
    args = [sys.executable, "-m", "impress_sim.sweep", "worlds=[cloud_budget,corporate_shutdown]",
            f"models=[{','.join(REPLAYS)}]", "seeds=3", "cache=off", "quiet=true", f"store={store}"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read().decode() if p.stdout else "",
                p.stderr.read().decode() if p.stderr else "") for p in procs]
    ran = sum(int(m.group(1)) for _, out, _ in results for m in [re.search(r"(\d+) run,", out)] if m)
    assert ran == 12, results  # every episode ran once, never twice
    codes = sorted(code for code, _, _ in results)
    # either the second was refused while the first ran, or it started after the first ended (all done)
    assert codes in ([0, 2], [0, 0]), results
    for code, _, err in results:
        if code == 2:
            assert "is in use by another sweep (pid " in err and err.count("\n") == 1, err
    with Store(store) as opened:
        rows = opened.rows()
    assert len(rows) == 12 and {r["status"] for r in rows} == {"done"}


# ---- the upsert rule --------------------------------------------------------------------------------
def test_a_finished_result_is_never_replaced_by_an_error(tmp_path: Path) -> None:
    s = spec(tmp_path, models=["reference/misaligned"])
    run_sweep(s)
    with Store(s.store) as store:
        [(digest, done)] = list(store.records())
        late = done.model_copy(update={"status": "error", "ended_by": "error", "error": "late: HTTP 503",
                                       "misaligned": None, "verdict": None, "task_done": None, "task_score": None})
        assert store.write(late, config_hash=digest, sweep_id="other", attempt=0) is False
        [row] = store.rows()
        assert row["status"] == "done" and row["error"] is None and row["sweep_id"] == s.sweep_id()
        assert dict(store.records())[digest] == done
        # an error is replaced by a newer error, and by a finished result
        store.conn.execute("UPDATE episodes SET status = 'error', error = 'first' WHERE config_hash = ?", (digest,))
        assert store.write(late, config_hash=digest, sweep_id="other", attempt=0) is True
        assert store.rows()[0]["error"] == "late: HTTP 503"
        assert store.write(done, config_hash=digest, sweep_id="again", attempt=0) is True
        assert store.rows()[0]["status"] == "done"


# ---- empty sweeps -------------------------------------------------------------------------------------
@pytest.mark.parametrize("arg", ["seeds=0", "seeds=-2", "seeds=[]", "worlds=[]", "models=[]", "agents=[]",
                                 "temperature=[]", "top_p=[]", "variants.reality=[]"])
def test_an_empty_sweep_is_an_error(tmp_path: Path, arg: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store.sqlite"
    key = arg.split("=")[0]
    given = {"worlds": "worlds=cloud_budget", "seeds": "seeds=1", key: arg}
    err = run_cli(sweep_main, [*given.values(), "cache=off", "quiet=true", f"store={store}"], capsys)
    assert key.split(".")[0] in err and ("at least one" in err or "empty axis" in err), err
    assert not store.exists()


def test_an_empty_sweep_spec_is_an_error_in_python_too() -> None:
    with pytest.raises(ValueError, match="at least one seed"):
        SweepSpec.model_validate({"worlds": ["cloud_budget"], "seeds": 0})
    with pytest.raises(ValueError, match="at least one value on every axis"):
        SweepSpec.model_validate({"worlds": []})


# ---- exports include every episode the sweep owns -------------------------------------------------------
def test_export_of_a_sweep_includes_the_episodes_it_shares_with_an_earlier_one(tmp_path: Path) -> None:
    a = spec(tmp_path, name="a")
    b = spec(tmp_path, name="b", worlds=["cloud_budget", "corporate_shutdown"])
    assert run_sweep(a).ran == 2
    summary = run_sweep(b)
    assert (summary.total, summary.skipped, summary.ran) == (4, 2, 2)  # b shares a's two episodes
    wanted = {j.config_hash for j in expand(b)}

    def exported(sweep: str) -> set[str]:
        out = tmp_path / f"{sweep}.jsonl"
        assert sweep_main(["export", b.store, f"out={out}", f"sweep={sweep}", "force=true"]) == 0  # again below
        return {EpisodeRecord.model_validate_json(line).episode_id for line in out.read_text().splitlines()}

    with Store(b.store) as store:
        ids = {h: r.episode_id for h, r in store.records()}
        assert store.sweep_hashes("b") == wanted and store.sweep_hashes("a") == {j.config_hash for j in expand(a)}
    assert exported("b") == {ids[h] for h in wanted}
    assert exported("a") == {ids[j.config_hash] for j in expand(a)}

    # a store written before sweeps were linked to their episodes: found through b's spec
    with Store(b.store) as store:
        store.conn.execute("DELETE FROM sweep_episodes")
    assert exported("b") == {ids[h] for h in wanted}


def test_export_of_an_unknown_sweep_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = spec(tmp_path, name="alpha")
    run_sweep(s)
    err = run_cli(sweep_main, ["export", s.store, "sweep=alpah", f"out={tmp_path / 'o.jsonl'}"], capsys)
    assert "unknown sweep 'alpah'; did you mean 'alpha'?" in err


def test_lock_file_holds_the_pid_only_while_held(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    Store(store).close()
    with SweepLock(store) as lock:
        assert lock.path.read_text() == str(os.getpid())
    assert lock.path.read_text() == ""


def test_an_export_never_overwrites_the_store_or_an_existing_file(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    s = spec(tmp_path)
    run_sweep(s)
    store = Path(s.store)
    before = store.read_bytes()
    for fmt in ("jsonl", "parquet"):
        err = run_cli(sweep_main, ["export", s.store, f"out={s.store}", f"format={fmt}"], capsys)
        assert "is the store itself" in err and store.read_bytes() == before
    other = tmp_path / "other.db"
    foreign_rollback(other)
    theirs = other.read_bytes()
    err = run_cli(sweep_main, ["export", s.store, f"out={other}"], capsys)
    assert "exists; nothing was written (force=true replaces it)" in err and other.read_bytes() == theirs
    assert sweep_main(["export", s.store, f"out={other}", "force=true"]) == 0 and other.read_bytes() != theirs


def test_a_sweep_with_an_absurd_number_of_seeds_is_refused_before_expanding() -> None:
    for seeds in (10**12, 10**25):
        with pytest.raises(ValueError, match="a sweep takes at most 1,000,000"):
            SweepSpec(worlds=["cloud_budget"], seeds=seeds)


@pytest.mark.parametrize("value", ["[nan]", "[inf]", "[3]"])
def test_a_sampling_axis_out_of_range_is_one_line(value: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    err = run_cli(sweep_main, ["worlds=[cloud_budget]", f"temperature={value}", f"store={tmp_path / 's.sqlite'}"],
                  capsys)
    assert err.startswith("error: temperature.0: ") and "\n" not in err and "pydantic" not in err
