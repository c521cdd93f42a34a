"""The generation run: every stage, in order, for every cell x domain and every idea, resumable.

Two phases, because de-duplication needs every idea at once:
1. per cell x domain (concurrently): understanding, then ideation;
2. de-duplication of all ideas against the library and each other (no model call), then per idea
   (concurrently): drafting and repair, quality control, the optional pilot, acceptance into the pack.

Every model call passes one gate (`concurrency`) and the budget check; every stage's output is stored as
it finishes, so a run killed anywhere resumes without redoing finished stages, and a run stopped by its
budget resumes when given a larger one. The outcome of every idea is one `Outcome`: accepted, rejected
at a stage for a reason, an error at a stage (provider faults that retries did not cure: never counted
as accepted or rejected, and retried by the next run), or pending (the budget ran out before it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from impress_sim import __version__
from impress_sim.envs.loader import load_world
from impress_sim.errors import UserError
from impress_sim.generate import prompts
from impress_sim.generate.artifacts import (
    STAGES,
    Cell,
    Duplicate,
    GenerationSummary,
    Idea,
    IdeaSet,
    Outcome,
    Understanding,
)
from impress_sim.generate.ask import Asker
from impress_sim.generate.config import GenerateConfig
from impress_sim.generate.drafts import StoredDraftInvalid, draft_world, passed_world, rejection
from impress_sim.generate.ideas import deduplicate, ideate, pair_key, understand, unique_ids
from impress_sim.generate.library import LibraryWorld, covered_cells, with_extra
from impress_sim.generate.pilot import pilot
from impress_sim.generate.qc import quality_control
from impress_sim.generate.runstore import BudgetSpent, RunStore, write_atomic
from impress_sim.models.cache import ResponseCache
from impress_sim.packs import MANIFEST, PackManifest, PackWorld, read_pack, write_manifest

PROMPT_STAGES = ("understanding", "ideation", "drafting", "repair", "qc")
# what a run folder holds (runstore): a pack may sit in a run folder, never in one of these
RUN_FOLDER_NAMES = {"understanding", "ideation", "drafts", "qc", "pilot", "ledger.jsonl", "config.yaml",
                    "summary.json"}


@dataclass
class Run:
    """One run's shared parts: the asker (model calls, ledger, budget), the progress display, the outcomes."""

    config: GenerateConfig
    asker: Asker
    console: Console
    progress: Progress | None = None
    stopped: str = ""
    check_gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    decided: dict[str, int] = field(default_factory=lambda: {"accepted": 0, "rejected": 0, "error": 0})
    understood: dict[str, Understanding] = field(default_factory=dict)  # pair key -> its understanding
    library: tuple[LibraryWorld, ...] = ()  # the worlds ideas must not repeat (shipped + library=)

    def status(self) -> str:
        ledger = self.asker.store.ledger
        budget = f" of ${self.config.budget_usd:g}" if self.config.budget_usd else ""
        return (f"accepted {self.decided['accepted']} · rejected {self.decided['rejected']} · "
                f"errors {self.decided['error']} · ${ledger.cost_usd:.4f}{budget} · {ledger.tokens:,} tokens")

    def refresh(self) -> None:
        if self.progress is not None:
            for task in self.progress.tasks:
                self.progress.update(task.id, status=self.status())


def _stage_counts(outcomes: list[Outcome], pilot_on: bool, pairs: int) -> dict[str, dict[str, int]]:
    """stage -> entered/passed/rejected/error/pending. Understanding counts cell x domain pairs; ideation counts
    the ideas proposed plus the pairs whose ideation failed or proposed nothing; every later stage counts ideas,
    each having passed every stage before the one it ended at."""
    stages = [s for s in STAGES if pilot_on or s != "pilot"]
    counts = {s: {"entered": 0, "passed": 0, "rejected": 0, "error": 0, "pending": 0} for s in stages}
    counts["understanding"]["entered"] = pairs
    stopped_early = [o for o in outcomes if o.kind == "pair" and o.stage == "understanding"]
    counts["understanding"]["passed"] = pairs - len(stopped_early)
    for o in outcomes:
        end = stages.index(o.stage) if o.stage in stages else 0
        for s in stages[1:end]:  # understanding is counted in pairs, above
            counts[s]["entered"] += 1
            counts[s]["passed"] += 1
        row = counts[stages[end]]
        if o.kind == "idea" or o.stage != "understanding":
            row["entered"] += 1
        if o.status == "accepted":
            row["passed"] += 1
        else:
            row[o.status] += 1
    return counts


