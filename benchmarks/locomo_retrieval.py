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
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from memgpt import AgentService, Message, ScriptedModel, Settings
from memgpt.embeddings import Embedder, HashingEmbedder
from memgpt.memory import recall
from memgpt.memory.lexical import words
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
    bm25: Scores = field(default_factory=Scores)
    latencies: list[float] = field(default_factory=list)
    load_seconds: float = 0.0
    conversations: int = 0
    turns: int = 0
    evidence_notes: list[str] = field(default_factory=list)
    skipped_questions: int = 0


def default_embedder() -> str:
    """memgpt's configured embedder if it is hashing or local, else local."""
    configured = Settings().embedder.strip()
    return "hashing" if configured.startswith("hashing") else "local"


def make_embedder(name: str) -> Embedder:
    """The hashing embedder, or memgpt's local neural embedder if installed."""
    if name == "hashing":
        return HashingEmbedder()
    try:
        from memgpt.embeddings.local import LocalEmbedder
    except ImportError as exc:
        raise SystemExit(f"--embedder local needs memgpt.embeddings.local: {exc}") from exc
    return LocalEmbedder()


async def run(
    conversations: list[Conversation],
    *,
    store: str,
    embedder: Embedder,
    k: int = 10,
) -> Result:
    """Load each conversation into a fresh agent, ask every question, score memgpt and BM25."""
    result = Result()
    with tempfile.TemporaryDirectory(prefix="locomo-") as home:
        settings = Settings(home=Path(home))
        async with AgentService(settings, models={MODEL: ScriptedModel()}, embedder=embedder) as svc:
            for conv in conversations:
                agent = await svc.create_agent(f"locomo-{conv.sample_id}-{result.conversations}", model=MODEL)
                started = time.perf_counter()
                loader = load_recall if store == "recall" else load_archival
                to_dia = await loader(svc, agent.id, conv.turns)
                result.load_seconds += time.perf_counter() - started
                bm25 = BM25([t.text for t in conv.turns])
                for q in conv.questions:
                    started = time.perf_counter()
                    found = await search(svc, store, agent.id, q.text, k)
                    result.latencies.append(time.perf_counter() - started)
                    result.memgpt.add(q.category, score(q.evidence, [to_dia[i] for i in found]))
                    ranked = [conv.turns[i].dia_id for i in bm25.rank(q.text, k)]
                    result.bm25.add(q.category, score(q.evidence, ranked))
                result.conversations += 1
                result.turns += len(conv.turns)
                result.evidence_notes.extend(conv.evidence_notes)
                result.skipped_questions += conv.skipped_questions
    return result


# --- output ------------------------------------------------------------------------------------
def table(result: Result, label: str) -> Table:
    """memgpt and BM25 side by side, per category and overall."""
    mem, base = result.memgpt.summary(), result.bm25.summary()
    t = Table(title=f"LoCoMo retrieval: {label} vs BM25 (top 10 per question)")
    t.add_column("category")
    t.add_column("n", justify="right")
    for who in ("memgpt", "bm25"):
        for m in METRICS:
            t.add_column(f"{who} {m.replace('recall', 'R')}", justify="right")
    counts = {c: len(result.memgpt.rows[c]) for c in CATEGORIES}
    for c in (*CATEGORIES, "all"):
        name = f"{c} {CATEGORY_NAMES[c]}" if c in CATEGORY_NAMES else "all (1-4)"
        n = sum(counts.values()) if c == "all" else counts[c]
        t.add_row(name, str(n), *(f"{mem[c][m]:.3f}" for m in METRICS), *(f"{base[c][m]:.3f}" for m in METRICS))
    return t


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Score memgpt's memory search on LoCoMo evidence retrieval, next to BM25.",
    )
    parser.add_argument("--data", type=Path, required=True, help="LoCoMo-format JSON (e.g. locomo10.json).")
    parser.add_argument(
        "--store", choices=STORES, default="recall",
        help="Where the turns go and which search answers: recall (conversation_search) or "
        "archival (archival_memory_search); both fuse full-text and embeddings. Default: recall.",
    )
    parser.add_argument(
        "--embedder", choices=("hashing", "local"), default=default_embedder(),
        help="The service's embedder: the hashing embedder or the "
        "local neural model. Default: memgpt's configured embedder (MEMGPT_EMBEDDER), now %(default)s.",
    )
    parser.add_argument("--json", action="store_true", help="End with one line of JSON scores.")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(
            f"--data {args.data}: file not found. LoCoMo is not shipped with memgpt; get "
            "data/locomo10.json from https://github.com/snap-research/locomo (CC BY-NC 4.0)."
        )

    conversations = read_data(args.data)
    embedder = make_embedder(args.embedder)
    started = time.perf_counter()
    result = asyncio.run(
        run(conversations, store=args.store, embedder=embedder)
    )
    elapsed = time.perf_counter() - started

    label = f"memgpt {args.store} ({embedder.name})"
    console = Console(width=160)
    console.print(table(result, label))
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
    console.print(
        f"Time {elapsed:.1f} s: loading {result.load_seconds:.1f} s; memgpt search p50 "
        f"{1000 * lat[len(lat) // 2]:.1f} ms, p95 {1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))]:.1f} ms.",
        highlight=False,
    )
    if args.json:
        print(json.dumps({"memgpt": result.memgpt.summary(), "bm25": result.bm25.summary()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
