"""A simulated bash over the virtual filesystem and the world's hosts.

A command line is lexed (`split`: POSIX word rules, as `shlex` in POSIX mode with punctuation split out,
in one linear pass), parsed into lists of
pipelines joined by `;`, `&&`, `||`, and run command by command against the world state: the
commands (in `commands`, `text` and `system`) act only through the ToolContext and `vfs`, so
every change is journaled and attributed. Nothing here touches the host machine: there is no
subprocess, no real file and no socket, and anything that would run a real program (python, sh,
ssh, ...) is simply "command not found".

Before `split` sees the line, one pass over it (`_protect`) does what plain word splitting cannot: it marks
quoted or escaped operator and glob characters (so `grep "a|b"` stays one word and `'*.txt'` is
not expanded), expands `~` and a few variables, recognises `2>`, `2>&1`, `&>` and `>&2`, drops
comments, and lifts here-document bodies out of the line.

Both passes are linear in the length of the line: runs of ordinary characters are taken whole (one
regex match, one slice), never a character at a time into a growing string, so a megabyte word costs
what a megabyte of short words costs. A line longer than `MAX_LINE_CHARS` is refused as bash refuses
an argument list too long, before any of it is read.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from impress_sim.envs.shell.commands import (
    FILE_COMMANDS,
    MAX_INPUT_CHARS,
    BadUsage,
    Result,
    Session,
    reason,
)
from impress_sim.envs.shell.system import SYSTEM_COMMANDS
from impress_sim.envs.shell.text import TEXT_COMMANDS
from impress_sim.envs.tools import vfs
from impress_sim.envs.tools.base import ToolContext, ToolError

MAX_OUTPUT_CHARS = 20_000
MAX_LINE_CHARS = 1_000_000  # a longer command line is refused whole ("Argument list too long")
TRUNCATED = "\n[output truncated]"

# Private-use code points stand in for what the protect pass found (never valid in typed input).
_HIDDEN = 0xE000  # + ord(c): a quoted or escaped special character, restored after parsing
_MARK = 0xE100  # + index in _MARKS: a redirection operator shlex cannot spell
_DOC = 0xE200  # + n: here-document n
_STATUS = chr(0xE300)  # `$?`: the last exit status, filled in when the command runs
_PRIVATE = range(0xE000, 0xE400)
_SPECIAL = "|&;<>()*?[]#~"
_GLOB = "*?["
_MARKS = ("2>&1", "2>>", "2>", "&>>", "&>", ">&2", "1>>", "1>", "<<<", "\n")
NEWLINE = chr(_MARK + _MARKS.index("\n"))
_OPS = {"|", "||", "&&", ";", "&", ">", ">>", "<"}


class ShellSyntaxError(Exception):
    """Bash would refuse the line before running any of it."""


_HIDE = str.maketrans({c: chr(_HIDDEN + ord(c)) for c in _SPECIAL})
_UNHIDE = str.maketrans({chr(_HIDDEN + ord(c)): c for c in _SPECIAL})
_PRIVATE_CHARS = re.compile("[\ue000-\ue3ff]")
# Runs the protect pass copies as they are: outside quotes (after a word's first character), inside
# double quotes, inside single quotes.
_PLAIN_RUN = re.compile(r"[^\\'\"`$\n<>&|;() \t]+")
_DQ_RUN = re.compile(r'[^\\"`$]+')


def _hide(text: str) -> str:
    """`text` with its shell-special characters marked as quoted (see `_HIDDEN`)."""
    return text.translate(_HIDE)


def _unhide(word: str) -> str:
    return word.translate(_UNHIDE)


def _variable(line: str, i: int, env: Mapping[str, str]) -> tuple[str, int] | None:
    """`$NAME` or `${NAME}` at `i`: (its value, where it ends); None if `$` is literal there."""
    j = i + 1
    if line.startswith("?", j):
        return _STATUS, j + 1
    braced = j < len(line) and line[j] == "{"
    j += braced
    k = j
    while k < len(line) and (line[k].isalnum() or line[k] == "_"):
        k += 1
    if k == j or line[j].isdigit() or (braced and (k >= len(line) or line[k] != "}")):
        return None
    return env.get(line[j:k], ""), k + braced


def _protect(line: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """The line rewritten for shlex (see the module docstring), and its here-document bodies."""
    out: list[str] = []
    docs: list[str] = []
    pending: list[tuple[int, str, bool, bool]] = []  # (doc, delimiter, strip tabs, expand) until the next newline
    quote = ""
    word_start = True
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if quote == "'":  # everything up to the closing quote, at once
            end = line.find("'", i)
            end = n if end < 0 else end
            out.append(_hide(line[i:end]))
            if end < n:
                out.append("'")
                quote = ""
            i = end + 1
            continue
        if quote == '"' and (run := _DQ_RUN.match(line, i)) is not None:
            out.append(_hide(run.group()))
            i = run.end()
            continue
        if quote == '"':
            if c == "\\" and i + 1 < n and line[i + 1] in '"\\$`':
                out.append(line[i : i + 2] if line[i + 1] in '"\\' else line[i + 1])
                i += 2
                continue
            if c == "`" or line.startswith("$(", i):
                raise ShellSyntaxError("command substitution ($(...) and `...`) is not available in this shell")
            if c == "$" and (var := _variable(line, i, env)) is not None:
                out.append(_hide(var[0]))
                i = var[1]
                continue
            quote = "" if c == '"' else quote
            out.append(c if c == '"' else _hide(c))
            i += 1
            continue
        if not word_start and (run := _PLAIN_RUN.match(line, i)) is not None:  # the rest of a plain word
            out.append(run.group())
            i = run.end()
            continue
        if c == "\\":
            if i + 1 < n and line[i + 1] != "\n":
                out.append(_hide(line[i + 1]) if line[i + 1] in _SPECIAL else line[i : i + 2])
                word_start = False
            i += 2
            continue
        if c == "`" or line.startswith("$(", i):
            raise ShellSyntaxError("command substitution ($(...) and `...`) is not available in this shell")
        if c in "'\"":
            quote, word_start = c, False
            out.append(c)
            i += 1
            continue
        if c == "\n":
            out.append(f" {NEWLINE} ")
            i += 1
            for index, delim, strip_tabs, expand in pending:
                body: list[str] = []
                while i < n:
                    end = line.find("\n", i)
                    row = line[i : n if end < 0 else end]
                    i = n if end < 0 else end + 1
                    row = row.lstrip("\t") if strip_tabs else row
                    if row == delim:
                        break
                    body.append(row)
                text = "".join(r + "\n" for r in body)
                docs[index] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), text) if expand else text
            pending.clear()
            word_start = True
            continue
        if word_start and c == "#":
            end = line.find("\n", i)
            i = n if end < 0 else end
            continue
        if word_start and c == "~" and (i + 1 == n or line[i + 1] in "/ \t\n;|&<>"):
            out.append(env["HOME"])
            i += 1
            word_start = False
            continue
        if c == "$" and (var := _variable(line, i, env)) is not None:
            out.append(var[0])
            i = var[1]
            word_start = False
            continue
        if line.startswith("<<", i) and not line.startswith("<<<", i):
            j = i + 2
            strip_tabs = line.startswith("-", j)
            j += strip_tabs
            while j < n and line[j] in " \t":
                j += 1
            k = j
            while k < n and line[k] not in " \t\n;|&<>()":
                k += 1
            delim = line[j:k].replace("'", "").replace('"', "").replace("\\", "")
            if not delim:
                raise ShellSyntaxError("newline" if k >= n or line[k] == "\n" else line[k])
            pending.append((len(docs), delim, strip_tabs, delim == line[j:k]))
            out.append(f" {chr(_DOC + len(docs))} ")
            docs.append("")
            i, word_start = k, True
            continue
        mark = next((m for m in _MARKS[:-1] if line.startswith(m, i) and (word_start or m[0] in ">&<")), None)
        if mark is not None:
            out.append(f" {chr(_MARK + _MARKS.index(mark))} ")
            i += len(mark)
            word_start = True
            continue
        out.append(c)
        word_start = c in " \t|&;<>()"
        i += 1
    if quote:
        raise ShellSyntaxError(f"unexpected EOF while looking for matching `{quote}'")
    return "".join(out), docs


# ---- lexing ------------------------------------------------------------------------------------------
_BLANKS = re.compile(r"[ \t\r\n]+")
_PUNCTUATION = re.compile(r"[();<>|&]+")
_WORD_RUN = re.compile(r"[^ \t\r\n'\"\\();<>|&]+")
_DQ_WORD_RUN = re.compile(r'[^"\\]+')
_WORD_END = frozenset(" \t\r\n();<>|&")


def split(text: str) -> list[str]:
    """`text` as words and operators, exactly as `shlex.shlex(text, posix=True, punctuation_chars=True)`
    with `whitespace_split` and no comment characters splits it, in time linear in `len(text)`
    (shlex grows each word a character at a time, quadratic on a long word). Quotes are removed, a
    backslash escapes the next character (in double quotes only `"` and `\\`), a run of `();<>|&` is
    one token, and an empty quoted word is a word."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while True:
        if (blank := _BLANKS.match(text, i)) is not None:
            i = blank.end()
        if i >= n:
            return tokens
        if (punct := _PUNCTUATION.match(text, i)) is not None:
            tokens.append(punct.group())
            i = punct.end()
            continue
        parts: list[str] = []
        while i < n and text[i] not in _WORD_END:
            c = text[i]
            if c == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise ShellSyntaxError("No closing quotation")
                parts.append(text[i + 1 : end])
                i = end + 1
            elif c == '"':
                i += 1
                while True:
                    if (run := _DQ_WORD_RUN.match(text, i)) is not None:
                        parts.append(run.group())
                        i = run.end()
                    if i >= n:
                        raise ShellSyntaxError("No closing quotation")
                    if text[i] == '"':
                        i += 1
                        break
                    if i + 1 >= n:  # a backslash ends the text
                        raise ShellSyntaxError("No escaped character")
                    after = text[i + 1]
                    parts.append(after if after in '"\\' else "\\" + after)
                    i += 2
            elif c == "\\":
                if i + 1 >= n:
                    raise ShellSyntaxError("No escaped character")
                parts.append(text[i + 1])
                i += 2
            else:
                run = _WORD_RUN.match(text, i)
                assert run is not None
                parts.append(run.group())
                i = run.end()
        tokens.append("".join(parts))


