"""memgpt driven through the real anthropic SDK against the fake Anthropic Messages server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fakes.anthropic_server import (  # noqa: F401  (fake_anthropic is a fixture)
    FakeAnthropic, context_overflow, delay, error, fake_anthropic, message, rate_limited,
)
from memgpt import AgentService, Message, Settings
from memgpt.core.errors import ContextOverflowError, ModelError
from memgpt.llm.anthropic_messages import AnthropicModel
from memgpt.core.events import Delta, Event, MessageSaved
from memgpt.core.prompts import EVENT_PREFIX, FAILED_EVENT, HEARTBEAT_EVENT
from memgpt.core.schemas import Role

API_KEY = "sk-ant-test-key-0123456789"
FAST = {"retry-after": "0.01"}  # keeps the SDK's backoff short on retried errors


def send(text: str) -> Any:
    """A reply that is a single send_message tool_use."""
    return message(tool_uses=[("send_message", {"message": text})])


def service_for(settings: Settings, fake: FakeAnthropic, *, timeout: float = 5.0) -> AgentService:
    """An AgentService whose model "claude" is an AnthropicModel pointed at the fake."""
    model = AnthropicModel("claude-sonnet-4-6", base_url=fake.url, api_key=API_KEY, max_retries=3,
                           timeout=timeout)
    return AgentService(settings, models={"claude": model})


@pytest.fixture
async def svc(settings: Settings, fake_anthropic: FakeAnthropic) -> AsyncIterator[AgentService]:
    """An open service over the fake with an agent named "ada" on model "claude"."""
    async with service_for(settings, fake_anthropic) as service:
        await service.create_agent("ada", model="claude")
        yield service


class Collector:
    """An on_event listener that keeps every streamed delta and persisted message."""

    def __init__(self) -> None:
        self.deltas: list[Delta] = []
        self.messages: list[Message] = []

    async def __call__(self, event: Event) -> None:
        """Record one event."""
        if isinstance(event, Delta):
            self.deltas.append(event)
        elif isinstance(event, MessageSaved):
            self.messages.append(event.message)


def wire_texts(body: dict[str, Any]) -> list[str]:
    """Every text block of a recorded request's messages."""
    return [b["text"] for m in body["messages"] for b in m["content"] if b["type"] == "text"]


async def test_heartbeat_chain_over_the_wire(svc: AgentService, fake_anthropic: FakeAnthropic) -> None:
    """Text + core_memory_append with a heartbeat, then send_message: memory, reply and wire format."""
    fake_anthropic.push(
        message("The user told me their name; saving it.", [("core_memory_append", {
            "label": "human", "content": "Name: Ada Lovelace", "request_heartbeat": True})]),
        send("Lovely to meet you, Ada!"),
    )
    result = await svc.send_message("ada", "Hi, I'm Ada Lovelace.")

    assert (await svc.get_block("ada", "human")).value.endswith("Name: Ada Lovelace")
    assert result.replies == ["Lovely to meet you, Ada!"]
    assert [s.heartbeat for s in result.steps] == [True, False]
    first = result.steps[0].messages[0]
    assert first.reasoning == "The user told me their name; saving it."
    assert first.text == "" and [c.name for c in first.tool_calls] == ["core_memory_append"]
    sent = fake_anthropic.headers[0]  # this SDK version sends the key as a bearer token
    assert API_KEY in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))
    assert len(fake_anthropic.requests) == 2 and fake_anthropic.unscripted == 0

    body = fake_anthropic.requests[1]
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]
    tool_use = next(b for m in body["messages"] if m["role"] == "assistant"
                    for b in m["content"] if b["type"] == "tool_use")
    assert tool_use["name"] == "core_memory_append"
    assert tool_use["input"]["content"] == "Name: Ada Lovelace"
    assert tool_use["id"] == first.tool_calls[0].id
    after = body["messages"][roles.index("assistant") + 1]
    assert after["role"] == "user"
    assert after["content"][0]["type"] == "tool_result"
    assert after["content"][0]["tool_use_id"] == tool_use["id"]
    assert after["content"][0]["is_error"] is False
    assert EVENT_PREFIX + HEARTBEAT_EVENT in wire_texts(body)
    assert isinstance(body["system"], list) and body["system"]
    assert all(b["type"] == "text" and b["cache_control"] == {"type": "ephemeral"} for b in body["system"])
    assert "Name: Ada Lovelace" in body["system"][0]["text"]  # recompiled after the edit
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert all("cache_control" not in t for t in body["tools"][:-1])
    assert body["tool_choice"] == {"type": "any"}
    assert body["model"] == "claude-sonnet-4-6"


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
async def test_usage_maps_cache_tokens(svc: AgentService, fake_anthropic: FakeAnthropic, streamed: bool) -> None:
    """input + cache_read + cache_creation is the prompt; cache_read is the cached part."""
    fake_anthropic.push(message(tool_uses=[("send_message", {"message": "ok"})], input_tokens=50,
                                cache_read_input_tokens=1000, cache_creation_input_tokens=200,
                                output_tokens=30))
    collector = Collector()
    result = await svc.send_message("ada", "hello", on_event=collector if streamed else None)
    usage = result.steps[0].usage
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (1250, 1000, 30)
    assert bool(fake_anthropic.requests[0].get("stream")) is streamed