async def _pair(run: Run, cell: Cell, domain: str) -> IdeaSet | Outcome:
    stage = "understanding"
    library = run.library
    try:
        understanding = await understand(run.asker, cell, domain, library)
        run.understood[pair_key(cell, domain)] = understanding
        stage = "ideation"
        return await ideate(run.asker, understanding, library)
    except BudgetSpent as exc:
        run.stopped = str(exc)
        return Outcome(idea_id=pair_key(cell, domain), kind="pair", cell=cell.key, domain=domain, status="pending",
                       stage=stage, reason=str(exc))
    except Exception as exc:  # a provider fault retries did not cure, or replies that never parsed
        return Outcome(idea_id=pair_key(cell, domain), kind="pair", cell=cell.key, domain=domain, status="error",
                       stage=stage, reason=f"{type(exc).__name__}: {str(exc)[:500]}")
    finally:
        if run.progress is not None:
            run.progress.advance(run.progress.task_ids[0])


async def _idea(run: Run, idea_set: IdeaSet, idea: Idea) -> Outcome:
    outcome = await _decide(run, idea_set, idea)
    if outcome.status in run.decided:
        run.decided[outcome.status] += 1
    run.refresh()
    return outcome


async def _decide(run: Run, idea_set: IdeaSet, idea: Idea) -> Outcome:
    understanding = run.understood[pair_key(idea_set.cell, idea_set.domain)]
    base = {"idea_id": idea.id, "cell": idea_set.cell.key, "domain": idea_set.domain, "title": idea.title}
    stage = "drafting"
    try:
        draft = await draft_world(run.asker, understanding, idea, run.check_gate)
        if not draft.passed:
            stage = "repair" if len(draft.rounds) > 1 else "drafting"
            return Outcome(**base, status="rejected", stage=stage, reason=rejection(draft),
                           repair_rounds=len(draft.rounds) - 1)
        rounds = len(draft.rounds) - 1
        folder = run.asker.store.folder / "drafts" / idea.id
        loaded = passed_world(draft, idea_set.cell, folder)  # what QC judges is exactly what the pack receives
        stage = "qc"
        qc = await quality_control(run.asker, loaded, idea_set.cell, idea_set.domain, idea.id)
        scores = dict(qc.medians)
        if not qc.passed:
            reason = "; ".join(f"{c}: {why}" for c, why in qc.failed.items())
            return Outcome(**base, status="rejected", stage="qc", reason=reason, repair_rounds=rounds,
                           qc=scores)
        result = None
        if run.config.pilot_model:
            stage = "pilot"
            result = await pilot(run.asker, folder, idea.id, loaded.content_hash)
            if result.errors == result.episodes:
                return Outcome(**base, status="error", stage="pilot", reason="every pilot episode errored",
                               repair_rounds=rounds, qc=scores, pilot=result)
            if result.failed:
                return Outcome(**base, status="rejected", stage="pilot", reason=result.failed,
                               repair_rounds=rounds, qc=scores, pilot=result)
        stage = "acceptance"
        target = Path(run.config.pack_folder()) / idea.id
        if any(target.glob("*.py")):  # the loader would import a hooks.py placed there
            raise StoredDraftInvalid(f"{target} holds Python files; a generated world's folder holds only world.yaml")
        write_atomic(target / "world.yaml", (folder / "world.yaml").read_text(encoding="utf-8"))
        if load_world(str(target.resolve())).content_hash != loaded.content_hash:
            raise StoredDraftInvalid(f"{target / 'world.yaml'} is not the world quality control judged")
        return Outcome(**base, status="accepted", stage="acceptance", repair_rounds=rounds, qc=scores,
                       pilot=result, world_path=str(target))
    except BudgetSpent as exc:
        run.stopped = str(exc)
        return Outcome(**base, status="pending", stage=stage, reason=str(exc))
    except UserError:
        raise  # the run folder or pack cannot be written: the user must fix it
    except Exception as exc:
        return Outcome(**base, status="error", stage=stage, reason=f"{type(exc).__name__}: {str(exc)[:500]}")
    finally:
        if run.progress is not None:
            run.progress.advance(run.progress.task_ids[-1])


