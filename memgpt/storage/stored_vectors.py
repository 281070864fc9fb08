"""Vector indexes kept in step with a table of embedded rows (passages, messages).

`StoredVectors` owns one `VectorIndex` per (agent, embedding model) for a table whose rows
have ``pk``, ``id``, ``agent_id``, ``embedding`` (float32 bytes) and ``embedding_model``
(or per collection named by another column, e.g. an archive's passages by ``archive_id``). It
loads or builds the index on first use, catches up with rows added by other processes, and
checks every hit against the database so deleted rows never come back.

Rows are expected to become embedded in ascending pk order (the watermark ``synced`` says
every embedded row with pk <= synced is in the index). Archival passages are embedded as
they are inserted; messages are embedded in pk order shortly after they are stored.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from memgpt.storage.reader import AsyncReader, Reader
from memgpt.storage.sql_common import Sessions
from memgpt.storage.vector_index import Matrix, VectorIndex, VectorIndexConfig

_FETCH_CHUNK = 20_000
_VERIFY_ROUNDS = 3


def default_directory(sessions: Sessions) -> Path | None:
    """`<directory of the SQLite file>/vectors`, or None for in-memory or non-SQLite databases."""
    bind = sessions.kw.get("bind")
    url = getattr(bind, "url", None)
    if url is None or not str(url.drivername).startswith("sqlite"):
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().parent / "vectors"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80]


def _blobs(rows: Sequence[Any], dim: int | None = None) -> Matrix:
    data = b"".join(r[1] for r in rows)
    matrix = np.frombuffer(data, dtype=np.float32)
    return matrix.reshape(len(rows), -1) if rows else matrix.reshape(0, dim or 0)


class StoredVectors:
    """The vector indexes of one table of embedded rows, kept in step with it.

    Saved graphs are named ``<prefix><agent>.<model>-<hash>`` in the index directory.
    """

    def __init__(
        self,
        sessions: Sessions,
        table: Any,
        config: VectorIndexConfig | None = None,
        prefix: str = "",
        key: str = "agent_id",
        reader: Reader | None = None,
    ) -> None:
        self.sessions = sessions
        self.reader = reader or AsyncReader(sessions)
        """Where searches read (`nearest`); loading and catching up read through sessions."""
        self.table = table
        self.key = getattr(table, key)
        """The column whose value names a collection (an agent; an archive for its passages)."""
        self.prefix = prefix
        self.config = config or VectorIndexConfig()
        self.directory = self.config.directory or default_directory(sessions)
        self._indexes: dict[tuple[str, str], VectorIndex] = {}
        self._check_statements: dict[tuple[str, ...], tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def _where(self, agent_id: str, model: str) -> Any:
        return (self.key == agent_id) & (self.table.embedding_model == model)

    def index(self, agent_id: str, model: str) -> VectorIndex:
        """The (possibly not yet loaded) index of an agent's vectors under a model."""
        key = (agent_id, model)
        with self._lock:
            idx = self._indexes.get(key)
            if idx is None:
                path = None
                if self.directory is not None:
                    digest = hashlib.sha1(model.encode()).hexdigest()[:10]
                    path = self.directory / f"{self.prefix}{_slug(agent_id)}.{_slug(model)}-{digest}"
                idx = self._indexes[key] = VectorIndex(self.config, path)
            return idx

    def loaded(self) -> list[VectorIndex]:
        """The indexes loaded in this process."""
        with self._lock:
            return list(self._indexes.values())

    def wait(self) -> None:
        """Wait for every background build or merge (benchmarks and tests)."""
        for idx in self.loaded():
            idx.wait()

    def save(self) -> None:
        """Save every graph now (e.g. at shutdown; otherwise saves happen after merges)."""
        for idx in self.loaded():
            idx.wait()
            idx.save()

    def forget(self, agent_id: str) -> None:
        """Drop an agent's indexes and files (call when the agent is deleted)."""
        with self._lock:
            keys = [k for k in self._indexes if k[0] == agent_id]
            gone = [self._indexes.pop(k) for k in keys]
        for idx in gone:
            idx.wait()
            idx.remove_files()
        if self.directory is not None and self.directory.exists():
            for f in self.directory.glob(f"{self.prefix}{_slug(agent_id)}.*"):
                f.unlink(missing_ok=True)

    # --- keeping in step ----------------------------------------------------------------------

    def inserted(self, agent_id: str, model: str, pks: Sequence[int], vectors: Matrix) -> None:
        """Passages committed by this store: added at once to a loaded index."""
        idx = self._indexes.get((agent_id, model))
        if idx is not None and idx.loaded:
            idx.add(pks, vectors)
            idx.maybe_build()

    def deleted(self, agent_id: str, model: str, pks: Sequence[int]) -> None:
        """Passages deleted by this store."""
        idx = self._indexes.get((agent_id, model))
        if idx is not None:
            idx.discard(pks)
            if idx.loaded:
                idx.maybe_build()

    async def _fetch_after(self, idx: VectorIndex, agent_id: str, model: str, after: int) -> None:
        """Add every row of the key with pk > after that the index lacks.

        An empty index reads the blobs in keyset pages; otherwise the pks are listed first
        (from the covering index, cheap) so that rows this process inserted itself are not
        read again.
        """
        where = self._where(agent_id, model)
        if len(idx):
            async with self.sessions() as s:
                pks = np.fromiter(
                    (r[0] for r in await s.execute(
                        select(self.table.pk).where(where, self.table.pk > after)
                    )),
                    np.int64,
                )
            await self._fetch_pks(idx, pks[~idx.contains(pks)].tolist())
            return
        while True:
            async with self.sessions() as s:
                rows = list(await s.execute(
                    select(self.table.pk, self.table.embedding)
                    .where(where, self.table.pk > after)
                    .order_by(self.table.pk)
                    .limit(_FETCH_CHUNK)
                ))
            if not rows:
                return
            await asyncio.to_thread(idx.add, [r[0] for r in rows], _blobs(rows))
            after = int(rows[-1][0])
            if len(rows) < _FETCH_CHUNK:
                return

    async def _fetch_pks(self, idx: VectorIndex, pks: Sequence[int]) -> None:
        for s0 in range(0, len(pks), 5_000):
            chunk = [int(p) for p in pks[s0 : s0 + 5_000]]
            async with self.sessions() as s:
                rows = list(await s.execute(
                    select(self.table.pk, self.table.embedding)
                    .where(self.table.pk.in_(chunk))
                    .order_by(self.table.pk)
                ))
            if rows:
                await asyncio.to_thread(idx.add, [r[0] for r in rows], _blobs(rows))

    async def _reconcile(self, idx: VectorIndex, agent_id: str, model: str) -> None:
        """After loading a saved graph: apply deletes and fill rows it missed up to its watermark."""
        where = self._where(agent_id, model)
        upto = idx.synced
        async with self.sessions() as s:
            count = int(await s.scalar(
                select(func.count()).select_from(self.table).where(where, self.table.pk <= upto)
            ) or 0)
        known = idx.live_pks(upto)
        if count == len(known):
            return
        async with self.sessions() as s:
            db = np.fromiter(
                (r[0] for r in await s.execute(select(self.table.pk).where(where, self.table.pk <= upto))),
                np.int64,
            )
        idx.discard(np.setdiff1d(known, db, assume_unique=True))
        await self._fetch_pks(idx, np.setdiff1d(db, known, assume_unique=True).tolist())

    async def _sync(self, idx: VectorIndex, agent_id: str, model: str, s: AsyncSession) -> None:
        """Load the index if needed and catch up with rows added to the database since."""
        if not idx.sync_lock.acquire(blocking=False):
            await asyncio.to_thread(idx.sync_lock.acquire)
        try:
            where = self._where(agent_id, model)
            if not idx.loaded:
                if await asyncio.to_thread(idx.load):
                    await self._reconcile(idx, agent_id, model)
                else:
                    total = int(await s.scalar(
                        select(func.count()).select_from(self.table).where(where)
                    ) or 0)
                    blob = await s.scalar(select(self.table.embedding).where(where).limit(1))
                    if total and blob:
                        idx.reserve(total, len(blob) // 4)
            top = await s.scalar(
                select(self.table.pk).where(where).order_by(self.table.pk.desc()).limit(1)
            )
            if top is not None and int(top) > idx.synced:
                await self._fetch_after(idx, agent_id, model, idx.synced)
                idx.synced = int(top)
            idx.loaded = True
        finally:
            idx.sync_lock.release()
        idx.maybe_build()

    async def nearest(self, agent_id: str, model: str, vector: Matrix, k: int) -> list[tuple[str, float]]:
        """Up to k (row id, similarity) nearest to vector, checked against the database."""
        return [(i, sim) for i, sim, _ in await self.nearest_with(agent_id, model, vector, k)]

    async def nearest_with(
        self, agent_id: str, model: str, vector: Matrix, k: int, columns: tuple[str, ...] = ()
    ) -> list[tuple[str, float, tuple[Any, ...]]]:
        """`nearest`, each hit with its row's values of the named columns, as the driver
        returns them (no type processing: a timestamp is SQLite's text).

        One read per search in the common case, on the reader: the index search and a query
        that fetches the hits' ids and columns (so rows deleted behind the index's back are
        dropped) and the key's newest pk (so rows added by others are caught up, and the
        search repeated).
        """
        if k <= 0:
            return []
        idx = self.index(agent_id, model)
        if not idx.loaded:
            async with self.sessions() as s:
                await self._sync(idx, agent_id, model, s)
        search = functools.partial(self._search, idx, agent_id, model, vector, k, self._checks(columns))
        out: list[tuple[str, float, tuple[Any, ...]]] = []
        for _ in range(_VERIFY_ROUNDS):
            hits, rows, top = await self.reader.read(search)
            if top is not None and int(top) > idx.synced:
                async with self.sessions() as s:
                    await self._sync(idx, agent_id, model, s)  # new rows: catch up, search again
                continue
            found = {int(r[0]): r for r in rows}
            out = [(str(found[pk][1]), sim, tuple(found[pk][3:])) for pk, sim in hits if pk in found]
            gone = [pk for pk, _ in hits if pk not in found]
            if not gone:
                break
            idx.discard(gone)  # deleted behind our back: drop them and search again
        return out[:k]

    def _checks(self, columns: tuple[str, ...]) -> tuple[Any, Any]:
        """The statements that check a search's hits (pk, id, the key's newest pk, columns)
        and read the newest pk alone, built once per columns: plain text with an expanding
        IN, so a search neither builds nor compiles a statement."""
        with self._lock:
            known = self._check_statements.get(columns)
            if known is None:
                table, key = self.table.__table__.name, self.key.name
                mine = f"{key} = :key AND embedding_model = :model"
                newest = f"SELECT pk FROM {table} WHERE {mine} ORDER BY pk DESC LIMIT 1"
                extra = "".join(f", {c}" for c in columns)
                check = text(f"SELECT pk, id, ({newest}){extra} FROM {table} WHERE {mine} AND pk IN :pks")
                known = self._check_statements[columns] = (
                    check.bindparams(bindparam("pks", expanding=True)), text(newest))
            return known

    def _search(
        self, idx: VectorIndex, key: str, model: str, vector: Matrix, k: int, checks: tuple[Any, Any], s: Session
    ) -> tuple[list[tuple[int, float]], list[Any], Any]:
        """The index's hits, their rows (pk, id, the newest pk, columns), and the newest pk."""
        check, newest = checks
        hits = idx.search(vector, k)
        values = {"key": key, "model": model}
        rows = list(s.execute(check, {**values, "pks": [pk for pk, _ in hits]})) if hits else []
        return hits, rows, rows[0][2] if rows else s.scalar(newest, values)
