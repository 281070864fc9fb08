"""Memory pressure: warning, eviction into recall, recursive summary, window never exceeded."""

from __future__ import annotations

import random

from memgpt import AgentService, ModelRequest, ModelResponse, ScriptedModel, Settings
from memgpt.llm.scripted import reply, text, tool_call
from memgpt.llm.tokens import count_messages, count_tools
from memgpt.core.schemas import Message, Role

WINDOW = 2000
UNIQUE = "quokkaberry"
VOCAB = (
    "garden river lantern copper meadow violin harbor thunder pepper canyon orbit velvet "
    "marble window journey basket candle glacier mosaic ferry summit puzzle ember willow"
).split()


def long_message(i: int) -> str:
    """A ~70-word user message; only the first contains the unique word."""
    rng = random.Random(i)
    words = " ".join(rng.choice(VOCAB) for _ in range(70))
    extra = f" My secret fruit is the {UNIQUE}." if i == 0 else ""
    return f"Message {i}: {words}.{extra}"


def policy(request: ModelRequest) -> ModelResponse:
    """Summarize when asked; save a note on a pressure alert; search when told; else ack."""
    if request.purpose == "summary":
        body = request.messages[-1].text
        first = next((ln for ln in body.splitlines() if ln.startswith("user: Message")), "")
        return text(f"The user sent long numbered messages of assorted words, latest {first[6:30]}.")
    last = request.messages[-1]
    if last.role is Role.EVENT and "memory pressure" in last.text:
        return tool_call("archival_memory_insert", content="User sends long word lists.",
                         request_heartbeat=True)
    if last.role is Role.USER and last.text.startswith("search "):
        return tool_call("conversation_search", query=last.text.split()[1], request_heartbeat=True)
    return reply("Got it.")


async def test_pressure_warns_evicts_and_keeps_everything(settings: Settings) -> None:
    """100 long messages through a 2,000-token window, as the paper's pressure mechanism."""
    model = ScriptedModel(policy=policy)
    async with AgentService(settings, models={"scripted": model}) as svc:
        agent = await svc.create_agent("p", model="scripted", context_window=WINDOW)
        for i in range(100):
            await svc.send_message(agent.id, long_message(i))
        growing = len(model.calls)
        found = await svc.send_message(agent.id, f"search {UNIQUE}")
        history = await svc.list_messages(agent.id, limit=10_000)
        state = await svc.get_agent(agent.id)
        report = await svc.context_window(agent.id)

    # no request, agent or summarizer, ever exceeded the window (prompt + reserved reply)
    sizes = [count_messages(c.messages) + count_tools(c.tools) + (c.max_tokens or 0)
             for c in model.calls]
    assert all(c.max_tokens for c in model.calls)
    assert max(sizes) <= WINDOW, max(sizes)
    assert report.total <= WINDOW

    # while the history grew message by message, a warning reached the model before every
    # eviction (the final search's five long results may jump past the limit in one step)
    evictions, warned = 0, False
    for call in model.calls[:growing]:
        if call.purpose == "summary":
            assert warned, "an eviction happened without a preceding warning"
            evictions, warned = evictions + 1, False
        elif call.messages[-1].role is Role.EVENT and "memory pressure" in call.messages[-1].text:
            warned = True
    assert evictions >= 5

    # everything stayed in recall, and the oldest message is still findable
    users = [m.text for m in history if m.role is Role.USER]
    assert users[:100] == [long_message(i) for i in range(100)]
    assert state.context_start > 0  # old messages left the window
    results = [r.content for m in found.messages for r in m.tool_results]
    assert UNIQUE in results[0] and "Message 0:" in results[0]

    # the recursive summary is in the context
    assert state.summary.startswith("The user sent long numbered messages")
    assert state.summary in model.calls[-1].system
    assert report.sections["summary"] > 10


async def test_provider_overflow_evicts_and_retries(settings: Settings) -> None:
    """When the provider reports overflow, the loop evicts about half and retries once."""
    from memgpt.core.errors import ContextOverflowError

    overflowed: list[int] = []

    def strict(request: ModelRequest) -> ModelResponse:
        if request.purpose == "summary":
            return text("Earlier: the user counted upwards.")
        if len(request.messages) > 12 and not overflowed:
            overflowed.append(len(request.messages))
            raise ContextOverflowError("provider says: maximum context length exceeded")
        return reply("ok")

    model = ScriptedModel(policy=strict)
    async with AgentService(settings, models={"scripted": model}) as svc:
        await svc.create_agent("o", model="scripted")
        for i in range(6):
            result = await svc.send_message("o", f"count {i}")
        state = await svc.get_agent("o")
        assert len(await svc.list_messages("o")) == 18
    assert overflowed and result.replies == ["ok"]
    assert state.summary == "Earlier: the user counted upwards."
    assert len(model.calls[-1].messages) <= overflowed[0] // 2 + 3


async def test_interrupted_step_resumes_cleanly(settings: Settings) -> None:
    """A tool call left without a result (a crash mid-step) gets one before the next call."""
    from memgpt.core.schemas import ReasoningPart, ToolCallPart

    model = ScriptedModel([reply("Back again.")])
    async with AgentService(settings, models={"scripted": model}) as svc:
        agent = await svc.create_agent("crash", model="scripted")
        dangling = ToolCallPart(id="call_lost", name="archival_memory_insert", arguments="{}")
        await svc.stores.recall.append(agent.id, [
            Message.user("remember this"),
            Message(role=Role.ASSISTANT, parts=[ReasoningPart(text="saving"), dangling]),
        ])
        result = await svc.send_message(agent.id, "are you there?")
    assert result.replies == ["Back again."]
    sent = model.calls[0].messages
    results = [r for m in sent for r in m.tool_results]
    assert [(r.call_id, r.is_error) for r in results] == [("call_lost", True)]
    assert [m.role for m in sent[1:]] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.USER]
