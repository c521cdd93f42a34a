"""The simulated shell's text commands: filters that read files or stdin and print (grep, sed,
head, tail, wc, sort, uniq, tr, cut, echo, printf, tee). Only `sed -i` and `tee` write, through the session.
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from impress_sim.envs.regexcheck import regex_risk
from impress_sim.envs.shell.commands import (
    MAX_INPUT_CHARS,
    BadUsage,
    Result,
    Session,
    errs,
    getopts,
    lines_out,
    read_inputs,
    reason,
    shown,
    walk,
)
from impress_sim.envs.tools import vfs
from impress_sim.envs.tools.base import ToolError

_POSIX_CLASSES = {
    "[:alpha:]": "a-zA-Z", "[:digit:]": "0-9", "[:alnum:]": "a-zA-Z0-9", "[:upper:]": "A-Z",
    "[:lower:]": "a-z", "[:space:]": r"\s", "[:blank:]": r" \t", "[:punct:]": r"!-/:-@\[-`{-~",
    "[:xdigit:]": "0-9A-Fa-f", "[:word:]": r"\w",
}


def to_python_regex(pattern: str, extended: bool) -> str:
    """A POSIX basic (or, if `extended`, extended) regex as a Python regex."""
    for cls, chars in _POSIX_CLASSES.items():
        pattern = pattern.replace(cls, chars)
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            out.append(r"\b" if n in "<>" else n if not extended and n in "|(){}+?" else "\\" + n)
            i += 2
            continue
        out.append("\\" + c if not extended and c in "|(){}+?" else c)
        i += 1
    return "".join(out)



# ---- filters ----------------------------------------------------------------------------------------
def _count(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadUsage(f"invalid number of {what}: '{value}'") from None


def _context(value: str) -> int:
    """grep's -A/-B/-C argument: a line count (GNU grep exits 2 on anything else)."""
    if not value.isdigit():
        raise BadUsage(f"grep: {value}: invalid context length argument", 2)
    return int(value)


def _head_tail(sh: Session, cmd: str, args: list[str], stdin: str) -> Result:
    args = [f"-n{a[1:]}" if re.fullmatch(r"-\d+", a) else a for a in args]
    opts, paths = getopts(args, "qvfF", "nc", {"lines": "n=", "bytes": "c=", "quiet": "q", "follow": "f"})
    by_bytes = "c" in opts
    raw = opts.value("c" if by_bytes else "n", "10")
    from_start = cmd == "tail" and raw.startswith("+")
    n = _count(raw.lstrip("+"), "bytes" if by_bytes else "lines")
    got, messages = read_inputs(sh, cmd, paths, stdin, "{cmd}: cannot open '{path}' for reading: {reason}")
    blocks: list[str] = []
    for typed, text in got:
        units: list[str] = list(text) if by_bytes else text.splitlines(keepends=True)
        if from_start:
            units = units[max(n - 1, 0) :]
        elif cmd == "head":
            units = units[:n]
        else:
            units = units[-n:] if n > 0 else []
        name = "standard input" if typed == "-" else typed
        header = f"==> {name} <==\n" if len(paths) > 1 and "q" not in opts else ""
        blocks.append(header + "".join(units))
    return Result("\n".join(blocks), errs(messages), 1 if messages else 0)


def head(sh: Session, args: list[str], stdin: str) -> Result:
    return _head_tail(sh, "head", args, stdin)


def tail(sh: Session, args: list[str], stdin: str) -> Result:
    return _head_tail(sh, "tail", args, stdin)


