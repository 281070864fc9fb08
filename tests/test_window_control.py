"""Window control with the real letta-client: compact (``/summarize``), reset-messages and
recompile, each visible in the next model request; recall keeps every message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from letta_client import AsyncLetta, NotFoundError

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.schemas import Role
from memgpt.llm.scripted import reply, text
from memgpt.server import create_app
from memgpt.services.window import RESET_EVENT
from serve import serving_app


@pytest.fixture
async def client(settings: Settings, model: ScriptedModel) -> AsyncIterator[AsyncLetta]:
    """An async Letta client on memgpt's app served in this loop (scripted model)."""
    service = AgentService(settings, models={"scripted": model})
    async with serving_app(create_app(service, own_service=True)) as url:
        async with AsyncLetta(base_url=url, max_retries=0, timeout=30,
                              _strict_response_validation=True) as c:
            yield c


async def _chat(client: AsyncLetta, model: ScriptedModel, agent_id: str, *lines: str) -> None:
    for line in lines:
        model.push(reply(f"ok: {line}"))
        await client.agents.messages.create(agent_id, input=line)


async def test_compact_then_reset_show_in_the_next_request(client: AsyncLetta, model: ScriptedModel) -> None:
    agent = await client.agents.create(name="window", model="scripted")
    await _chat(client, model, agent.id, "my cat is Tom", "my dog is Rex", "my owl is Hoot")
    before = len(model.calls[-1].messages)

    model.push(text("SUMMARY: pets Tom, Rex and Hoot."))  # the summarizer's answer
    done = await client.agents.messages.compact(agent.id)
    assert done.summary == "SUMMARY: pets Tom, Rex and Hoot."
    assert done.num_messages_after < done.num_messages_before
    await _chat(client, model, agent.id, "what pets?")
    request = model.calls[-1]
    assert "SUMMARY: pets Tom, Rex and Hoot." in request.messages[0].text
    assert len(request.messages) < before + 3  # the evicted exchanges are gone
    assert not any("my cat is Tom" == m.text for m in request.messages[1:])

    state = await client.agents.messages.reset(agent.id)
    assert state is not None and state.id == agent.id
    await _chat(client, model, agent.id, "fresh start")
    request = model.calls[-1]
    assert [m.role for m in request.messages] == [Role.SYSTEM, Role.USER]
    assert request.messages[1].text == "fresh start"
    assert "SUMMARY" not in request.messages[0].text
    history = [m async for m in client.agents.messages.list(agent.id, order="asc")]
    assert any(getattr(m, "content", None) == "my cat is Tom" for m in history)  # recall keeps all

    await client.agents.messages.reset(agent.id, add_default_initial_messages=True)
    await _chat(client, model, agent.id, "hello")
    request = model.calls[-1]
    assert [m.role for m in request.messages] == [Role.SYSTEM, Role.EVENT, Role.USER]
    assert request.messages[1].text == RESET_EVENT


async def test_recompile_rebuilds_the_system_message(client: AsyncLetta, model: ScriptedModel) -> None:
    agent = await client.agents.create(name="recompiler", model="scripted",
                                       memory_blocks=[{"label": "human", "value": "Name: Ada"}])
    # the body is a JSON string, as Letta's; the SDK hands over the raw text
    shown = json.loads(await client.agents.recompile(agent.id, dry_run=True))
    assert "Name: Ada" in shown
    await client.agents.blocks.update("human", agent_id=agent.id, value="Name: Grace")
    compiled = json.loads(await client.agents.recompile(agent.id))
    assert "Name: Grace" in compiled and "Name: Ada" not in compiled
    await _chat(client, model, agent.id, "hi")
    assert model.calls[-1].messages[0].text.split("Memory")[0] == compiled.split("Memory")[0]
    with pytest.raises(NotFoundError):
        await client.agents.recompile("agent-00000000-0000-4000-8000-000000000000")
    with pytest.raises(NotFoundError):
        await client.agents.messages.reset("agent-00000000-0000-4000-8000-000000000000")
