"""The litellm model layer over real HTTP against the local server: tools, faults, retries, cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from impress_sim.envs import load_world
from impress_sim.errors import ModelError
from impress_sim.models import openai_compat
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.models.transport import list_price, preflight, provider_of
from impress_sim.record import EpisodeRecord
from impress_sim.run import main
from tests.helpers import play
from tests.llm_server import LLMServer, Turn, text_turns_from_trajectory, turns_from_trajectory

WORLD = load_world("corporate_shutdown")
MISALIGNED = WORLD.spec.trajectories["misaligned"]
ALL_BEHAVIOURS = {b.id for b in WORLD.spec.behaviours}


@pytest.fixture(params=["direct", "litellm"])
def via(request: pytest.FixtureRequest) -> dict[str, bool]:
    """Both transports to an OpenAI-compatible server: the direct POST (default) and litellm's client."""
    return {"litellm_only": request.param == "litellm"}


def settings(server: LLMServer, name: str = "scripted", **kw: object) -> LLMSettings:
    options: dict[str, object] = {"backoff": 0.01, "timeout": 5, **kw}
    return LLMSettings(model=f"openai/{name}", api_base=server.url, **options)  # type: ignore[arg-type]


def episode(server: LLMServer, cache: ResponseCache | None = None, **kw: object) -> EpisodeRecord:
    s = settings(server, **kw)
    return play(WORLD, model=s.model, settings=s, cache=cache)


def test_full_react_loop_over_http(llm_server: LLMServer, via: dict[str, bool]) -> None:
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    record = episode(llm_server, **via)
    assert record.status == "completed" and record.ended_by == "finish"
    assert set(record.behaviours) == ALL_BEHAVIOURS
    assert not record.is_replay and record.model == "openai/scripted"
    assert record.model_stats["http_requests"] == len(MISALIGNED.steps) == llm_server.request_count
    assert record.token_usage["output_tokens"] == 12 * len(MISALIGNED.steps)
    assert record.model_settings["temperature"] == 0.7 and record.model_settings["seed"] == 0
    sent = llm_server.requests[0]
    assert sent["temperature"] == 0.7 and {t["function"]["name"] for t in sent["tools"]} >= {"bash", "finish"}
    assert sent["messages"][0]["role"] == "system" and "You are Atlas" in sent["messages"][0]["content"]


def test_reasoning_content_is_kept(llm_server: LLMServer, via: dict[str, bool]) -> None:
    llm_server.script("thinker", [Turn(content="", reasoning="I should read the inbox first.",
                                       tool_calls=[{"name": "list_emails", "arguments": "{}"}]), Turn("ok")])
    record = episode(llm_server, name="thinker", **via)
    assistant = [m for m in record.messages if m["role"] == "assistant"]
    assert assistant[0]["reasoning"] == "I should read the inbox first."


@pytest.mark.parametrize("fault", ["429", "500", "hang", "empty_choice"])
def test_transient_faults_are_retried(llm_server: LLMServer, fault: str, via: dict[str, bool]) -> None:
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    llm_server.inject(fault)
    timeout = 0.5 if fault == "hang" else 5
    s = settings(llm_server, timeout=timeout, **via)
    record = play(WORLD, model=s.model, settings=s)
    assert record.status == "completed" and set(record.behaviours) == ALL_BEHAVIOURS
    assert record.model_stats["retries"] == 1
    assert llm_server.request_count == len(MISALIGNED.steps) + 1


@pytest.mark.parametrize(("faults", "retries", "made"), [(3, 2, 2), (1, 0, 0), (2, 4, 2), (5, 4, 4)])
def test_retries_count_exactly_the_retries_made(llm_server: LLMServer, via: dict[str, bool], faults: int,
                                               retries: int, made: int) -> None:
    """`retries` is the requests sent after the first: a spent budget counts no phantom one more."""
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    llm_server.inject(*["500"] * faults)
    record = episode(llm_server, retries=retries, **via)
    spent = faults > retries
    assert record.status == ("error" if spent else "completed")
    assert record.model_stats["retries"] == made
    assert record.model_stats["http_requests"] == llm_server.request_count
    # spent: the first attempt and each retry, all failed; else the retries plus one request per turn
    assert llm_server.request_count == (1 + made if spent else made + len(MISALIGNED.steps))


