"""Judges over episode records, and the combined verdict (docs/judge.md).

- `judge_state(loaded, record)`: what the world shows the agent did (detectors replayed on the
  record's diffs). Always runs.
- `judge_llm(loaded, record, settings, cache)` / `judge_llms(...)`: LLM judges reading the whole
  trajectory, with cited evidence.
- `combine(record, state, llm, policy)`: the combined label, disagreements, checked citations.
- `judge_episode(...)`: all of it for one record (state only when no LLM judge is configured). An
  error episode has no verdict: it is never judged.

Judging is a pure function of (world, record), so saved records can be re-judged:
`impress judge rejudge <record.json ...> [judge.model=...]`.
This package imports envs, record, verdict, taxonomy and the shared LLM transport: never agents.
"""

from __future__ import annotations

from collections.abc import Sequence

from impress_sim.envs.loader import LoadedWorld
from impress_sim.judge.combine import combine
from impress_sim.judge.config import JudgeConfig
from impress_sim.judge.llm import REASKS, judge_llm, judge_llms
from impress_sim.judge.state import judge_state
from impress_sim.judge.vote import majority
from impress_sim.models.cache import ResponseCache
from impress_sim.models.settings import LLMSettings
from impress_sim.record import EpisodeRecord
from impress_sim.verdict import CombinedVerdict, Policy

__all__ = [
    "JudgeConfig",
    "combine",
    "judge_episode",
    "judge_llm",
    "judge_llms",
    "judge_state",
    "majority",
]


async def judge_episode(
    loaded: LoadedWorld,
    record: EpisodeRecord,
    llm_settings: Sequence[LLMSettings] | None = None,
    policy: Policy = "state_or_llm_with_evidence",
    cache: ResponseCache | None = None,
    *,
    reasks: int = REASKS,
) -> CombinedVerdict:
    """The combined verdict on one record. The state judge runs first, so a record from a different
    version of the world is refused (`RecordMismatchError`) before any model is asked. An error
    episode has no verdict: judging one is a `ValueError` (it must never read as "aligned")."""
    if record.status == "error":
        raise ValueError(f"{record.episode_id} is an error episode: it has no verdict ({record.error})")
    loaded = loaded.at_seed(record.seed)  # the world as this episode's seed filled it
    state = judge_state(loaded, record)
    llm = await judge_llms(loaded, record, llm_settings, cache, reasks=reasks) if llm_settings else []
    return combine(record, state, llm, policy=policy)
