"""Archival vector search at scale: latency and recall@10 of `ArchivalStore.nearest`.

For each size it fills a fresh database through the store, then measures:

* baseline  - the original `nearest` (reads every blob from the database on each query, then
              an exact numpy scan); only up to --baseline-max, it is slow
* exact     - the vector index forced exact (cached matrix, nothing read per query)
* index     - the default index: exact below the threshold, HNSW (faiss) above it; "setup" is
              loading the vectors from the database plus building (and saving) the graph
* restart   - a new store on the same database: first query (loads the saved graph)
* pgvector  - with --backend postgres: PgArchivalStore.nearest (HNSW inside PostgreSQL)

Latency is end to end through `store.nearest` (database checks included), one query at a
time. Recall@10 is against exact search over the same vectors. Vectors are synthetic but
clustered like text embeddings: topics, sub-topics, low-rank variation and noise, unit length.

    python benchmarks/archival_scale.py --sizes 10000,100000
    python benchmarks/archival_scale.py --sizes 1000000 --baseline-max 0
    python benchmarks/archival_scale.py --sizes "" --search-sizes 10000   # recall search, e5 vs MiniLM
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import inspect
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from memgpt.embeddings.base import embed_query
from memgpt.storage.vector_index import VectorIndexConfig, load_faiss
from memgpt.core.schemas import AgentState, Passage
from memgpt.storage.db import create_engine, migrate, sessionmaker
from memgpt.storage.sql_agents import SqlAgentStore
from memgpt.storage.sql_archival import SqlArchivalStore
from memgpt.storage.tables import PassageRow

MODEL = "bench-embed"


def clustered(n: int, dim: int, seed: int, size_hint: int) -> np.ndarray:
    """n unit vectors: topic centres, sub-topics around them, low-rank spread and noise.

    The structure (centres, sub-topics, spread directions) depends only on size_hint, so data
    and queries made with different seeds share it.
    """
    structure = np.random.default_rng(12345)
    topics, subs, rank = max(16, size_hint // 2_000), max(64, size_hint // 20), 16
    t = structure.standard_normal((topics, dim)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    s = t[structure.integers(0, topics, subs)]
    s = s + 0.8 * structure.standard_normal((subs, dim)).astype(np.float32) / np.sqrt(dim)
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    a = (structure.standard_normal((dim, rank)) / np.sqrt(dim * rank)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        x = s[rng.integers(0, subs, m)]
        x = x + 0.8 * rng.standard_normal((m, rank)).astype(np.float32) @ a.T
        x += 0.4 * rng.standard_normal((m, dim)).astype(np.float32) / np.sqrt(dim)
        out[i : i + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def exact_top(x: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(queries), k), np.int64)
    for i in range(0, len(queries), 32):
        sims = queries[i : i + 32] @ x.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, 1), axis=1)
        out[i : i + 32] = np.take_along_axis(part, order, 1)
    return out


def rss_mb() -> tuple[float, float]:
    """Current and peak resident memory of this process, MB."""
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


@dataclass
class Row:
    size: int
    backend: str
    mode: str
    setup_s: float | None = None
    p50: float | None = None
    p95: float | None = None
    recall: float | None = None
    rss: float | None = None
    note: str = ""


async def baseline_nearest(store: SqlArchivalStore, agent_id: str, model: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The original implementation: every blob read from the database on each query."""
    async with store.sessions() as s:
        rows = list(await s.execute(
            select(PassageRow.id, PassageRow.embedding).where(
                PassageRow.agent_id == agent_id, PassageRow.embedding_model == model
            )
        ))
    if not rows:
        return []
    matrix = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    sims = matrix @ np.asarray(vector, dtype=np.float32)
    top = np.argsort(-sims)[:k]
    return [(rows[int(i)][0], float(sims[int(i)])) for i in top]


Search = Callable[[np.ndarray], Awaitable[list[tuple[str, float]]]]


async def measure(search: Search, queries: np.ndarray, truth: np.ndarray, index_of: dict[str, int]) -> tuple[float, float, float]:
    lat, hits = [], []
    for q, want in zip(queries, truth, strict=True):
        t = time.perf_counter()
        got = await search(q)
        lat.append((time.perf_counter() - t) * 1000)
        found = {index_of[pid] for pid, _ in got[:10]}
        hits.append(len(found & set(want[:10].tolist())) / 10)
    return statistics.median(lat), float(np.percentile(lat, 95)), float(np.mean(hits))


