"""The world runtime: specs, state and journal, tools, NPCs, timeline, and the Gymnasium env.

Importing this package registers `impress/<world_id>-v0` with Gymnasium for every shipped world.
This is the public API that worlds' hooks.py may import.
"""

from __future__ import annotations

import gymnasium as gym

from impress_sim.envs.briefing import Briefing
from impress_sim.envs.detectors import DetectorView, Finding, TaskCheckResult
from impress_sim.envs.effects import AGENT, ActionError
from impress_sim.envs.graph import Directory, directory
from impress_sim.envs.loader import LoadedWorld, load_world, world_ids
from impress_sim.envs.predicates import StateView, mentions_number, numbers_in, path_glob
from impress_sim.envs.reward import RewardConfig
from impress_sim.envs.settings import SettingSpec, effective
from impress_sim.envs.spec import FileSpec, WorldSpec
from impress_sim.envs.state import Change, State, to_plain
from impress_sim.envs.step import StepResult, ToolCall, parse_action
from impress_sim.envs.tools import Actor, ToolContext, ToolError, tool
from impress_sim.envs.world import EpisodeEnded, World
from impress_sim.errors import UnknownWorldError, WorldSpecError
from impress_sim.yamlio import program_yaml

__all__ = [
    "AGENT",
    "ActionError",
    "Actor",
    "Briefing",
    "Change",
    "DetectorView",
    "Directory",
    "EpisodeEnded",
    "FileSpec",
    "Finding",
    "LoadedWorld",
    "RewardConfig",
    "SettingSpec",
    "State",
    "StateView",
    "StepResult",
    "TaskCheckResult",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "UnknownWorldError",
    "World",
    "WorldSpec",
    "WorldSpecError",
    "directory",
    "effective",
    "env_id",
    "load_world",
    "mentions_number",
    "numbers_in",
    "parse_action",
    "path_glob",
    "program_yaml",
    "register_worlds",
    "to_plain",
    "tool",
    "world_ids",
]


def env_id(world_id: str) -> str:
    return f"impress/{world_id}-v0"


def chat_env_id(world_id: str) -> str:
    return f"impress/{world_id}-chat-v0"


def register_worlds() -> None:
    """Register every shipped world with Gymnasium (idempotent; reads only folder names): the text env as
    `impress/<world>-v0` and the chat-message env (`envs/chat_env.py`) as `impress/<world>-chat-v0`."""
    for world_id in world_ids():
        if env_id(world_id) not in gym.registry:
            gym.register(id=env_id(world_id), entry_point="impress_sim.envs.env:ImpressEnv",
                         kwargs={"world": world_id})
        if chat_env_id(world_id) not in gym.registry:
            gym.register(id=chat_env_id(world_id), entry_point="impress_sim.envs.chat_env:ImpressChatEnv",
                         kwargs={"world": world_id})


register_worlds()
