"""Tool rules travel in agent files (Letta's ``tool_rules`` of the agent): an exported agent
with rules imports with the same rules; a rule kind this server does not run is a 400."""

from __future__ import annotations

import pytest

from memgpt import AgentService, ScriptedModel
from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import ToolRule

RULES = [ToolRule(type="run_first", tool_name="conversation_search"),
         ToolRule(type="max_count_per_step", tool_name="archival_memory_search", max_count_limit=2),
         ToolRule(type="requires_approval", tool_name="core_memory_replace"),
         ToolRule(type="exit_loop", tool_name="send_message")]


async def test_rules_survive_export_and_import(service: AgentService) -> None:
    agent = await service.create_agent("ruled", model="scripted")
    await service.set_tool_rules(agent.id, RULES)
    data = await service.export_agent(agent.id)
    assert data["agents"][0]["tool_rules"] == [r.model_dump(exclude_none=True) for r in RULES]
    copied = await service.import_agent(data, name="copy")
    assert copied.tool_rules == RULES


async def test_unsupported_rule_kind_imports_nothing(service: AgentService, model: ScriptedModel) -> None:
    agent = await service.create_agent("ruled", model="scripted")
    data = await service.export_agent(agent.id)
    data["agents"][0]["tool_rules"] = [{"type": "conditional", "tool_name": "send_message"}]
    with pytest.raises(InvalidRequestError, match="not supported"):
        await service.import_agent(data, name="copy")
    data["agents"][0]["tool_rules"] = [{"type": "run_first", "tool_name": "no_such_tool"}]
    with pytest.raises(InvalidRequestError, match="does not have"):
        await service.import_agent(data, name="copy")
    assert [a.name for a in await service.list_agents()] == ["ruled"]
