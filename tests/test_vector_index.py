"""Archival vector indexes: exact and HNSW search, deletes, persistence and catching up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete

from memgpt.storage.vector_index import VectorIndex, VectorIndexConfig, load_faiss
from memgpt.core.schemas import AgentState, Passage
from memgpt.storage.db import create_engine, migrate, sessionmaker
from memgpt.storage.sql_agents import SqlAgentStore
from memgpt.storage.sql_archival import SqlArchivalStore
from memgpt.storage.tables import PassageRow

MODEL = "test-embed"
DIM = 48


def test_faiss_is_installed() -> None:
    """faiss-cpu is a dependency: the HNSW tests below need it, and never skip."""
    assert load_faiss() is not None


def clustered(n: int, seed: int, dim: int = DIM, centers: int = 30) -> np.ndarray:
    """Unit vectors around a few shared centres (queries and data share the centres)."""
    c = np.random.default_rng(99).standard_normal((centers, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, centers, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class Db:
    """One SQLite file; `store()` opens a fresh SqlArchivalStore on it (a 'restart')."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engines: list[Any] = []
        self.agent_id = ""

    async def open(self) -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{self.path}")
        self.engines.append(engine)
        await migrate(engine)
        agents = SqlAgentStore(sessionmaker(engine))
        state = AgentState(name="a", model="m", instructions="", context_window=4096)
        await agents.create(state, [])
        other = AgentState(name="b", model="m", instructions="", context_window=4096)
        await agents.create(other, [])
        self.agent_id, self.other_id = state.id, other.id

    def store(self, **config: Any) -> SqlArchivalStore:
        engine = create_engine(f"sqlite+aiosqlite:///{self.path}")
        self.engines.append(engine)
        config.setdefault("background", False)
        return SqlArchivalStore(sessionmaker(engine), VectorIndexConfig(**config))

    async def close(self) -> None:
        for engine in self.engines:
            await engine.dispose()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    d = Db(tmp_path / "memgpt.db")
    await d.open()
    yield d
    await d.close()


async def fill(store: SqlArchivalStore, agent_id: str, vectors: np.ndarray, model: str = MODEL) -> list[str]:
    """Insert one passage per vector (in batches); returns their ids in order."""
    ids: list[str] = []
    for s in range(0, len(vectors), 500):
        chunk = vectors[s : s + 500]
        passages = [Passage(text=f"p{s + i}", embedding_model=model) for i in range(len(chunk))]
        await store.insert(agent_id, passages, chunk)
        ids += [p.id for p in passages]
    return ids


def exact(vectors: np.ndarray, ids: list[str], alive: set[str], q: np.ndarray, k: int) -> list[str]:
    sims = vectors @ q
    order = [int(i) for i in np.argsort(-sims, kind="stable") if ids[int(i)] in alive]
    return [ids[i] for i in order[:k]]


def recall(got: list[list[str]], want: list[list[str]]) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want, strict=True)]))


async def test_exact_path_matches_brute_force(db: Db) -> None:
    """Below the threshold results are the exact top k with their cosine similarities."""
    store = db.store()
    x = clustered(600, 1)
    ids = await fill(store, db.agent_id, x)
    await fill(store, db.other_id, clustered(50, 5))  # another agent's passages stay out
    await fill(store, db.agent_id, clustered(40, 6), model="other-model")
    for q in clustered(20, 2):
        got = await store.nearest(db.agent_id, MODEL, q, 10)
        assert [i for i, _ in got] == exact(x, ids, set(ids), q, 10)
        sims = x @ q
        for pid, sim in got:
            assert sim == pytest.approx(float(sims[ids.index(pid)]), abs=1e-5)
    idx = store.vectors.index(db.agent_id, MODEL)
    assert not idx.has_graph and len(idx) == 600
    everything = await store.nearest(db.agent_id, MODEL, x[0], 10_000)
    assert len(everything) == 600 and everything[0][0] == ids[0]
    assert await store.nearest(db.agent_id, "unknown-model", x[0], 5) == []
    directory = store.vectors.directory
    assert directory is not None and not (directory.exists() and any(directory.iterdir()))
    files = {f for m in (MODEL, "other-model", "a/b:c") for f in store.vectors.index(db.agent_id, m)._files()}
    assert len(files) == 6 and all(f.parent == directory for f in files)  # one pair per model


async def test_new_passages_found_at_once(db: Db) -> None:
    """A passage inserted after the index was loaded is found by the next search."""
    store = db.store()
    x = clustered(300, 1)
    await fill(store, db.agent_id, x)
    await store.nearest(db.agent_id, MODEL, x[0], 5)
    q = clustered(1, 3)[0]
    [pid] = await fill(store, db.agent_id, q[None, :])
    got = await store.nearest(db.agent_id, MODEL, q, 3)
    assert got[0][0] == pid and got[0][1] == pytest.approx(1.0, abs=1e-5)


async def test_hnsw_recall_against_exact(db: Db) -> None:
    """Above the threshold the HNSW graph answers with recall@10 >= 0.95, deltas included."""
    store = db.store(exact_limit=1_000, merge_batch=300, background=True)
    x = clustered(3_000, 1)
    ids = await fill(store, db.agent_id, x[:2_500])
    await store.nearest(db.agent_id, MODEL, x[0], 1)  # loads and builds
    ids += await fill(store, db.agent_id, x[2_500:])  # merged from the delta
    idx = store.vectors.index(db.agent_id, MODEL)
    store.vectors.wait()
    assert idx.has_graph and len(idx) == 3_000
    assert idx.stats()["graph"] >= 2_700  # the later inserts were merged
    queries = clustered(60, 2)
    got = [[i for i, _ in await store.nearest(db.agent_id, MODEL, q, 10)] for q in queries]
    want = [exact(x, ids, set(ids), q, 10) for q in queries]
    assert recall(got, want) >= 0.95


