"""The stage prompts: versioned files (`prompts/<stage>.v<N>.md`), rendered with jinja2.

A prompt file is a jinja2 template whose leading `{# ... #}` comment says what the prompt is for, with
`=== system ===` / `=== user ===` lines starting each message. The highest version of a stage's file is
used; its name (`drafting.v1`) and a hash of its text are part of every artifact's inputs, so editing a
prompt redoes exactly the stages that use it on the next run, and a pack names the prompt versions that
made it. Templates are rendered with `StrictUndefined` (a missing variable is an error, never an empty
string) and without HTML escaping (the text goes to a model, not a browser).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

import jinja2

PROMPTS = Path(__file__).resolve().parent / "prompts"
_FILE = re.compile(r"^(?P<stage>[a-z_]+)\.v(?P<version>\d+)\.md$")
_SECTION = re.compile(r"^=== (system|user|assistant) ===[ \t]*$", re.MULTILINE)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(PROMPTS), undefined=jinja2.StrictUndefined,
                              autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


@functools.cache
def prompt_file(stage: str) -> Path:
    """The newest version of `stage`'s prompt file."""
    found = [(int(m["version"]), p) for p in PROMPTS.glob(f"{stage}.v*.md") if (m := _FILE.match(p.name))]
    if not found:
        raise LookupError(f"no prompt file for stage {stage!r} in {PROMPTS}")
    return max(found)[1]


def version(stage: str) -> str:
    """`<stage>.v<N>`: what a pack and a QC report name."""
    return prompt_file(stage).name.removesuffix(".md")


@functools.cache
def fingerprint(stage: str) -> str:
    """The prompt's version and a hash of its text (an artifact's inputs include it)."""
    return f"{version(stage)}:{hashlib.sha256(prompt_file(stage).read_bytes()).hexdigest()[:12]}"


def purpose(stage: str) -> str:
    """The prompt file's leading comment: what the prompt is for (docs/generation.md lists them)."""
    text = prompt_file(stage).read_text(encoding="utf-8")
    match = re.match(r"\{#-?(.*?)-?#\}", text, re.DOTALL)
    return " ".join(match.group(1).split()).removeprefix("Purpose: ") if match else ""


def render(stage: str, **variables: Any) -> list[dict[str, str]]:
    """The chat messages of `stage`'s prompt filled with `variables`."""
    text = _environment().get_template(prompt_file(stage).name).render(**variables)
    parts = _SECTION.split(text)
    messages = [{"role": role, "content": body.strip()} for role, body in zip(parts[1::2], parts[2::2], strict=True)]
    if not messages:
        raise ValueError(f"{prompt_file(stage)}: no '=== system ===' or '=== user ===' section")
    return messages
