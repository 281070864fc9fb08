"""Where a storage transaction runs: one plain (sync) function over a Session per transaction.

On PostgreSQL, inside the async engine (asyncpg speaks to the server directly). On SQLite, in
one dedicated writer thread over a sync engine on the same file: a whole transaction is one
hop between threads instead of several per statement through aiosqlite, and since every
frequent write of the process (steps, leases, embeddings) goes through that one thread, they
never wait on each other for SQLite's write lock.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from memgpt.storage.sql_common import Sessions

T = TypeVar("T")


class Runner(Protocol):
    """Runs a sync function in one transaction and hands back its result."""

    async def run(self, job: Callable[[Session], T]) -> T:
        """job(session) inside BEGIN ... COMMIT (rolled back if it raises)."""
    def close(self) -> None:
        """Release what the runner holds."""


class AsyncRunner:
    """Transactions on the async engine (``AsyncSession.run_sync``)."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def run(self, job: Callable[[Session], T]) -> T:
        """job(session) in one transaction of the async engine."""
        async with self.sessions() as s, s.begin():
            return await s.run_sync(job)

    def close(self) -> None:
        """Nothing to release: the engine belongs to the storage."""


class GroupRunner:
    """Transactions on the async engine (PostgreSQL), committed in groups as ThreadRunner's
    are: while a transaction runs, the jobs queued meanwhile wait and then share the next
    one, so 150 agents' steps cost a few BEGIN/COMMIT round trips (and pool check-outs, each
    with its pre-ping) instead of one each. Up to ``workers`` group transactions run at once
    on their own connections: each statement is a round trip to the server, and one group
    at a time left the server waiting on us and us on it. A failing job rolls its group back
    and each job of the group runs again alone (two groups that deadlock on a shared block
    are such a failure). The workers live on the loop that first runs a job; a call from
    another loop runs its job alone."""

    def __init__(self, sessions: Sessions, group: int = 64, workers: int = 4) -> None:
        self.sessions, self.group, self.most = sessions, group, workers
        self.queue: list[_Job[Any]] = []
        self.workers: set[asyncio.Task[None]] = set()

    async def run(self, job: Callable[[Session], T]) -> T:
        """job(session) in the next group transaction."""
        loop = asyncio.get_running_loop()
        self.workers = {w for w in self.workers if not w.done()}  # (a finished one takes no more jobs)
        if any(w.get_loop() is not loop for w in self.workers):
            return await self._alone(job)
        done: asyncio.Future[T] = loop.create_future()
        self.queue.append(_Job(job, done, loop))
        if len(self.workers) < self.most:
            self.workers.add(loop.create_task(self._work()))
        return await done

    async def _work(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[:self.group], self.queue[self.group:]
            try:
                values = await self._together([j.fn for j in batch])
            except Exception:  # rolled back: each job alone, so one bad job fails only itself
                for j in batch:
                    try:
                        _settle(j.done, True, await self._alone(j.fn))
                    except Exception as exc:
                        _settle(j.done, False, exc)
                continue
            except BaseException as exc:  # cancelled (the loop is closing): nobody is left waiting
                for j in [*batch, *self.queue]:
                    if not j.done.done():
                        j.done.cancel()
                self.queue = []
                raise exc
            for j, value in zip(batch, values):
                _settle(j.done, True, value)

    async def _together(self, jobs: list[Callable[[Session], Any]]) -> list[Any]:
        async with self.sessions() as s, s.begin():
            return [await s.run_sync(fn) for fn in jobs]

    async def _alone(self, job: Callable[[Session], T]) -> T:
        async with self.sessions() as s, s.begin():
            return await s.run_sync(job)

    def close(self) -> None:
        """Nothing to release: the engine belongs to the storage (queued jobs finish first)."""


class ThreadRunner:
    """Transactions in one dedicated writer thread over a sync engine (SQLite), committed in
    groups: jobs that queue up while one transaction runs go into the next one, with one
    COMMIT for all of them. If a job raises, the group is rolled back and each of its jobs
    runs again in a transaction of its own (jobs are functions of the session alone, so
    running one again is safe). Nobody hears of a job's result before it has committed."""

    def __init__(self, engine: Engine, group: int = 64) -> None:
        self.engine, self.group = engine, group
        self.queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def run(self, job: Callable[[Session], T]) -> T:
        """job(session) in the next group transaction on the writer thread."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._start()
        self.queue.put(_Job(job, done, loop))
        return await done

    def _start(self) -> None:
        with self._starting:  # (again, after close: a service may be closed and reopened)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._work, name="memgpt-sqlite-writer", daemon=True)
                self.thread.start()

    def close(self) -> None:
        """Finish what is queued, stop the thread, close the engine's connections."""
        with self._starting:
            if self.thread is not None and self.thread.is_alive():
                self.queue.put(None)
                self.thread.join()
            self.thread = None
        self.engine.dispose()

    def _work(self) -> None:
        while (first := self.queue.get()) is not None:
            batch, stop = [first], False
            while len(batch) < self.group and not self.queue.empty():
                nxt = self.queue.get()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job[Any]]) -> None:
        try:  # the usual case: every job succeeds, one transaction holds them all
            outcomes = self._together(batch)
        except Exception:  # a job failed: its group rolled back; now each goes alone
            outcomes = [self._alone(job) for job in batch]
        for job, (ok, value) in zip(batch, outcomes):
            job.loop.call_soon_threadsafe(_settle, job.done, ok, value)

    def _together(self, batch: list[_Job[Any]]) -> list[tuple[bool, Any]]:
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            return [(True, job.fn(s)) for job in batch]

    def _alone(self, job: _Job[Any]) -> tuple[bool, Any]:
        try:
            return self._together([job])[0]
        except Exception as exc:
            return False, exc


@dataclass(frozen=True)
class _Job(Generic[T]):
    fn: Callable[[Session], T]
    done: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop


def _settle(done: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if done.cancelled():
        return
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)
