"""Archival search: exact words (full-text) fused with vector similarity."""

from __future__ import annotations

import asyncio

from memgpt.embeddings.base import Embedder, embed_query
from memgpt.core.errors import EmbeddingMismatchError
from memgpt.memory import hybrid
from memgpt.memory.stores import ArchivalStore, Page
from memgpt.core.schemas import Passage


async def ranked_ids(store: ArchivalStore, embedder: Embedder, agent_id: str, query: str) -> list[str]:
    """Passage ids ranked by fused word and meaning scores; exact phrase matches first."""
    models = await store.embedding_models(agent_id)
    foreign = [m for m in models if m != embedder.name]
    if foreign:
        raise EmbeddingMismatchError(
            f"archival memory holds passages embedded with {', '.join(foreign)}; this agent "
            f"searches with {embedder.name}. Re-embed them first: "
            f"memgpt reembed {agent_id} --embedder {embedder.name}"
        )
    return hybrid.rank(await candidates(store, embedder, agent_id, query), hybrid.weights_for(embedder))


async def candidates(store: ArchivalStore, embedder: Embedder, agent_id: str, query: str) -> hybrid.Candidates:
    """The candidates of a search with their features (full text drops the query's common
    words; the exact phrase is the whole query). Passages have no conversational order or
    session: their window and session features are their own scores."""
    lexical, vectors = await asyncio.gather(  # the query is embedded while full text runs
        store.lexical(agent_id, query, hybrid.LEXICAL_CANDIDATES),
        asyncio.to_thread(embed_query, embedder, [query]),
    )
    query_vector = vectors[0]
    dense = await store.nearest(agent_id, embedder.name, query_vector, hybrid.VECTOR_CANDIDATES)
    return hybrid.candidates(lexical, dense, lexical_share=hybrid.lexical_weight(embedder))


async def search(
    store: ArchivalStore, embedder: Embedder, agent_id: str, query: str, *, limit: int, offset: int = 0
) -> Page[Passage]:
    """One page of hybrid search results and the number of candidates found."""
    ranked = await ranked_ids(store, embedder, agent_id, query)
    return Page(await store.get_many(agent_id, ranked[offset : offset + limit]), len(ranked))
