"""An impress world behind OpenEnv's server contract, so it runs out of process and on other machines.

Why OpenEnv's own classes rather than a look-alike: a trainer that already speaks OpenEnv (its
`GenericEnvClient`, `MCPToolClient`, TRL's and torchforge's OpenEnv integrations) then drives a world
with no code of ours on its side. `ImpressOpenEnv` implements `openenv.core.env_server.Environment`
around one `ImpressEnv`; `impress_sim.serve.http.create_app` mounts it with OpenEnv's `HTTPEnvServer`, which gives:

- `/ws` — one WebSocket per session, each with its own env (what OpenEnv's clients use; `reset`,
  `step`, `state` and `close` messages);
- `/reset`, `/step`, `/state` — OpenEnv's *stateless* HTTP routes: each request builds a fresh env
  and closes it (so `/reset` shows a briefing, and `/step` is always "step before reset");
- `/health`, `/schema`, `/metadata`.

OpenEnv 0.3.0 has no HTTP session, so for clients that cannot hold a WebSocket (curl, another
language, a proxy that drops upgrades) `serve/http.py` adds `/sessions`: `POST /sessions` -> a session id,
then `POST /sessions/{id}/reset`, `POST /sessions/{id}/step`, `GET /sessions/{id}/state`,
`DELETE /sessions/{id}`, with OpenEnv's own request/response bodies (`ResetRequest`, `StepRequest`,
`ResetResponse`, `StepResponse`).

Actions are MCP-style tool calls, OpenEnv's `CallToolAction` shape (`{"type": "call_tool",
"tool_name": ..., "arguments": {...}}`), `{"type": "list_tools"}`, or `{"type": "text", "text": ...}`
for a raw action string as an LLM wrote it (what `ImpressEnv.step` takes). A well-formed payload
always gets an observation: an unknown tool, bad arguments, malformed text, a step before reset or
after the end, and a bad reset (unknown variant) come back as error observations naming the problem
(`info["error_kind"]`), never as an HTTP 500. A payload that does not fit the action schema at all
(a missing `action`, an unknown field) is refused the way OpenEnv refuses it: HTTP 422, or a
WebSocket `VALIDATION_ERROR` message. Bodies over `max_body_bytes` are refused with 413 before they
are parsed.

An observation carries what `ImpressEnv` gives in process — the text, the reward, terminated and
truncated, and `info` (diff, findings, attempts, reward components, events; at reset the briefing
and tool schemas) as JSON — plus the `CallToolObservation` fields (`tool_name`, `result`, `error`)
that OpenEnv's `MCPToolClient` reads, so `client.call_tool(name, **args)` returns the tool's text.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.mcp_types import ListToolsObservation, Tool, ToolError, ToolErrorType
from openenv.core.env_server.types import (
    Action,
    EnvironmentMetadata,
    Observation,
    State,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from impress_sim.envs.bounded import clip
from impress_sim.envs.env import ImpressEnv
from impress_sim.envs.reward import RewardConfig
from impress_sim.envs.world import World
from impress_sim.errors import UserError

RESET_NEEDED = "reset_needed"  # info["error_kind"] of a step before any (successful) reset
INVALID_RESET = "invalid_reset"  # info["error_kind"] of a reset whose options were refused
MAX_BODY_BYTES = 1_000_000  # an action is at most 100,000 characters; a body ten times that is hostile
MAX_WS_BYTES = 1_000_000  # the same bound on one WebSocket message (uvicorn's ws_max_size)


# ---- the types on the wire -----------------------------------------------------------------------

class ImpressAction(Action):
    """One action: a tool call (MCP style, OpenEnv's `CallToolAction` fields), a request for the tool
    list, or raw text as an LLM wrote it. `arguments` is deliberately loose (any JSON): arguments that
    are not an object are the env's to answer with an error observation, not a schema error."""

    type: Literal["call_tool", "list_tools", "text"] = Field("call_tool", description="What kind of action.")
    tool_name: str = Field("", description="call_tool: the tool to call, by the name the briefing shows.")
    arguments: Any = Field(default_factory=dict, description="call_tool: the tool's arguments (a JSON object, "
                                                             "or JSON text of one).")
    text: str | None = Field(None, description='text: one tool call as text, e.g. {"tool": ..., "args": {...}}.')

    def env_action(self) -> str | dict[str, Any]:
        """What `ImpressEnv.step` is given for this action (never called for list_tools)."""
        if self.type == "text":
            return self.text or ""
        return {"tool": self.tool_name, "args": self.arguments}


class ImpressObservation(Observation):
    """What one reset or step returns. `text`, `reward`, `terminated`, `truncated` and `info` are what
    `ImpressEnv` returns in process (`info` made JSON); `tool_name`/`result`/`error` are OpenEnv's
    `CallToolObservation` fields, so its `MCPToolClient` reads the same observation."""

    text: str = Field("", description="The observation text: the briefing at reset, a tool's output after.")
    terminated: bool = Field(False, description="The episode reached an end state.")
    truncated: bool = Field(False, description="The tool-call budget ran out.")
    info: dict[str, Any] = Field(default_factory=dict, description="ImpressEnv's info, as JSON.")
    tool_name: str = Field("", description="The tool called ('' at reset and for text actions that named none).")
    result: dict[str, Any] | None = Field(None, description="MCP CallToolResult shape: content, data, is_error.")
    error: ToolError | None = Field(None, description="Set when the action was not a valid call of a tool "
                                                      "(MCPToolClient.call_tool raises on it).")


class ImpressState(State):
    """The session's episode, for `/state`: which world, variant and seed, and how it stands."""

    world: str = ""
    world_hash: str = ""
    seed: int | None = None
    factors: dict[str, str] = Field(default_factory=dict)
    done: bool = False
    ended_by: str | None = None
    total_reward: float = 0.0
    behaviours: list[str] = Field(default_factory=list, description="Misaligned behaviours found so far.")


class ResetOptions(BaseModel):
    """What a client may pass to reset: checked here, because OpenEnv's WebSocket path hands the
    message's data to `reset` as it came (its `ResetRequest` bounds apply to HTTP only)."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    episode_id: str | None = Field(None, max_length=255)
    variant: str | dict[str, str] | None = None
    world: str | None = Field(None, max_length=500, description="One of the served worlds (default: the first).")


def json_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """`ImpressEnv`'s info as JSON data: the raw `StepResult` under "result" left out (its content is
    the rest of the dict), anything else not JSON shown as text."""
    data = {k: v for k, v in info.items() if k != "result"}
    loaded: dict[str, Any] = json.loads(_clean(json.dumps(data, default=str, ensure_ascii=False)))
    return loaded


def _clean(text: str) -> str:
    """Text a response can carry: a lone surrogate (which no JSON encoder writes) becomes "?" — a client may
    send one in a tool name, and echoing it back must not turn a bad action into an HTTP 500."""
    return text.encode("utf-8", "replace").decode("utf-8")


# ---- the environment -----------------------------------------------------------------------------

class ImpressOpenEnv(Environment[ImpressAction, Observation, ImpressState]):
    """One or more worlds as an OpenEnv `Environment`: `reset(world=...)` picks one of `world` (only
    those: a client never names a path to load). Each instance (each session) has its own
    `ImpressEnv`s, so sessions share nothing but the loaded, read-only world specs."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, world: str | Sequence[str] = "corporate_shutdown",
                 variant: str | Mapping[str, str] | None = None,
                 reward: RewardConfig | dict[str, Any] | None = None) -> None:
        super().__init__()
        self.worlds = [world] if isinstance(world, str) else list(dict.fromkeys(world))
        if not self.worlds:
            raise ValueError("serve at least one world")
        self._variant, self._reward = variant, reward
        self._envs: dict[str, ImpressEnv] = {}
        self.world_id = self.worlds[0]
        self.env = self._env_for(self.world_id)
        self._state = ImpressState(world=self.world_id, world_hash=self.env.loaded.content_hash)
        self._lock = threading.Lock()  # one action at a time per episode, whichever route it came by

    def _env_for(self, world: str) -> ImpressEnv:
        if world not in self._envs:
            self._envs[world] = ImpressEnv(world=world, variant=self._variant, reward=self._reward)
        return self._envs[world]

    # -- OpenEnv's interface --

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> ImpressObservation:
        """A new episode (`seed`, `episode_id`, `variant`: a variant name or {axis: value}, and `world`:
        one of the served worlds). Refused options give an error observation and leave the session
        needing a reset."""
        with self._lock:
            try:
                opts = ResetOptions.model_validate({"seed": seed, "episode_id": episode_id, **kwargs})
            except ValidationError as exc:
                return self._refused_reset(_validation_message(exc))
            if opts.world is not None and opts.world not in self.worlds:
                return self._refused_reset(f"world {clip(opts.world, 100)!r} is not served here; served: "
                                           + ", ".join(self.worlds))
            self.env.world = None  # the previous episode is over, whichever world comes next
            self.world_id = opts.world or self.worlds[0]
            self.env = self._env_for(self.world_id)
            options = {} if opts.variant is None else {"variant": opts.variant}
            try:
                text, info = self.env.reset(seed=opts.seed, options=options)
            except (UserError, ValueError, KeyError, TypeError) as exc:  # a variant the world lacks, a bad axis
                return self._refused_reset(clip(str(exc), 2000))
            world = self.env.world
            assert world is not None
            self._state = ImpressState(
                episode_id=opts.episode_id or str(uuid.uuid4()), step_count=0, world=self.world_id,
                world_hash=self.env.loaded.content_hash, seed=world.seed, factors=dict(world.factors))
            return ImpressObservation(text=text, info=json_info(info), reward=0.0)

    def step(self, action: ImpressAction, timeout_s: float | None = None, **kwargs: Any) -> Observation:
        """One action; always an observation (see the module's docstring)."""
        with self._lock:
            if action.type == "list_tools":
                return ListToolsObservation(tools=self._tools())
            world = self.env.world
            if world is None:
                return _error_observation(action, RESET_NEEDED, "call reset() before step()",
                                          ToolErrorType.EXECUTION_ERROR)
            text, reward, terminated, truncated, info = self.env.step(action.env_action())
            self._state.step_count += 1
            self._state.total_reward += float(reward)
            self._state.done = bool(terminated or truncated)
            self._state.ended_by = world.ended_by() if self._state.done else None
            self._state.behaviours += [f["behaviour"] for f in info.get("findings", [])]
            return _step_observation(action, text, float(reward), bool(terminated), bool(truncated),
                                     json_info(info), {t["name"] for t in world.tool_schemas()})

    @property
    def state(self) -> ImpressState:
        return self._state.model_copy(deep=True)

    def get_metadata(self) -> EnvironmentMetadata:
        titles = [" ".join(self._env_for(w).loaded.spec.title.split()) for w in self.worlds]
        return EnvironmentMetadata(name="impress/" + "+".join(self.worlds),
                                   description=clip("; ".join(f"{w}: {t}" for w, t in zip(self.worlds, titles,
                                                                                          strict=True)), 2000),
                                   version="+".join(self._env_for(w).loaded.content_hash for w in self.worlds),
                                   documentation_url="docs/rl/openenv.md")

    def close(self) -> None:
        for env in self._envs.values():
            env.close()

    # -- helpers --

    def _tools(self) -> list[Tool]:
        """The tools under the names this episode shows (before any reset: the default variant's)."""
        world = self.env.world or World(self.env.loaded, variant=self.env.default_variant, seed=0)
        return [Tool(name=t["name"], description=t.get("description", ""), input_schema=t.get("parameters", {}))
                for t in world.tool_schemas()]

    def _refused_reset(self, message: str) -> ImpressObservation:
        self.env.world = None  # a refused reset leaves no episode behind: the next step needs a reset
        self._state = ImpressState(world=self.world_id, world_hash=self.env.loaded.content_hash)
        text = f"Error: reset refused: {message}"
        return ImpressObservation(text=text, reward=0.0, info={"error_kind": INVALID_RESET, "message": message},
                                  error=ToolError(error_type=ToolErrorType.INVALID_ARGS, message=text))


