"""SQLAlchemy implementations of the store protocols (SQLite with FTS5)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from pydantic import TypeAdapter
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from memgpt.embeddings.base import Vectors
from memgpt.errors import AlreadyExistsError, NotFoundError
from memgpt.memory.lexical import fts5_any, fts5_phrase
from memgpt.memory.stores import Page
from memgpt.memory.stored_vectors import StoredVectors
from memgpt.memory.vector_index import VectorIndexConfig
from memgpt.schemas import AgentState, Block, Message, Part, Passage, Role, Step, new_id, utcnow
from memgpt.storage.tables import ApiKeyRow, AgentRow, BlockRow, MessageRow, PassageRow, StepRow

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class WordMatch:
    """How a dialect finds rows of one table by words: query builders and the SQL pieces of
    the search (``alias`` names the table; ``:q`` is any word, ``:phrase`` the exact phrase)."""

    any: Callable[[str], str | None]
    phrase: Callable[[str], str | None]
    alias: str
    source: str
    where: str
    score: str
    exact: str
    tiebreak: str

    async def ranked(
        self, sessions: Sessions, query: str, conditions: list[str], params: dict[str, Any], limit: int
    ) -> list[tuple[str, float, bool]]:
        """(id, score, exact phrase) of the best matches meeting conditions, exact first."""
        any_q, phrase = self.any(query), self.phrase(query)
        if any_q is None:
            return []
        sql = text(
            f"SELECT {self.alias}.id, {self.score} AS score, {self.exact} AS exact"
            f" FROM {self.source} WHERE {' AND '.join([self.where, *conditions])}"
            f" ORDER BY exact DESC, score DESC, {self.tiebreak} LIMIT :limit"
        )
        values = {**params, "q": any_q, "phrase": phrase, "limit": limit}
        async with sessions() as s:
            return [(r[0], float(r[1]), bool(r[2])) for r in await s.execute(sql, values)]

_PARTS = TypeAdapter(list[Part])
_AGENT_FIELDS = [f for f in AgentState.model_fields if f not in ("id", "created_at")]


PkVector = tuple[int, "np.ndarray[Any, Any]"]


async def write_blobs(s: AsyncSession, table: str, model: str, rows: list[PkVector]) -> None:
    """Store embeddings as float32 bytes in ``table.embedding``, by primary key."""
    if rows:
        await s.execute(
            text(f"UPDATE {table} SET embedding = :vec, embedding_model = :model WHERE pk = :pk"),
            [{"pk": pk, "vec": v.astype(np.float32).tobytes(), "model": model} for pk, v in rows],
        )


def _naive_utc(moment: datetime) -> datetime:
    """UTC without tzinfo, as stored; naive input is taken to be UTC already."""
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(timezone.utc)
        except OverflowError:  # within a day of year 1 or 9999: clamp
            return datetime.min if moment.year == 1 else datetime.max
    return moment.replace(tzinfo=None)


def _agent(row: AgentRow) -> AgentState:
    return AgentState.model_validate({f: getattr(row, f) for f in AgentState.model_fields})


def _message(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        agent_id=row.agent_id,
        seq=row.seq,
        role=Role(row.role),
        parts=_PARTS.validate_json(row.parts),
        created_at=row.created_at,
        step_id=row.step_id,
    )


def _passage(row: PassageRow) -> Passage:
    return Passage(
        id=row.id,
        agent_id=row.agent_id,
        text=row.text,
        tags=json.loads(row.tags),
        embedding_model=row.embedding_model,
        created_at=row.created_at,
    )


class SqlAgentStore:
    """Agents in SQL."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def create(self, state: AgentState, blocks: list[Block]) -> None:
        """Persist a new agent with its blocks."""
        async with self.sessions() as s, s.begin():
            taken = select(AgentRow.id).where(AgentRow.name == state.name, AgentRow.owner == state.owner)
            if await s.scalar(taken):
                raise AlreadyExistsError(f"an agent named {state.name!r} already exists")
            s.add(AgentRow(**state.model_dump()))
            await s.flush()
            for pos, b in enumerate(blocks):
                s.add(BlockRow(agent_id=state.id, position=pos, **b.model_dump()))

    async def get(self, id_or_name: str, owner: str | None = None) -> AgentState:
        """Load an agent by id or name (only among owner's agents, if given)."""
        scope = [AgentRow.owner == owner] if owner is not None else []
        async with self.sessions() as s:
            row = await s.scalar(select(AgentRow).where(AgentRow.id == id_or_name, *scope))
            row = row or await s.scalar(
                select(AgentRow).where(AgentRow.name == id_or_name, *scope).limit(1)
            )
            if row is None:
                raise NotFoundError(f"no agent with id or name {id_or_name!r}")
            return _agent(row)

    async def all(self, owner: str | None = None) -> list[AgentState]:
        """All agents (of owner, if given), oldest first."""
        q = select(AgentRow).order_by(AgentRow.created_at)
        if owner is not None:
            q = q.where(AgentRow.owner == owner)
        async with self.sessions() as s:
            return [_agent(r) for r in await s.scalars(q)]

    async def save(self, state: AgentState) -> None:
        """Persist an agent's mutable state."""
        async with self.sessions() as s, s.begin():
            row = await s.get(AgentRow, state.id)
            if row is None:
                raise NotFoundError(f"no agent with id {state.id!r}")
            for field in _AGENT_FIELDS:
                setattr(row, field, getattr(state, field))

    async def delete(self, agent_id: str) -> None:
        """Delete an agent and everything it owns."""
        async with self.sessions() as s, s.begin():
            result: Any = await s.execute(delete(AgentRow).where(AgentRow.id == agent_id))
            if result.rowcount == 0:
                raise NotFoundError(f"no agent with id {agent_id!r}")

    async def save_step(self, agent_id: str, input_id: str, model: str, step: Step) -> None:
        """Record a step's usage."""
        async with self.sessions() as s, s.begin():
            s.add(
                StepRow(
                    id=step.id,
                    agent_id=agent_id,
                    input_id=input_id,
                    index=step.index,
                    model=model,
                    heartbeat=step.heartbeat,
                    stop_reason=step.stop_reason,
                    repairs=json.dumps(step.repairs),
                    created_at=utcnow(),
                    **step.usage.model_dump(),
                )
            )


