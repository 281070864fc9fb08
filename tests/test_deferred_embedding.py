"""Messages are embedded after the turn, off its path, in batches shared between agents; a
search never misses one that is still waiting."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.embeddings import HashingEmbedder
from memgpt.llm.scripted import reply


class Counting(HashingEmbedder):
    """The hashing embedder, counting its calls and texts."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.niceness: list[int] = []

    def embed(self, texts: list[str]) -> Any:
        self.calls.append(len(texts))
        self.niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return super().embed(texts)


async def test_turns_of_many_agents_share_embedding_batches(settings: Settings) -> None:
    """Ten agents' turns, sent at once, are embedded in far fewer calls than turns, and every
    searchable message ends up embedded."""
    embedder = Counting()
    model = ScriptedModel(policy=lambda request: reply("noted"))
    async with AgentService(settings, models={"m": model}, embedder=embedder) as svc:
        agents = [(await svc.create_agent(f"a{i}", model="m")).id for i in range(10)]
        await asyncio.gather(*(svc.send_message(a, f"the word is heron-{n}") for n, a in enumerate(agents)))
        assert embedder.calls == []  # nothing embedded on the turns' path
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(Engine, "before_cursor_execute", count)
        try:
            await svc.kernel.drain()
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        assert sum(embedder.calls) == 20 and len(embedder.calls) <= 2  # 10 inputs + 10 replies
        # the agents' messages are listed, stored and indexed together, not agent by agent
        assert len(statements) <= 2 * 8, statements
        # at a lower CPU priority than the turns (Linux: the worker thread's own nice value)
        main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert all(n >= min(19, main + 10) for n in embedder.niceness), (main, embedder.niceness)
        for a in agents:
            assert await svc.stores.recall.unembedded(a, 10) == []


async def test_search_sees_a_message_not_yet_embedded(settings: Settings) -> None:
    """A search right after a turn (before the background batch ran) still finds it."""
    model = ScriptedModel(policy=lambda request: reply("noted"))
    async with AgentService(settings, models={"m": model}) as svc:
        agent = await svc.create_agent("a", model="m")
        await svc.send_message(agent.id, "my locker code is 4471-quartz")
        assert await svc.stores.recall.unembedded(agent.id, 10)  # still waiting
        page = await svc.search_messages(agent.id, "locker code")
        assert any("4471-quartz" in m.text for m in page.items)