def grep(sh: Session, args: list[str], stdin: str) -> Result:
    longs = {
        "ignore-case": "i", "invert-match": "v", "line-number": "n", "recursive": "r", "files-with-matches": "l",
        "files-without-match": "L", "count": "c", "word-regexp": "w", "line-regexp": "x", "only-matching": "o",
        "extended-regexp": "E", "fixed-strings": "F", "no-filename": "h", "with-filename": "H", "quiet": "q",
        "silent": "q", "no-messages": "s", "regexp": "e=", "max-count": "m=", "include": "include=",
        "after-context": "A=", "before-context": "B=", "context": "C=",
    }
    opts, rest = getopts(args, "ivnrRlLcwxoEFhHqsPI", "emABC", longs, code=2)
    patterns = opts.values("e")
    if not patterns:
        if not rest:
            raise BadUsage("Usage: grep [OPTION]... PATTERNS [FILE]...", 2)
        patterns = [rest.pop(0)]
    parts = []
    for p in patterns:
        p = re.escape(p) if "F" in opts else to_python_regex(p, "E" in opts or "P" in opts)
        p = rf"\b(?:{p})\b" if "w" in opts else p
        parts.append(rf"^(?:{p})$" if "x" in opts else p)
    try:
        regex = re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE if "i" in opts else 0)
    except (re.error, RecursionError, OverflowError):
        return Result(err="grep: Invalid regular expression\n", code=2)
    if (risk := regex_risk(regex.pattern, regex.flags)) is not None:  # see impress_sim.envs.regexcheck
        return Result(err=f"grep: regular expression refused: {risk} can take exponential time\n", code=2)
    recursive = "r" in opts or "R" in opts
    messages: list[str] = []
    sources: list[tuple[str, str]] = []  # (shown name, absolute path or "-")
    for typed in rest or (["."] if recursive else ["-"]):
        path = "-" if typed == "-" else sh.path(typed)
        if recursive and path != "-" and sh.is_dir(path):
            names = [(shown(typed, path, f), f) for f, kind in walk(sh, path) if kind == "f"]
            sources += [(n[2:], f) for n, f in names] if not rest else names  # bare `grep -r`: no "./"
        else:
            sources.append(("(standard input)" if typed == "-" else typed, path))
    include = opts.value("include")
    if include:
        sources = [s for s in sources if fnmatch.fnmatchcase(posixpath.basename(s[1]), include)]
    named = ("H" in opts or recursive or len(sources) > 1) and "h" not in opts
    limit = _count(opts.value("m", "0"), "matches")
    around = _context(opts.value("C", "0"))
    after, before = _context(opts.value("A", str(around))), _context(opts.value("B", str(around)))
    listing = not ("c" in opts or "l" in opts or "L" in opts or "q" in opts)
    out: list[str] = []
    matched = False
    size = 0
    for name, path in sources:
        if size > MAX_INPUT_CHARS:
            break
        try:
            text = stdin if path == "-" else vfs.read(sh.ctx, sh.host, path)
        except ToolError as exc:
            messages.append(f"grep: {name}: {reason(exc)}")
            continue
        size += len(text)
        hits = 0
        lines = text.splitlines()
        printed = 0  # line number of the last line printed (context: each line once, `--` between groups)
        for n, line in enumerate(lines, 1):
            if bool(regex.search(line)) == ("v" in opts):
                continue
            hits += 1
            if listing:
                first = max(n - before, printed + 1)
                if (after or before) and printed and first > printed + 1:
                    out.append("--")
                for k in range(first, n):
                    out.append((f"{name}-" if named else "") + (f"{k}-" if "n" in opts else "") + lines[k - 1])
                prefix = (f"{name}:" if named else "") + (f"{n}:" if "n" in opts else "")
                shown_parts = [m.group(0) for m in regex.finditer(line)] if "o" in opts and "v" not in opts else [line]
                out += [prefix + s for s in shown_parts if s]
                printed = n
                for k in range(n + 1, min(n + after, len(lines)) + 1):
                    if bool(regex.search(lines[k - 1])) != ("v" in opts):
                        break  # a match of its own: printed as one, with its own context
                    out.append((f"{name}-" if named else "") + (f"{k}-" if "n" in opts else "") + lines[k - 1])
                    printed = k
            if limit and hits >= limit:
                break
        matched = matched or hits > 0
        if "c" in opts:
            out.append(f"{name}:{hits}" if named else str(hits))
        elif ("l" in opts and hits) or ("L" in opts and not hits):
            out.append(name)
    code = 0 if matched else 1
    if messages and not ("q" in opts and matched):
        code = 2
    return Result("" if "q" in opts else lines_out(out), "" if "s" in opts else errs(messages), code)


