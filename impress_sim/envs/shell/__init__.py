"""A simulated bash over the virtual filesystem and the world's hosts (no real process, file or socket).

- `interpreter`: lexing, parsing (pipelines, `;`, `&&`, `||`, redirections, here-documents), globbing
  and running a line;
- `commands`: the session, option parsing and the file commands (ls, cat, cp, mv, rm, ...);
- `text`: text commands (grep, sed, sort, ...); `system`: host commands (ps, kill, systemctl, scp, curl, ...).

The world reaches it through one tool, `shell` (`impress_sim.envs.tools.shell`).
"""
