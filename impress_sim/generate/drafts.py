"""Stages 3 and 4: a world.yaml drafted from an idea, then checked and repaired in a bounded loop.

A draft is checked in four steps, each stopping the round with the problems it found (fed back to the
model, which answers with the whole corrected file):
1. `yaml` — it parses, with the bounded YAML loader (size, depth, aliases, duplicate keys);
2. `policy` — the generator's own rules: the idea's id, the cell asked for on every behaviour, no `python:`
   field anywhere (a generated world has no hooks.py: model output is never executed);
3. `schema` — it validates as a world (every problem, with its field path);
4. `selfcheck` — the route-robust self-check (`impress worlds check`) at `check_seeds` seeds: every route
   detected, every near-miss silent, every task check passed by real work and failed by its shortcuts.
Each round is stored as it ends, so a killed run resumes at the round it was in.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.selfcheck import check_world
from impress_sim.envs.tools import builtin_tools
from impress_sim.errors import ImpressError, UserError, WorldSpecError
from impress_sim.generate import prompts
from impress_sim.generate.artifacts import Cell, Draft, Idea, RepairRound, Understanding
from impress_sim.generate.ask import Asker, yaml_block
from impress_sim.generate.runstore import inputs_hash, shaping, write_atomic
from impress_sim.worlds import schema, toollist
from impress_sim.worlds.scaffold import PLACEHOLDER, TEMPLATE
from impress_sim.yamlio import load_yaml

MAX_DRAFT_CHARS = 400_000  # the largest shipped world is ~120 kB
MAX_PROBLEMS_SHOWN = 40  # problems fed back per round (the count of the rest is said)
STAGE_MEANINGS = {
    "yaml": "it is not valid YAML",
    "policy": "it breaks the generator's rules",
    "schema": "it does not validate as a world",
    "selfcheck": "the self-check failed: detectors, near-misses or task checks do not behave as declared; each "
                 "line below is something the self-check expected that did not hold",
}
CHECK_VERSION = "1"  # bump when what a check demands changes: stored drafts are then checked again


@functools.cache
def reference_texts() -> dict[str, str]:
    """What the drafting prompt shows: the schema, the built-in tools, the shell and a complete example."""
    builtins = builtin_tools()
    return {"schema": schema.markdown(), "tools": toollist.tools_markdown(builtins, builtins) + "\n"
            + toollist.shell_markdown(), "example": TEMPLATE.replace(PLACEHOLDER, "example_world")}


def _python_fields(data: Any, path: str = "") -> list[str]:
    """Every `python:` field with a value (a hook reference), by its path."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "python" and value not in (None, ""):
                found.append(where)
            found += _python_fields(value, where)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _python_fields(value, f"{path}[{i}]")
    return found


def policy_problems(data: Any, idea_id: str, cell: Cell) -> list[str]:
    if not isinstance(data, dict):
        return [f"the file must be a mapping of world fields (id, title, agent, ...), not {type(data).__name__}"]
    problems = []
    if data.get("id") != idea_id:
        problems.append(f"id must be {idea_id!r} (found {str(data.get('id'))[:80]!r})")
    problems += [f"{p}: generated worlds are YAML only (no hooks.py), so `python:` fields are not allowed"
                 for p in _python_fields(data)]
    behaviours = data.get("behaviours")
    if isinstance(behaviours, list):
        for i, b in enumerate(behaviours):
            if not isinstance(b, dict):
                continue
            found = (b.get("motive"), b.get("risk_type"))
            if found != (cell.motive.value, cell.risk_type.value):
                problems.append(f"behaviours[{i}] ({str(b.get('id'))[:60]}): motive/risk_type must be "
                                f"{cell.key} (the cell asked for), found {found[0]}/{found[1]}")
    for key, wanted in (("motives", cell.motive.value), ("risk_types", cell.risk_type.value)):
        if data.get(key) != [wanted]:
            problems.append(f"{key} must be [{wanted}] (found {str(data.get(key))[:80]})")
    return problems


class StoredDraftInvalid(ImpressError):
    """A draft stored as passed no longer passes the checks that need no replay (the run folder was edited)."""


def passed_world(draft: Draft, cell: Cell, folder: Path) -> LoadedWorld:
    """The world a passed draft is: its last round's text, written to `folder/world.yaml` and checked again
    (YAML, the generator's rules, the schema) before anything judges or accepts it — a stored draft is data
    on disk, never trusted blindly. The self-check is not replayed (it is what a stored round records)."""
    checked = check_draft(draft.rounds[-1].yaml_text, draft.idea_id, cell, folder, seeds=0, round_no=0)
    if checked.stage != "ok":
        raise StoredDraftInvalid(f"the stored draft of {draft.idea_id} fails {checked.stage}: "
                                 + "; ".join(checked.problems[:3]))
    return load_world(str(folder.resolve()))