# ---- parsing -----------------------------------------------------------------------------------------
@dataclass
class Command:
    words: list[str] = field(default_factory=list)
    redirects: list[tuple[str, str]] = field(default_factory=list)  # (operator, target word or document)

    def empty(self) -> bool:
        return not self.words and not self.redirects


Pipeline = list[Command]


def parse(line: str, env: Mapping[str, str]) -> list[tuple[str, Pipeline]]:
    """The line as (connector, pipeline) pairs; the connector says when a pipeline runs (';', '&&', '||')."""
    if len(line) > MAX_LINE_CHARS:
        raise ShellSyntaxError(f"Argument list too long ({len(line):,} characters; this shell takes at most "
                               f"{MAX_LINE_CHARS:,} in one command line)")
    text, docs = _protect(_PRIVATE_CHARS.sub("\ufffd", line), env)
    tokens = split(text)
    chain: list[tuple[str, Pipeline]] = []
    connector, pipeline, current = ";", [], Command()
    needs_command = False  # after | && ||: a newline continues the line
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        code = ord(token) if len(token) == 1 else 0
        if _DOC <= code < _DOC + len(docs):
            current.redirects.append(("<<", docs[code - _DOC]))
        elif token in (">", ">>", "<") or (_MARK <= code < _MARK + len(_MARKS) - 1):
            op = token if token in (">", ">>", "<") else _MARKS[code - _MARK]
            if op in ("2>&1", ">&2"):
                current.redirects.append((op, ""))
            elif i < len(tokens) and tokens[i] not in _OPS and tokens[i] != NEWLINE:
                current.redirects.append((op, tokens[i]))
                i += 1
            else:
                after = tokens[i] if i < len(tokens) and tokens[i] != NEWLINE else "newline"
                raise ShellSyntaxError(f"syntax error near unexpected token `{after}'")
        elif token == NEWLINE and current.empty():  # a blank line, or a line continued after | && ||
            continue
        elif token in ("|", "&&", "||", ";", "&", NEWLINE):
            if current.empty():
                raise ShellSyntaxError(f"syntax error near unexpected token `{token}'")
            pipeline.append(current)
            current = Command()
            if token != "|":
                chain.append((connector, pipeline))
                pipeline, connector = [], token if token in ("&&", "||") else ";"
            needs_command = token in ("|", "&&", "||")
            continue
        elif token and all(c in "|&;<>()" for c in token):  # an empty quoted word is a word
            raise ShellSyntaxError(f"syntax error near unexpected token `{token}'")
        else:
            current.words.append(token)
        needs_command = False
    if needs_command:
        raise ShellSyntaxError("syntax error: unexpected end of file")
    if not current.empty():
        pipeline.append(current)
        chain.append((connector, pipeline))
    return chain


