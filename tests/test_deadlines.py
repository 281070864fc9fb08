"""Deadlines and overload: a hung model, a client that leaves, a busy agent, too many calls.

Each test serves its own service with short settings (fractions of a second), so a
deadline passing is what ends the wait, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import AgentBusyError
from memgpt.core.schemas import Message, Role, ToolCallPart
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import reply, tool_call
from memgpt.llm.wire import paired
from memgpt.server import create_app
from serve import serving_app

Served = tuple[AgentService, ScriptedModel, str]


class Hang:
    """A model policy that never answers until released; it records being cancelled."""

    def __init__(self, first: list[ModelResponse] | None = None) -> None:
        self.first = list(first or [])
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, request: ModelRequest) -> ModelResponse:
        if self.first:
            return self.first.pop(0)
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return reply("finally")


@contextlib.asynccontextmanager
async def served(tmp_path: Path, **options: Any) -> AsyncIterator[Served]:
    """A service with these settings, its scripted model and the served app's URL."""
    model = ScriptedModel()
    settings = Settings(home=tmp_path / "home", **options)
    async with AgentService(settings, models={"scripted": model}) as svc, serving_app(create_app(svc)) as url:
        yield svc, model, url


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def post_then_hang_up(url: str, path: str, body: dict[str, Any], hang: Hang) -> None:
    """POST over a raw socket, wait until the model is thinking, then close the connection."""
    where = urlsplit(url)
    _, writer = await asyncio.open_connection(where.hostname, where.port)
    data = json.dumps(body).encode()
    writer.write(
        f"POST {path} HTTP/1.1\r\nhost: {where.netloc}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n".encode() + data
    )
    await writer.drain()
    await asyncio.wait_for(hang.started.wait(), 2)
    writer.close()
    await writer.wait_closed()


def texts(history: list[Message], role: Role) -> list[str]:
    return [m.text for m in history if m.role is role]


async def test_hung_model_answers_504_and_agent_stays_usable(tmp_path: Path) -> None:
    """A model that never answers: 504 with a JSON error at the turn deadline; the input is
    kept, and the next message is answered at once (seeing the earlier input)."""
    async with served(tmp_path, turn_timeout=0.3) as (svc, model, url):
        agent = await svc.create_agent("h", model="scripted")
        hang = Hang()
        model.policy = hang
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            r = await http.post(f"/v1/agents/{agent.id}/messages", json=user("are you there?"))
            assert r.status_code == 504, r.text
            assert r.json()["type"] == "ModelTimeoutError"
            assert "MEMGPT_TURN_TIMEOUT" in r.json()["detail"]
            assert hang.cancelled.is_set()  # the model call was stopped, not left running
            model.policy = None
            model.push(reply("here now"))
            r = await http.post(f"/v1/agents/{agent.id}/messages", json=user("hello?"))
            assert r.status_code == 200, r.text
            assert [m["content"] for m in r.json()["messages"] if m["message_type"] == "assistant_message"] == ["here now"]
        history = await svc.list_messages(agent.id, limit=100)
    assert texts(history, Role.USER) == ["are you there?", "hello?"]
    seen = model.calls[-1].messages
    assert [m.text for m in seen if m.role is Role.USER] == ["are you there?", "hello?"]


async def test_sync_disconnect_cancels_the_turn(tmp_path: Path) -> None:
    """The client hangs up during the second step's model call: the call is cancelled, the
    first step stays committed, the second leaves nothing, and the agent answers next."""
    async with served(tmp_path, turn_timeout=30, busy_wait=5) as (svc, model, url):
        agent = await svc.create_agent("d", model="scripted")
        step1 = tool_call("core_memory_append", label="human", content="Likes tea.", request_heartbeat=True)
        hang = Hang([step1])
        model.policy = hang
        await post_then_hang_up(url, f"/v1/agents/{agent.id}/messages", user("remember: tea"), hang)
        await asyncio.wait_for(hang.cancelled.wait(), 2)
        assert len(model.calls) == 2
        model.policy = None
        model.push(reply("noted"))
        result = await svc.send_message(agent.id, "still there?")  # the lock was given back
        assert result.replies == ["noted"]
        assert len(model.calls) == 3  # nothing called the model after the cancel
        history = await svc.list_messages(agent.id, limit=100)
        human = await svc.get_block(agent.id, "human")
    assert texts(history, Role.USER) == ["remember: tea", "still there?"]
    roles = [m.role for m in history]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.EVENT, Role.USER, Role.ASSISTANT, Role.TOOL]
    assert "Likes tea." in human.value


