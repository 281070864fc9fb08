"""Archives: archival memory several agents share, over the service, the stores (SQLite and
PostgreSQL), the real letta-client, our native API and the CLI.

The rules under test: an agent's archival search (its tool and the search routes) covers its
own passages and every attached archive's, ranked together, exact ids first; what an agent
inserts stays its own; detaching stops it seeing an archive; deleting an archive detaches it
everywhere; another user's archive is 404 everywhere, as one never made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from fakes.openai_server import FakeOpenAI, completion, fake_openai
from letta_client import BadRequestError, Letta, NotFoundError as LettaNotFound
from sqlalchemy import text
from typer.testing import CliRunner

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.cli.main import app
from memgpt.core.errors import InvalidRequestError, NotFoundError
from memgpt.core.schemas import Passage
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory.archives import Archive, NewPassage
from memgpt.memory.stores import Scope
from memgpt.server import BackgroundServer
from memgpt.storage.db import create_engine, upgrade
from memgpt.storage.factory import storage_for
from pg import PostgresServer
from test_letta_client import call
from test_stores import Backend, _alembic, backend

__all__ = ["backend", "fake_openai"]


def tool_results(result: Any) -> list[str]:
    """What the tools of a turn returned."""
    return [r.content for m in result.messages for r in m.tool_results]


@pytest.fixture
async def svc(settings: Settings) -> Any:
    """A service with one scripted model."""
    model = ScriptedModel()
    async with AgentService(settings, models={"m": model}) as service:
        yield service, model


async def test_shared_archive_is_searched_by_every_attached_agent(svc: Any) -> None:
    """Two agents find an archive's passage with their tool, ranked with their own; an
    agent's insert stays its own; detach and delete end it; exact ids are still found first."""
    service, model = svc
    a = await service.create_agent("a", model="m")
    b = await service.create_agent("b", model="m")
    archive = await service.create_archive("handbook", description="Company handbook.")
    made = await service.add_archive_passages(archive.id, [
        NewPassage(text="The office wifi password is heron-42.", tags=["it"]),
        NewPassage(text="Holidays: 25 days a year.", metadata={"source": "hr"}),
        NewPassage(text="Ticket 7f3a9c2e-1b4d-4e8f-9a6b-5c3d2e1f0a9b: holiday booking form.", metadata={"source": "hr"}),
    ])
    await service.insert_passage("a", "My own note: the wifi router is in the attic.")
    for agent in (a, b):
        await service.attach_archive(agent.id, archive.id)
    assert [x.id for x in await service.archive_agents(archive.id)] == [a.id, b.id]
    assert [x.id for x in await service.list_archives(agent="b")] == [archive.id]

    for name in ("a", "b"):
        model.push(tool_call("archival_memory_search", query="wifi password", request_heartbeat=True), reply("ok"))
        found = tool_results(await service.send_message(name, "what is the wifi password?"))[0]
        assert "heron-42" in found, name
        assert ("attic" in found) is (name == "a")  # a's own passage is a's alone

    model.push(tool_call("archival_memory_insert", content="b learned: parking is on level 2",
                         request_heartbeat=False))
    await service.send_message("b", "remember parking")
    assert [p.text for p in await service.list_archive_passages(archive.id)] == [p.text for p in made[::-1]]
    hits = await service.search_passages("a", "7f3a9c2e-1b4d-4e8f-9a6b-5c3d2e1f0a9b", limit=3)
    assert hits[0].id == made[2].id and hits[0].archive_id == archive.id and hits[0].metadata == {"source": "hr"}

    await service.detach_archive("a", archive.id)
    model.push(tool_call("archival_memory_search", query="wifi password", request_heartbeat=True), reply("ok"))
    found = tool_results(await service.send_message("a", "again?"))[0]
    assert "heron-42" not in found and "attic" in found
    await service.delete_archive(archive.id)
    assert await service.list_archives() == []
    model.push(tool_call("archival_memory_search", query="wifi password", request_heartbeat=True), reply("ok"))
    assert "heron-42" not in tool_results(await service.send_message("b", "and you?"))[0]
    assert [p.text for p in await service.list_passages("b")] == ["b learned: parking is on level 2"]


