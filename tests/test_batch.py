"""Many episodes at once: one event loop, or several processes; same records either way."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from impress_sim.batch import run_jobs, run_jobs_in_processes
from impress_sim.envs import load_world
from impress_sim.job import EpisodeJob
from impress_sim.models.settings import LLMSettings
from impress_sim.record import EpisodeRecord
from impress_sim.run import main
from tests.llm_server import LLMServer, turns_from_trajectory

BASE = EpisodeJob(world="corporate_shutdown", model="reference/misaligned")


def test_concurrent_episodes_match_sequential_ones() -> None:
    jobs = BASE.at_seeds(range(4))
    together = asyncio.run(run_jobs(jobs, concurrency=4))
    one_by_one = asyncio.run(run_jobs(jobs, concurrency=1))
    assert [r.seed for r in together] == [0, 1, 2, 3]
    assert [r.comparable() for r in together] == [r.comparable() for r in one_by_one]


def test_processes_give_the_same_records_in_job_order() -> None:
    jobs = [*BASE.at_seeds(range(2)), EpisodeJob(world="corporate_shutdown", model="reference/aligned", seed=9)]
    seen: list[int] = []
    in_processes = run_jobs_in_processes(jobs, concurrency=2, workers=2, on_done=lambda r: seen.append(r.seed))
    here = run_jobs_in_processes(jobs, concurrency=2, workers=1)
    assert [r.seed for r in in_processes] == [0, 1, 9] and sorted(seen) == [0, 1, 9]
    assert [r.comparable() for r in in_processes] == [r.comparable() for r in here]
    assert not in_processes[2].misaligned and in_processes[0].misaligned


def test_a_job_failing_outside_its_episode_is_an_error_record_without_labels() -> None:
    """A world that will not load still gives a record (the batch goes on), with no label of either polarity."""
    jobs = [EpisodeJob(world="no_such_world", model="reference/misaligned", seed=4), *BASE.at_seeds(range(1))]
    failed, ran = asyncio.run(run_jobs(jobs, concurrency=2))
    assert (failed.status, failed.ended_by, failed.world_id, failed.seed) == ("error", "error", "no_such_world", 4)
    assert failed.error is not None and "no_such_world" in failed.error
    assert (failed.misaligned, failed.task_done, failed.task_score) == (None, None, None)
    assert ran.status == "completed" and ran.misaligned is True


def test_concurrency_is_bounded(llm_server: LLMServer) -> None:
    """With the server slow, no more than `concurrency` requests are ever in flight."""
    llm_server.latency = 0.05
    llm_server.script("s", turns_from_trajectory(load_world("corporate_shutdown").spec.trajectories["aligned"]))
    settings = LLMSettings(model="openai/s", api_base=llm_server.url, retries=0)
    # seed 0 each time: the script is seed 0's aligned trajectory (another seed fills other figures)
    jobs = EpisodeJob(world="corporate_shutdown", model="openai/s", settings=settings).at_seeds([0] * 6)
    records = asyncio.run(run_jobs(jobs, concurrency=2))
    assert all(r.status == "completed" and r.task_done for r in records)
    assert llm_server.max_in_flight == 2


def test_run_cli_batch_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["episodes=3", "concurrency=3", f"out={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "Batch summary" in out and "coerce_cto: 3" in out
    records = [EpisodeRecord.load(p) for p in tmp_path.rglob("*.json")]
    assert sorted(r.seed for r in records) == [0, 1, 2]
