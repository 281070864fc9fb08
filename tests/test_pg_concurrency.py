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


async def test_group_transactions_run_side_by_side(postgres: PostgresServer) -> None:
    """A write queued while a group transaction is still open commits in a transaction of
    its own beside it, instead of waiting for it: the open one sees the other's row (it
    looks for at most 10 s; one group at a time would never let it appear)."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from memgpt.storage.factory import open_storage

    storage = open_storage(await postgres.database())
    try:
        started = asyncio.Event()
        loop = asyncio.get_running_loop()

        def waits_for_the_other(s: Session) -> int:
            loop.call_soon_threadsafe(started.set)
            for _ in range(200):
                seen = s.execute(text("SELECT count(*) FROM probe_beside")).scalar_one()
                if seen:
                    return int(seen)
                s.execute(text("SELECT pg_sleep(0.05)"))
            return 0

        def the_other(s: Session) -> None:
            s.execute(text("INSERT INTO probe_beside VALUES (1)"))

        await storage.runner.run(lambda s: s.execute(text("CREATE TABLE probe_beside (n int)")))
        first = asyncio.ensure_future(storage.runner.run(waits_for_the_other))
        await started.wait()
        await storage.runner.run(the_other)
        assert await first == 1
    finally:
        await storage.close()
