"""Archival search: exact words (full-text) fused with vector similarity."""

from __future__ import annotations

import asyncio

from memgpt.embeddings.base import Embedder
from memgpt.errors import EmbeddingMismatchError
from memgpt.memory.stores import ArchivalStore, Page
from memgpt.schemas import Passage

RRF_K = 60
LEXICAL_CANDIDATES = 200
VECTOR_CANDIDATES = 50
MIN_SIMILARITY = 0.05


async def ranked_ids(store: ArchivalStore, embedder: Embedder, agent_id: str, query: str) -> list[str]:
    """Passage ids ranked by reciprocal-rank fusion; exact phrase matches always come first."""
    models = await store.embedding_models(agent_id)
    foreign = [m for m in models if m != embedder.name]
    if foreign:
        raise EmbeddingMismatchError(
            f"archival memory holds passages embedded with {', '.join(foreign)}; this agent "
            f"searches with {embedder.name}. Re-embed them first: "
            f"memgpt reembed {agent_id} --embedder {embedder.name}"
        )
    scores: dict[str, float] = {}
    for rank, (pid, exact) in enumerate(await store.lexical(agent_id, query, LEXICAL_CANDIDATES)):
        scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1) + (1.0 if exact else 0.0)
    query_vector = (await asyncio.to_thread(embedder.embed, [query]))[0]
    nearest = await store.nearest(agent_id, embedder.name, query_vector, VECTOR_CANDIDATES)
    for rank, (pid, similarity) in enumerate(nearest):
        if similarity >= MIN_SIMILARITY:
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores, key=lambda pid: -scores[pid])


async def search(
    store: ArchivalStore, embedder: Embedder, agent_id: str, query: str, *, limit: int, offset: int = 0
) -> Page[Passage]:
    """One page of hybrid search results and the number of candidates found."""
    ranked = await ranked_ids(store, embedder, agent_id, query)
    return Page(await store.get_many(ranked[offset : offset + limit]), len(ranked))
