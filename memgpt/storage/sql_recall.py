"""Recall memory in SQL: every message, searched by FTS5 words and stored vectors (SQLite)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
from pydantic import TypeAdapter
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from memgpt.core.errors import AlreadyExistsError, NotFoundError
from memgpt.core.schemas import Message, Part, Role
from memgpt.embeddings.base import Vectors
from memgpt.memory.lexical import content_query
from memgpt.memory.stores import Page
from memgpt.storage.fts import fts5_any, fts5_phrase
from memgpt.storage.reader import AsyncReader, Reader
from memgpt.storage.runner import AsyncRunner, Runner
from memgpt.storage.sql_common import PkVector, Sessions, WordMatch, naive_utc, stored_utc, write_blobs
from memgpt.storage.stored_vectors import StoredVectors
from memgpt.storage.tables import MESSAGES, MessageRow, bump_versions
from memgpt.storage.vector_index import VectorIndexConfig

_PARTS = TypeAdapter(list[Part])
_INSERT_MESSAGES = insert(MESSAGES)  # built once: every commit inserts messages

_NEIGHBOUR = (  # the searchable message just before (<, DESC) or after (>, ASC) m in its thread
    "(SELECT {col} FROM messages o WHERE o.agent_id = m.agent_id AND o.seq {op} m.seq"
    " AND o.search_text != '' AND o.conversation_id IS m.conversation_id"
    " ORDER BY o.seq {order} LIMIT 1)"
)
_PREVIOUS_PK = _NEIGHBOUR.format(col="o.pk", op="<", order="DESC")
_WINDOWS = (  # the same text as migration 0017's backfill
    "SELECT m.pk, m.search_text, coalesce({prev} || char(10), '') || m.search_text"
    " || coalesce(char(10) || {next}, '') FROM messages m"
    " WHERE m.pk IN :pks AND m.search_text != ''"
).format(prev=_NEIGHBOUR.format(col="o.search_text", op="<", order="DESC"),
         next=_NEIGHBOUR.format(col="o.search_text", op=">", order="ASC"))
_WINDOW_MATCH = (  # the join reads migration 0018's covering index, not the rows (text, vector)
    # The sort key is a column of its own, ordered by its name: ordered by an expression of
    # two columns (turn + win), SQLite computed both bm25() again for every match (14 -> 8 ms
    # at 10k messages). The turn's own score is total - win.
    "SELECT m.id, -bm25(messages_window_fts, 1.0, 0.0) - bm25(messages_window_fts, 0.0, 1.0) AS total,"
    " -bm25(messages_window_fts, 0.0, 1.0) AS win,"
    " (m.pk IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :phrase)) AS exact,"
    " m.seq, m.created_at"
    " FROM messages_window_fts w JOIN messages m INDEXED BY ix_messages_window_join ON m.pk = w.rowid"
    " WHERE messages_window_fts MATCH :q AND {where}"
    " ORDER BY exact DESC, total DESC, m.seq DESC LIMIT :limit"
)


_PREVIOUS_OF = text(f"SELECT {_PREVIOUS_PK} FROM messages m WHERE m.pk IN :pks").bindparams(
    bindparam("pks", expanding=True))
_DROP_WINDOWS = text("DELETE FROM messages_window_fts WHERE rowid IN :pks").bindparams(
    bindparam("pks", expanding=True))
_ADD_WINDOWS = text(f"INSERT INTO messages_window_fts(rowid, turn, window) {_WINDOWS}").bindparams(
    bindparam("pks", expanding=True))
_UNEMBEDDED = text(  # each agent's oldest messages waiting for an embedding (ix_messages_agent_model)
    "SELECT agent_id, id, search_text FROM (SELECT agent_id, id, search_text, pk,"
    " row_number() OVER (PARTITION BY agent_id ORDER BY pk) AS n FROM messages"
    " WHERE agent_id IN :agents AND embedding_model IS NULL) AS waiting WHERE n <= :n ORDER BY pk"
).bindparams(bindparam("agents", expanding=True))
_PKS = text("SELECT pk, id, agent_id FROM messages WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True))


def index_windows(s: Session, pks: list[int]) -> None:
    """(Re)index the 3-turn windows of messages (by pk) and of their predecessors, whose
    window a new message changes: delete and insert, so any pk may be indexed again."""
    if not pks:
        return
    before = s.execute(_PREVIOUS_OF, {"pks": [int(pk) for pk in pks]})
    targets = sorted({*(int(pk) for pk in pks), *(int(r[0]) for r in before if r[0] is not None)})
    s.execute(_DROP_WINDOWS, {"pks": targets})
    s.execute(_ADD_WINDOWS, {"pks": targets})


def _message(row: Any) -> Message:
    return Message(
        id=row.id,
        agent_id=row.agent_id,
        seq=row.seq,
        role=Role(row.role),
        parts=_PARTS.validate_json(row.parts),
        created_at=row.created_at,
        step_id=row.step_id,
    )


class SqlRecallStore:
    """Recall memory in SQL: FTS5 for words, float32 blobs and vector indexes for meaning.

    Messages are embedded after they are stored (`unembedded` / `set_embeddings`, driven by
    memgpt.memory.recall); ``embedding_model`` is NULL until then, and "" for messages with
    no searchable text.
    """

    def __init__(
        self, sessions: Sessions, vector_index: VectorIndexConfig | None = None,
        runner: Runner | None = None, reader: Reader | None = None,
    ) -> None:
        self.sessions = sessions
        self.runner = runner or AsyncRunner(sessions)
        """Runs this store's frequent writes (embeddings); the SQLite writer thread if given."""
        self.reader = reader or AsyncReader(sessions)
        """Runs the reads of a search; the SQLite reader threads if given."""
        self.vectors = StoredVectors(sessions, MessageRow, vector_index, prefix="recall-", reader=self.reader)

    _words = WordMatch(
        any=lambda query: fts5_any(content_query(query)),
        phrase=fts5_phrase,
        alias="m",
        source="messages_fts f JOIN messages m ON m.pk = f.rowid",
        where="messages_fts MATCH :q",
        score="-bm25(messages_fts)",
        exact="(m.pk IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :phrase))",
        tiebreak="m.seq DESC",
    )

    windowed: ClassVar[bool] = True
    """Whether ``messages_window_fts`` (migration 0017, SQLite) holds stemmed 3-turn windows."""

    async def forget_agent(self, agent_id: str) -> None:
        """Drop a deleted agent's vector indexes (in memory and on disk)."""
        await asyncio.to_thread(self.vectors.forget, agent_id)

    async def append(self, agent_id: str, messages: list[Message]) -> list[Message]:
        """Append messages, assigning consecutive seq numbers."""
        async with self.sessions() as s, s.begin():
            last = await s.scalar(select(func.max(MessageRow.seq)).where(MessageRow.agent_id == agent_id))
            first = 0 if last is None else last + 1
            out = [m.model_copy(update={"agent_id": agent_id, "seq": first + i})
                   for i, m in enumerate(messages)]
            await s.run_sync(self.add, agent_id, out)
            await s.execute(bump_versions(agent_id))
            return out

    @staticmethod
    def add(s: Session, agent_id: str, messages: list[Message], conversation_id: str | None = None) -> None:
        """Stage messages that already have their seq in an open (sync) session (in a
        conversation's thread, or with None the agent's default one)."""
        rows = []
        for m in messages:  # Core insert, one executemany: the ORM's unit of work costs more here
            search_text = m.search_text().replace("\x00", " ")
            rows.append({
                "id": m.id, "agent_id": agent_id, "seq": m.seq, "role": m.role.value,
                "parts": _PARTS.dump_json(m.parts).decode(), "search_text": search_text,
                "embedding_model": None if search_text.strip() else "", "step_id": m.step_id,
                "created_at": m.created_at, "conversation_id": conversation_id,
            })
        try:
            s.execute(_INSERT_MESSAGES, rows)
        except IntegrityError as exc:
            raise AlreadyExistsError(f"message id or seq already stored: {exc.orig}") from exc

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

    async def thread_since(self, agent_id: str, conversation_id: str | None, seq: int) -> list[Message]:
        """One thread's messages with seq >= seq, in order (None: the agent's default thread)."""
        c = MessageRow.conversation_id
        async with self.sessions() as s:
            rows = await s.scalars(
                select(MessageRow)
                .where(MessageRow.agent_id == agent_id, MessageRow.seq >= seq,
                       c.is_(None) if conversation_id is None else c == conversation_id)
                .order_by(MessageRow.seq)
            )
            return [_message(r) for r in rows]

    async def next_seq(self, agent_id: str) -> int:
        """The seq the agent's next message gets (every thread shares the agent's seq)."""
        async with self.sessions() as s:
            last = await s.scalar(select(func.max(MessageRow.seq)).where(MessageRow.agent_id == agent_id))
        return 0 if last is None else int(last) + 1

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
            params["start"] = naive_utc(start)
        if end is not None:
            where.append("m.created_at < :end")
            params["end"] = naive_utc(end)

    async def by_date(
        self, agent_id: str, *, start: datetime | None, end: datetime | None, limit: int, offset: int
    ) -> Page[Message]:
        """Searchable messages within [start, end), oldest first, and how many there are."""
        where = ["m.agent_id = :agent", "m.search_text != ''"]
        params: dict[str, Any] = {"agent": agent_id, "limit": limit, "offset": offset}
        self._dates(where, params, start, end)
        base = f"FROM messages m WHERE {' AND '.join(where)}"

        def job(s: Session) -> tuple[int, list[str]]:
            total = int(s.execute(text(f"SELECT count(*) {base}"), params).scalar_one())
            ids = s.execute(text(f"SELECT m.id {base} ORDER BY m.seq LIMIT :limit OFFSET :offset"), params)
            return total, [r[0] for r in ids]
        total, ids = await self.reader.read(job)
        return Page(await self.get_many(agent_id, ids), total)

    async def lexical(
        self, agent_id: str, query: str, *, start: datetime | None, end: datetime | None, limit: int
    ) -> list[tuple[str, float, bool]]:
        """(id, score, exact phrase) of the best word matches within the dates, best first."""
        where = ["m.agent_id = :agent"]
        params: dict[str, Any] = {"agent": agent_id}
        self._dates(where, params, start, end)
        return await self._words.ranked(self.reader, query, where, params, limit)

    async def lexical_windows(
        self, agent_id: str, query: str, *, start: datetime | None, end: datetime | None, limit: int
    ) -> tuple[list[tuple[str, float, bool]], dict[str, float] | None, dict[str, tuple[int, datetime]] | None]:
        """`lexical`, stemmed, over each message and its 3-turn window: (id, the message's own
        score, exact phrase) best first, each match's window score (None: no windows), and
        each match's `positions` (None: not read).

        A message whose neighbours alone have the words is a match with a turn score of 0.
        """
        if not self.windowed:
            return await self.lexical(agent_id, query, start=start, end=end, limit=limit), None, None
        any_q, phrase = fts5_any(content_query(query)), fts5_phrase(query)
        if any_q is None:
            return [], {}, {}
        where = ["m.agent_id = :agent"]
        params: dict[str, Any] = {"agent": agent_id, "q": any_q, "phrase": phrase, "limit": limit}
        self._dates(where, params, start, end)
        sql = text(_WINDOW_MATCH.format(where=" AND ".join(where)))
        rows = await self.reader.read(lambda s: list(s.execute(sql, params)))
        placed = {r[0]: (int(r[4]), stored_utc(r[5])) for r in rows}
        return [(r[0], float(r[1]) - float(r[2]), bool(r[3])) for r in rows], {r[0]: float(r[2]) for r in rows}, placed

    async def nearest(
        self,
        agent_id: str,
        model: str,
        vector: Vectors,
        k: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[list[tuple[str, float]], dict[str, tuple[int, datetime]]]:
        """Up to k (id, cosine) of the embedded messages most similar to vector, and each hit's
        (seq, created_at) from the same read.

        Without dates through the agent's vector index; with dates by an exact scan of the
        messages in range (a date range holds few enough for that).
        """
        if k <= 0:
            return [], {}
        if start is None and end is None:
            found = await self.vectors.nearest_with(agent_id, model, vector, k, ("seq", "created_at"))
            return [(i, sim) for i, sim, _ in found], {i: (int(c[0]), stored_utc(c[1])) for i, _, c in found}
        where = ["m.agent_id = :agent", "m.embedding_model = :model"]
        params: dict[str, Any] = {"agent": agent_id, "model": model}
        self._dates(where, params, start, end)
        sql = text(f"SELECT m.id, m.embedding, m.seq, m.created_at FROM messages m WHERE {' AND '.join(where)}")
        rows = await self.reader.read(lambda s: list(s.execute(sql, params)))
        if not rows:
            return [], {}
        matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
        sims = matrix @ np.asarray(vector, np.float32).ravel()
        top = np.argsort(-sims, kind="stable")[:k]
        return [(rows[i][0], float(sims[i])) for i in top], {rows[i][0]: (int(rows[i][2]), stored_utc(rows[i][3])) for i in top}

    async def get_many(self, agent_id: str, ids: list[str]) -> list[Message]:
        """The agent's messages by id, in the order given (unknown ids skipped).

        Looked up by id alone (its unique index) and checked for the agent afterwards: with
        the agent in the WHERE clause SQLite scans the agent's index instead, every message
        of the agent (15 ms at 10k messages, on every search). The embedding is not read.
        """
        if not ids:
            return []
        columns = [MessageRow.id, MessageRow.agent_id, MessageRow.seq, MessageRow.role,
                   MessageRow.parts, MessageRow.created_at, MessageRow.step_id]
        found = await self.reader.read(lambda s: list(s.execute(select(*columns).where(MessageRow.id.in_(ids)))))
        rows = {r.id: r for r in found if r.agent_id == agent_id}
        return [_message(rows[i]) for i in ids if i in rows]

    async def positions(self, agent_id: str, ids: list[str]) -> dict[str, tuple[int, datetime]]:
        """(seq, created_at) of the agent's messages by id: what ranking needs to find a search
        candidate's neighbours and session, without loading the messages (by id, as get_many)."""
        if not ids:
            return {}
        query = select(MessageRow.id, MessageRow.agent_id, MessageRow.seq, MessageRow.created_at)
        rows = await self.reader.read(lambda s: list(s.execute(query.where(MessageRow.id.in_(ids)))))
        return {r[0]: (int(r[2]), r[3]) for r in rows if r[1] == agent_id}

    async def unembedded(self, agent_id: str, limit: int) -> list[tuple[str, str]]:
        """(id, search text) of the oldest searchable messages that have no embedding yet."""
        return [(i, t) for _, i, t in await self.unembedded_of([agent_id], limit)]

    async def unembedded_of(self, agent_ids: list[str], limit: int) -> list[tuple[str, str, str]]:
        """(agent id, message id, search text) of each agent's oldest (up to limit) searchable
        messages with no embedding yet, in one query, oldest first."""
        if not agent_ids or limit <= 0:
            return []
        values = {"agents": list(agent_ids), "n": limit}
        rows = await self.reader.read(lambda s: list(s.execute(_UNEMBEDDED, values)))
        return [(r[0], r[1], r[2]) for r in rows]

    async def set_embeddings(
        self, agent_id: str, model: str, ids: list[str], vectors: Vectors
    ) -> None:
        """Store the embeddings of messages (under model), replacing any they had."""
        await self.set_embeddings_of(model, [(agent_id, i) for i in ids], vectors)

    async def set_embeddings_of(self, model: str, messages: list[tuple[str, str]], vectors: Vectors) -> None:
        """Store the embeddings of messages given as (agent id, message id), of any number of
        agents, under model, in one transaction (a message of another agent is skipped)."""
        if not messages:
            return
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(messages), -1)
        ids = [i for _, i in messages]

        def job(s: Session) -> dict[tuple[str, str], int]:
            found = {(r[2], r[1]): int(r[0]) for r in s.execute(_PKS, {"ids": ids})}
            self._write_embeddings(s, model, [(found[m], v) for m, v in zip(messages, matrix) if m in found])
            return found

        pks = await self.runner.run(job)
        for agent_id in dict.fromkeys(a for a, _ in messages):
            keep = [n for n, m in enumerate(messages) if m[0] == agent_id and m in pks]
            self.vectors.inserted(agent_id, model, [pks[messages[n]] for n in keep], matrix[keep])

    def _write_embeddings(self, s: Session, model: str, rows: list[PkVector]) -> None:
        """The vectors, and the windows of the messages just embedded: a turn's window is
        indexed here, after the turn, in the background pass that embeds it."""
        write_blobs(s, "messages", model, rows)
        index_windows(s, [pk for pk, _ in rows])

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