async def test_streamed_reply_deltas(svc: AgentService, fake_anthropic: FakeAnthropic) -> None:
    """Streaming: deltas arrive, the send_message deltas concatenate to its arguments."""
    fake_anthropic.push(message("Greet them warmly.", [("send_message", {"message": "Hello, streaming world!"})]))
    collector = Collector()
    result = await svc.send_message("ada", "stream please", on_event=collector)

    assert fake_anthropic.requests[0]["stream"] is True
    assert result.replies == ["Hello, streaming world!"]
    content = "".join(d.text for d in collector.deltas if d.kind == "content")
    assert content == "Greet them warmly."
    calls = [d for d in collector.deltas if d.kind == "tool_call"]
    starts = [d for d in calls if d.name == "send_message"]
    assert len(starts) == 1 and starts[0].call_id
    arguments = "".join(d.text for d in calls if d.index == starts[0].index)
    assert json.loads(arguments) == {"message": "Hello, streaming world!"}
    [persisted_call] = result.steps[0].messages[0].tool_calls
    assert persisted_call.id == starts[0].call_id
    assert json.loads(persisted_call.arguments) == json.loads(arguments)
    # persisted messages reach the listener too: the user input, the assistant reply, its tool result
    assert [m.role for m in collector.messages] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert collector.messages[1].reasoning == "Greet them warmly."


@pytest.mark.parametrize("failures", [
    pytest.param([rate_limited(0.01)], id="429"),
    pytest.param([error(529, "Overloaded", headers=FAST)], id="529-overloaded"),
    pytest.param([error(500, "Internal server error", headers=FAST)] * 2, id="500-twice"),
])
async def test_retryable_errors_then_success(svc: AgentService, fake_anthropic: FakeAnthropic,
                                             failures: list[Any]) -> None:
    """Retryable statuses are retried by the SDK and the turn succeeds."""
    fake_anthropic.push(*failures, send("made it"))
    result = await svc.send_message("ada", "are you there?")
    assert result.replies == ["made it"]
    assert len(fake_anthropic.requests) == len(failures) + 1
    assert fake_anthropic.pending == 0 and fake_anthropic.unscripted == 0
    assert fake_anthropic.requests[-1] == fake_anthropic.requests[0]  # the same request, resent


async def test_timeout_then_success(settings: Settings, fake_anthropic: FakeAnthropic) -> None:
    """A request that times out on the client is retried and the retry succeeds."""
    fake_anthropic.push(delay(1.0, then=send("too late")), send("on time"))
    async with service_for(settings, fake_anthropic, timeout=0.3) as service:
        await service.create_agent("ada", model="claude")
        result = await service.send_message("ada", "quick question")
    assert result.replies == ["on time"]
    assert len(fake_anthropic.requests) == 2


async def test_text_only_reply_is_delivered(svc: AgentService, fake_anthropic: FakeAnthropic) -> None:
    """A message with text and no tool_use is the reply, and the turn ends."""
    fake_anthropic.push(message("Just plain words, no tools."))
    result = await svc.send_message("ada", "say something")
    assert result.replies == ["Just plain words, no tools."]
    assert len(result.steps) == 1 and result.steps[0].stop_reason == "end_turn"
    assert result.steps[0].messages[0].text == "Just plain words, no tools."
    assert result.steps[0].messages[0].reasoning == ""