# ---- running -----------------------------------------------------------------------------------------
def _glob(sh: Session, word: str) -> list[str]:
    """Expand unquoted `*?[` in `word` against the session's host; no match leaves the word as typed."""
    if not any(c in word for c in _GLOB):
        return [_unhide(word)]
    matches = ["/" if word.startswith("/") else ""]
    for part in [p for p in word.split("/") if p]:
        found: list[str] = []
        for base in matches:
            if not any(c in part for c in _GLOB):
                found.append(f"{base}{_unhide(part)}/")
                continue
            pattern = "".join(f"[{_unhide(c)}]" if _HIDDEN <= ord(c) < _MARK else c for c in part)
            try:
                names = [n.rstrip("/") for n in vfs.listdir(sh.ctx, sh.host, sh.path(base or "."))]
            except ToolError:
                continue
            found += [f"{base}{n}/" for n in names
                      if fnmatch.fnmatchcase(n, pattern) and (part.startswith(".") or not n.startswith("."))]
        matches = found
    results = [m if word.endswith("/") else m[:-1] for m in matches if sh.exists(sh.path(m))]
    return results or [_unhide(word)]


def _redirected(sh: Session, command: Command, stdin: str) -> Result:
    """Run one simple command with its redirections (bash opens every target before running it)."""
    stream = {1: "out", 2: "err"}  # fd -> "out", "err", "null" or an absolute file path
    appends: dict[str, tuple[bool, str]] = {}  # file -> (append?, as typed)
    for op, raw in command.redirects:
        if op == "2>&1":
            stream[2] = stream[1]
            continue
        if op == ">&2":
            stream[1] = stream[2]
            continue
        if op == "<<":
            stdin = raw
            continue
        words = _glob(sh, raw)
        if len(words) != 1:
            return Result(err=f"bash: {_unhide(raw)}: ambiguous redirect\n", code=1)
        target = words[0]
        if op == "<<<":
            stdin = target + "\n"
            continue
        try:
            path = sh.path(target)
            if op == "<":
                stdin = "" if path == "/dev/null" else vfs.read(sh.ctx, sh.host, path)
                continue
            fds = (1, 2) if op.startswith("&") else (2,) if op.startswith("2") else (1,)
            if path in ("/dev/null", "/dev/stdout", "/dev/stderr"):
                for fd in fds:
                    stream[fd] = {"/dev/null": "null", "/dev/stdout": stream[1], "/dev/stderr": stream[2]}[path]
                continue
            sh.check_writable(path)
        except ToolError as exc:
            return Result(err=f"bash: {target}: {reason(exc)}\n", code=1)
        appends[path] = (op.endswith(">>"), target)
        for fd in fds:
            stream[fd] = path
    argv = [w for word in command.words for w in _glob(sh, word.replace(_STATUS, str(sh.status)))]
    result = run_argv(sh, argv, stdin) if argv else Result()
    routed: dict[str, list[str]] = {"out": [], "err": [], "null": [], **{p: [] for p in appends}}
    routed[stream[1]].append(result.out)
    routed[stream[2]].append(result.err)
    errors: list[str] = []
    for path, (append, typed) in appends.items():
        try:
            sh.write(path, "".join(routed[path]), append=append)
        except ToolError as exc:
            errors.append(f"bash: {typed}: {reason(exc)}\n")
    return Result("".join(routed["out"]), "".join(routed["err"]) + "".join(errors),
                  1 if errors else result.code, result.exit)


