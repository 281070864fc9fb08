"""Ranking search candidates by a weighted sum of word, meaning and neighbourhood scores.

Every candidate (the best full-text matches and the nearest embeddings) gets seven features,
each in [0, 1]:

- ``lexical``: its full-text score (common words left out of the query), min-max normalised;
- ``dense``: its cosine similarity to the query, min-max normalised;
- ``lexical_window``: the full-text score of its 3-turn window text (the turn and the ones
  before and after it, indexed by the store) or, where the store has no such index, the mean
  of ``lexical`` over the window: a turn that answers only together with its neighbours
  ("Where?" - "Lisbon, for a new job") is found through them;
- ``dense_window``: the mean of ``dense`` over its 3-turn window (a neighbour that is no
  candidate counts 0: this beat the cosine to the window's summed stored vectors);
- ``neighbour``: the base score (an equal mix of the first two) of its best neighbouring turn;
- ``session``: the base score of the best turn of its session (for recall the day it was
  said): evidence tends to come in the same conversation as the best match;
- ``date``: for a query that names a time ("in July 2023", "on 3 May, 2023", "in June";
  `lexical.named_periods`), how close the candidate's day is to it, exp(-days / 7), days after
  the time counting half (things are told after they happen); 0 for every candidate when the
  query names none.

The final score is a weighted sum (`Weights`). Weighted *score* fusion keeps how decisive a
match is, where reciprocal-rank fusion flattens it to "rank 3". The default weights are the
ones five of six leave-one-out folds chose on LoCoMo (each on five conversations, scored on
the sixth; benchmarks/README.md says how and what each feature gave), with the window's words
scored by the store's window index: after the turn's own words and meaning, a time the query
names and its session's best turn count most; the best neighbour adds nothing once the
windows are scored. The same weights serve archival search, where passages have no order,
session or date feature: there only words and meaning count.

With an embedder whose vectors carry no meaning (feature hashing) only the word features
count; vector neighbours only follow them.

Exact-phrase matches always rank first, so names, ids and UUIDs are found whatever the
embedding thinks of them.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date

import numpy as np
import numpy.typing as npt

from memgpt.embeddings.base import Embedder
from memgpt.memory.lexical import Period

LEXICAL_WEIGHT = 0.5
LEXICAL_CANDIDATES = 200
VECTOR_CANDIDATES = 200
MIN_SIMILARITY = 0.05
"""Cosine below this is noise for every embedder we ship; such neighbours are dropped."""
FEATURES = ("lexical", "dense", "lexical_window", "dense_window", "neighbour", "session", "date")
DATE_SCALE_DAYS = 7.0
"""A candidate this many days from the time a query names scores 1/e of one within it."""

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Weights:
    """How much each feature counts in the final score (see the module docstring)."""

    lexical: float = 1.0
    dense: float = 0.75
    lexical_window: float = 0.5
    dense_window: float = 0.25
    neighbour: float = 0.0
    session: float = 1.5
    date: float = 2.0

    def vector(self) -> Matrix:
        """The weights in FEATURES order."""
        return np.asarray(astuple(self), dtype=np.float64)

    @classmethod
    def of(cls, values: Sequence[float]) -> Weights:
        """Weights from values in FEATURES order."""
        return cls(**{f.name: float(v) for f, v in zip(fields(cls), values, strict=True)})


DEFAULT = Weights()
WORDS_ONLY = Weights(dense=0.0, dense_window=0.0)
"""For embedders without meaning: their neighbours in vector space only echo the words."""


def weights_for(embedder: Embedder) -> Weights:
    """The default weights, or the words-only ones when the vectors carry no meaning."""
    return DEFAULT if embedder.semantic else WORDS_ONLY


@dataclass(frozen=True)
class Position:
    """Where a candidate sits: its place in the conversation (None if it has no order, as
    passages), its session (any value; candidates with equal values share a session) and the
    day it was said (None: no date feature)."""

    seq: int | None
    session: Hashable
    day: date | None = None


@dataclass(frozen=True)
class Candidates:
    """Candidate keys, their feature rows (FEATURES order) and which match the exact phrase."""

    keys: list[str]
    features: Matrix
    exact: npt.NDArray[np.bool_]


def _normalised(values: Matrix) -> Matrix:
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.ones_like(values)
    result: Matrix = (values - low) / (high - low)
    return result


def _channel(keys: list[str], scores: Mapping[str, float]) -> Matrix:
    """Scores of the keys, min-max normalised over those that have one; 0 for the others."""
    out = np.zeros(len(keys))
    have = [i for i, k in enumerate(keys) if k in scores]
    if have:
        out[have] = _normalised(np.asarray([scores[keys[i]] for i in have], dtype=np.float64))
    return out


def _neighbours(keys: list[str], positions: Mapping[str, Position]) -> npt.NDArray[np.intp]:
    """For each key, the indexes of the candidates just before and after it (seq -+ 1), as
    two columns; -1 where that neighbour is not a candidate (or the key has no order)."""
    seqs = [p.seq if (p := positions.get(k)) is not None else None for k in keys]
    at = {seq: i for i, seq in enumerate(seqs) if seq is not None}
    out = np.full((len(keys), 2), -1, dtype=np.intp)
    for i, seq in enumerate(seqs):
        if seq is not None:
            out[i] = at.get(seq - 1, -1), at.get(seq + 1, -1)
    return out


def _around(values: Matrix, near: npt.NDArray[np.intp]) -> tuple[Matrix, Matrix]:
    """Each value's 3-turn window mean (a missing neighbour counts 0) and its best neighbour's."""
    padded = np.append(values, 0.0)  # index -1 reads the 0 at the end
    before, after = padded[near[:, 0]], padded[near[:, 1]]
    return (values + before + after) / 3, np.maximum(before, after)


def candidates(
    lexical: Sequence[tuple[str, float, bool]],
    dense: Sequence[tuple[str, float]],
    positions: Mapping[str, Position] | None = None,
    exact: set[str] | None = None,
    lexical_share: float = LEXICAL_WEIGHT,
    lexical_windows: Mapping[str, float] | None = None,
    periods: Sequence[Period] = (),
) -> Candidates:
    """The candidates of one search with their features.

    ``lexical`` holds (key, score, exact phrase), higher scores better; ``dense`` (key, cosine).
    ``exact`` overrides the exact-phrase flags of ``lexical`` when given. ``lexical_share`` is
    the words' part of the base score the neighbour and session features use (`lexical_weight`).
    ``lexical_windows``: full-text scores of the candidates' 3-turn window texts, when the
    store indexes them; without it the lexical window is the mean over the candidates.
    ``periods``: the times the query names (`lexical.named_periods`), for the date feature.
    Order: lexical, then dense (ties in the final score keep it).
    """
    words = {key: score for key, score, _ in lexical}
    meaning = {key: sim for key, sim in dense if sim >= MIN_SIMILARITY}
    keys = [k for k in dict.fromkeys([k for k, _, _ in lexical] + [k for k, _ in dense]) if k in words or k in meaning]
    if not keys:
        return Candidates([], np.zeros((0, len(FEATURES))), np.zeros(0, dtype=bool))
    pinned = exact if exact is not None else {k for k, _, is_exact in lexical if is_exact}
    lex, den = _channel(keys, words), _channel(keys, meaning)
    base = lexical_share * lex + (1 - lexical_share) * den
    positions = positions or {}
    near = _neighbours(keys, positions)
    lex_w = _channel(keys, lexical_windows) if lexical_windows is not None else _around(lex, near)[0]
    den_w, _ = _around(den, near)
    _, best_nb = _around(base, near)
    sessions: dict[Hashable, int] = {}
    codes = np.asarray([
        sessions.setdefault(p.session, len(sessions)) if (p := positions.get(k)) is not None else -1 for k in keys
    ], dtype=np.intp)
    session_best = np.zeros(len(sessions))
    placed = codes >= 0
    np.maximum.at(session_best, codes[placed], base[placed])
    sess = np.where(placed, session_best[np.maximum(codes, 0)] if sessions else 0.0, base)
    matrix = np.column_stack([lex, den, lex_w, den_w, best_nb, sess, _dates(keys, positions, periods)])
    return Candidates(keys, matrix, np.asarray([k in pinned for k in keys], dtype=bool))


def _dates(keys: list[str], positions: Mapping[str, Position], periods: Sequence[Period]) -> Matrix:
    """exp(-days / DATE_SCALE_DAYS) from each candidate's day to the nearest named period."""
    out = np.zeros(len(keys))
    if periods:
        by_day: dict[date, float] = {}  # candidates share few days (sessions)
        for i, key in enumerate(keys):
            if (p := positions.get(key)) is not None and p.day is not None:
                if (value := by_day.get(p.day)) is None:
                    value = by_day[p.day] = math.exp(-min(t.distance(p.day) for t in periods) / DATE_SCALE_DAYS)
                out[i] = value
    return out


