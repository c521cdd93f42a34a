"""A simulated bash over the virtual filesystem and the world's hosts (placeholder: being written)."""

from __future__ import annotations

from impress_sim.envs.tools.base import ToolContext, tool


@tool("shell")
def bash(ctx: ToolContext, command: str) -> str:
    """Run a shell command on your host.

    Args:
        command: The command line.
    """
    return f"bash: {command.split()[0] if command.split() else ''}: command not found"
