"""Archival search: exact words (full-text) fused with vector similarity.

An agent's search reads its own passages and those of every archive attached to it, ranked
together (`ArchivalStore.scope_of`); a `Scope` searches any set of agents and archives."""

from __future__ import annotations

import asyncio

from memgpt.embeddings.base import Embedder, embed_query
from memgpt.core.errors import EmbeddingMismatchError
from memgpt.memory import hybrid
from memgpt.memory.stores import ArchivalStore, Page, Scope
from memgpt.core.schemas import Passage


async def ranked_ids(
    store: ArchivalStore, embedder: Embedder, agent_id: Scope | str, query: str
) -> list[str]:
    """Passage ids ranked by fused word and meaning scores; exact phrase matches first."""
    models = await store.embedding_models(agent_id)
    foreign = [m for m in models if m != embedder.name]
    if foreign:
        scope = Scope.of(agent_id)
        fix = (f"memgpt reembed {scope.agents[0]} --embedder {embedder.name}" if scope.agents
               else "make a new archive and add its passages again")
        raise EmbeddingMismatchError(
            f"archival memory holds passages embedded with {', '.join(foreign)}; this search "
            f"uses {embedder.name}. Re-embed them first: {fix}"
        )
    return hybrid.rank(await candidates(store, embedder, agent_id, query), hybrid.weights_for(embedder))


async def candidates(
    store: ArchivalStore, embedder: Embedder, agent_id: Scope | str, query: str
) -> hybrid.Candidates:
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
    """One page of an agent's hybrid search results (its own passages and its archives') and
    the number of candidates found."""
    return await search_scope(store, embedder, await store.scope_of(agent_id), query, limit=limit, offset=offset)


async def search_scope(
    store: ArchivalStore, embedder: Embedder, scope: Scope, query: str, *, limit: int, offset: int = 0
) -> Page[Passage]:
    """One page of hybrid search results over a scope and the number of candidates found."""
    ranked = await ranked_ids(store, embedder, scope, query)
    return Page(await store.get_many(scope, ranked[offset : offset + limit]), len(ranked))
