"""The one way impress-sim reads a YAML file a user wrote: world.yaml, sweep files, guard rules, the
YAML file of keys any command takes.

PyYAML's `safe_load` is safe against code execution but not against a careless or hostile file. This
loader (a `SafeLoader` subclass, pure Python so every bound below holds) adds:

- **aliases bounded**: at most `MAX_ALIASES` aliases, and at most `MAX_EXPANSION` nodes added by
  expanding them (an alias bomb, "billion laughs", fails at once instead of hanging whatever walks
  the data); a recursive alias (an anchor used inside itself) is refused;
- **depth bounded**: nesting deeper than `MAX_DEPTH` is refused (no RecursionError anywhere after);
- **duplicate keys refused**, naming the key and both lines (PyYAML keeps the last one silently);
- **timestamps stay text**: an unquoted `2026-01-01T09:00:00Z` is the string `"2026-01-01T09:00:00Z"`,
  never a `datetime` (fields typed as times parse it; free-form config and records keep it as
  written, as JSON-like state must). Explicit `!!binary`, `!!set`, `!!omap` and `!!pairs` tags,
  which make values no JSON holds, are refused;
- **text checked first**: non-UTF-8 bytes are reported with the byte offset, line and column; a file
  with NUL bytes is reported as binary; files over `MAX_BYTES` are refused.

Every problem is one `UserError` (of the class the caller asks for) naming the file, the line and
column where known, and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from impress_sim.errors import UserError

MAX_BYTES = 8 * 1024 * 1024  # a world file is ~100 KB; the pure-Python parser reads ~1 MB/s
MAX_DEPTH = 64  # shipped worlds nest at most ~12 deep
MAX_ALIASES = 1000
MAX_EXPANSION = 100_000  # nodes that expanding aliases adds (the shipped worlds add a few hundred)

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_REFUSED_TAGS = {
    "tag:yaml.org,2002:binary": "binary data",
    "tag:yaml.org,2002:set": "a set",
    "tag:yaml.org,2002:omap": "an ordered map",
    "tag:yaml.org,2002:pairs": "a list of pairs",
}


MAX_INT_DIGITS = 100  # Python refuses 4,300; no setting needs more than a few


class YAMLLimitError(yaml.MarkedYAMLError):
    """A bound of this loader was hit (depth, aliases, duplicate key, refused tag)."""


def _where(node: Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}" if mark is not None else "?"


class _BoundsMixin(yaml.SafeLoader):
    """Alias and depth bounds, on top of PyYAML's safe loader."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                event = self.peek_event()
                raise YAMLLimitError(None, None, f"more than {MAX_ALIASES} aliases (*name); write the values out "
                                     f"or use fewer anchors", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()
                raise YAMLLimitError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = len(str(self.construct_scalar(node)).lstrip("+-").replace("_", ""))
        if digits > MAX_INT_DIGITS:
            raise YAMLLimitError(None, None, f"an integer of {digits:,} digits is too long (the limit is "
                                 f"{MAX_INT_DIGITS} digits)", node.start_mark)
        return int(super().construct_yaml_int(node))

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        if node is not None and self._aliases:
            _check_expansion(node)
        return node


_BoundsMixin.add_constructor("tag:yaml.org,2002:int", _BoundsMixin.construct_yaml_int)


class ProgramLoader(_BoundsMixin):
    """PyYAML's safe loader exactly as a program in a world reads its config (timestamps, the last of
    duplicate keys), with only the alias and depth bounds added: see `program_yaml`."""


class BoundedLoader(_BoundsMixin):
    """`yaml.SafeLoader` with every bound above. Use `load_yaml`/`read_yaml`, which report its errors."""

    # every implicit type but timestamps: those stay strings
    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's own class attribute, replaced for this class)
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], Node] = {}  # checked as written, before any merge (`<<`) is flattened
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE:
                continue
            first = seen.setdefault((key_node.tag, key_node.value), key_node)
            if first is not key_node:
                raise YAMLLimitError(
                    f"in the mapping starting at {_where(node)}", node.start_mark,
                    f"duplicate key {key_node.value!r} (first at {_where(first)}); a key may appear once in a "
                    f"mapping", key_node.start_mark)
        return node

    def construct_timestamp_text(self, node: Node) -> str:
        return self.construct_scalar(node)  # type: ignore[arg-type]

    def refuse_tag(self, node: Node) -> Any:
        raise YAMLLimitError(None, None, f"{node.tag.replace('tag:yaml.org,2002:', '!!')} ({_REFUSED_TAGS[node.tag]}) "
                             f"is not allowed: values are JSON-like (text, numbers, booleans, null, lists, "
                             f"mappings)", node.start_mark)


