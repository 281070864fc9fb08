"""Turning free text into full-text queries."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")


def words(query: str) -> list[str]:
    """The lowercase words of a query, in order, duplicates kept."""
    return [w.lower() for w in _WORD.findall(query)]


def fts5_any(query: str) -> str | None:
    """An FTS5 expression matching any word of the query (None if it has no words)."""
    unique = list(dict.fromkeys(words(query)))
    return " OR ".join(f'"{w}"' for w in unique) if unique else None


def fts5_phrase(query: str) -> str | None:
    """An FTS5 expression matching the query's words as one exact phrase."""
    ws = words(query)
    return '"' + " ".join(ws) + '"' if ws else None