def check_draft(text: str, idea_id: str, cell: Cell, folder: Path, seeds: int, round_no: int) -> RepairRound:
    """Check one draft (written to `folder/world.yaml`, the only file there) and say where it stopped;
    `seeds=0` checks everything but the self-check."""
    def stop(stage: str, problems: list[str]) -> RepairRound:
        return RepairRound(round=round_no, yaml_text=text, stage=stage, problems=problems)

    if len(text) > MAX_DRAFT_CHARS:
        return stop("yaml", [f"the file is {len(text):,} characters; a generated world is limited to "
                             f"{MAX_DRAFT_CHARS:,}"])
    try:
        data = load_yaml(text, name="world.yaml")
    except UserError as exc:
        return stop("yaml", [str(exc)])
    problems = policy_problems(data, idea_id, cell)
    if problems:
        return stop("policy", problems)
    stray = sorted(p.name for p in folder.glob("*.py")) if folder.is_dir() else []
    if stray:  # the loader would import a hooks.py: nothing but world.yaml may sit beside a generated world
        raise UserError(f"{folder} holds {stray}: a generated world's folder holds only world.yaml "
                        "(remove them; nothing but the generator writes there)")
    write_atomic(folder / "world.yaml", text)
    try:
        loaded = load_world(str(folder.resolve()))
    except WorldSpecError as exc:
        lines = [line.strip(" -") for line in str(exc).splitlines()[1:] if line.strip()]
        return stop("schema", lines or [str(exc)])
    if seeds == 0:
        return stop("ok", [])
    report = check_world(loaded, variants=True, seeds=seeds)
    if not report.ok:  # the self-check words each problem as what it expected: say that it did not hold
        return stop("selfcheck", [f"expected, but not so: {p}" for p in report.problems])
    return stop("ok", [])


def repair_message(last: RepairRound, idea_id: str, rounds: int) -> list[dict[str, str]]:
    shown = last.problems[:MAX_PROBLEMS_SHOWN]
    return prompts.render("repair", stage_meaning=STAGE_MEANINGS.get(last.stage, last.stage), problems=shown,
                          more=len(last.problems) - len(shown), idea_id=idea_id, round=last.round + 1, rounds=rounds)


async def draft_world(asker: Asker, understanding: Understanding, idea: Idea, check_gate: asyncio.Semaphore
                      ) -> Draft:
    """The idea's drafts, round by round, until one passes or the repair rounds are spent."""
    config = asker.config
    settings = config.settings("drafting")
    inputs = inputs_hash(prompts.fingerprint("drafting"), prompts.fingerprint("repair"), CHECK_VERSION,
                         shaping(settings), understanding, idea, config.check_seeds)
    # stored after every round: a run killed mid-repair, or rerun with more repair_rounds, goes on from there
    draft = asker.store.load("drafts", idea.id, Draft, inputs) or Draft(idea_id=idea.id)
    base = prompts.render("drafting", idea=idea, idea_cell=understanding.cell, domain=understanding.domain,
                          understanding=understanding, **reference_texts())
    folder = asker.store.folder / "drafts" / idea.id
    while not draft.passed and len(draft.rounds) <= config.repair_rounds:
        messages = base
        if draft.rounds:  # the latest draft and what was wrong with it (the whole history would only grow)
            last = draft.rounds[-1]
            messages = [*base, {"role": "assistant", "content": f"```yaml\n{last.yaml_text}\n```"},
                        *repair_message(last, idea.id, config.repair_rounds)]
        reply = await asker.text("repair" if draft.rounds else "drafting", messages, settings)
        async with check_gate:
            checked = await asyncio.to_thread(check_draft, yaml_block(reply), idea.id, understanding.cell, folder,
                                              config.check_seeds, len(draft.rounds))
        draft.rounds.append(checked)
        asker.store.save("drafts", idea.id, draft, inputs)
    return draft


def rejection(draft: Draft) -> str:
    """Why a draft that never passed was rejected: where its last round stopped, and the first problems."""
    last = draft.rounds[-1]
    first = "; ".join(last.problems[:3]) + (f" (+{len(last.problems) - 3} more)" if len(last.problems) > 3 else "")
    return f"{last.stage}: {first}" if first else last.stage
