"""The words of free text, as memory search sees them."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")

COMMON_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own s same she should so some such t than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves ll re ve d m don didn doesn
isn wasn weren won wouldn couldn shouldn also ever many much one ones get got
""".split())
"""English function words (articles, pronouns, auxiliaries, prepositions, question words).
A question's own wording ("what did she ... when ...") matches almost every turn and drowns
the words that matter; the words of the thing asked about are what full-text search is for."""


def words(query: str) -> list[str]:
    """The lowercase words of a query, in order, duplicates kept."""
    return [w.lower() for w in _WORD.findall(query)]


def content_words(query: str) -> list[str]:
    """The query's words without common function words, duplicates dropped; all of its words
    if nothing else is left (a query of only common words still searches for them)."""
    all_words = list(dict.fromkeys(words(query)))
    kept = [w for w in all_words if w not in COMMON_WORDS]
    return kept or all_words


def content_query(query: str) -> str:
    """The query as full-text search gets it: its content words (`content_words`)."""
    return " ".join(content_words(query))