def rank(found: Candidates, weights: Weights = DEFAULT) -> list[str]:
    """Keys best first: exact-phrase matches, then by weighted score (ties keep their order)."""
    if not found.keys:
        return []
    score = found.features @ weights.vector() + found.exact * (1.0 + weights.vector().sum())
    order = np.argsort(-score, kind="stable")
    return [found.keys[i] for i in order]


def fuse(
    lexical: Sequence[tuple[str, float, bool]],
    dense: Sequence[tuple[str, float]],
    weight: float = LEXICAL_WEIGHT,
) -> list[str]:
    """The first fusion (kept as the benchmark's baseline): the two channels min-max
    normalised and averaged with ``weight`` on the words, exact phrases first."""
    words = _normalised_dict({key: score for key, score, _ in lexical})
    meaning = _normalised_dict({key: sim for key, sim in dense if sim >= MIN_SIMILARITY})
    exact = {key for key, _, is_exact in lexical if is_exact}
    order = list(dict.fromkeys([key for key, _, _ in lexical] + [key for key, _ in dense]))
    order = [key for key in order if key in words or key in meaning]
    fused = {
        key: weight * words.get(key, 0.0) + (1 - weight) * meaning.get(key, 0.0)
        + (1.0 if key in exact else 0.0)
        for key in order
    }
    return sorted(order, key=lambda key: -fused[key])


def _normalised_dict(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high <= low:
        return dict.fromkeys(scores, 1.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def lexical_weight(embedder: Embedder) -> float:
    """The words' share of a base score: half, or all when the vectors carry no meaning."""
    return LEXICAL_WEIGHT if embedder.semantic else 1.0
