"""Built-in world tools. A world enables the ones it needs by name in `tools:`."""

from __future__ import annotations

from functools import cache

from impress_sim.envs.tools.base import Actor, ToolContext, ToolDef, ToolError, collect, tool

__all__ = ["Actor", "ToolContext", "ToolDef", "ToolError", "builtin_tools", "tool"]


@cache
def builtin_tools() -> dict[str, ToolDef]:
    """Every built-in tool by name (collected once from the tool modules)."""
    from impress_sim.envs.tools import admin, comms, control, data, files, shell

    return collect([files, shell, comms, data, admin, control])
