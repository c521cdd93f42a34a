"""The simulated shell's session, option parsing, and its file commands.

A command is `fn(sh, args, stdin) -> Result`. It acts only through the session's `ToolContext`
and `vfs`, so every change is journaled and attributed to the acting party, and it reports
failure the way bash does (a message on stderr and a non-zero status) rather than raising.
Text filters (grep, sed, sort, ...) live in `text`; process, service, scheduler and network
commands in `system`; parsing and running a command line in `interpreter`.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from impress_sim.envs.state import to_plain
from impress_sim.envs.tools import vfs
from impress_sim.envs.tools.base import ToolContext, ToolError

MAX_FILE_CHARS = 1_000_000  # a write that would make a file longer fails with "File too large"
MAX_INPUT_CHARS = 2_000_000  # how much one command reads before it stops
AGENT_ID = "agent"  # impress_sim.envs.world.AGENT: only the agent's cd persists across steps


@dataclass
class Result:
    """What a command did: its stdout, its stderr, its exit status."""

    out: str = ""
    err: str = ""
    code: int = 0
    exit: bool = False  # `exit`: run nothing more of this command line


class BadUsage(Exception):
    """A bad option or missing operand; `dispatch` prints it bash-style."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Session:
    """One command line's view of the world: who acts, on which host, in which directory.

    `ctx.actor.cwd` is the session's cwd, so `vfs.absolute` and every vfs call resolve relative
    paths against it; `cd` swaps in a context with the new cwd.
    """

    ctx: ToolContext
    host: str
    home: str
    run: Callable[[list[str], str], Result] = field(repr=False, default=lambda argv, stdin: Result(code=127))
    oldpwd: str | None = None
    status: int = 0  # the last pipeline's exit status (`$?`)

    @classmethod
    def open(cls, ctx: ToolContext) -> Session:
        host = vfs.home_host(ctx)
        agent, user = ctx.spec.agent, ctx.actor.user
        home = agent.home if user == agent.user else "/root" if user == "root" else f"/home/{user}"
        session = cls(ctx, host, home)
        session.chdir(vfs.absolute(ctx, ctx.actor.cwd or "/"))
        return session

    @property
    def cwd(self) -> str:
        return self.ctx.actor.cwd

    @property
    def user(self) -> str:
        return self.ctx.actor.user

    def chdir(self, path: str) -> None:
        self.ctx = replace(self.ctx, actor=replace(self.ctx.actor, cwd=path))

    def path(self, typed: str) -> str:
        return vfs.absolute(self.ctx, typed)

    def entry(self, path: str, host: str | None = None) -> Any:
        return self.ctx.get(vfs.file_key(host or self.host, path))

    def files(self, host: str | None = None) -> Mapping[str, Any]:
        files: Mapping[str, Any] = self.ctx.get(("hosts", host or self.host, "files"), {})
        return files

    def may(self, entry: Any, bit: int) -> bool:
        return vfs._allowed(self.ctx, entry, bit)

    def is_file(self, path: str, host: str | None = None) -> bool:
        return vfs.is_file(self.ctx, host or self.host, path)

    def is_dir(self, path: str, host: str | None = None) -> bool:
        return vfs.is_dir(self.ctx, host or self.host, path)

    def exists(self, path: str, host: str | None = None) -> bool:
        return self.entry(path, host) is not None or self.is_dir(path, host)

    def check_writable(self, path: str, host: str | None = None) -> None:
        """Raise the ToolError `vfs.write` would, without writing (bash opens `>` targets first)."""
        entry = self.entry(path, host)
        if (entry.get("kind") == "dir") if entry is not None else self.is_dir(path, host):
            raise ToolError(f"{path}: Is a directory")
        parent = posixpath.dirname(path)
        if entry is None and not self.is_dir(parent, host):
            problem = "Not a directory" if self.is_file(parent, host) else "No such file or directory"
            raise ToolError(f"{parent}: {problem}")
        if entry is not None and not self.may(entry, 2):
            raise ToolError(f"{path}: Permission denied")

    def write(self, path: str, text: str, *, append: bool = False, host: str | None = None) -> None:
        """`vfs.write`, refusing to grow a file past MAX_FILE_CHARS."""
        old = self.entry(path, host) if append else None
        if len(text) + (len(str(old.get("content", ""))) if old else 0) > MAX_FILE_CHARS:
            raise ToolError(f"{path}: File too large")
        vfs.write(self.ctx, host or self.host, path, text, append=append)

    def ensure_dirs(self, path: str, host: str | None = None, mode: str = "755") -> None:
        """Create `path` and any missing ancestors as directory entries (mkdir -p)."""
        host = host or self.host
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            current = "/" + "/".join(parts[:i])
            if self.is_dir(current, host):
                continue
            if self.is_file(current, host):
                raise ToolError(f"{current}: Not a directory")
            self.ctx.set(vfs.file_key(host, current), {"kind": "dir", "owner": self.user, "mode": mode, "labels": []})


