"""Upgrading a database made by the first release keeps every block, message and passage."""

from __future__ import annotations


from memgpt import AgentService, ScriptedModel, Settings
from memgpt.llm.scripted import reply, tool_call
from memgpt.storage.db import create_engine, upgrade


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
