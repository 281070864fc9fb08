"""Re-embed an agent's archival passages and messages with another embedder, batch by batch."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from memgpt.embeddings.base import Embedder
from memgpt.errors import InvalidRequestError, MemGPTError
from memgpt.memory import recall
from memgpt.storage.sql import Sessions, SqlArchivalStore
from memgpt.storage.tables import AgentRow, PassageRow

if TYPE_CHECKING:
    from memgpt.service import AgentService


def _sessions(service: AgentService) -> Sessions:
    store = service.stores.archival
    if not isinstance(store, SqlArchivalStore):
        raise InvalidRequestError(f"cannot re-embed passages held by {type(store).__name__}")
    return store.sessions


async def reembed(
    service: AgentService, agent: str, embedder: Embedder, batch: int = 64, *, force: bool = False
) -> int:
    """Re-embed an agent's passages not yet embedded with ``embedder`` (all with force).

    Each batch is embedded outside any transaction and written in one; an interrupted run
    leaves whole batches done, and running again resumes. Returns the passages re-embedded.
    The agent's messages embedded with another model are re-embedded too.
    The agent's recorded ``embedding_model`` becomes the embedder's name.
    """
    if batch < 1:
        raise InvalidRequestError("batch must be at least 1")
    state = await service.get_agent(agent)
    sessions = _sessions(service)
    done, cursor = 0, 0
    while True:
        query = select(PassageRow.pk, PassageRow.id, PassageRow.text).where(
            PassageRow.agent_id == state.id, PassageRow.pk > cursor
        )
        if not force:
            query = query.where(PassageRow.embedding_model != embedder.name)
        async with sessions() as s:
            rows = list(await s.execute(query.order_by(PassageRow.pk).limit(batch)))
        if not rows:
            break
        cursor = rows[-1][0]
        vectors = await asyncio.to_thread(embedder.embed, [r[2] for r in rows])
        if vectors.shape[0] != len(rows) or (embedder.dim and vectors.shape[1] != embedder.dim):
            raise MemGPTError(
                f"{embedder.name} returned vectors of shape {vectors.shape} for {len(rows)} passages"
            )
        done += await service.stores.archival.set_embeddings(
            state.id, embedder.name, [r[1] for r in rows], vectors
        )
    await service.stores.recall.forget_embeddings(state.id, embedder.name)
    await recall.embed_pending(service.stores.recall, embedder, state.id)
    async with sessions() as s, s.begin():
        await s.execute(
            update(AgentRow).where(AgentRow.id == state.id).values(embedding_model=embedder.name)
        )
    return done