async def test_stream_disconnect_cancels_the_turn(tmp_path: Path) -> None:
    """Hanging up on the native SSE stream cancels the turn as well; the agent is free."""
    async with served(tmp_path, turn_timeout=30, busy_wait=5) as (svc, model, url):
        agent = await svc.create_agent("s", model="scripted")
        hang = Hang()
        model.policy = hang
        await post_then_hang_up(url, f"/memgpt/v1/agents/{agent.id}/messages/stream", {"text": "hi"}, hang)
        await asyncio.wait_for(hang.cancelled.wait(), 2)
        model.policy = None
        model.push(reply("hello"))
        assert (await svc.send_message(agent.id, "again")).replies == ["hello"]
        assert len(model.calls) == 2
        history = await svc.list_messages(agent.id, limit=100)
    assert texts(history, Role.USER) == ["hi", "again"]


async def test_busy_agent_answers_409_with_retry_after(tmp_path: Path) -> None:
    """A second message while a turn runs waits busy_wait, then 409 with Retry-After (and
    x-should-retry: nothing was stored); the first turn finishes normally."""
    async with served(tmp_path, turn_timeout=30, busy_wait=0.2) as (svc, model, url):
        agent = await svc.create_agent("b", model="scripted")
        hang = Hang()
        model.policy = hang
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            first = asyncio.create_task(http.post(f"/v1/agents/{agent.id}/messages", json=user("first")))
            await asyncio.wait_for(hang.started.wait(), 2)
            r = await http.post(f"/v1/agents/{agent.id}/messages", json=user("second"))
            assert r.status_code == 409, r.text
            assert r.json()["type"] == "AgentBusyError" and "MEMGPT_BUSY_WAIT" in r.json()["detail"]
            assert r.headers["retry-after"] == "1"
            assert r.headers["x-should-retry"] == "true"
            hang.release.set()
            assert (await first).status_code == 200
        history = await svc.list_messages(agent.id, limit=100)
    assert texts(history, Role.USER) == ["first"]


async def test_lease_held_elsewhere_is_waited_for_boundedly(settings: Settings) -> None:
    """A turn of another server (its lease, on another host) is waited for busy_wait, then
    AgentBusyError; once that lease is given back the agent answers."""
    model = ScriptedModel([reply("ok")])
    quick = settings.model_copy(update={"busy_wait": 0.1})
    async with AgentService(quick, models={"scripted": model}) as svc:
        agent = await svc.create_agent("l", model="scripted")
        unit = svc.kernel.unit
        assert await unit.acquire(agent.id, "elsewhere:1:abc", 60) is not None
        with pytest.raises(AgentBusyError) as caught:
            await asyncio.wait_for(svc.send_message(agent.id, "hi"), 3)
        assert caught.value.retry_after == 1
        await unit.release(agent.id, "elsewhere:1:abc")
        assert (await svc.send_message(agent.id, "hi")).replies == ["ok"]
        assert len(await svc.list_messages(agent.id)) == 3  # the refused input was not stored


async def test_tool_calls_past_the_cap_get_error_results(settings: Settings) -> None:
    """50 calls in one response: the first 5 run (5 passages), the other 45 get an error
    result naming the cap; every call keeps its result right after it on the wire."""
    calls = [
        ToolCallPart(id=f"call_{i}", name="archival_memory_insert",
                     arguments=json.dumps({"content": f"fact {i}", "request_heartbeat": False}))
        for i in range(50)
    ]
    burst = ModelResponse(message=Message(role=Role.ASSISTANT, parts=calls))
    model = ScriptedModel([burst, reply("stored what I could")])
    capped = settings.model_copy(update={"max_tool_calls_per_step": 5})
    async with AgentService(capped, models={"scripted": model}) as svc:
        agent = await svc.create_agent("t", model="scripted")
        result = await svc.send_message(agent.id, "store fifty facts")
        passages = await svc.list_passages(agent.id, limit=100)
        history = await svc.list_messages(agent.id, limit=200)
    assert result.replies == ["stored what I could"]  # the errors woke the model again
    assert sorted(p.text for p in passages) == sorted(f"fact {i}" for i in range(5))
    [made] = [m.tool_calls for m in history if len(m.tool_calls) == 50]  # ids as stored
    by_call = {r.call_id: r for m in history for r in m.tool_results}
    assert len(by_call) == 51  # 50 + the reply's send_message
    assert not any(by_call[c.id].is_error for c in made[:5])
    assert all(by_call[c.id].is_error and "at most 5" in by_call[c.id].content for c in made[5:])
    sent = model.calls[1].messages  # the second step's request, as a provider sends it
    wire = paired(sent)
    assert [m.role for m in wire] == [m.role for m in sent]  # nothing moved, nothing supplied
    assert [r.call_id for m in wire for r in m.tool_results] == [c.id for c in made]