class SqlKeyStore:
    """API keys, kept as SHA-256 hashes."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def create(self, user_id: str) -> tuple[str, str]:
        """A new key for user_id: (key id, raw key). The raw key is not stored."""
        raw = "mgpt-" + secrets.token_urlsafe(32)
        key_id = new_id("key")
        async with self.sessions() as s, s.begin():
            s.add(ApiKeyRow(id=key_id, user_id=user_id, key_hash=_hash(raw), prefix=raw[:9],
                            created_at=utcnow()))
        return key_id, raw

    async def authenticate(self, raw: str) -> str | None:
        """The user a live key belongs to, or None."""
        async with self.sessions() as s:
            return await s.scalar(select(ApiKeyRow.user_id).where(
                ApiKeyRow.key_hash == _hash(raw), ApiKeyRow.revoked_at.is_(None)))

    async def revoke(self, key_id: str) -> None:
        """Revoke a key by id."""
        async with self.sessions() as s, s.begin():
            row = await s.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFoundError(f"no API key {key_id!r}")
            row.revoked_at = row.revoked_at or utcnow()

    async def all(self) -> list[dict[str, Any]]:
        """Every key's id, user, prefix and dates (never the key)."""
        async with self.sessions() as s:
            rows = await s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))
            return [{"id": r.id, "user": r.user_id, "prefix": r.prefix,
                     "created_at": r.created_at, "revoked_at": r.revoked_at} for r in rows]


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class SqlBlockStore:
    """Core memory blocks in SQL."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def all(self, agent_id: str) -> list[Block]:
        """An agent's blocks in display order."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(BlockRow).where(BlockRow.agent_id == agent_id).order_by(BlockRow.position)
            )
            return [
                Block(
                    label=r.label,
                    value=r.value,
                    limit=r.limit,
                    description=r.description,
                    read_only=r.read_only,
                    updated_at=r.updated_at,
                )
                for r in rows
            ]

    async def save(self, agent_id: str, block: Block) -> None:
        """Insert or update a block by label."""
        async with self.sessions() as s, s.begin():
            row = await s.scalar(
                select(BlockRow).where(BlockRow.agent_id == agent_id, BlockRow.label == block.label)
            )
            if row is None:
                count = await s.scalar(
                    select(func.count()).select_from(BlockRow).where(BlockRow.agent_id == agent_id)
                )
                s.add(BlockRow(agent_id=agent_id, position=count or 0, **block.model_dump()))
                return
            for field, value in block.model_dump().items():
                setattr(row, field, value)

    async def delete(self, agent_id: str, label: str) -> None:
        """Remove a block."""
        async with self.sessions() as s, s.begin():
            result: Any = await s.execute(
                delete(BlockRow).where(BlockRow.agent_id == agent_id, BlockRow.label == label)
            )
            if result.rowcount == 0:
                raise NotFoundError(f"agent {agent_id!r} has no block {label!r}")


