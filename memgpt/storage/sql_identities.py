"""Identities, agent tags and recall read across an owner's agents, in SQL.

``identities`` rows are an owner's (``identifier_key`` unique per owner); ``agent_identities``
links them to agents and ``agent_tags`` holds each agent's tags; both cascade with the agent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Select, and_, delete, or_, select
from sqlalchemy.exc import IntegrityError

from memgpt.core.errors import AlreadyExistsError, NotFoundError
from memgpt.core.schemas import Message, Part, Role, utcnow
from memgpt.memory.stores import Identity, IdentityProperty
from memgpt.storage.sql_common import Sessions
from memgpt.storage.tables import (
    AgentIdentityRow, AgentRow, AgentTagRow, IdentityRow, MessageRow,
)

_PROPERTIES = TypeAdapter(list[IdentityProperty])
_PARTS = TypeAdapter(list[Part])
_EDITABLE = ("identifier_key", "name", "identity_type")


def _identity(row: IdentityRow, agent_ids: list[str]) -> Identity:
    return Identity(
        id=row.id, owner=row.owner, identifier_key=row.identifier_key, name=row.name,
        identity_type=row.identity_type,
        properties=_PROPERTIES.validate_json(row.properties), agent_ids=agent_ids,
        created_at=row.created_at, updated_at=row.updated_at,
    )


def _message(row: MessageRow) -> Message:
    return Message(id=row.id, agent_id=row.agent_id, seq=row.seq, role=Role(row.role),
                   parts=_PARTS.validate_json(row.parts), created_at=row.created_at, step_id=row.step_id)


def _dump(properties: Sequence[IdentityProperty]) -> str:
    return json.dumps([p.model_dump() for p in properties])


class SqlIdentityStore:
    """Identities, agent tags and the owner-wide message list over SQL."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def _agents_of(self, s: Any, identity_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {i: [] for i in identity_ids}
        rows = await s.execute(
            select(AgentIdentityRow.identity_id, AgentIdentityRow.agent_id)
            .join(AgentRow, AgentRow.id == AgentIdentityRow.agent_id)
            .where(AgentIdentityRow.identity_id.in_(list(identity_ids)))
            .order_by(AgentRow.created_at, AgentRow.id))
        for identity_id, agent_id in rows:
            out[identity_id].append(agent_id)
        return out

    async def _out(self, s: Any, rows: Sequence[IdentityRow]) -> list[Identity]:
        agents = await self._agents_of(s, [r.id for r in rows])
        return [_identity(r, agents[r.id]) for r in rows]

    async def create(self, identity: Identity) -> Identity:
        """Store a new identity; AlreadyExistsError if its owner has one with that key."""
        row = IdentityRow(
            id=identity.id, owner=identity.owner, identifier_key=identity.identifier_key,
            name=identity.name, identity_type=identity.identity_type,
            properties=_dump(identity.properties), created_at=identity.created_at,
            updated_at=identity.updated_at,
        )
        try:
            async with self.sessions() as s, s.begin():
                s.add(row)
        except IntegrityError:
            raise AlreadyExistsError(
                f"an identity with identifier_key {identity.identifier_key!r} already exists") from None
        return identity.model_copy(update={"agent_ids": []})

    async def get(self, owner: str, identity_id: str) -> Identity:
        """One of owner's identities by id; NotFoundError if absent."""
        async with self.sessions() as s:
            return (await self._out(s, [await _owned(s, owner, identity_id)]))[0]

    async def by_key(self, owner: str, identifier_key: str) -> Identity | None:
        """Owner's identity with that identifier key, if any."""
        async with self.sessions() as s:
            row = await s.scalar(select(IdentityRow).where(
                IdentityRow.owner == owner, IdentityRow.identifier_key == identifier_key))
            return None if row is None else (await self._out(s, [row]))[0]

    async def all(
        self, owner: str, *, name: str | None = None, identifier_key: str | None = None,
        identity_type: str | None = None,
    ) -> list[Identity]:
        """Owner's identities, oldest first; ``name`` matches a substring (any case)."""
        q: Select[IdentityRow] = select(IdentityRow).where(IdentityRow.owner == owner)
        if name:
            q = q.where(IdentityRow.name.ilike(f"%{_escape(name)}%", escape="\\"))
        if identifier_key is not None:
            q = q.where(IdentityRow.identifier_key == identifier_key)
        if identity_type is not None:
            q = q.where(IdentityRow.identity_type == identity_type)
        async with self.sessions() as s:
            rows = list(await s.scalars(q.order_by(IdentityRow.pk)))
            return await self._out(s, rows)

    async def update(self, owner: str, identity_id: str, changes: dict[str, Any]) -> Identity:
        """Change an identity's name, key, type or properties (replaced whole)."""
        try:
            async with self.sessions() as s, s.begin():
                row = await _owned(s, owner, identity_id)
                for field in _EDITABLE:
                    if changes.get(field) is not None:
                        setattr(row, field, changes[field])
                if changes.get("properties") is not None:
                    row.properties = _dump(changes["properties"])
                row.updated_at = utcnow()
                await s.flush()
                return (await self._out(s, [row]))[0]
        except IntegrityError:
            raise AlreadyExistsError(
                f"an identity with identifier_key {changes.get('identifier_key')!r} already exists") from None

    async def delete(self, owner: str, identity_id: str) -> None:
        """Delete one of owner's identities (unlinked from every agent)."""
        async with self.sessions() as s, s.begin():
            await _owned(s, owner, identity_id)
            await s.execute(delete(AgentIdentityRow).where(AgentIdentityRow.identity_id == identity_id))
            await s.execute(delete(IdentityRow).where(IdentityRow.id == identity_id))

    async def attach(self, owner: str, agent_id: str, identity_id: str) -> None:
        """Link one of owner's identities to an agent (a no-op if linked)."""
        async with self.sessions() as s, s.begin():
            await _owned(s, owner, identity_id)
            if await s.get(AgentIdentityRow, (agent_id, identity_id)) is None:
                s.add(AgentIdentityRow(agent_id=agent_id, identity_id=identity_id))

    async def detach(self, owner: str, agent_id: str, identity_id: str) -> None:
        """Unlink an identity from an agent; NotFoundError if it was not linked."""
        async with self.sessions() as s, s.begin():
            await _owned(s, owner, identity_id)
            result: Any = await s.execute(delete(AgentIdentityRow).where(
                AgentIdentityRow.agent_id == agent_id, AgentIdentityRow.identity_id == identity_id))
            if result.rowcount == 0:
                raise NotFoundError(f"identity {identity_id!r} is not attached to agent {agent_id!r}")

    async def of_agents(self, agent_ids: Sequence[str]) -> dict[str, list[Identity]]:
        """Each agent's identities, oldest first."""
        out: dict[str, list[Identity]] = {a: [] for a in agent_ids}
        async with self.sessions() as s:
            rows = (await s.execute(
                select(AgentIdentityRow.agent_id, IdentityRow)
                .join(IdentityRow, IdentityRow.id == AgentIdentityRow.identity_id)
                .where(AgentIdentityRow.agent_id.in_(list(agent_ids))).order_by(IdentityRow.pk))).all()
            agents = await self._agents_of(s, list({r[1].id for r in rows}))
        for agent_id, row in rows:
            out[agent_id].append(_identity(row, agents[row.id]))
        return out

    async def set_tags(self, agent_id: str, tags: Sequence[str]) -> None:
        """Make an agent's tags exactly these (duplicates dropped)."""
        async with self.sessions() as s, s.begin():
            await s.execute(delete(AgentTagRow).where(AgentTagRow.agent_id == agent_id))
            s.add_all([AgentTagRow(agent_id=agent_id, tag=t) for t in dict.fromkeys(tags)])

    async def tags_of(self, agent_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each agent's tags, sorted."""
        out: dict[str, list[str]] = {a: [] for a in agent_ids}
        async with self.sessions() as s:
            rows = await s.execute(select(AgentTagRow.agent_id, AgentTagRow.tag)
                                   .where(AgentTagRow.agent_id.in_(list(agent_ids)))
                                   .order_by(AgentTagRow.tag))
            for agent_id, tag in rows:
                out[agent_id].append(tag)
        return out

    async def owner_tags(self, owner: str) -> list[str]:
        """The distinct tags of owner's agents, sorted."""
        async with self.sessions() as s:
            return list(await s.scalars(
                select(AgentTagRow.tag).join(AgentRow, AgentRow.id == AgentTagRow.agent_id)
                .where(AgentRow.owner == owner).distinct().order_by(AgentTagRow.tag)))

    async def owner_messages(
        self, owner: str, *, limit: int, after: tuple[datetime, int] | None = None,
        before: tuple[datetime, int] | None = None, descending: bool = False,
    ) -> list[Message]:
        """Messages of all owner's agents by (created_at, storage order), within the
        exclusive bounds, the first ``limit`` in the order asked."""
        q = (select(MessageRow).join(AgentRow, AgentRow.id == MessageRow.agent_id)
             .where(AgentRow.owner == owner))
        if after is not None:
            q = q.where(_past(MessageRow.created_at, MessageRow.pk, after))
        if before is not None:
            q = q.where(_past(MessageRow.created_at, MessageRow.pk, before, before=True))
        order = (MessageRow.created_at.desc(), MessageRow.pk.desc()) if descending else (
            MessageRow.created_at, MessageRow.pk)
        async with self.sessions() as s:
            return [_message(r) for r in await s.scalars(q.order_by(*order).limit(limit))]

    async def owner_message(self, owner: str, message_id: str) -> tuple[Message, tuple[datetime, int]]:
        """One message of any of owner's agents and its place in the global order."""
        async with self.sessions() as s:
            row = await s.scalar(select(MessageRow).join(AgentRow, AgentRow.id == MessageRow.agent_id)
                                 .where(MessageRow.id == message_id, AgentRow.owner == owner))
            if row is None:
                raise NotFoundError(f"no message with id {message_id!r}")
            return _message(row), (row.created_at, row.pk)


def _past(created: Any, pk: Any, mark: tuple[datetime, int], before: bool = False) -> Any:
    """(created_at, pk) strictly after mark (or before, with ``before``), spelled out so
    SQLite and PostgreSQL compare the same way."""
    moment, at = mark
    if before:
        return or_(created < moment, and_(created == moment, pk < at))
    return or_(created > moment, and_(created == moment, pk > at))


async def _owned(s: Any, owner: str, identity_id: str) -> IdentityRow:
    row: IdentityRow | None = await s.scalar(
        select(IdentityRow).where(IdentityRow.id == identity_id, IdentityRow.owner == owner))
    if row is None:
        raise NotFoundError(f"no identity with id {identity_id!r}")
    return row


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
