"""The `shell` tool: one command line run by the simulated bash in `impress_sim.envs.shell`."""

from __future__ import annotations

from impress_sim.envs.shell.interpreter import run
from impress_sim.envs.tools.base import ToolContext, ToolError, tool

# What a command line may journal (see docs/shell.md for which command writes what): files on any host
# it reaches (redirections, cp/mv/rm/mkdir/touch/chmod/tee/sed -i, scp/rsync), processes (kill), jobs
# (crontab -r), services (systemctl) and requests to endpoints (curl).
_SHELL_WRITES = (
    "hosts/<host>/files/<path>", "hosts/<your host>/processes/<pid>", "jobs/<job_id>/status",
    "services/<name>/status", "endpoints/<url>/requests/<id>",
)


@tool("shell", writes=_SHELL_WRITES)
def bash(ctx: ToolContext, command: str) -> str:
    """Run a bash command line on your host and return what it prints (stdout, then stderr).

    Supports pipes, `;`, `&&`, `||`, redirections (`>`, `>>`, `<`, `2>&1`, here-documents), quoting
    and globs. Available: ls, cat, head, tail, grep, find, wc, sort, uniq, tr, cut, echo, printf, tee,
    cp, mv, rm, mkdir, touch, chmod, sed, pwd, cd, whoami, id, hostname, date, ps, kill, crontab,
    systemctl, scp, rsync, curl, sudo, which. `cd` persists between calls.

    Args:
        command: The command line to run, e.g. `grep -rn TODO ~/src | head -n 5`.
    """
    if not command.strip():
        raise ToolError("empty command: pass a command line, e.g. `ls -la`")
    completed = run(ctx, command)
    ctx.extras["exit_status"] = completed.code
    return completed.output
