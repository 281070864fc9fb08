"""Archival memory in SQL: passages, searched by FTS5 words and stored vectors (SQLite)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import numpy as np
from sqlalchemy import ColumnElement, delete, false, func, or_, select
from sqlalchemy.orm import Session

from memgpt.core.errors import NotFoundError
from memgpt.core.schemas import Passage
from memgpt.memory.lexical import content_query
from memgpt.embeddings.base import Vectors
from memgpt.storage.fts import fts5_any, fts5_phrase
from memgpt.storage.reader import AsyncReader, Reader
from memgpt.storage.runner import AsyncRunner, Runner
from memgpt.storage.sql_common import PkVector, Sessions, WordMatch, write_blobs
from memgpt.storage.stored_vectors import StoredVectors
from memgpt.memory.stores import Scope
from memgpt.storage.tables import AgentArchiveRow, PassageRow
from memgpt.storage.vector_index import VectorIndexConfig


def _passage(row: PassageRow) -> Passage:
    return Passage(
        id=row.id,
        agent_id=row.agent_id or "",
        archive_id=row.archive_id,
        text=row.text,
        tags=json.loads(row.tags),
        embedding_model=row.embedding_model,
        created_at=row.created_at,
        metadata=json.loads(row.meta) if row.meta else {},
    )


def in_scope(scope: Scope) -> ColumnElement[bool]:
    """Passages of the scope's agents (their own) or of its archives."""
    parts = ([PassageRow.agent_id.in_(scope.agents)] if scope.agents else []) + (
        [PassageRow.archive_id.in_(scope.archives)] if scope.archives else [])
    return or_(*parts) if parts else false()


def scope_sql(scope: Scope, alias: str, params: dict[str, object]) -> str:
    """The scope as a SQL condition on table ``alias``, its values added to params."""
    parts = []
    for column, keys in (("agent_id", scope.agents), ("archive_id", scope.archives)):
        if keys:
            names = [f"scope_{column}_{i}" for i in range(len(keys))]
            params.update(zip(names, keys))
            parts.append(f"{alias}.{column} IN ({', '.join(':' + n for n in names)})")
    return "(" + " OR ".join(parts) + ")" if parts else "1 = 0"


