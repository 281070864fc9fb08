"""Re-embed an agent's archival passages and messages with another embedder, batch by batch."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from memgpt.core.errors import InvalidRequestError, MemGPTError
from memgpt.embeddings.base import Embedder
from memgpt.memory import recall

if TYPE_CHECKING:
    from memgpt.services.service import AgentService


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
    stores = service.stores
    done, cursor = 0, 0
    while True:
        rows = await stores.archival.needing_embedding(
            state.id, embedder.name, after=cursor, limit=batch, force=force
        )
        if not rows:
            break
        cursor = rows[-1][0]
        vectors = await asyncio.to_thread(embedder.embed, [r[2] for r in rows])
        if vectors.shape[0] != len(rows) or (embedder.dim and vectors.shape[1] != embedder.dim):
            raise MemGPTError(
                f"{embedder.name} returned vectors of shape {vectors.shape} for {len(rows)} passages"
            )
        done += await stores.archival.set_embeddings(
            state.id, embedder.name, [r[1] for r in rows], vectors
        )
    await stores.recall.forget_embeddings(state.id, embedder.name)
    await recall.embed_pending(stores.recall, embedder, state.id)
    await stores.agents.set_embedding_model(state.id, embedder.name)
    return done
