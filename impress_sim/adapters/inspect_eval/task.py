"""One impress-sim world as an Inspect AI `Task`: dataset, live-world tools, agent loop and scorer.

- **dataset** (`world_dataset`): one `Sample` per (variant, seed). Its `input` is the world's briefing as
  chat messages (system prompt with memory notes, remembered turns, the task: `Briefing.chat_messages`,
  the rule every agent of ours is given); its `metadata` names the world, its content hash, the
  variant's name and factor values, and the seed; its id is `<variant>-s<seed>`.
- **solver** (`world_agent`): builds a fresh `World` for the sample inside the solver call, so the
  world lives only in that call's frame: two samples running at once never share one. It hands the
  model the world's tools (`world_tools`: every tool call is one `World.astep`, so NPC reactions and
  timeline events happen exactly as in our env) and loops: one model turn, then that turn's tool calls
  in order. The sample ends when the world ends it (`finish`, an end condition, its deadline, or the
  tool-call budget: the world's step limit), or when the model answers without a tool call. Calls
  after the world ended in the same turn are answered "not carried out" and never reach the world.
  At the end the episode is built into an `EpisodeRecord` (`record_of`, the one conversion the RL
  judge term uses too) and kept, as JSON, in the sample's store under `impress_record`.
- **scorer** (`impress_scorer`): reads that record and runs `judge_episode` on it: the state judge,
  then the combined verdict (with an LLM judge when `judge_model` is given), the same pure function
  of (world, record) as `impress judge` and sweeps. Its value is `{"misaligned": 0|1, "task_done":
  0|1}` (each averaged, with its standard error, by Inspect); its metadata holds the verdict's
  behaviours, attempts, citations, the detectors' findings, the task checks and the whole verdict.

A sample whose model or tools failed is an Inspect error: it is never scored, so never counted as
aligned. Calls Inspect itself rejects (arguments that fail the tool's JSON schema, an unknown tool)
are answered by Inspect and never reach the world: unlike our own env, they use no step of the budget;
the task's `message_limit` bounds a model that only makes such calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from impress_sim.envs.effects import AGENT
from impress_sim.envs.env import checked_seed
from impress_sim.envs.loader import LoadedWorld, load_world
from impress_sim.envs.step import StepResult
from impress_sim.envs.world import World
from impress_sim.errors import MissingExtraError, UsageError
from impress_sim.judge import judge_episode
from impress_sim.judge.episode_reward import record_of
from impress_sim.models.settings import LLMSettings
from impress_sim.record import EpisodeRecord
from impress_sim.verdict import POLICIES, CombinedVerdict, Policy

try:
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import (
        ChatMessage,
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageTool,
        ChatMessageUser,
        ContentReasoning,
    )
    from inspect_ai.scorer import Score, Scorer, Target, mean, scorer, stderr
    from inspect_ai.solver import Generate, Solver, TaskState, solver
    from inspect_ai.tool import Tool, ToolCall, ToolDef, ToolParams
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        "impress_sim.adapters.inspect_eval needs the `inspect` extra: pip install 'impress-sim[inspect]'") from exc

RECORD_KEY = "impress_record"  # where the solver leaves the episode record in the sample's store
NOT_CARRIED_OUT = "Not carried out: the episode has ended ({why})."
DEFAULT_VARIANT = "default"


@dataclass
class Episode:
    """What one sample's run accumulates: its own live world and the results of its steps."""

    world: World
    results: list[StepResult] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (tool, args) of each step, in order


def chat_messages(messages: Sequence[dict[str, Any]]) -> list[ChatMessage]:
    """Our chat dicts (`role`, `content`, and for records `tool_calls` / `tool_call_id`) as Inspect messages."""
    out: list[ChatMessage] = []
    for m in messages:
        role, content = m.get("role"), str(m.get("content") or "")
        if role == "system":
            out.append(ChatMessageSystem(content=content))
        elif role == "assistant":
            calls = [ToolCall(id=str(c.get("id") or f"call_{i}"), function=str(c.get("name") or "?"),
                              arguments=dict(c.get("args") or {}) if isinstance(c.get("args"), dict)
                              else {"_raw": c.get("args")})
                     for i, c in enumerate(m.get("tool_calls") or [])]
            out.append(ChatMessageAssistant(content=content, tool_calls=calls or None))
        elif role == "tool":
            out.append(ChatMessageTool(content=content, tool_call_id=m.get("tool_call_id"), function=m.get("name")))
        else:
            out.append(ChatMessageUser(content=content))
    return out


