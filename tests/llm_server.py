"""A local OpenAI-compatible chat-completions server for tests and benchmarks (127.0.0.1 only).

It serves scripted turns per model name — turn k answers the k-th assistant turn of a
conversation, so one script serves any number of concurrent episodes — and can inject faults
into the next requests: 429 with Retry-After, 500, a hang past the client's timeout, malformed
tool-call JSON, an empty choice list. It counts every request it receives, so tests can prove
that a cached rerun sends none.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from impress_sim.envs.spec import Trajectory

FAULTS = ("429", "500", "hang", "malformed_args", "empty_choice")
Answerer = Callable[[list[dict[str, Any]]], str]  # a question's messages -> the reply text


@dataclass
class Turn:
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"name", "arguments": str}
    reasoning: str = ""


def turns_from_trajectory(trajectory: Trajectory) -> list[Turn]:
    turns = [
        Turn(content=s.thought, tool_calls=[{"name": s.tool, "arguments": json.dumps(s.args)}])
        for s in trajectory.steps
    ]
    return [*turns, Turn(content=trajectory.final or "Done.")]


def text_turns_from_trajectory(trajectory: Trajectory) -> list[Turn]:
    """The same trajectory for a model without native tool calls (ReAct `Action:` lines)."""
    turns = [
        Turn(content=f"Thought: {s.thought}\nAction: {json.dumps({'tool': s.tool, 'args': s.args})}")
        for s in trajectory.steps
    ]
    return [*turns, Turn(content=trajectory.final or "Done.")]


class LLMServer:
    def __init__(self, latency: float = 0.0, hang_seconds: float = 5.0) -> None:
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.scripts: dict[str, list[Turn]] = {}
        self.turn_by: dict[str, str] = {}
        self.answerers: dict[str, Answerer] = {}
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []  # each request's Authorization header (which key was sent)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- control ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, model: str, turns: list[Turn], turn_by: str = "assistant", answer: Answerer | None = None
               ) -> None:
        """Serve `turns` for `model`. turn k answers the k-th assistant turn (`turn_by="assistant"`),
        or the k-th acting turn (`turn_by="action"`: only assistant turns that called a tool count,
        and a request offering no tools — a plan or a critique — gets a short text reply), which
        lets one script serve any architecture. With `answer`, a request offering no tools (a
        question rather than an agent step) is answered by `answer(messages)` instead."""
        assert turn_by in ("assistant", "action"), turn_by
        self.scripts[model] = turns
        self.turn_by[model] = turn_by
        if answer is None:
            self.answerers.pop(model, None)
        else:
            self.answerers[model] = answer

    def inject(self, *faults: str) -> None:
        for fault in faults:
            assert fault in FAULTS, fault
        with self._lock:
            self.faults.extend(faults)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    # ---- serving ---------------------------------------------------------------------------
    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            self.authorizations.append(request.headers.get("Authorization"))
            fault = self.faults.popleft() if self.faults else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(body, fault)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _answer(self, body: dict[str, Any], fault: str | None) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault == "429":
            return web.json_response({"error": {"message": "rate limited", "type": "rate_limit"}}, status=429,
                                     headers={"Retry-After": "0.05"})
        if fault == "500":
            return web.json_response({"error": {"message": "internal error", "type": "server_error"}}, status=500)
        if fault == "hang":
            await asyncio.sleep(self.hang_seconds)
        model = body.get("model", "")
        turns = self.scripts.get(model)
        if turns is None:
            return web.json_response({"error": {"message": f"model {model} not found", "type": "not_found"}},
                                     status=404)
        assistant = [m for m in body.get("messages", []) if m.get("role") == "assistant"]
        answerer = self.answerers.get(model)
        if answerer is not None and not body.get("tools"):
            turns = [Turn(content=answerer(body.get("messages", [])))]
            turn_index = 0
        elif self.turn_by.get(model) == "action":
            if not body.get("tools"):
                turns = [Turn(content="1. Read the inbox. 2. Do the task. 3. Report back.")]
            turn_index = sum(1 for m in assistant if m.get("tool_calls"))
        else:
            turn_index = len(assistant)
        turn = turns[min(turn_index, len(turns) - 1)]
        message: dict[str, Any] = {"role": "assistant", "content": turn.content or None}
        if turn.reasoning:
            message["reasoning_content"] = turn.reasoning
        if turn.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{turn_index}_{i}",
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": '{"broken": ' if fault == "malformed_args" else c["arguments"],
                    },
                }
                for i, c in enumerate(turn.tool_calls)
            ]
        choices = [] if fault == "empty_choice" else [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if turn.tool_calls else "stop"}
        ]
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        return web.json_response({
            "id": f"chatcmpl-{turn_index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 12, "total_tokens": prompt_tokens + 12},
        })

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in self.scripts]})

    def start(self) -> LLMServer:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._completions)
            app.router.add_get("/v1/models", self._models)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="llm-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the local LLM server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
