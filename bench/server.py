"""tests/llm_server.py in a separate (spawned) process, for the benchmarks: the server's CPU is then not
the client's, and the client's measurements are not slowed by the server sharing its interpreter."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any


def _serve(latency: float, scripts: dict[str, Any], conn: Connection) -> None:
    """The child process: the scripted server on 127.0.0.1, controlled over a pipe."""
    from tests.llm_server import LLMServer

    server = LLMServer(latency=latency).start()
    for name, turns in scripts.items():
        server.script(name, turns)
    conn.send(server.url)
    try:
        while True:
            command, *args = conn.recv()
            if command == "latency":
                server.latency = float(args[0])
                conn.send(server.latency)
            elif command == "stats":  # requests since the last call (their bodies are dropped), CPU seconds
                batch, server.requests = server.requests, []
                conn.send({"requests": len(batch), "cpu_s": time.process_time()})
            else:
                break
    except EOFError:  # the parent went away
        pass
    finally:
        server.stop()


class ServerProcess:
    """tests/llm_server.py in a separate (spawned) process."""

    def __init__(self, latency: float, scripts: dict[str, Any]) -> None:
        self.latency = latency
        self.scripts = scripts
        self.url = ""
        self._conn: Connection | None = None
        self._process: Any = None

    def __enter__(self) -> ServerProcess:
        """Start the process without waiting for it (it boots while the caller imports litellm)."""
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(self.latency, self.scripts, child), daemon=True,
                                    name="bench-llm-server")
        self._process.start()
        child.close()
        return self

    def _receive(self, what: str, timeout: float) -> Any:
        assert self._conn is not None
        if not self._conn.poll(timeout):
            raise RuntimeError(f"the LLM server process did not {what} within {timeout:g} s")
        try:
            return self._conn.recv()
        except EOFError:
            code = self._process.exitcode if self._process is not None else None
            raise RuntimeError(f"the LLM server process exited (code {code}) instead of answering") from None

    def ready(self) -> str:
        """Wait until the server listens; its base URL."""
        if not self.url:
            self.url = self._receive("start", 60)
        return self.url

    def call(self, *command: Any) -> Any:
        assert self._conn is not None
        self.ready()
        self._conn.send(command)
        return self._receive(f"answer {command[0]!r}", 30)

    def set_latency(self, seconds: float) -> None:
        self.call("latency", seconds)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)
            self._process = None

    def __exit__(self, *exc: object) -> None:
        self.close()
