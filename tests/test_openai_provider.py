"""memgpt through the real openai SDK against a local fake chat-completions server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from fakes.openai_server import (
    FakeOpenAI, completion, context_overflow, delay, error, fake_openai, rate_limited, server_error,
)

from memgpt import AgentService, Settings
from memgpt.core.errors import ModelError
from memgpt.core.events import Delta, Event, MessageSaved
from memgpt.llm.openai_chat import OpenAIChatModel
from memgpt.core.schemas import Role

__all__ = ["fake_openai"]


def call(name: str, **args: object) -> tuple[str, str]:
    """A tool call as the fake server sends it."""
    return (name, json.dumps(args))


@pytest.fixture
async def svc(settings: Settings, fake_openai: FakeOpenAI) -> AsyncIterator[AgentService]:
    """A service whose model "gpt" is the openai SDK pointed at the fake server."""
    model = OpenAIChatModel("gpt-4o-mini", base_url=fake_openai.url, api_key="sk-test-secret",
                            timeout=0.5, max_retries=3)
    async with AgentService(settings, models={"gpt": model}) as service:
        await service.create_agent("a", model="gpt")
        yield service


async def test_heartbeat_chain(svc: AgentService, fake_openai: FakeOpenAI) -> None:
    """Memory edit with heartbeat, then send_message; the wire carries tools and results."""
    fake_openai.push(
        completion("Saving the name.", [call("core_memory_append", label="human",
                                             content="Name: Ada", request_heartbeat=True)],
                   prompt_tokens=900, completion_tokens=30, cached_tokens=512),
        completion(None, [call("send_message", message="Hi Ada!")]),
    )
    result = await svc.send_message("a", "I'm Ada")
    assert result.replies == ["Hi Ada!"]
    assert result.steps[0].messages[0].reasoning == "Saving the name."
    assert (await svc.get_block("a", "human")).value.endswith("Name: Ada")
    assert result.steps[0].usage.model_dump() == {
        "prompt_tokens": 900, "completion_tokens": 30, "cached_tokens": 512}
    first, second = fake_openai.requests
    assert first["tool_choice"] == "required"
    assert {t["function"]["name"] for t in first["tools"]} >= {"send_message", "archival_memory_search"}
    assert first["messages"][0]["role"] == "system"
    roles = [m["role"] for m in second["messages"]]
    assert roles[-4:] == ["user", "assistant", "tool", "user"]
    tool_msg = second["messages"][-2]
    assert tool_msg["tool_call_id"] == second["messages"][-3]["tool_calls"][0]["id"]
    assert second["messages"][-1]["content"].startswith("[system event] heartbeat")
    assert fake_openai.headers[0]["authorization"] == "Bearer sk-test-secret"


async def test_streamed_reply(svc: AgentService, fake_openai: FakeOpenAI) -> None:
    """Deltas stream through on_event and add up to the final tool call."""
    fake_openai.push(completion("Greeting.", [call("send_message", message="Hello, streamed world!")]))
    events: list[Event] = []

    async def collect(event: Event) -> None:
        events.append(event)

    result = await svc.send_message("a", "hi", on_event=collect)
    deltas = [e for e in events if isinstance(e, Delta)]
    args = "".join(d.text for d in deltas if d.kind == "tool_call")
    assert json.loads(args) == {"message": "Hello, streamed world!"}
    assert "".join(d.text for d in deltas if d.kind == "content") == "Greeting."
    assert len(deltas) > 3
    assert result.replies == ["Hello, streamed world!"]
    assert fake_openai.requests[0]["stream"] is True
    assert [e.message.role for e in events if isinstance(e, MessageSaved)] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert [type(e).__name__ for e in events if not isinstance(e, Delta)] == [
        "MessageSaved", "MessageSaved", "MessageSaved", "StepFinished", "RunFinished"]


@pytest.mark.parametrize("failures", [
    [rate_limited(0.01)],
    [server_error(), server_error()],
    [delay(1.5, then=completion("late", [call("send_message", message="too late")]))],
])
async def test_transient_faults_are_retried(
    svc: AgentService, fake_openai: FakeOpenAI, failures: list[object]
) -> None:
    """429 (Retry-After), two 500s, and a timeout are each retried to success."""
    fake_openai.push(*failures, completion(None, [call("send_message", message="made it")]))  # type: ignore[arg-type]
    result = await svc.send_message("a", "hello?")
    assert result.replies == ["made it"]
    assert len(fake_openai.requests) == len(failures) + 1


@pytest.mark.parametrize(("raw", "expected"), [
    ("{'message': 'single quotes',}", "single quotes"),
    ('```json\n{"message": "fenced"}\n```', "fenced"),
    ('{"message": "Python literal", "extra_flag": True}', None),
])
async def test_broken_tool_json_is_repaired(
    svc: AgentService, fake_openai: FakeOpenAI, raw: str, expected: str | None
) -> None:
    """Common breakage is repaired and recorded on the step."""
    fake_openai.push(completion(None, [("send_message", raw)]))
    if expected is None:  # repaired to JSON, then the unknown argument is the model's error
        fake_openai.push(completion(None, [call("send_message", message="fixed")]))
    result = await svc.send_message("a", "hi")
    assert result.steps[0].repairs, "repairs were not recorded"
    assert result.replies == [expected or "fixed"]


async def test_tool_call_written_as_text(svc: AgentService, fake_openai: FakeOpenAI) -> None:
    """A call written as JSON in the content (common with local models) still runs."""
    fake_openai.push(completion(
        '<tool_call>{"name": "send_message", "arguments": {"message": "from text"}}</tool_call>'))
    result = await svc.send_message("a", "hi")
    assert result.replies == ["from text"]
    assert any("written as text" in r for r in result.steps[0].repairs)


async def test_text_only_reply(svc: AgentService, fake_openai: FakeOpenAI) -> None:
    """Plain text with no tool call is the assistant's reply, not a failure."""
    fake_openai.push(completion("Just a plain answer."))
    result = await svc.send_message("a", "hi")
    assert result.replies == ["Just a plain answer."]
    assert len(result.steps) == 1


