"""Two server processes on one PostgreSQL: a turn to an agent never interleaves with another."""

from __future__ import annotations

import asyncio

from memgpt import AgentService, ModelRequest, ModelResponse, ScriptedModel, Settings
from memgpt.llm.scripted import reply
from memgpt.core.schemas import Role
from pg import PostgresServer


async def slow_echo(request: ModelRequest) -> ModelResponse:
    """Yield to other tasks mid-call, then echo the newest user message."""
    await asyncio.sleep(0.01)
    user = next(m for m in reversed(request.messages) if m.role is Role.USER)
    return reply(f"re: {user.text}")


async def test_two_services_share_an_agent(postgres: PostgresServer, settings: Settings) -> None:
    """Sends through two services (as two processes would) serialize on the advisory lock."""
    url = await postgres.database()
    config = settings.model_copy(update={"database_url": url})
    one = AgentService(config, models={"scripted": ScriptedModel(policy=slow_echo)})
    two = AgentService(config, models={"scripted": ScriptedModel(policy=slow_echo)})
    async with one, two:
        agent = await one.create_agent("shared", model="scripted")
        sends = [(one if i % 2 else two).send_message(agent.id, f"m{i}") for i in range(12)]
        results = await asyncio.gather(*sends)
        history = await one.list_messages(agent.id, limit=1000)
    assert [r.replies for r in results] == [[f"re: m{i}"] for i in range(12)]
    assert [m.seq for m in history] == list(range(36))
    for i in range(0, 36, 3):
        user, assistant, tool = history[i : i + 3]
        assert (user.role, assistant.role, tool.role) == (Role.USER, Role.ASSISTANT, Role.TOOL)
        assert assistant.sent_messages() == [f"re: {user.text}"]