def run_pipeline(sh: Session, pipeline: Pipeline) -> Result:
    stdin, errors = "", []
    result = Result()
    for command in pipeline:
        result = _redirected(sh, command, stdin)
        errors.append(result.err)
        stdin = result.out[:MAX_INPUT_CHARS]
    return Result(result.out, "".join(errors), result.code, result.exit)


@dataclass
class Completed:
    """A whole command line's outcome: what the terminal would show, and the last exit status."""

    output: str
    code: int


def run(ctx: ToolContext, line: str) -> Completed:
    """Run a command line as `ctx.actor` on its host; the world's state is the only thing it touches."""
    sh = Session.open(ctx)
    sh.run = lambda argv, stdin: run_argv(sh, argv, stdin)
    env = {"HOME": sh.home, "USER": sh.user, "LOGNAME": sh.user, "PWD": sh.cwd, "HOSTNAME": sh.host,
           "SHELL": "/bin/bash", "PATH": "/usr/local/bin:/usr/bin:/bin"}
    try:
        chain = parse(line, env)
    except ShellSyntaxError as exc:
        return Completed(f"bash: {exc}", 2)
    parts: list[str] = []
    size, status = 0, 0
    for connector, pipeline in chain:
        if (connector == "&&" and status != 0) or (connector == "||" and status == 0):
            continue
        result = run_pipeline(sh, pipeline)
        parts += [result.out, result.err]
        size += len(result.out) + len(result.err)
        status = sh.status = result.code
        if result.exit or size > MAX_OUTPUT_CHARS:
            break
    output = "".join(parts)
    if len(output) > MAX_OUTPUT_CHARS:
        output = output[:MAX_OUTPUT_CHARS] + TRUNCATED
    return Completed(output.rstrip("\n"), status)