def wc(sh: Session, args: list[str], stdin: str) -> Result:
    opts, paths = getopts(args, "lwcm", longs={"lines": "l", "words": "w", "bytes": "c", "chars": "m"})
    keys = [k for k in "lwmc" if k in opts] or ["l", "w", "c"]
    got, messages = read_inputs(sh, "wc", paths, stdin)
    rows: list[tuple[list[int], str]] = []
    for typed, text in got:
        counts = {"l": text.count("\n"), "w": len(text.split()), "m": len(text), "c": len(text.encode())}
        rows.append(([counts[k] for k in keys], "" if typed == "-" else typed))
    if len(got) > 1:
        rows.append(([sum(r[0][i] for r in rows) for i in range(len(keys))], "total"))
    single = len(rows) == 1 and len(keys) == 1
    width = 1 if single else max([len(str(n)) for r in rows for n in r[0]] + [7 if "-" in dict(got) else 1])
    out = [" ".join(f"{n:>{width}}" for n in nums) + (f" {name}" if name else "") for nums, name in rows]
    return Result(lines_out(out), errs(messages), 1 if messages else 0)


def sort(sh: Session, args: list[str], stdin: str) -> Result:
    longs = {
        "reverse": "r", "numeric-sort": "n", "unique": "u", "ignore-case": "f", "key": "k=", "field-separator": "t=",
    }
    opts, paths = getopts(args, "rnufb", "kt", longs)
    got, messages = read_inputs(sh, "sort", paths, stdin, "{cmd}: cannot read: {path}: {reason}")
    lines = [line for _, text in got for line in text.splitlines()]
    sep = opts.value("t") or None
    field_no = _count(opts.value("k", "0").split(",")[0].split(".")[0] or "0", "fields")

    def key(line: str) -> tuple[float, str]:
        if field_no:
            fields = line.split(sep)
            line = fields[field_no - 1] if len(fields) >= field_no else ""
        text = line.lower() if "f" in opts else line
        if "n" in opts:
            m = re.match(r"\s*-?\d+(\.\d+)?", line)
            return (float(m.group(0)) if m else 0.0, text)
        return (0.0, text)

    lines.sort(key=key, reverse="r" in opts)
    if "u" in opts:
        seen: set[tuple[float, str]] = set()
        lines = [x for x in lines if not (key(x) in seen or seen.add(key(x)))]  # type: ignore[func-returns-value]
    return Result(lines_out(lines), errs(messages), 2 if messages else 0)


def uniq(sh: Session, args: list[str], stdin: str) -> Result:
    opts, paths = getopts(args, "cdui", longs={"count": "c", "repeated": "d", "unique": "u", "ignore-case": "i"})
    got, messages = read_inputs(sh, "uniq", paths[:1], stdin)
    groups: list[list[str]] = []
    for line in "".join(t for _, t in got).splitlines():
        same = bool(groups) and (groups[-1][0].lower() == line.lower() if "i" in opts else groups[-1][0] == line)
        if same:
            groups[-1].append(line)
        else:
            groups.append([line])
    if "d" in opts:
        groups = [g for g in groups if len(g) > 1]
    if "u" in opts:
        groups = [g for g in groups if len(g) == 1]
    out = [f"{len(g):>7} {g[0]}" if "c" in opts else g[0] for g in groups]
    return Result(lines_out(out), errs(messages), 1 if messages else 0)


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "0": "\0"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def echo(sh: Session, args: list[str], stdin: str) -> Result:
    flags = ""
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags += args.pop(0)[1:]
    text = " ".join(args)
    if "e" in flags:
        text = _unescape(text)
    return Result(text + ("" if "n" in flags else "\n"))


