"""What the SQL stores share: the session factory type, word search, vector blobs, dates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from memgpt.storage.reader import Reader

Sessions = async_sessionmaker[AsyncSession]

PkVector = tuple[int, "np.ndarray[Any, Any]"]
"""A row's primary key and its embedding."""


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
        self, reader: Reader, query: str, conditions: list[str], params: dict[str, Any], limit: int
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
        rows = await reader.read(lambda s: list(s.execute(sql, values)))
        return [(r[0], float(r[1]), bool(r[2])) for r in rows]


def write_blobs(s: Session, table: str, model: str, rows: list[PkVector]) -> None:
    """Store embeddings as float32 bytes in ``table.embedding``, by primary key."""
    if rows:
        s.execute(
            text(f"UPDATE {table} SET embedding = :vec, embedding_model = :model WHERE pk = :pk"),
            [{"pk": pk, "vec": v.astype(np.float32).tobytes(), "model": model} for pk, v in rows],
        )


def stored_utc(value: Any) -> datetime:
    """A timestamp column read without type processing, as an aware UTC datetime: SQLite
    hands back its stored text, PostgreSQL a datetime. For hot reads of hundreds of rows,
    where SQLAlchemy's per-row processing (`UTCDateTime`) cost more than the query."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def naive_utc(moment: datetime) -> datetime:
    """A moment as the tables store it: UTC without tzinfo (naive input is taken to be UTC).

    Raw SQL comparing or inserting timestamps binds this form; moments within a day of
    year 1 or 9999 that cannot be converted are clamped to ``datetime.min`` / ``max``.
    """
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(timezone.utc)
        except OverflowError:  # within a day of year 1 or 9999: clamp
            return datetime.min if moment.year == 1 else datetime.max
    return moment.replace(tzinfo=None)
