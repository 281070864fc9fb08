"""Folders, files, file chunks and agents' file views in SQL (SQLite and PostgreSQL).

A folder is its own vector collection: chunks keep float32 embeddings on both dialects and
``StoredVectors`` indexes them per folder (``file_chunks.agent_id`` is a synonym of
``folder_id``), exactly as archival passages are indexed per agent on SQLite. Words are
found through FTS5 (SQLite) or the generated ``text_tsv`` column (PostgreSQL). Every change
to what an agent's files show bumps the agent's version, so a process that kept the agent
loaded reloads it (and its system message is recompiled) before its next step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from memgpt.core.errors import AlreadyExistsError, NotFoundError
from memgpt.core.schemas import new_id, utcnow
from memgpt.memory.files import (
    IN_PROGRESS,
    AgentFile,
    ChunkHit,
    ChunkIn,
    FileInfo,
    Folder,
    Status,
)
from memgpt.memory.lexical import content_query
from memgpt.storage.fts import fts5_any, fts5_phrase, tsquery_any, tsquery_phrase
from memgpt.storage.reader import AsyncReader, Reader
from memgpt.storage.sql_common import Sessions, WordMatch
from memgpt.storage.stored_vectors import StoredVectors
from memgpt.storage.tables import (
    AGENTS,
    AgentFileRow,
    AgentFolderRow,
    FileChunkRow,
    FolderFileRow,
    FolderRow,
)
from memgpt.storage.vector_index import VectorIndexConfig

_SQLITE_WORDS = WordMatch(
    any=lambda query: fts5_any(content_query(query)), phrase=fts5_phrase, alias="c",
    source="file_chunks_fts f JOIN file_chunks c ON c.pk = f.rowid", where="file_chunks_fts MATCH :q",
    score="-bm25(file_chunks_fts)",
    exact="(c.pk IN (SELECT rowid FROM file_chunks_fts WHERE file_chunks_fts MATCH :phrase))",
    tiebreak="c.pk",
)
_PG_WORDS = WordMatch(
    any=lambda query: tsquery_any(content_query(query)), phrase=tsquery_phrase, alias="c",
    source="file_chunks c", where="c.text_tsv @@ to_tsquery('simple', :q)",
    score="ts_rank_cd(c.text_tsv, to_tsquery('simple', :q), 1)",
    exact="(c.text_tsv @@ to_tsquery('simple', :phrase))", tiebreak="c.pk",
)


def _folder(row: FolderRow) -> Folder:
    return Folder(
        id=row.id, name=row.name, owner=row.owner, embedding_model=row.embedding_model,
        chunk_tokens=row.chunk_tokens, description=row.description, instructions=row.instructions,
        metadata=json.loads(row.metadata_json), created_at=row.created_at, updated_at=row.updated_at,
    )


def _file(row: FolderFileRow, content: bool = False) -> FileInfo:
    return FileInfo(
        id=row.id, folder_id=row.folder_id, file_name=row.file_name,
        original_file_name=row.original_file_name, file_type=row.file_type, file_size=row.file_size,
        status=row.status,  # only Status values are written
        error_message=row.error_message, total_chunks=row.total_chunks,
        chunks_embedded=row.chunks_embedded, content=row.content if content else None,
        created_at=row.created_at, updated_at=row.updated_at,
    )


def _touch(agent_ids: Sequence[str]) -> Any:
    """Bump agents' versions and mark their memory changed (their file views changed)."""
    return (update(AGENTS).where(AGENTS.c.id.in_(list(agent_ids)))
            .values(version=AGENTS.c.version + 1, memory_dirty=True))


STALE = timedelta(minutes=30)
"""A file in progress whose status has not moved for this long is taken as abandoned."""


