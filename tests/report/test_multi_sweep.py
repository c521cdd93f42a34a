"""One report over several sweeps and stores: episodes merged by config hash (one episode once, a
finished copy over an error, differing finished copies reported), specs and model_meta merged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from impress_sim.episode import failed_episode
from impress_sim.errors import ReportError
from impress_sim.record import EpisodeRecord
from impress_sim.report.__main__ import main as report_main
from impress_sim.report.data import load_sweeps
from impress_sim.sweep import Store, SweepSpec, expand, run_sweep


def sweep(store: Path, name: str, model: str, reality: list[str], **kw: object) -> SweepSpec:
    spec = SweepSpec.model_validate({"name": name, "worlds": ["cloud_budget"], "models": [model], "seeds": 2,
                                     "variants": {"reality": reality}, "cache": "off", "quiet": True,
                                     "store": str(store), **kw})
    assert run_sweep(spec).errors == 0
    return spec


def test_two_stores_make_one_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    sweep(a, "mis", "reference/misaligned", ["production", "test"],
          model_meta={"reference/misaligned": {"family": "ref", "size": "small"}})
    sweep(b, "ali", "reference/aligned", ["test", "production"], model_meta={"reference/aligned": {"family": "ref"}})
    data = load_sweeps([(str(a), None), (str(b), None)])
    assert len(data.episodes) == 8 and data.conflicts == []
    assert data.sources == [f"{a} (sweep mis)", f"{b} (sweep ali)"]
    spec = data.sweep.spec
    assert spec["models"] == ["reference/misaligned", "reference/aligned"]
    assert spec["variants"]["reality"] == ["production", "test"]  # the first sweep's control stays the control
    assert spec["model_meta"] == {"reference/misaligned": {"family": "ref", "size": "small"},
                                  "reference/aligned": {"family": "ref"}}
    out = tmp_path / "report"
    capsys.readouterr()
    assert report_main([str(a), str(b), f"out={out}"]) == 0
    text = capsys.readouterr().out
    flat = " ".join(text.split())
    assert f"sources: {a} (sweep mis); {b} (sweep ali)" in flat
    html = (out / "index.html").read_text()
    assert str(a) in html and str(b) in html and "mis+ali" in html  # the header names every source
    assert len(list((out / "episodes").glob("*.html"))) == 8
    # the same, with stores=[...]
    assert report_main([f"stores=[{a},{b}]", "html=false"]) == 0


def test_several_sweeps_of_one_store_by_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s.sqlite"
    sweep(store, "one", "reference/misaligned", ["production"])
    sweep(store, "two", "reference/aligned", ["production"])
    assert len(load_sweeps([(str(store), "one"), (str(store), "two")]).episodes) == 4
    capsys.readouterr()
    assert report_main(["one", "two", f"store={store}", "html=false"]) == 0
    assert report_main(["one", "nope", f"store={store}", "html=false"]) == 2
    err = capsys.readouterr().err
    assert "unknown sweep 'nope'" in err and "one (" in err and "two (" in err
    with pytest.raises(ReportError, match="given twice"):
        load_sweeps([(str(store), "one"), (str(store), "one")])


def test_the_same_episode_in_two_stores_is_one_and_differences_are_reported(tmp_path: Path) -> None:
    a, copy = tmp_path / "a.sqlite", tmp_path / "copy.sqlite"
    spec = sweep(a, "mis", "reference/misaligned", ["production", "test"])
    shutil.copy(a, copy)
    data = load_sweeps([(str(a), None), (str(copy), None)])
    assert len(data.episodes) == 4 and data.conflicts == []  # identical copies: one episode each, no conflict

    # a finished episode differs in the copy: kept once, the first source's, and reported; a rerun that
    # differs only in what identical runs differ in (ids, times) is no conflict
    first = expand(spec)[0]

    def replace_in_copy(update: dict[str, object]) -> EpisodeRecord:
        with Store(copy) as s:
            record = s.record(first.config_hash)
            s.conn.execute("DELETE FROM episodes WHERE config_hash = ?", (first.config_hash,))
            s.conn.commit()
            s.write(record.model_copy(update=update), config_hash=first.config_hash, sweep_id="mis", attempt=0)
        return record

    record = replace_in_copy({"wall_seconds": 1234.5, "episode_id": "rerun"})
    assert load_sweeps([(str(a), None), (str(copy), None)]).conflicts == []
    replace_in_copy({"task_score": 0.123})
    data = load_sweeps([(str(a), None), (str(copy), None)])
    assert len(data.episodes) == 4
    [conflict] = data.conflicts
    assert first.config_hash[:12] in conflict and str(a) in conflict and str(copy) in conflict
    kept = {e.config_hash: e.record for e in data.episodes}[first.config_hash]
    assert kept.task_score == record.task_score != 0.123  # the first source's

    # an error in one store and a finished run in the other: the finished one wins, in either order
    errored = tmp_path / "err.sqlite"
    with Store(errored) as s:
        s.add_sweep("mis", spec.model_dump(mode="json"), [first.config_hash])
        s.write(failed_episode(first.job, RuntimeError("boom"), first.world_id, first.world_hash),
                config_hash=first.config_hash, sweep_id="mis", attempt=0)
    for order in ([errored, a], [a, errored]):
        merged = load_sweeps([(str(p), None) for p in order])
        got = {e.config_hash: e.record for e in merged.episodes}[first.config_hash]
        assert got.status != "error" and merged.conflicts == []


def test_conflicting_model_meta_names_the_model_and_field(tmp_path: Path) -> None:
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    sweep(a, "x", "reference/misaligned", ["production"], model_meta={"reference/misaligned": {"size": "7B"}})
    sweep(b, "y", "reference/misaligned", ["test"], model_meta={"reference/misaligned": {"size": "70B"}})
    with pytest.raises(ReportError, match=r"model_meta of reference/misaligned: size is '7B' in .*a\.sqlite.* but "
                                          r"'70B' in .*b\.sqlite"):
        load_sweeps([(str(a), None), (str(b), None)])
