"""Archival memory in SQL: passages, searched by FTS5 words and stored vectors (SQLite)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from memgpt.core.errors import NotFoundError
from memgpt.core.schemas import Passage
from memgpt.memory.lexical import content_query
from memgpt.embeddings.base import Vectors
from memgpt.storage.fts import fts5_any, fts5_phrase
from memgpt.storage.runner import AsyncRunner, Runner
from memgpt.storage.sql_common import PkVector, Sessions, WordMatch, write_blobs
from memgpt.storage.stored_vectors import StoredVectors
from memgpt.storage.tables import PassageRow
from memgpt.storage.vector_index import VectorIndexConfig


def _passage(row: PassageRow) -> Passage:
    return Passage(
        id=row.id,
        agent_id=row.agent_id,
        text=row.text,
        tags=json.loads(row.tags),
        embedding_model=row.embedding_model,
        created_at=row.created_at,
    )


class SqlArchivalStore:
    """Archival memory in SQL: FTS5 for words, float32 blobs for vectors.

    Similarity search goes through in-memory vector indexes (exact below a size threshold,
    HNSW above it, saved under `<sqlite dir>/vectors`); see memgpt.storage.vector_index.
    """

    def __init__(
        self, sessions: Sessions, vector_index: VectorIndexConfig | None = None,
        runner: Runner | None = None,
    ) -> None:
        self.sessions = sessions
        self.runner = runner or AsyncRunner(sessions)
        """Runs this store's re-embedding writes; the SQLite writer thread if given."""
        self.vectors = StoredVectors(sessions, PassageRow, vector_index)

    _words = WordMatch(
        any=lambda query: fts5_any(content_query(query)),
        phrase=fts5_phrase,
        alias="p",
        source="passages_fts f JOIN passages p ON p.pk = f.rowid",
        where="passages_fts MATCH :q",
        score="-bm25(passages_fts)",
        exact="(p.pk IN (SELECT rowid FROM passages_fts WHERE passages_fts MATCH :phrase))",
        tiebreak="p.pk",
    )

    async def forget_agent(self, agent_id: str) -> None:
        """Drop a deleted agent's vector indexes (in memory and on disk)."""
        await asyncio.to_thread(self.vectors.forget, agent_id)

    async def insert(self, agent_id: str, passages: list[Passage], vectors: Vectors) -> None:
        """Store passages with their vectors."""
        async with self.sessions() as s, s.begin():
            indexed = await s.run_sync(self.add, agent_id, passages, vectors)
        indexed()

    def add(
        self, s: Session, agent_id: str, passages: list[Passage], vectors: Vectors
    ) -> Callable[[], None]:
        """Stage passages in an open session; returns what to run once it has committed
        (the in-memory vector indexes learn of the new rows)."""
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(passages), -1)
        rows = [
            PassageRow(
                id=p.id, agent_id=agent_id, text=p.text, tags=json.dumps(p.tags),
                embedding=v.tobytes(), embedding_model=p.embedding_model, created_at=p.created_at,
            )
            for p, v in zip(passages, matrix, strict=True)
        ]
        s.add_all(rows)
        s.flush()
        pks = [r.pk for r in rows]

        def indexed() -> None:
            by_model: dict[str, list[int]] = {}
            for i, p in enumerate(passages):
                by_model.setdefault(p.embedding_model, []).append(i)
            for model, at in by_model.items():
                self.vectors.inserted(agent_id, model, [pks[i] for i in at], matrix[at])

        return indexed

    async def page(self, agent_id: str, *, limit: int, offset: int) -> list[Passage]:
        """Passages, newest first."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(PassageRow)
                .where(PassageRow.agent_id == agent_id)
                .order_by(PassageRow.pk.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_passage(r) for r in rows]

    async def count(self, agent_id: str) -> int:
        """Number of passages."""
        async with self.sessions() as s:
            q = select(func.count()).select_from(PassageRow).where(PassageRow.agent_id == agent_id)
            return int(await s.scalar(q) or 0)

    async def delete(self, agent_id: str, passage_id: str) -> None:
        """Delete one passage."""
        async with self.sessions() as s, s.begin():
            gone = list(await s.execute(
                delete(PassageRow)
                .where(PassageRow.agent_id == agent_id, PassageRow.id == passage_id)
                .returning(PassageRow.pk, PassageRow.embedding_model)
            ))
        if not gone:
            raise NotFoundError(f"agent {agent_id!r} has no passage {passage_id!r}")
        for pk, model in gone:
            self.vectors.deleted(agent_id, model, [pk])

    async def lexical(self, agent_id: str, query: str, limit: int) -> list[tuple[str, float, bool]]:
        """(id, score, exact phrase) of the best word matches, best first."""
        return await self._words.ranked(
            self.sessions, query, ["p.agent_id = :agent"], {"agent": agent_id}, limit
        )

    async def set_embeddings(self, agent_id: str, model: str, ids: list[str], vectors: Vectors) -> int:
        """Replace the embeddings of passages (now under model); returns how many were found."""
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)

        def job(s: Session) -> dict[str, tuple[int, str]]:
            found = {r[1]: (int(r[0]), str(r[2])) for r in s.execute(
                select(PassageRow.pk, PassageRow.id, PassageRow.embedding_model)
                .where(PassageRow.agent_id == agent_id, PassageRow.id.in_(ids))
            )}
            self._write_embeddings(s, model, [(found[i][0], v) for i, v in zip(ids, matrix) if i in found])
            return found

        old = await self.runner.run(job)
        rows = [i for i in ids if i in old]
        for pk, previous in old.values():
            self.vectors.deleted(agent_id, previous, [pk])
        keep = [n for n, i in enumerate(ids) if i in old]
        self.vectors.inserted(agent_id, model, [old[ids[n]][0] for n in keep], matrix[keep])
        return len(rows)

    def _write_embeddings(self, s: Session, model: str, rows: list[PkVector]) -> None:
        write_blobs(s, "passages", model, rows)

    async def nearest(
        self, agent_id: str, model: str, vector: Vectors, k: int
    ) -> list[tuple[str, float]]:
        """Up to k passage ids most similar to vector, through the agent's vector index."""
        return await self.vectors.nearest(agent_id, model, vector, k)

    async def get_many(self, agent_id: str, ids: list[str]) -> list[Passage]:
        """The agent's passages by id, in the order given (unknown ids skipped)."""
        if not ids:
            return []
        async with self.sessions() as s:
            rows = {r.id: r for r in await s.scalars(
                select(PassageRow).where(PassageRow.agent_id == agent_id, PassageRow.id.in_(ids))
            )}
        return [_passage(rows[i]) for i in ids if i in rows]

    async def needing_embedding(
        self, agent_id: str, model: str, *, after: int, limit: int, force: bool = False
    ) -> list[tuple[int, str, str]]:
        """(cursor, id, text) of the next passages past cursor `after` (0 at the start) not
        embedded with model (every passage, with force), in cursor order."""
        query = select(PassageRow.pk, PassageRow.id, PassageRow.text).where(
            PassageRow.agent_id == agent_id, PassageRow.pk > after
        )
        if not force:
            query = query.where(PassageRow.embedding_model != model)
        async with self.sessions() as s:
            rows = await s.execute(query.order_by(PassageRow.pk).limit(limit))
            return [(int(r[0]), r[1], r[2]) for r in rows]

    async def embedding_models(self, agent_id: str) -> list[str]:
        """The distinct embedding models an agent's passages use."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(PassageRow.embedding_model).where(PassageRow.agent_id == agent_id).distinct()
            )
            return list(rows)