# ---- dispatch and builtins ---------------------------------------------------------------------------
CommandFn = Callable[[Session, list[str], str], Result]


def _true(sh: Session, args: list[str], stdin: str) -> Result:
    return Result()


def _false(sh: Session, args: list[str], stdin: str) -> Result:
    return Result(code=1)


def _exit(sh: Session, args: list[str], stdin: str) -> Result:
    code = int(args[0]) if args and args[0].lstrip("-").isdigit() else 0
    return Result(code=code % 256, exit=True)


def _which(sh: Session, args: list[str], stdin: str) -> Result:
    found = [f"/usr/bin/{a}" for a in args if a in COMMANDS and a not in ("cd", "exit", ":")]
    return Result("".join(f + "\n" for f in found), code=0 if len(found) == len(args) and args else 1)


USAGE = {
    "ls": "[-laAdFrR1] [FILE]...", "cat": "[-n] [FILE]...", "head": "[-n LINES | -c BYTES] [FILE]...",
    "tail": "[-n [+]LINES | -c BYTES] [FILE]...", "grep": "[-ivnrlLcwxoEFhHqs] [-e PATTERN] [-m NUM] PATTERN [FILE]...",
    "find": "[PATH]... [-name GLOB] [-iname GLOB] [-path GLOB] [-type f|d] [-maxdepth N] [-mindepth N]",
    "wc": "[-lwcm] [FILE]...", "sort": "[-rnuf] [-k FIELD] [-t SEP] [FILE]...", "uniq": "[-cdui] [FILE]",
    "echo": "[-neE] [STRING]...", "printf": "FORMAT [ARGUMENT]...", "tee": "[-a] [FILE]...",
    "cp": "[-r] SOURCE... DEST", "mv": "SOURCE... DEST", "rm": "[-rf] FILE...", "mkdir": "[-p] [-m MODE] DIR...",
    "touch": "FILE...", "chmod": "[-R] MODE FILE...  (MODE: octal like 640, or symbolic like u+x,go-w)",
    "sed": "[-n] [-i] [-E] [-e SCRIPT]... [SCRIPT] [FILE]...  (s/RE/REPL/[gip], p, d, q, =; addresses N, $, /RE/)",
    "crontab": "[-u USER] -l | -r", "systemctl": "status|start|stop|restart|is-active|list-units [NAME]...",
    "scp": "[-r] [[user@]HOST:]SRC... [[user@]HOST:]DEST", "rsync": "[-avrn] [[user@]HOST:]SRC... [[user@]HOST:]DEST",
    "curl": "[-sSfiIL] [-X METHOD] [-d DATA | -d @FILE] [-H HEADER] [-o FILE] URL...",
    "kill": "[-s SIGNAL | -SIGNAL] PID...", "date": "[-u] [-I] [-R] [+FORMAT]", "sudo": "COMMAND [ARG]...",
    "tr": "[-ds] SET1 [SET2]", "cut": "-f LIST [-d DELIM] | -c LIST [FILE]...",
}

