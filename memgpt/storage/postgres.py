"""PostgreSQL stores: full-text search on tsvector columns, pgvector HNSW for similarity.

Agents, blocks and the plain reads and writes of recall and archival memory are the SQL
stores of ``memgpt.storage.sql_agents``, ``sql_recall`` and ``sql_archival`` unchanged;
only search and the storing of vectors differ (query syntax in ``memgpt.storage.fts``).
The schema comes from migrations 0003 (generated ``tsvector`` columns,
``passages.embedding_vec``, HNSW indexes) and 0005 (``messages.embedding_vec``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from memgpt.core.schemas import Passage
from memgpt.embeddings.base import Vectors
from memgpt.storage.fts import tsquery_any, tsquery_phrase
from memgpt.memory.stores import Scope
from memgpt.storage.sql_archival import SqlArchivalStore, scope_sql
from memgpt.memory.lexical import content_query
from memgpt.storage.sql_common import PkVector, WordMatch, naive_utc, stored_utc
from memgpt.storage.sql_recall import SqlRecallStore

MAX_EF_SEARCH = 1000


def vector_literal(vector: Vectors) -> str:
    """pgvector's text form of a vector, exact for float32."""
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).ravel().tolist())) + "]"


def write_vectors(s: Session, table: str, model: str, rows: list[PkVector]) -> None:
    """Store embeddings in ``table.embedding_vec`` (pgvector), by primary key."""
    if rows:
        s.execute(
            text(
                f"UPDATE {table} SET embedding_vec = CAST(:vec AS vector), embedding = NULL,"
                " embedding_model = :model WHERE pk = :pk"
            ),
            [{"pk": pk, "vec": vector_literal(v), "model": model} for pk, v in rows],
        )


class PgRecallStore(SqlRecallStore):
    """Recall memory on PostgreSQL: ``messages.search_tsv`` for words, ``embedding_vec`` for meaning."""

    windowed = False  # no window index on PostgreSQL yet (migration 0017 is SQLite only)

    _words = WordMatch(
        any=lambda query: tsquery_any(content_query(query)),
        phrase=tsquery_phrase,
        alias="m",
        source="messages m",
        where="m.search_tsv @@ to_tsquery('simple', :q)",
        score="ts_rank_cd(m.search_tsv, to_tsquery('simple', :q), 1)",
        exact="m.search_tsv @@ to_tsquery('simple', :phrase)",
        tiebreak="m.seq DESC",
    )

    async def nearest(
        self,
        agent_id: str,
        model: str,
        vector: Vectors,
        k: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[list[tuple[str, float]], dict[str, tuple[int, datetime]]]:
        """Up to k (id, cosine) most similar, an exact pgvector scan of the agent's messages,
        and their (seq, created_at)."""
        if k <= 0:
            return [], {}
        where = ["m.agent_id = :agent", "m.embedding_model = :model"]
        params: dict[str, Any] = {
            "agent": agent_id, "model": model, "vec": vector_literal(vector), "k": k
        }
        self._dates(where, params, start, end)
        distance = "m.embedding_vec <=> CAST(:vec AS vector)"
        sql = text(
            f"SELECT m.id, 1 - ({distance}), m.seq, m.created_at FROM messages m"
            f" WHERE {' AND '.join(where)} ORDER BY {distance} LIMIT :k"
        )
        rows = await self.reader.read(lambda s: list(s.execute(sql, params)))
        return [(r[0], float(r[1])) for r in rows], {r[0]: (int(r[2]), stored_utc(r[3])) for r in rows}

    def _write_embeddings(self, s: Session, model: str, rows: list[PkVector]) -> None:
        write_vectors(s, "messages", model, rows)


class PgArchivalStore(SqlArchivalStore):
    """Archival memory on PostgreSQL: tsvector for words, pgvector (HNSW, cosine) for vectors."""

    _iterative_scan: bool | None = None

    def add(
        self, s: Session, agent_id: str, passages: list[Passage], vectors: Vectors,
        archive_id: str | None = None,
    ) -> Callable[[], None]:
        """Stage passages (the agent's own, or ``archive_id``'s) with their vectors in
        ``embedding_vec`` (indexed by pgvector)."""
        if len(passages) != len(vectors):
            raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
        rows = [
            {
                "id": p.id,
                "agent": None if archive_id else agent_id,
                "archive": archive_id,
                "meta": json.dumps(p.metadata) if p.metadata else None,
                "text": p.text.replace("\x00", " "),  # PostgreSQL text cannot hold NUL
                "tags": json.dumps(p.tags),
                "model": p.embedding_model,
                "created": naive_utc(p.created_at),
                "vec": vector_literal(v),
            }
            for p, v in zip(passages, vectors, strict=True)
        ]
        if rows:
            s.execute(text(
                "INSERT INTO passages (id, agent_id, archive_id, meta, text, tags, embedding_model,"
                " created_at, embedding_vec) VALUES (:id, :agent, :archive, :meta, :text, :tags,"
                " :model, :created, CAST(:vec AS vector))"
            ), rows)
        return lambda: None

    def _write_embeddings(self, s: Session, model: str, rows: list[PkVector]) -> None:
        write_vectors(s, "passages", model, rows)

    _words = WordMatch(
        any=lambda query: tsquery_any(content_query(query)),
        phrase=tsquery_phrase,
        alias="p",
        source="passages p",
        where="p.text_tsv @@ to_tsquery('simple', :q)",
        score="ts_rank_cd(p.text_tsv, to_tsquery('simple', :q), 1)",
        exact="p.text_tsv @@ to_tsquery('simple', :phrase)",
        tiebreak="p.pk",
    )

    async def nearest(
        self, agent_id: Scope | str, model: str, vector: Vectors, k: int
    ) -> list[tuple[str, float]]:
        """Up to k of the scope's passage ids most similar (cosine) to vector, via HNSW where
        indexed."""
        dim = int(np.asarray(vector).size)
        if k <= 0 or dim == 0:
            return []
        params: dict[str, object] = {"model": model, "vec": vector_literal(vector), "k": k}
        scope = scope_sql(Scope.of(agent_id), "passages", params)
        # Must match migration 0003's partial expression indexes for the planner to use them.
        distance = f"embedding_vec::vector({dim}) <=> CAST(:vec AS vector({dim}))"
        sql = text(
            f"SELECT id, 1 - ({distance}) AS similarity FROM passages"
            f" WHERE {scope} AND embedding_model = :model"
            f" AND vector_dims(embedding_vec) = {dim} ORDER BY {distance} LIMIT :k"
        )
        async with self.sessions() as s, s.begin():
            await self._tune_hnsw(s, k)
            rows = await s.execute(sql, params)
            return [(r[0], float(r[1])) for r in rows]

    async def _tune_hnsw(self, session: AsyncSession, k: int) -> None:
        """Let an HNSW scan return k rows that pass the agent filter (SET LOCAL: this transaction)."""
        if self._iterative_scan is None:
            version = await session.scalar(
                text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            )
            parts = tuple(int(p) for p in re.findall(r"\d+", str(version))[:2])
            self._iterative_scan = parts >= (0, 8)
        ef_search = min(MAX_EF_SEARCH, max(40, 2 * k))
        settings = "set_config('hnsw.ef_search', :ef, true)"
        if self._iterative_scan:  # pgvector >= 0.8: keep scanning until k rows pass the filter
            settings += ", set_config('hnsw.iterative_scan', 'strict_order', true)"
        await session.execute(text(f"SELECT {settings}"), {"ef": str(ef_search)})
