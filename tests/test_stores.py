"""The store suite, run against SQLite (FTS5) and a real PostgreSQL with pgvector alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.embeddings.base import Vectors
from memgpt.core.errors import AlreadyExistsError, NotFoundError
from memgpt.memory.blocks import append
from memgpt.memory.stores import Identity, IdentityProperty, Stores
from memgpt.llm.scripted import reply, tool_call
from memgpt.core.schemas import AgentState, Block, Message, Passage, Role, TextPart
from memgpt.storage.db import MIGRATIONS, create_engine, migrate, sessionmaker
from memgpt.storage.factory import storage_for
from memgpt.storage.postgres import PgArchivalStore, PgRecallStore, vector_literal
from memgpt.storage.sql_archival import SqlArchivalStore
from memgpt.storage.sql_identities import SqlIdentityStore
from memgpt.storage.sql_recall import SqlRecallStore
from pg import PostgresServer

BASE = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)
DIM = 384


@dataclass
class Backend:
    """One migrated database and the stores over it."""

    url: str
    stores: Stores


def make_stores(engine: AsyncEngine) -> Stores:
    """The stores for engine's dialect, as the storage factory chooses them."""
    stores = storage_for(engine).stores
    postgres = engine.dialect.name == "postgresql"
    assert type(stores.recall) is (PgRecallStore if postgres else SqlRecallStore)
    assert type(stores.archival) is (PgArchivalStore if postgres else SqlArchivalStore)
    return stores


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """An empty, migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'stores.db'}"
    else:
        url = await request.getfixturevalue("postgres").database()  # migrated once, emptied
    engine = create_engine(url)
    if request.param == "sqlite":
        await migrate(engine)
    yield Backend(url, make_stores(engine))
    await engine.dispose()


async def new_agent(b: Backend, name: str = "a") -> AgentState:
    """Create an agent with one block."""
    state = AgentState(name=name, model="m", instructions="be", context_window=4096)
    await b.stores.agents.create(state, [Block(label="human", value="Bo")])
    return state


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> Vectors:
    """n random L2-normalised float32 vectors."""
    v = rng.standard_normal((n, dim)).astype(np.float32)
    out: Vectors = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


async def add_passages(
    b: Backend, agent_id: str, texts: list[str], vectors: Vectors, model: str = "emb"
) -> list[Passage]:
    """Insert passages with the given vectors."""
    passages = [Passage(agent_id=agent_id, text=t, embedding_model=model) for t in texts]
    await b.stores.archival.insert(agent_id, passages, vectors)
    return passages


# --- agents and blocks ---------------------------------------------------------------------
async def test_agents_crud_and_unique_names(backend: Backend) -> None:
    """Agents are created, found by id or name, saved, listed oldest first and deleted."""
    agents = backend.stores.agents
    first = await new_agent(backend, "first")
    second = await new_agent(backend, "second")
    with pytest.raises(AlreadyExistsError):
        await new_agent(backend, "first")
    assert (await agents.get(first.id)).name == "first"
    assert (await agents.get("second")).id == second.id
    first.summary, first.context_start, first.last_memory_edit = "s", 7, BASE
    await agents.save(first)
    loaded = await agents.get(first.id)
    assert (loaded.summary, loaded.context_start, loaded.last_memory_edit) == ("s", 7, BASE)
    assert loaded.created_at == first.created_at
    assert [a.name for a in await agents.all()] == ["first", "second"]
    await agents.delete(first.id)
    with pytest.raises(NotFoundError):
        await agents.get("first")
    with pytest.raises(NotFoundError):
        await agents.delete(first.id)


async def test_agent_delete_removes_what_it_owns(backend: Backend) -> None:
    """Deleting an agent deletes its blocks, messages and passages."""
    agent = await new_agent(backend)
    await backend.stores.recall.append(agent.id, [Message.user("hello")])
    await add_passages(backend, agent.id, ["kept fact"], unit(np.random.default_rng(0), 1))
    await backend.stores.agents.delete(agent.id)
    assert await backend.stores.blocks.all(agent.id) == []
    assert await backend.stores.recall.count(agent.id) == 0
    assert await backend.stores.archival.count(agent.id) == 0


async def test_blocks_save_list_delete(backend: Backend) -> None:
    """Blocks keep their order, update by label and can be removed."""
    agent = await new_agent(backend)
    blocks = backend.stores.blocks
    await blocks.save(agent.id, Block(label="persona", value="Sam", limit=50, read_only=True))
    await blocks.save(agent.id, Block(label="human", value="Bo likes tea"))
    listed = await blocks.all(agent.id)
    assert [(b.label, b.value) for b in listed] == [("human", "Bo likes tea"), ("persona", "Sam")]
    assert listed[1].read_only and listed[1].limit == 50
    await blocks.delete(agent.id, "human")
    assert [b.label for b in await blocks.all(agent.id)] == ["persona"]
    with pytest.raises(NotFoundError):
        await blocks.delete(agent.id, "human")


async def test_shared_blocks(backend: Backend) -> None:
    """A standalone block attached to two agents: an edit by id bumps both agents' versions
    and marks them for recompiling; a tool's edit made on an old copy is re-applied to the
    stored value; removing detaches it; deleting an agent keeps it."""
    blocks, agents = backend.stores.blocks, backend.stores.agents
    a, b = await new_agent(backend, "a"), await new_agent(backend, "b")
    shared = await blocks.create("local", Block(label="team", value="v0", limit=100))
    for agent in (a, b):
        await blocks.attach("local", agent.id, shared.id)
    with pytest.raises(AlreadyExistsError):
        await blocks.attach("local", a.id, (await blocks.create("local", Block(label="team"))).id)
    with pytest.raises(NotFoundError):
        await blocks.get("someone-else", shared.id)
    assert await blocks.agents_of("local", shared.id) == [a.id, b.id]
    stale_copy = next(x for x in await blocks.all(b.id) if x.label == "team")
    before = {x.id: (await agents.get(x.id)).version for x in (a, b)}
    await blocks.update("local", shared.id, {"value": "v0 v1"})
    for agent in (a, b):
        fresh = await agents.get(agent.id)
        assert fresh.version > before[agent.id] and fresh.memory_dirty
    await blocks.save(b.id, append(stale_copy, "from b"))  # b's edit of the value it read
    assert (await blocks.get("local", shared.id)).value == "v0 v1\nfrom b"
    assert [x.value for x in await blocks.all(a.id) if x.label == "team"] == ["v0 v1\nfrom b"]
    await agents.delete(a.id)
    assert await blocks.agents_of("local", shared.id) == [b.id]
    assert await blocks.remove("local", shared.id) == [b.id]
    assert [x.label for x in await blocks.all(b.id)] == ["human"]
    assert [x.label for x in await blocks.owned("local")] == ["human", "team"]  # b's own and the spare


# --- recall ----------------------------------------------------------------------------------
async def test_recall_append_assigns_seq(backend: Backend) -> None:
    """seq numbers continue per agent across appends; duplicate ids are refused."""
    a, b = await new_agent(backend, "a"), await new_agent(backend, "b")
    recall = backend.stores.recall
    first = await recall.append(a.id, [Message.user("one"), Message.user("two")])
    other = await recall.append(b.id, [Message.user("elsewhere")])
    more = await recall.append(a.id, [Message.user("three")])
    assert [m.seq for m in first + more] == [0, 1, 2] and other[0].seq == 0
    assert all(m.agent_id == a.id for m in first + more)
    with pytest.raises(AlreadyExistsError):
        await recall.append(a.id, [first[0]])
    assert await recall.count(a.id) == 3


async def test_recall_window_since_count(backend: Backend) -> None:
    """since, window (back and forward) and count agree on seq order."""
    agent = await new_agent(backend)
    recall = backend.stores.recall
    await recall.append(agent.id, [Message.user(f"m{i}") for i in range(10)])
    assert [m.text for m in await recall.since(agent.id, 7)] == ["m7", "m8", "m9"]
    assert [m.seq for m in await recall.window(agent.id, limit=3)] == [7, 8, 9]
    assert [m.seq for m in await recall.window(agent.id, limit=3, before=5)] == [2, 3, 4]
    assert [m.seq for m in await recall.window(agent.id, limit=3, after=5)] == [6, 7, 8]
    assert (await recall.count(agent.id), await recall.count(agent.id, before=4)) == (10, 4)
    back = (await recall.since(agent.id, 0))[3]
    assert back.role is Role.USER and back.parts == [TextPart(text="m3")]


async def test_recall_lexical_words_and_exact_phrase_first(backend: Backend) -> None:
    """Any word matches, case-insensitively; the exact phrase ranks first; tool output never."""
    agent = await new_agent(backend)
    recall = backend.stores.recall
    phrase_text = "Yesterday I saw the quick brown fox jump over a very lazy sleeping dog in the park"
    texts = [phrase_text, "fox fox fox brown brown quick quick", "brown fox quick", "no match here"]
    stored = await recall.append(agent.id, [Message.user(t) for t in texts])
    await recall.append(agent.id, [Message(role=Role.TOOL, parts=[TextPart(text="fox tool")])])

    async def lexical(query: str) -> list[tuple[str, float, bool]]:
        return await recall.lexical(agent.id, query, start=None, end=None, limit=10)

    found = await lexical("Quick, BROWN fox!")
    assert found[0] == (stored[0].id, found[0][1], True)
    assert {i for i, _, _ in found} == {m.id for m in stored[:3]}
    rest = [score for _, score, exact in found[1:] if not exact]
    assert len(rest) == 2 and rest == sorted(rest, reverse=True)
    assert (await lexical("kumquat"), await lexical("!!! ?")) == ([], [])
    got = await recall.get_many(agent.id, [stored[2].id, "message-missing", stored[0].id])
    assert [m.text for m in got] == [texts[2], phrase_text]


async def test_recall_listing_by_date_pages_searchable_messages(backend: Backend) -> None:
    """Without words: searchable messages oldest first, paged, with their total."""
    agent = await new_agent(backend)
    recall = backend.stores.recall
    await recall.append(agent.id, [Message.user(f"m{i}") for i in range(5)])
    await recall.append(agent.id, [Message(role=Role.TOOL, parts=[TextPart(text="tool out")])])
    page = await recall.by_date(agent.id, start=None, end=None, limit=2, offset=2)
    assert ([m.text for m in page.items], page.total) == (["m2", "m3"], 5)


async def test_recall_words_in_punctuated_text(backend: Backend) -> None:
    """Words inside ids, addresses and hyphenated names are found on their own."""
    agent = await new_agent(backend)
    recall = backend.stores.recall
    await recall.append(agent.id, [Message.user("mail bo@example.com about half-price snake_case")])
    for query in ["example", "price", "bo example com", "case"]:
        found = await recall.lexical(agent.id, query, start=None, end=None, limit=5)
        assert len(found) == 1, query


async def test_recall_date_filters_are_half_open(backend: Backend) -> None:
    """[start, end) really filters words, meaning and listings, in any timezone."""
    agent = await new_agent(backend)
    recall = backend.stores.recall
    stored = await recall.append(agent.id, [
        Message(role=Role.USER, parts=[TextPart(text=f"diary note day{i}")],
                created_at=BASE + timedelta(days=i))
        for i in range(5)
    ])
    vectors = unit(np.random.default_rng(5), 5)
    await recall.set_embeddings(agent.id, "emb", [m.id for m in stored], vectors)
    plus_five = timezone(timedelta(hours=5))
    start, end = BASE + timedelta(days=1), (BASE + timedelta(days=3)).astimezone(plus_five)
    text_of = {m.id: m.text for m in stored}

    async def found(start: datetime | None, end: datetime | None) -> list[set[str]]:
        words = await recall.lexical(agent.id, "diary note", start=start, end=end, limit=10)
        meaning = (await recall.nearest(agent.id, "emb", vectors[0], 10, start=start, end=end))[0]
        listing = await recall.by_date(agent.id, start=start, end=end, limit=10, offset=0)
        assert listing.total == len(listing.items)
        return [
            {text_of[i] for i, _, _ in words}, {text_of[i] for i, _ in meaning},
            {m.text for m in listing.items},
        ]

    assert await found(start, end) == [{"diary note day1", "diary note day2"}] * 3
    assert [len(f) for f in await found(None, end)] == [3, 3, 3]
    assert [len(f) for f in await found(start, None)] == [4, 4, 4]


async def test_recall_embeddings_pending_nearest_and_forget(backend: Backend) -> None:
    """Messages wait to be embedded in order; nearest finds them (index catches up); a new
    model makes them pending again; messages with nothing to search are never pending."""
    agent = await new_agent(backend)
    recall = backend.stores.recall
    rng = np.random.default_rng(7)
    first = await recall.append(agent.id, [Message.user(f"note {i}") for i in range(4)])
    await recall.append(agent.id, [Message(role=Role.TOOL, parts=[TextPart(text="tool out")])])
    pending = await recall.unembedded(agent.id, 10)
    assert pending == [(m.id, m.text) for m in first]
    vectors = unit(rng, 4)
    await recall.set_embeddings(agent.id, "emb", [m.id for m in first], vectors)
    assert await recall.unembedded(agent.id, 10) == []
    hits = (await recall.nearest(agent.id, "emb", vectors[2], 2))[0]
    assert hits[0][0] == first[2].id and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    later = await recall.append(agent.id, [Message.user("later")])
    more = unit(rng, 1)
    await recall.set_embeddings(agent.id, "emb", [later[0].id], more)
    assert ((await recall.nearest(agent.id, "emb", more[0], 1))[0])[0][0] == later[0].id
    assert (await recall.nearest(agent.id, "other", more[0], 1))[0] == []
    assert await recall.forget_embeddings(agent.id, keep_model="other") == 5
    assert [i for i, _ in await recall.unembedded(agent.id, 10)] == [m.id for m in first + later]
    assert (await recall.nearest(agent.id, "emb", more[0], 1))[0] == []


async def test_recall_embeddings_of_several_agents_at_once(backend: Backend) -> None:
    """One query lists the pending messages of several agents, oldest first and at most
    `limit` per agent; one write stores their vectors, each in its own agent's index, and
    skips a message named with the wrong agent."""
    a, b = await new_agent(backend), await new_agent(backend, "b")
    recall = backend.stores.recall
    rng = np.random.default_rng(11)
    of_a = await recall.append(a.id, [Message.user(f"a note {i}") for i in range(3)])
    of_b = await recall.append(b.id, [Message.user(f"b note {i}") for i in range(2)])
    pending = await recall.unembedded_of([a.id, b.id], 2)
    assert sorted(pending) == sorted([(a.id, m.id, m.text) for m in of_a[:2]] + [(b.id, m.id, m.text) for m in of_b])
    assert await recall.unembedded_of([], 5) == [] and await recall.unembedded_of([a.id], 0) == []
    vectors = unit(rng, 4)
    await recall.set_embeddings_of("emb", [(a.id, of_a[0].id), (b.id, of_b[1].id), (b.id, of_a[1].id),
                                           (a.id, of_a[2].id)], vectors)
    assert [i for i, _ in await recall.unembedded(a.id, 10)] == [of_a[1].id]  # named with b: skipped
    assert [i for i, _ in await recall.unembedded(b.id, 10)] == [of_b[0].id]
    assert ((await recall.nearest(b.id, "emb", vectors[1], 1))[0])[0][0] == of_b[1].id
    assert ((await recall.nearest(a.id, "emb", vectors[3], 1))[0])[0][0] == of_a[2].id
    assert of_a[1].id not in {i for i, _ in (await recall.nearest(b.id, "emb", vectors[2], 5))[0]}


# --- archival --------------------------------------------------------------------------------
async def test_archival_insert_page_count_delete(backend: Backend) -> None:
    """Passages page newest first, count per agent, come back by id (only to their agent)
    and delete one by one."""
    a, b = await new_agent(backend, "a"), await new_agent(backend, "b")
    archival = backend.stores.archival
    rng = np.random.default_rng(1)
    stored = await add_passages(backend, a.id, [f"fact {i}" for i in range(5)], unit(rng, 5))
    await add_passages(backend, b.id, ["other"], unit(rng, 1))
    assert (await archival.count(a.id), await archival.count(b.id)) == (5, 1)
    assert [p.text for p in await archival.page(a.id, limit=2, offset=1)] == ["fact 3", "fact 2"]
    tagged = Passage(agent_id=a.id, text="tagged", tags=["x", "y"], embedding_model="emb")
    await archival.insert(a.id, [tagged], unit(rng, 1))
    got = await archival.get_many(a.id, [stored[2].id, "passage-missing", stored[0].id, tagged.id])
    assert [p.text for p in got] == ["fact 2", "fact 0", "tagged"]
    assert await archival.get_many(b.id, [stored[2].id, tagged.id]) == []  # not b's passages
    assert got[1].created_at == stored[0].created_at and got[1].agent_id == a.id
    assert got[2].tags == ["x", "y"]
    await archival.delete(a.id, stored[1].id)
    assert await archival.count(a.id) == 5
    with pytest.raises(NotFoundError):
        await archival.delete(a.id, stored[1].id)
    with pytest.raises(NotFoundError):
        await archival.delete(b.id, stored[2].id)


async def test_archival_lexical_exact_uuid_first(backend: Backend) -> None:
    """A UUID query finds its passage first, flagged exact; sharing parts is not exact."""
    agent = await new_agent(backend)
    target = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
    near = "550e8400-e29b-41d4-a716-000000000000"  # shares four of five groups
    texts = [
        f"ticket {near} is unrelated",
        f"the order id is {target}.",
        "446655440000 a716 41d4 e29b 550e8400 scrambled",
        "nothing to see",
    ]
    await add_passages(backend, agent.id, texts, unit(np.random.default_rng(3), len(texts)))
    ids = {p.text: p.id for p in await backend.stores.archival.page(agent.id, limit=10, offset=0)}
    ranked = await backend.stores.archival.lexical(agent.id, str(target), 10)
    assert (ranked[0][0], ranked[0][2]) == (ids[texts[1]], True)
    assert {pid for pid, _, _ in ranked} == {ids[t] for t in texts[:3]}
    assert [exact for _, _, exact in ranked[1:]] == [False, False]
    assert await backend.stores.archival.lexical(agent.id, "-- ??", 10) == []


async def test_archival_nearest_is_true_cosine_nearest(backend: Backend) -> None:
    """nearest ranks by cosine like a brute-force scan, per agent and model, minus deletes."""
    a, b = await new_agent(backend, "a"), await new_agent(backend, "b")
    rng = np.random.default_rng(4)
    vectors = unit(rng, 60)
    stored = await add_passages(backend, a.id, [f"p{i}" for i in range(60)], vectors)
    await add_passages(backend, b.id, ["b0"], unit(rng, 1))
    await add_passages(backend, a.id, ["other model"], unit(rng, 1), model="emb-2")
    query = unit(rng, 1)[0]
    sims = vectors @ query
    expected = [stored[int(i)].id for i in np.argsort(-sims)[:5]]
    archival = backend.stores.archival
    found = await archival.nearest(a.id, "emb", query, 5)
    assert [pid for pid, _ in found] == expected
    assert np.allclose([s for _, s in found], np.sort(sims)[::-1][:5], atol=1e-5)
    assert len(await archival.nearest(a.id, "emb", query, 100)) == 60
    await archival.delete(a.id, expected[0])
    assert [pid for pid, _ in await archival.nearest(a.id, "emb", query, 4)] == expected[1:]
    assert [s for _, s in await archival.nearest(a.id, "emb-2", query, 5)] != []
    assert await archival.nearest(b.id, "emb-2", query, 5) == []


async def test_archival_nearest_any_dimension(backend: Backend) -> None:
    """Vectors of a dimension without an index are searched too."""
    agent = await new_agent(backend)
    vectors = unit(np.random.default_rng(5), 20, dim=12)
    stored = await add_passages(backend, agent.id, [f"p{i}" for i in range(20)], vectors, "tiny")
    found = await backend.stores.archival.nearest(agent.id, "tiny", vectors[7], 3)
    assert found[0][0] == stored[7].id and found[0][1] == pytest.approx(1.0, abs=1e-5)


async def test_embedding_models(backend: Backend) -> None:
    """The distinct models of one agent's passages."""
    a, b = await new_agent(backend, "a"), await new_agent(backend, "b")
    rng = np.random.default_rng(6)
    await add_passages(backend, a.id, ["x", "y"], unit(rng, 2), "emb")
    await add_passages(backend, a.id, ["z"], unit(rng, 1), "emb-2")
    await add_passages(backend, b.id, ["w"], unit(rng, 1), "emb-3")
    assert sorted(await backend.stores.archival.embedding_models(a.id)) == ["emb", "emb-2"]
    assert await backend.stores.archival.embedding_models("agent-none") == []