def _printf_once(fmt: str, values: list[str]) -> tuple[str, int]:
    """One pass of a printf format over `values`: (text, how many values it used)."""
    used = 0

    def fill(m: re.Match[str]) -> str:
        nonlocal used
        if m.group(0) == "%%":
            return "%"
        value = values[used] if used < len(values) else ""
        used += 1
        width = m.group(1)
        if width and abs(int(width)) > MAX_INPUT_CHARS:
            raise ValueError(f"printf: %{width}{m.group(2)}: field width too large")
        if m.group(2) in "di":
            number = int(value) if re.fullmatch(r"-?\d+", value) else 0
            return f"{number:{width}d}" if width else str(number)
        return f"{value:{width.replace('-', '<') if width.startswith('-') else '>' + width}}" if width else value

    return re.sub(r"%(-?\d*)([sdi])|%%", fill, fmt), used


def printf(sh: Session, args: list[str], stdin: str) -> Result:
    if not args:
        return Result(err="printf: usage: printf [-v var] format [arguments]\n", code=2)
    fmt, values = _unescape(args[0]), args[1:]
    out: list[str] = []
    while True:
        try:
            text, used = _printf_once(fmt, values)
        except ValueError as exc:  # a width no shell could allocate
            return Result(err=f"{exc}\n", code=1)
        out.append(text)
        values = values[used:]
        if not values or not used:
            return Result("".join(out))


def tee(sh: Session, args: list[str], stdin: str) -> Result:
    opts, paths = getopts(args, "a", longs={"append": "a"})
    messages = []
    for typed in paths:
        try:
            sh.write(sh.path(typed), stdin, append="a" in opts)
        except ToolError as exc:
            messages.append(f"tee: {typed}: {reason(exc)}")
    return Result(stdin, errs(messages), 1 if messages else 0)


# ---- sed -------------------------------------------------------------------------------------------
@dataclass
class _SedCommand:
    name: str  # s, p, d, q
    start: str | None = None  # address: a line number, "$", or "/regex/"
    end: str | None = None
    regex: re.Pattern[str] | None = None
    replacement: str = ""
    flags: str = ""
    active: bool = False


def sed_split(script: str, i: int, delim: str) -> tuple[str, int]:
    """Text from `i` up to the next unescaped `delim` (an escaped delimiter becomes literal)."""
    out: list[str] = []
    while i < len(script):
        c = script[i]
        if c == "\\" and i + 1 < len(script):
            out.append(script[i + 1] if script[i + 1] == delim else script[i : i + 2])
            i += 2
            continue
        if c == delim:
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise BadUsage(f"-e expression #1, char {len(script)}: unterminated `s' command")


def _sed_parse(script: str, extended: bool) -> list[_SedCommand]:
    commands: list[_SedCommand] = []
    i = 0

    def address() -> str | None:
        nonlocal i
        if i < len(script) and script[i] == "/":
            body, i = sed_split(script, i + 1, "/")
            return "/" + body
        m = re.match(r"\d+|\$", script[i:])
        if m is None:
            return None
        i += len(m.group(0))
        return m.group(0)

    def compile_(pattern: str, flags: str = "") -> re.Pattern[str]:
        try:
            regex = re.compile(to_python_regex(pattern, extended), re.IGNORECASE if set("iI") & set(flags) else 0)
        except (re.error, RecursionError, OverflowError):
            raise BadUsage(f"-e expression #1, char {i}: Invalid regular expression") from None
        if (risk := regex_risk(regex.pattern, regex.flags)) is not None:  # see impress_sim.envs.regexcheck
            raise BadUsage(f"-e expression #1, char {i}: regular expression refused: {risk} can take "
                           f"exponential time")
        return regex

    while i < len(script):
        if script[i] in " \t\n;":
            i += 1
            continue
        cmd = _SedCommand("")
        cmd.start = address()
        if cmd.start is not None and i < len(script) and script[i] == ",":
            i += 1
            cmd.end = address()
        if i >= len(script):
            raise BadUsage(f"-e expression #1, char {i}: missing command")
        cmd.name = script[i]
        i += 1
        if cmd.name == "s":
            if i >= len(script):
                raise BadUsage(f"-e expression #1, char {i}: unterminated `s' command")
            delim = script[i]
            pattern, i = sed_split(script, i + 1, delim)
            cmd.replacement, i = sed_split(script, i, delim)
            m = re.match(r"[gpiI0-9]*", script[i:])
            cmd.flags = m.group(0) if m else ""
            i += len(cmd.flags)
            cmd.regex = compile_(pattern, cmd.flags)
        elif cmd.name not in "pdq=":
            raise BadUsage(f"-e expression #1, char {i}: unknown command: `{cmd.name}'")
        for addr in (cmd.start, cmd.end):
            if addr and addr.startswith("/"):
                compile_(addr[1:])
        commands.append(cmd)
    return commands


