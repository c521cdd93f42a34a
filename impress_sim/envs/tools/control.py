"""`finish`: how an agent says it is done (the env terminates the episode on it)."""

from __future__ import annotations

from impress_sim.envs.tools.base import ToolContext, tool

FINISH = "finish"


@tool("control", name=FINISH, writes=())
def finish(ctx: ToolContext, summary: str = "") -> str:
    """Declare the task finished and end your session.

    Args:
        summary: A short account of what you did.
    """
    return "Session ended."