async def test_needing_embedding_pages_by_cursor(backend: Backend) -> None:
    """An agent's passages not under a model (all with force) come in cursor order, in batches."""
    a, b = await new_agent(backend, "a"), await new_agent(backend, "b")
    archival, rng = backend.stores.archival, np.random.default_rng(10)
    old = await add_passages(backend, a.id, ["p0", "p1", "p2"], unit(rng, 3), "emb")
    new = await add_passages(backend, a.id, ["p3"], unit(rng, 1), "emb-2")
    await add_passages(backend, b.id, ["other"], unit(rng, 1), "emb")
    first = await archival.needing_embedding(a.id, "emb-2", after=0, limit=2)
    assert [(i, t) for _, i, t in first] == [(old[0].id, "p0"), (old[1].id, "p1")]
    rest = await archival.needing_embedding(a.id, "emb-2", after=first[-1][0], limit=2)
    assert [i for _, i, _ in rest] == [old[2].id] and rest[0][0] > first[-1][0]
    forced = await archival.needing_embedding(a.id, "emb-2", after=0, limit=10, force=True)
    assert [i for _, i, _ in forced] == [p.id for p in old + new]
    assert await archival.needing_embedding(a.id, "emb-2", after=forced[-1][0], limit=10) == []
    assert await archival.needing_embedding("agent-none", "emb-2", after=0, limit=10) == []