def _sed_expand(replacement: str, m: re.Match[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(replacement):
        c = replacement[i]
        if c == "\\" and i + 1 < len(replacement):
            n = replacement[i + 1]
            if n.isdigit() and int(n) <= m.re.groups:
                out.append(m.group(int(n)) or "")
            else:
                out.append({"n": "\n", "t": "\t"}.get(n, n))
            i += 2
            continue
        out.append(m.group(0) if c == "&" else c)
        i += 1
    return "".join(out)


def _sed_run(commands: list[_SedCommand], text: str, quiet: bool, extended: bool) -> str:
    lines = text.split("\n") if text else []
    trailing = text.endswith("\n")
    if trailing:
        lines.pop()
    out: list[str] = []

    def hit(addr: str, n: int, line: str) -> bool:
        if addr == "$":
            return n == len(lines)
        if addr.startswith("/"):
            return re.search(to_python_regex(addr[1:], extended), line) is not None
        return n == int(addr)

    for n, line in enumerate(lines, 1):
        deleted = stop = False
        for cmd in commands:
            if cmd.start is not None:
                if cmd.end is None:
                    if not hit(cmd.start, n, line):
                        continue
                elif cmd.active:
                    cmd.active = not (hit(cmd.end, n, line) if not cmd.end.isdigit() else n >= int(cmd.end))
                elif hit(cmd.start, n, line):
                    cmd.active = not (cmd.end.isdigit() and int(cmd.end) <= n)
                else:
                    continue
            if cmd.name == "s" and cmd.regex is not None:
                count = 0 if "g" in cmd.flags else 1
                line, subs = cmd.regex.subn(functools.partial(_sed_expand, cmd.replacement), line, count=count)
                if subs and "p" in cmd.flags:
                    out.append(line)
            elif cmd.name == "p":
                out.append(line)
            elif cmd.name == "=":
                out.append(str(n))
            elif cmd.name == "d":
                deleted = True
                break
            elif cmd.name == "q":
                stop = True
                break
        if not deleted and not quiet:
            out.append(line)
        if stop:
            break
    return "\n".join(out) + ("\n" if out and trailing else "")


def sed(sh: Session, args: list[str], stdin: str) -> Result:
    args = ["-i" if a.startswith("-i") else a for a in args]  # drop a backup suffix: -i.bak
    longs = {"in-place": "i", "quiet": "n", "silent": "n", "regexp-extended": "E", "expression": "e="}
    opts, ops = getopts(args, "niErsu", "e", longs)
    extended = "E" in opts or "r" in opts
    scripts = opts.values("e")
    if not scripts:
        if not ops:
            raise BadUsage("Usage: sed [OPTION]... {script-only-if-no-other-script} [input-file]...")
        scripts = [ops.pop(0)]
    if "i" in opts and ops and ops[0] == "":  # BSD-style `sed -i '' ...`
        ops.pop(0)
    try:
        commands = _sed_parse("\n".join(scripts), extended)
    except BadUsage as exc:
        return Result(err=f"sed: {exc}\n", code=1)
    if "i" in opts:
        if not ops:
            return Result(err="sed: no input files\n", code=1)
        messages: list[str] = []
        for typed in ops:
            path = sh.path(typed)
            try:
                text = vfs.read(sh.ctx, sh.host, path)
            except ToolError as exc:
                messages.append(f"sed: can't read {typed}: {reason(exc)}")
                continue
            for cmd in commands:
                cmd.active = False
            try:
                sh.write(path, _sed_run(commands, text, "n" in opts, extended))
            except ToolError as exc:
                messages.append(f"sed: couldn't open temporary file {posixpath.dirname(path)}/sedXk2Lq9: {reason(exc)}")
        return Result(err=errs(messages), code=4 if messages else 0)
    got, messages = read_inputs(sh, "sed", ops, stdin, "{cmd}: can't read {path}: {reason}")
    text = "".join(t for _, t in got)
    return Result(_sed_run(commands, text, "n" in opts, extended), errs(messages), 2 if messages else 0)



_TR_CLASSES = {
    "[:upper:]": "A-Z", "[:lower:]": "a-z", "[:digit:]": "0-9", "[:alpha:]": "a-zA-Z", "[:alnum:]": "a-zA-Z0-9",
    "[:space:]": " \t\n\r\f\v", "[:blank:]": " \t", "[:punct:]": "!-/:-@[-`{-~",
}


def _tr_set(spec: str) -> str:
    """A tr character set with classes, escapes and ranges (`a-z`) spelled out."""
    for cls, chars in _TR_CLASSES.items():
        spec = spec.replace(cls, chars)
    spec = _unescape(spec)
    out: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-" and spec[i] <= spec[i + 2]:
            out += [chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1)]
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


def tr(sh: Session, args: list[str], stdin: str) -> Result:
    opts, sets = getopts(args, "dsc", longs={"delete": "d", "squeeze-repeats": "s"})
    if not sets or len(sets) > 2 or (len(sets) < 2 and "d" not in opts and "s" not in opts):
        raise BadUsage("missing operand" if not sets else f"missing operand after '{sets[-1]}'")
    first = _tr_set(sets[0])
    if "d" in opts:
        text = "".join(c for c in stdin if c not in first)
        squeeze = _tr_set(sets[1]) if len(sets) > 1 else ""
    elif len(sets) > 1:
        second = _tr_set(sets[1])
        second = (second + second[-1:] * len(first))[: len(first)] if second else ""
        text = stdin.translate(str.maketrans(first, second)) if second else stdin
        squeeze = second
    else:
        text, squeeze = stdin, first
    if "s" in opts and squeeze:
        text = re.sub("([" + re.escape(squeeze) + "])\\1+", r"\1", text)
    return Result(text)


def _fields(spec: str) -> list[tuple[int, int]]:
    ranges = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d*)(-?)(\d*)", part)
        if m is None or not (m.group(1) or m.group(3)) or m.group(1) == "0":
            raise BadUsage(f"invalid field value '{part}'")
        start = int(m.group(1) or 1)
        end = int(m.group(3)) if m.group(3) else (1 << 30 if m.group(2) else start)
        ranges.append((start, end))
    return ranges