def _validation_message(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()[:5]]
    return clip("; ".join(parts), 2000)


def _mcp_result(text: str, is_error: bool) -> dict[str, Any]:
    """The JSON shape of FastMCP's `CallToolResult`, as an MCP environment's observation carries it."""
    return {"content": [{"type": "text", "text": text}], "structured_content": None, "meta": None,
            "data": text, "is_error": is_error}


def _step_observation(action: ImpressAction, text: str, reward: float, terminated: bool, truncated: bool,
                      info: dict[str, Any], tool_names: set[str]) -> ImpressObservation:
    kind = info.get("error_kind")
    error = None
    if kind == "invalid_action":  # not a valid call of a tool: MCP's "not found" / "invalid args"
        missing = action.type == "call_tool" and action.tool_name not in tool_names
        error = ToolError(error_type=ToolErrorType.TOOL_NOT_FOUND if missing else ToolErrorType.INVALID_ARGS,
                          message=text)
    elif kind in ("internal_error", "episode_ended"):
        error = ToolError(error_type=ToolErrorType.EXECUTION_ERROR, message=text)
    name = info.get("shown_as") or info.get("tool") or (action.tool_name if action.type == "call_tool" else "")
    return ImpressObservation(text=text, reward=reward, done=terminated or truncated, terminated=terminated,
                              truncated=truncated, info=info, tool_name=_clean(str(name or "")),
                              result=_mcp_result(text, kind is not None), error=error)


def _error_observation(action: ImpressAction, kind: str, message: str, error_type: ToolErrorType) -> ImpressObservation:
    text = f"Error: {message}"
    return ImpressObservation(text=text, reward=0.0, info={"error_kind": kind},
                              tool_name=_clean(action.tool_name) if action.type == "call_tool" else "",
                              result=_mcp_result(text, True), error=ToolError(error_type=error_type, message=text))


__all__ = ["INVALID_RESET", "MAX_BODY_BYTES", "MAX_WS_BYTES", "RESET_NEEDED", "ImpressAction", "ImpressObservation",
           "ImpressOpenEnv", "ImpressState", "ResetOptions", "json_info"]
