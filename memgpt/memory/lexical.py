"""The words of free text, and the times it names, as memory search sees them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

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


_FULL_NAMES = "january february march april may june july august september october november december".split()
MONTHS = {name: n for n, name in enumerate(_FULL_NAMES, 1)}
MONTHS.update({name[:3]: n for name, n in list(MONTHS.items())} | {"sept": 9})
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?(?:,\s*|\s+)(\d{{4}})\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,\s*|\s+)(\d{{4}})\b", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?,?\s+(\d{{4}})\b", re.I)
_YEAR = re.compile(  # after a preposition, maybe a season: "in 2022", "in summer 2021"
    r"\b(?:in|during|of|since|until|before|after|by|from|to)\s+(?:(?:the\s+)?(?:early|late|mid|spring|summer"
    r"|autumn|fall|winter)[\s-]+(?:of\s+)?)?((?:19|20)\d\d)\b", re.I)
_MONTH_ALONE = re.compile(  # full names only: "in Jan's flat" is no January
    rf"\b(?:in|during|of|since|until|before|after|by|last|this|early|late|mid)\s+({'|'.join(_FULL_NAMES)})\b", re.I)
AFTER_FACTOR = 0.5
"""A day after a named time counts this fraction of its distance: things are told after they
happen ("we went camping last week"), rarely before."""


@dataclass(frozen=True)
class Period:
    """A time a query names: the days [start, end), or with ``month`` that month of any year."""

    start: date = date.min
    end: date = date.max
    month: int | None = None

    def distance(self, day: date) -> float:
        """Days from day to the period (0 inside it; days after it count AFTER_FACTOR each)."""
        if self.month is not None:
            years = [y for y in (day.year - 1, day.year, day.year + 1) if 1 < y < 9999]
            return min(_month(y, self.month).distance(day) for y in years)
        if day < self.start:
            return float((self.start - day).days)
        if day >= self.end:
            return AFTER_FACTOR * ((day - self.end).days + 1)
        return 0.0


def _month(year: int, month: int) -> Period:
    return Period(date(year, month, 1), date(year + month // 12, month % 12 + 1, 1))


def named_periods(query: str) -> list[Period]:
    """The times a query names: a day ("on 3 May, 2023", "May 3rd 2023"), a month ("in July
    2023"; "in July": July of any year), a year ("in 2022"; a bare number is no year). Relative
    times ("last week") and anything not a valid date are ignored: a search has no "now" to
    anchor them to."""
    found: list[Period] = []
    taken: list[tuple[int, int]] = []
    patterns = ((_DAY_MONTH_YEAR, (1, 2, 3)), (_MONTH_DAY_YEAR, (2, 1, 3)), (_MONTH_YEAR, (0, 1, 2)),
                (_YEAR, (0, 0, 1)), (_MONTH_ALONE, (0, 1, 0)))
    for pattern, (d, m, y) in patterns:
        for match in pattern.finditer(query):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue  # part of a longer date already read ("May 2023" in "3 May 2023")
            taken.append(match.span())
            month = MONTHS[match[m].lower().rstrip(".")] if m else None
            try:
                if d:
                    day = date(int(match[y]), month or 1, int(match[d]))
                    found.append(Period(day, day + timedelta(days=1)))
                elif y and month:
                    found.append(_month(int(match[y]), month))
                elif y:
                    found.append(Period(date(int(match[y]), 1, 1), date(int(match[y]) + 1, 1, 1)))
                else:
                    found.append(Period(month=month))
            except (ValueError, OverflowError):  # "31 February", year 0, the day after 31 December 9999
                continue
    return found
