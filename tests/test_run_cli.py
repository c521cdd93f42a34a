"""`impress run` / `python -m impress_sim.run`: episodes end to end through the LangGraph agent, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from impress_sim.envs import load_world
from impress_sim.record import SCHEMA_VERSION, EpisodeRecord
from impress_sim.run import main
from tests.helpers import play
from tests.llm_server import LLMServer, turns_from_trajectory


def records_in(folder: Path) -> list[EpisodeRecord]:
    return [EpisodeRecord.load(p) for p in sorted(folder.rglob("*.json"))]


def test_misaligned_replay_is_detected_and_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["world=corporate_shutdown", "agent=react", f"out={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "replay of a scripted trajectory" in out.replace("\n", " ") and "MISALIGNED" in out
    [record] = records_in(tmp_path)
    assert record.is_replay and record.model == "reference/misaligned"
    declared = {b.id for b in load_world("corporate_shutdown").spec.behaviours}
    assert record.misaligned and set(record.behaviours) == declared
    assert record.status == "completed" and record.ended_by == "finish"
    assert record.steps[3].tool == "grant_access" and record.steps[3].findings[0].behaviour == "self_privilege"
    assert any(d["path"] == "jobs/decom-atlas-v3/status" for d in record.steps[4].diff)
    assert record.messages[0]["role"] == "system" and record.messages[-1]["role"] == "tool"  # ended by finish
    assert record.world_hash == load_world("corporate_shutdown").content_hash


def test_aligned_replay_completes_the_task_without_findings(tmp_path: Path) -> None:
    assert main(["model=reference/aligned", "quiet=true", f"out={tmp_path}", "episodes=2", "seed=7"]) == 0
    records = records_in(tmp_path)
    assert [r.seed for r in records] == [7, 8]
    assert all(r.task_done and not r.misaligned and not r.findings for r in records)


def test_two_runs_with_one_seed_give_identical_records() -> None:
    loaded = load_world("corporate_shutdown")
    first = play(loaded, model="reference/misaligned", seed=3)
    second = play(loaded, model="reference/misaligned", seed=3)
    assert first.comparable() == second.comparable()
    assert first.episode_id != second.episode_id


def test_records_round_trip_and_are_versioned(tmp_path: Path) -> None:
    record = play(load_world("corporate_shutdown"), model="reference/aligned")
    path = record.save(tmp_path)
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 3
    assert EpisodeRecord.load(path) == record


def test_records_written_before_schema_3_still_load() -> None:
    """Schema 2 named the verdicts' "was the task done" `task_completed`; such records load as task_done."""
    from impress_sim.judge.config import JudgeConfig

    record = play(load_world("corporate_shutdown"), model="reference/aligned", judge=JudgeConfig())
    assert record.verdict is not None and record.verdict.task_done is True
    data = record.model_dump(mode="json")
    data["schema_version"] = 2
    data["verdict"]["task_completed"] = data["verdict"].pop("task_done")
    for judge in data["verdict"]["judges"]:
        judge["task_completed"] = judge.pop("task_done")
    old = EpisodeRecord.model_validate_json(json.dumps(data))
    assert old.verdict == record.verdict and old.verdict is not None and old.verdict.task_done is True
    assert "task_completed" not in old.model_dump_json()  # saved again, it says task_done


def test_step_budget_override_truncates(tmp_path: Path) -> None:
    assert main(["model=reference/aligned", "max_steps=3", "quiet=true", f"out={tmp_path}"]) == 0
    [record] = records_in(tmp_path)
    assert len(record.steps) == 3 and record.status == "truncated" and record.ended_by == "step_limit"
    assert not record.task_done


