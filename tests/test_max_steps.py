"""A send's ``max_steps`` bounds its turn below the server's MEMGPT_MAX_CHAIN_STEPS: in the
library, the native client and Letta's messages route (the real letta-client); never above the
server's bound, never below one step."""

from __future__ import annotations

import time

import pytest
from letta_client import Letta, UnprocessableEntityError

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import StopReason
from memgpt.sdk.client import Client
from memgpt.server import BackgroundServer
from serve import until
from test_schedule_options import _endless


async def test_a_send_takes_at_most_its_max_steps(settings: Settings) -> None:
    capped = settings.model_copy(update={"max_chain_steps": 4})
    async with AgentService(capped, models={"scripted": ScriptedModel(policy=_endless)}) as service:
        agent = await service.create_agent("busy", model="scripted")
        two = await service.send_message(agent.id, "work", max_steps=2)
        assert len(two.steps) == 2 and two.steps[-1].stop_reason == StopReason.MAX_STEPS
        event = await service.send_event(agent.id, "timer", max_steps=1)
        assert len(event.steps) == 1
        beyond = await service.send_message(agent.id, "work hard", max_steps=50)  # the server's bound holds
        assert len(beyond.steps) == 4
        unbounded = await service.send_message(agent.id, "work as usual")
        assert len(unbounded.steps) == 4
        with pytest.raises(InvalidRequestError, match="max_steps"):
            await service.send_message(agent.id, "none", max_steps=0)
        thread = await service.create_conversation(agent.id)
        talk = await service.send_conversation_message(thread.id, "work here", max_steps=3)
        assert len(talk.steps) == 3


def test_clients_send_max_steps(settings: Settings) -> None:
    """The native client and letta-client's ``max_steps`` reach the turn; 0 is refused (422)."""
    service = AgentService(settings, models={"scripted": ScriptedModel(policy=_endless)})
    with BackgroundServer(service) as server, Client(server.url) as client:
        agent = client.create_agent("busy", model="scripted")
        assert len(client.send_message(agent.id, "work", max_steps=3).steps) == 3
        letta = Letta(base_url=server.url, max_retries=0)
        sent = letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "go"}],
                                            max_steps=2)
        assert sent.stop_reason is not None and sent.stop_reason.stop_reason == "max_steps"
        assert sent.usage.step_count == 2
        with pytest.raises(UnprocessableEntityError):
            letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "go"}],
                                         max_steps=0)
        queued = letta.agents.messages.create_async(agent_id=agent.id, messages=[{"role": "user", "content": "go"}],
                                                    max_steps=3)
        for _ in range(500):
            run = letta.runs.retrieve(queued.id)
            if run.status in ("completed", "failed"):
                break
            time.sleep(0.02)
        assert run.status == "completed" and run.stop_reason == "max_steps"
        assert len(client.list_steps(run_id=run.id)) == 3
        thread = letta.conversations.create(agent_id=agent.id)
        chunks = list(letta.conversations.messages.create(
            conversation_id=thread.id, messages=[{"role": "user", "content": "go"}], max_steps=2))
        assert [c.step_count for c in chunks if getattr(c, "message_type", "") == "usage_statistics"] == [2]
        assert len(client.send_conversation_message(thread.id, "again", max_steps=1).steps) == 1


async def test_a_queued_run_keeps_its_max_steps(settings: Settings) -> None:
    """Letta's async send stores ``max_steps`` with the run (``request_config``); the run's
    turn keeps to it. A bad value is refused before anything is queued."""
    async with AgentService(settings, models={"scripted": ScriptedModel(policy=_endless)}) as service:
        agent = await service.create_agent("queued", model="scripted")
        run = await service.send_async(agent.id, "work", request_config={"max_steps": 2})

        async def finished() -> bool:
            return (await service.get_run(run.id)).status.value in ("completed", "failed")
        await until(finished, "the queued run finished")
        done = await service.get_run(run.id)
        assert done.status.value == "completed" and done.stop_reason == "max_steps"
        assert len(await service.list_steps(run_id=run.id)) == 2
        for bad in (0, "3", True, 2.5):
            with pytest.raises(InvalidRequestError, match="max_steps"):
                await service.send_async(agent.id, "work", request_config={"max_steps": bad})
        assert len(await service.list_runs(agent.id)) == 1
