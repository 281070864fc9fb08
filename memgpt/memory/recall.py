"""Recall search: the words of every message fused with their meaning, within dates.

Messages are stored first and embedded afterwards, in order, by `embed_pending` (the service
calls it after each turn; every search calls it too, so a message stored by any path is
embedded before the next search looks for it). The SQLite store indexes each message's 3-turn
window text (stemmed) in the same pass, since a new message changes its predecessor's window:
that re-index stays off the turn's commit, and a search still sees every message's window.
Without a query (None), a search lists the messages in the date range oldest first; a
query with no words finds nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from memgpt.core.background import run as background_run
from memgpt.embeddings.base import Embedder, embed_query
from memgpt.memory import hybrid
from memgpt.memory.lexical import named_periods, words
from memgpt.memory.stores import Page, RecallStore
from memgpt.core.schemas import Message

Placed = dict[str, tuple[int, datetime]]
"""(seq, created_at) of messages by id."""

EMBED_BATCH = 64
CATCH_UP = 256
"""At most this many messages are embedded on the way of a turn or a search (a second or
two with the local model), so a backlog (messages stored before migration 0005) never
stalls them; `memgpt reembed` and imports embed everything up front."""


@runtime_checkable
class WindowedWords(Protocol):
    """A recall store that also scores each message's 3-turn window text by its words."""

    async def lexical_windows(
        self, agent_id: str, query: str, *, start: datetime | None, end: datetime | None, limit: int
    ) -> tuple[list[tuple[str, float, bool]], dict[str, float] | None, Placed | None]:
        """(id, score, exact phrase) best first, each match's window score (None: none), and
        each match's position (None: ask `positions`)."""


async def _words(
    store: RecallStore, agent_id: str, query: str, start: datetime | None, end: datetime | None, limit: int
) -> tuple[list[tuple[str, float, bool]], dict[str, float] | None, Placed]:
    """The full-text matches, their window scores, and their positions."""
    if isinstance(store, WindowedWords):
        lexical, windows, placed = await store.lexical_windows(agent_id, query, start=start, end=end, limit=limit)
    else:
        lexical, windows, placed = await store.lexical(agent_id, query, start=start, end=end, limit=limit), None, None
    if placed is None:
        placed = await store.positions(agent_id, [i for i, _, _ in lexical])
    return lexical, windows, placed


async def embed_pending(
    store: RecallStore, embedder: Embedder, agent_id: str, limit: int | None = None
) -> int:
    """Embed the agent's oldest messages that have no embedding yet (up to limit); returns how many."""
    return await embed_pending_many(store, embedder, [agent_id], limit)


async def embed_pending_many(
    store: RecallStore, embedder: Embedder, agent_ids: list[str], limit: int | None = None, *,
    background: bool = False,
) -> int:
    """Embed the pending messages of several agents (up to limit each, oldest first), in
    batches shared between them; returns how many. ``background``: on the low-priority
    worker (`memgpt.core.background`), for work nobody is waiting for."""
    run = background_run if background else asyncio.to_thread
    done: Counter[str] = Counter()
    agents = list(agent_ids)
    while agents:
        room = CATCH_UP if limit is None else min(CATCH_UP, *(limit - done[a] for a in agents))
        if room <= 0:
            break
        todo = await store.unembedded_of(agents, room)
        for start in range(0, len(todo), EMBED_BATCH):
            batch = todo[start:start + EMBED_BATCH]
            vectors = await run(embedder.embed, [text for _, _, text in batch])
            await store.set_embeddings_of(embedder.name, [(a, i) for a, i, _ in batch], vectors)
        fetched = Counter(a for a, _, _ in todo)
        done.update(fetched)
        agents = [a for a in agents if fetched[a] == room and (limit is None or done[a] < limit)]  # maybe more
    return sum(done.values())


def _heard(task: asyncio.Future[Any]) -> None:
    """Mark a task's error as heard (a task left behind on purpose: no "never retrieved")."""
    if not task.cancelled():
        task.exception()


async def candidates(
    store: RecallStore,
    embedder: Embedder,
    agent_id: str,
    query: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = hybrid.LEXICAL_CANDIDATES,
    catch_up: int = 0,
) -> hybrid.Candidates:
    """The candidates of a search with their features (full text drops the query's common
    words; the exact phrase is the whole query). A message's session is the UTC day it was
    said; its neighbours are the messages just before and after it; its day is scored against
    the times the query names (the ``date`` feature).

    The query is embedded in a thread while up to ``catch_up`` pending messages are embedded
    (and, with them, their windows indexed for full text). Two chains run side by side, each
    waiting for the database in its own connection: the words (full text with its matches'
    positions, read at once and read again only if the catch-up embedded anything) and the
    meaning (the query's vector, then, once caught up, the vector search with its matches'
    positions). Both see every pending message, and the catch-up check costs neither chain
    anything when nothing is pending: the full text does not wait for it, and a query takes
    longer to embed. A search takes about the longer chain, not their sum.
    """
    embedding = asyncio.ensure_future(asyncio.to_thread(embed_query, embedder, [query]))
    caught_up = asyncio.ensure_future(embed_pending(store, embedder, agent_id, catch_up))  # (0: no-op)

    async def by_words() -> tuple[list[tuple[str, float, bool]], dict[str, float] | None, Placed]:
        first = asyncio.ensure_future(_words(store, agent_id, query, start, end, limit))
        first.add_done_callback(_heard)
        try:
            embedded = await caught_up
        except BaseException:
            first.cancel()
            raise
        if not embedded:
            return await first
        first.cancel()  # read before the caught-up messages' windows were indexed: read again
        return await _words(store, agent_id, query, start, end, limit)

    async def by_meaning() -> tuple[list[tuple[str, float]], Placed]:
        vector = (await embedding)[0]
        await caught_up
        return await store.nearest(
            agent_id, embedder.name, vector, hybrid.VECTOR_CANDIDATES, start=start, end=end)

    chains = asyncio.ensure_future(by_words()), asyncio.ensure_future(by_meaning())
    try:
        (lexical, windows, found), (dense, more) = await asyncio.gather(*chains)
    except BaseException:
        for chain in chains:  # the other chain stops too (gather hears any error of theirs)
            chain.cancel()
        for task in (caught_up, embedding):  # either may still fail, with nobody left to hear it
            task.add_done_callback(_heard)
        raise
    found.update(more)
    positions = {i: hybrid.Position(seq, (at.year, at.month, at.day), at.date()) for i, (seq, at) in found.items()}
    return hybrid.candidates(
        lexical, dense, positions, lexical_share=hybrid.lexical_weight(embedder), lexical_windows=windows,
        periods=named_periods(query),
    )


async def search(
    store: RecallStore,
    embedder: Embedder,
    agent_id: str,
    query: str | None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int,
    offset: int = 0,
) -> Page[Message]:
    """One page of hybrid search results within [start, end), and how many were found."""
    if query is None:
        return await store.by_date(agent_id, start=start, end=end, limit=limit, offset=offset)
    if not words(query):
        return Page([], 0)
    found = await candidates(
        store, embedder, agent_id, query, start=start, end=end,
        limit=max(hybrid.LEXICAL_CANDIDATES, offset + limit), catch_up=CATCH_UP,
    )
    ranked = hybrid.rank(found, hybrid.weights_for(embedder))
    return Page(await store.get_many(agent_id, ranked[offset : offset + limit]), len(ranked))
