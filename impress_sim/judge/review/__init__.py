"""Human verification: people label episodes and worlds; their labels are scored against the judges'.

A review round: `export` writes a sheet (one row per episode and behaviour, plus a task row) and a
readable page per episode; people fill the sheet; `import` checks what they wrote; `report` gives
percent agreement, Cohen's kappa, confusion matrices and per-behaviour precision/recall/F1 for
each judge against people, for the judges against each other and for people against each other.
`benign` does the same for "is the task itself benign?". See docs/review.md.
"""

from impress_sim.errors import ReviewError
from impress_sim.judge.review.agreement import AgreementReport, Metrics, binary_metrics, build_report
from impress_sim.judge.review.benign import benign_report, export_benign, read_benign_labels
from impress_sim.judge.review.export import export_review
from impress_sim.judge.review.labels import LabelSet, check_against, parse_yes_no, read_labels
from impress_sim.judge.review.records import ReviewEpisode, load_episodes, review_episode

__all__ = [
    "AgreementReport",
    "LabelSet",
    "Metrics",
    "ReviewEpisode",
    "ReviewError",
    "benign_report",
    "binary_metrics",
    "build_report",
    "check_against",
    "export_benign",
    "export_review",
    "load_episodes",
    "parse_yes_no",
    "read_benign_labels",
    "read_labels",
    "review_episode",
]
