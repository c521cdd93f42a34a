"""The OpenEnv server (impress_sim/serve/openenv.py) against the in-process env, through OpenEnv's own
clients (async, `.sync()`, `MCPToolClient`) and raw HTTP; hostile requests; several clients at once.

A real server runs on 127.0.0.1 (port 0) in a thread; nothing leaves the machine."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("openenv.core")
httpx = pytest.importorskip("httpx")
websockets_sync = pytest.importorskip("websockets.sync.client")

from openenv.core import GenericEnvClient  # noqa: E402
from openenv.core.mcp_client import MCPToolClient  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from impress_sim.__main__ import main as impress  # noqa: E402
from impress_sim.envs.env import ImpressEnv  # noqa: E402
from impress_sim.envs.loader import load_world  # noqa: E402
from impress_sim.serve.http import create_app, serve_in_thread  # noqa: E402
from impress_sim.serve.openenv import MAX_BODY_BYTES, RESET_NEEDED, json_info  # noqa: E402

WORLD = "corporate_shutdown"
OTHER = "cloud_budget"  # a second served world: clients pick it per reset
SEED = 7


def _trajectory(name: str, world: str = WORLD) -> list[dict[str, Any]]:
    return [{"tool": s.tool, "args": s.args} for s in load_world(world).spec.trajectories[name].steps]


def _in_process(name: str, seed: int = SEED,
                world: str = WORLD) -> tuple[str, list[tuple[str, float, bool, bool, dict[str, Any]]]]:
    """The reference: the same trajectory through `ImpressEnv` in this process."""
    env = ImpressEnv(world=world)
    briefing, _info = env.reset(seed=seed)
    steps = []
    for action in _trajectory(name, world):
        text, reward, terminated, truncated, info = env.step(action)
        steps.append((text, float(reward), terminated, truncated, json_info(info)))
        if terminated or truncated:
            break
    return briefing, steps


def _call(action: dict[str, Any]) -> dict[str, Any]:
    return {"type": "call_tool", "tool_name": action["tool"], "arguments": action["args"]}


@pytest.fixture(scope="module")
def url() -> Any:
    with serve_in_thread(create_app([WORLD, OTHER], max_sessions=8, session_timeout=60)) as base:
        yield base


@pytest.mark.parametrize("name", ["aligned", "misaligned"])
def test_openenv_sync_client_matches_in_process(url: str, name: str) -> None:
    briefing, expected = _in_process(name)
    with GenericEnvClient(base_url=url).sync() as client:
        first = client.reset(seed=SEED)
        assert first.observation["text"] == briefing and first.done is False
        for action, (text, reward, terminated, truncated, info) in zip(_trajectory(name), expected, strict=False):
            got = client.step(_call(action))
            assert (got.observation["text"], got.reward, got.done) == (text, reward, terminated or truncated)
            assert (got.observation["terminated"], got.observation["truncated"]) == (terminated, truncated)
            assert got.observation["info"] == info  # diff, findings, attempts, reward parts: all of it
        state = client.state()
    behaviours = [f["behaviour"] for *_, info in expected for f in info["findings"]]
    assert state["behaviours"] == behaviours and state["step_count"] == len(expected) and state["seed"] == SEED
    assert state["total_reward"] == pytest.approx(sum(r for _, r, *_ in expected))
    if name == "misaligned":
        assert behaviours  # the comparison covers findings, not only empty lists


def test_openenv_async_client_and_mcp_tool_client(url: str) -> None:
    _briefing, expected = _in_process("misaligned")
    actions = _trajectory("misaligned")

    async def run() -> tuple[list[Any], list[str], list[str]]:
        async with GenericEnvClient(base_url=url) as client:
            await client.reset(seed=SEED)
            results = [await client.step(_call(a)) for a in actions[: len(expected)]]
        tool_client = MCPToolClient(base_url=url)
        async with tool_client:
            await tool_client.reset(seed=SEED)
            names = [t.name for t in await tool_client.list_tools()]
            texts = [await tool_client.call_tool(a["tool"], **a["args"]) for a in actions[: len(expected)]]
        return results, names, texts

    results, names, texts = asyncio.run(run())
    assert [(r.observation["text"], r.reward) for r in results] == [(t, r) for t, r, *_ in expected]
    assert names == [t["name"] for t in ImpressEnv(world=WORLD).reset(seed=SEED)[1]["tool_schemas"]]
    assert texts == [t for t, *_ in expected]  # MCPToolClient.call_tool returns the tool's text


def test_raw_http_sessions_match_in_process(url: str) -> None:
    briefing, expected = _in_process("misaligned")
    with httpx.Client(base_url=url) as http:
        sid = http.post("/sessions").json()["session_id"]
        reset = http.post(f"/sessions/{sid}/reset", json={"seed": SEED})
        assert reset.status_code == 200 and reset.json()["observation"]["text"] == briefing
        for action, (text, reward, terminated, truncated, info) in zip(_trajectory("misaligned"), expected,
                                                                       strict=False):
            body = http.post(f"/sessions/{sid}/step", json={"action": _call(action)}).json()
            assert (body["observation"]["text"], body["reward"], body["done"]) == (text, reward,
                                                                                   terminated or truncated)
            assert body["observation"]["info"] == info
        assert expected[-1][2]  # the trajectory ended the episode: one more step changes nothing
        after = http.post(f"/sessions/{sid}/step", json={"action": _call(_trajectory("misaligned")[0])})
        assert after.status_code == 200 and after.json()["observation"]["info"]["error_kind"] == "episode_ended"
        assert after.json()["reward"] == 0.0
        state = http.get(f"/sessions/{sid}/state").json()
        assert state["step_count"] == len(expected) + 1 and state["done"] is True
        assert http.delete(f"/sessions/{sid}").json()["closed"] is True
        assert http.get(f"/sessions/{sid}/state").status_code == 404
        # OpenEnv's own stateless /reset: a fresh episode's briefing, the same for the same seed
        stateless = http.post("/reset", json={"seed": SEED}).json()
        assert stateless["observation"]["text"] == briefing
        assert http.get("/health").json()["status"] == "healthy"
        assert "tool_name" in http.get("/schema").json()["action"]["properties"]


def test_text_actions_and_variants_reach_the_env(url: str) -> None:
    action = _trajectory("aligned")[0]
    env = ImpressEnv(world=WORLD)
    env.reset(seed=SEED, options={"variant": "test_framing"})
    text, *_ = env.step(json.dumps(action))
    assert env.world is not None
    with GenericEnvClient(base_url=url).sync() as client:
        first = client.reset(seed=SEED, variant="test_framing")
        assert first.observation["info"]["factors"] == dict(env.world.factors)
        assert first.observation["info"]["factors"] != ImpressEnv(world=WORLD).reset(seed=SEED)[1]["factors"]
        got = client.step({"type": "text", "text": json.dumps(action)})
    assert got.observation["text"] == text


def test_one_server_serves_several_worlds_and_only_those(url: str) -> None:
    briefing, expected = _in_process("misaligned", world=OTHER)
    with GenericEnvClient(base_url=url).sync() as client:
        assert client.reset(seed=SEED, world=OTHER).observation["text"] == briefing
        got = [client.step(_call(a)) for a in _trajectory("misaligned", OTHER)[: len(expected)]]
        assert [(r.observation["text"], r.reward, r.observation["info"]) for r in got] == \
            [(t, r, i) for t, r, _, _, i in expected]
        assert client.state()["world"] == OTHER
        assert client.reset(seed=SEED).observation["text"] == _in_process("aligned")[0]  # default: the first
        assert client.state()["world"] == WORLD
        refused = client.reset(world="/etc/passwd")
        assert refused.observation["info"]["error_kind"] == "invalid_reset"
        assert "not served here" in refused.observation["text"]
    with httpx.Client(base_url=url) as http:
        meta = http.get("/metadata").json()
        assert meta["name"] == f"impress/{WORLD}+{OTHER}"


# ---- hostile requests ----------------------------------------------------------------------------

def test_bad_actions_are_error_observations_never_500(url: str) -> None:
    with httpx.Client(base_url=url) as http:
        sid = http.post("/sessions").json()["session_id"]
        before = http.post(f"/sessions/{sid}/step", json={"action": _call(_trajectory("aligned")[0])})
        assert before.status_code == 200
        assert before.json()["observation"]["info"]["error_kind"] == RESET_NEEDED
        stateless = http.post("/step", json={"action": {"type": "call_tool", "tool_name": "list_files"}})
        assert stateless.status_code == 200 and stateless.json()["observation"]["info"]["error_kind"] == RESET_NEEDED
        http.post(f"/sessions/{sid}/reset", json={"seed": 1})
        cases = {
            "unknown tool": {"type": "call_tool", "tool_name": "launch_missiles", "arguments": {}},
            "arguments not an object": {"type": "call_tool", "tool_name": "list_files", "arguments": [1, 2]},
            "arguments bad JSON text": {"type": "call_tool", "tool_name": "list_files", "arguments": "{nope"},
            "text not JSON": {"type": "text", "text": "I will now list the files"},
            "deep nesting": {"type": "call_tool", "tool_name": "list_files", "arguments": json.loads(
                "{\"a\":" * 60 + "1" + "}" * 60)},
        }
        for why, action in cases.items():
            response = http.post(f"/sessions/{sid}/step", json={"action": action})
            assert response.status_code == 200, why
            obs = response.json()["observation"]
            assert obs["info"]["error_kind"] == "invalid_action" and obs["text"].startswith("Error:"), why
        assert obs["error"]["error_type"] == "invalid_args"
        for name in ('"\\ud800"', '"a\\udfffb"'):  # a lone surrogate, which no JSON encoder writes back
            raw = '{"action": {"type": "call_tool", "tool_name": ' + name + ', "arguments": {}}}'
            response = http.post(f"/sessions/{sid}/step", content=raw, headers={"content-type": "application/json"})
            assert response.status_code == 200, name
            assert response.json()["observation"]["info"]["error_kind"] == "invalid_action", name
        unknown = http.post(f"/sessions/{sid}/step", json={"action": cases["unknown tool"]}).json()["observation"]
        assert unknown["error"]["error_type"] == "tool_not_found"
        refused = http.post(f"/sessions/{sid}/reset", json={"variant": "no_such_framing"})
        assert refused.status_code == 200 and refused.json()["observation"]["info"]["error_kind"] == "invalid_reset"
        after = http.post(f"/sessions/{sid}/step", json={"action": cases["unknown tool"]}).json()["observation"]
        assert after["info"]["error_kind"] == RESET_NEEDED  # a refused reset leaves no episode behind


def test_malformed_and_huge_requests_are_refused_cleanly(url: str) -> None:
    with httpx.Client(base_url=url) as http:
        sid = http.post("/sessions").json()["session_id"]
        headers = {"content-type": "application/json"}
        for path in ("/step", f"/sessions/{sid}/step", f"/sessions/{sid}/reset"):
            assert http.post(path, content=b"{not json", headers=headers).status_code == 422, path
            assert http.post(path, content=b"[1, 2]", headers=headers).status_code == 422, path
        assert http.post(f"/sessions/{sid}/step", json={"action": {"type": "launch"}}).status_code == 422
        deep = b'{"action": {"arguments": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"  # past json's recursion
        assert http.post(f"/sessions/{sid}/step", content=deep, headers=headers).status_code == 400
        assert http.post(f"/sessions/{sid}/step", json={"action": {"tool_name": "x", "extra": 1}}).status_code == 422
        huge = b'{"action": {"type": "text", "text": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}}'
        assert http.post(f"/sessions/{sid}/step", content=huge, headers=headers).status_code == 413

        def chunks() -> Any:  # no Content-Length: the limit is counted as the body arrives
            for _ in range(MAX_BODY_BYTES // 65536 + 2):
                yield b" " * 65536

        assert http.post("/step", content=chunks(), headers=headers).status_code == 413
        assert http.post("/sessions/not-a-session/step", json={"action": {}}).status_code == 404
        assert http.get("/health").status_code == 200  # the server is still up


def test_websocket_garbage_gets_error_messages_and_oversized_messages_close_only_that_socket(url: str) -> None:
    ws_url = url.replace("http://", "ws://") + "/ws"
    with websockets_sync.connect(ws_url) as ws:
        ws.send("{not json")
        assert json.loads(ws.recv())["data"]["code"] == "INVALID_JSON"
        ws.send(json.dumps({"type": "step", "data": {"type": "call_tool", "tool_name": "list_files"}}))
        reply = json.loads(ws.recv())
        assert reply["type"] == "observation" and reply["data"]["observation"]["info"]["error_kind"] == RESET_NEEDED
        ws.send(json.dumps({"type": "reset", "data": {"seed": "not a number"}}))
        assert json.loads(ws.recv())["data"]["observation"]["info"]["error_kind"] == "invalid_reset"
    with websockets_sync.connect(ws_url, max_size=None) as ws, pytest.raises((ConnectionClosed, OSError)):
        ws.send("x" * (2 * MAX_BODY_BYTES))  # over uvicorn's ws_max_size: the server closes (1009, too big)
        ws.recv(timeout=30)
    with GenericEnvClient(base_url=url).sync() as client:
        assert client.reset(seed=SEED).done is False  # other sessions are unaffected


# ---- several clients at once ---------------------------------------------------------------------

def test_concurrent_clients_are_isolated(url: str) -> None:
    expected = {(name, seed): _in_process(name, seed)[1] for name in ("aligned", "misaligned") for seed in (1, 2)}
    got: dict[tuple[str, int], list[tuple[str, float]]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(expected))

    def worker(name: str, seed: int) -> None:
        try:
            with GenericEnvClient(base_url=url).sync() as client:
                start.wait(timeout=60)
                client.reset(seed=seed)
                results = [client.step(_call(a)) for a in _trajectory(name)[: len(expected[name, seed])]]
            got[name, seed] = [(r.observation["text"], r.reward) for r in results]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=key) for key in expected]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert got == {k: [(t, r) for t, r, *_ in v] for k, v in expected.items()}


def test_serve_refuses_an_unknown_world_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert impress(["serve", "world=corporate_shutdwn", "port=0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "corporate_shutdown" in err and err.count("\n") == 1


def test_capacity_is_bounded_and_freed_on_close() -> None:
    with serve_in_thread(create_app(WORLD, max_sessions=2, session_timeout=None)) as base, \
            httpx.Client(base_url=base) as http:
        first, _second = (http.post("/sessions").json()["session_id"] for _ in range(2))
        full = http.post("/sessions")
        assert full.status_code == 503 and "capacity" in full.json()["detail"]
        assert http.delete(f"/sessions/{first}").status_code == 200
        assert http.post("/sessions").status_code == 200
        clients = [GenericEnvClient(base_url=base).sync() for _ in range(2)]
        try:
            for client in clients:
                client.reset(seed=1)
            # a third WebSocket is told so at once, by OpenEnv's own limit, and closed
            with websockets_sync.connect(base.replace("http://", "ws://") + "/ws") as ws:
                assert json.loads(ws.recv(timeout=30))["data"]["code"] == "CAPACITY_REACHED"
        finally:
            for client in clients:
                client.close()
