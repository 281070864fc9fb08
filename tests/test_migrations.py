"""Upgrading a database made by the first release keeps every block, message and passage."""

from __future__ import annotations


from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.schemas import stable_id
from memgpt.llm.scripted import reply, tool_call
from memgpt.storage.db import create_engine, migrate, upgrade
from memgpt.storage.factory import storage_for
from pg import PostgresServer
from test_stores import _alembic


async def test_upgrade_from_first_schema_keeps_data(settings: Settings) -> None:
    """Data written at revision 0001 survives the table rebuilds of later migrations."""
    engine = create_engine(settings.resolved_database_url())

    async with engine.begin() as conn:
        await conn.run_sync(upgrade, "0001")
        for sql in (
            "INSERT INTO agents VALUES ('agent-1', 'old', 'scripted', NULL, 'hashing-384-v1', "
            "'be kind', 8192, NULL, 'summary', 0, 0, '', 1, NULL, NULL, '2025-01-01 00:00:00')",
            "INSERT INTO blocks (agent_id, label, value, char_limit, description, read_only, "
            "position, updated_at) VALUES ('agent-1', 'human', 'Name: Ada', 2000, '', 0, 0, "
            "'2025-01-01 00:00:00')",
            "INSERT INTO messages (id, agent_id, seq, role, parts, search_text, step_id, created_at)"
            " VALUES ('message-1', 'agent-1', 0, 'user', '[{\"type\": \"text\", \"text\": "
            "\"my zebra is called Quill\"}]', 'my zebra is called Quill', NULL, '2025-01-01 00:00:00')",
        ):
            await conn.exec_driver_sql(sql)
    await engine.dispose()
    model = ScriptedModel([tool_call("conversation_search", query="zebra", request_heartbeat=True),
                           reply("found it")])
    async with AgentService(settings, models={"scripted": model}) as svc:
        assert (await svc.get_block("old", "human")).value == "Name: Ada"
        assert [m.text for m in await svc.list_messages("old")] == ["my zebra is called Quill"]
        await svc.insert_passage("old", "a passage after the upgrade")
        result = await svc.send_message("old", "what is my zebra called?")
        found = [r.content for m in result.messages for r in m.tool_results][0]
        assert "Quill" in found
        assert (await svc.get_agent("old")).owner == "local"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_shared_blocks_migration_keeps_each_agents_blocks(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """0008 turns each agent's blocks into blocks of their own attached to it: same order, the
    id the Letta API showed for them, the agent's owner; and back again on downgrade."""
    server: PostgresServer | None = request.getfixturevalue("postgres") if kind == "postgres" else None
    url = await server.empty_database() if server else f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade, "0007")
            for agent, owner in (("agent-1", "ada"), ("agent-2", "local")):
                await conn.execute(text(
                    "INSERT INTO agents (id, owner, name, model, embedding_model, instructions, context_window, "
                    "summary, context_start, warned, system_compiled, memory_dirty, created_at, version) VALUES "
                    "(:id, :owner, :id, 'scripted', 'hashing-384-v1', 'be kind', 8192, '', 0, false, '', false, "
                    "'2025-01-01 00:00:00', 0)"), {"id": agent, "owner": owner})
                for pos, label in enumerate(("persona", "human")):
                    await conn.execute(text(
                        "INSERT INTO blocks (agent_id, label, value, char_limit, description, read_only, "
                        "position, updated_at) VALUES (:a, :l, :v, 2000, '', false, :p, '2025-01-01 00:00:00')"),
                        {"a": agent, "l": label, "v": f"{label} of {agent}", "p": pos})
            await conn.run_sync(upgrade)
        storage = storage_for(engine)
        for agent, owner in (("agent-1", "ada"), ("agent-2", "local")):
            blocks = await storage.stores.blocks.all(agent)
            assert [(b.label, b.value) for b in blocks] == [("persona", f"persona of {agent}"),
                                                           ("human", f"human of {agent}")]
            human = await storage.stores.blocks.get(owner, stable_id("block", agent, "human"))
            assert human.value == f"human of {agent}"
            assert await storage.stores.blocks.agents_of(owner, human.id) == [agent]
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(_alembic(c), "0007"))
            rows = (await conn.execute(text("SELECT agent_id, label, position FROM blocks ORDER BY agent_id, position"))).all()
        assert [tuple(r) for r in rows] == [("agent-1", "persona", 0), ("agent-1", "human", 1),
                                            ("agent-2", "persona", 0), ("agent-2", "human", 1)]
    finally:
        await engine.dispose()
        if server:
            await server.drop_database(url)


async def test_window_index_migration_backfills_stored_messages(tmp_path: Path) -> None:
    """0017 indexes every searchable message already stored with its 3-turn window (its thread's
    searchable neighbours), stemmed; and drops the index again on downgrade."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    texts = ["where did you relocate", "", "Lisbon, for a new job", "the weather is nice"]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade, "0001")
            await conn.exec_driver_sql(
                "INSERT INTO agents VALUES ('agent-1', 'old', 'scripted', NULL, 'hashing-384-v1', "
                "'be kind', 8192, NULL, 'summary', 0, 0, '', 1, NULL, NULL, '2025-01-01 00:00:00')")
            for seq, said in enumerate(texts):
                await conn.execute(text(
                    "INSERT INTO messages (id, agent_id, seq, role, parts, search_text, step_id, created_at)"
                    " VALUES (:id, 'agent-1', :seq, 'user', '[]', :t, NULL, '2025-01-01 00:00:00')"),
                    {"id": f"message-{seq}", "seq": seq, "t": said})
        await migrate(engine)  # foreign keys off, as the service migrates
        async with engine.begin() as conn:
            rows = (await conn.execute(text(
                "SELECT m.id, w.window FROM messages_window_fts w JOIN messages m ON m.pk = w.rowid "
                "ORDER BY m.seq"))).all()
            assert [tuple(r) for r in rows] == [
                ("message-0", "where did you relocate\nLisbon, for a new job"),
                ("message-2", "where did you relocate\nLisbon, for a new job\nthe weather is nice"),
                ("message-3", "Lisbon, for a new job\nthe weather is nice"),
            ]
            stemmed = (await conn.execute(text(
                "SELECT rowid FROM messages_window_fts WHERE messages_window_fts MATCH 'turn:relocated'"))).all()
            assert len(stemmed) == 1
            await conn.run_sync(lambda c: command.downgrade(_alembic(c), "0016"))
            left = (await conn.execute(text(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'messages_window%'"))).scalar_one()
            assert left == 0
    finally:
        await engine.dispose()
