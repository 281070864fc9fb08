"""Fusing a word ranking with a meaning ranking into one (recall and archival search).

Each channel's scores are min-max normalised over its own candidates and the two are
averaged (a convex combination, equal weights: a fixed prior, not fitted to any data set);
a candidate one channel did not return scores 0 there. Unlike reciprocal-rank fusion this
keeps how far apart the scores are: a turn that matches the query's rare words strongly, or
one that is much closer in meaning than the rest, is not flattened to "rank 3". On LoCoMo
(benchmarks/locomo_retrieval.py) it beat both reciprocal-rank fusion and either channel alone.

With an embedder whose vectors carry no meaning (feature hashing) the word scores alone rank
and vector neighbours follow them: there, equal weights lost to words alone on LoCoMo.

Exact-phrase matches always rank first, so names, ids and UUIDs are found whatever the
embedding thinks of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from memgpt.embeddings.base import Embedder

LEXICAL_WEIGHT = 0.5
LEXICAL_CANDIDATES = 200
VECTOR_CANDIDATES = 50
MIN_SIMILARITY = 0.05
"""Cosine below this is noise for every embedder we ship; such neighbours are dropped."""


def _normalised(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high <= low:
        return dict.fromkeys(scores, 1.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def lexical_weight(embedder: Embedder) -> float:
    """How much the word match counts: half, or all of it when the vectors carry no meaning
    (then neighbours in vector space only follow the word matches)."""
    return LEXICAL_WEIGHT if embedder.semantic else 1.0


def fuse(
    lexical: Sequence[tuple[str, float, bool]],
    dense: Sequence[tuple[str, float]],
    weight: float = LEXICAL_WEIGHT,
) -> list[str]:
    """Keys ranked by fused score.

    ``lexical`` holds (key, score, exact phrase) with higher scores better; ``dense`` holds
    (key, cosine similarity). Ties keep the lexical order, then the dense order.
    """
    words = _normalised({key: score for key, score, _ in lexical})
    meaning = _normalised({key: sim for key, sim in dense if sim >= MIN_SIMILARITY})
    exact = {key for key, _, is_exact in lexical if is_exact}
    order = list(dict.fromkeys([key for key, _, _ in lexical] + [key for key, _ in dense]))
    order = [key for key in order if key in words or key in meaning]
    fused = {
        key: weight * words.get(key, 0.0) + (1 - weight) * meaning.get(key, 0.0)
        + (1.0 if key in exact else 0.0)
        for key in order
    }
    return sorted(order, key=lambda key: -fused[key])
