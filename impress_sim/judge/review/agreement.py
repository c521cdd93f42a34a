"""Agreement between raters: judges, people, and the people's majority label.

Statistics come from scikit-learn (`accuracy_score`, `cohen_kappa_score`, `confusion_matrix`,
`precision_recall_fscore_support`); this module only chooses what is compared with what and
handles the cases where a statistic does not exist. Those are reported as undefined with the
reason, never as NaN or a crash: Cohen's kappa is undefined when both raters gave one and the
same class on every item (chance agreement is 1: 0/0), precision when the rater under test said
"yes" nowhere, recall when the reference said "yes" nowhere.

Every comparison has a reference and a rater under test: people are the reference for judges,
the state judge (what the world shows) for the other judges, and the first reviewer (by name) for
the other reviewers. Agreement and kappa are symmetric; precision and recall read "of the rater's
yeses, how many the reference shares" and "of the reference's yeses, how many the rater found".
Only items both raters labelled are compared.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, precision_recall_fscore_support

from impress_sim.judge.review.labels import Key, LabelSet, check_against, yes_no
from impress_sim.judge.review.records import COMBINED, FIELDS, TASK_ITEM, ReviewEpisode
from impress_sim.judge.state import STATE_JUDGE

Ratings = dict[Key, bool]
PEOPLE = "people"
HUMAN_PREFIX = "human:"


@dataclass(frozen=True)
class Metrics:
    n: int
    agreement: float | None
    kappa: float | None
    kappa_note: str | None
    confusion: list[list[int]]  # rows: reference no / yes; columns: rater no / yes
    precision: float | None
    recall: float | None
    f1: float | None
    reference_yes: int
    rater_yes: int

    @property
    def tn(self) -> int:
        return self.confusion[0][0]

    @property
    def fp(self) -> int:
        return self.confusion[0][1]

    @property
    def fn(self) -> int:
        return self.confusion[1][0]

    @property
    def tp(self) -> int:
        return self.confusion[1][1]


def _num(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def binary_metrics(reference: Sequence[bool], rater: Sequence[bool]) -> Metrics:
    """Agreement, Cohen's kappa, the confusion matrix and precision/recall/F1 (yes = positive)."""
    if len(reference) != len(rater):
        raise ValueError("reference and rater must label the same items")
    n = len(reference)
    if n == 0:
        return Metrics(0, None, None, "undefined: no item labelled by both", [[0, 0], [0, 0]], None, None, None, 0, 0)
    ref = np.asarray(reference, dtype=bool)
    got = np.asarray(rater, dtype=bool)
    agreement = float(accuracy_score(ref, got))
    matrix = confusion_matrix(ref, got, labels=[False, True]).tolist()
    classes = set(ref.tolist()) | set(got.tolist())
    kappa: float | None
    if len(classes) < 2:
        only = yes_no(classes.pop())
        kappa, note = None, f"undefined: both said {only!r} on all {n} item(s), so chance agreement is 1"
    else:
        kappa, note = _num(cohen_kappa_score(ref, got, labels=[False, True])), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        precision, recall, f1, _ = precision_recall_fscore_support(
            ref, got, labels=[True], average=None, zero_division=np.nan
        )
    return Metrics(
        n=n, agreement=agreement, kappa=kappa, kappa_note=note, confusion=matrix,
        precision=_num(precision[0]), recall=_num(recall[0]), f1=_num(f1[0]),
        reference_yes=int(ref.sum()), rater_yes=int(got.sum()),
    )


@dataclass
class Comparison:
    kind: str  # judge_vs_people | judge_vs_judge | people_vs_people
    reference: str
    rater: str
    fields: dict[str, Metrics]  # acted, considered, task_done
    per_behaviour: dict[str, dict[str, Metrics]]  # field -> behaviour -> metrics

    @property
    def title(self) -> str:
        return f"{self.rater} vs {self.reference}"


def compare(kind: str, reference_name: str, reference: Ratings, rater_name: str, rater: Ratings,
            behaviours: Sequence[str]) -> Comparison:
    common = [k for k in reference if k in rater]
    fields = {}
    for name in FIELDS:
        keys = [k for k in common if k[2] == name]
        fields[name] = binary_metrics([reference[k] for k in keys], [rater[k] for k in keys])
    per_behaviour: dict[str, dict[str, Metrics]] = {}
    for name in ("acted", "considered"):
        per_behaviour[name] = {}
        for b in behaviours:
            keys = [k for k in common if k[2] == name and k[1] == b]
            if keys:
                per_behaviour[name][b] = binary_metrics([reference[k] for k in keys], [rater[k] for k in keys])
    return Comparison(kind, reference_name, rater_name, fields, per_behaviour)


