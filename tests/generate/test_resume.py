"""A generation run that stops — killed, out of budget, or failed by a provider — loses nothing finished:
the rerun asks no finished stage again, and nothing that failed is ever counted as accepted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from impress_sim.errors import UserError
from impress_sim.generate.artifacts import GenerationSummary
from impress_sim.generate.pipeline import generate
from impress_sim.packs import read_pack
from tests.generate.scripted import ScriptedGenerator, fixture_draft, fixture_idea, with_idle_trajectory
from tests.generate.test_pipeline import LOG, MODEL, B, config_for, serve
from tests.llm_server import LLMServer

CITY = "municipal services"
ROOT = Path(__file__).resolve().parents[2]


def two_worlds() -> ScriptedGenerator:
    return ScriptedGenerator(
        ideas={(B, LOG): [fixture_idea("depot_change_board")], (B, CITY): [fixture_idea("council_packet_workflow")]},
        drafts={i: [fixture_draft(i)] for i in ("depot_change_board", "council_packet_workflow")})


def one_world() -> ScriptedGenerator:
    return ScriptedGenerator(ideas={(B, LOG): [fixture_idea("depot_change_board")]},
                             drafts={"depot_change_board": [with_idle_trajectory(fixture_draft("depot_change_board"))]})


def test_a_killed_run_resumes_without_redoing_finished_stages(tmp_path: Path) -> None:
    hung, release = threading.Event(), threading.Event()

    def hang_second_draft(stage: str, idea: str) -> None:
        if stage == "drafting" and idea == "council_packet_workflow":
            hung.set()
            release.wait(60)  # the request hangs: the generator is mid-call when it is killed

    first = two_worlds()
    first.on_call = hang_second_draft
    out = tmp_path / "run"
    with LLMServer() as server:
        serve(server, first)
        args = [f"cells=[{B}]", f"domains=[{LOG},{CITY}]", "ideas=1", f"out={out}", f"model=openai/{MODEL}",
                f"qc_models=[openai/{MODEL}]", f"api_base={server.url}", "cache=off", "check_seeds=1", "quiet=true",
                "concurrency=1"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen([sys.executable, "-m", "impress_sim.generate", *args], env=env, cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert hung.wait(120), process.communicate(timeout=5)
            finished_draft = out / "drafts" / "depot_change_board.json"
            for _ in range(600):  # the other idea's draft is being checked meanwhile: let it be stored first
                if finished_draft.exists():
                    break
                time.sleep(0.1)
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
        assert process.returncode == -signal.SIGKILL
        assert first.calls["understanding"] == 2 and first.calls["ideation"] == 2
        assert first.draft_calls["depot_change_board"] == 1
        assert not (out / "summary.json").exists()  # it died before the end

        second = two_worlds()
        serve(server, second)
        summary = generate(config_for(server, out, cells=[B], domains=[LOG, CITY], ideas=1,
                                      qc_models=[f"openai/{MODEL}"], check_seeds=1))
    assert second.calls["understanding"] == 0 and second.calls["ideation"] == 0
    assert second.draft_calls == {"council_packet_workflow": 1}  # only the draft it was killed in
    assert sorted(o.idea_id for o in summary.accepted) == ["council_packet_workflow", "depot_change_board"]


def test_a_spent_budget_stops_the_run_and_a_larger_one_resumes_it(tmp_path: Path) -> None:
    generator = one_world()
    with LLMServer() as server:
        serve(server, generator)
        small = config_for(server, tmp_path / "run", cells=[B], domains=[LOG], ideas=1, qc_models=[f"openai/{MODEL}"],
                           check_seeds=1, budget_tokens=3_000)
        stopped = generate(small)
        assert not stopped.finished and "token budget spent" in stopped.stopped
        outcome = stopped.outcomes[0]
        assert (outcome.status, outcome.stage) == ("pending", "qc")  # drafted before the budget ran out
        assert generator.calls["qc"] == 0 and read_pack(stopped.pack).worlds == []
        spent = sum(c.input_tokens + c.output_tokens for c in stopped.costs)
        assert spent >= 3_000  # the ledger says what was spent, across the stop

        resumed = generate(small.model_copy(update={"budget_tokens": 1_000_000}))
    assert resumed.finished and [o.status for o in resumed.outcomes] == ["accepted"]
    assert generator.calls == {"understanding": 1, "ideation": 1, "drafting": 1, "qc": 1}


def test_without_a_majority_of_judges_qc_is_an_error_and_a_rerun_asks_the_failed_ones_again(tmp_path: Path) -> None:
    generator = one_world()
    with LLMServer() as server:
        serve(server, generator)
        lone = ["openai/judge-a", "openai/no-such-judge", "openai/nor-this-one"]
        config = config_for(server, tmp_path / "run", cells=[B], domains=[LOG], ideas=1, check_seeds=1,
                            qc_models=lone)
        failed = generate(config)
        outcome = failed.outcomes[0]
        assert (outcome.status, outcome.stage) == ("error", "qc"), outcome  # one judge of three must not decide
        assert "only 1 of 3 QC judges answered" in outcome.reason
        assert failed.accepted == [] and read_pack(failed.pack).worlds == []
        assert failed.stage_counts["qc"]["error"] == 1 and generator.calls["qc"] == 1

        # the two failed judges "recover" (now served), one harsh: asked again, not the one that answered
        server.script("no-such-judge", [], answer=generator)
        server.script("nor-this-one", [], answer=generator)
        generator.scores["depot_change_board"] = {"realism": 1}  # the recovered judges read it as unrealistic
        decided = generate(config)
    assert generator.calls["qc"] == 3 and generator.draft_calls["depot_change_board"] == 1
    outcome = decided.outcomes[0]
    assert (outcome.status, outcome.stage) == ("rejected", "qc") and "realism: median 1" in outcome.reason


def test_a_judge_that_fails_is_recorded_and_left_out_when_a_majority_answers(tmp_path: Path) -> None:
    generator = one_world()
    with LLMServer() as server:
        serve(server, generator)
        summary = generate(config_for(server, tmp_path / "run", cells=[B], domains=[LOG], ideas=1, check_seeds=1,
                                      qc_models=["openai/judge-a", "openai/judge-b", "openai/no-such-judge"]))
    assert [o.status for o in summary.outcomes] == ["accepted"]
    qc = (tmp_path / "run" / "qc" / "depot_change_board.json").read_text()
    assert "no-such-judge" in qc and "NotFoundError" in qc  # on record, left out of the vote


@pytest.mark.parametrize(("trajectory", "min_done", "status"), [("aligned", 1.0, "accepted"),
                                                                 ("idle", 0.5, "rejected"),
                                                                 ("no_such_trajectory", 0.0, "error")])
def test_the_pilot_records_rates_and_rejects_a_world_its_model_cannot_finish(
        tmp_path: Path, trajectory: str, min_done: float, status: str) -> None:
    generator = one_world()
    with LLMServer() as server:
        serve(server, generator)
        summary = generate(config_for(server, tmp_path / "run", cells=[B], domains=[LOG], ideas=1, check_seeds=1,
                                      qc_models=[f"openai/{MODEL}"], pilot_model=f"reference/{trajectory}",
                                      pilot_episodes=2, pilot_min_task_done=min_done))
    outcome = summary.outcomes[0]
    assert outcome.status == status and outcome.pilot is not None
    assert outcome.pilot.episodes == 2
    if status == "accepted":
        assert (outcome.pilot.task_done_rate, outcome.pilot.misaligned_rate, outcome.pilot.errors) == (1.0, 0.0, 0)
        assert read_pack(summary.pack).worlds[0].pilot["task_done_rate"] == 1.0  # type: ignore[index]
    elif status == "rejected":
        assert outcome.stage == "pilot" and "task done in 0% of 2 pilot episodes" in outcome.reason
    else:  # a pilot whose every episode failed says nothing about the world: neither accepted nor rejected
        assert (outcome.stage, outcome.pilot.errors) == ("pilot", 2) and read_pack(summary.pack).worlds == []
    assert summary.stage_counts["pilot"]["entered"] == 1


def test_summary_round_trips(tmp_path: Path) -> None:
    generator = one_world()
    with LLMServer() as server:
        serve(server, generator)
        summary = generate(config_for(server, tmp_path / "run", cells=[B], domains=[LOG], ideas=1, check_seeds=1,
                                      qc_models=[f"openai/{MODEL}"]))
    again = GenerationSummary.model_validate_json((tmp_path / "run" / "summary.json").read_text())
    assert again == summary
    _ = time


def test_the_pack_folder_must_be_new_or_a_pack_and_only_its_own_worlds_are_replaced(tmp_path: Path) -> None:
    someone_elses = tmp_path / "my_worlds"
    (someone_elses / "precious").mkdir(parents=True)
    (someone_elses / "precious" / "world.yaml").write_text("id: precious\n")
    generator = two_worlds()
    with LLMServer() as server:
        serve(server, generator)
        config = config_for(server, tmp_path / "run", cells=[B], domains=[LOG, CITY], ideas=1, check_seeds=1,
                            qc_models=[f"openai/{MODEL}"], pack=str(someone_elses))
        with pytest.raises(UserError, match="holds other things and no pack.yaml"):
            generate(config)
        assert (someone_elses / "precious" / "world.yaml").read_text() == "id: precious\n"
        assert not (tmp_path / "run").exists()  # refused before anything was written

        pack = tmp_path / "pack"
        both = generate(config.model_copy(update={"pack": str(pack)}))
        assert sorted(w.id for w in read_pack(pack).worlds) == ["council_packet_workflow", "depot_change_board"]
        (pack / "notes").mkdir()
        (pack / "notes" / "world.yaml").write_text("id: notes\n")  # not listed: not the generator's to remove
        # the same run folder, now asked for one domain: the world it no longer accepts leaves the pack
        one = generate(config.model_copy(update={"pack": str(pack), "domains": [LOG]}))
    assert [o.idea_id for o in one.accepted] == ["depot_change_board"] and len(both.accepted) == 2
    assert [w.id for w in read_pack(pack).worlds] == ["depot_change_board"]
    assert not (pack / "council_packet_workflow").exists() and (pack / "notes" / "world.yaml").is_file()


def test_a_pack_made_by_another_run_is_not_overwritten(tmp_path: Path) -> None:
    with LLMServer() as server:
        serve(server, one_world())
        first = config_for(server, tmp_path / "first", cells=[B], domains=[LOG], ideas=1, check_seeds=1,
                           qc_models=[f"openai/{MODEL}"])
        made = generate(first)
        manifest = read_pack(made.pack)
        assert manifest.run == str((tmp_path / "first").resolve()) and manifest.pack == "first"
        with pytest.raises(UserError, match="was made by the run in"):
            generate(first.model_copy(update={"out": str(tmp_path / "second"), "pack": made.pack}))
    assert read_pack(made.pack) == manifest


def test_new_thresholds_re_decide_the_stored_scores_without_asking_again(tmp_path: Path) -> None:
    generator = one_world()
    generator.scores["depot_change_board"] = {"realism": 4}
    with LLMServer() as server:
        serve(server, generator)
        config = config_for(server, tmp_path / "run", cells=[B], domains=[LOG], ideas=1, check_seeds=1,
                            qc_models=[f"openai/{MODEL}"])
        assert [o.status for o in generate(config).outcomes] == ["accepted"]  # realism 4 >= 3.5
        before = server.request_count
        strict = generate(config.model_copy(update={"thresholds": {**config.thresholds, "realism": 4.5}}))
        assert server.request_count == before and strict.reused > 0
    outcome = strict.outcomes[0]
    assert (outcome.status, outcome.stage) == ("rejected", "qc") and "realism: median 4 < 4.5" in outcome.reason
    assert read_pack(strict.pack).worlds == []


def test_stage_counts_count_pairs_at_understanding_and_a_pair_without_ideas(tmp_path: Path) -> None:
    sloppy = {**fixture_idea("depot_change_board"), "novelty": "high"}  # a key beyond the schema: ignored
    broken = {"id": "Not An Id!", "title": "x"}  # unusable: dropped alone, not the whole reply
    generator = ScriptedGenerator(ideas={(B, LOG): [sloppy, broken]},  # CITY: no ideas at all
                                  drafts={"depot_change_board": [fixture_draft("depot_change_board")]})
    with LLMServer() as server:
        serve(server, generator)
        config = config_for(server, tmp_path / "run", cells=[B], domains=[LOG, CITY], ideas=2, check_seeds=1,
                            qc_models=[f"openai/{MODEL}"])
        summary = generate(config)
        generate(config)
    assert generator.calls["ideation"] == 3  # the empty reply is not stored as done: the rerun asked again
    counts = summary.stage_counts
    assert counts["understanding"] == {"entered": 2, "passed": 2, "rejected": 0, "error": 0, "pending": 0}
    assert counts["ideation"] == {"entered": 2, "passed": 1, "rejected": 1, "error": 0, "pending": 0}
    empty = next(o for o in summary.outcomes if o.kind == "pair")
    assert (empty.domain, empty.status, empty.reason) == (CITY, "rejected", "the model proposed no usable ideas")
    stored = json.loads((tmp_path / "run" / "ideation" / f"{B.replace('/', '_')}--{LOG}.json").read_text())
    assert [i["id"] for i in stored["data"]["ideas"]] == ["depot_change_board"]
    assert len(stored["data"]["dropped"]) == 1 and "idea 2" in stored["data"]["dropped"][0]
    assert summary.acceptance_rate == 1.0  # a pair is not an idea: it does not count against the rate


def test_an_earlier_pack_in_the_library_is_not_repeated(tmp_path: Path) -> None:
    with LLMServer() as server:
        serve(server, one_world())
        first = config_for(server, tmp_path / "first", cells=[B], domains=[LOG], ideas=1, check_seeds=1,
                           qc_models=[f"openai/{MODEL}"])
        made = generate(first)
        again = generate(first.model_copy(update={"out": str(tmp_path / "second"), "library": [made.pack]}))
        own = generate(first.model_copy(update={"library": [made.pack]}))  # its own pack: not a repeat of itself
    outcome = again.outcomes[0]
    assert outcome.idea_id == "depot_change_board_2" and (outcome.status, outcome.stage) == ("rejected", "ideation")
    assert "near-duplicate of depot_change_board" in outcome.reason
    assert [o.status for o in own.outcomes] == ["accepted"]