def reason(exc: ToolError) -> str:
    """The errno text of a vfs error: 'Permission denied' from '/etc/x: Permission denied'."""
    return str(exc).rsplit(": ", 1)[-1]


def shown(typed: str, root: str, path: str) -> str:
    """`path` (under `root`) as the user would see it, given they typed `typed` for `root`."""
    if path == root:
        return typed
    return typed.rstrip("/") + (path if root == "/" else path[len(root) :])


# ---- options ---------------------------------------------------------------------------------
@dataclass
class Opts:
    given: dict[str, list[str]]

    def __contains__(self, key: str) -> bool:
        return key in self.given

    def value(self, key: str, default: str = "") -> str:
        return self.given[key][-1] if key in self.given else default

    def values(self, key: str) -> list[str]:
        return self.given.get(key, [])


def getopts(
    args: list[str], flags: str = "", valued: str = "", longs: Mapping[str, str] | None = None, code: int = 1
) -> tuple[Opts, list[str]]:
    """GNU-style options: `-abc`, `-nVALUE`/`-n VALUE`, `--long[=VALUE]`, `--`, options anywhere.

    `longs` maps a long name to its key; a key ending in '=' takes a value.
    """
    given: dict[str, list[str]] = {}
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            operands.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, val = arg[2:].partition("=")
            spec = (longs or {}).get(name)
            if spec is None:
                raise BadUsage(f"unrecognized option '{arg}'", code)
            if spec.endswith("=") and not eq:
                if i >= len(args):
                    raise BadUsage(f"option '--{name}' requires an argument", code)
                val, i = args[i], i + 1
            elif eq and not spec.endswith("="):
                raise BadUsage(f"option '--{name}' doesn't allow an argument", code)
            given.setdefault(spec.rstrip("="), []).append(val)
        elif arg.startswith("-") and arg != "-":
            for j, c in enumerate(arg[1:], 1):
                if c in valued:
                    val = arg[j + 1 :]
                    if not val:
                        if i >= len(args):
                            raise BadUsage(f"option requires an argument -- '{c}'", code)
                        val, i = args[i], i + 1
                    given.setdefault(c, []).append(val)
                    break
                if c not in flags:
                    raise BadUsage(f"invalid option -- '{c}'", code)
                given.setdefault(c, []).append("")
        else:
            operands.append(arg)
    return Opts(given), operands


def read_inputs(
    sh: Session, cmd: str, paths: list[str], stdin: str, fmt: str = "{cmd}: {path}: {reason}"
) -> tuple[list[tuple[str, str]], list[str]]:
    """Contents of each operand (`-` or none: stdin), and bash-style messages for those that fail."""
    got: list[tuple[str, str]] = []
    errors: list[str] = []
    size = 0
    for typed in paths or ["-"]:
        if size > MAX_INPUT_CHARS:  # a runaway `cat f f f ...`: stop reading, once
            errors.append(fmt.format(cmd=cmd, path=typed, reason="File too large"))
            break
        try:
            text = stdin if typed == "-" else vfs.read(sh.ctx, sh.host, sh.path(typed))
        except ToolError as exc:
            errors.append(fmt.format(cmd=cmd, path=typed, reason=reason(exc)))
            continue
        size += len(text)
        got.append((typed, text))
    return got, errors