class SqlRecallStore:
    """Recall memory in SQL: FTS5 for words, float32 blobs and vector indexes for meaning.

    Messages are embedded after they are stored (`unembedded` / `set_embeddings`, driven by
    memgpt.memory.recall); ``embedding_model`` is NULL until then, and "" for messages with
    no searchable text.
    """

    def __init__(self, sessions: Sessions, vector_index: VectorIndexConfig | None = None) -> None:
        self.sessions = sessions
        self.vectors = StoredVectors(sessions, MessageRow, vector_index, prefix="recall-")

    _words = WordMatch(
        any=fts5_any,
        phrase=fts5_phrase,
        alias="m",
        source="messages_fts f JOIN messages m ON m.pk = f.rowid",
        where="messages_fts MATCH :q",
        score="-bm25(messages_fts)",
        exact="(m.pk IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :phrase))",
        tiebreak="m.seq DESC",
    )

    async def forget_agent(self, agent_id: str) -> None:
        """Drop a deleted agent's vector indexes (in memory and on disk)."""
        await asyncio.to_thread(self.vectors.forget, agent_id)

    async def append(self, agent_id: str, messages: list[Message]) -> list[Message]:
        """Append messages, assigning consecutive seq numbers."""
        async with self.sessions() as s, s.begin():
            last = await s.scalar(select(func.max(MessageRow.seq)).where(MessageRow.agent_id == agent_id))
            seq = -1 if last is None else last
            out = []
            for m in messages:
                seq += 1
                m = m.model_copy(update={"agent_id": agent_id, "seq": seq})
                search_text = m.search_text().replace("\x00", " ")
                s.add(
                    MessageRow(
                        id=m.id,
                        agent_id=agent_id,
                        seq=seq,
                        role=m.role.value,
                        parts=_PARTS.dump_json(m.parts).decode(),
                        search_text=search_text,
                        embedding_model=None if search_text.strip() else "",
                        step_id=m.step_id,
                        created_at=m.created_at,
                    )
                )
                out.append(m)
            try:
                await s.flush()
            except IntegrityError as exc:
                raise AlreadyExistsError(f"message id already stored: {exc.orig}") from exc
            return out

    async def get(self, agent_id: str, message_id: str) -> Message:
        """One of the agent's messages by id."""
        async with self.sessions() as s:
            row = await s.scalar(
                select(MessageRow).where(MessageRow.agent_id == agent_id, MessageRow.id == message_id)
            )
        if row is None:
            raise NotFoundError(f"agent {agent_id!r} has no message {message_id!r}")
        return _message(row)

    async def since(self, agent_id: str, seq: int) -> list[Message]:
        """Messages with seq >= seq, in order."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(MessageRow)
                .where(MessageRow.agent_id == agent_id, MessageRow.seq >= seq)
                .order_by(MessageRow.seq)
            )
            return [_message(r) for r in rows]

    async def window(
        self, agent_id: str, *, limit: int, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """Messages in seq order; with `after` the oldest following it, else the newest."""
        q = select(MessageRow).where(MessageRow.agent_id == agent_id)
        if before is not None:
            q = q.where(MessageRow.seq < before)
        if after is not None:
            q = q.where(MessageRow.seq > after).order_by(MessageRow.seq)
        else:
            q = q.order_by(MessageRow.seq.desc())
        async with self.sessions() as s:
            rows = list(await s.scalars(q.limit(limit)))
        rows.sort(key=lambda r: r.seq)
        return [_message(r) for r in rows]

    async def count(self, agent_id: str, before: int | None = None) -> int:
        """Number of messages (with seq < before, if given)."""
        q = select(func.count()).select_from(MessageRow).where(MessageRow.agent_id == agent_id)
        if before is not None:
            q = q.where(MessageRow.seq < before)
        async with self.sessions() as s:
            return int(await s.scalar(q) or 0)

    def _dates(
        self, where: list[str], params: dict[str, Any], start: datetime | None, end: datetime | None
    ) -> None:
        if start is not None:
            where.append("m.created_at >= :start")
            params["start"] = _naive_utc(start)
        if end is not None:
            where.append("m.created_at < :end")
            params["end"] = _naive_utc(end)

    async def by_date(
        self, agent_id: str, *, start: datetime | None, end: datetime | None, limit: int, offset: int
    ) -> Page[Message]:
        """Searchable messages within [start, end), oldest first, and how many there are."""
        where = ["m.agent_id = :agent", "m.search_text != ''"]
        params: dict[str, Any] = {"agent": agent_id, "limit": limit, "offset": offset}
        self._dates(where, params, start, end)
        base = f"FROM messages m WHERE {' AND '.join(where)}"
        async with self.sessions() as s:
            total = int((await s.execute(text(f"SELECT count(*) {base}"), params)).scalar_one())
            ids = [r[0] for r in await s.execute(
                text(f"SELECT m.id {base} ORDER BY m.seq LIMIT :limit OFFSET :offset"), params
            )]
        return Page(await self.get_many(agent_id, ids), total)

    async def lexical(
        self, agent_id: str, query: str, *, start: datetime | None, end: datetime | None, limit: int
    ) -> list[tuple[str, float, bool]]:
        """(id, score, exact phrase) of the best word matches within the dates, best first."""
        where = ["m.agent_id = :agent"]
        params: dict[str, Any] = {"agent": agent_id}
        self._dates(where, params, start, end)
        return await self._words.ranked(self.sessions, query, where, params, limit)

    async def nearest(
        self,
        agent_id: str,
        model: str,
        vector: Vectors,
        k: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[tuple[str, float]]:
        """Up to k (id, cosine) of the embedded messages most similar to vector.

        Without dates through the agent's vector index; with dates by an exact scan of the
        messages in range (a date range holds few enough for that).
        """
        if k <= 0:
            return []
        if start is None and end is None:
            return await self.vectors.nearest(agent_id, model, vector, k)
        where = ["m.agent_id = :agent", "m.embedding_model = :model"]
        params: dict[str, Any] = {"agent": agent_id, "model": model}
        self._dates(where, params, start, end)
        sql = text(f"SELECT m.id, m.embedding FROM messages m WHERE {' AND '.join(where)}")
        async with self.sessions() as s:
            rows = list(await s.execute(sql, params))
        if not rows:
            return []
        matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
        sims = matrix @ np.asarray(vector, np.float32).ravel()
        top = np.argsort(-sims, kind="stable")[:k]
        return [(rows[i][0], float(sims[i])) for i in top]

    async def get_many(self, agent_id: str, ids: list[str]) -> list[Message]:
        """The agent's messages by id, in the order given (unknown ids skipped)."""
        if not ids:
            return []
        async with self.sessions() as s:
            rows = {r.id: r for r in await s.scalars(
                select(MessageRow).where(MessageRow.agent_id == agent_id, MessageRow.id.in_(ids))
            )}
        return [_message(rows[i]) for i in ids if i in rows]

    async def unembedded(self, agent_id: str, limit: int) -> list[tuple[str, str]]:
        """(id, search text) of the oldest searchable messages that have no embedding yet."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(MessageRow.id, MessageRow.search_text)
                .where(MessageRow.agent_id == agent_id, MessageRow.embedding_model.is_(None))
                .order_by(MessageRow.pk)
                .limit(limit)
            )
            return [(r[0], r[1]) for r in rows]

    async def set_embeddings(
        self, agent_id: str, model: str, ids: list[str], vectors: Vectors
    ) -> None:
        """Store the embeddings of messages (under model), replacing any they had."""
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        async with self.sessions() as s, s.begin():
            pks = dict(
                (r[1], r[0]) for r in await s.execute(
                    select(MessageRow.pk, MessageRow.id)
                    .where(MessageRow.agent_id == agent_id, MessageRow.id.in_(ids))
                )
            )
            await self._write_embeddings(s, model, [(pks[i], v) for i, v in zip(ids, matrix) if i in pks])
        keep = [n for n, i in enumerate(ids) if i in pks]
        self.vectors.inserted(agent_id, model, [pks[ids[n]] for n in keep], matrix[keep])

    async def _write_embeddings(self, s: AsyncSession, model: str, rows: list[PkVector]) -> None:
        await write_blobs(s, "messages", model, rows)

    async def forget_embeddings(self, agent_id: str, keep_model: str) -> int:
        """Mark the agent's messages embedded under another model as not embedded yet."""
        async with self.sessions() as s, s.begin():
            result: Any = await s.execute(
                update(MessageRow)
                .where(
                    MessageRow.agent_id == agent_id,
                    MessageRow.embedding_model.is_not(None),
                    MessageRow.embedding_model != "",
                    MessageRow.embedding_model != keep_model,
                )
                .values(embedding=None, embedding_model=None)
            )
            return int(result.rowcount or 0)