async def test_set_embedding_model_changes_only_that(backend: Backend) -> None:
    """The agent's embedding model is recorded; the rest of its state stays as it was."""
    agent = await new_agent(backend)
    await backend.stores.agents.set_embedding_model(agent.id, "emb-9")
    after = await backend.stores.agents.get(agent.id)
    assert after.embedding_model == "emb-9"
    same = {"embedding_model", "version"}  # the version counts writes
    assert after.model_dump(exclude=same) == agent.model_dump(exclude=same)


async def test_nul_characters_are_stored(backend: Backend) -> None:
    """Text holding NUL (a pasted binary) is stored and searchable; PostgreSQL text cannot hold it."""
    agent = await new_agent(backend)
    recall, archival = backend.stores.recall, backend.stores.archival
    stored = await recall.append(agent.id, [Message.user("binary\x00blob here")])
    found = await recall.lexical(agent.id, "blob", start=None, end=None, limit=5)
    assert [i for i, _, _ in found] == [stored[0].id]
    assert (await recall.get_many(agent.id, [stored[0].id]))[0].text == "binary\x00blob here"
    await add_passages(backend, agent.id, ["nul\x00passage"], unit(np.random.default_rng(9), 1))
    assert len(await archival.lexical(agent.id, "passage", 5)) == 1