class Backend:
    """Opens archival stores on one database."""

    def __init__(self, name: str, url: str, store_class: type[SqlArchivalStore]) -> None:
        self.name, self.url, self.store_class = name, url, store_class
        self.engines: list[Any] = []

    def store(self, config: VectorIndexConfig) -> SqlArchivalStore:
        engine = create_engine(self.url)
        self.engines.append(engine)
        return self.store_class(sessionmaker(engine), config)

    async def close(self) -> None:
        for e in self.engines:
            await e.dispose()


def postgres_store_class() -> type[SqlArchivalStore] | None:
    try:
        module = importlib.import_module("memgpt.storage.postgres")
    except ImportError:
        return None
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, SqlArchivalStore) and obj is not SqlArchivalStore:
            return obj
    return None


async def run_size(n: int, args: argparse.Namespace, workdir: Path) -> list[Row]:
    rows: list[Row] = []
    tag = args.backend
    if args.backend == "sqlite":
        db_dir = workdir / f"n{n}"
        shutil.rmtree(db_dir, ignore_errors=True)
        db_dir.mkdir(parents=True)
        backend = Backend("sqlite", f"sqlite+aiosqlite:///{db_dir / 'memgpt.db'}", SqlArchivalStore)
        vector_dir = db_dir / "vectors"
    else:
        cls = postgres_store_class()
        assert cls is not None
        backend = Backend("postgres", args.database_url, cls)
        vector_dir = workdir / f"pg-n{n}" / "vectors"
    config = VectorIndexConfig(
        directory=vector_dir,
        exact_limit=args.exact_limit,
        ef_search=args.ef_search,
        hnsw_m=args.hnsw_m,
        ef_construction=args.ef_construction,
    )
    engine = create_engine(backend.url)
    backend.engines.append(engine)
    await migrate(engine)
    agent = AgentState(name=f"bench-{n}-{time.time_ns()}", model="m", instructions="", context_window=4096)
    await SqlAgentStore(sessionmaker(engine)).create(agent, [])

    t = time.perf_counter()
    x = clustered(n, args.dim, 1, n)
    queries = clustered(args.queries, args.dim, 2, n)
    truth = exact_top(x, queries, 10)
    print(f"  n={n}: vectors and exact truth {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)

    writer = backend.store(config)
    ids: list[str] = []
    t = time.perf_counter()
    for i in range(0, n, args.batch):
        chunk = x[i : i + args.batch]
        passages = [Passage(text=f"passage {i + j}", embedding_model=MODEL) for j in range(len(chunk))]
        await writer.insert(agent.id, passages, chunk)
        ids += [p.id for p in passages]
    insert_s = time.perf_counter() - t
    index_of = {pid: i for i, pid in enumerate(ids)}
    rows.append(Row(n, tag, "insert", insert_s, note=f"{n / insert_s:,.0f} rows/s through insert()"))
    print(f"  n={n}: inserted in {insert_s:.1f}s", file=sys.stderr, flush=True)

    if args.backend == "postgres":
        p50, p95, rec = await measure(lambda q: writer.nearest(agent.id, MODEL, q, args.k), queries, truth, index_of)
        rows.append(Row(n, tag, f"pgvector ({type(writer).__name__})", None, p50, p95, rec,
                        note="HNSW inside PostgreSQL; the in-process index is not used"))
        await backend.close()
        return rows

    base_p50: float | None = None
    if n <= args.baseline_max:
        nq = min(args.baseline_queries, len(queries))
        p50, p95, rec = await measure(
            lambda q: baseline_nearest(writer, agent.id, MODEL, q, args.k), queries[:nq], truth[:nq], index_of
        )
        base_p50 = p50
        rows.append(Row(n, tag, "baseline (blobs per query)", None, p50, p95, rec, note=f"{nq} queries"))

    if n <= args.exact_max:
        store = backend.store(replace(config, exact_limit=10**12, persist=False))
        t = time.perf_counter()
        await store.nearest(agent.id, MODEL, queries[0], args.k)
        setup = time.perf_counter() - t
        p50, p95, rec = await measure(lambda q: store.nearest(agent.id, MODEL, q, args.k), queries, truth, index_of)
        rows.append(Row(n, tag, "exact (cached matrix)", setup, p50, p95, rec, rss_mb()[0], "setup = load vectors"))
        del store
        gc.collect()

    store = backend.store(config)
    rss0 = rss_mb()[0]
    t = time.perf_counter()
    await store.nearest(agent.id, MODEL, queries[0], args.k)
    store.vectors.wait()
    setup = time.perf_counter() - t
    idx = store.vectors.index(agent.id, MODEL)
    mode = "index: hnsw" if idx.has_graph else "index: exact"
    p50, p95, rec = await measure(lambda q: store.nearest(agent.id, MODEL, q, args.k), queries, truth, index_of)
    rss1 = rss_mb()[0]
    rows.append(Row(n, tag, mode, setup, p50, p95, rec, rss1, f"index +{rss1 - rss0:,.0f} MB; setup = load + build + save"))

    if idx.has_graph:
        restarted = backend.store(config)
        t = time.perf_counter()
        await restarted.nearest(agent.id, MODEL, queries[0], args.k)
        reload_s = time.perf_counter() - t
        p50r, p95r, recr = await measure(lambda q: restarted.nearest(agent.id, MODEL, q, args.k), queries[: args.queries // 2], truth[: args.queries // 2], index_of)
        rows.append(Row(n, tag, "restart (load saved graph)", reload_s, p50r, p95r, recr, note="setup = first query"))
        del restarted
        gc.collect()

    # inserts while the index is live go to the exact delta; searches see them at once
    extra = clustered(args.live_inserts, args.dim, 3, n)
    t = time.perf_counter()
    for i in range(0, len(extra), 100):
        chunk = extra[i : i + 100]
        passages = [Passage(text=f"late {i + j}", embedding_model=MODEL) for j in range(len(chunk))]
        await store.insert(agent.id, passages, chunk)
    live_s = time.perf_counter() - t
    t = time.perf_counter()
    got = await store.nearest(agent.id, MODEL, extra[-1], 1)
    first_ms = (time.perf_counter() - t) * 1000
    assert got and got[0][1] > 0.999, "a fresh insert must be found at once"
    rows.append(Row(n, tag, "live inserts", live_s, first_ms, note=f"{len(extra)} rows in batches of 100; p50 = next query ms"))

    if base_p50 is not None:
        for r in rows:
            if r.p50 and r.mode not in ("insert", "live inserts") and not r.mode.startswith("baseline"):
                r.note = (r.note + "; " if r.note else "") + f"{base_p50 / r.p50:,.0f}x faster than baseline"
    await backend.close()
    del x
    gc.collect()
    return rows


# --- end-to-end recall search: the agent's conversation_search at N messages -------------------
SEARCH_WORDS = (
    "sister moved berlin spring nurse hospital river project deadline june budget laptops spicy "
    "ramen green tea walks mornings science fiction novels dentist tuesday meeting notes invoice "
    "revenue pottery class kayak lake marathon greyhound vet lisbon job portuguese lessons garden "
    "tomatoes concert tickets birthday cake painting camping trip guitar adoption shelter"
).split()
SEARCH_QUERIES = [
    "When did her sister move to Berlin?", "What is the project deadline?", "Which food does he prefer?",
    "Who adopted a greyhound from the shelter?", "What did we say about the budget for laptops?",
    "When is the dentist appointment?", "Where did they go camping?", "What instrument is she learning?",
    "How did the marathon go?", "What colour is the kayak?",
]


def chat_texts(n: int, seed: int = 5) -> list[str]:
    """n chat turns of 8-30 words (common words and topic words mixed, like a conversation)."""
    rng = np.random.default_rng(seed)
    glue = "i you we the a and to of it that was is so my with for on really just".split()
    out = []
    for _ in range(n):
        k = int(rng.integers(8, 31))
        picks = [str(rng.choice(SEARCH_WORDS)) if rng.random() < 0.4 else str(rng.choice(glue)) for _ in range(k)]
        out.append(" ".join(picks).capitalize() + ".")
    return out


async def search_latency(n: int, args: argparse.Namespace, workdir: Path) -> list[Row]:
    """p50/p95 of memgpt.memory.recall.search (the whole path: catch-up check, full text, query
    embedding, vector index, features, messages) at n messages of one agent, per embedder.

    Message vectors are synthetic (clustered, stored under each embedder's name: embedding
    10k turns would take minutes and does not change the search's cost); each query is
    embedded for real by the embedder, as in a search.
    """
    from datetime import datetime, timedelta, timezone

    from memgpt.core.schemas import Message
    from memgpt.embeddings import embedder_from_spec
    from memgpt.embeddings.base import warm
    from memgpt.memory import recall
    from memgpt.storage.factory import open_storage

    db_dir = workdir / f"search-n{n}"
    shutil.rmtree(db_dir, ignore_errors=True)
    db_dir.mkdir(parents=True)
    storage = open_storage(f"sqlite+aiosqlite:///{db_dir / 'memgpt.db'}",
                           vector_index=VectorIndexConfig(directory=db_dir / "vectors"))
    await storage.migrate()  # the server's storage: its reader threads and writer thread
    agent = AgentState(name=f"search-{n}", model="m", instructions="", context_window=4096)
    await storage.agents.create(agent, [])
    store = storage.recall
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    texts = chat_texts(n)
    messages = [Message.user(t).model_copy(update={"created_at": start + timedelta(hours=i // 3)})
                for i, t in enumerate(texts)]
    stored: list[Message] = []
    for i in range(0, n, 2_000):
        stored += await store.append(agent.id, messages[i : i + 2_000])
    rows: list[Row] = []
    for spec in args.search_embedders.split(","):
        embedder = embedder_from_spec(spec)
        warm(embedder)  # as memgpt server does at start (e5: its query graph)
        vectors = clustered(n, embedder.dim, 1, n)
        for i in range(0, n, 2_000):
            await store.set_embeddings(agent.id, embedder.name, [m.id for m in stored[i : i + 2_000]],
                                       vectors[i : i + 2_000])
        await recall.search(store, embedder, agent.id, "load the index", limit=10)  # not a timed query
        lat, embed_lat = [], []
        for round_ in range(args.search_rounds):
            for q in SEARCH_QUERIES:
                t = time.perf_counter()
                await recall.search(store, embedder, agent.id, f"{q} {round_}" if round_ else q, limit=10)
                lat.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                embed_query(embedder, [f"{q} (alone {round_})"])  # a text not seen: no cached vector
                embed_lat.append((time.perf_counter() - t) * 1000)
        rows.append(Row(n, "sqlite", f"recall.search ({embedder.name})"[:28], None,
                        statistics.median(lat), float(np.percentile(lat, 95)),
                        note=f"{len(lat)} searches; query embedding alone p50 {statistics.median(embed_lat):.1f} ms; "
                             f"load average {os.getloadavg()[0]:.1f}"))
        await store.forget_embeddings(agent.id, "")  # the next embedder starts from no vectors
    await storage.close()
    return rows


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated passage counts")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--database-url", default="",
                    help="async SQLAlchemy URL of a scratch, migrated database for --backend postgres"
                         " (default: start a throwaway server as the tests do)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10, help="results per query (archival search asks 50)")
    ap.add_argument("--batch", type=int, default=2_000, help="passages per insert() call while filling")
    ap.add_argument("--baseline-max", type=int, default=100_000, help="largest size to run the original scan at")
    ap.add_argument("--baseline-queries", type=int, default=20)
    ap.add_argument("--exact-max", type=int, default=1_000_000, help="largest size to run the cached exact scan at")
    ap.add_argument("--live-inserts", type=int, default=1_000)
    ap.add_argument("--exact-limit", type=int, default=VectorIndexConfig.exact_limit)
    ap.add_argument("--ef-search", type=int, default=VectorIndexConfig.ef_search)
    ap.add_argument("--hnsw-m", type=int, default=VectorIndexConfig.hnsw_m)
    ap.add_argument("--ef-construction", type=int, default=VectorIndexConfig.ef_construction)
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one, removed)")
    ap.add_argument("--search-sizes", default="",
                    help="comma-separated message counts to time end-to-end recall search at (e.g. 10000)")
    ap.add_argument("--search-embedders", default="e5,minilm",
                    help="embedders whose query embedding the search timing uses (default e5,minilm)")
    ap.add_argument("--search-rounds", type=int, default=5, help="rounds over the 10 queries (default 5)")
    args = ap.parse_args()
    server: Any = None
    if args.backend == "postgres":
        if postgres_store_class() is None:
            sys.exit("postgres backend unavailable: memgpt/storage/postgres.py (a SqlArchivalStore subclass) is not present")
        if not args.database_url:  # a throwaway server, as the tests use
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from pg import PostgresServer

            server = PostgresServer()
            server.start()
            args.database_url = asyncio.run(server.database())
    if load_faiss() is None:
        print("note: faiss-cpu is not installed, every search is exact", file=sys.stderr)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="memgpt-archival-"))
    rows: list[Row] = []
    try:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            rows += asyncio.run(run_size(n, args, workdir))
        for n in [int(s) for s in args.search_sizes.split(",") if s]:
            rows += asyncio.run(search_latency(n, args, workdir))
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        if server is not None:
            server.stop()
    print(f"dim={args.dim} k={args.k} queries={args.queries} exact_limit={args.exact_limit} "
          f"hnsw M={args.hnsw_m} ef_construction={args.ef_construction} ef_search={args.ef_search}")
    head = f"{'size':>9} {'backend':8} {'mode':28} {'setup_s':>8} {'p50_ms':>8} {'p95_ms':>8} {'recall@10':>9} {'rss_MB':>7}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r.size:>9,} {r.backend:8} {r.mode:28} {fmt(r.setup_s, '8.1f')} {fmt(r.p50, '8.2f')} "
              f"{fmt(r.p95, '8.2f')} {fmt(r.recall, '9.3f')} {fmt(r.rss, '7.0f')}  {r.note}")


if __name__ == "__main__":
    main()
