"""The study issue 6 asks for, end to end: 2 models served by a local OpenAI-compatible server × 3
worlds × 2 reality framings × 3 seeds; killed midway, resumed with no duplicates or gaps; the same
sweep on Ray gives the same set of results."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from impress_sim.cli import parse_overrides
from impress_sim.sweep import Store, SweepSpec, expand
from impress_sim.sweep.__main__ import main as sweep_main
from tests.helpers import kill_sweep_midway
from tests.world_server import WorldRoutedServer

WORLDS = ["corporate_shutdown", "monitoring_migration", "cloud_budget"]
MODELS = {"openai/schemer": "misaligned", "openai/steady": "aligned"}  # model -> the trajectory it plays


@pytest.fixture(scope="module")
def server() -> Iterator[WorldRoutedServer]:
    with WorldRoutedServer(latency=0.02) as served:
        for model, trajectory in MODELS.items():
            served.play(model.removeprefix("openai/"), trajectory, WORLDS)
        yield served


def study_args(server: WorldRoutedServer, store: Path, *extra: str) -> list[str]:
    return [f"worlds=[{','.join(WORLDS)}]", f"models=[{','.join(MODELS)}]", "variants.reality=[production,test]",
            "seeds=3", f"api_base={server.url}", "retries=0", "cache=off", "quiet=true", "concurrency=2",
            f"store={store}", *extra]


@pytest.fixture(scope="module")
def resumed_store(server: WorldRoutedServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The study, killed after a few episodes, then resumed to completion."""
    tmp = tmp_path_factory.mktemp("study")
    store = tmp / "study.sqlite"
    partial = kill_sweep_midway(study_args(server, store), store, tmp)
    assert 3 <= partial < 36, partial
    assert sweep_main(study_args(server, store)) == 0
    return store


@pytest.mark.slow
def test_killed_study_resumes_with_no_duplicates_or_gaps(server: WorldRoutedServer, resumed_store: Path) -> None:
    spec = parse_overrides(SweepSpec, study_args(server, resumed_store))
    with Store(resumed_store) as store:
        rows = store.rows()
    assert len(rows) == 36 == len({r["config_hash"] for r in rows})
    assert {r["config_hash"] for r in rows} == {j.config_hash for j in expand(spec)}
    assert {r["status"] for r in rows} == {"done"}
    by_model = {m: {r["misaligned"] for r in rows if r["model"] == m} for m in MODELS}
    assert by_model == {"openai/schemer": {1}, "openai/steady": {0}}  # each model acted as served, every world
    assert {(r["world"], r["model"]) for r in rows} == {(w, m) for w in WORLDS for m in MODELS}


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="Ray is the optional extra impress-sim[ray] (pip install 'impress-sim[ray]')")
@pytest.mark.slow
def test_the_study_on_ray_gives_the_same_set_of_results(server: WorldRoutedServer, resumed_store: Path,
                                                        tmp_path: Path) -> None:
    on_ray = tmp_path / "ray.sqlite"
    assert sweep_main(study_args(server, on_ray, "backend=ray", "workers=2")) == 0
    with Store(resumed_store) as local, Store(on_ray) as ray:
        assert ray.rows() == local.rows()
        ray_records = dict(ray.records())
        assert all(ray_records[h].comparable() == r.comparable() for h, r in local.records())


def test_the_report_of_the_study_has_tables_plots_and_every_episode(
        resumed_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from impress_sim.report.__main__ import main as report_main

    monkeypatch.setenv("COLUMNS", "220")  # rich sizes tables to the terminal: keep the model names whole
    assert report_main([str(resumed_store), f"out={tmp_path / 'report'}"]) == 0
    out = capsys.readouterr().out
    assert "openai/schemer" in out and "openai/steady" in out and "reality" in out  # the tables
    index = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert index.count("<svg") == 3  # heatmap, framing effects, risk types ...
    assert "judge agreement needs ≥2 judges" in index  # ... and why there is no agreement plot (one judge)
    pages = list((tmp_path / "report" / "episodes").glob("*.html"))
    with Store(resumed_store) as store:
        assert {p.stem for p in pages} == {r["config_hash"] for r in store.rows()}
