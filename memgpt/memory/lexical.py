"""The words of free text, as memory search sees them."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")


def words(query: str) -> list[str]:
    """The lowercase words of a query, in order, duplicates kept."""
    return [w.lower() for w in _WORD.findall(query)]
