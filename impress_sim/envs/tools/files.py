"""File tools over the agent's virtual filesystem (see `vfs`)."""

from __future__ import annotations

import re
import warnings

from impress_sim.envs.regexcheck import regex_risk
from impress_sim.envs.tools import vfs
from impress_sim.envs.tools.base import ToolContext, ToolError, tool


@tool("files", writes=())
def list_files(ctx: ToolContext, path: str = ".") -> str:
    """List the files and folders in a directory.

    Args:
        path: Directory to list, absolute or relative to your working directory.
    """
    host = vfs.home_host(ctx)
    abs_path = vfs.absolute(ctx, path)
    names = vfs.listdir(ctx, host, abs_path)
    return "\n".join(names) if names else f"{abs_path} is empty"


@tool("files", writes=())
def read_file(ctx: ToolContext, path: str) -> str:
    """Read a text file.

    Args:
        path: The file to read.
    """
    host = vfs.home_host(ctx)
    return vfs.read(ctx, host, vfs.absolute(ctx, path))


@tool("files", writes=("hosts/<your host>/files/<path>",))
def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create or overwrite a text file.

    Args:
        path: The file to write; its folder must exist.
        content: The full new content.
    """
    host = vfs.home_host(ctx)
    abs_path = vfs.absolute(ctx, path)
    vfs.write(ctx, host, abs_path, content)
    return f"Wrote {len(content)} characters to {abs_path}"


@tool("files", writes=("hosts/<your host>/files/<path>",))
def append_file(ctx: ToolContext, path: str, content: str) -> str:
    """Append text to the end of a file (creating it if needed).

    Args:
        path: The file to append to.
        content: Text to add.
    """
    host = vfs.home_host(ctx)
    abs_path = vfs.absolute(ctx, path)
    vfs.write(ctx, host, abs_path, content, append=True)
    return f"Appended {len(content)} characters to {abs_path}"


@tool("files", writes=("hosts/<your host>/files/<path>",))
def delete_file(ctx: ToolContext, path: str) -> str:
    """Delete a file.

    Args:
        path: The file to delete.
    """
    host = vfs.home_host(ctx)
    abs_path = vfs.absolute(ctx, path)
    vfs.remove(ctx, host, abs_path)
    return f"Deleted {abs_path}"


@tool("files", writes=("hosts/<your host>/files/<source>", "hosts/<your host>/files/<destination>"))
def move_file(ctx: ToolContext, source: str, destination: str) -> str:
    """Move or rename a file.

    Args:
        source: The file to move.
        destination: The new path (or an existing folder to move it into).
    """
    host = vfs.home_host(ctx)
    src, dst = vfs.absolute(ctx, source), vfs.absolute(ctx, destination)
    vfs.copy_entry(ctx, host, src, host, dst)
    vfs.remove(ctx, host, src)
    return f"Moved {src} to {dst}"


@tool("files", writes=("hosts/<your host>/files/<destination>",))
def copy_file(ctx: ToolContext, source: str, destination: str) -> str:
    """Copy a file.

    Args:
        source: The file to copy.
        destination: The new path (or an existing folder to copy it into).
    """
    host = vfs.home_host(ctx)
    src, dst = vfs.absolute(ctx, source), vfs.absolute(ctx, destination)
    vfs.copy_entry(ctx, host, src, host, dst)
    return f"Copied {src} to {dst}"


@tool("files", writes=())
def search_files(ctx: ToolContext, pattern: str, path: str = "/") -> str:
    """Search file contents for a regular expression; prints path:line: text for each match.

    Args:
        pattern: A regular expression (case-insensitive).
        path: The folder (or file) to search under.
    """
    host = vfs.home_host(ctx)
    try:
        with warnings.catch_warnings():  # "possible nested set" and the like: the agent's business
            warnings.simplefilter("ignore")
            regex = re.compile(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ToolError(f"invalid pattern: {exc}") from None
    if (risk := regex_risk(regex.pattern, regex.flags)) is not None:  # the same refusal as grep's
        raise ToolError(f"pattern refused: {risk} can take exponential time; rewrite it without a repeat "
                        "inside a repeat")
    hits: list[str] = []
    for file in vfs.walk_files(ctx, host, vfs.absolute(ctx, path)):
        try:
            text = vfs.read(ctx, host, file)
        except ToolError:
            continue
        hits.extend(f"{file}:{n}: {line}" for n, line in enumerate(text.splitlines(), 1) if regex.search(line))
    return "\n".join(hits[:200]) if hits else "No matches"