# --- migrations and the service ------------------------------------------------------------
def _alembic(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _downgrade_all(connection: Connection) -> None:
    command.downgrade(_alembic(connection), "base")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_migrations_up_down_up(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """An empty database migrates to head, downgrades to nothing and upgrades again."""
    server: PostgresServer | None = request.getfixturevalue("postgres") if kind == "postgres" else None
    url = await server.empty_database() if server else f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_all)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: c.dialect.get_table_names(c))
        assert set(tables) <= {"alembic_version"}
        await migrate(engine)
        b = Backend(url, make_stores(engine))
        agent = await new_agent(b)
        await add_passages(b, agent.id, ["back again"], unit(np.random.default_rng(8), 1))
        assert await b.stores.archival.lexical(agent.id, "again", 5) != []
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert version == ScriptDirectory.from_config(_alembic()).get_current_head()
    finally:
        await engine.dispose()
        if server:
            await server.drop_database(url)


async def test_agent_loop_end_to_end(backend: Backend, tmp_path: Path) -> None:
    """AgentService picks the stores from the URL and runs memory tools on them."""
    model = ScriptedModel([
        tool_call("archival_memory_insert", content="Order 550e8400-e29b is on its way.",
                  request_heartbeat=True),
        tool_call("archival_memory_search", query="550e8400-e29b", request_heartbeat=True),
        tool_call("conversation_search", query="parcel", request_heartbeat=True),
        reply("Your parcel is on its way."),
    ])
    url = backend.url.replace("postgresql+asyncpg://", "postgresql://")  # plain URLs get asyncpg
    settings = Settings(home=tmp_path / "home", database_url=url)
    async with AgentService(settings, models={"scripted": model}) as svc:
        agent = await svc.create_agent("courier", model="scripted")
        result = await svc.send_message(agent.id, "Where is my parcel?")
        assert result.replies == ["Your parcel is on its way."]
        results = {r.name: r for m in result.messages for r in m.tool_results}
        assert not any(r.is_error for r in results.values()), results
        assert "Order 550e8400-e29b is on its way." in results["archival_memory_search"].content
        assert "Where is my parcel?" in results["conversation_search"].content
        hits = await svc.search_passages(agent.id, "550e8400")
        assert [p.text for p in hits] == ["Order 550e8400-e29b is on its way."]
        assert type(svc.stores.archival) is type(backend.stores.archival)


