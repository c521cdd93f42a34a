"""Stages 1 and 2: understanding a cell in a domain, and ideas for scenarios in it (de-duplicated).

Understanding and ideation are one model call each per cell x domain, stored with their inputs hash.
De-duplication is not a model call: every idea of the run is compared (`similarity`) with the library
and with the ideas before it, in a fixed order (cells, then domains, then the model's order), so the
same run keeps the same ideas however its calls interleave.
"""

from __future__ import annotations

from pydantic import ValidationError

from impress_sim.envs.loader import world_ids
from impress_sim.generate import prompts
from impress_sim.generate.artifacts import Cell, Duplicate, Idea, IdeaSet, IdeasReply, Understanding
from impress_sim.generate.ask import Asker
from impress_sim.generate.library import LibraryWorld, examples_for
from impress_sim.generate.runstore import inputs_hash, shaping
from impress_sim.generate.similarity import duplicates
from impress_sim.taxonomy import MOTIVE_MEANINGS, RISK_MEANINGS


def pair_key(cell: Cell, domain: str) -> str:
    return f"{cell.key}--{domain}"


async def understand(asker: Asker, cell: Cell, domain: str, library: tuple[LibraryWorld, ...]) -> Understanding:
    settings = asker.config.settings("understanding")
    examples = examples_for(cell, library)
    inputs = inputs_hash(prompts.fingerprint("understanding"), shaping(settings), cell, domain,
                         [e.id for e in examples])
    stored = asker.store.load("understanding", pair_key(cell, domain), Understanding, inputs)
    if stored is not None:
        return stored
    messages = prompts.render("understanding", cell=cell, domain=domain, examples=examples,
                              motive_meaning=MOTIVE_MEANINGS[cell.motive], risk_meaning=RISK_MEANINGS[cell.risk_type])
    understanding = await asker.structured("understanding", messages, Understanding, settings)
    understanding = understanding.model_copy(update={"cell": cell, "domain": domain,
                                                     "examples": [e.id for e in examples]})
    asker.store.save("understanding", pair_key(cell, domain), understanding, inputs)
    return understanding


async def ideate(asker: Asker, understanding: Understanding, library: tuple[LibraryWorld, ...]) -> IdeaSet:
    settings = asker.config.settings("ideation")
    count = asker.config.ideas
    inputs = inputs_hash(prompts.fingerprint("ideation"), shaping(settings), understanding, count,
                         [w.id for w in library])
    key = pair_key(understanding.cell, understanding.domain)
    stored = asker.store.load("ideation", key, IdeaSet, inputs)
    if stored is not None:
        return stored
    messages = prompts.render("ideation", understanding=understanding, count=count, library=[w.line() for w in library])
    reply = await asker.structured("ideation", messages, IdeasReply, settings)
    ideas: list[Idea] = []
    dropped: list[str] = []
    for k, raw in enumerate(reply.ideas[: count * 2]):  # a model that proposes 500 is read no further than this
        try:
            ideas.append(Idea.model_validate(raw))
        except ValidationError as exc:
            dropped.append(f"idea {k + 1}: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}"[:300])
    result = IdeaSet(cell=understanding.cell, domain=understanding.domain, ideas=ideas[:count], dropped=dropped)
    if result.ideas:  # nothing usable is not stored: the next run asks again
        asker.store.save("ideation", key, result, inputs)
    return result


def unique_ids(sets: list[IdeaSet], library_ids: set[str]) -> list[tuple[IdeaSet, Idea]]:
    """Every idea with an id unique in the run and unlike any library world's (a suffix where needed)."""
    taken = set(world_ids()) | library_ids
    out = []
    for idea_set in sets:
        for idea in idea_set.ideas:
            base, n, new_id = idea.id, 2, idea.id
            while new_id in taken:
                new_id = f"{base[:58]}_{n}"
                n += 1
            taken.add(new_id)
            out.append((idea_set, idea if new_id == idea.id else idea.model_copy(update={"id": new_id})))
    return out


def deduplicate(ideas: list[tuple[IdeaSet, Idea]], library: tuple[LibraryWorld, ...], threshold: float
                ) -> tuple[list[tuple[IdeaSet, Idea]], list[Duplicate]]:
    """The ideas kept, and those that repeat a library world or an earlier idea."""
    found = duplicates([(i.id, i.text()) for _, i in ideas], [(w.id, w.text()) for w in library], threshold)
    dropped = {m.index: m for m in found}
    kept = [pair for k, pair in enumerate(ideas) if k not in dropped]
    return kept, [Duplicate(idea=ideas[m.index][1], of=m.of, similarity=m.similarity) for m in found]
