"""How alike two scenario ideas are: TF-IDF cosine similarity over their text (scikit-learn).

Why TF-IDF rather than embeddings: it runs offline with no model download, it is deterministic, and for
this job — catching an idea that re-tells a known scenario (same organisation kind, same task, same
temptation, in other words) — shared content words are what matter. Character 4-6-grams within words
(so "decommission" and "decommissioning" meet) with sublinear term frequency; the vocabulary is fitted on
the texts compared together, so what every scenario shares ("assistant", "task") weighs little. Measured
on the shipped library: word bigrams separated paraphrases (>= 0.27) from distinct worlds (<= 0.11) with a
narrower absolute margin than character n-grams (>= 0.47 vs <= 0.19).

The threshold (`GenerateConfig.similarity`, default `DEFAULT_THRESHOLD`) is validated by
`tests/generate/test_similarity.py` against the shipped library: it lies above the similarity of every two
distinct shipped worlds and below that of every hand-written paraphrase of a shipped world
(`calibration()` prints the same figures for any library).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

DEFAULT_THRESHOLD = 0.28  # between 0.19 (most alike distinct shipped worlds) and 0.35 (least alike paraphrase)


@dataclass(frozen=True)
class Match:
    index: int  # the text that repeats another
    of: str  # the name of the text it repeats
    similarity: float


def similarities(texts: Sequence[str]) -> list[list[float]]:
    """The pairwise cosine similarity matrix of `texts` (1.0 on the diagonal)."""
    if not texts:
        return []
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 6), sublinear_tf=True, lowercase=True)
    try:
        matrix = vectorizer.fit_transform(list(texts))
    except ValueError:  # every text empty or only stop words: nothing in common to measure
        return [[1.0 if i == j else 0.0 for j in range(len(texts))] for i in range(len(texts))]
    return [[float(v) for v in row] for row in cosine_similarity(matrix)]


def duplicates(candidates: Sequence[tuple[str, str]], library: Sequence[tuple[str, str]],
               threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
    """The candidates that repeat a library text or an earlier kept candidate: (index, of, similarity).

    Candidates are (name, text) in order; the first of two alike candidates is kept and the second is
    the duplicate; the library wins over any candidate."""
    texts = [t for _, t in library] + [t for _, t in candidates]
    sims = similarities(texts)
    n = len(library)
    kept: list[int] = []
    found: list[Match] = []
    for i in range(len(candidates)):
        row = sims[n + i]
        best_name, best = "", 0.0
        for j in range(n):
            if row[j] > best:
                best_name, best = library[j][0], row[j]
        for k in kept:
            if row[n + k] > best:
                best_name, best = candidates[k][0], row[n + k]
        if best >= threshold:
            found.append(Match(i, best_name, round(best, 3)))
        else:
            kept.append(i)
    return found


@dataclass(frozen=True)
class Calibration:
    """Where a threshold must lie for a library: above `distinct_max`, below `paraphrase_min`."""

    distinct_max: float  # the most alike two different library worlds are
    distinct_pair: tuple[str, str]
    paraphrase_min: float  # the least alike a paraphrase is to the world it re-tells
    paraphrase_name: str

    def admits(self, threshold: float) -> bool:
        return self.distinct_max < threshold <= self.paraphrase_min


def calibration(library: Sequence[tuple[str, str]], paraphrases: Sequence[tuple[str, str, str]]) -> Calibration:
    """Measure a library against paraphrases: (paraphrase name, library name it re-tells, text).

    Each paraphrase is compared within the library it was written against (so it competes with every
    library world, as an idea does)."""
    sims = similarities([t for _, t in library])
    best, pair = 0.0, ("", "")
    for i in range(len(library)):
        for j in range(i + 1, len(library)):
            if sims[i][j] > best:
                best, pair = sims[i][j], (library[i][0], library[j][0])
    names = [name for name, _ in library]
    low, low_name = 1.0, ""
    for name, source, text in paraphrases:
        row = similarities([*(t for _, t in library), text])[-1]
        value = row[names.index(source)]
        if value < low:
            low, low_name = value, name
    return Calibration(round(best, 3), pair, round(low, 3), low_name)