class SqlArchivalStore:
    """Archival memory in SQL: FTS5 for words, float32 blobs for vectors.

    Similarity search goes through in-memory vector indexes (exact below a size threshold,
    HNSW above it, saved under `<sqlite dir>/vectors`); see memgpt.storage.vector_index.
    """

    def __init__(
        self, sessions: Sessions, vector_index: VectorIndexConfig | None = None,
        runner: Runner | None = None, reader: Reader | None = None,
    ) -> None:
        self.sessions = sessions
        self.runner = runner or AsyncRunner(sessions)
        """Runs this store's re-embedding writes; the SQLite writer thread if given."""
        self.reader = reader or AsyncReader(sessions)
        """Runs the reads of a search; the SQLite reader threads if given."""
        self.vectors = StoredVectors(sessions, PassageRow, vector_index, reader=self.reader)
        self.archive_vectors = StoredVectors(sessions, PassageRow, vector_index, key="archive_id", reader=self.reader)
        """The archives' vector indexes: an archive is a collection of its own."""

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

    async def forget_archive(self, archive_id: str) -> None:
        """Drop a deleted archive's vector indexes (in memory and on disk)."""
        await asyncio.to_thread(self.archive_vectors.forget, archive_id)

    async def insert(self, agent_id: str, passages: list[Passage], vectors: Vectors) -> None:
        """Store passages with their vectors."""
        async with self.sessions() as s, s.begin():
            indexed = await s.run_sync(self.add, agent_id, passages, vectors)
        indexed()

    async def insert_archive(self, archive_id: str, passages: list[Passage], vectors: Vectors) -> None:
        """Store passages in an archive, with their vectors."""
        async with self.sessions() as s, s.begin():
            indexed = await s.run_sync(self.add, "", passages, vectors, archive_id)
        indexed()

    def add(
        self, s: Session, agent_id: str, passages: list[Passage], vectors: Vectors,
        archive_id: str | None = None,
    ) -> Callable[[], None]:
        """Stage passages (the agent's own, or ``archive_id``'s) in an open session; returns
        what to run once it has committed (the in-memory vector indexes learn of the rows)."""
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(passages), -1)
        rows = [
            PassageRow(
                id=p.id, agent_id=None if archive_id else agent_id, archive_id=archive_id, text=p.text,
                tags=json.dumps(p.tags), embedding=v.tobytes(), embedding_model=p.embedding_model,
                created_at=p.created_at, meta=json.dumps(p.metadata) if p.metadata else None,
            )
            for p, v in zip(passages, matrix, strict=True)
        ]
        s.add_all(rows)
        s.flush()
        pks = [r.pk for r in rows]
        vectors_of, key = (self.archive_vectors, archive_id) if archive_id else (self.vectors, agent_id)

        def indexed() -> None:
            by_model: dict[str, list[int]] = {}
            for i, p in enumerate(passages):
                by_model.setdefault(p.embedding_model, []).append(i)
            for model, at in by_model.items():
                vectors_of.inserted(key, model, [pks[i] for i in at], matrix[at])

        return indexed

    async def scope_of(self, agent_id: str) -> Scope:
        """What an agent's archival search reads: its own passages and its archives'."""
        async with self.sessions() as s:
            archives = await s.scalars(
                select(AgentArchiveRow.archive_id).where(AgentArchiveRow.agent_id == agent_id)
                .order_by(AgentArchiveRow.attached_at, AgentArchiveRow.archive_id)
            )
            return Scope(agents=(agent_id,), archives=tuple(archives))

    async def delete_from_archive(self, archive_id: str, passage_id: str) -> None:
        """Delete one passage of an archive."""
        async with self.sessions() as s, s.begin():
            gone = list(await s.execute(
                delete(PassageRow)
                .where(PassageRow.archive_id == archive_id, PassageRow.id == passage_id)
                .returning(PassageRow.pk, PassageRow.embedding_model)
            ))
        if not gone:
            raise NotFoundError(f"archive {archive_id!r} has no passage {passage_id!r}")
        for pk, model in gone:
            self.archive_vectors.deleted(archive_id, model, [pk])

    async def page(self, agent_id: Scope | str, *, limit: int, offset: int) -> list[Passage]:
        """The scope's passages, newest first."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(PassageRow)
                .where(in_scope(Scope.of(agent_id)))
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

    async def lexical(self, agent_id: Scope | str, query: str, limit: int) -> list[tuple[str, float, bool]]:
        """(id, score, exact phrase) of the scope's best word matches, best first."""
        params: dict[str, object] = {}
        where = scope_sql(Scope.of(agent_id), "p", params)
        return await self._words.ranked(self.reader, query, [where], params, limit)

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
        self, agent_id: Scope | str, model: str, vector: Vectors, k: int
    ) -> list[tuple[str, float]]:
        """Up to k passage ids most similar to vector, through the vector index of each of
        the scope's agents and archives (merged, most similar first)."""
        scope = Scope.of(agent_id)
        found = [hit for a in scope.agents for hit in await self.vectors.nearest(a, model, vector, k)]
        for archive in scope.archives:
            found += await self.archive_vectors.nearest(archive, model, vector, k)
        return sorted(found, key=lambda hit: -hit[1])[:k] if len(scope.agents) + len(scope.archives) > 1 else found

    async def get_many(self, agent_id: Scope | str, ids: list[str]) -> list[Passage]:
        """The scope's passages by id, in the order given (unknown ids skipped)."""
        if not ids:
            return []
        async with self.sessions() as s:
            rows = {r.id: r for r in await s.scalars(
                select(PassageRow).where(in_scope(Scope.of(agent_id)), PassageRow.id.in_(ids))
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

    async def embedding_models(self, agent_id: Scope | str) -> list[str]:
        """The distinct embedding models the scope's passages use."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(PassageRow.embedding_model).where(in_scope(Scope.of(agent_id))).distinct()
            )
            return list(rows)