def cut(sh: Session, args: list[str], stdin: str) -> Result:
    opts, paths = getopts(args, "s", "dfcb", {"delimiter": "d=", "fields": "f=", "characters": "c=", "bytes": "b="})
    if sum(k in opts for k in "fcb") != 1:
        raise BadUsage("you must specify a list of bytes, characters, or fields")
    key = next(k for k in "fcb" if k in opts)
    ranges = _fields(opts.value(key))
    delim = opts.value("d", "\t")
    if len(delim) != 1:
        raise BadUsage("the delimiter must be a single character")
    got, messages = read_inputs(sh, "cut", paths, stdin)
    out: list[str] = []
    for line in "".join(t for _, t in got).splitlines():
        parts = line.split(delim) if key == "f" else list(line)
        if key == "f" and len(parts) == 1:
            if "s" not in opts:
                out.append(line)
            continue
        keep = [p for i, p in enumerate(parts, 1) if any(a <= i <= b for a, b in ranges)]
        out.append((delim if key == "f" else "").join(keep))
    return Result(lines_out(out), errs(messages), 1 if messages else 0)


TEXT_COMMANDS: dict[str, Callable[[Session, list[str], str], Result]] = {
    "head": head, "tail": tail, "grep": grep, "wc": wc, "sort": sort, "uniq": uniq, "echo": echo,
    "printf": printf, "tee": tee, "sed": sed, "tr": tr, "cut": cut,
}