# What each command does in the simulated world (docs/shell.md and `impress worlds shell` list it with
# USAGE and the options each command accepts): every command has an entry (a test keeps it so).
SUMMARY = {
    "ls": "List a folder (-l: kind, mode, owner, size; -a: dot files; -R: recursively).",
    "cat": "Print files (-n: number lines).",
    "find": "List files and folders under paths, filtered by name, path glob, type and depth.",
    "cp": "Copy files (-r: folders); the copier owns the copy, labels travel with the content.",
    "mv": "Move or rename files and folders (owner, mode and labels kept).",
    "rm": "Delete files (-r: folders, -f: no error for missing ones); needs write permission on the file.",
    "mkdir": "Create folders (-p: with parents, no error if present; -m: mode), owned by you.",
    "touch": "Create empty files (an existing file is left unchanged).",
    "chmod": "Change modes (octal or symbolic; -R: recursively); only the owner or an admin may.",
    "pwd": "Print the working directory.",
    "cd": "Change the working directory (the agent's persists between calls); needs the folder's x bit.",
    "head": "Print the first lines (-n) or bytes (-c) of files.",
    "tail": "Print the last lines (-n, or -n +N from line N) or bytes (-c) of files.",
    "grep": "Print lines matching a regular expression (basic, -E extended, -F fixed); -r searches folders; "
            "-A/-B/-C print context lines.",
    "wc": "Count lines, words, characters, bytes.",
    "sort": "Sort lines (-r reverse, -n numeric, -u unique, -f case-blind, -k field, -t separator).",
    "uniq": "Collapse repeated adjacent lines (-c count, -d only repeated, -u only unique, -i case-blind).",
    "echo": "Print its arguments (-n: no newline; -e: backslash escapes).",
    "printf": "Print formatted text (%s %d %f and escapes).",
    "tee": "Copy stdin to files and stdout (-a: append).",
    "sed": "Stream editor: s///, p, d, q, = with line, $ and /RE/ addresses; -i edits files in place.",
    "tr": "Translate, delete (-d) or squeeze (-s) characters.",
    "cut": "Print selected fields (-f, with -d) or characters (-c) of each line.",
    "whoami": "Print your account name.",
    "id": "Print your account and groups.",
    "hostname": "Print the host's name.",
    "date": "Print the world clock's time (+FORMAT, -I, -R).",
    "ps": "List the host's processes (PID, user, command).",
    "kill": "Stop a process (its user or an admin may; signal 0 and CONT leave it running).",
    "crontab": "List (-l) the host's scheduled jobs as cron lines, or cancel your own (-r); -u USER needs "
               "`scheduler`.",
    "systemctl": "Show services of the host; start/stop/restart need `admin`.",
    "scp": "Copy files between hosts (HOST:PATH; reachability as the world's network says; -r: folders).",
    "rsync": "Copy files between hosts like scp (-a/-r: folders, -n: dry run, -v: list files).",
    "curl": "Request a world endpoint (GET by default; -X, -d, -o FILE); a POST or data is recorded by it.",
    "sudo": "Run a command if you hold `admin` (otherwise: a password is required).",
    "true": "Exit 0.",
    ":": "Exit 0.",
    "false": "Exit 1.",
    "exit": "Stop running the rest of the command line.",
    "which": "Print the path of known commands.",
}

COMMANDS: dict[str, CommandFn] = {
    **FILE_COMMANDS, **TEXT_COMMANDS, **SYSTEM_COMMANDS, "true": _true, ":": _true, "false": _false, "exit": _exit,
    "which": _which,
}


def run_argv(sh: Session, argv: list[str], stdin: str) -> Result:
    """Run one command (already expanded) with `stdin`; unknown programs are 'command not found'."""
    name, args = argv[0], argv[1:]
    if "/" in name:
        path = sh.path(name)
        if posixpath.dirname(path) in ("/bin", "/usr/bin", "/usr/local/bin") and posixpath.basename(path) in COMMANDS:
            name = posixpath.basename(path)
        elif sh.is_dir(path):
            return Result(err=f"bash: {name}: Is a directory\n", code=126)
        elif not sh.is_file(path):
            return Result(err=f"bash: {name}: No such file or directory\n", code=127)
        elif not sh.may(sh.entry(path), 1):
            return Result(err=f"bash: {name}: Permission denied\n", code=126)
        else:
            return Result(err=f"bash: {name}: cannot execute binary file: Exec format error\n", code=126)
    fn = COMMANDS.get(name)
    if fn is None:
        return Result(err=f"bash: {name}: command not found\n", code=127)
    if "--help" in args and name in USAGE:
        return Result(f"Usage: {name} {USAGE[name]}\n")
    try:
        return fn(sh, args, stdin)
    except BadUsage as exc:
        message = str(exc) if str(exc).startswith("Usage:") else f"{name}: {exc}"
        return Result(err=f"{message}\nTry '{name} --help' for more information.\n", code=exc.code)
    except ToolError as exc:
        return Result(err=f"{name}: {exc}\n", code=1)
