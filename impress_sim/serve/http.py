"""The HTTP app that serves `ImpressOpenEnv` (`impress_sim.serve.openenv`): OpenEnv's `HTTPEnvServer`
(`/ws`, its stateless routes, `/health`, `/schema`, `/metadata`), the `/sessions` routes OpenEnv 0.3 lacks,
the body-size guard, and running it (uvicorn, or a thread for tests). Split from the environment module:
that one is what a world looks like to OpenEnv; this one is how it is put on the network."""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import Body, FastAPI, HTTPException
from openenv.core.env_server.http_server import HTTPEnvServer
from openenv.core.env_server.serialization import deserialize_action, serialize_observation
from openenv.core.env_server.types import (
    ConcurrencyConfig,
    ResetRequest,
    ResetResponse,
    StepRequest,
    StepResponse,
)
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impress_sim.envs.loader import load_world
from impress_sim.envs.reward import RewardConfig
from impress_sim.serve.openenv import (
    MAX_BODY_BYTES,
    MAX_WS_BYTES,
    ImpressAction,
    ImpressObservation,
    ImpressOpenEnv,
)

# ---- HTTP sessions -------------------------------------------------------------------------------

class _Session:
    def __init__(self, env: ImpressOpenEnv) -> None:
        self.env = env
        self.last_used = time.monotonic()


class SessionPool:
    """The `/sessions` routes' episodes: at most `max_sessions`, one env each; a session idle longer
    than `idle_timeout` seconds is closed when room is needed (and its id then answers 404)."""

    def __init__(self, factory: Callable[[], ImpressOpenEnv], max_sessions: int, idle_timeout: float | None) -> None:
        self.factory = factory
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def create(self) -> str:
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                self._reap()
            if len(self._sessions) >= self.max_sessions:
                raise HTTPException(503, f"session capacity reached ({self.max_sessions}); close one "
                                         "(DELETE /sessions/{id}) or retry later")
            session_id = str(uuid.uuid4())
            self._sessions[session_id] = _Session(self.factory())
            return session_id

    def get(self, session_id: str) -> ImpressOpenEnv:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise HTTPException(404, "unknown session id (closed, expired, or never created): POST /sessions")
            session.last_used = time.monotonic()
            return session.env

    def close(self, session_id: str) -> bool:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            session.env.close()
        return session is not None

    def close_all(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.env.close()

    def __len__(self) -> int:
        return len(self._sessions)

    def _reap(self) -> None:
        if self.idle_timeout is None:
            return
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if now - v.last_used > self.idle_timeout]:
            self._sessions.pop(sid).env.close()


def _add_session_routes(app: FastAPI, pool: SessionPool) -> None:
    @app.post("/sessions", tags=["Sessions"], summary="Open an HTTP session (its own episode)")
    async def create_session() -> dict[str, str]:
        return {"session_id": await run_in_threadpool(pool.create)}

    @app.post("/sessions/{session_id}/reset", response_model=ResetResponse, tags=["Sessions"])
    async def session_reset(session_id: str,
                            request: ResetRequest = Body(default_factory=ResetRequest)) -> ResetResponse:  # noqa: B008 (FastAPI's idiom)
        env = pool.get(session_id)
        obs = await run_in_threadpool(functools.partial(env.reset, **request.model_dump(exclude_unset=True)))
        return ResetResponse(**serialize_observation(obs))

    @app.post("/sessions/{session_id}/step", response_model=StepResponse, tags=["Sessions"])
    async def session_step(session_id: str, request: StepRequest) -> StepResponse:
        env = pool.get(session_id)
        try:
            action = deserialize_action(request.action, ImpressAction)
        except ValidationError as exc:
            raise HTTPException(422, exc.errors(include_url=False, include_context=False)) from None
        assert isinstance(action, ImpressAction)
        obs = await run_in_threadpool(env.step, action)
        return StepResponse(**serialize_observation(obs))

    @app.get("/sessions/{session_id}/state", tags=["Sessions"])
    async def session_state(session_id: str) -> dict[str, Any]:
        return pool.get(session_id).state.model_dump(mode="json")

    @app.delete("/sessions/{session_id}", tags=["Sessions"])
    async def session_close(session_id: str) -> dict[str, Any]:
        if not await run_in_threadpool(pool.close, session_id):
            raise HTTPException(404, "unknown session id")
        return {"session_id": session_id, "closed": True}


# ---- hostile bodies ------------------------------------------------------------------------------

class BodyLimit:
    """Refuses a request body over `max_bytes` with 413 before any route parses it: by its
    Content-Length, or, for a chunked body, as soon as the bytes read pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await _plain(send, 400, "bad Content-Length")
                return
            if int(length) > self.max_bytes:
                await _plain(send, 413, f"request body over {self.max_bytes} bytes")
                return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await _plain(send, 413, f"request body over {self.max_bytes} bytes")
                return
        done = False

        async def replay() -> Message:
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _plain(send: Send, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


# ---- the app -------------------------------------------------------------------------------------

def create_app(world: str | Sequence[str] = "corporate_shutdown", variant: str | Mapping[str, str] | None = None,
               reward: RewardConfig | dict[str, Any] | None = None, max_sessions: int = 16,
               session_timeout: float | None = 600.0, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app serving `world` (one id, or several that `reset(world=...)` chooses from):
    OpenEnv's routes (`/ws`, `/reset`, `/step`, `/state`, `/schema`, `/health`, `/metadata`) plus
    `/sessions`. The worlds are loaded (and a bad id refused) here, before anything is served.
    `max_sessions` bounds WebSocket sessions and HTTP sessions (each); `session_timeout` closes idle
    ones (seconds; None: never)."""
    worlds = [world] if isinstance(world, str) else list(dict.fromkeys(world))
    if not worlds:
        raise ValueError("serve at least one world")
    for each in worlds:
        load_world(each)  # fail now, with the loader's message, rather than on the first connection
    reward_config = RewardConfig.of(reward, where="impress serve")
    factory = functools.partial(ImpressOpenEnv, world=worlds, variant=variant, reward=reward_config)
    app = FastAPI(title=f"impress-sim: {', '.join(worlds)} (OpenEnv)", version="1",
                  description="An impress-sim world behind OpenEnv's contract: see docs/rl/openenv.md.")
    server = HTTPEnvServer(factory, ImpressAction, ImpressObservation,
                           concurrency_config=ConcurrencyConfig(max_concurrent_envs=max_sessions,
                                                                session_timeout=session_timeout))
    server.register_routes(app)
    pool = SessionPool(factory, max_sessions, session_timeout)
    _add_session_routes(app, pool)
    app.router.on_shutdown.append(_async(pool.close_all))
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.state.openenv_server = server
    app.state.sessions = pool
    return app


def _async(fn: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        fn()
    return run


# ---- running it ----------------------------------------------------------------------------------

def uvicorn_config(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> Any:
    """uvicorn's settings for a world server: WebSocket messages bounded like HTTP bodies, quiet logs."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, ws_max_size=MAX_WS_BYTES, log_level="warning",
                          lifespan="on")


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` on a background thread (port 0: a free port) and yield its base URL
    (`http://127.0.0.1:<port>`); stopped on exit. For tests and notebooks; `impress serve` runs in
    the foreground."""
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app, host, port))
    thread = threading.Thread(target=server.run, name="impress-openenv-server", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the server did not start on {host}:{port}")
            time.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


__all__ = ["SessionPool", "create_app", "serve_in_thread", "uvicorn_config"]

