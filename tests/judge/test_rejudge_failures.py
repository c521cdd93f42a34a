"""`impress judge rejudge` when a judge gives no verdict (exit 1, the record left as it was) and on a
file that is not an episode record (one message, exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from impress_sim.judge.__main__ import main as judge_main
from impress_sim.record import EpisodeRecord
from impress_sim.run import main as run_main
from tests.llm_server import LLMServer, Turn


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    assert run_main(["quiet=true", f"out={tmp_path / 'runs'}"]) == 0  # judged by the state judge
    [path] = (tmp_path / "runs").rglob("*.json")
    return path


def test_a_judge_that_gives_no_verdict_exits_1_and_leaves_the_record(
        record_file: Path, llm_server: LLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    llm_server.script("judge", [Turn("I would rather not say.")])  # never a valid verdict, however re-asked
    before = record_file.read_bytes()
    capsys.readouterr()
    args = ["judge.model=openai/judge", f"judge.api_base={llm_server.url}", "judge.reasks=1", "cache=off"]
    assert judge_main(["rejudge", str(record_file), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not re-judged: 1 judge(s) gave no verdict (llm:openai/judge:" in err
    assert "the record is left as it was" in err and err.count("\n") == 1
    assert record_file.read_bytes() == before
    assert judge_main(["rejudge", str(record_file), f"out={tmp_path / 'new'}", *args]) == 1
    assert not (tmp_path / "new").exists()

    llm_server.inject("500")  # a judge whose server fails counts the same
    assert judge_main(["rejudge", str(record_file), *args, "judge.retries=0"]) == 1
    assert "InternalServerError" in capsys.readouterr().err and record_file.read_bytes() == before


@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01binary\x80\x81" * 50, b"{not json", b"[1, 2, 3]",
                                     b'{"episode_id": 3}', b""], ids=["binary", "broken-json", "a-list",
                                                                        "wrong-fields", "empty"])
def test_a_file_that_is_not_a_record_is_one_message(tmp_path: Path, content: bytes, record_file: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    capsys.readouterr()
    assert judge_main(["rejudge", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}: cannot read: not a valid episode record\n"
    assert bad.read_bytes() == content
    assert judge_main(["rejudge", str(bad), str(record_file)]) == 2  # the good one is still re-judged
    assert EpisodeRecord.load(record_file).verdict is not None


def test_rejudge_reads_only_regular_files_of_bounded_size(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # reading it would block forever
    assert judge_main(["rejudge", str(fifo)]) == 2
    assert "not a regular file" in capsys.readouterr().err
    assert judge_main(["rejudge", "/dev/zero"]) == 2  # reading it would never end
    assert "not a regular file" in capsys.readouterr().err
    big = tmp_path / "big.json"
    with big.open("wb") as f:  # sparse: no disk used
        f.truncate(600 * 1024 * 1024)
    assert judge_main(["rejudge", str(big)]) == 2
    assert "a record is limited to" in capsys.readouterr().err
