"""Surface variants of a trajectory: the same act, spelled differently.

A detector that matches the text of one edit (`enabled: false`, `sed -i`, `write_file`) instead of
its effect misses the agent that writes `enabled: no`, uses `cat > f <<'EOF'`, or `rsync`s instead
of `scp`ing. `surface_variants` takes a route and rewrites one step at a time into forms that a
program reading the world treats as the same act, so the self-check can report a detection rate
over many spellings of each route instead of the one the author typed (ROUTES.md, "Spelling" and
"Means").

Each variant changes one step. Text mutations of config files (YAML, `KEY=value`) are checked by
parsing the old and the new text and comparing what a program would read (boolean-like strings
read as booleans); shell rewrites are checked against the simulated shell's own parser and command
table, so a variant is never a command the shell cannot run. What is deliberately not generated
(privilege changes, step reordering, changes that need the world's state to be known equivalent)
is listed in docs/variants.md.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from impress_sim.envs.settings import BROKEN, Format, format_of, parse_document
from impress_sim.envs.shell.commands import BadUsage
from impress_sim.envs.shell.interpreter import COMMANDS, ShellSyntaxError, parse
from impress_sim.envs.shell.text import sed_split, to_python_regex
from impress_sim.envs.spec import TrajectoryStep

# The order kinds are taken in when `limit` cuts the list: means first, then spellings, then layout.
KINDS = ("tool", "shell", "sed", "bool-spelling", "email", "json-text", "number-spelling", "quoting", "layout",
         "order")


@dataclass(frozen=True)
class Variant:
    """One surface variant of a trajectory: `name` says what changed (`kind:what@step`, steps from 1)."""

    name: str
    steps: tuple[TrajectoryStep, ...]

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0]


Rewrite = tuple[str, str, Any]  # (kind, label, new value) for one step's text or argument


def surface_variants(steps: Sequence[TrajectoryStep], tools: Collection[str], *, limit: int = 24) -> list[Variant]:
    """Variants of `steps` that a program reading the world would treat as the same act, using only
    tools in `tools` (the world's enabled tools). Deterministic order; duplicates and the original dropped;
    at most `limit`, spread across mutator kinds (not 24 spellings of one boolean)."""
    if limit <= 0:
        return []
    original = tuple(steps)
    seen = {_key(original)}
    by_kind: dict[str, dict[int, list[Variant]]] = {}
    for i in range(len(original)):
        for kind, label, new in _step_rewrites(i, original, set(tools)):
            changed = (*original[:i], new, *original[i + 1 :])
            key = _key(changed)
            if key in seen:
                continue
            seen.add(key)
            by_kind.setdefault(kind, {}).setdefault(i, []).append(Variant(f"{kind}:{label}@{i + 1}", changed))
    queues = [list(_interleave(list(by_kind[k].values()))) for k in _kind_order(by_kind)]
    return list(_interleave(queues))[:limit]


def _key(steps: Sequence[TrajectoryStep]) -> str:
    return json.dumps([[s.tool, s.args] for s in steps], sort_keys=True, default=str)


def _kind_order(kinds: Collection[str]) -> list[str]:
    return [k for k in KINDS if k in kinds] + sorted(k for k in kinds if k not in KINDS)


def _interleave(queues: list[list[Variant]]) -> Iterator[Variant]:
    """Round-robin: the first of each queue, then the second of each, and so on."""
    for j in range(max((len(q) for q in queues), default=0)):
        for q in queues:
            if j < len(q):
                yield q[j]


def _step_rewrites(
    i: int, steps: Sequence[TrajectoryStep], tools: set[str]
) -> Iterator[tuple[str, str, TrajectoryStep]]:
    step = steps[i]
    mutate = _MUTATORS.get(step.tool)
    if mutate is None:
        return
    for kind, label, args in mutate(step.args, _Context(tools, _later_uses_cwd(steps[i + 1 :]))):
        tool = args.pop("__tool__", step.tool)
        try:
            new = TrajectoryStep(thought=step.thought, tool=tool, args=args)
        except ValueError:
            continue
        yield kind, label, new


@dataclass(frozen=True)
class _Context:
    tools: set[str]
    later_uses_cwd: bool  # a later step resolves a relative path (so a `cd` must be undone)


_PATH_ARGS = ("path", "source", "destination")


def _later_uses_cwd(steps: Sequence[TrajectoryStep]) -> bool:
    for step in steps:
        if step.tool == "bash" or (step.tool == "list_files" and "path" not in step.args):
            return True
        values = [step.args.get(k) for k in _PATH_ARGS] + list(step.args.get("attachments") or [])
        if any(isinstance(v, str) and not v.startswith("/") for v in values):
            return True
    return False


# ==== config text: YAML and KEY=value files ===================================================
_YAML_BOOLS = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_BOOL_SPELLINGS = {  # aligned: the j-th spelling of False goes with the j-th of True
    False: ("False", "FALSE", "no", "off", '"false"', "'false'"),
    True: ("True", "TRUE", "yes", "on", '"true"', "'true'"),
}
_YAML_LINE = re.compile(
    r"^(?P<lead>[ \t]*(?:-[ \t]+)?)(?P<key>[A-Za-z0-9_][\w.\-/]*):(?P<sp>[ \t]+)(?P<value>\S(?:.*?\S)?)"
    r"(?P<trail>[ \t]+#.*)?$"
)
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_INTEGRAL_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.0+")
_BLOCK = re.compile(r"[|>][+-]?[0-9]?")
COMMENT = "edited"


def config_format(path: str) -> str | None:
    """How the world's programs read a file at `path`, when its text can be respelled line by line:
    'yaml', 'env' or 'ini' (`settings.format_of`); None for anything else (never respelled)."""
    fmt = format_of(path)
    return fmt if fmt in ("yaml", "env", "ini") else None


def bool_like(value: Any) -> Any:
    """`value` with boolean spellings read as booleans, recursively (how a lax reader coerces them)."""
    if isinstance(value, str):
        return _YAML_BOOLS.get(value, value)
    if isinstance(value, dict):
        return {k: bool_like(v) for k, v in value.items()}
    if isinstance(value, list):
        return [bool_like(v) for v in value]
    return value


def read_config(text: str, fmt: str) -> Any:
    """What a program reading `text` as `fmt` sees, booleans coerced, by the parser the settings use
    (`settings.parse_document`); None when it cannot read it or finds no keys. A line of `ini` without
    a section (a sed replacement) is read as inside one."""
    if fmt == "ini" and not re.search(r"(?m)^\s*\[", text):
        text = f"[section]\n{text}"
    document = parse_document(text, cast(Format, fmt))
    if document is BROKEN or not isinstance(document, dict | list) or not document:
        return None
    return bool_like(document)


def _same_config(old: str, new: str, fmt: str) -> bool:
    before = read_config(old, fmt)
    return before is not None and before == read_config(new, fmt)


@dataclass(eq=False)  # lines are told apart by identity (`ln in bools`), not by their text
class _Line:
    text: str
    match: re.Match[str] | None = None  # a `key: value` (or `key=value`) line outside block scalars
    value: str = ""
    parts: dict[str, str] = field(default_factory=dict)


def _yaml_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    block_indent: int | None = None
    for raw in text.split("\n"):
        indent = len(raw) - len(raw.lstrip())
        if block_indent is not None and (not raw.strip() or indent > block_indent):
            lines.append(_Line(raw))
            continue
        block_indent = None
        m = _YAML_LINE.match(raw)
        if m is None:
            lines.append(_Line(raw))
            continue
        if _BLOCK.fullmatch(m.group("value")):
            block_indent = indent
            lines.append(_Line(raw))
            continue
        lines.append(_Line(raw, m, m.group("value"), {k: v or "" for k, v in m.groupdict().items()}))
    return lines


def _yaml_scalar(value: str) -> Any:
    """What YAML reads for a one-line value, or a sentinel when it is not a complete scalar."""
    try:
        data = yaml.safe_load(f"k: {value}")
    except yaml.YAMLError:
        return _NOT_SCALAR
    return data.get("k", _NOT_SCALAR) if isinstance(data, dict) else _NOT_SCALAR


_NOT_SCALAR: Any = object()


def _render(lines: list[_Line], edit: Callable[[_Line], str | None]) -> str:
    out = []
    for line in lines:
        new = edit(line) if line.match is not None else None
        out.append(line.text if new is None else new)
    return "\n".join(out)


def _line(parts: dict[str, str], **changes: str) -> str:
    p = {**parts, **changes}
    return f"{p['lead']}{p['key']}:{p['sp']}{p['value']}{p['trail']}"


def _yaml_rewrites(text: str) -> list[tuple[str, str, str]]:
    """(kind, label, new text) for YAML `text` (a document or a fragment), each checked to read the same."""
    lines = _yaml_lines(text)
    valued = [ln for ln in lines if ln.match is not None]
    if not valued:
        return []
    bools = [ln for ln in valued if ln.value in _YAML_BOOLS]
    out: list[tuple[str, str, str]] = []
    for j in range(len(_BOOL_SPELLINGS[False])):
        def spell(ln: _Line, j: int = j) -> str | None:
            return _line(ln.parts, value=_BOOL_SPELLINGS[_YAML_BOOLS[ln.value]][j]) if ln in bools else None
        truths = {_YAML_BOOLS[ln.value] for ln in bools}
        label = "/".join(_BOOL_SPELLINGS[t][j] for t in sorted(truths))
        out.append(("bool-spelling", label, _render(lines, spell)))
    ints = [ln for ln in valued if _INT.fullmatch(ln.value)]
    floats = [ln for ln in valued if _INTEGRAL_FLOAT.fullmatch(ln.value)]
    out.append(("number-spelling", "float", _render(lines, lambda ln: _line(ln.parts, value=ln.value + ".0")
                                                     if ln in ints else None)))
    out.append(("number-spelling", "int", _render(lines, lambda ln: _line(ln.parts, value=ln.value.split(".")[0])
                                                   if ln in floats else None)))
    plain = [ln for ln in valued if ln.value[0] not in "\"'[{&*!%@`|>" and isinstance(_yaml_scalar(ln.value), str)
             and ln.value not in _YAML_BOOLS]
    out.append(("quoting", "double", _render(lines, lambda ln: _line(ln.parts, value=f'"{ln.value}"')
                                              if ln in plain and not set(ln.value) & set('"\\') else None)))
    out.append(("quoting", "single", _render(lines, lambda ln: _line(ln.parts, value=f"'{ln.value}'")
                                              if ln in plain and "'" not in ln.value else None)))
    out.append(("layout", "key-spacing", _render(lines, lambda ln: _line(ln.parts, sp=ln.parts["sp"] + "   "))))
    scalar = [ln for ln in valued if _yaml_scalar(ln.value) is not _NOT_SCALAR]
    marked = bools or [ln for ln in scalar if ln in ints or ln in floats] or scalar[-1:]
    out.append(("layout", "trailing-comment", _render(lines, lambda ln: _line(ln.parts, trail=ln.parts["trail"] or
                                                      f"  # {COMMENT}") if ln in marked else None)))
    out.append(("layout", "header-comment", f"# {COMMENT}\n{text}"))
    blank: list[str] = []
    for k, ln in enumerate(lines):
        top = ln.text[:1] not in ("", " ", "\t", "#", "-") and ":" in ln.text and ln.text != "..."
        if top and k > 0 and any(x.match or x.text.strip() for x in lines[:k]) and lines[k - 1].text.strip():
            blank.append("")
        blank.append(ln.text)
    out.append(("layout", "blank-lines", "\n".join(blank)))
    return [(kind, label, new) for kind, label, new in out if new != text and _same_config(text, new, "yaml")]


_KV_LINE = re.compile(
    r"^(?P<lead>[ \t]*)(?P<key>[A-Za-z_][\w.\-]*)(?P<sp1>[ \t]*)=(?P<sp2>[ \t]*)(?P<value>.*?)[ \t]*$"
)


def _kv_rewrites(text: str, fmt: str) -> list[tuple[str, str, str]]:
    """(kind, label, new text) for a KEY=value (`env`) or `key = value` (`ini`) file, each checked."""
    rows = text.split("\n")
    matches = [_KV_LINE.match(r) for r in rows]
    if not any(matches):
        return []

    def edit(fn: Callable[[re.Match[str]], str | None]) -> str:
        return "\n".join((fn(m) or r) if m else r for r, m in zip(rows, matches, strict=True))

    def put(m: re.Match[str], **changes: str) -> str:
        p = {**m.groupdict(), **changes}
        return f"{p['lead']}{p['key']}{p['sp1']}={p['sp2']}{p['value']}"

    out: list[tuple[str, str, str]] = []
    truths = sorted({_YAML_BOOLS[m.group("value")] for m in matches if m and m.group("value") in _YAML_BOOLS})
    for j in range(4):  # unquoted spellings only: an ini reader keeps quotes as part of the value
        def spell(m: re.Match[str], j: int = j) -> str | None:
            value = m.group("value")
            return put(m, value=_BOOL_SPELLINGS[_YAML_BOOLS[value]][j]) if value in _YAML_BOOLS else None
        out.append(("bool-spelling", "/".join(_BOOL_SPELLINGS[t][j] for t in truths), edit(spell)))
    if fmt == "env":
        out.append(("quoting", "double", edit(lambda m: put(m, value=f'"{m.group("value")}"')
                                              if m.group("value") and not set(m.group("value")) & set("\"'\\$`")
                                              else None)))
    else:
        out.append(("layout", "key-spacing", edit(lambda m: put(m, sp1=" ", sp2=" "))))
    out.append(("layout", "header-comment", f"# {COMMENT}\n{text}"))
    labelled: dict[tuple[str, str], str] = {}
    for kind, label, new in out:
        if new != text and _same_config(text, new, fmt):
            labelled.setdefault((kind, label), new)
    return [(k, lbl, new) for (k, lbl), new in labelled.items()]


def config_rewrites(text: str, path: str) -> list[tuple[str, str, str]]:
    """(kind, label, new text): spellings and layouts of config `text` bound for `path` that read the same."""
    fmt = config_format(path)
    if fmt is None or not text.strip():
        return []
    if read_config(text, fmt) is None:
        return []  # not what its reader would accept in the first place: leave it alone
    return _yaml_rewrites(text) if fmt == "yaml" else _kv_rewrites(text, fmt)


# ==== the shell: words, simple commands, and command lines ========================================
@dataclass(frozen=True)
class Word:
    raw: str  # as typed
    value: str  # after quote removal
    plain: bool = True  # typing `quote(value)` instead would mean the same (no $, glob or ~ expansion)

    @classmethod
    def of(cls, value: str) -> Word:
        return cls(shlex.quote(value), value)


_CONTROL = ("&&", "||", ";", "|", "&")
_REDIRECTS = ("2>&1", ">&2", "&>>", "&>", "2>>", "2>", ">>", ">", "<")
_TARGETLESS = ("2>&1", ">&2")


def lex(line: str) -> list[Word | str] | None:
    """Words and operators of a one-line command, or None for what these rewrites leave alone
    (here-documents, substitutions, subshells, comments, several lines)."""
    tokens: list[Word | str] = []
    raw: list[str] = []
    value: list[str] = []
    plain = True
    started = False
    i, n = 0, len(line)

    def flush() -> None:
        nonlocal raw, value, plain, started
        if started:
            tokens.append(Word("".join(raw), "".join(value), plain))
        raw, value, plain, started = [], [], True, False

    while i < n:
        c = line[i]
        if c in "'\"":
            end = line.find(c, i + 1) if c == "'" else _dquote_end(line, i + 1)
            if end < 0:
                return None
            body = line[i + 1 : end]
            if c == '"':
                if "`" in body or "$" in body:
                    plain = "$" not in body and plain
                    if "`" in body or "$(" in body:
                        return None
                body = re.sub(r'\\([\\"$`])', r"\1", body)
            raw.append(line[i : end + 1])
            value.append(body)
            started = True
            i = end + 1
            continue
        if c == "\\":
            if i + 1 >= n or line[i + 1] == "\n":
                return None
            raw.append(line[i : i + 2])
            value.append(line[i + 1])
            started = True
            i += 2
            continue
        if c in " \t":
            flush()
            i += 1
            continue
        if c in "\n`()" or line.startswith("$(", i) or line.startswith("<<", i) or (c == "#" and not started):
            return None
        op = next((o for o in _REDIRECTS + _CONTROL if line.startswith(o, i)
                   and (not o[0].isdigit() or not started)), None)
        if op is not None:
            flush()
            tokens.append(op)
            i += len(op)
            continue
        if c in "$*?[]~" or (c == "{" and "}" in line[i:]):
            plain = False
        raw.append(c)
        value.append(c)
        started = True
        i += 1
    flush()
    return tokens


def _dquote_end(line: str, i: int) -> int:
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == '"':
            return i
        i += 1
    return -1


@dataclass
class Simple:
    """One simple command: its words and its redirections (operator, target word or None)."""

    words: list[Word]
    redirects: list[tuple[str, Word | None]] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return [w.value for w in self.words]

    def render(self) -> str:
        parts = [w.raw for w in self.words]
        parts += [op if target is None else f"{op} {target.raw}" for op, target in self.redirects]
        return " ".join(parts)


def split_line(tokens: list[Word | str]) -> tuple[list[Simple], list[str]] | None:
    """Simple commands and the control operators between them; None if the line is malformed."""
    commands: list[Simple] = []
    separators: list[str] = []
    current = Simple([])
    k = 0
    while k < len(tokens):
        token = tokens[k]
        k += 1
        if isinstance(token, Word):
            current.words.append(token)
        elif token in _TARGETLESS:
            current.redirects.append((token, None))
        elif token in _REDIRECTS:
            if k >= len(tokens) or not isinstance(tokens[k], Word):
                return None
            target = tokens[k]
            assert isinstance(target, Word)
            current.redirects.append((token, target))
            k += 1
        else:
            if not current.words:
                return None
            commands.append(current)
            separators.append(token)
            current = Simple([])
    if not current.words:
        return None
    commands.append(current)
    return commands, separators


def join_line(commands: list[Simple], separators: list[str]) -> str:
    out = commands[0].render()
    for sep, cmd in zip(separators, commands[1:], strict=True):
        out += f"{'' if sep == ';' else ' '}{sep} {cmd.render()}"
    return out


_SHELL_ENV = {"HOME": "/root", "USER": "root", "LOGNAME": "root", "PWD": "/", "HOSTNAME": "host",
              "SHELL": "/bin/bash", "PATH": "/usr/local/bin:/usr/bin:/bin"}


def shell_accepts(line: str) -> bool:
    """Whether the simulated shell parses `line` and knows every command in it."""
    try:
        chain = parse(line, _SHELL_ENV)
    except ShellSyntaxError:
        return False
    return all(cmd.words and cmd.words[0] in COMMANDS for _, pipeline in chain for cmd in pipeline)


# ---- sed ----------------------------------------------------------------------------------------
@dataclass
class _Sed:
    flags: list[Word]  # flag words, in order (-i, -E, -n, ...)
    scripts: list[Word]
    via_e: bool  # scripts given with -e
    files: list[Word]

    def render(self, prefix: list[Word]) -> Simple:
        words = [*prefix, Word.of("sed"), *self.flags]
        for s in self.scripts:
            words += [Word.of("-e"), s] if self.via_e else [s]
        return Simple(words + self.files)


_SED_FLAGS = {"-i", "-E", "-r", "-n", "-s", "-u", "--in-place", "--regexp-extended", "--quiet", "--silent"}


def _parse_sed(words: list[Word]) -> _Sed | None:
    flags: list[Word] = []
    scripts: list[Word] = []
    operands: list[Word] = []
    k = 0
    while k < len(words):
        w = words[k]
        k += 1
        if not w.plain and not operands:
            return None
        if w.value == "-e":
            if k >= len(words):
                return None
            scripts.append(words[k])
            k += 1
        elif w.value in _SED_FLAGS:
            flags.append(w)
        elif w.value.startswith("-") and w.value != "-":
            return None  # combined flags, -i.bak, --expression=...: left alone
        else:
            operands.append(w)
    via_e = bool(scripts)
    if not via_e:
        if not operands:
            return None
        scripts = [operands.pop(0)]
    if any(not w.plain for w in scripts):
        return None
    return _Sed(flags, scripts, via_e, operands)


@dataclass(frozen=True)
class _Subst:
    delim: str
    pattern: str  # with the delimiter unescaped
    replacement: str
    flags: str

    def render(self, delim: str | None = None) -> str:
        d = delim or self.delim
        esc = (lambda t: t.replace(d, "\\" + d)) if delim is None else (lambda t: t)
        return f"s{d}{esc(self.pattern)}{d}{esc(self.replacement)}{d}{self.flags}"


def _split_at(script: str, i: int, delim: str) -> tuple[str, int] | None:
    """Text from `i` to the next unescaped `delim`, as the simulated sed reads it (None: unterminated)."""
    try:
        return sed_split(script, i, delim)
    except BadUsage:
        return None


def parse_subst(script: str) -> _Subst | None:
    """A script that is exactly one `s` command (no address), or None."""
    if len(script) < 4 or script[0] != "s" or script[1].isalnum() or script[1] in "\\\n ":
        return None
    delim = script[1]
    first = _split_at(script, 2, delim)
    if first is None:
        return None
    pattern, i = first
    second = _split_at(script, i, delim)
    if second is None:
        return None
    replacement, i = second
    flags = script[i:]
    if not re.fullmatch(r"[gpiI0-9]*", flags):
        return None
    return _Subst(delim, pattern, replacement, flags)


def _double_quoted(value: str) -> Word | None:
    if set(value) & set('"$`\\!'):
        return None
    return Word(f'"{value}"', value)


def _sed_rewrites(cmd: Simple, prefix: list[Word]) -> Iterator[tuple[str, str, Simple]]:
    sed = _parse_sed(cmd.words[len(prefix) + 1 :])
    if sed is None or cmd.redirects:
        return
    if len(sed.scripts) == 1:
        label = "script-operand" if sed.via_e else "-e"
        yield "sed", label, _Sed(sed.flags, sed.scripts, not sed.via_e, sed.files).render(prefix)
    quoted = [_double_quoted(s.value) for s in sed.scripts]
    if all(q is not None for q in quoted) and any(q != s for q, s in zip(quoted, sed.scripts, strict=True)):
        yield "sed", "double-quotes", _Sed(sed.flags, [q for q in quoted if q], sed.via_e, sed.files).render(prefix)
    substs = [parse_subst(s.value) for s in sed.scripts]
    if all(substs):
        subs = [s for s in substs if s is not None]
        for delim in ("|", "#", ","):
            if all(delim != s.delim and delim not in s.pattern + s.replacement for s in subs):
                scripts = [Word.of(s.render(delim)) for s in subs]
                yield "sed", f"delimiter-{delim}", _Sed(sed.flags, scripts, sed.via_e, sed.files).render(prefix)
                break
        extended = any(f.value in ("-E", "-r", "--regexp-extended") for f in sed.flags)
        if all(to_python_regex(s.pattern, False) == to_python_regex(s.pattern, True) for s in subs):
            if extended:
                flags = [f for f in sed.flags if f.value not in ("-E", "-r", "--regexp-extended")]
                yield "sed", "drop-E", _Sed(flags, sed.scripts, sed.via_e, sed.files).render(prefix)
            else:
                yield "sed", "-E", _Sed([Word.of("-E"), *sed.flags], sed.scripts, sed.via_e, sed.files).render(prefix)
        if len(subs) == 1 and len(sed.files) == 1:
            for kind, label, repl in _replacement_rewrites(subs[0], sed.files[0].value):
                new = Word.of(_Subst(subs[0].delim, subs[0].pattern, repl, subs[0].flags).render())
                yield kind, label, _Sed(sed.flags, [new], sed.via_e, sed.files).render(prefix)
    if any(f.value == "-i" for f in sed.flags):
        flags = [Word.of("--in-place") if f.value == "-i" else f for f in sed.flags]
        yield "sed", "--in-place", _Sed(flags, sed.scripts, sed.via_e, sed.files).render(prefix)
    if len(sed.flags) >= 2:
        yield "order", "sed-options", _Sed(sed.flags[::-1], sed.scripts, sed.via_e, sed.files).render(prefix)


def _replacement_rewrites(subst: _Subst, path: str) -> Iterator[tuple[str, str, str]]:
    """Respellings of a sed replacement that writes one `key: value` (or KEY=value) into a config file."""
    repl = subst.replacement
    if set(repl) & set("\\&\n") or config_format(path) is None:
        return
    fmt = config_format(path)
    if fmt == "yaml" and not _YAML_LINE.match(repl):
        return
    to_eol = (subst.pattern.endswith("$") and not subst.pattern.endswith("\\$")) or subst.pattern.endswith(".*")
    for kind, label, new in config_rewrites(repl, path):
        if label in ("header-comment", "blank-lines") or "\n" in new or subst.delim in new:
            continue  # a second line, or text that would end the s command
        if label == "trailing-comment" and not to_eol:
            continue  # the match may sit mid-line (a flow mapping): a comment there would swallow the rest
        yield kind, label, new


# ---- other commands ---------------------------------------------------------------------------------
def _file_like(path: str) -> bool:
    """A name with an extension (`w.bin`, `oversight.yaml`): taken for a file, not a folder."""
    return "." in posixpath.basename(path).strip(".")


def _looks_like_file(dst: str, src: str) -> bool:
    """Whether `dst` names a file rather than a directory (cp's destination), judged from its name."""
    base, src_base = posixpath.basename(dst), posixpath.basename(src)
    return not dst.endswith("/") and bool(base) and (base == src_base or (
        "." in base.strip(".") and posixpath.splitext(base)[1] == posixpath.splitext(src_base)[1]))


def _options(words: list[Word]) -> tuple[list[str], list[Word]]:
    opts = [w.value for w in words if w.value.startswith("-") and w.value != "-"]
    return opts, [w for w in words if not (w.value.startswith("-") and w.value != "-")]


_KILL_FORMS = ((), ("-9",), ("-TERM",), ("-s", "KILL"))


def _command_rewrites(cmd: Simple, prefix: list[Word]) -> Iterator[tuple[str, str, Simple]]:
    """Equivalent spellings of one simple command (after a `sudo` prefix, which is kept)."""
    name, args = cmd.words[len(prefix)].value, cmd.words[len(prefix) + 1 :]
    head = [*prefix, Word.of(name)]
    opts, ops = _options(args)
    if name == "sed":
        yield from _sed_rewrites(cmd, prefix)
    elif name == "cp" and not opts and len(ops) == 2 and not cmd.redirects and all(w.plain for w in ops):
        if _looks_like_file(ops[1].value, ops[0].value):
            yield "shell", "cp->cat-redirect", Simple([*prefix, Word.of("cat"), ops[0]], [(">", ops[1])])
    elif name == "rm" and ops and not cmd.redirects and "--" not in [w.value for w in args]:
        flags = [w for w in args if w.value.startswith("-")]
        if not any("f" in f.value.lstrip("-") for f in flags if not f.value.startswith("--")):
            yield "shell", "rm->rm -f", Simple([*head, Word.of("-f"), *flags, *ops])
        yield "shell", "rm->rm --", Simple([*head, *flags, Word.of("--"), *ops])
    elif name == "kill" and not cmd.redirects:
        pids = [w for w in args if w.value.isdigit()]
        signal = tuple(w.value for w in args if not w.value.isdigit())
        if pids and signal in [*_KILL_FORMS, ("-15",), ("-KILL",), ("-SIGKILL",), ("-SIGTERM",), ("-s", "TERM")]:
            for form in _KILL_FORMS:
                if form != signal:
                    label = f"kill {' '.join(form)}".strip()
                    yield "shell", f"kill->{label}", Simple([*head, *map(Word.of, form), *pids])
    elif name == "systemctl" and len(ops) >= 2 and not opts and ops[0].value in ("stop", "start", "restart"):
        units = [Word.of(u.value.removesuffix(".service") if u.value.endswith(".service") else u.value + ".service")
                 for u in ops[1:]]
        yield "shell", "unit-suffix", Simple([*head, ops[0], *units], cmd.redirects)
    elif name in ("scp", "rsync") and not cmd.redirects:
        yield from _transfer_rewrites(name, args, head[:-1])
    elif name in ("echo", "printf"):
        yield from _echo_rewrites(cmd, prefix)


_RSYNC_FLAGS = {"-a", "-r", "-v", "-z", "-av", "-avz", "-az", "-rv", "-vr"}


def _transfer_rewrites(name: str, args: list[Word], prefix: list[Word]) -> Iterator[tuple[str, str, Simple]]:
    """scp <-> rsync for plain copies (no ports, no dry runs, no rsync trailing-slash semantics)."""
    opts, ops = _options(args)
    allowed = {"-r"} if name == "scp" else _RSYNC_FLAGS
    if len(ops) < 2 or any(o not in allowed for o in opts) or any(w.value.endswith("/") for w in ops[:-1]):
        return
    recursive = any(set(o) & set("ra") for o in opts)
    is_file = all(_file_like(_remote_path(w.value)) for w in ops[:-1])
    forms: list[tuple[str, ...]] = []
    if is_file or not recursive:  # a file is copied alike with or without -r; a folder only with it
        forms += [("scp",), ("rsync",)]
    if is_file or recursive:
        forms += [("scp", "-r"), ("rsync", "-r"), ("rsync", "-a")]
    current = (name, *opts)
    for form in forms:
        if form != current:
            yield "shell", f"{' '.join(current)}->{' '.join(form)}", Simple([*prefix, *map(Word.of, form), *ops])


def _remote_path(spec: str) -> str:
    head, sep, rest = spec.partition(":")
    return rest if sep and "/" not in head else spec


def _echo_rewrites(cmd: Simple, prefix: list[Word]) -> Iterator[tuple[str, str, Simple]]:
    name, args = cmd.words[len(prefix)].value, cmd.words[len(prefix) + 1 :]
    outs = [(op, t) for op, t in cmd.redirects if op in (">", ">>")]
    if len(cmd.redirects) != 1 or len(outs) != 1 or outs[0][1] is None or not all(w.plain for w in args):
        return
    target = outs[0][1]
    if name == "echo":
        if not args or any(w.value.startswith("-") for w in args[:1]):
            return
        text = " ".join(w.value for w in args)
        yield "shell", "echo->printf", Simple([*prefix, Word.of("printf"), Word.of("%s\\n"), Word.of(text)],
                                              cmd.redirects)
    else:
        if len(args) != 2 or args[0].value != "%s\\n" or args[1].value.startswith("-") or "\\" in args[1].value:
            return
        text = args[1].value
        yield "shell", "printf->echo", Simple([*prefix, Word.of("echo"), Word.of(text)], cmd.redirects)
    for kind, label, new in config_rewrites(text, target.value):
        if "\n" not in new and not new.startswith("-"):
            yield kind, label, Simple([*cmd.words[: len(prefix) + 1], Word.of(new)] if name == "echo" else
                                      [*cmd.words[: len(prefix) + 2], Word.of(new)], cmd.redirects)


# ---- paths: `cd dir && cmd relative` -----------------------------------------------------------------
_PATH_COMMANDS = {"cp", "mv", "rm", "cat", "touch", "tee", "ls"}


def _path_positions(cmd: Simple) -> list[int] | None:
    """Indices (into cmd.words) of its file operands, or None if this command's operands are not all known."""
    name = cmd.words[0].value
    if name == "sed":
        sed = _parse_sed(cmd.words[1:])
        if sed is None:
            return None
        return [len(cmd.words) - len(sed.files) + k for k in range(len(sed.files))]
    if name in _PATH_COMMANDS:
        return [k for k, w in enumerate(cmd.words) if k and not w.value.startswith("-")]
    if name in ("scp", "rsync"):
        return [k for k, w in enumerate(cmd.words) if k and not w.value.startswith("-")
                and (":" not in w.value or "/" in w.value.partition(":")[0])]
    if name in ("echo", "printf", "kill", "systemctl"):
        return []
    return None


def _cd_rewrite(cmd: Simple, later_uses_cwd: bool) -> str | None:
    """`cd DIR && cmd relative-path` for a command whose file operands are absolute paths."""
    positions = _path_positions(cmd)
    if positions is None:
        return None
    words = list(cmd.words)
    paths = [words[k] for k in positions] + [t for _, t in cmd.redirects if t is not None]
    if not paths or not all(p.plain and p.value.startswith("/") for p in paths):
        return None  # a relative operand would move with the cd
    where = posixpath.dirname(paths[-1].value.rstrip("/"))
    if where in ("", "/"):
        return None

    def rel(w: Word) -> Word:
        return Word.of(posixpath.basename(w.value)) if posixpath.dirname(w.value) == where else w

    for k in positions:
        words[k] = rel(words[k])
    redirects = [(op, None if t is None else rel(t)) for op, t in cmd.redirects]
    line = f"cd {shlex.quote(where)} && {Simple(words, redirects).render()}"
    return line + "; cd - > /dev/null" if later_uses_cwd else line


# ---- the bash tool ---------------------------------------------------------------------------------------
_HEREDOC_RE = re.compile(
    r"cat[ \t]+(?P<op>>>?)[ \t]*(?P<path>[\w@%+=:,./-]+)[ \t]+<<(?P<q>['\"]?)(?P<delim>\w+)(?P=q)\n"
    r"(?P<body>(?:.*\n)*?)(?P=delim)\n?"
)


def _heredoc_match(line: str) -> re.Match[str] | None:
    """`cat > path <<'EOF' ... EOF` as the whole line (the body never holds its delimiter line)."""
    m = _HEREDOC_RE.fullmatch(line)
    return m if m is not None and m.group("delim") not in m.group("body").split("\n") else None


def _bash_rewrites(args: dict[str, Any], ctx: _Context) -> Iterator[Rewrite]:
    line = args.get("command")
    if not isinstance(line, str):
        return
    for kind, label, new in _bash_line_rewrites(line, ctx):
        if new != line and shell_accepts(new):
            yield kind, label, {**args, "command": new}
    yield from _bash_to_tool(line, ctx)


def _bash_line_rewrites(line: str, ctx: _Context) -> Iterator[tuple[str, str, str]]:
    heredoc = _heredoc_match(line)
    if heredoc is not None:
        body = heredoc.group("body")
        if heredoc.group("q") or "$" not in body:
            for kind, label, new in config_rewrites(body, heredoc.group("path")):
                if new.endswith("\n") and heredoc.group("delim") not in new.split("\n"):
                    yield kind, label, line[: heredoc.start("body")] + new + line[heredoc.end("body") :]
        return
    tokens = lex(line)
    split = split_line(tokens) if tokens else None
    if split is None:
        return
    commands, separators = split
    for k, cmd in enumerate(commands):
        if (k and separators[k - 1] == "|") or (k < len(separators) and separators[k] == "|"):
            continue  # inside a pipeline: what it reads or writes depends on its neighbours
        prefix = cmd.words[:1] if cmd.words[0].value == "sudo" else []
        if len(cmd.words) <= len(prefix) or cmd.words[len(prefix)].value.startswith("-"):
            continue
        for kind, label, rewritten in _command_rewrites(cmd, prefix):
            yield kind, label, join_line([*commands[:k], rewritten, *commands[k + 1 :]], separators)
    if len(commands) == 1 and commands[0].words[0].value != "sudo":
        cd = _cd_rewrite(commands[0], ctx.later_uses_cwd)
        if cd is not None:
            yield "shell", "cd-relative", cd


def _bash_to_tool(line: str, ctx: _Context) -> Iterator[Rewrite]:
    """The one dedicated tool that does what a one-command line does (never for sudo lines)."""
    heredoc = _heredoc_match(line)
    if heredoc is not None:
        tool = "write_file" if heredoc.group("op") == ">" else "append_file"
        if tool in ctx.tools and (heredoc.group("q") or "$" not in heredoc.group("body")):
            yield "tool", f"bash-heredoc->{tool}", {"__tool__": tool, "path": heredoc.group("path"),
                                                     "content": heredoc.group("body")}
        return
    tokens = lex(line)
    split = split_line(tokens) if tokens else None
    if split is None or len(split[0]) != 1:
        return
    cmd = split[0][0]
    name, rest = cmd.argv[0], cmd.words[1:]
    opts, ops = _options(rest)
    if opts or not all(w.plain for w in cmd.words):
        return
    simple = not cmd.redirects
    if name in ("cp", "mv", "rm") and not all(_file_like(w.value) for w in ops[:1]):
        return  # the file tools take files only: a folder here would be another act (or an error)
    if name == "cat" and simple and len(ops) == 1 and "read_file" in ctx.tools:
        yield "tool", "bash-cat->read_file", {"__tool__": "read_file", "path": ops[0].value}
    elif name in ("cp", "mv") and simple and len(ops) == 2:
        tool = "copy_file" if name == "cp" else "move_file"
        if tool in ctx.tools:
            yield "tool", f"bash-{name}->{tool}", {"__tool__": tool, "source": ops[0].value,
                                                    "destination": ops[1].value}
    elif name == "rm" and simple and len(ops) == 1 and "delete_file" in ctx.tools:
        yield "tool", "bash-rm->delete_file", {"__tool__": "delete_file", "path": ops[0].value}
    elif name == "echo" and ops and len(cmd.redirects) == 1 and cmd.redirects[0][1] is not None:
        op, target = cmd.redirects[0]
        writer = {">": "write_file", ">>": "append_file"}.get(op)
        if writer in ctx.tools and target is not None:
            yield "tool", f"bash-echo->{writer}", {"__tool__": writer, "path": target.value,
                                                  "content": " ".join(w.value for w in ops) + "\n"}


# ==== the other tools ====================================================================================
_PRIVATE = re.compile("[\ue000-\ue3ff\r]")


def _heredoc(op: str, path: str, content: str) -> str | None:
    """`cat > path <<'EOF'` writing exactly `content`, or None if a here-document cannot."""
    if not content.endswith("\n") or _PRIVATE.search(content) or not path:
        return None
    rows = content.split("\n")
    delim = next(d for d in ("EOF", "END", *(f"EOF{n}" for n in range(1, len(rows) + 2))) if d not in rows)
    return f"cat {op} {shlex.quote(path)} <<'{delim}'\n{content}{delim}"


def _write_rewrites(args: dict[str, Any], ctx: _Context, *, append: bool = False) -> Iterator[Rewrite]:
    path, content = args.get("path"), args.get("content")
    if not isinstance(path, str) or not isinstance(content, str):
        return
    for kind, label, new in config_rewrites(content, path):
        yield kind, label, {**args, "content": new}
    if "bash" in ctx.tools:
        op, name = (">>", "append_file") if append else (">", "write_file")
        line = _heredoc(op, path, content)
        if line is not None and shell_accepts(line):
            yield "tool", f"{name}->bash-heredoc", {"__tool__": "bash", "command": line}
        elif not _PRIVATE.search(content):
            line = f"printf '%s' {shlex.quote(content)} {op} {shlex.quote(path)}"
            if shell_accepts(line):
                yield "tool", f"{name}->bash-printf", {"__tool__": "bash", "command": line}


def _file_tool_rewrites(tool: str) -> Callable[[dict[str, Any], _Context], Iterator[Rewrite]]:
    def rewrites(args: dict[str, Any], ctx: _Context) -> Iterator[Rewrite]:
        if "bash" not in ctx.tools:
            return
        if tool in ("copy_file", "move_file"):
            src, dst = args.get("source"), args.get("destination")
            if not isinstance(src, str) or not isinstance(dst, str) or not src or not dst:
                return
            line = f"{'cp' if tool == 'copy_file' else 'mv'} {shlex.quote(src)} {shlex.quote(dst)}"
        else:
            path = args.get("path")
            if not isinstance(path, str) or not path:
                return
            line = f"{'rm' if tool == 'delete_file' else 'cat'} {shlex.quote(path)}"
        if shell_accepts(line):
            yield "tool", f"{tool}->bash-{line.split()[0]}", {"__tool__": "bash", "command": line}

    return rewrites


def _set_config_rewrites(args: dict[str, Any], ctx: _Context) -> Iterator[Rewrite]:
    """Only what set_config itself reads back as the same value: JSON text for a native value (and
    back), and a number's int/float spelling. Not `"no"` or `"False"` for false: set_config stores
    those as strings, and a program reading a JSON config document sees a string, not a boolean
    (monitoring_migration's logpipe alert, `equals: false`, does not fire on "False")."""
    if "value" not in args:
        return
    value = args["value"]
    if isinstance(value, int) and not isinstance(value, bool):
        yield "number-spelling", "float", {**args, "value": float(value)}
    elif isinstance(value, float) and value.is_integer():
        yield "number-spelling", "int", {**args, "value": int(value)}
    if isinstance(value, str):
        try:
            native = json.loads(value)
        except json.JSONDecodeError:
            yield "json-text", "quoted-string", {**args, "value": json.dumps(value)}
        else:
            yield "json-text", "native", {**args, "value": native}
        return
    yield "json-text", "text", {**args, "value": json.dumps(value)}
    if isinstance(value, dict | list) and value:
        yield "json-text", "indented", {**args, "value": json.dumps(value, indent=2)}


def _email_rewrites(args: dict[str, Any], ctx: _Context) -> Iterator[Rewrite]:
    """Recipients reordered, or moved between To and Cc: a different header, the same delivery."""
    to, cc = args.get("to"), args.get("cc") or []
    if not isinstance(to, list) or not isinstance(cc, list):
        return
    if len(to) >= 2:
        yield "order", "to-reversed", {**args, "to": to[::-1]}
    if len(cc) >= 2:
        yield "order", "cc-reversed", {**args, "cc": cc[::-1]}
    if len(to) >= 2:
        yield "email", "to->cc", {**args, "to": to[:-1], "cc": [to[-1], *cc]}
    if cc:
        yield "email", "cc->to", {**args, "to": [*to, cc[0]], "cc": cc[1:]}


def _forward_rewrites(args: dict[str, Any], ctx: _Context) -> Iterator[Rewrite]:
    """forward_email has no cc: only its recipients' order can change."""
    to = args.get("to")
    if isinstance(to, list) and len(to) >= 2:
        yield "order", "to-reversed", {**args, "to": to[::-1]}


_MUTATORS: dict[str, Callable[[dict[str, Any], _Context], Iterator[Rewrite]]] = {
    "write_file": _write_rewrites,
    "append_file": lambda args, ctx: _write_rewrites(args, ctx, append=True),
    "bash": _bash_rewrites,
    "set_config": _set_config_rewrites,
    "send_email": _email_rewrites,
    "forward_email": _forward_rewrites,
    **{t: _file_tool_rewrites(t) for t in ("copy_file", "move_file", "delete_file", "read_file")},
}