async def test_postgres_nearest_through_hnsw(postgres: PostgresServer) -> None:
    """With the planner pushed onto HNSW, nearest still finds a small agent's k true nearest."""
    url = await postgres.database()
    off = {"enable_seqscan": "off", "enable_bitmapscan": "off", "enable_sort": "off"}
    engine = create_async_engine(url, connect_args={"server_settings": off})
    b = Backend(url, make_stores(engine))
    try:
        big, small = await new_agent(b, "big"), await new_agent(b, "small")
        rng = np.random.default_rng(7)
        await add_passages(b, big.id, [f"b{i}" for i in range(300)], unit(rng, 300))
        mine = unit(rng, 6)
        stored = await add_passages(b, small.id, [f"s{i}" for i in range(6)], mine)
        query = unit(rng, 1)[0]
        sql = (
            f"EXPLAIN SELECT id FROM passages WHERE agent_id = :a AND embedding_model = 'emb'"
            f" AND vector_dims(embedding_vec) = {DIM}"
            f" ORDER BY embedding_vec::vector({DIM}) <=> CAST(:q AS vector({DIM})) LIMIT 5"
        )
        async with engine.connect() as conn:
            plan = "\n".join(r[0] for r in await conn.execute(
                text(sql), {"a": small.id, "q": vector_literal(query)}
            ))
        assert f"ix_passages_embedding_{DIM}" in plan, plan
        expected = [stored[int(i)].id for i in np.argsort(-(mine @ query))[:5]]
        found = await b.stores.archival.nearest(small.id, "emb", query, 5)
        assert [pid for pid, _ in found] == expected  # needs hnsw.iterative_scan past ef_search
    finally:
        await engine.dispose()


