"""Questions that name a time ("in July 2023", "on 3 May, 2023"): what is read from the query,
how close each candidate's day is, and a search that finds the turn of the named time."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone

import pytest

from memgpt import AgentService, Message
from memgpt.memory import hybrid
from memgpt.memory.lexical import Period, named_periods


def day(y: int, m: int, d: int) -> Period:
    return Period(date(y, m, d), date.fromordinal(date(y, m, d).toordinal() + 1))


@pytest.mark.parametrize(("query", "expected"), [
    ("What did Gina find on 1 February, 2023?", [day(2023, 2, 1)]),
    ("What painting did she show on October 13, 2023?", [day(2023, 10, 13)]),
    ("what happened on the 3rd of may 2023", [day(2023, 5, 3)]),
    ("What setback did she face in October 2023?", [Period(date(2023, 10, 1), date(2023, 11, 1))]),
    ("Which trip in Dec 2023?", [Period(date(2023, 12, 1), date(2024, 1, 1))]),
    ("How many times at the beach in 2022?", [Period(date(2022, 1, 1), date(2023, 1, 1))]),
    ("When did they go camping in June?", [Period(month=6)]),
    ("May I ask what she said?", []),  # "May" the verb, not a month: no preposition before it
    ("Who cooked dinner in Jan's flat?", []),  # a month alone is named in full
    ("What did she do last weekend?", []),  # relative: a search has no "now" to anchor it
    ("Anything on 31 February, 2023?", []),  # not a date: ignored whole
    ("from March 2023 to 2024", [Period(date(2023, 3, 1), date(2023, 4, 1)),
                                 Period(date(2024, 1, 1), date(2025, 1, 1))]),
    ("Which state in summer 2021?", [Period(date(2021, 1, 1), date(2022, 1, 1))]),
    ("the picture shared on December 1,2023", [day(2023, 12, 1)]),
    ("I paid 2000 dollars for it", []),  # a bare number is no year
    ("what happened on 31 December 9999, or in December 9999?", []),  # no day or month after them
])
def test_named_periods(query: str, expected: list[Period]) -> None:
    assert named_periods(query) == expected


def test_distance_counts_days_after_at_half() -> None:
    """0 inside; days before count whole, days after half (things are told after they
    happen); a month of no year is the nearest such month."""
    july = Period(date(2023, 7, 1), date(2023, 8, 1))
    assert july.distance(date(2023, 7, 31)) == 0.0
    assert july.distance(date(2023, 6, 27)) == 4.0
    assert july.distance(date(2023, 8, 4)) == 2.0  # 4 days after, counted half
    june = Period(month=6)
    assert june.distance(date(2021, 6, 15)) == 0.0
    assert june.distance(date(2024, 1, 2)) == 0.5 * 186  # 186 days after June 2023
    assert june.distance(date(2024, 5, 30)) == 2.0  # before June 2024


def test_date_feature_is_the_closeness_to_the_named_time() -> None:
    """exp(-days / 7) from each candidate's day; 0 without a day or without a named time."""
    positions = {"in": hybrid.Position(0, 1, date(2023, 5, 3)), "week_after": hybrid.Position(1, 2, date(2023, 5, 17)),
                 "undated": hybrid.Position(None, 3)}
    lexical = [("in", 1.0, False), ("week_after", 1.0, False), ("undated", 1.0, False)]
    found = hybrid.candidates(lexical, [], positions, periods=named_periods("on 3 May, 2023"))
    column = found.features[:, hybrid.FEATURES.index("date")].tolist()
    assert column == pytest.approx([1.0, math.exp(-7 / hybrid.DATE_SCALE_DAYS), 0.0])
    plain = hybrid.candidates(lexical, [], positions, periods=named_periods("what happened"))
    assert plain.features[:, hybrid.FEATURES.index("date")].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.default_embedder
async def test_a_question_naming_a_month_finds_that_months_turn(service: AgentService) -> None:
    """Three camping trips, told in three sessions: "in July 2023" ranks the one told in July
    first, and without a month none of them is preferred for its date."""
    agent_id = (await service.create_agent("dates", model="scripted")).id
    trips = [("We went camping by the lake, the kids loved it.", datetime(2023, 6, 20, tzinfo=timezone.utc)),
             ("We went camping in the mountains, so cold at night.", datetime(2023, 7, 18, tzinfo=timezone.utc)),
             ("We went camping at the beach with friends.", datetime(2023, 9, 2, tzinfo=timezone.utc))]
    filler = "Work was busy this week, nothing special."
    messages = [Message.user(text).model_copy(update={"created_at": at}) for text, at in trips]
    messages += [Message.user(filler).model_copy(update={"created_at": at}) for _, at in trips]
    await service.stores.recall.append(agent_id, messages)
    page = await service.search_messages(agent_id, "Where did they go camping in July 2023?", limit=3)
    assert "mountains" in page.items[0].text, [m.text for m in page.items]
    page = await service.search_messages(agent_id, "Where did they go camping in September?", limit=3)
    assert "beach" in page.items[0].text, [m.text for m in page.items]