async def test_bad_input_and_other_users(svc: Any) -> None:
    """Bad passages add nothing; another user's archive is absent everywhere."""
    service, _ = svc
    archive = await service.create_archive("notes")
    with pytest.raises(InvalidRequestError):
        await service.add_archive_passages(archive.id, [NewPassage(text="fine"), NewPassage(text="  ")])
    with pytest.raises(InvalidRequestError, match="embeds passages with"):
        await service.create_archive("x", embedding="openai/text-embedding-3-large")
    assert await service.list_archive_passages(archive.id) == []
    mallory = service.scoped("mallory")
    agent = await mallory.create_agent("m-agent", model="m")
    for attempt in (
        mallory.retrieve_archive(archive.id), mallory.attach_archive(agent.id, archive.id),
        mallory.add_archive_passages(archive.id, [NewPassage(text="mine now")]),
        mallory.delete_archive(archive.id), mallory.search_all_passages("x", archive_id=archive.id),
        mallory.modify_archive(archive.id, name="stolen"), mallory.list_archive_passages(archive.id),
    ):
        with pytest.raises(NotFoundError):
            await attempt
    await service.create_agent("mine", model="m")
    with pytest.raises(NotFoundError):  # nor may the owner attach to another user's agent
        await service.attach_archive(agent.id, archive.id)
    assert (await service.retrieve_archive(archive.id)).name == "notes"


async def test_search_scope_filters_and_scores(svc: Any) -> None:
    """passages search: by archive, by agent, across everything; tags and dates filter."""
    service, _ = svc
    await service.create_agent("a", model="m")
    await service.insert_passage("a", "Agent note about comets.", tags=["space"])
    archive = await service.create_archive("astro")
    await service.add_archive_passages(archive.id, [
        NewPassage(text="Comets have tails of dust.", tags=["space", "dust"]),
        NewPassage(text="Old comet sighting.", tags=["space"], created_at=datetime(2001, 1, 1)),
    ])
    by_archive = await service.search_all_passages("comets", archive_id=archive.id)
    assert {h.passage.archive_id for h in by_archive} == {archive.id} and len(by_archive) == 2
    assert [h.score for h in by_archive] == sorted([h.score for h in by_archive], reverse=True)
    everything = await service.search_all_passages("comets")
    assert len(everything) == 3
    dusty = await service.search_all_passages("comets", tags=["space", "dust"], match_all_tags=True)
    assert [h.passage.text for h in dusty] == ["Comets have tails of dust."]
    old = await service.search_all_passages(None, end=datetime(2002, 1, 1))
    assert [h.passage.text for h in old] == ["Old comet sighting."]