class SqlArchivalStore:
    """Archival memory in SQL: FTS5 for words, float32 blobs for vectors.

    Similarity search goes through in-memory vector indexes (exact below a size threshold,
    HNSW above it, saved under `<sqlite dir>/vectors`); see memgpt.memory.vector_index.
    """

    def __init__(self, sessions: Sessions, vector_index: VectorIndexConfig | None = None) -> None:
        self.sessions = sessions
        self.vectors = StoredVectors(sessions, PassageRow, vector_index)

    _words = WordMatch(
        any=fts5_any,
        phrase=fts5_phrase,
        alias="p",
        source="passages_fts f JOIN passages p ON p.pk = f.rowid",
        where="passages_fts MATCH :q",
        score="-bm25(passages_fts)",
        exact="(p.pk IN (SELECT rowid FROM passages_fts WHERE passages_fts MATCH :phrase))",
        tiebreak="p.pk",
    )

    async def forget_agent(self, agent_id: str) -> None:
        """Drop a deleted agent's vector indexes (in memory and on disk)."""
        await asyncio.to_thread(self.vectors.forget, agent_id)

    async def insert(self, agent_id: str, passages: list[Passage], vectors: Vectors) -> None:
        """Store passages with their vectors."""
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(passages), -1)
        rows = [
            PassageRow(
                id=p.id,
                agent_id=agent_id,
                text=p.text,
                tags=json.dumps(p.tags),
                embedding=v.tobytes(),
                embedding_model=p.embedding_model,
                created_at=p.created_at,
            )
            for p, v in zip(passages, matrix, strict=True)
        ]
        async with self.sessions() as s, s.begin():
            s.add_all(rows)
            await s.flush()
            pks = [r.pk for r in rows]
        by_model: dict[str, list[int]] = {}
        for i, p in enumerate(passages):
            by_model.setdefault(p.embedding_model, []).append(i)
        for model, at in by_model.items():
            self.vectors.inserted(agent_id, model, [pks[i] for i in at], matrix[at])

    async def page(self, agent_id: str, *, limit: int, offset: int) -> list[Passage]:
        """Passages, newest first."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(PassageRow)
                .where(PassageRow.agent_id == agent_id)
                .order_by(PassageRow.pk.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_passage(r) for r in rows]

    async def count(self, agent_id: str) -> int:
        """Number of passages."""
        async with self.sessions() as s:
            q = select(func.count()).select_from(PassageRow).where(PassageRow.agent_id == agent_id)
            return int(await s.scalar(q) or 0)

    async def delete(self, agent_id: str, passage_id: str) -> None:
        """Delete one passage."""
        async with self.sessions() as s, s.begin():
            gone = list(await s.execute(
                delete(PassageRow)
                .where(PassageRow.agent_id == agent_id, PassageRow.id == passage_id)
                .returning(PassageRow.pk, PassageRow.embedding_model)
            ))
        if not gone:
            raise NotFoundError(f"agent {agent_id!r} has no passage {passage_id!r}")
        for pk, model in gone:
            self.vectors.deleted(agent_id, model, [pk])

    async def lexical(self, agent_id: str, query: str, limit: int) -> list[tuple[str, float, bool]]:
        """(id, score, exact phrase) of the best word matches, best first."""
        return await self._words.ranked(
            self.sessions, query, ["p.agent_id = :agent"], {"agent": agent_id}, limit
        )

    async def set_embeddings(self, agent_id: str, model: str, ids: list[str], vectors: Vectors) -> int:
        """Replace the embeddings of passages (now under model); returns how many were found."""
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        async with self.sessions() as s, s.begin():
            old = {r[1]: (int(r[0]), str(r[2])) for r in await s.execute(
                select(PassageRow.pk, PassageRow.id, PassageRow.embedding_model)
                .where(PassageRow.agent_id == agent_id, PassageRow.id.in_(ids))
            )}
            rows = [(old[i][0], v) for i, v in zip(ids, matrix) if i in old]
            await self._write_embeddings(s, model, rows)
        for pk, previous in old.values():
            self.vectors.deleted(agent_id, previous, [pk])
        keep = [n for n, i in enumerate(ids) if i in old]
        self.vectors.inserted(agent_id, model, [old[ids[n]][0] for n in keep], matrix[keep])
        return len(rows)

    async def _write_embeddings(self, s: AsyncSession, model: str, rows: list[PkVector]) -> None:
        await write_blobs(s, "passages", model, rows)

    async def nearest(
        self, agent_id: str, model: str, vector: Vectors, k: int
    ) -> list[tuple[str, float]]:
        """Up to k passage ids most similar to vector, through the agent's vector index."""
        return await self.vectors.nearest(agent_id, model, vector, k)

    async def get_many(self, ids: list[str]) -> list[Passage]:
        """Passages by id, in the order given."""
        if not ids:
            return []
        async with self.sessions() as s:
            rows = {r.id: r for r in await s.scalars(select(PassageRow).where(PassageRow.id.in_(ids)))}
        return [_passage(rows[i]) for i in ids if i in rows]

    async def embedding_models(self, agent_id: str) -> list[str]:
        """The distinct embedding models an agent's passages use."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(PassageRow.embedding_model).where(PassageRow.agent_id == agent_id).distinct()
            )
            return list(rows)