def record_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Inspect messages as the dicts an `EpisodeRecord` keeps (the shape `agents/messages.message_dict` gives)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        data: dict[str, Any] = {"role": m.role, "content": m.text}
        if isinstance(m, ChatMessageAssistant):
            if m.tool_calls:
                data["tool_calls"] = [{"id": c.id, "name": c.function, "args": c.arguments} for c in m.tool_calls]
            reasoning = [c.reasoning for c in m.content if isinstance(c, ContentReasoning)] \
                if isinstance(m.content, list) else []
            if reasoning:
                data["reasoning"] = "\n".join(r for r in reasoning if r)
        if isinstance(m, ChatMessageTool):
            data["tool_call_id"] = m.tool_call_id
        out.append(data)
    return out


def parse_variants(loaded: LoadedWorld, variants: str | Sequence[str] | None) -> list[str]:
    """The variant names a task runs: `None` -> the world's default framing; `"all"` -> every named
    variant; a comma-separated string (`-T variants=baseline,control`) or a list. Unknown names are a
    `UsageError` listing the valid ones."""
    if variants is None:
        return [DEFAULT_VARIANT]
    names = [v.strip() for v in variants.split(",")] if isinstance(variants, str) else [str(v) for v in variants]
    names = [n for n in names if n]
    if names == ["all"]:
        return sorted(loaded.spec.variants) or [DEFAULT_VARIANT]
    valid = [DEFAULT_VARIANT, *sorted(loaded.spec.variants)]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise UsageError(f"variants: unknown variant(s) {unknown} of world {loaded.spec.id}; valid: {valid} "
                         "(or 'all')" if unknown else "variants: no variant named; give names or 'all'")
    return list(dict.fromkeys(names))


def parse_seeds(seeds: int | str | Sequence[int]) -> list[int]:
    """`seeds=3` -> seeds 0, 1, 2; a list (or `"0,4,7"`) -> those seeds (each checked: 0 to 2**31-1)."""
    if isinstance(seeds, str):
        try:
            parts = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise UsageError(f"seeds: a count or a comma-separated list of integers, got {seeds[:40]!r}") from None
        seeds = parts[0] if len(parts) == 1 and "," not in seeds else parts
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise UsageError(f"seeds: a count of at least 1 (seeds 0..n-1) or a list of seeds, got {seeds}")
        return list(range(seeds))
    if isinstance(seeds, bool):
        raise UsageError("seeds: a count or a list of integers, got a boolean")
    try:
        out = [checked_seed(s, "each seed") for s in seeds]
    except (TypeError, ValueError) as exc:
        raise UsageError(f"seeds: {exc}") from None
    if not out:
        raise UsageError("seeds: an empty list; give a count or at least one seed")
    return list(dict.fromkeys(out))


def world_dataset(loaded: LoadedWorld, variants: Sequence[str], seeds: Sequence[int]) -> MemoryDataset:
    """One sample per (variant, seed): the briefing as input, the episode's identity as metadata."""
    samples = []
    for variant in variants:
        for seed in seeds:
            world = World(loaded, variant=variant, seed=seed)
            samples.append(Sample(
                id=f"{variant}-s{seed}",
                input=chat_messages(world.briefing.chat_messages()),
                target="aligned",
                metadata={"world": loaded.spec.id, "world_path": str(loaded.path), "world_hash": loaded.content_hash,
                          "variant": variant,
                          "factors": dict(world.factors), "seed": seed, "slots": dict(world.loaded.slot_values),
                          "motives": list(loaded.spec.motives), "risk_types": list(loaded.spec.risk_types)}))
    return MemoryDataset(samples, name=f"impress_sim/{loaded.spec.id}")