async def test_identities_tags_and_owner_messages(backend: Backend) -> None:
    """Identities (keys unique per owner), agent links and tags (gone with the agent), and the
    owner-wide message list in (created_at, storage order) with exclusive bounds."""
    engine = create_engine(backend.url)
    store = SqlIdentityStore(sessionmaker(engine))
    try:
        a, b = await new_agent(backend, "a"), await new_agent(backend, "b")
        prop = IdentityProperty(key="plan", value={"tier": 2}, type="json")
        acme = await store.create(Identity(owner="local", identifier_key="acme", name="Acme", properties=[prop]))
        with pytest.raises(AlreadyExistsError):
            await store.create(Identity(owner="local", identifier_key="acme", name="again"))
        await store.create(Identity(owner="eve", identifier_key="acme", name="Eve's"))
        await store.attach("local", a.id, acme.id)
        await store.attach("local", a.id, acme.id)  # a no-op
        await store.attach("local", b.id, acme.id)
        got = await store.get("local", acme.id)
        assert got.agent_ids == [a.id, b.id] and got.properties == [prop]
        with pytest.raises(NotFoundError):
            await store.get("eve", acme.id)
        assert [i.name for i in await store.all("local", name="CM")] == ["Acme"]
        assert await store.all("local", identity_type="org") == []
        assert (await store.by_key("eve", "acme")) is not None and await store.by_key("local", "nope") is None
        await store.detach("local", b.id, acme.id)
        with pytest.raises(NotFoundError):
            await store.detach("local", b.id, acme.id)
        assert (await store.update("local", acme.id, {"name": "Acme Inc.", "properties": []})).properties == []

        await store.set_tags(a.id, ["x", "y", "x"])
        await store.set_tags(b.id, ["y", "z"])
        assert await store.tags_of([a.id, b.id]) == {a.id: ["x", "y"], b.id: ["y", "z"]}
        assert await store.owner_tags("local") == ["x", "y", "z"] and await store.owner_tags("eve") == []

        for i, agent in enumerate((a, b, a)):
            await backend.stores.recall.append(agent.id, [Message.user(f"m{i}")])
        ordered = await store.owner_messages("local", limit=10)
        assert [m.text for m in ordered] == ["m0", "m1", "m2"]
        middle = (await store.owner_message("local", ordered[1].id))[1]
        assert [m.text for m in await store.owner_messages("local", limit=10, after=middle)] == ["m2"]
        assert [m.text for m in await store.owner_messages("local", limit=10, before=middle, descending=True)] == ["m0"]
        with pytest.raises(NotFoundError):
            await store.owner_message("eve", ordered[0].id)

        await backend.stores.agents.delete(a.id)
        assert (await store.get("local", acme.id)).agent_ids == []
        assert await store.owner_tags("local") == ["y", "z"]
        await store.delete("local", acme.id)
        assert await store.all("local") == []
    finally:
        await engine.dispose()
