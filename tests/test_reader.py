"""The search path's reads: on a SQLite file, each read is one hop to a reader thread with a
plain sqlite3 connection (`ThreadReader`); elsewhere through the async session (`AsyncReader`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from memgpt import AgentService, Message
from memgpt.memory import recall
from memgpt.storage.factory import open_storage
from memgpt.storage.reader import AsyncReader, ThreadReader


async def test_a_sqlite_file_reads_on_reader_threads(tmp_path: Path) -> None:
    """Reads run on the reader threads and see what the writer thread committed; after
    `close` the reader starts again on first use."""
    storage = open_storage(f"sqlite+aiosqlite:///{tmp_path / 'memgpt.db'}")
    await storage.migrate()
    try:
        assert isinstance(storage.reader, ThreadReader)
        assert storage.recall.reader is storage.reader  # type: ignore[attr-defined]
        where = await storage.reader.read(lambda s: threading.current_thread().name)
        assert where.startswith("memgpt-sqlite-reader")
        await storage.runner.run(lambda s: s.execute(text("CREATE TABLE t (x INTEGER)")))
        await storage.runner.run(lambda s: s.execute(text("INSERT INTO t VALUES (7)")))
        assert await storage.reader.read(lambda s: s.execute(text("SELECT x FROM t")).scalar()) == 7
        storage.reader.close()
        assert await storage.reader.read(lambda s: s.execute(text("SELECT count(*) FROM t")).scalar()) == 1
    finally:
        await storage.close()


async def test_in_memory_sqlite_reads_through_the_async_session() -> None:
    """A second engine could not see an in-memory database: reads stay on the async engine."""
    storage = open_storage("sqlite+aiosqlite:///:memory:")
    await storage.migrate()
    try:
        assert isinstance(storage.reader, AsyncReader)
        assert await storage.reader.read(lambda s: s.execute(text("SELECT 41 + 1")).scalar()) == 42
    finally:
        await storage.close()


async def test_a_search_reads_only_on_reader_threads(service: AgentService) -> None:
    """Every statement of a recall search (the pending check, full text, the vector hits with
    their positions, the page: four) runs on a reader thread, none through aiosqlite."""
    agent_id = (await service.create_agent("reads", model="scripted")).id
    store = service.stores.recall
    await store.append(agent_id, [Message.user(t) for t in (
        "the heron nests by the river", "a kingfisher dives", "herons again at dawn")])
    await recall.embed_pending(store, service.embedder, agent_id)
    threads: list[str] = []

    def note(*_: Any) -> None:
        threads.append(threading.current_thread().name)

    storage = service.kernel.storage
    assert isinstance(storage.reader, ThreadReader)
    engines = [storage.engine.sync_engine, storage.reader.engine]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        await recall.search(store, service.embedder, agent_id, "kingfisher", limit=5)  # loads the vector index
        threads.clear()
        page = await recall.search(store, service.embedder, agent_id, "heron river", limit=5)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)
    assert page.items and page.items[0].search_text().startswith("the heron")
    assert len(threads) == 4 and all(t.startswith("memgpt-sqlite-reader") for t in threads), threads