def world_tools(episode: Episode) -> list[Tool]:
    """The world's tools (under the names the variant shows them by) bound to this sample's live world.
    Each call is one world step; after the world ended, a call is answered and never carried out."""
    world = episode.world
    tools: list[Tool] = []
    for schema in world.tool_schemas(AGENT):
        name = str(schema["name"])

        def make(name: str) -> Any:
            async def execute(**kwargs: Any) -> str:
                if world.ended():
                    return NOT_CARRIED_OUT.format(why=world.ended_by())
                result = await world.astep({"tool": name, "args": kwargs})
                episode.results.append(result)
                episode.calls.append((name, dict(kwargs)))
                return result.observation
            return execute

        params = ToolParams.model_validate(schema.get("parameters") or {"type": "object"})
        tools.append(ToolDef(make(name), name=name, description=str(schema.get("description") or name),
                             parameters=params).as_tool())
    return tools


def _attach_calls(episode: Episode, messages: Sequence[ChatMessage]) -> dict[int, tuple[str, str]]:
    """Step position -> (call id, the assistant's visible text) for each step, matching the steps (in
    order) to the assistant messages' tool calls with the same tool and arguments (Inspect runs a
    turn's calls in order; calls it refused itself never stepped the world, so they are skipped)."""
    calls = [(c, m.text) for m in messages if isinstance(m, ChatMessageAssistant) for c in (m.tool_calls or [])]
    out: dict[int, tuple[str, str]] = {}
    j = 0
    for i, (name, args) in enumerate(episode.calls):
        while j < len(calls) and not (calls[j][0].function == name and calls[j][0].arguments == args):
            j += 1
        if j < len(calls):
            out[i] = (calls[j][0].id, calls[j][1])
            j += 1
    return out


def episode_record(episode: Episode, messages: Sequence[ChatMessage], model: str) -> EpisodeRecord:
    """The sample's episode as an `EpisodeRecord` (built by `record_of`, as the RL judge term builds it),
    with each step's call id and the visible text of the assistant turn that made it."""
    record = record_of(episode.world, episode.results, model=model, messages=record_messages(messages))
    for i, (call_id, text) in _attach_calls(episode, messages).items():
        record.steps[i].call_id = call_id
        record.steps[i].thought = text
    return record.model_copy(update={"agent": "inspect"})


@solver
def world_agent(loaded: LoadedWorld, max_tool_calls: int | None = None) -> Solver:
    """A tool loop over a live world of its own per sample (see the module docstring)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        world = World(loaded, variant=meta.get("variant"), seed=meta.get("seed"), max_tool_calls=max_tool_calls)
        episode = Episode(world)
        state.tools = world_tools(episode)
        try:
            while not world.ended() and not state.completed:
                state = await generate(state, tool_calls="single")
                if not state.output.message.tool_calls:
                    break  # an answer without a tool call ends the sample, as in our other harnesses
        finally:  # a sample cut short by Inspect's own limits still leaves its record for the scorer
            record = episode_record(episode, state.messages, str(state.model))
            record.token_usage = {"total_tokens": int(state.token_usage)}  # Inspect's count for the sample
            state.store.set(RECORD_KEY, record.model_dump(mode="json"))
        return state

    return solve


def verdict_metadata(record: EpisodeRecord, verdict: CombinedVerdict) -> dict[str, Any]:
    """What a score carries besides its value: the verdict's labels, citations and the detectors' findings."""
    return {
        "misaligned": verdict.misaligned,
        "task_done": verdict.task_done,
        "behaviours": verdict.behaviours,
        "state_behaviours": verdict.state_behaviours,
        "llm_behaviours": verdict.llm_behaviours,
        "attempted": verdict.attempted,
        "citations": [c.model_dump(mode="json") for c in verdict.citations],
        "findings": [f.model_dump(mode="json") for f in record.findings],
        "task_checks": [c.model_dump(mode="json") for c in record.task_checks],
        "task_score": record.task_score,
        "severity": verdict.severity,
        "needs_review": verdict.needs_review,
        "disagreements": verdict.disagreements,
        "ended_by": record.ended_by,
        "steps": len(record.steps),
        "verdict": verdict.model_dump(mode="json"),
    }


def verdict_score(record: EpisodeRecord, verdict: CombinedVerdict) -> Score:
    """The Inspect score of one judged episode (also what exported logs carry)."""
    explanation = (f"misaligned: {', '.join(verdict.behaviours)}" if verdict.misaligned
                   else "no misaligned behaviour counted")
    explanation += f"; task {'done' if verdict.task_done else 'not done'}"
    return Score(value={"misaligned": int(verdict.misaligned), "task_done": int(bool(verdict.task_done))},
                 answer="misaligned" if verdict.misaligned else "aligned", explanation=explanation,
                 metadata=verdict_metadata(record, verdict))


@scorer(metrics={"misaligned": [mean(), stderr()], "task_done": [mean(), stderr()]})
def impress_scorer(loaded: LoadedWorld, policy: Policy = "state_or_llm_with_evidence",
                   judge_model: str | None = None, judge_api_base: str | None = None) -> Scorer:
    """Our judges on the sample's record: the state judge and the combined verdict (see the module docstring).
    `judge_model` (with `judge_api_base` for a local OpenAI-compatible server) adds an LLM judge, asked
    through impress-sim's own transport and response rules, as `impress judge` asks it."""
    settings = [LLMSettings(model=judge_model, api_base=judge_api_base, temperature=0.0)] if judge_model else None

    async def score(state: TaskState, target: Target) -> Score:
        data = state.store.get(RECORD_KEY)
        if data is None:
            raise RuntimeError("the sample has no impress record (the world_agent solver did not run)")
        record = EpisodeRecord.model_validate(data)
        verdict = await judge_episode(loaded, record, settings, policy)
        return verdict_score(record, verdict)

    return score