def test_an_api_base_is_sent_the_openai_key_from_the_environment(llm_server: LLMServer, via: dict[str, bool],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """What the README's reliability section states: with api_base=, OPENAI_API_KEY goes to that server."""
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    episode(llm_server, **via)
    assert set(llm_server.authorizations) == {"Bearer sk-test-secret"}
    monkeypatch.delenv("OPENAI_API_KEY")
    sent = len(llm_server.authorizations)
    episode(llm_server, **via)
    assert set(llm_server.authorizations[sent:]) == {f"Bearer {openai_compat.LOCAL_KEY}"}


def test_malformed_tool_call_json_becomes_an_error_observation(llm_server: LLMServer, via: dict[str, bool]) -> None:
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    llm_server.inject("malformed_args")
    record = episode(llm_server, **via)
    first = record.steps[0]
    assert first.error_kind == "invalid_action"
    assert first.observation.startswith("Error: tool arguments are not valid JSON")
    assert first.args == {"_raw": '{"broken": '}
    assert record.status in ("completed", "truncated")  # the agent carried on


def test_spent_retries_record_an_error_never_an_aligned_episode(llm_server: LLMServer) -> None:
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    llm_server.inject("500", "500", "500")
    record = episode(llm_server, retries=2)
    assert record.status == "error" and record.ended_by == "error"
    assert "InternalServerError" in (record.error or "")
    assert record.steps == [] and llm_server.request_count == 3


def test_cached_rerun_sends_no_requests_and_gives_an_identical_record(llm_server: LLMServer, tmp_path: Path) -> None:
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    cache = ResponseCache(tmp_path / "cache.sqlite")
    first = episode(llm_server, cache=cache)
    sent = llm_server.request_count
    second = episode(llm_server, cache=cache)
    assert llm_server.request_count == sent  # zero HTTP requests on the rerun
    assert second.model_stats["cache_hits"] == len(MISALIGNED.steps) and second.model_stats["http_requests"] == 0
    assert first.comparable() == second.comparable()
    changed = play(WORLD, model="openai/scripted", settings=settings(llm_server, temperature=0.2), cache=cache)
    assert changed.model_stats["http_requests"] > 0  # a different request is a miss, never a stale hit


def test_text_tool_format_for_models_without_native_tools(llm_server: LLMServer) -> None:
    llm_server.script("texty", text_turns_from_trajectory(MISALIGNED))
    record = episode(llm_server, name="texty", tool_format="text")
    assert set(record.behaviours) == ALL_BEHAVIOURS
    sent = llm_server.requests[1]
    assert "tools" not in sent and "Action:" in sent["messages"][0]["content"]
    assert sent["messages"][-1]["content"].startswith("Observation: ")


def test_unreadable_text_action_is_an_error_observation(llm_server: LLMServer) -> None:
    llm_server.script("texty", [Turn("Action: read the CTO's mail now"), Turn("I am done.")])
    record = episode(llm_server, name="texty", tool_format="text")
    assert record.steps[0].error_kind == "invalid_action"
    assert record.status == "completed" and record.ended_by == "agent_stopped"


def test_preflight_errors(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelError, match="needs OPENAI_API_KEY"):
        preflight(LLMSettings(model="openai/gpt-4.1"))
    with pytest.raises(ModelError, match="unknown model or provider"):
        preflight(LLMSettings(model="nonsense-provider/x"))
    with pytest.raises(ModelError, match="not an http"):
        preflight(LLMSettings(model="openai/x", api_base="ftp://x"))
    with pytest.raises(ModelError, match="cannot reach api_base"):
        preflight(LLMSettings(model="openai/x", api_base="http://127.0.0.1:1/v1"))
    preflight(LLMSettings(model="openai/x", api_base=llm_server.url))


def test_run_cli_against_the_local_server(llm_server: LLMServer, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    args = ["model=openai/scripted", f"api_base={llm_server.url}", f"out={tmp_path / 'runs'}",
            f"cache={tmp_path / 'c.sqlite'}", "quiet=true"]
    assert main(args) == 0
    assert "MISALIGNED" in capsys.readouterr().out
    assert main([*args, "retries=0"]) == 0  # served from the cache
    assert llm_server.request_count == len(MISALIGNED.steps)


def test_run_cli_reports_provider_errors_as_error_episodes(llm_server: LLMServer, tmp_path: Path) -> None:
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    llm_server.inject("500")
    args = ["model=openai/scripted", f"api_base={llm_server.url}", f"out={tmp_path}", "cache=off", "retries=0",
            "quiet=true"]
    assert main(args) == 1
    [record] = [EpisodeRecord.load(p) for p in tmp_path.rglob("*.json")]
    assert record.status == "error" and record.ended_by == "error"
    assert (record.misaligned, record.task_done, record.task_score) == (None, None, None)  # no labels, never aligned


def test_an_openai_compatible_server_is_sent_directly_and_its_pool_closes_with_the_loop(llm_server: LLMServer) -> None:
    """`openai/<name>` at an api_base goes out as one JSON POST (the model name without `openai/`)
    through the loop's shared pool, which is closed when the loop shuts down."""
    llm_server.script("scripted", turns_from_trajectory(MISALIGNED))
    s = settings(llm_server)
    assert openai_compat.serves(s, provider_of(s.model, s.api_base))
    assert not openai_compat.serves(LLMSettings(model="openai/gpt-4.1"), "openai")  # litellm gates its params
    record = episode(llm_server)
    assert record.status == "completed" and record.model_stats["http_requests"] == llm_server.request_count
    assert {r["model"] for r in llm_server.requests} == {"scripted"} and "api_base" not in llm_server.requests[0]
    assert not openai_compat._pools  # closed and dropped with the loop that opened it


def test_a_client_error_is_litellms_error_class_and_is_not_retried(llm_server: LLMServer) -> None:
    s = LLMSettings(model="openai/scripted", api_base=f"{llm_server.url}/nowhere", backoff=0.01, timeout=5)
    record = play(WORLD, model=s.model, settings=s)
    assert record.status == "error" and (record.error or "").startswith("NotFoundError:")
    assert record.model_stats["retries"] == 0 and record.model_stats["http_requests"] == 1


def test_direct_replies_are_priced_from_litellms_list() -> None:
    assert list_price("openai/gpt-4.1", input_tokens=1000, output_tokens=100) > 0
    assert list_price("openai/no-such-local-model", input_tokens=1000, output_tokens=100) == 0.0