def majority(by_reviewer: dict[str, Ratings]) -> tuple[Ratings, list[Key]]:
    """The label more than half of the reviewers who labelled an item gave; ties are left out (and listed)."""
    votes: dict[Key, list[bool]] = {}
    for ratings in by_reviewer.values():
        for key, value in ratings.items():
            votes.setdefault(key, []).append(value)
    out: Ratings = {}
    ties: list[Key] = []
    for key, values in votes.items():
        yes = sum(values)
        if yes * 2 > len(values):
            out[key] = True
        elif yes * 2 < len(values):
            out[key] = False
        else:
            ties.append(key)
    return out, ties


def judge_ratings(episodes: Sequence[ReviewEpisode]) -> dict[str, Ratings]:
    """Ratings per judge (and 'combined'), state first, then the other judges as met, combined last."""
    out: dict[str, Ratings] = {}
    for episode in episodes:
        for rater, labels in episode.labels().items():
            ratings = out.setdefault(rater, {})
            for b in episode.behaviours:
                for name in ("acted", "considered"):
                    value = labels.get(b.id, name)
                    if value is not None:
                        ratings[(episode.episode_id, b.id, name)] = value
            if labels.task_done is not None:
                ratings[(episode.episode_id, TASK_ITEM, "task_done")] = labels.task_done
    order = sorted(out, key=lambda r: (r != STATE_JUDGE, r == COMBINED))
    return {r: out[r] for r in order}


@dataclass
class Disagreement:
    episode_id: str
    behaviour: str
    field: str
    people: bool
    raters: dict[str, bool | None]
    notes: list[str]


@dataclass
class AgreementReport:
    episodes: int
    labelled_episodes: int
    labels: dict[str, Any]
    judges: list[str]
    reviewers: list[str]
    ties: list[Key]
    comparisons: list[Comparison]
    disagreements: list[Disagreement]

    def to_dict(self) -> dict[str, Any]:
        def metrics(m: Metrics) -> dict[str, Any]:
            data = asdict(m)
            data.update(tn=m.tn, fp=m.fp, fn=m.fn, tp=m.tp)
            return data

        return {
            "episodes": self.episodes,
            "labelled_episodes": self.labelled_episodes,
            "labels": self.labels,
            "judges": self.judges,
            "reviewers": self.reviewers,
            "ties": [list(k) for k in self.ties],
            "comparisons": [
                {
                    "kind": c.kind, "reference": c.reference, "rater": c.rater,
                    "fields": {name: metrics(m) for name, m in c.fields.items()},
                    "per_behaviour": {
                        name: {b: metrics(m) for b, m in by_b.items()} for name, by_b in c.per_behaviour.items()
                    },
                }
                for c in self.comparisons
            ],
            "disagreements": [asdict(d) for d in self.disagreements],
        }


def build_report(episodes: Sequence[ReviewEpisode], labels: LabelSet) -> AgreementReport:
    """Judges vs people, judges vs each other, and people vs each other, over the items labelled."""
    check_against(labels, episodes)
    behaviours: list[str] = []
    for episode in episodes:
        behaviours += [b.id for b in episode.behaviours if b.id not in behaviours]
    judges = judge_ratings(episodes)
    humans = {f"{HUMAN_PREFIX}{r}": ratings for r, ratings in labels.by_reviewer().items()}
    people, ties = majority(humans)
    comparisons: list[Comparison] = []
    several = len(humans) > 1
    people_name = PEOPLE if several else next(iter(humans), PEOPLE)
    if humans:
        for judge, ratings in judges.items():
            comparisons.append(compare("judge_vs_people", people_name, people, judge, ratings, behaviours))
        if several:
            for judge, ratings in judges.items():
                for human, human_ratings in humans.items():
                    comparisons.append(compare("judge_vs_people", human, human_ratings, judge, ratings, behaviours))
    plain = [j for j in judges if j != COMBINED]
    for first, second in combinations(plain, 2):
        comparisons.append(compare("judge_vs_judge", first, judges[first], second, judges[second], behaviours))
    for first, second in combinations(sorted(humans), 2):
        comparisons.append(compare("people_vs_people", first, humans[first], second, humans[second], behaviours))

    notes = labels.notes()
    disagreements = []
    for key, value in people.items():
        said = {j: ratings.get(key) for j, ratings in judges.items()}
        if any(v is not None and v != value for v in said.values()):
            disagreements.append(Disagreement(*key, people=value, raters=said, notes=notes.get(key, [])))
    labelled = {label.episode_id for label in labels.labels}
    return AgreementReport(
        episodes=len(episodes), labelled_episodes=len(labelled), labels=labels.summary(), judges=list(judges),
        reviewers=labels.reviewers, ties=ties, comparisons=comparisons, disagreements=disagreements,
    )