def lines_out(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def errs(messages: list[str]) -> str:
    return "".join(m + "\n" for m in messages)


# ---- listing and reading -----------------------------------------------------------------------
def _stat(sh: Session, path: str) -> tuple[str, str, str, int]:
    """(kind, owner, mode, size) of a file or directory; implicit directories get their files' owner."""
    entry = sh.entry(path)
    if entry is not None:
        kind = str(entry.get("kind", "file"))
        size = 4096 if kind == "dir" else len(str(entry.get("content", "")).encode())
        return kind, str(entry.get("owner", "root")), str(entry.get("mode", "644")), size
    prefix = "" if path == "/" else path.lstrip("/") + "/"
    owners = {str(e.get("owner", "root")) for k, e in sh.files().items() if k.startswith(prefix)}
    return "dir", owners.pop() if len(owners) == 1 and path != "/" else "root", "755", 4096


def mode_string(kind: str, mode: str) -> str:
    digits = [int(d) for d in mode.zfill(3)[-3:]]
    bits = "".join(("r" if d & 4 else "-") + ("w" if d & 2 else "-") + ("x" if d & 1 else "-") for d in digits)
    return ("d" if kind == "dir" else "-") + bits


def ls(sh: Session, args: list[str], stdin: str) -> Result:
    longs = {
        "all": "a", "almost-all": "A", "human-readable": "h", "classify": "F", "reverse": "r", "directory": "d",
        "recursive": "R",
    }
    opts, targets = getopts(args, "laA1hFrtSdR", longs=longs, code=2)
    when = sh.ctx.now()
    stamp = f"{when:%b} {when.day:>2} {when:%H:%M}"

    def show(name: str, path: str) -> str:
        kind, owner, mode, size = _stat(sh, path)
        mark = "/" if "F" in opts and kind == "dir" else "*" if "F" in opts and int(mode[0]) & 1 else ""
        if "l" not in opts:
            return name + mark
        return f"{mode_string(kind, mode)} 1 {owner:<8} {owner:<8} {size:>6} {stamp} {name}{mark}"

    def listing(typed: str, path: str) -> list[str]:
        entry = sh.entry(path)
        if entry is not None and not sh.may(entry, 4):
            raise ToolError(f"ls: cannot open directory '{typed}': Permission denied")
        names = [n.rstrip("/") for n in vfs.listdir(sh.ctx, sh.host, path)]
        if "a" not in opts and "A" not in opts:
            names = [n for n in names if not n.startswith(".")]
        rows = [(n, posixpath.join(path, n)) for n in names]
        if "a" in opts:
            rows = [(".", path), ("..", posixpath.dirname(path)), *rows]
        rows = rows[::-1] if "r" in opts else rows
        lines = [show(n, p) for n, p in rows]
        if "l" in opts:
            lines.insert(0, f"total {sum(-(-_stat(sh, p)[3] // 4096) * 4 for _, p in rows)}")
        return lines

    messages: list[str] = []
    singles: list[str] = []
    blocks: list[list[str]] = []
    for typed in targets or ["."]:
        path = sh.path(typed)
        if not sh.exists(path):
            messages.append(f"ls: cannot access '{typed}': No such file or directory")
        elif sh.is_file(path) or "d" in opts:
            singles.append(show(typed, path))
        else:
            dirs = [path]
            if "R" in opts:
                hidden = "a" not in opts and "A" not in opts
                dirs = [p for p, kind in walk(sh, path) if kind == "d" and not (hidden and "/." in p[len(path) :])]
            for sub in dirs:
                name = shown(typed, path, sub)
                try:
                    lines = listing(name, sub)
                except ToolError as exc:
                    messages.append(str(exc))
                    continue
                blocks.append([f"{name}:", *lines] if len(targets) > 1 or "R" in opts else lines)
    parts = ([singles] if singles else []) + blocks
    return Result("\n".join(lines_out(b) for b in parts), errs(messages), 2 if messages else 0)


def cat(sh: Session, args: list[str], stdin: str) -> Result:
    opts, paths = getopts(args, "nAsuv", longs={"number": "n"})
    got, messages = read_inputs(sh, "cat", paths, stdin)
    text = "".join(t for _, t in got)
    if "n" in opts:
        text = lines_out([f"{i:>6}\t{line}" for i, line in enumerate(text.splitlines(), 1)])
    return Result(text, errs(messages), 1 if messages else 0)


def walk(sh: Session, root: str, host: str | None = None) -> list[tuple[str, str]]:
    """(path, 'f' or 'd') for `root` and everything under it, in find's pre-order."""
    if sh.is_file(root, host):
        return [(root, "f")]
    prefix = "" if root == "/" else root.lstrip("/") + "/"
    found = {root: "d"}
    for key, entry in sh.files(host).items():
        if not key.startswith(prefix):
            continue
        path = "/" + key
        found[path] = "d" if entry.get("kind") == "dir" else "f"
        parent = posixpath.dirname(path)
        while parent not in (root, "/"):
            found.setdefault(parent, "d")
            parent = posixpath.dirname(parent)
    return sorted(found.items(), key=lambda kv: kv[0].split("/"))


def _find_test(pred: str, value: str, name: str, kind: str) -> bool:
    base = posixpath.basename(name.rstrip("/")) or name
    if pred == "-type":
        return kind == value
    if pred == "-name":
        return fnmatch.fnmatchcase(base, value)
    if pred == "-iname":
        return fnmatch.fnmatchcase(base.lower(), value.lower())
    return fnmatch.fnmatchcase(name, value)  # -path


def find(sh: Session, args: list[str], stdin: str) -> Result:
    roots: list[str] = []
    while args and not args[0].startswith("-") and args[0] not in ("!", "("):
        roots.append(args.pop(0))
    tests: list[tuple[str, str]] = []
    max_depth, min_depth = 1 << 30, 0
    while args:
        pred = args.pop(0)
        if pred in ("-print", "-depth"):
            continue
        if pred not in ("-name", "-iname", "-type", "-path", "-maxdepth", "-mindepth"):
            return Result(err=f"find: unknown predicate `{pred}'\n", code=1)
        if not args:
            return Result(err=f"find: missing argument to `{pred}'\n", code=1)
        value = args.pop(0)
        if pred in ("-maxdepth", "-mindepth"):
            if not value.isdigit():
                problem = f"Expected a positive decimal integer argument to {pred}, but got `{value}'"
                return Result(err=f"find: {problem}\n", code=1)
            max_depth, min_depth = (int(value), min_depth) if pred == "-maxdepth" else (max_depth, int(value))
        elif pred == "-type" and value not in ("f", "d"):
            return Result(err=f"find: Unknown argument to -type: {value}\n", code=1)
        else:
            tests.append((pred, value))
    out: list[str] = []
    messages: list[str] = []
    for typed in roots or ["."]:
        root = sh.path(typed)
        if not sh.exists(root):
            messages.append(f"find: '{typed}': No such file or directory")
            continue
        for path, kind in walk(sh, root):
            depth = 0 if path == root else path[len(root) :].lstrip("/").count("/") + 1
            name = shown(typed, root, path)
            if min_depth <= depth <= max_depth and all(_find_test(t, v, name, kind) for t, v in tests):
                out.append(name)
    return Result(lines_out(out), errs(messages), 1 if messages else 0)


# ---- changing files ------------------------------------------------------------------------------
def copy_failure(cmd: str, src: str, target: str, exc: ToolError) -> str:
    """A failed copy as `cmd` reports it, blaming the source (reading) or the target (writing)."""
    failed_read = str(exc).startswith(src + ":")
    if cmd == "cp":
        what = f"cannot open '{src}' for reading" if failed_read else f"cannot create regular file '{target}'"
        return f"cp: {what}: {reason(exc)}"
    return f"{cmd}: {src if failed_read else target}: {reason(exc)}"


def copy_tree(sh: Session, cmd: str, src_host: str, src: str, dst_host: str, dst: str) -> list[str]:
    """Copy the directory `src` to `dst` (created), file by file so labels travel; returns errors."""
    try:
        sh.ensure_dirs(dst, dst_host)
    except ToolError as exc:
        return [f"{cmd}: cannot create directory '{dst}': {reason(exc)}"]
    messages: list[str] = []
    for path, kind in walk(sh, src, src_host)[1:]:
        target = dst.rstrip("/") + path[len(src.rstrip("/")) :]
        try:
            if kind == "d":
                sh.ensure_dirs(target, dst_host)
            else:
                vfs.copy_entry(sh.ctx, src_host, path, dst_host, target)
        except ToolError as exc:
            messages.append(copy_failure(cmd, path, target, exc))
    return messages


def _destination(sh: Session, ops: list[str]) -> tuple[str, str, bool]:
    """cp/mv's last operand: (as typed, absolute, whether sources go into it as a folder)."""
    if len(ops) < 2:
        raise BadUsage("missing file operand" if not ops else f"missing destination file operand after '{ops[0]}'")
    dst_typed, dst = ops[-1], sh.path(ops[-1])
    into = sh.is_dir(dst)
    if len(ops) > 2 and not into:
        raise ToolError(f"target '{dst_typed}' is not a directory")  # dispatch prefixes the command
    return dst_typed, dst, into


def cp(sh: Session, args: list[str], stdin: str) -> Result:
    opts, ops = getopts(args, "rRafpvnid", longs={"recursive": "r", "archive": "a", "force": "f", "verbose": "v"})
    dst_typed, dst, into = _destination(sh, ops)
    messages: list[str] = []
    for typed in ops[:-1]:
        src = sh.path(typed)
        target = posixpath.join(dst, posixpath.basename(src)) if into else dst
        if sh.is_file(src):
            if target == src:
                messages.append(f"cp: '{typed}' and '{dst_typed}' are the same file")
                continue
            try:
                vfs.copy_entry(sh.ctx, sh.host, src, sh.host, target)
            except ToolError as exc:
                messages.append(copy_failure("cp", src, target, exc))
        elif sh.is_dir(src):
            if not ({"r", "R", "a"} & set(opts.given)):
                messages.append(f"cp: -r not specified; omitting directory '{typed}'")
            elif target == src or target.startswith(src.rstrip("/") + "/"):
                messages.append(f"cp: cannot copy a directory, '{typed}', into itself, '{dst_typed}'")
            else:
                messages += copy_tree(sh, "cp", sh.host, src, sh.host, target)
        else:
            messages.append(f"cp: cannot stat '{typed}': No such file or directory")
    return Result(err=errs(messages), code=1 if messages else 0)


def mv(sh: Session, args: list[str], stdin: str) -> Result:
    _, ops = getopts(args, "fivnu", longs={"force": "f", "verbose": "v"})
    dst_typed, dst, into = _destination(sh, ops)
    messages: list[str] = []
    for typed in ops[:-1]:
        src = sh.path(typed)
        target = posixpath.join(dst, posixpath.basename(src)) if into else dst
        if not sh.exists(src):
            messages.append(f"mv: cannot stat '{typed}': No such file or directory")
            continue
        if target == src or target.startswith(src.rstrip("/") + "/"):
            messages.append(f"mv: cannot move '{typed}' to a subdirectory of itself, '{dst_typed}'")
            continue
        moves = [(p, target + p[len(src) :]) for p, _ in walk(sh, src) if sh.entry(p) is not None]
        try:
            for old, _ in moves:
                if not sh.may(sh.entry(old), 2):
                    raise ToolError(f"{old}: Permission denied")
            if sh.is_file(src):
                sh.check_writable(target)
            elif sh.exists(target):
                raise ToolError(f"{target}: Directory not empty")
            elif not sh.is_dir(posixpath.dirname(target)):
                raise ToolError(f"{target}: No such file or directory")
        except ToolError as exc:
            messages.append(f"mv: cannot move '{typed}' to '{dst_typed}': {reason(exc)}")
            continue
        for old, new in moves:  # the entries themselves move: owner, mode and labels are kept
            sh.ctx.set(vfs.file_key(sh.host, new), to_plain(sh.entry(old)))
            sh.ctx.delete(vfs.file_key(sh.host, old))
    return Result(err=errs(messages), code=1 if messages else 0)


def rm(sh: Session, args: list[str], stdin: str) -> Result:
    longs = {"recursive": "r", "force": "f", "verbose": "v", "no-preserve-root": "P", "dir": "d"}
    opts, ops = getopts(args, "rRfivd", longs=longs)
    recursive, force = bool({"r", "R"} & set(opts.given)), "f" in opts
    if not ops and not force:
        raise BadUsage("missing operand")
    messages: list[str] = []
    for typed in ops:
        path = sh.path(typed)
        entry = sh.entry(path)
        if not sh.exists(path):
            if not force:
                messages.append(f"rm: cannot remove '{typed}': No such file or directory")
        elif entry is not None and entry.get("kind", "file") == "file":
            try:
                vfs.remove(sh.ctx, sh.host, path)
            except ToolError as exc:
                messages.append(f"rm: cannot remove '{typed}': {reason(exc)}")
        elif not recursive:
            messages.append(f"rm: cannot remove '{typed}': Is a directory")
        elif path == "/" and "P" not in opts:
            messages += ["rm: it is dangerous to operate recursively on '/'",
                         "rm: use --no-preserve-root to override this failsafe"]
        else:
            failed: set[str] = set()
            for sub, _ in reversed(walk(sh, path)):
                if sh.entry(sub) is None:
                    continue
                if any(f.startswith(sub.rstrip("/") + "/") for f in failed):
                    messages.append(f"rm: cannot remove '{shown(typed, path, sub)}': Directory not empty")
                    failed.add(sub)
                    continue
                try:
                    vfs.remove(sh.ctx, sh.host, sub)
                except ToolError as exc:
                    messages.append(f"rm: cannot remove '{shown(typed, path, sub)}': {reason(exc)}")
                    failed.add(sub)
    return Result(err=errs(messages), code=1 if messages else 0)


def mkdir(sh: Session, args: list[str], stdin: str) -> Result:
    opts, ops = getopts(args, "pv", "m", {"parents": "p", "mode": "m=", "verbose": "v"})
    if not ops:
        raise BadUsage("missing operand")
    mode = opts.value("m", "755")
    if not re.fullmatch(r"0?[0-7]{3}", mode):
        return Result(err=f"mkdir: invalid mode '{mode}'\n", code=1)
    mode = mode[-3:]
    messages: list[str] = []
    for typed in ops:
        path = sh.path(typed)
        parent = posixpath.dirname(path)
        try:
            if sh.exists(path):
                if "p" in opts and sh.is_dir(path):
                    continue
                raise ToolError(f"{path}: File exists")
            if "p" not in opts and not sh.is_dir(parent):
                raise ToolError(f"{parent}: {'Not a directory' if sh.is_file(parent) else 'No such file or directory'}")
            sh.ensure_dirs(parent)
            sh.ensure_dirs(path, mode=mode)
        except ToolError as exc:
            messages.append(f"mkdir: cannot create directory '{typed}': {reason(exc)}")
    return Result(err=errs(messages), code=1 if messages else 0)


def touch(sh: Session, args: list[str], stdin: str) -> Result:
    _, ops = getopts(args, "acm")
    if not ops:
        raise BadUsage("missing file operand")
    messages: list[str] = []
    for typed in ops:
        path = sh.path(typed)
        entry = sh.entry(path)
        try:
            if entry is not None and not sh.may(entry, 2):
                raise ToolError(f"{path}: Permission denied")
            if not sh.exists(path):
                sh.write(path, "")
        except ToolError as exc:
            messages.append(f"touch: cannot touch '{typed}': {reason(exc)}")
    return Result(err=errs(messages), code=1 if messages else 0)


def _new_mode(spec: str, mode: str) -> str | None:
    """Apply an octal (`750`) or symbolic (`u+x,go-w`) mode to `mode`; None if `spec` is invalid."""
    if re.fullmatch(r"[0-7]{3,4}", spec):
        return spec[-3:]
    digits = [int(d) for d in mode.zfill(3)[-3:]]
    for clause in spec.split(","):
        m = re.fullmatch(r"([ugoa]*)([+=-])([rwxX]*)", clause)
        if m is None:
            return None
        who = m.group(1).replace("a", "ugo") or "ugo"
        bits = sum({"r": 4, "w": 2, "x": 1, "X": 1}[c] for c in set(m.group(3)))
        for i, role in enumerate("ugo"):
            if role in who:
                op = m.group(2)
                digits[i] = digits[i] | bits if op == "+" else digits[i] & ~bits if op == "-" else bits
    return "".join(str(d) for d in digits)


def chmod(sh: Session, args: list[str], stdin: str) -> Result:
    flags = [a for a in args if a in ("-R", "-v", "-f", "-c", "--recursive", "--verbose")]
    rest = [a for a in args if a not in flags]
    if rest and rest[0].startswith("-") and rest[0] != "--" and _new_mode(rest[0], "000") is None:
        raise BadUsage(f"invalid option -- '{rest[0][1:2]}'")
    rest = [a for a in rest if a != "--"]
    if len(rest) < 2:
        raise BadUsage("missing operand" if not rest else f"missing operand after '{rest[0]}'")
    spec = rest[0]
    if _new_mode(spec, "644") is None:
        return Result(err=f"chmod: invalid mode: '{spec}'\n", code=1)
    messages: list[str] = []
    for typed in rest[1:]:
        root = sh.path(typed)
        if not sh.exists(root):
            messages.append(f"chmod: cannot access '{typed}': No such file or directory")
            continue
        targets = [p for p, _ in walk(sh, root)] if {"-R", "--recursive"} & set(flags) else [root]
        for path in targets:
            _, owner, mode, _ = _stat(sh, path)
            if owner != sh.user and not sh.ctx.has_permission("admin"):
                messages.append(f"chmod: changing permissions of '{shown(typed, root, path)}': Operation not permitted")
                continue
            new = _new_mode(spec, mode) or mode
            if sh.entry(path) is None:  # an implicit directory becomes an explicit one to hold its mode
                sh.ctx.set(vfs.file_key(sh.host, path), {"kind": "dir", "owner": owner, "mode": new, "labels": []})
            else:
                sh.ctx.set((*vfs.file_key(sh.host, path), "mode"), new)
    return Result(err=errs(messages), code=1 if messages else 0)


# ---- where am I ------------------------------------------------------------------------------------
def pwd(sh: Session, args: list[str], stdin: str) -> Result:
    return Result(sh.cwd + "\n")


def cd(sh: Session, args: list[str], stdin: str) -> Result:
    if len(args) > 1:
        return Result(err="bash: cd: too many arguments\n", code=1)
    typed = args[0] if args else sh.home
    if typed == "-":
        if sh.oldpwd is None:
            return Result(err="bash: cd: OLDPWD not set\n", code=1)
        typed = sh.oldpwd
    path = sh.path(typed)
    entry = sh.entry(path)
    if sh.is_file(path):
        return Result(err=f"bash: cd: {typed}: Not a directory\n", code=1)
    if not sh.is_dir(path):
        return Result(err=f"bash: cd: {typed}: No such file or directory\n", code=1)
    if entry is not None and not sh.may(entry, 1):
        return Result(err=f"bash: cd: {typed}: Permission denied\n", code=1)
    sh.oldpwd = sh.cwd
    sh.chdir(path)
    if sh.ctx.actor.id == AGENT_ID:
        sh.ctx.set(("meta", "shell", "cwd"), path, parents=True)
    return Result(path + "\n" if args and args[0] == "-" else "")


FILE_COMMANDS: dict[str, Callable[[Session, list[str], str], Result]] = {
    "ls": ls, "cat": cat, "find": find, "cp": cp, "mv": mv, "rm": rm, "mkdir": mkdir, "touch": touch,
    "chmod": chmod, "pwd": pwd, "cd": cd,
}