def _duplicate_outcome(idea_set: IdeaSet, dup: Duplicate) -> Outcome:
    return Outcome(idea_id=dup.idea.id, cell=idea_set.cell.key, domain=idea_set.domain, title=dup.idea.title,
                   status="rejected", stage="ideation",
                   reason=f"near-duplicate of {dup.of} (similarity {dup.similarity:.2f} >= threshold)")


def claim_pack(config: GenerateConfig) -> set[str]:
    """Make sure the pack folder is ours to write: absent, empty, or a pack (a folder with pack.yaml). Returns the
    world folders its manifest lists (the only folders a run may ever replace or remove there)."""
    folder = Path(config.pack_folder())
    if folder.exists() and not folder.is_dir():
        raise UserError(f"pack={folder} is a file, not a folder")
    pack, out = folder.resolve(), Path(config.out).resolve()
    inside = out in pack.parents and pack.relative_to(out).parts[0] in RUN_FOLDER_NAMES
    if pack == out or pack in out.parents or inside:
        raise UserError(f"pack={folder} overlaps the run folder out={config.out}: the pack must be its own folder "
                        "(the default is <out>/pack)")
    if (out / MANIFEST).is_file():
        raise UserError(f"out={config.out} is a pack (it holds pack.yaml); the run folder must be another folder")
    if not folder.exists() or not any(folder.iterdir()):
        return set()
    if not (folder / MANIFEST).is_file():
        raise UserError(f"pack={folder} is a folder that holds other things and no pack.yaml: the generator writes "
                        "only to a new folder or to a pack it made; choose another pack= (or out=)")
    try:
        manifest = read_pack(folder)
    except UserError:
        return set()  # a broken manifest: nothing in the folder is known to be ours, so nothing is removed
    if manifest.run and Path(manifest.run).resolve() != Path(config.out).resolve():
        raise UserError(f"pack={folder} was made by the run in {manifest.run}, not by out={config.out}: writing it "
                        "would replace that run's worlds; choose another pack= (or resume that run)")
    return {w.path for w in manifest.worlds}


def write_pack(config: GenerateConfig, outcomes: list[Outcome], ours: set[str]) -> Path:
    """The pack's manifest: every accepted world of this run. A world folder an earlier run of this pack
    accepted (`ours`) and this one did not is removed; nothing else in the folder is touched."""
    folder = Path(config.pack_folder())
    folder.mkdir(parents=True, exist_ok=True)
    accepted = [o for o in outcomes if o.status == "accepted"]
    for stale in sorted(ours - {o.idea_id for o in accepted}):
        target = folder / stale
        if target.is_dir() and not target.is_symlink() and target.resolve().parent == folder.resolve():
            shutil.rmtree(target)
    worlds = [PackWorld(id=o.idea_id, path=o.idea_id, cell=o.cell, domain=o.domain, title=o.title,
                        content_hash=load_world(str((folder / o.idea_id).resolve())).content_hash, qc=o.qc,
                        pilot=o.pilot.model_dump() if o.pilot else None) for o in accepted]
    run_folder = Path(config.out).resolve()
    manifest = PackManifest(pack=run_folder.name, run=str(run_folder), format_version=1,
                            generator=f"impress-sim {__version__}",
                            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                            prompts={s: prompts.version(s) for s in PROMPT_STAGES}, config_digest=config.digest(),
                            worlds=worlds)
    write_manifest(folder, manifest)
    return folder


