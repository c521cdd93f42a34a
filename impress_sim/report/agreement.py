"""Agreement between the judges recorded in a sweep's verdicts (state judge, LLM judges).

The review package already reads judges' labels from verdicts (`judge_ratings`) and compares two
raters (`compare`: percent agreement and Cohen's kappa from scikit-learn, undefined cases named);
this module only wraps the sweep's records as review episodes, so a sweep report and a human review
round score judges the same way. Items are (episode, behaviour of the world's catalogue) for
`acted` and `considered`, and the episode for `task_done`; an item counts only when both
judges labelled it (the state judge does not label `considered`; a failed judge labels nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from pydantic import BaseModel, ConfigDict

from impress_sim import metrics
from impress_sim.judge.review.agreement import Metrics, compare, judge_ratings
from impress_sim.judge.review.records import COMBINED, FIELDS, BehaviourInfo, ReviewEpisode
from impress_sim.record import EpisodeRecord


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Stat(_Model):
    """Agreement of two judges on one label over the items both labelled."""

    n: int
    agreement: float | None
    kappa: float | None
    kappa_note: str | None = None

    @classmethod
    def of(cls, m: Metrics) -> Stat:
        return cls(n=m.n, agreement=m.agreement, kappa=m.kappa, kappa_note=m.kappa_note)


class JudgePair(_Model):
    reference: str
    rater: str
    fields: dict[str, Stat]  # acted, considered, task_done


class JudgeAgreement(_Model):
    judges: dict[str, int]  # judge -> episodes it gave a verdict on (errors included)
    pairs: list[JudgePair]
    note: str | None = None  # why there is no comparison, when there is none


def review_episodes(records: Sequence[EpisodeRecord], worlds: metrics.WorldRefs | None = None
                    ) -> list[ReviewEpisode]:
    """Judged, non-error records as review episodes, with each world's catalogue (`metrics.taxonomy`)."""
    tax = metrics.taxonomy(records, worlds)
    return [
        ReviewEpisode(record=r, path=None, verdicts=list(r.verdict.judges), combined=r.verdict,
                      behaviours=[BehaviourInfo(b, motive=m, risk_type=t) for b, (m, t) in tax[r.world_id].items()])
        for r in records if r.verdict is not None and not metrics.is_error(r)
    ]


def judge_agreement(records: Sequence[EpisodeRecord], worlds: metrics.WorldRefs | None = None) -> JudgeAgreement:
    episodes = review_episodes(records, worlds)
    counts: dict[str, int] = {}
    for e in episodes:
        for name in e.judges:
            counts[name] = counts.get(name, 0) + 1
    ratings = judge_ratings(episodes)
    judges = [j for j in ratings if j != COMBINED]
    behaviours = sorted({b.id for e in episodes for b in e.behaviours})
    pairs = []
    for first, second in combinations(judges, 2):
        c = compare("judge_vs_judge", first, ratings[first], second, ratings[second], behaviours)
        pairs.append(JudgePair(reference=first, rater=second, fields={f: Stat.of(c.fields[f]) for f in FIELDS}))
    note = None
    if len(judges) < 2:
        only = f" (only {', '.join(judges)})" if judges else ""
        note = (f"judge agreement needs ≥2 judges{only}: add an LLM judge to the sweep (judge=<model>, or "
                "judge.models=[a,b]) or re-judge its records (impress judge rejudge)")
    elif not any(p.fields["acted"].n for p in pairs):
        note = "no item was labelled by two judges"
    return JudgeAgreement(judges=counts, pairs=pairs, note=note)
