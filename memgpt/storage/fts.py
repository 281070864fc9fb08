"""Full-text query syntax: SQLite FTS5 expressions and PostgreSQL ``to_tsquery`` expressions.

Each builder turns free text into an expression matching any of its words, or its words as
one exact phrase; both return None for text with no words. Words are quoted, so operators
and punctuation in the text are never taken as query syntax.
"""

from __future__ import annotations

import re

_FTS5_WORD = re.compile(r"\w+")
"""Words as memgpt.memory.lexical.words sees them (the same expression, kept in step)."""
_TSV_TOKEN = re.compile(r"[^\W_]+")
"""Tokens as the tsvector columns see them: runs of letters and digits (punctuation and
underscores separate words, as in SQLite's unicode61 tokenizer)."""


def _fts5_words(query: str) -> list[str]:
    return [w.lower() for w in _FTS5_WORD.findall(query)]


def _tsv_tokens(query: str) -> list[str]:
    return [t.lower() for t in _TSV_TOKEN.findall(query)]


def fts5_any(query: str) -> str | None:
    """An FTS5 expression matching any word of the query (None if it has no words)."""
    unique = list(dict.fromkeys(_fts5_words(query)))
    return " OR ".join(f'"{w}"' for w in unique) if unique else None


def fts5_phrase(query: str) -> str | None:
    """An FTS5 expression matching the query's words as one exact phrase."""
    ws = _fts5_words(query)
    return '"' + " ".join(ws) + '"' if ws else None


def tsquery_any(query: str) -> str | None:
    """A to_tsquery('simple', ...) expression matching any word of query (None if no words)."""
    unique = list(dict.fromkeys(_tsv_tokens(query)))
    return " | ".join(f"'{w}'" for w in unique) if unique else None


def tsquery_phrase(query: str) -> str | None:
    """A to_tsquery('simple', ...) expression matching query's words as one exact phrase."""
    words = _tsv_tokens(query)
    return " <-> ".join(f"'{w}'" for w in words) if words else None