@contextmanager
def _progress(run: Run) -> Iterator[None]:
    if run.config.quiet:
        yield
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=run.console, transient=False) as progress:
        run.progress = progress
        try:
            yield
        finally:
            run.progress = None


async def generate_async(config: GenerateConfig, console: Console | None = None) -> GenerationSummary:
    """Run (or resume) the whole pipeline; the summary is also written to `<out>/summary.json`."""
    console = console or Console(stderr=True)
    ours = claim_pack(config)
    store = RunStore(Path(config.out))
    write_atomic(store.folder / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    cache_path = config.cache_path()
    cache = ResponseCache(cache_path) if cache_path else None
    run = Run(config, Asker(config, store, cache, concurrency=config.concurrency), console)
    run.asker.on_call = run.refresh
    try:
        run.library = with_extra(config.library, Path(config.pack_folder()))
    except UserError as exc:
        raise UserError(f"library: {exc}") from None
    cells = config.cell_list(covered_cells(run.library))
    pairs = [(c, d) for c in cells for d in config.domains]
    outcomes: list[Outcome] = []
    duplicates: list[Duplicate] = []
    ideas: list[tuple[IdeaSet, Idea]] = []
    try:
        with _progress(run):
            if run.progress is not None:
                run.progress.add_task("understanding + ideas", total=len(pairs), status=run.status())
            results = await asyncio.gather(*(_pair(run, c, d) for c, d in pairs))
            sets = [r for r in results if isinstance(r, IdeaSet)]
            outcomes += [r for r in results if isinstance(r, Outcome)]
            outcomes += [Outcome(idea_id=pair_key(s.cell, s.domain), kind="pair", cell=s.cell.key, domain=s.domain,
                                 status="rejected", stage="ideation",
                                 reason="the model proposed no usable ideas" + (
                                     f" ({len(s.dropped)} dropped: {s.dropped[0]})" if s.dropped else ""))
                         for s in sets if not s.ideas]
            ideas = unique_ids(sets, {w.id for w in run.library})
            kept, duplicates = deduplicate(ideas, run.library, config.similarity)
            set_of = {i.id: s for s, i in ideas}
            outcomes += [_duplicate_outcome(set_of[d.idea.id], d) for d in duplicates]
            if run.progress is not None:
                run.progress.add_task("worlds", total=len(kept), status=run.status())
            outcomes += await asyncio.gather(*(_idea(run, s, i) for s, i in kept))
    finally:
        if cache is not None:
            cache.close()
    order = {idea.id: k for k, (_, idea) in enumerate(ideas)}
    outcomes.sort(key=lambda o: order.get(o.idea_id, -1))  # the ideas' order, not the order they finished in
    pack = write_pack(config, outcomes, ours)
    summary = GenerationSummary(
        run=str(store.folder), pack=str(pack), created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        finished=not run.stopped and not any(o.status == "pending" for o in outcomes), stopped=run.stopped,
        cells=[c.key for c in cells], domains=list(config.domains),
        stage_counts=_stage_counts(outcomes, bool(config.pilot_model), len(pairs)), outcomes=outcomes,
        duplicates=duplicates,
        costs=store.ledger.costs(), budget_usd=config.budget_usd, budget_tokens=config.budget_tokens,
        prompts={s: prompts.version(s) for s in PROMPT_STAGES}, reused=store.reused)
    write_atomic(store.folder / "summary.json", summary.model_dump_json(indent=2))
    return summary


def generate(config: GenerateConfig, console: Console | None = None) -> GenerationSummary:
    """`generate_async` on a fresh event loop (the Python API for scripts)."""
    return asyncio.run(generate_async(config, console))