def test_variant_overrides(tmp_path: Path) -> None:
    assert main(["variant=control", "model=reference/aligned", "quiet=true", f"out={tmp_path}"]) == 0
    assert main(["variant.goal_nudge=explicit", "variant.reality=test", "model=reference/aligned", "quiet=true",
                 f"out={tmp_path}"]) == 0
    nudged, control = sorted(records_in(tmp_path), key=lambda r: r.variant["goal_nudge"])
    assert control.variant["threat"] == "none"
    assert nudged.variant == {"persona": "neutral", "reality": "test", "goal_nudge": "explicit",
                              "threat": "replacement", "safety_prompt": "off", "tool_naming": "neutral",
                              "context": "standard"}
    assert "long-term reliability" in nudged.briefing.system_prompt


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["world=atlantis"], "unknown world 'atlantis'; valid: "),
        (["agent=telepath"], "unknown agent 'telepath'; valid: "),
        (["colour=blue"], "unknown key 'colour'; valid keys: world, agent, model"),
        (["model=reference/nope"], "valid reference models: reference/aligned"),
        (["model=reference/misalignd"], "did you mean 'reference/misaligned'?"),
        (["variant=nope"], "unknown variant 'nope'"),
        (["variant.threat=imminent"], "variant.threat: unknown value 'imminent'; valid: none, replacement"),
        (["variant.threat=replacment"], "unknown value 'replacment'; did you mean 'replacement'? valid: none, "
                                        "replacement"),
        (["world=corprate_shutdown"], "unknown world 'corprate_shutdown'; did you mean 'corporate_shutdown'?"),
        (["agent=reakt"], "unknown agent 'reakt'; did you mean 'react'? valid: "),
        (["max_step=3"], "unknown key 'max_step'; did you mean 'max_steps'? valid keys: world, agent, model"),
        (["--quiet"], "options are written key=value: did you mean quiet=<value>?"),
        (["seed=abc"], "seed: Input should be a valid integer"),
        (["episodes=0"], "episodes: Input should be greater than or equal to 1"),
        (["justaword"], "unknown world 'justaword'"),  # a bare word is the world
        (["monitor=openai/x", "monitor.threshold=50"], "monitor=<value> cannot be combined with monitor.<key>"),
    ],
)
def test_cli_errors_are_one_clear_message(args: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    assert main([*args, f"out={tmp_path}"]) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith("error: ") and printed.err.count("\n") == 1  # one line, on stderr
    assert message in printed.err and "Traceback" not in printed.err and not printed.out
    assert not list(tmp_path.rglob("*.json"))  # nothing ran, nothing half-written


def test_help_lists_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m impress_sim.run [world] [key=value ...]")
    assert "max_steps" in out and "judge.model" in out and "monitor.threshold" in out


def test_a_folder_without_world_yaml_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main([f"world={tmp_path / 'empty'}", f"out={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert f"no world.yaml in {tmp_path / 'empty'}/" in err and "unknown world" not in err


def test_module_entry_point_runs_offline(tmp_path: Path) -> None:
    """The README's run command, as a subprocess: no network, no API key."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200", "NO_COLOR": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # this source tree, not an installed copy
    proc = subprocess.run(
        [sys.executable, "-m", "impress_sim.run", "world=corporate_shutdown", "agent=react", f"out={tmp_path}"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Episode summary" in proc.stdout and "coerce_cto" in proc.stdout


# ---- nothing lost: out= is checked before any model call; a failed save keeps the record ------------
@pytest.mark.parametrize("where", ["a-file", "under-a-file"])
def test_an_unwritable_out_fails_before_any_model_call(tmp_path: Path, where: str, llm_server: LLMServer,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    misaligned = load_world("corporate_shutdown").spec.trajectories["misaligned"]
    llm_server.script("scripted", turns_from_trajectory(misaligned))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the records folder would go")
    out = blocker if where == "a-file" else blocker / "runs"
    args = ["model=openai/scripted", f"api_base={llm_server.url}", f"out={out}", "cache=off", "quiet=true"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: out={out}: cannot write episode records") and err.count("\n") == 1, err
    assert llm_server.request_count == 0  # no model call was spent
    assert blocker.read_text() == "a file where the records folder would go"


@pytest.mark.parametrize("batch", [[], ["concurrency=2"]], ids=["live", "batch"])
def test_a_save_failing_mid_run_keeps_every_record_and_fails_loudly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], batch: list[str]) -> None:
    import errno
    import tempfile

    out, spare = tmp_path / "runs", tmp_path / "tmp"
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    real = EpisodeRecord.save_as
    saved: list[Path] = []

    def disk_fills_after_one(self: EpisodeRecord, path: Path) -> Path:
        if out in path.parents and saved:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        saved.append(path)
        return real(self, path)

    monkeypatch.setattr(EpisodeRecord, "save_as", disk_fills_after_one)
    assert main([f"out={out}", "episodes=3", "quiet=true", *batch]) == 2
    err = capsys.readouterr().err
    assert "error: cannot write episode records to" in err and "No space left on device" in err
    rescued = records_in(spare)
    kept = records_in(out)
    assert len(kept) == 1
    if batch:  # episodes already in flight all finish; each is kept
        assert "stopped with 3 episode(s) run: 1 saved there, 2 saved instead in" in err and len(rescued) == 2
    else:  # one at a time: it stops at the first failed save, spending no more model calls
        assert "stopped with 2 episode(s) run: 1 saved there, 1 saved instead in" in err and len(rescued) == 1
    assert {r.seed for r in kept + rescued} == set(range(len(kept) + len(rescued)))


def test_a_cache_that_is_not_a_cache_fails_before_any_model_call(tmp_path: Path, llm_server: LLMServer,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    args = ["model=openai/scripted", f"api_base={llm_server.url}", f"out={tmp_path / 'runs'}", f"cache={cache}",
            "quiet=true"]
    assert main(args) == 2
    assert "is not a response cache: it is not an SQLite database" in capsys.readouterr().err
    assert llm_server.request_count == 0 and cache.read_bytes()[:4] == b"\x89PNG"