async def test_overflow_evicts_and_retries(svc: AgentService, fake_openai: FakeOpenAI) -> None:
    """The provider's overflow error triggers eviction into the summary and one retry."""
    for i in range(4):
        fake_openai.push(completion(None, [call("send_message", message=f"ok {i}")]))
        await svc.send_message("a", f"fact number {i}")
    fake_openai.push(
        context_overflow(),
        completion("The user listed four numbered facts."),  # the summarizer's answer
        completion(None, [call("send_message", message="still here")]),
    )
    result = await svc.send_message("a", "and one more")
    state = await svc.get_agent("a")
    assert result.replies == ["still here"]
    assert state.summary == "The user listed four numbered facts."
    assert state.context_start > 0
    summary_request = fake_openai.requests[-2]
    assert "tools" not in summary_request and "fact number 0" in summary_request["messages"][-1]["content"]
    assert "The user listed four numbered facts." in fake_openai.requests[-1]["messages"][0]["content"]


async def test_unrecoverable_error_keeps_input(svc: AgentService, fake_openai: FakeOpenAI) -> None:
    """A 401 raises a clear ModelError without the key; the user's message stays saved."""
    fake_openai.push(error(401, "Incorrect API key provided."))
    with pytest.raises(ModelError) as info:
        await svc.send_message("a", "remember me")
    assert "gpt" in str(info.value) and "401" in str(info.value)
    assert "sk-test-secret" not in str(info.value)
    assert [m.text for m in await svc.list_messages("a")] == ["remember me"]


async def test_spec_resolution_uses_base_url(settings: Settings, fake_openai: FakeOpenAI,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider/model@base_url name resolves to the SDK client on that server (where callers
    may name URLs: the CLI and library; a server allows only configured endpoints)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake_openai.push(completion(None, [call("send_message", message="via spec")]))
    spec = f"openai/gpt-4o-mini@{fake_openai.url}"
    async with AgentService(settings.model_copy(update={"trust_model_urls": True})) as service:
        agent = await service.create_agent("s", model=spec)
        result = await service.send_message("s", "hi")
    assert result.replies == ["via spec"]
    assert agent.context_window == 32768  # known 128k model, capped by max_default_window
    assert fake_openai.requests[0]["model"] == "gpt-4o-mini"
