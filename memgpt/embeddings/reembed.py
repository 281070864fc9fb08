"""Re-embed an agent's archival passages with another embedder, batch by batch."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from memgpt.embeddings.base import Embedder, Vectors
from memgpt.errors import InvalidRequestError, MemGPTError
from memgpt.storage.sql import Sessions, SqlArchivalStore
from memgpt.storage.tables import AgentRow, PassageRow

if TYPE_CHECKING:
    from memgpt.service import AgentService

# PostgreSQL keeps vectors in the pgvector column ``embedding_vec`` (migration 0003);
# ``embedding`` (SQLite's float32 bytes) stays empty there.
_PG_UPDATE = text(
    "UPDATE passages SET embedding_vec = CAST(:vec AS vector), embedding = NULL, "
    "embedding_model = :model WHERE pk = :pk"
)


def _sessions(service: AgentService) -> Sessions:
    store = service.stores.archival
    if not isinstance(store, SqlArchivalStore):
        raise InvalidRequestError(f"cannot re-embed passages held by {type(store).__name__}")
    return store.sessions


async def _write(s: AsyncSession, pks: list[int], vectors: Vectors, model: str) -> int:
    """Store one batch's vectors and model name; returns the rows updated."""
    done = 0
    postgres = (await s.connection()).dialect.name == "postgresql"
    for pk, v in zip(pks, vectors, strict=True):
        if postgres:
            from memgpt.storage.postgres import vector_literal

            result: Any = await s.execute(_PG_UPDATE, {"vec": vector_literal(v), "model": model, "pk": pk})
        else:
            result = await s.execute(
                update(PassageRow)
                .where(PassageRow.pk == pk)
                .values(embedding=np.asarray(v, dtype=np.float32).tobytes(), embedding_model=model)
            )
        done += int(result.rowcount or 0)
    return done


async def reembed(
    service: AgentService, agent: str, embedder: Embedder, batch: int = 64, *, force: bool = False
) -> int:
    """Re-embed an agent's passages not yet embedded with ``embedder`` (all with force).

    Each batch is embedded outside any transaction and written in one; an interrupted run
    leaves whole batches done, and running again resumes. Returns the passages re-embedded.
    The agent's recorded ``embedding_model`` becomes the embedder's name.
    """
    if batch < 1:
        raise InvalidRequestError("batch must be at least 1")
    state = await service.get_agent(agent)
    sessions = _sessions(service)
    done, cursor = 0, 0
    while True:
        query = select(PassageRow.pk, PassageRow.text).where(
            PassageRow.agent_id == state.id, PassageRow.pk > cursor
        )
        if not force:
            query = query.where(PassageRow.embedding_model != embedder.name)
        async with sessions() as s:
            rows = list(await s.execute(query.order_by(PassageRow.pk).limit(batch)))
        if not rows:
            break
        cursor = rows[-1][0]
        vectors = await asyncio.to_thread(embedder.embed, [r[1] for r in rows])
        if vectors.shape[0] != len(rows) or (embedder.dim and vectors.shape[1] != embedder.dim):
            raise MemGPTError(
                f"{embedder.name} returned vectors of shape {vectors.shape} for {len(rows)} passages"
            )
        async with sessions() as s, s.begin():
            done += await _write(s, [r[0] for r in rows], vectors, embedder.name)
    async with sessions() as s, s.begin():
        await s.execute(
            update(AgentRow).where(AgentRow.id == state.id).values(embedding_model=embedder.name)
        )
    return done
