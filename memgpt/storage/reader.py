"""Where a read runs: one plain (sync) function over a Session per read.

Through the async engine on SQLite (aiosqlite), every step of a read is a hop between the
event loop and the connection's thread: checking out, each statement's cursor, execute and
fetch, the rollback on return. Measured on this project's 2-core machine: a session with one
``SELECT 1`` took 1.3 ms and each further statement 1.0 ms, against 0.2 ms for the whole read
as one hop to a thread with a plain sqlite3 connection. A search makes five reads on its way,
so on SQLite the search path reads through `ThreadReader`: a small pool of threads over a sync
engine on the same file (WAL: readers never wait for the writer). PostgreSQL, and in-memory
SQLite (which a second engine could not see), read through the async session (`AsyncReader`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")


class Reader(Protocol):
    """Runs a sync function over a session that only reads, and hands back its result."""

    async def read(self, job: Callable[[Session], T]) -> T:
        """job(session); nothing it does is committed."""

    def close(self) -> None:
        """Release what the reader holds."""


class AsyncReader:
    """Reads on the async engine (``AsyncSession.run_sync``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def read(self, job: Callable[[Session], T]) -> T:
        """job(session) in a session of the async engine."""
        async with self.sessions() as s:
            return await s.run_sync(job)

    def close(self) -> None:
        """Nothing to release: the engine belongs to the storage."""


class ThreadReader:
    """Reads on a pool of threads, each read one hop to a thread with a pooled connection of
    a sync engine. The threads start on first use (again after `close`)."""

    def __init__(self, engine: Engine, threads: int) -> None:
        self.engine, self.threads = engine, threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    async def read(self, job: Callable[[Session], T]) -> T:
        """job(session) on one of the reader threads."""
        return await asyncio.get_running_loop().run_in_executor(self._executor(), self._read, job)

    def _read(self, job: Callable[[Session], T]) -> T:
        with Session(self.engine) as s:  # closed: rolled back, the connection back in the pool
            return job(s)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="memgpt-sqlite-reader")
            return self._pool

    def close(self) -> None:
        """Finish the reads under way, stop the threads, close the engine's connections."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.engine.dispose()