class SqlFolderStore:
    """The ``FolderStore`` port over SQL."""

    def __init__(self, sessions: Sessions, vector_index: VectorIndexConfig | None = None,
                 postgres: bool = False, reader: Reader | None = None) -> None:
        self.sessions = sessions
        self.reader = reader or AsyncReader(sessions)
        """Runs the reads of a search; the SQLite reader threads if given."""
        self.vectors = StoredVectors(sessions, FileChunkRow, vector_index, prefix="chunks.", reader=self.reader)
        self._words = _PG_WORDS if postgres else _SQLITE_WORDS

    # --- folders ----------------------------------------------------------------------------
    async def create_folder(self, folder: Folder) -> Folder:
        async with self.sessions() as s, s.begin():
            if await s.scalar(select(FolderRow.pk).where(FolderRow.owner == folder.owner,
                                                         FolderRow.name == folder.name)):
                raise AlreadyExistsError(f"a folder named {folder.name!r} already exists")
            s.add(FolderRow(
                id=folder.id, owner=folder.owner, name=folder.name, description=folder.description,
                instructions=folder.instructions, metadata_json=json.dumps(folder.metadata),
                embedding_model=folder.embedding_model, chunk_tokens=folder.chunk_tokens,
                created_at=folder.created_at, updated_at=folder.updated_at,
            ))
        return folder

    async def get_folder(self, folder_id: str, owner: str | None = None) -> Folder:
        q = select(FolderRow).where(FolderRow.id == folder_id)
        if owner is not None:
            q = q.where(FolderRow.owner == owner)
        async with self.sessions() as s:
            row = await s.scalar(q)
        if row is None:
            raise NotFoundError(f"no folder {folder_id!r}")
        return _folder(row)

    async def list_folders(self, owner: str, name: str | None = None) -> list[Folder]:
        q = select(FolderRow).where(FolderRow.owner == owner)
        if name is not None:
            q = q.where(FolderRow.name == name)
        async with self.sessions() as s:
            return [_folder(r) for r in await s.scalars(q.order_by(FolderRow.pk))]

    async def update_folder(self, folder: Folder) -> Folder:
        async with self.sessions() as s, s.begin():
            clash = await s.scalar(select(FolderRow.pk).where(
                FolderRow.owner == folder.owner, FolderRow.name == folder.name, FolderRow.id != folder.id))
            if clash:
                raise AlreadyExistsError(f"a folder named {folder.name!r} already exists")
            folder.updated_at = utcnow()
            await s.execute(update(FolderRow).where(FolderRow.id == folder.id).values(
                name=folder.name, description=folder.description, instructions=folder.instructions,
                metadata_json=json.dumps(folder.metadata), updated_at=folder.updated_at))
            await s.execute(_touch(await self._agents_of(s, folder.id)))
        return folder

    async def delete_folder(self, folder_id: str) -> list[str]:
        """Delete a folder with its files and chunks; the agents that had it."""
        async with self.sessions() as s, s.begin():
            agents = await self._agents_of(s, folder_id)
            await s.execute(delete(AgentFileRow).where(AgentFileRow.folder_id == folder_id))
            await s.execute(delete(AgentFolderRow).where(AgentFolderRow.folder_id == folder_id))
            await s.execute(delete(FileChunkRow).where(FileChunkRow.folder_id == folder_id))
            await s.execute(delete(FolderFileRow).where(FolderFileRow.folder_id == folder_id))
            await s.execute(delete(FolderRow).where(FolderRow.id == folder_id))
            await s.execute(_touch(agents))
        await asyncio.to_thread(self.vectors.forget, folder_id)
        return agents

    async def _agents_of(self, s: AsyncSession, folder_id: str) -> list[str]:
        return list(await s.scalars(select(AgentFolderRow.agent_id).where(AgentFolderRow.folder_id == folder_id)))

    # --- files ------------------------------------------------------------------------------
    async def add_file(self, info: FileInfo, worker: str) -> FileInfo:
        async with self.sessions() as s, s.begin():
            s.add(FolderFileRow(
                id=info.id, folder_id=info.folder_id, file_name=info.file_name,
                original_file_name=info.original_file_name, file_type=info.file_type,
                file_size=info.file_size, status=info.status, error_message=info.error_message,
                total_chunks=0, chunks_embedded=0, content=None, worker=worker,
                created_at=info.created_at, updated_at=info.updated_at,
            ))
        return info

    async def get_file(self, file_id: str, *, content: bool = False) -> FileInfo:
        async with self.sessions() as s:
            row = await s.scalar(select(FolderFileRow).where(FolderFileRow.id == file_id))
        if row is None:
            raise NotFoundError(f"no file {file_id!r}")
        return _file(row, content)

    async def list_files(self, folder_id: str, *, content: bool = False) -> list[FileInfo]:
        async with self.sessions() as s:
            rows = await s.scalars(
                select(FolderFileRow).where(FolderFileRow.folder_id == folder_id).order_by(FolderFileRow.pk))
            return [_file(r, content) for r in rows]

    async def files_named(self, folder_id: str, name: str) -> list[FileInfo]:
        async with self.sessions() as s:
            rows = await s.scalars(select(FolderFileRow).where(
                FolderFileRow.folder_id == folder_id, FolderFileRow.file_name == name))
            return [_file(r) for r in rows]

    async def names_like(self, folder_id: str) -> set[str]:
        """Every file name in a folder (to pick a free suffixed name)."""
        async with self.sessions() as s:
            return set(await s.scalars(select(FolderFileRow.file_name).where(FolderFileRow.folder_id == folder_id)))

    async def delete_file(self, file_id: str) -> list[str]:
        """Delete a file and its chunks; the agents that had it."""
        async with self.sessions() as s, s.begin():
            agents = list(await s.scalars(select(AgentFileRow.agent_id).where(AgentFileRow.file_id == file_id)))
            gone = list(await s.execute(delete(FileChunkRow).where(FileChunkRow.file_id == file_id)
                                        .returning(FileChunkRow.pk, FileChunkRow.folder_id, FileChunkRow.embedding_model)))
            await s.execute(delete(AgentFileRow).where(AgentFileRow.file_id == file_id))
            await s.execute(delete(FolderFileRow).where(FolderFileRow.id == file_id))
            await s.execute(_touch(agents))
        self._forget_chunks(gone)
        return agents

    def _forget_chunks(self, gone: Sequence[Any]) -> None:
        for pk, folder_id, model in gone:
            self.vectors.deleted(folder_id, model, [int(pk)])

    async def set_status(self, file_id: str, status: Status, *, error: str | None = None,
                         content: str | None = None, total_chunks: int | None = None) -> None:
        values: dict[str, Any] = {"status": status, "error_message": error, "updated_at": utcnow()}
        if content is not None:
            values["content"] = content
        if total_chunks is not None:
            values["total_chunks"] = total_chunks
        async with self.sessions() as s, s.begin():
            await s.execute(update(FolderFileRow).where(FolderFileRow.id == file_id).values(**values))

    async def add_chunks(self, info: FileInfo, model: str, first_seq: int, chunks: list[ChunkIn]) -> int:
        """Store embedded chunks and count them as embedded; the file's chunks_embedded."""
        rows = [FileChunkRow(id=new_id("chunk"), folder_id=info.folder_id, file_id=info.id, seq=first_seq + i,
                             page=c.page, text=c.text, embedding=np.asarray(c.vector, np.float32).tobytes(),
                             embedding_model=model) for i, c in enumerate(chunks)]
        async with self.sessions() as s, s.begin():
            s.add_all(rows)
            await s.flush()
            await s.execute(update(FolderFileRow).where(FolderFileRow.id == info.id).values(
                chunks_embedded=FolderFileRow.chunks_embedded + len(rows), updated_at=utcnow()))
            done = int(await s.scalar(select(FolderFileRow.chunks_embedded).where(FolderFileRow.id == info.id)) or 0)
        if rows:
            matrix = np.stack([np.asarray(c.vector, np.float32) for c in chunks])
            self.vectors.inserted(info.folder_id, model, [r.pk for r in rows], matrix)
        return done

    async def fail(self, file_id: str, message: str) -> None:
        """Mark a file failed and remove its chunks (nothing half-made stays searchable)."""
        async with self.sessions() as s, s.begin():
            gone = list(await s.execute(delete(FileChunkRow).where(FileChunkRow.file_id == file_id)
                                        .returning(FileChunkRow.pk, FileChunkRow.folder_id, FileChunkRow.embedding_model)))
            await s.execute(update(FolderFileRow).where(FolderFileRow.id == file_id).values(
                status="error", error_message=message, chunks_embedded=0, content=None, updated_at=utcnow()))
        self._forget_chunks(gone)

    async def abandoned(self, is_dead: Callable[[str], bool]) -> list[str]:
        """Files still in progress whose worker process is gone, or that have not moved for
        ``STALE`` (a worker on another host cannot be asked whether it runs)."""
        stale = utcnow() - STALE
        async with self.sessions() as s:
            rows = await s.execute(select(FolderFileRow.id, FolderFileRow.worker, FolderFileRow.updated_at)
                                   .where(FolderFileRow.status.in_(IN_PROGRESS)))
            return [r[0] for r in rows if r[1] is None or is_dead(r[1]) or r[2] < stale]

    # --- agents -----------------------------------------------------------------------------
    async def attach(self, agent_id: str, folder_id: str, open_limit: int, chars: int) -> None:
        """Give an agent a folder and its processed files it lacks; the new files are opened
        (newest first), and the least recently used open files close past ``open_limit``.
        Two attaches racing (two uploads finishing at once) may add the same file: the loser
        tries again and finds it there."""
        for attempt in range(3):
            try:
                await self._attach(agent_id, folder_id, open_limit)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    async def _attach(self, agent_id: str, folder_id: str, open_limit: int) -> None:
        now = utcnow()
        async with self.sessions() as s, s.begin():
            if not await s.scalar(select(AgentFolderRow.agent_id).where(
                    AgentFolderRow.agent_id == agent_id, AgentFolderRow.folder_id == folder_id)):
                s.add(AgentFolderRow(agent_id=agent_id, folder_id=folder_id, created_at=now))
            have = set(await s.scalars(select(AgentFileRow.file_id).where(AgentFileRow.agent_id == agent_id)))
            new = [r for r in await s.scalars(select(FolderFileRow.id).where(
                FolderFileRow.folder_id == folder_id, FolderFileRow.status == "completed").order_by(FolderFileRow.pk))
                if r not in have]
            opened = set(new[-open_limit:]) if open_limit > 0 else set()
            for n, file_id in enumerate(new):
                s.add(AgentFileRow(agent_id=agent_id, file_id=file_id, folder_id=folder_id,
                                   is_open=file_id in opened, start_line=1 if file_id in opened else None,
                                   end_line=None, last_accessed_at=now.replace(microsecond=n % 1_000_000),
                                   created_at=now))
            await s.flush()
            await self._limit(s, agent_id, open_limit, None)
            await s.execute(_touch([agent_id]))

    async def detach(self, agent_id: str, folder_id: str) -> None:
        async with self.sessions() as s, s.begin():
            await s.execute(delete(AgentFileRow).where(
                AgentFileRow.agent_id == agent_id, AgentFileRow.folder_id == folder_id))
            await s.execute(delete(AgentFolderRow).where(
                AgentFolderRow.agent_id == agent_id, AgentFolderRow.folder_id == folder_id))
            await s.execute(_touch([agent_id]))

    async def agent_folders(self, agent_id: str) -> list[Folder]:
        async with self.sessions() as s:
            rows = await s.scalars(select(FolderRow).join(AgentFolderRow, AgentFolderRow.folder_id == FolderRow.id)
                                   .where(AgentFolderRow.agent_id == agent_id).order_by(AgentFolderRow.created_at, FolderRow.pk))
            return [_folder(r) for r in rows]

    async def folder_agents(self, folder_id: str) -> list[str]:
        async with self.sessions() as s:
            return await self._agents_of(s, folder_id)

    async def agent_files(self, agent_id: str) -> list[AgentFile]:
        q = (select(AgentFileRow, FolderFileRow.file_name, FolderRow.name)
             .join(FolderFileRow, FolderFileRow.id == AgentFileRow.file_id)
             .join(FolderRow, FolderRow.id == AgentFileRow.folder_id)
             .where(AgentFileRow.agent_id == agent_id).order_by(FolderRow.pk, FolderFileRow.pk))
        async with self.sessions() as s:
            return [AgentFile(agent_id=r.agent_id, file_id=r.file_id, folder_id=r.folder_id, folder_name=folder,
                              file_name=name, is_open=r.is_open, start_line=r.start_line, end_line=r.end_line,
                              last_accessed_at=r.last_accessed_at, created_at=r.created_at)
                    for r, name, folder in await s.execute(q)]

    async def set_open(self, agent_id: str, file_id: str, is_open: bool, *,
                       start_line: int | None = None, end_line: int | None = None) -> None:
        values: dict[str, Any] = {"is_open": is_open, "start_line": start_line if is_open else None,
                                  "end_line": end_line if is_open else None}
        if is_open:
            values["last_accessed_at"] = utcnow()
        async with self.sessions() as s, s.begin():
            done = await s.execute(update(AgentFileRow).where(
                AgentFileRow.agent_id == agent_id, AgentFileRow.file_id == file_id).values(**values))
            if not getattr(done, "rowcount", 1):
                raise NotFoundError(f"agent {agent_id!r} has no file {file_id!r}")
            await s.execute(_touch([agent_id]))

    async def enforce_open_limit(self, agent_id: str, max_open: int, keep: str | None = None) -> None:
        async with self.sessions() as s, s.begin():
            await self._limit(s, agent_id, max_open, keep)

    async def _limit(self, s: AsyncSession, agent_id: str, max_open: int, keep: str | None) -> None:
        """Close the least recently used open files past max_open (never ``keep``)."""
        rows = list(await s.scalars(select(AgentFileRow).where(
            AgentFileRow.agent_id == agent_id, AgentFileRow.is_open.is_(True))
            .order_by(AgentFileRow.last_accessed_at.desc())))
        kept = [r for r in rows if r.file_id == keep] + [r for r in rows if r.file_id != keep]
        for r in kept[max(0, max_open):]:
            r.is_open, r.start_line, r.end_line = False, None, None

    async def contents(self, file_ids: list[str]) -> dict[str, str]:
        if not file_ids:
            return {}
        async with self.sessions() as s:
            rows = await s.execute(select(FolderFileRow.id, FolderFileRow.content).where(FolderFileRow.id.in_(file_ids)))
            return {r[0]: r[1] or "" for r in rows}

    # --- search -----------------------------------------------------------------------------
    async def nearest(self, folder_ids: list[str], model: str, vector: np.ndarray[Any, Any],
                      k: int) -> list[tuple[str, float]]:
        hits: list[tuple[str, float]] = []
        for folder_id in folder_ids:
            hits.extend(await self.vectors.nearest(folder_id, model, np.asarray(vector, np.float32), k))
        return sorted(hits, key=lambda h: -h[1])[:k]

    async def lexical(self, folder_ids: list[str], query: str, k: int) -> list[tuple[str, float, bool]]:
        if not folder_ids:
            return []
        names = {f"f{i}": f for i, f in enumerate(folder_ids)}
        where = f"c.folder_id IN ({', '.join(':' + n for n in names)})"
        return await self._words.ranked(self.reader, query, [where], names, k)

    async def chunks(self, ids: list[str]) -> list[ChunkHit]:
        if not ids:
            return []
        q = (select(FileChunkRow.id, FileChunkRow.file_id, FolderFileRow.file_name, FolderRow.name,
                    FileChunkRow.text, FileChunkRow.page)
             .join(FolderFileRow, FolderFileRow.id == FileChunkRow.file_id)
             .join(FolderRow, FolderRow.id == FileChunkRow.folder_id).where(FileChunkRow.id.in_(ids)))
        async with self.sessions() as s:
            found = {r[0]: r for r in await s.execute(q)}
        order = {cid: n for n, cid in enumerate(ids)}
        return [ChunkHit(file_id=r[1], file_name=r[2], folder_name=r[3], text=r[4], page=r[5],
                         score=float(len(ids) - order[cid]))
                for cid, r in sorted(found.items(), key=lambda kv: order[kv[0]])]

    async def chunk_count(self, file_id: str) -> int:
        """Chunks stored for a file."""
        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(FileChunkRow)
                                      .where(FileChunkRow.file_id == file_id)) or 0)