BoundedLoader.add_constructor(_TIMESTAMP, BoundedLoader.construct_timestamp_text)
for _tag in _REFUSED_TAGS:
    BoundedLoader.add_constructor(_tag, BoundedLoader.refuse_tag)


def _check_expansion(root: Node) -> None:
    """Count the nodes the document has once every alias is expanded (shared nodes counted once per
    use), without expanding anything: refuse a cycle or more than MAX_EXPANSION added nodes."""
    size: dict[int, int] = {}
    unique = 0
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            continue
        if key in size:
            continue
        if key in on_path:
            raise YAMLLimitError(None, None, "a recursive alias (an anchor used inside its own value)",
                                 node.start_mark)
        on_path.add(key)
        unique += 1
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise YAMLLimitError(None, None, "a recursive alias (an anchor used inside its own value)",
                                     child.start_mark)
            if id(child) not in size:
                stack.append((child, False))
    added = size[id(root)] - unique
    if added > MAX_EXPANSION:
        raise YAMLLimitError(None, None, f"aliases expand to {size[id(root)]:,} values ({added:,} more than written; "
                             f"at most {MAX_EXPANSION:,} more are allowed): an alias bomb?", root.start_mark)


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode(data: bytes, name: str, error: type[UserError] = UserError) -> str:
    """UTF-8 text of `data`, or `error` saying where it is not (binary, UTF-16, a bad byte)."""
    if data.startswith(_UTF16_BOMS):
        raise error(f"{name}: the file is UTF-16 text; save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise error(f"{name}: a binary file (NUL byte at offset {nul}), not YAML text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(f"{name}:{line}:{column}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                    f"save the file as UTF-8") from None


def _message(name: str, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "\0")
        return (f"{name}: character U+{char:04X} at offset {exc.position} is not allowed in YAML "
                f"(control characters are not text)")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "malformed"
        if exc.context and exc.problem and exc.context.endswith("first occurrence"):  # PyYAML splits this one
            first = exc.context_mark
            problem = f"{exc.context}" + (f" at line {first.line + 1}" if first is not None else "") + f", {problem}"
        hint = " (YAML indents with spaces, never tabs)" if "\\t" in problem or "\t" in problem else ""
        if "unhashable key" in problem:  # `{content: {{x}}}`: an unquoted {{ opens a mapping inside a mapping
            hint = " (a value that starts with { or {{ must be quoted: content: \"{{slot}}\")"
        kind = "not valid YAML: " if not isinstance(exc, YAMLLimitError) else ""
        return f"{name}{where}: {kind}{problem}{hint}"
    return f"{name}: not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def load_yaml(text: str | bytes, *, name: str = "<yaml>", error: type[UserError] = UserError) -> Any:
    """Parse one YAML document with the bounds above; every problem is `error` naming `name`."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise error(f"{name}: {len(text):,} bytes; YAML input is limited to {MAX_BYTES:,} bytes")
        text = decode(text, name, error)
    elif len(text) > MAX_BYTES:
        raise error(f"{name}: {len(text):,} characters; YAML input is limited to {MAX_BYTES:,} bytes")
    elif "\x00" in text:
        raise error(f"{name}: a binary file (NUL byte at offset {text.index(chr(0))}), not YAML text")
    loader: BoundedLoader | None = None
    try:
        loader = BoundedLoader(text)  # the reader checks every character here
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise error(_message(name, exc)) from None
    except RecursionError:  # not reachable within MAX_DEPTH; a last guard all the same
        raise error(f"{name}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    finally:
        if loader is not None:
            loader.dispose()


def program_yaml(text: str) -> Any:
    """A YAML document as PyYAML's `safe_load` reads it (the way a world's programs read their config:
    what an agent writes), but an alias bomb or deep nesting raises a `yaml.YAMLError` at once instead
    of hanging or recursing in whatever walks the result. Callers handle `yaml.YAMLError` as before."""
    if len(text) > MAX_BYTES:
        raise YAMLLimitError(None, None, f"{len(text):,} characters; at most {MAX_BYTES:,}", None)
    loader = ProgramLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml(path: str | Path, *, error: type[UserError] = UserError, what: str = "YAML file") -> Any:
    """Read and parse the YAML file at `path` (see `load_yaml`); a file that cannot be read is `error` too."""
    p = Path(path)
    try:
        if p.is_dir():
            raise error(f"{p}: is a folder, not a {what}")
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise error(f"{p}: {size:,} bytes; a {what} is limited to {MAX_BYTES:,} bytes")
        data = p.read_bytes()
    except OSError as exc:
        raise error(f"{p}: cannot read the {what}: {exc.strerror or exc}") from None
    return load_yaml(data, name=str(p), error=error)

