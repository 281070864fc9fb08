"""Archives in SQL: ``archives`` rows (an owner's) and ``agent_archives`` links to agents.

An archive's passages are ``passages`` rows carrying its id (`SqlArchivalStore` reads and
writes them); they and the links cascade when the archive is deleted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from memgpt.core.errors import NotFoundError
from memgpt.core.schemas import utcnow
from memgpt.memory.archives import Archive
from memgpt.storage.sql_common import Sessions
from memgpt.storage.tables import AgentArchiveRow, AgentRow, ArchiveRow, PassageRow

_EDITABLE = ("name", "description")


def _archive(row: ArchiveRow) -> Archive:
    return Archive(
        id=row.id, owner=row.owner, name=row.name, description=row.description,
        embedding_model=row.embedding_model, metadata=json.loads(row.meta or "{}"),
        created_at=row.created_at, updated_at=row.updated_at,
    )


class SqlArchiveStore:
    """Archives and their attachments to agents, over SQL."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    @staticmethod
    async def _row(s: AsyncSession, owner: str, archive_id: str) -> ArchiveRow:
        row = await s.scalar(select(ArchiveRow).where(ArchiveRow.id == archive_id, ArchiveRow.owner == owner))
        if row is None:  # another user's archive is as absent as one never made
            raise NotFoundError(f"no archive {archive_id!r}")
        return row

    async def create(self, archive: Archive) -> Archive:
        """Store a new archive."""
        async with self.sessions() as s, s.begin():
            s.add(ArchiveRow(
                id=archive.id, owner=archive.owner, name=archive.name, description=archive.description,
                embedding_model=archive.embedding_model, meta=json.dumps(archive.metadata),
                created_at=archive.created_at, updated_at=archive.updated_at,
            ))
        return archive

    async def get(self, owner: str, archive_id: str) -> Archive:
        """One of owner's archives by id; NotFoundError if absent (or another's)."""
        async with self.sessions() as s:
            return _archive(await self._row(s, owner, archive_id))

    async def all(
        self, owner: str, *, name: str | None = None, agent_id: str | None = None,
    ) -> list[Archive]:
        """Owner's archives, oldest first: by exact name, or attached to an agent."""
        query = select(ArchiveRow).where(ArchiveRow.owner == owner)
        if name is not None:
            query = query.where(ArchiveRow.name == name)
        if agent_id is not None:
            query = query.join(AgentArchiveRow, AgentArchiveRow.archive_id == ArchiveRow.id).where(
                AgentArchiveRow.agent_id == agent_id)
        async with self.sessions() as s:
            rows = await s.scalars(query.order_by(ArchiveRow.created_at, ArchiveRow.pk))
            return [_archive(r) for r in rows]

    async def update(self, owner: str, archive_id: str, changes: dict[str, Any]) -> Archive:
        """Change an archive's name or description."""
        async with self.sessions() as s, s.begin():
            row = await self._row(s, owner, archive_id)
            for field in _EDITABLE:
                if changes.get(field) is not None:
                    setattr(row, field, changes[field])
            row.updated_at = utcnow()
            return _archive(row)

    async def delete(self, owner: str, archive_id: str) -> list[str]:
        """Delete an archive and its passages, detached everywhere; the agents it was attached to."""
        async with self.sessions() as s, s.begin():
            await self._row(s, owner, archive_id)
            agents = list(await s.scalars(
                select(AgentArchiveRow.agent_id).where(AgentArchiveRow.archive_id == archive_id)))
            await s.execute(delete(AgentArchiveRow).where(AgentArchiveRow.archive_id == archive_id))
            await s.execute(delete(PassageRow).where(PassageRow.archive_id == archive_id))
            await s.execute(delete(ArchiveRow).where(ArchiveRow.id == archive_id))
        return agents

    async def attach(self, owner: str, agent_id: str, archive_id: str) -> None:
        """Attach one of owner's archives to an agent of owner's (a no-op if attached)."""
        try:
            async with self.sessions() as s, s.begin():
                await self._row(s, owner, archive_id)
                agent = await s.scalar(select(AgentRow.id).where(AgentRow.id == agent_id, AgentRow.owner == owner))
                if agent is None:
                    raise NotFoundError(f"no agent {agent_id!r}")
                linked = await s.scalar(select(AgentArchiveRow.agent_id).where(
                    AgentArchiveRow.agent_id == agent_id, AgentArchiveRow.archive_id == archive_id))
                if linked is None:
                    s.add(AgentArchiveRow(agent_id=agent_id, archive_id=archive_id, attached_at=utcnow()))
        except IntegrityError:  # attached meanwhile by a concurrent request: the same outcome
            pass

    async def detach(self, owner: str, agent_id: str, archive_id: str) -> None:
        """Detach an archive from an agent (a no-op if it was not attached)."""
        async with self.sessions() as s, s.begin():
            await self._row(s, owner, archive_id)
            await s.execute(delete(AgentArchiveRow).where(
                AgentArchiveRow.agent_id == agent_id, AgentArchiveRow.archive_id == archive_id))

    async def agents_of(self, owner: str, archive_id: str) -> list[str]:
        """The ids of the agents an archive is attached to, in attachment order."""
        async with self.sessions() as s:
            await self._row(s, owner, archive_id)
            rows = await s.scalars(
                select(AgentArchiveRow.agent_id).where(AgentArchiveRow.archive_id == archive_id)
                .order_by(AgentArchiveRow.attached_at, AgentArchiveRow.agent_id))
            return list(rows)

    async def counts(self, archive_ids: Sequence[str]) -> dict[str, int]:
        """How many passages each archive holds."""
        out = {a: 0 for a in archive_ids}
        if not out:
            return out
        async with self.sessions() as s:
            rows = await s.execute(
                select(PassageRow.archive_id, func.count()).where(PassageRow.archive_id.in_(list(out)))
                .group_by(PassageRow.archive_id))
            out.update({str(a): int(n) for a, n in rows})
        return out
