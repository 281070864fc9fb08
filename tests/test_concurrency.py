"""One step at a time per agent; different agents in parallel."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from memgpt import AgentService, MemGPT, ModelRequest, ModelResponse, ScriptedModel, Settings
from memgpt.llm.scripted import reply
from memgpt.core.schemas import Message, Role


class EchoModel(ScriptedModel):
    """Replies "re: <input>" after yielding, and records overlapping calls per agent."""

    def __init__(self) -> None:
        super().__init__(policy=self.answer)
        self.in_flight: dict[str, int] = {}
        self.max_overlap: dict[str, int] = {}

    async def answer(self, request: ModelRequest) -> ModelResponse:
        agent = request.messages[1].agent_id
        self.in_flight[agent] = self.in_flight.get(agent, 0) + 1
        self.max_overlap[agent] = max(self.max_overlap.get(agent, 0), self.in_flight[agent])
        await asyncio.sleep(0.001)
        user = next(m for m in reversed(request.messages) if m.role is Role.USER)
        self.in_flight[agent] -= 1
        return reply(f"re: {user.text}")


def assert_turns_in_order(history: list[Message], n: int) -> None:
    """history is n whole turns (user, assistant, tool), each reply answering its input."""
    assert len(history) == 3 * n
    for i in range(0, len(history), 3):
        user, assistant, tool = history[i : i + 3]
        assert (user.role, assistant.role, tool.role) == (Role.USER, Role.ASSISTANT, Role.TOOL)
        assert assistant.sent_messages() == [f"re: {user.text}"]
        assert tool.tool_results[0].call_id == assistant.tool_calls[0].id


async def test_twenty_concurrent_sends_never_interleave(settings: Settings) -> None:
    """20 sends at once to one agent: all persisted, each turn whole."""
    model = EchoModel()
    async with AgentService(settings, models={"scripted": model}) as svc:
        agent = await svc.create_agent("c", model="scripted")
        texts = [f"message {i}" for i in range(20)]
        results = await asyncio.gather(*(svc.send_message(agent.id, t) for t in texts))
        history = await svc.list_messages(agent.id, limit=1000)
    assert [r.replies for r in results] == [[f"re: {t}"] for t in texts]
    assert sorted(m.text for m in history if m.role is Role.USER) == sorted(texts)
    assert_turns_in_order(history, 20)
    assert model.max_overlap[agent.id] == 1


async def test_different_agents_run_in_parallel(settings: Settings) -> None:
    """Two agents' model calls overlap: each waits for the other inside the model call."""
    barrier = asyncio.Barrier(2)

    async def meet(request: ModelRequest) -> ModelResponse:
        await asyncio.wait_for(barrier.wait(), timeout=10)
        return reply("met")

    model = ScriptedModel(policy=meet)
    async with AgentService(settings, models={"scripted": model}) as svc:
        a = await svc.create_agent("a", model="scripted")
        b = await svc.create_agent("b", model="scripted")
        results = await asyncio.gather(svc.send_message(a.id, "hi"), svc.send_message(b.id, "hi"))
    assert [r.replies for r in results] == [["met"], ["met"]]


def test_sync_wrapper_from_threads(settings: Settings) -> None:
    """The blocking API serializes sends from many threads to one agent."""
    model = EchoModel()
    with MemGPT(settings, models={"scripted": model}) as client:
        agent = client.create_agent("t", model="scripted")
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda i: client.send_message(agent.id, f"thread {i}"), range(16)))
        history = client.list_messages(agent.id, limit=1000)
    assert_turns_in_order(history, 16)
