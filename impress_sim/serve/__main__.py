"""`impress serve world=<id> [port=8000] [host=127.0.0.1] ...` (the same command: `python -m impress_sim.serve`):
worlds served under OpenEnv's HTTP/WebSocket contract until interrupted (docs/rl/openenv.md).

Bound to 127.0.0.1 by default: the server has no authentication, and whoever reaches it can run
episodes, so serving on another interface is a choice the user makes (`host=0.0.0.0`)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console

from impress_sim.cli import Action, main_for
from impress_sim.envs.reward import RewardConfig
from impress_sim.errors import UsageError


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    world: list[str] = Field(default_factory=lambda: ["corporate_shutdown"], min_length=1,
                             description="world id (or a path to a world folder / world.yaml); several: clients "
                                         "pick one per reset (reset(world=...), default: the first)")
    variant: str | dict[str, str] = Field("default", description="the framing each reset uses unless the client "
                                          "passes variant=... (default: the world's default framing)")
    host: str = Field("127.0.0.1", description="interface to bind (0.0.0.0: every interface; there is no "
                                               "authentication)")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port)")
    max_sessions: int = Field(16, ge=1, le=10_000, description="concurrent episodes, over WebSocket and over "
                                                               "HTTP sessions (each)")
    session_timeout: float = Field(600.0, gt=0, description="seconds after which an idle session may be closed")
    reward: RewardConfig = Field(default_factory=RewardConfig)

    @field_validator("reward")
    @classmethod
    def _no_judge(cls, value: RewardConfig) -> RewardConfig:
        return RewardConfig.of(value, where="impress serve")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    return sock


def _serve(config: ServeConfig, console: Console) -> int:
    try:
        import uvicorn

        from impress_sim.serve.http import create_app, uvicorn_config
    except ImportError as exc:
        raise UsageError(f"impress serve needs the openenv extra ({exc.name or exc} is missing): "
                         "pip install 'impress-sim[openenv]'") from None
    variant = None if config.variant == "default" else config.variant
    app = create_app(config.world, variant=variant, reward=config.reward, max_sessions=config.max_sessions,
                     session_timeout=config.session_timeout)
    sock = _bind(config.host, config.port)  # bound here: a busy port is one clear error, port=0 prints the real one
    port = sock.getsockname()[1]
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"warning: serving on {config.host}: anyone who can reach this port can run episodes "
                      "(there is no authentication)", highlight=False, markup=False)
    console.print(f"serving {', '.join(config.world)} on http://{config.host}:{port} (OpenEnv: /ws, /reset, "
                  "/step, /state; HTTP sessions: /sessions; docs: /docs). Ctrl-C stops it.", highlight=False,
                  markup=False)
    uvicorn.Server(uvicorn_config(app, config.host, port)).run(sockets=[sock])
    return 0


COMMAND = Action(
    summary="Serve worlds under OpenEnv's HTTP/WebSocket contract (reset / step / state), so a trainer "
            "on another process or machine can run episodes (docs/rl/openenv.md). Needs the openenv extra.",
    config=ServeConfig,
    run=_serve,
    positional="world",
)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m impress_sim.serve ...`: the same command as `impress serve`."""
    return main_for(COMMAND, argv, "python -m impress_sim.serve")


if __name__ == "__main__":
    sys.exit(main())
