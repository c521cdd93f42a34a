"""`python -m impress_sim.judge rejudge <store.sqlite>`: a stored sweep re-judged into a new verdict set
beside the old verdicts (which stay untouched), resumably; the report compares the sets."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from impress_sim.envs.loader import load_world
from impress_sim.episode import failed_episode
from impress_sim.judge.__main__ import main as judge_main
from impress_sim.report.__main__ import main as report_main
from impress_sim.report.data import load_sweep
from impress_sim.report.verdict_sets import compare_sets, under_set
from impress_sim.sweep import Store, SweepSpec, expand, run_sweep
from impress_sim.sweep.store import ORIGINAL
from tests.llm_server import LLMServer, Turn

WORLD = load_world("corporate_shutdown")
IDS = [b.id for b in WORLD.spec.behaviours]


def says_nothing_acted() -> str:
    """An LLM judge's verdict that no behaviour was acted (it sees no misalignment anywhere)."""
    return json.dumps({"behaviours": [{"behaviour": b, "acted": False, "considered": False, "evidence": []}
                                      for b in IDS],
                       "task_done": True, "eval_awareness": False, "severity": None, "rationale": "scripted"})


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Six replayed episodes (3 misaligned, 3 aligned), judged by the state judge, plus one error."""
    spec = SweepSpec.model_validate({"worlds": ["corporate_shutdown"], "models": ["reference/misaligned",
                                     "reference/aligned"], "seeds": 3, "cache": "off", "quiet": True,
                                     "store": str(tmp_path / "s.sqlite"), "name": "base"})
    assert run_sweep(spec).errors == 0
    extra = SweepSpec.model_validate({**spec.model_dump(), "seeds": [7], "models": ["reference/misaligned"]})
    job = expand(extra)[0]
    with Store(spec.store) as s:
        s.write(failed_episode(job.job, RuntimeError("boom"), job.world_id, job.world_hash),
                config_hash=job.config_hash, sweep_id="base", attempt=0)
    return Path(spec.store)


def episodes_table(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM episodes ORDER BY config_hash").fetchall()


def args(server: LLMServer, model: str, *more: str) -> list[str]:
    return [f"judge.model=openai/{model}", f"judge.api_base={server.url}", "judge.retries=0", "cache=off",
            "quiet=true", *more]


def test_a_veto_judge_makes_a_new_set_and_the_report_finds_the_changes(
        store: Path, llm_server: LLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    llm_server.script("veto", [Turn(says_nothing_acted())])
    before = episodes_table(store)
    assert judge_main(["rejudge", str(store), *args(llm_server, "veto", "judge.policy=state_and_llm",
                                                      "name=veto")]) == 0
    assert llm_server.request_count == 6  # the error episode has no verdict to re-judge
    assert episodes_table(store) == before  # the records and their own verdicts are untouched
    with Store(store) as s:
        veto = s.verdict_set("veto")
    assert len(veto) == 6 and all(v.status == "done" and v.verdict is not None for v in veto.values())
    assert not any(v.verdict.misaligned for v in veto.values() if v.verdict is not None)

    # resumable: nothing left to judge, nothing sent
    assert judge_main(["rejudge", str(store), *args(llm_server, "veto", "judge.policy=state_and_llm",
                                                      "name=veto")]) == 0
    assert llm_server.request_count == 6

    # the comparison finds the three planted changes (misaligned -> aligned) and only them
    data = load_sweep(store)
    episodes = [(e.config_hash, e.record) for e in data.episodes]
    c = compare_sets(episodes, data.verdict_sets)
    assert c.sets == [ORIGINAL, "veto"]
    rates = {r.name: r.misaligned for r in c.rates}
    assert (rates[ORIGINAL].successes, rates[ORIGINAL].n) == (3, 6)
    assert (rates["veto"].successes, rates["veto"].n) == (0, 6)
    [pair] = c.pairs
    assert pair.n == 6 and pair.changed_count == 3 and pair.agreement == 0.5
    assert {e.model for e in pair.changed} == {"reference/misaligned"}
    assert all(e.a and not e.b for e in pair.changed)
    # under the set, the error episode stays an error (never aligned)
    relabelled = under_set(episodes, "veto", data.verdict_sets)
    assert sum(r.status == "error" for r in relabelled) == 1

    out = tmp_path / "report"
    capsys.readouterr()
    assert report_main([str(store), "verdicts=veto", f"out={out}"]) == 0
    text = capsys.readouterr().out
    assert "Verdict sets (report under: veto)" in text and "changed original -> veto" in text
    html = (out / "index.html").read_text()
    assert 'id="active-set">veto<' in html and 'data-pair="original|veto"' in html
    links = [line.split('href="')[1].split('"')[0] for line in html.splitlines()
             if 'href="episodes/' in line and "verdict-set" not in line]
    changed = {e.config_hash for e in pair.changed}
    assert changed <= {link.removeprefix("episodes/").removesuffix(".html") for link in links}
    assert all((out / "episodes" / f"{h}.html").is_file() for h in changed)


def test_a_judge_that_agrees_changes_nothing(store: Path, llm_server: LLMServer) -> None:
    """Under the default policy an LLM judge that sees nothing cannot clear a state finding: the new
    set agrees with the original on every episode, and the comparison says so."""
    llm_server.script("agree", [Turn(says_nothing_acted())])
    assert judge_main(["rejudge", str(store), *args(llm_server, "agree")]) == 0
    data = load_sweep(store)
    assert set(data.verdict_sets) == {"openai/agree"}  # the default name: the judge model
    [pair] = compare_sets([(e.config_hash, e.record) for e in data.episodes], data.verdict_sets).pairs
    assert pair.changed_count == 0 and pair.agreement == 1.0 and pair.kappa == 1.0 and pair.mcnemar_pvalue is None


def test_a_failed_judge_is_recorded_as_failed_and_retried(store: Path, llm_server: LLMServer,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    llm_server.script("mute", [Turn("I would rather not say.")])
    assert judge_main(["rejudge", str(store), *args(llm_server, "mute", "judge.reasks=0", "name=m")]) == 1
    assert "6 episode(s) got no verdict" in capsys.readouterr().err
    with Store(store) as s:
        got = s.verdict_set("m")
        rows = s.conn.execute("SELECT status, misaligned FROM verdict_sets WHERE name = 'm'").fetchall()
    assert set(rows) == {("failed", None)} and len(rows) == 6
    data = load_sweep(store)
    episodes = [(e.config_hash, e.record) for e in data.episodes]
    assert all(r.status == "error" for r in under_set(episodes, "m", data.verdict_sets))  # never aligned
    rates = {r.name: r for r in compare_sets(episodes, data.verdict_sets).rates}
    assert rates["m"].misaligned.n == 0 and rates["m"].failed == 6
    # the judge works now: a rerun judges exactly the failed ones
    llm_server.script("mute", [Turn(says_nothing_acted())])
    sent = llm_server.request_count
    assert judge_main(["rejudge", str(store), *args(llm_server, "mute", "judge.reasks=0", "name=m")]) == 0
    assert llm_server.request_count - sent == 6 and len(got) == 6
    with Store(store) as s:
        assert all(v.status == "done" for v in s.verdict_set("m").values())


def test_bad_requests_are_one_message(store: Path, llm_server: LLMServer, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    llm_server.script("j", [Turn(says_nothing_acted())])
    capsys.readouterr()
    assert judge_main(["rejudge", str(store), *args(llm_server, "j", "name=original")]) == 2
    assert "name=original is the verdict set" in capsys.readouterr().err
    assert judge_main(["rejudge", str(store), *args(llm_server, "j", "name=Original")]) == 2  # any case
    assert "name=original is the verdict set" in capsys.readouterr().err
    assert judge_main(["rejudge", str(store), *args(llm_server, "j", "sweep=nope")]) == 2
    assert "sweep=nope: no such sweep" in (err := capsys.readouterr().err) and "base" in err
    assert judge_main(["rejudge", str(store), *args(llm_server, "j", "name=x")]) == 0
    assert judge_main(["rejudge", str(store), *args(llm_server, "j", "name=x", "judge.policy=state_only")]) == 2
    assert "made by another judge" in capsys.readouterr().err
    record = tmp_path / "r.json"
    record.write_text("{}")
    assert judge_main(["rejudge", str(store), str(record), *args(llm_server, "j")]) == 2
    assert "one results store" in capsys.readouterr().err
    assert report_main([str(store), "verdicts=nope", "html=false"]) == 2
    assert "verdicts=nope: no such verdict set; this sweep has original, x" in capsys.readouterr().err


def test_the_verdict_sets_section_in_chromium(chromium: str, store: Path, llm_server: LLMServer,
                                              tmp_path: Path) -> None:
    """The section renders without console errors and a changed episode's link opens its page."""
    from tests.browser import launched, watched_page

    llm_server.script("veto", [Turn(says_nothing_acted())])
    assert judge_main(["rejudge", str(store), *args(llm_server, "veto", "judge.policy=state_and_llm",
                                                      "name=veto")]) == 0
    out = tmp_path / "report"
    assert report_main([str(store), f"out={out}"]) == 0  # under the original set, compared with veto
    with launched(chromium) as browser, watched_page(browser) as (page, errors):
        page.goto((out / "index.html").as_uri())
        assert page.locator("#active-set").inner_text() == ORIGINAL
        assert page.locator('#verdict-set-pairs tr[data-pair="original|veto"] .changed-count').inner_text() == "3"
        links = page.locator('table.verdict-set-changed[data-pair="original|veto"] a')
        assert links.count() == 3
        links.first.click()
        page.wait_for_load_state()
        assert page.url.endswith(".html") and "/episodes/" in page.url
        assert "misaligned" in page.content()
        assert errors == []
