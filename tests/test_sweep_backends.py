"""Sweep execution: per-provider limits, jobs that fail outside the episode, a missing Ray.
(`backend=ray` itself is proven on the full study in tests/test_study.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from impress_sim.cli import parse_overrides
from impress_sim.envs.loader import load_world
from impress_sim.errors import UsageError
from impress_sim.job import EpisodeJob
from impress_sim.record import EpisodeRecord
from impress_sim.sweep import Store, SweepSpec, run_sweep
from impress_sim.sweep.__main__ import main as sweep_main
from tests.llm_server import LLMServer, turns_from_trajectory


def served_sweep(tmp_path: Path, server: LLMServer, **kw: object) -> SweepSpec:
    misaligned = load_world("cloud_budget").spec.trajectories["misaligned"]
    server.script("scripted", turns_from_trajectory(misaligned))
    base: dict[str, object] = {"worlds": ["cloud_budget"], "models": ["openai/scripted"], "api_base": server.url,
                               "seeds": 6, "cache": "off", "quiet": True, "concurrency": 6, "retries": 0,
                               "store": str(tmp_path / "store.sqlite")}
    return SweepSpec.model_validate({**base, **kw})


def test_provider_limits_cap_requests_in_flight(tmp_path: Path) -> None:
    with LLMServer(latency=0.05) as server:
        unlimited = run_sweep(served_sweep(tmp_path, server, store=str(tmp_path / "a.sqlite")))
        assert unlimited.errors == 0 and server.max_in_flight > 2  # six episodes do overlap
        server.max_in_flight = 0
        limited = run_sweep(served_sweep(tmp_path, server, store=str(tmp_path / "b.sqlite"),
                                         provider_limits={"openai": 2}))
        assert limited.errors == 0 and limited.ran == 6
        assert server.max_in_flight == 2


def test_provider_limits_are_checked_against_litellm_providers(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unknown provider\(s\) opneai.*openai"):
        parse_overrides(SweepSpec, ["worlds=cloud_budget", "provider_limits.opneai=4"])
    with pytest.raises(UsageError, match="at least 1"):
        parse_overrides(SweepSpec, ["worlds=cloud_budget", "provider_limits.openai=0"])
    spec = parse_overrides(SweepSpec, ["worlds=cloud_budget", "provider_limits.openai=4"])
    assert spec.provider_limits == {"openai": 4}
    assert spec.sweep_id() == parse_overrides(SweepSpec, ["worlds=cloud_budget"]).sweep_id()  # operational only


def test_a_job_failing_outside_the_episode_is_stored_as_an_error_and_redone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import impress_sim.batch as batch

    real = batch.run_episode

    async def flaky(job: EpisodeJob, **kw: Any) -> EpisodeRecord:
        if job.seed == 1:
            raise RuntimeError("judge exploded")
        return await real(job, **kw)

    spec = SweepSpec(worlds=["cloud_budget"], models=["reference/misaligned"], seeds=3, cache="off", quiet=True,
                     store=str(tmp_path / "s.sqlite"))
    monkeypatch.setattr(batch, "run_episode", flaky)
    first = run_sweep(spec)
    assert (first.ran, first.errors) == (3, 1)  # the other episodes went on
    with Store(spec.store) as store:
        rows = {r["seed"]: r for r in store.rows()}
    assert rows[1]["status"] == "error" and rows[1]["error"] == "RuntimeError: judge exploded"
    assert rows[1]["world"] == "cloud_budget" and rows[1]["misaligned"] is None  # an error has no verdict
    assert rows[0]["status"] == rows[2]["status"] == "done"
    monkeypatch.setattr(batch, "run_episode", real)
    second = run_sweep(spec)
    assert (second.skipped, second.ran, second.errors) == (2, 1, 0)


def test_progress_counts_tokens_and_cost_in_the_store(tmp_path: Path) -> None:
    with LLMServer() as server:
        spec = served_sweep(tmp_path, server, seeds=2)
        run_sweep(spec)
    with Store(spec.store) as store:
        tally = store.tally()
        assert store.tally(spec.sweep_id()) == tally and store.tally("another-sweep").done == 0
        assert store.tally(since="9999").done == 0  # nothing finished after then
    assert (tally.done, tally.errors) == (2, 0)
    assert tally.tokens > 2 * 12 * len(load_world("cloud_budget").spec.trajectories["misaligned"].steps)


def test_backend_ray_without_ray_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ray(name: str, *args: object, **kw: object) -> object:
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_ray)
    code = sweep_main(["worlds=cloud_budget", "backend=ray", "quiet=true", f"store={tmp_path / 's.sqlite'}"])
    assert code == 2
    assert "pip install 'impress-sim[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "s.sqlite").exists()  # failed before the store was touched