@pytest.mark.parametrize("overflow", [
    pytest.param(context_overflow(), id="prompt-too-long"),
    # Anthropic's wording when input + max_tokens is over the limit (a 400 invalid_request_error)
    pytest.param(error(400, "input length and `max_tokens` exceed context limit: 197904 + 4096 > 200000, "
                            "decrease input length or `max_tokens` and try again"), id="input-plus-max-tokens"),
])
async def test_context_overflow_evicts_and_retries(svc: AgentService, fake_anthropic: FakeAnthropic,
                                                   overflow: Any) -> None:
    """A 400 context-limit refusal evicts older messages into a summary and retries once."""
    for i in range(3):
        fake_anthropic.push(send(f"answer number {i}"))
        await svc.send_message("ada", f"question number {i} about the history of computing")
    before = await svc.get_agent("ada")
    assert before.context_start == 0 and before.summary == ""

    fake_anthropic.push(overflow, message("summary text"), send("fits now"))
    result = await svc.send_message("ada", "one more question")

    assert result.replies == ["fits now"]
    after = await svc.get_agent("ada")
    assert after.summary == "summary text"
    assert after.context_start > 0
    overflowed, summary_request, retried = fake_anthropic.requests[3:]
    assert "tools" not in summary_request and "question number 0" in json.dumps(summary_request["messages"])
    assert len(retried["messages"]) < len(overflowed["messages"])
    assert "summary text" in retried["system"][0]["text"]
    assert "question number 0" not in json.dumps(retried["messages"])
    assert retried["messages"][0]["role"] == "user"
    assert wire_texts(retried)[-1] == "one more question"
    assert fake_anthropic.pending == 0


async def test_overflow_twice_raises(svc: AgentService, fake_anthropic: FakeAnthropic) -> None:
    """If the retry after eviction overflows again, ContextOverflowError reaches the caller."""
    for i in range(2):
        fake_anthropic.push(send(f"answer {i}"))
        await svc.send_message("ada", f"question {i}")
    fake_anthropic.push(context_overflow(), message("summary"), context_overflow())
    with pytest.raises(ContextOverflowError, match="prompt is too long"):
        await svc.send_message("ada", "and another")
    assert (await svc.list_messages("ada"))[-1].text == "and another"


@pytest.mark.parametrize(("status", "text"), [
    (400, "messages.1.content: tool_use ids must be unique"),
    (401, "invalid x-api-key"),
])
async def test_unrecoverable_error_raises_model_error(svc: AgentService, fake_anthropic: FakeAnthropic,
                                                      status: int, text: str) -> None:
    """Non-retryable refusals raise ModelError naming the model, never leaking the key."""
    fake_anthropic.push(error(status, text))
    with pytest.raises(ModelError) as info:
        await svc.send_message("ada", "this will fail")
    assert not isinstance(info.value, ContextOverflowError)
    message_text = str(info.value)
    assert "claude-sonnet-4-6" in message_text
    assert f"HTTP {status}" in message_text and text in message_text
    assert API_KEY not in message_text and API_KEY not in repr(info.value)
    assert len(fake_anthropic.requests) == 1  # not retried
    history = await svc.list_messages("ada")
    assert [m.role for m in history] == [Role.USER]
    assert history[0].text == "this will fail"


async def test_streamed_trailing_comma_is_repaired(svc: AgentService, fake_anthropic: FakeAnthropic) -> None:
    """Streamed tool input with a trailing comma is repaired and the call runs."""
    fake_anthropic.push(message(tool_uses=[("send_message", '{"message": "repaired!",}')]))
    result = await svc.send_message("ada", "hi", on_event=Collector())
    assert fake_anthropic.requests[0]["stream"] is True
    assert result.replies == ["repaired!"]
    assert any("trailing comma" in r for r in result.steps[0].repairs)
    [call] = result.steps[0].messages[0].tool_calls
    assert json.loads(call.arguments) == {"message": "repaired!"}


async def test_streamed_broken_json_becomes_error_result(svc: AgentService,
                                                         fake_anthropic: FakeAnthropic) -> None:
    """Unrepairable streamed tool input becomes an error tool result; the loop goes on."""
    broken = '{"message": "unterminated'
    fake_anthropic.push(message("Replying.", [("send_message", broken)]), send("second try worked"))
    result = await svc.send_message("ada", "hi", on_event=Collector())

    assert result.replies == ["second try worked"]
    assert len(result.steps) == 2
    [call] = result.steps[0].messages[0].tool_calls
    assert call.arguments == broken
    [tool_result] = result.steps[0].messages[1].tool_results
    assert tool_result.is_error and "not valid JSON" in tool_result.content
    assert result.steps[0].messages[2].role is Role.EVENT and result.steps[0].messages[2].text == FAILED_EVENT

    body = fake_anthropic.requests[1]
    tool_use = next(b for m in body["messages"] for b in m["content"] if b["type"] == "tool_use")
    assert tool_use["input"] == {"_unparsed_arguments": broken}
    wire_result = next(b for m in body["messages"] for b in m["content"] if b["type"] == "tool_result")
    assert wire_result["tool_use_id"] == tool_use["id"] and wire_result["is_error"] is True
    assert EVENT_PREFIX + FAILED_EVENT in wire_texts(body)