# --- stores, on SQLite and PostgreSQL --------------------------------------------------------
async def test_archive_store_and_scoped_search(backend: Backend) -> None:
    """Archives CRUD and attachments; an archive's passages are its own collection for words
    and vectors, searched alone or with an agent's; deleting it removes its passages."""
    storage = storage_for(create_engine(backend.url))
    archives, archival = storage.archives, storage.archival
    agent = await _agent(storage)
    made = await archives.create(Archive(owner="ada", name="lib", embedding_model="emb"))
    assert (await archives.get("ada", made.id)).name == "lib"
    with pytest.raises(NotFoundError):
        await archives.get("bob", made.id)
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(3, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    own = Passage(agent_id=agent, text="own words about llamas", embedding_model="emb")
    await archival.insert(agent, [own], vecs[:1])
    shared = [Passage(text=f"shared llamas {i}", embedding_model="emb", archive_id=made.id,
                      metadata={"i": i}) for i in range(2)]
    await archival.insert_archive(made.id, shared, vecs[1:])
    assert [p for p, _, _ in await archival.lexical(agent, "llamas", 10)] == [own.id]
    assert (await archival.scope_of(agent)).archives == ()
    await archives.attach("ada", agent, made.id)
    await archives.attach("ada", agent, made.id)  # a no-op
    scope = await archival.scope_of(agent)
    assert scope == Scope(agents=(agent,), archives=(made.id,))
    assert {p for p, _, _ in await archival.lexical(scope, "llamas", 10)} == {own.id, *(p.id for p in shared)}
    near = await archival.nearest(scope, "emb", vecs[2], 2)
    assert near[0][0] == shared[1].id and len(near) == 2
    got = await archival.get_many(scope, [shared[0].id, own.id])
    assert [p.metadata for p in got] == [{"i": 0}, {}] and got[0].archive_id == made.id
    assert await archival.get_many(agent, [shared[0].id]) == []  # not the agent's own
    assert [a.id for a in await archives.all("ada", agent_id=agent)] == [made.id]
    assert await archives.counts([made.id]) == {made.id: 2}
    await archival.delete_from_archive(made.id, shared[0].id)
    with pytest.raises(NotFoundError):
        await archival.delete_from_archive(made.id, own.id)
    assert [p for p, _ in await archival.nearest(Scope(archives=(made.id,)), "emb", vecs[1], 5)] == [shared[1].id]
    assert await archives.delete("ada", made.id) == [agent]
    assert await archival.lexical(Scope(archives=(made.id,)), "llamas", 10) == []
    assert await archival.nearest(Scope(archives=(made.id,)), "emb", vecs[2], 5) == []
    assert (await archival.scope_of(agent)).archives == ()
    assert await archival.count(agent) == 1
    await storage.engine.dispose()


async def _agent(storage: Any) -> str:
    from memgpt.core.schemas import AgentState
    state = AgentState(name="keeper", model="m", embedding_model="emb", instructions="", context_window=8192,
                       owner="ada")
    await storage.agents.create(state, [])
    return str(state.id)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_migration_from_0009_keeps_passages(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """0010 keeps every agent's passages searchable by words, and downgrading drops only archives'."""
    server: PostgresServer | None = request.getfixturevalue("postgres") if kind == "postgres" else None
    url = await server.empty_database() if server else f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    blob = np.ones(4, np.float32).tobytes()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade, "0009")
            await conn.execute(text(
                "INSERT INTO agents (id, owner, name, model, embedding_model, instructions, context_window, "
                "summary, context_start, warned, system_compiled, memory_dirty, created_at, version) VALUES "
                "('agent-1', 'local', 'old', 'scripted', 'emb', 'be kind', 8192, '', 0, false, '', false, "
                "'2025-01-01 00:00:00', 0)"))
            await conn.execute(text(
                "INSERT INTO passages (id, agent_id, text, tags, embedding, embedding_model, created_at) VALUES "
                "('passage-1', 'agent-1', 'the zebra is called Quill', '[\"pets\"]', :b, 'emb', '2025-01-01 00:00:00')"),
                {"b": blob})
            await conn.run_sync(upgrade)
        storage = storage_for(engine)
        assert [p for p, _, _ in await storage.archival.lexical("agent-1", "zebra", 5)] == ["passage-1"]
        page = await storage.archival.page("agent-1", limit=5, offset=0)
        assert [(p.text, p.tags, p.archive_id) for p in page] == [("the zebra is called Quill", ["pets"], None)]
        made = await storage.archives.create(Archive(owner="local", name="a", embedding_model="emb"))
        await storage.archival.insert_archive(made.id, [Passage(text="zebra facts", embedding_model="emb")],
                                              np.ones((1, 4), np.float32))
        await engine.dispose()
        async with engine.connect() as conn:  # as db.migrate does: no cascades while tables are rebuilt
            if kind == "sqlite":
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await conn.commit()
            await conn.run_sync(lambda c: command.downgrade(_alembic(c), "0009"))
            rows = (await conn.execute(text("SELECT id FROM passages"))).all()
            await conn.commit()
        assert [r[0] for r in rows] == ["passage-1"]
    finally:
        await engine.dispose()
        if server:
            await server.drop_database(url)


# --- the real letta-client -------------------------------------------------------------------
@pytest.fixture
def letta(settings: Settings, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Letta]:
    """A Letta client on a local (keyless) memgpt server whose model is the fake OpenAI server."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for var in ("LETTA_BASE_URL", "LETTA_API_KEY", "LETTA_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)
    spec = f"openai/gpt-4o-mini@{fake_openai.url}"
    service = AgentService(settings.model_copy(update={"model": spec}))
    with BackgroundServer(service) as server:
        with Letta(base_url=server.url, max_retries=0, timeout=30, _strict_response_validation=True) as client:
            yield client


def _tool_result(fake: FakeOpenAI) -> str:
    """What the last tool returned, as the model's latest request carries it."""
    content: str = [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"][-1]["content"]
    return content


def test_letta_client_archive_shared_by_two_agents(letta: Letta, fake_openai: FakeOpenAI) -> None:
    """archives CRUD, passages create/batch/delete, attach to two agents, found by both agents'
    archival_memory_search, passages.search, detach and delete."""
    archive = letta.archives.create(name="field-notes", description="Shared notes.")
    assert archive.id.startswith("archive-") and archive.vector_db_provider == "native"
    one = letta.archives.passages.create(archive.id, text="The lighthouse key is under the blue stone.",
                                         tags=["keys"], metadata={"by": "ops"})
    assert one.archive_id == archive.id and one.metadata == {"by": "ops"} and one.tags == ["keys"]
    batch = letta.archives.passages.create_many(archive.id, passages=[
        {"text": "Tide tables are in the red binder."}, {"text": "Scratch passage.", "created_at": "2020-05-01T00:00:00Z"}])
    assert [p.text for p in batch] == ["Tide tables are in the red binder.", "Scratch passage."]
    letta.archives.passages.delete(batch[1].id, archive_id=archive.id)
    with pytest.raises(LettaNotFound):
        letta.archives.passages.delete(batch[1].id, archive_id=archive.id)
    with pytest.raises(BadRequestError):
        letta.archives.passages.create_many(archive.id, passages=[{"text": "ok"}, {"text": " "}])

    a = letta.agents.create(name="keeper")
    b = letta.agents.create(name="visitor")
    for agent in (a, b):
        letta.agents.archives.attach(archive.id, agent_id=agent.id)
    assert [x.id for x in letta.archives.list(agent_id=b.id)] == [archive.id]
    assert [x.id for x in letta.archives.list(name="field-notes")] == [archive.id]
    assert letta.archives.list(name="nope").items == []
    for agent in (a, b):
        fake_openai.push(
            completion(None, [call("archival_memory_search", query="lighthouse key", request_heartbeat=True)]),
            completion(None, [call("send_message", message="Under the blue stone.")]),
        )
        letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "where is the key?"}])
        assert "blue stone" in _tool_result(fake_openai), agent.name

    hits = letta.passages.search(query="lighthouse key", agent_id=a.id, limit=5)
    assert hits[0].passage.id == one.id and hits[0].passage.archive_id == archive.id and hits[0].score > 0
    assert [h.passage.id for h in letta.passages.search(query="binder", archive_id=archive.id)][0] == batch[0].id
    tagged = letta.passages.search(query="stone", tags=["keys"], tag_match_mode="all")
    assert [h.passage.id for h in tagged] == [one.id]

    renamed = letta.archives.update(archive.id, name="notes")
    assert renamed.name == "notes" and letta.archives.retrieve(archive.id).name == "notes"
    letta.agents.archives.detach(archive.id, agent_id=a.id)
    assert letta.archives.list(agent_id=a.id).items == []
    fake_openai.push(
        completion(None, [call("archival_memory_search", query="lighthouse key", request_heartbeat=True)]),
        completion(None, [call("send_message", message="No idea.")]),
    )
    letta.agents.messages.create(agent_id=a.id, messages=[{"role": "user", "content": "and now?"}])
    assert "blue stone" not in _tool_result(fake_openai)
    letta.archives.delete(archive.id)
    with pytest.raises(LettaNotFound):
        letta.archives.retrieve(archive.id)
    with pytest.raises(LettaNotFound):
        letta.agents.archives.attach(archive.id, agent_id=b.id)
    assert letta.passages.search(query="lighthouse key", agent_id=b.id) == []
    assert json.loads(json.dumps([x.id for x in letta.archives.list()])) == []