@pytest.mark.parametrize("ann", [False, True])
async def test_deletes_honoured(db: Db, ann: bool) -> None:
    """Deleted passages never come back: through the store, or behind its back."""
    assert load_faiss() is not None, "faiss-cpu (a dependency) is not importable"
    store = db.store(exact_limit=500 if ann else 100_000, merge_batch=100)
    x = clustered(1_500, 1)
    ids = await fill(store, db.agent_id, x)
    q = clustered(1, 2)[0]
    top = [i for i, _ in await store.nearest(db.agent_id, MODEL, q, 10)]
    assert store.vectors.index(db.agent_id, MODEL).has_graph is ann
    for pid in top[:5]:
        await store.delete(db.agent_id, pid)
    async with store.sessions() as s, s.begin():  # another process deletes more
        await s.execute(delete(PassageRow).where(PassageRow.id.in_(top[5:])))
    alive = set(ids) - set(top)
    got = [i for i, _ in await store.nearest(db.agent_id, MODEL, q, 10)]
    assert len(got) == 10 and not set(got) & set(top)
    assert recall([got], [exact(x, ids, alive, q, 10)]) >= 0.9
    assert len(store.vectors.index(db.agent_id, MODEL)) == 1_490


async def test_restart_loads_saved_graph_and_catches_up(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new store loads the saved graph (no rebuild) and sees rows another store added since."""
    first = db.store(exact_limit=800, merge_batch=200)
    x = clustered(1_500, 1)
    ids = await fill(first, db.agent_id, x[:1_200])
    queries = clustered(25, 2)
    before = [await first.nearest(db.agent_id, MODEL, q, 10) for q in queries]
    first.vectors.wait()
    directory = first.vectors.directory
    assert directory == db.path.parent / "vectors"
    assert sorted(p.suffix for p in directory.iterdir()) == [".faiss", ".npz"]

    builds: list[int] = []
    real_build = VectorIndex._build
    monkeypatch.setattr(VectorIndex, "_build", lambda self: builds.append(1) or real_build(self))

    second = db.store(exact_limit=800, merge_batch=200)
    again = [await second.nearest(db.agent_id, MODEL, q, 10) for q in queries]
    assert builds == [] and second.vectors.index(db.agent_id, MODEL).has_graph
    assert [[i for i, _ in r] for r in again] == [[i for i, _ in r] for r in before]

    writer = db.store(exact_limit=800)  # another instance: its index is never loaded
    ids += await fill(writer, db.agent_id, x[1_200:])
    third = db.store(exact_limit=800, merge_batch=200)
    for store in (second, third):  # a live instance and a fresh one both catch up
        got = [[i for i, _ in await store.nearest(db.agent_id, MODEL, q, 10)] for q in queries]
        want = [exact(x, ids, set(ids), q, 10) for q in queries]
        assert recall(got, want) >= 0.95
        assert len(store.vectors.index(db.agent_id, MODEL)) == 1_500
    assert builds == []


async def test_stale_or_broken_saved_graph(db: Db) -> None:
    """Rows deleted after the save are dropped on load; a corrupt file is rebuilt."""
    first = db.store(exact_limit=800, merge_batch=200)
    x = clustered(1_200, 1)
    ids = await fill(first, db.agent_id, x)
    q = clustered(1, 2)[0]
    top = [i for i, _ in await first.nearest(db.agent_id, MODEL, q, 10)]
    first.vectors.wait()
    async with first.sessions() as s, s.begin():  # deleted while no index was watching
        await s.execute(delete(PassageRow).where(PassageRow.id.in_(top[:4])))

    second = db.store(exact_limit=800, merge_batch=200)
    got = [i for i, _ in await second.nearest(db.agent_id, MODEL, q, 10)]
    idx = second.vectors.index(db.agent_id, MODEL)
    assert idx.has_graph and len(idx) == 1_196  # reconciled at load, not per result
    assert not set(got) & set(top[:4])
    alive = set(ids) - set(top[:4])
    assert recall([got], [exact(x, ids, alive, q, 10)]) >= 0.9

    assert first.vectors.directory is not None
    graph_file = next(first.vectors.directory.glob("*.faiss"))
    graph_file.write_bytes(b"not an index")
    third = db.store(exact_limit=800, merge_batch=200)
    got3 = [i for i, _ in await third.nearest(db.agent_id, MODEL, q, 10)]
    assert third.vectors.index(db.agent_id, MODEL).has_graph
    assert recall([got3], [exact(x, ids, alive, q, 10)]) >= 0.9
    third.vectors.wait()
    assert graph_file.stat().st_size > 1_000  # saved again


def test_index_unit_behaviour() -> None:
    """Duplicate pks are ignored, a reused pk is a new entry, dimensions are checked."""
    idx = VectorIndex(VectorIndexConfig(background=False))
    x = clustered(10, 1)
    assert idx.add([1, 2, 3], x[:3]) == 3
    assert idx.add([3, 4, 4], x[3:6]) == 1
    assert len(idx) == 4 and idx.max_pk == 4
    assert idx.discard([2, 99]) == 1
    assert idx.add([2], x[9:10]) == 1  # reused pk: new vector
    [(pk, sim)] = idx.search(x[9], 1)
    assert pk == 2 and sim == pytest.approx(1.0, abs=1e-5)
    assert [p for p, _ in idx.search(x[0], 10)][0] == 1 and len(idx.search(x[0], 10)) == 4
    with pytest.raises(ValueError):
        idx.add([7], np.zeros((1, DIM + 1), np.float32))
    assert idx.contains([1, 2, 5]).tolist() == [True, True, False]
