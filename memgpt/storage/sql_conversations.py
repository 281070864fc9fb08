"""Conversations in SQL: the ``conversations`` rows (settings and each thread's loop position)
and reads of one thread's messages (``messages.conversation_id``; NULL is the default thread).

Every write here also bumps the agent's version, so no process reuses a kept copy of the
agent (in any thread) made before it. A step's commit writes a conversation's position with
``commit_thread`` inside the unit's transaction (``memgpt.storage.unit``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from memgpt.core.errors import NotFoundError
from memgpt.core.schemas import Message, utcnow
from memgpt.memory.conversations import ArchiveStatus, Conversation, OrderBy
from memgpt.memory.unit import THREAD_FIELDS, StepWrite
from memgpt.storage.runner import Runner
from memgpt.storage.sql_common import Sessions
from memgpt.storage.sql_recall import SqlRecallStore, _message
from memgpt.storage.tables import (
    CONVERSATIONS,
    ConversationRow,
    MessageRow,
    bump_versions,
)

_FIELDS = tuple(Conversation.model_fields)


def _conversation(row: ConversationRow) -> Conversation:
    return Conversation.model_validate({f: getattr(row, f) for f in _FIELDS})


def _missing(conversation_id: str) -> NotFoundError:
    return NotFoundError(f"no conversation with id {conversation_id!r}")


def commit_thread(s: Session, write: StepWrite) -> None:
    """Stage a step's writes to its conversation's row: the thread's part of the position,
    and when it said something, the time of its last message."""
    values: dict[str, Any] = {"updated_at": utcnow()}
    if write.position is not None:
        values |= {f: getattr(write.position, f) for f in THREAD_FIELDS}
    if write.messages:
        values["last_message_at"] = write.messages[-1].created_at
    c = CONVERSATIONS.c
    done: Any = s.execute(update(CONVERSATIONS).where(
        c.id == write.conversation_id, c.agent_id == write.agent_id, c.deleted_at.is_(None)
    ).values(**values))
    if not done.rowcount:
        raise _missing(str(write.conversation_id))


def _thread(conversation_id: str | None) -> Any:
    c = MessageRow.conversation_id
    return c.is_(None) if conversation_id is None else c == conversation_id


class SqlConversationStore:
    """Conversations of agents; threads' messages read by conversation."""

    def __init__(self, sessions: Sessions, runner: Runner) -> None:
        self.sessions, self.runner = sessions, runner

    async def create(self, conversation: Conversation) -> Conversation:
        """Store a new conversation; its window starts at the agent's next seq."""
        return await self.fork(conversation, [])

    async def fork(self, source: Conversation, copies: list[Message]) -> Conversation:
        """Store a new conversation whose window is ``copies`` (seq given here), at once."""
        def job(s: Session) -> Conversation:
            last = s.scalar(select(func.max(MessageRow.seq)).where(MessageRow.agent_id == source.agent_id))
            first = 0 if last is None else int(last) + 1
            made = source.model_copy(update={"context_start": first})
            s.add(ConversationRow(**made.model_dump()))
            s.flush()
            if copies:
                SqlRecallStore.add(s, source.agent_id, [
                    m.model_copy(update={"agent_id": source.agent_id, "seq": first + n})
                    for n, m in enumerate(copies)
                ], made.id)
            s.execute(bump_versions(source.agent_id))
            return made

        return await self.runner.run(job)

    async def get(self, owner: str, conversation_id: str) -> Conversation:
        """One of owner's conversations (not deleted); NotFoundError if absent."""
        async with self.sessions() as s:
            row = await s.scalar(select(ConversationRow).where(
                ConversationRow.id == conversation_id, ConversationRow.owner == owner,
                ConversationRow.deleted_at.is_(None)))
            if row is None:
                raise _missing(conversation_id)
            return _conversation(row)

    async def all(
        self, owner: str, *, agent_id: str | None = None, archive_status: ArchiveStatus = "unarchived",
        summary_search: str | None = None, order_by: OrderBy = "created_at", descending: bool = True,
        after: str | None = None, limit: int = 50,
    ) -> list[Conversation]:
        """Owner's listed conversations, filtered, ordered, and paged after a cursor id."""
        r = ConversationRow
        q = select(r).where(r.owner == owner, r.deleted_at.is_(None), r.hidden.is_(False))
        if agent_id is not None:
            q = q.where(r.agent_id == agent_id)
        if archive_status != "all":
            q = q.where(r.archived.is_(archive_status == "archived"))
        if summary_search:
            q = q.where(func.lower(r.summary).contains(summary_search.lower(), autoescape=True))
        key: Any = r.pk if order_by == "created_at" else func.coalesce(r.last_message_at, r.created_at)
        q = q.order_by(key.desc(), r.pk.desc()) if descending else q.order_by(key, r.pk)
        async with self.sessions() as s:
            found = [_conversation(row) for row in await s.scalars(q)]
        if after is not None:
            ids = [c.id for c in found]
            if after not in ids:
                raise NotFoundError(f"no conversation {after!r} to page from")
            found = found[ids.index(after) + 1:]
        return found[:limit]

    async def update(self, owner: str, conversation_id: str, changes: dict[str, object]) -> Conversation:
        """Change a conversation's settings or summary (the summary marks its system message
        for recompiling)."""
        def job(s: Session) -> Conversation:
            row = s.scalar(select(ConversationRow).where(
                ConversationRow.id == conversation_id, ConversationRow.owner == owner,
                ConversationRow.deleted_at.is_(None)))
            if row is None:
                raise _missing(conversation_id)
            for name, value in changes.items():
                setattr(row, name, value)
            if "summary" in changes:
                row.memory_dirty = True
            row.updated_at = utcnow()
            s.execute(bump_versions(row.agent_id))
            s.flush()
            return _conversation(row)

        return await self.runner.run(job)

    async def delete(self, owner: str, conversation_id: str) -> None:
        """Delete softly (its messages stay in the agent's recall)."""
        def job(s: Session) -> None:
            row = s.scalar(select(ConversationRow).where(
                ConversationRow.id == conversation_id, ConversationRow.owner == owner,
                ConversationRow.deleted_at.is_(None)))
            if row is None:
                raise _missing(conversation_id)
            row.deleted_at = utcnow()
            s.execute(bump_versions(row.agent_id))

        await self.runner.run(job)

    async def messages(
        self, agent_id: str, conversation_id: str | None, *, limit: int,
        before: int | None = None, after: int | None = None,
    ) -> list[Message]:
        """A thread's messages in seq order; with ``after`` the oldest after it, else the newest."""
        q = select(MessageRow).where(MessageRow.agent_id == agent_id, _thread(conversation_id))
        if before is not None:
            q = q.where(MessageRow.seq < before)
        if after is not None:
            q = q.where(MessageRow.seq > after).order_by(MessageRow.seq)
        else:
            q = q.order_by(MessageRow.seq.desc())
        async with self.sessions() as s:
            rows = list(await s.scalars(q.limit(limit)))
        rows.sort(key=lambda row: row.seq)
        return [_message(row) for row in rows]

    async def message(self, agent_id: str, conversation_id: str | None, message_id: str) -> Message:
        """One message of a thread by id; NotFoundError if absent."""
        async with self.sessions() as s:
            row = await s.scalar(select(MessageRow).where(
                MessageRow.agent_id == agent_id, MessageRow.id == message_id, _thread(conversation_id)))
        if row is None:
            raise NotFoundError(f"conversation has no message {message_id!r}")
        return _message(row)
