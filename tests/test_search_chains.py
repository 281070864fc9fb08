"""A recall search runs its words and its meaning side by side with the catch-up of pending
messages: a failure anywhere fails the search once and leaves no task's error unobserved; the
words are read again only when the catch-up embedded something."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from memgpt import AgentService, Message
from memgpt.memory import hybrid, recall


async def _failing_search(
    service: AgentService, monkeypatch: pytest.MonkeyPatch, method: str, *, embedding_fails: bool = False
) -> list[dict[str, Any]]:
    """Search with the store's `method` raising (after 50 ms) and, if asked, the query's
    embedding too (at once); the loop's reports of errors nobody heard, after the search."""
    agent_id = (await service.create_agent("chains", model="scripted")).id
    store = service.stores.recall
    await store.append(agent_id, [Message.user("the heron nests by the river")])
    reports: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reports.append(context))

    async def broken(*_: Any, **__: Any) -> Any:
        await asyncio.sleep(0.05)
        raise RuntimeError(f"{method} failed")

    def no_vector(*_: Any, **__: Any) -> Any:
        raise RuntimeError("embedding failed")

    monkeypatch.setattr(store, method, broken)
    if embedding_fails:
        monkeypatch.setattr(recall, "embed_query", no_vector)
    try:
        with pytest.raises(RuntimeError, match="embedding failed" if embedding_fails else f"{method} failed"):
            await recall.search(store, service.embedder, agent_id, "heron river", limit=5)
        await asyncio.sleep(0.3)  # the query's embedding thread finishes meanwhile
        gc.collect()  # an unobserved task error is reported when the task is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    return reports


@pytest.mark.parametrize("method", ["unembedded_of", "lexical_windows", "nearest"])
async def test_a_failure_fails_the_search_once(service: AgentService, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """The catch-up check, the words chain or the meaning chain failing: the search raises
    that error, and nothing is left for the loop to report as never retrieved."""
    assert await _failing_search(service, monkeypatch, method) == []


async def test_the_first_failure_is_the_one_raised(service: AgentService, monkeypatch: pytest.MonkeyPatch) -> None:
    """The query cannot be embedded (the meaning chain fails at once) and the catch-up fails
    50 ms later, when the words chain no longer waits for it: the search raises the first."""
    assert await _failing_search(service, monkeypatch, "unembedded_of", embedding_fails=True) == []


async def test_both_chains_see_a_message_still_pending(service: AgentService) -> None:
    """A message stored a moment ago, not yet embedded nor window-indexed, is found by its
    words and by its meaning: the meaning waits for the catch-up, the words are read again."""
    agent_id = (await service.create_agent("pending", model="scripted")).id
    store = service.stores.recall
    (stored,) = await store.append(agent_id, [Message.user("the kestrel hovers over the meadow")])
    assert await store.unembedded_of([agent_id], 10)  # pending
    reads = _count_reads(store)
    found = await recall.candidates(store, service.embedder, agent_id, "kestrel meadow", catch_up=recall.CATCH_UP)
    row = found.features[found.keys.index(stored.id)]
    assert row[hybrid.FEATURES.index("lexical")] > 0 and row[hybrid.FEATURES.index("dense")] > 0
    assert len(reads) == 2


def _count_reads(store: Any) -> list[float]:
    """Record when each full-text read of `store` starts (loop time)."""
    starts: list[float] = []
    read = store.lexical_windows

    async def counted(*args: Any, **kwargs: Any) -> Any:
        starts.append(asyncio.get_running_loop().time())
        return await read(*args, **kwargs)

    store.lexical_windows = counted
    return starts


async def test_words_do_not_wait_for_a_catch_up_with_nothing_pending(service: AgentService) -> None:
    """Nothing pending: the full text is read once, while the catch-up check still runs."""
    agent_id = (await service.create_agent("caught up", model="scripted")).id
    store = service.stores.recall
    (stored,) = await store.append(agent_id, [Message.user("the kestrel hovers over the meadow")])
    await recall.embed_pending(store, service.embedder, agent_id)
    check = store.unembedded_of
    checked: list[float] = []

    async def slow_check(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.2)
        checked.append(asyncio.get_running_loop().time())
        return await check(*args, **kwargs)

    store.unembedded_of = slow_check  # type: ignore[method-assign]
    reads = _count_reads(store)
    found = await recall.candidates(store, service.embedder, agent_id, "kestrel meadow", catch_up=recall.CATCH_UP)
    assert found.keys[0] == stored.id and checked
    assert len(reads) == 1 and reads[0] < checked[0] - 0.1