def world_task(world: str | LoadedWorld, variants: str | Sequence[str] | None = None,
               seeds: int | str | Sequence[int] = 1, max_tool_calls: int | None = None,
               policy: str = "state_or_llm_with_evidence", judge_model: str | None = None,
               judge_api_base: str | None = None, message_limit: int | None = None) -> Task:
    """The Inspect task of one world: samples variants × seeds, the world's tools on a live world per
    sample, our judges as the scorer. `max_tool_calls` overrides the world's budget; `message_limit`
    (default: 4 messages per tool call of the budget, plus the briefing) is Inspect's backstop."""
    loaded = world if isinstance(world, LoadedWorld) else load_world(world)
    if loaded.spec.extra_agents:
        raise UsageError(f"world {loaded.spec.id} is a multi-agent world (extra agents: "
                         f"{[r.id for r in loaded.spec.extra_agents]}); an Inspect task runs one agent. "
                         "Run it with `impress run` or the PettingZoo env")
    if policy not in POLICIES:
        raise UsageError(f"policy: {policy!r} is not a policy; valid: {list(POLICIES)}")
    if max_tool_calls is not None and (isinstance(max_tool_calls, bool) or int(max_tool_calls) < 1):
        raise UsageError(f"max_tool_calls: at least 1, got {max_tool_calls}")
    names = parse_variants(loaded, variants)
    seed_list = parse_seeds(seeds)
    budget = int(max_tool_calls or loaded.spec.limits.max_tool_calls)
    dataset = world_dataset(loaded, names, seed_list)
    return Task(
        dataset=dataset,
        solver=world_agent(loaded, max_tool_calls=budget),
        scorer=impress_scorer(loaded, policy=policy, judge_model=judge_model, judge_api_base=judge_api_base),
        message_limit=message_limit or 4 * budget + 10,
        name=loaded.spec.id,
        metadata={"world": loaded.spec.id, "world_hash": loaded.content_hash, "variants": names,
                  "seeds": seed_list, "max_tool_calls": budget, "policy": policy, "judge_model": judge_model,
                  "judge_api_base": judge_api_base},
    )


__all__ = ["NOT_CARRIED_OUT", "RECORD_KEY", "Episode", "chat_messages", "episode_record", "impress_scorer",
           "parse_seeds", "parse_variants", "record_messages", "verdict_metadata", "verdict_score",
           "world_agent", "world_dataset", "world_task", "world_tools"]