# --- the CLI ---------------------------------------------------------------------------------
def test_cli_archives_and_identities(tmp_path: Path) -> None:
    """memgpt archives create/add/attach/search/list/detach/delete and memgpt identities
    create/attach/list/detach/delete, on the demo agent."""
    home = str(tmp_path / "home")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--home", home])
        assert result.exit_code == 0, result.output
        return result.output

    run("demo")
    archive_id = run("archives", "create", "manuals", "--description", "Telescope manuals.").strip()
    added = run("archives", "add", archive_id, "Collimate the mirror with a laser.", "Store eyepieces dry.",
                "--tag", "scope").split()
    assert len(added) == 2 and all(p.startswith("passage-") for p in added)
    assert "attached" in run("archives", "attach", archive_id, "demo")
    assert "Collimate the mirror" in run("archives", "search", "collimate mirror", "--agent", "demo")
    listed = run("archives", "list", "--agent", "demo")
    assert archive_id in listed and "2 passages" in listed
    assert "detached" in run("archives", "detach", archive_id, "demo")
    assert "Collimate" not in run("archives", "search", "collimate mirror", "--agent", "demo")
    run("archives", "delete", archive_id)
    assert archive_id not in run("archives", "list")
    missing = runner.invoke(app, ["archives", "attach", archive_id, "demo", "--home", home])
    assert missing.exit_code != 0 and archive_id in missing.output

    identity_id = run("identities", "create", "acme", "Acme Inc.", "--type", "org").strip()
    assert "attached" in run("identities", "attach", identity_id, "demo")
    shown = run("identities", "list", "--type", "org")
    assert "acme" in shown and "agents: demo" in shown
    run("identities", "detach", identity_id, "demo")
    assert "agents: none" in run("identities", "list")
    run("identities", "delete", identity_id)
    assert "acme" not in run("identities", "list")
