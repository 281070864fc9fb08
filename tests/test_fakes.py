"""The fake LLM servers, exercised with the official openai and anthropic SDK clients (not memgpt)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import anthropic
import openai
import pytest

from fakes import anthropic_server as fa
from fakes import openai_server as fo
from fakes.anthropic_server import FakeAnthropic, fake_anthropic  # noqa: F401  (fixture)
from fakes.openai_server import FakeOpenAI, fake_openai  # noqa: F401  (fixture)

MESSAGES: Any = [{"role": "user", "content": "hi"}]
ARGS = '{"message": "Hello there, how are you doing today?"}'
BROKEN = '{"message": "unterminated'


def oai(fake: FakeOpenAI, **kw: Any) -> openai.OpenAI:
    """An OpenAI client pointed at the fake."""
    return openai.OpenAI(base_url=fake.url, api_key="test", **{"max_retries": 0, **kw})


def ant(fake: FakeAnthropic, **kw: Any) -> anthropic.Anthropic:
    """An Anthropic client pointed at the fake."""
    return anthropic.Anthropic(base_url=fake.url, api_key="test", **{"max_retries": 0, **kw})


def chat(client: openai.OpenAI, **kw: Any) -> Any:
    """One chat completion request."""
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **kw)


def ask(client: anthropic.Anthropic, **kw: Any) -> Any:
    """One messages request."""
    return client.messages.create(model="claude-sonnet-4-6", max_tokens=256, messages=MESSAGES, **kw)


# --- OpenAI -----------------------------------------------------------------------------------------


def test_openai_completion_with_tool_calls(fake_openai: FakeOpenAI) -> None:
    fake_openai.push(fo.completion("Thinking.", [("send_message", ARGS), ("archival_search", '{"q": "x"}')],
                                   prompt_tokens=123, completion_tokens=45, cached_tokens=67))
    r = chat(oai(fake_openai), tools=[{"type": "function", "function": {"name": "send_message"}}])
    choice = r.choices[0]
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == "gpt-4o-mini"
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Thinking."
    calls = choice.message.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("send_message", ARGS), ("archival_search", '{"q": "x"}')]
    assert all(c.id.startswith("call_") and c.type == "function" for c in calls)
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (123, 45, 168)
    assert r.usage.prompt_tokens_details.cached_tokens == 67
    assert fake_openai.requests[0]["messages"] == MESSAGES
    assert fake_openai.requests[0]["tools"][0]["function"]["name"] == "send_message"
    assert fake_openai.headers[0]["authorization"] == "Bearer test"
    assert fake_openai.unscripted == 0 and fake_openai.pending == 0


def test_openai_plain_text_stops(fake_openai: FakeOpenAI) -> None:
    fake_openai.push(fo.completion("Hi!"), fo.completion("cut", finish_reason="length"))
    client = oai(fake_openai)
    r = chat(client)
    assert r.choices[0].message.content == "Hi!" and r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason == "stop"
    assert chat(client).choices[0].finish_reason == "length"


def test_openai_streaming_reassembles(fake_openai: FakeOpenAI) -> None:
    reply = fo.completion("Hello there, streaming world!", [("send_message", ARGS), ("broken", BROKEN)],
                          prompt_tokens=321, completion_tokens=54, cached_tokens=12)
    fake_openai.push(reply, reply)
    client = oai(fake_openai)
    whole = chat(client)
    chunks = list(chat(client, stream=True, stream_options={"include_usage": True}))
    assert fake_openai.requests[1]["stream"] is True
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    content_deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_deltas) > 2
    calls: dict[int, dict[str, Any]] = {}
    arg_deltas = 0
    for c in chunks:
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            if d.id:
                assert d.type == "function" and d.function.name
                calls[d.index] = {"id": d.id, "name": d.function.name, "arguments": d.function.arguments or ""}
            elif d.function and d.function.arguments:
                arg_deltas += 1
                calls[d.index]["arguments"] += d.function.arguments
    assert arg_deltas > 4
    assert "".join(content_deltas) == whole.choices[0].message.content
    expected = [(t.function.name, t.function.arguments) for t in whole.choices[0].message.tool_calls]
    assert [(calls[i]["name"], calls[i]["arguments"]) for i in sorted(calls)] == expected
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump() == whole.usage.model_dump()
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_streaming_without_usage_and_helper(fake_openai: FakeOpenAI) -> None:
    fake_openai.push(fo.completion("abc def ghi", [("send_message", ARGS)]), fo.completion("Final text."))
    client = oai(fake_openai)
    chunks = list(chat(client, stream=True))
    assert all(c.usage is None and len(c.choices) == 1 for c in chunks)
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Final text."


async def test_openai_async_streaming(fake_openai: FakeOpenAI) -> None:
    fake_openai.push(fo.completion("async works", [("send_message", ARGS)], cached_tokens=5))
    client = openai.AsyncOpenAI(base_url=fake_openai.url, api_key="test", max_retries=0)
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
    text, args, usage = "", "", None
    async for c in stream:
        usage = c.usage or usage
        for choice in c.choices:
            text += choice.delta.content or ""
            args += "".join(t.function.arguments or "" for t in choice.delta.tool_calls or [])
    await client.close()
    assert (text, args) == ("async works", ARGS)
    assert usage is not None and usage.prompt_tokens_details.cached_tokens == 5


@pytest.mark.parametrize("failure", [fo.rate_limited(0), fo.server_error()], ids=["429", "500"])
def test_openai_sdk_retries_then_succeeds(fake_openai: FakeOpenAI, failure: fo.Reply) -> None:
    fake_openai.push(failure, fo.completion("ok"))
    r = chat(oai(fake_openai, max_retries=2))
    assert r.choices[0].message.content == "ok"
    assert len(fake_openai.requests) == 2
    assert [h["x-stainless-retry-count"] for h in fake_openai.headers] == ["0", "1"]


def test_openai_errors_without_retries(fake_openai: FakeOpenAI) -> None:
    fake_openai.push(fo.rate_limited(0), fo.server_error())
    client = oai(fake_openai)
    with pytest.raises(openai.RateLimitError) as rl:
        chat(client)
    assert rl.value.response.headers["retry-after"] == "0" and rl.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError) as ise:
        chat(client)
    assert ise.value.type == "server_error" and ise.value.request_id


def test_openai_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.push(fo.delay(5, fo.completion("too late")))
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        chat(oai(fake_openai, timeout=0.2))
    assert time.monotonic() - start < 2


def test_openai_context_overflow(fake_openai: FakeOpenAI) -> None:
    fake_openai.push(fo.context_overflow())
    with pytest.raises(openai.BadRequestError) as exc:
        chat(oai(fake_openai, max_retries=2))
    assert exc.value.status_code == 400 and exc.value.code == "context_length_exceeded"
    assert "This model's maximum context length is 128000 tokens" in exc.value.message
    assert exc.value.type == "invalid_request_error" and exc.value.param == "messages"
    assert len(fake_openai.requests) == 1


def test_openai_malformed_arguments_verbatim(fake_openai: FakeOpenAI) -> None:
    fake_openai.push(fo.completion(None, [("send_message", BROKEN)]), fo.completion(None, [("x", "not json")]))
    client = oai(fake_openai)
    r = chat(client)
    assert r.choices[0].message.content is None
    assert r.choices[0].message.tool_calls[0].function.arguments == BROKEN
    chunks = list(chat(client, stream=True))
    deltas = [t.function.arguments or "" for c in chunks for t in c.choices[0].delta.tool_calls or []]
    assert "".join(deltas) == "not json"


def test_openai_unscripted_and_models(fake_openai: FakeOpenAI) -> None:
    client = oai(fake_openai, max_retries=2)
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini", "gpt-4o", "gpt-4.1"]
    with pytest.raises(openai.InternalServerError, match="no reply was scripted"):
        chat(client)
    assert fake_openai.unscripted == 1 and len(fake_openai.requests) == 1  # x-should-retry: false


# OpenAI's pairing rules for tool calls and tool messages, as the real API enforces them
ASK: Any = {"role": "user", "content": "remember this"}


def calls(*ids: str) -> dict[str, Any]:
    """An assistant message calling a tool once per id."""
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": i, "type": "function", "function": {"name": "core_memory_append", "arguments": "{}"}} for i in ids]}


def answer(call_id: str) -> dict[str, Any]:
    """A tool message answering one call."""
    return {"role": "tool", "tool_call_id": call_id, "content": "OK"}


@pytest.mark.parametrize("messages, message, param", [
    ([ASK, answer("call_a")],
     "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
     "messages.[1].role"),
    ([ASK, calls("call_a"), answer("call_a"), ASK, answer("call_a")],  # a second answer, after a user turn
     "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
     "messages.[4].role"),
    ([ASK, calls("call_a"), answer("call_b")],
     "Invalid parameter: 'tool_call_id' of 'call_b' not found in 'tool_calls' of previous message.",
     "messages.[2].tool_call_id"),
    ([ASK, calls("call_a", "call_b"), answer("call_a"), ASK],
     "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
     "'tool_call_id'. The following tool_call_ids did not have response messages: call_b", "messages.[3].role"),
    ([ASK, calls("call_a"), ASK, answer("call_a")],  # the answer comes too late
     "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
     "'tool_call_id'. The following tool_call_ids did not have response messages: call_a", "messages.[2].role"),
    ([ASK, calls("call_a")],
     "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
     "'tool_call_id'. The following tool_call_ids did not have response messages: call_a", "messages.[1].role"),
], ids=["tool-without-call", "tool-after-user-turn", "unknown-tool-call-id", "call-unanswered",
        "answer-too-late", "call-last"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_rejects_unpaired_tool_messages(fake_openai: FakeOpenAI, messages: Any, message: str,
                                               param: str, stream: bool) -> None:
    """A tool message must answer a call of the assistant message before it, and every call must
    be answered right after: otherwise 400 invalid_request_error, and no reply is generated."""
    fake_openai.push(fo.completion("never sent"))
    with pytest.raises(openai.BadRequestError) as exc:
        oai(fake_openai, max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=messages,
                                                                stream=stream)
    assert exc.value.status_code == 400 and exc.value.message == f"Error code: 400 - {message}"
    assert exc.value.type == "invalid_request_error" and exc.value.param == param and exc.value.code is None
    assert exc.value.body == {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    assert len(fake_openai.requests) == 1 and len(fake_openai.rejected) == 1  # not retried
    assert fake_openai.pending == 1 and fake_openai.unscripted == 0


def test_openai_accepts_paired_tool_messages(fake_openai: FakeOpenAI) -> None:
    """Answers in any order right after the calls, several rounds, then text: accepted."""
    fake_openai.push(fo.completion("fine"))
    messages = [{"role": "system", "content": "sys"}, ASK, calls("call_a", "call_b"), answer("call_b"),
                answer("call_a"), {"role": "user", "content": "[event] heartbeat"}, calls("call_c"),
                answer("call_c"), {"role": "assistant", "content": "done"}, ASK]
    r = oai(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert r.choices[0].message.content == "fine" and fake_openai.rejected == []


# --- Anthropic --------------------------------------------------------------------------------------


def test_anthropic_message_with_tool_uses(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.push(fa.message("Let me check.", [("send_message", {"message": "hi"}), ("search", '{"q": 1}')],
                                   input_tokens=111, output_tokens=22, cache_read_input_tokens=33,
                                   cache_creation_input_tokens=44))
    m = ask(ant(fake_anthropic), tools=[{"name": "send_message", "input_schema": {"type": "object"}}])
    assert m.type == "message" and m.id.startswith("msg_") and m.model == "claude-sonnet-4-6"
    assert m.stop_reason == "tool_use" and [b.type for b in m.content] == ["text", "tool_use", "tool_use"]
    assert m.content[0].text == "Let me check."
    assert [(b.name, b.input) for b in m.content[1:]] == [("send_message", {"message": "hi"}), ("search", {"q": 1})]
    assert all(b.id.startswith("toolu_") for b in m.content[1:])
    u = m.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (
        111, 22, 33, 44)
    req = fake_anthropic.requests[0]
    assert req["messages"] == MESSAGES and req["max_tokens"] == 256 and req["tools"][0]["name"] == "send_message"
    assert "anthropic-version" in fake_anthropic.headers[0]
    assert fake_anthropic.unscripted == 0 and fake_anthropic.pending == 0


def test_anthropic_plain_text(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.push(fa.message("Hello!"), fa.message("cut", stop_reason="max_tokens"))
    client = ant(fake_anthropic)
    m = ask(client)
    assert m.stop_reason == "end_turn" and [b.text for b in m.content] == ["Hello!"]
    assert ask(client).stop_reason == "max_tokens"


def test_anthropic_streaming_events_and_reassembly(fake_anthropic: FakeAnthropic) -> None:
    reply = fa.message("Hello there, streaming world!", [("send_message", {"message": "hi", "n": 3})],
                       input_tokens=77, output_tokens=31, cache_read_input_tokens=9)
    fake_anthropic.push(reply, reply, reply)
    client = ant(fake_anthropic)
    whole = ask(client)
    events = list(ask(client, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == 2 and kinds.count("content_block_stop") == 2
    text = [e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"]
    parts = [e.delta.partial_json for e in events if e.type == "content_block_delta"
             and e.delta.type == "input_json_delta"]
    assert len(text) > 2 and len([p for p in parts if p]) > 2
    assert "".join(text) == whole.content[0].text and json.loads("".join(parts)) == whole.content[1].input
    assert events[0].message.usage.cache_read_input_tokens == 9
    assert events[-2].delta.stop_reason == "tool_use" and events[-2].usage.output_tokens == 31
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=256, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert [b.model_dump(exclude={"id"}) for b in final.content] == [
        b.model_dump(exclude={"id"}) for b in whole.content]
    assert final.usage.model_dump() == whole.usage.model_dump() and final.stop_reason == "tool_use"


async def test_anthropic_async_streaming(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.push(fa.message("async works", [("send_message", {"message": "hi"})], output_tokens=7))
    client = anthropic.AsyncAnthropic(base_url=fake_anthropic.url, api_key="test", max_retries=0)
    async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=256, messages=MESSAGES) as stream:
        final = await stream.get_final_message()
    await client.close()
    assert final.content[0].text == "async works" and final.content[1].input == {"message": "hi"}
    assert final.usage.output_tokens == 7


@pytest.mark.parametrize("failure", [fa.rate_limited(0), fa.server_error(), fa.overloaded()],
                         ids=["429", "500", "529"])
def test_anthropic_sdk_retries_then_succeeds(fake_anthropic: FakeAnthropic, failure: fa.Reply) -> None:
    fake_anthropic.push(failure, fa.message("ok"))
    m = ask(ant(fake_anthropic, max_retries=2))
    assert m.content[0].text == "ok" and len(fake_anthropic.requests) == 2


def test_anthropic_errors_without_retries(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.push(fa.rate_limited(0), fa.overloaded(), fa.server_error())
    client = ant(fake_anthropic)
    with pytest.raises(anthropic.RateLimitError) as rl:
        ask(client)
    assert rl.value.type == "rate_limit_error" and rl.value.response.headers["retry-after"] == "0"
    with pytest.raises(anthropic.OverloadedError) as ov:
        ask(client)
    assert ov.value.status_code == 529 and ov.value.type == "overloaded_error"
    with pytest.raises(anthropic.InternalServerError) as ise:
        ask(client)
    assert ise.value.type == "api_error" and ise.value.request_id


def test_anthropic_timeout(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.push(fa.delay(5, fa.message("too late")))
    start = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        ask(ant(fake_anthropic, timeout=0.2))
    assert time.monotonic() - start < 2


def test_anthropic_context_overflow(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.push(fa.context_overflow(250000, 200000))
    with pytest.raises(anthropic.BadRequestError) as exc:
        ask(ant(fake_anthropic, max_retries=2))
    assert exc.value.status_code == 400 and exc.value.type == "invalid_request_error"
    assert exc.value.api_message == "prompt is too long: 250000 tokens > 200000 maximum"
    assert len(fake_anthropic.requests) == 1


def test_anthropic_malformed_tool_input_verbatim(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.push(fa.message(None, [("send_message", BROKEN)]), fa.message(None, [("send_message", BROKEN)]))
    client = ant(fake_anthropic)
    m = ask(client)
    assert m.content[0].type == "tool_use" and m.content[0].input == BROKEN
    events = list(ask(client, stream=True))
    parts = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert "".join(parts) == BROKEN


def test_anthropic_unscripted_and_models(fake_anthropic: FakeAnthropic) -> None:
    client = ant(fake_anthropic, max_retries=2)
    assert [m.id for m in client.models.list()] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    with pytest.raises(anthropic.InternalServerError, match="no reply was scripted"):
        ask(client)
    assert fake_anthropic.unscripted == 1 and len(fake_anthropic.requests) == 1


# Anthropic's pairing rules for tool_use and tool_result blocks, as the real API enforces them
HI: Any = {"role": "user", "content": [{"type": "text", "text": "remember this"}]}


def uses(*ids: str) -> dict[str, Any]:
    """An assistant turn with a tool_use block per id."""
    return {"role": "assistant", "content": [{"type": "text", "text": "on it"}, *(
        {"type": "tool_use", "id": i, "name": "core_memory_append", "input": {}} for i in ids)]}


def results(*ids: str, text: str | None = None, text_first: bool = False) -> dict[str, Any]:
    """A user turn with a tool_result block per id (and text after them, or before)."""
    blocks: list[dict[str, Any]] = [{"type": "tool_result", "tool_use_id": i, "content": "OK"} for i in ids]
    words = [{"type": "text", "text": text}] if text else []
    return {"role": "user", "content": words + blocks if text_first else blocks + words}


def unexpected(where: str, tool_use_id: str) -> str:
    return (f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. Each `tool_result` "
            "block must have a corresponding `tool_use` block in the previous message.")


def unanswered(where: str, ids: str) -> str:
    return (f"{where}: `tool_use` ids were found without `tool_result` blocks immediately after: {ids}. Each "
            "`tool_use` block must have a corresponding `tool_result` block in the next message.")


@pytest.mark.parametrize("messages, message", [
    ([results("toolu_a")], unexpected("messages.0.content.0", "toolu_a")),
    ([HI, {"role": "assistant", "content": "plain"}, results("toolu_a")],
     unexpected("messages.2.content.0", "toolu_a")),
    ([HI, uses("toolu_a"), results("toolu_a", "toolu_b")], unexpected("messages.2.content.1", "toolu_b")),
    ([HI, uses("toolu_a"), results("toolu_a"), uses("toolu_b"), results("toolu_b", "toolu_a")],  # stale id
     unexpected("messages.4.content.1", "toolu_a")),
    ([HI, uses("toolu_a", "toolu_b"), results("toolu_a", text="go on")], unanswered("messages.1", "toolu_b")),
    ([HI, uses("toolu_a"), HI], unanswered("messages.1", "toolu_a")),
    ([HI, uses("toolu_a")], unanswered("messages.1", "toolu_a")),
    ([HI, uses("toolu_a", "toolu_b"), results("toolu_a", "toolu_b", text="[event] heartbeat", text_first=True)],
     "messages.2: Did not find 2 tool_result block(s) at the beginning of this message. Messages following "
     "tool_use blocks must begin with a matching number of tool_result blocks."),
], ids=["result-first", "result-after-plain-turn", "unknown-tool-use-id", "result-for-older-turn",
        "use-half-answered", "use-unanswered", "use-last", "text-before-results"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic_rejects_unpaired_tool_blocks(fake_anthropic: FakeAnthropic, messages: Any, message: str,
                                                stream: bool) -> None:
    """A tool_result must answer a tool_use of the turn before it, and every tool_use must be
    answered in the next turn: otherwise 400 invalid_request_error, and no reply is generated."""
    fake_anthropic.push(fa.message("never sent"))
    with pytest.raises(anthropic.BadRequestError) as exc:
        ant(fake_anthropic, max_retries=2).messages.create(model="claude-sonnet-4-6", max_tokens=256,
                                                           messages=messages, stream=stream)
    assert exc.value.status_code == 400 and exc.value.type == "invalid_request_error"
    assert exc.value.api_message == message
    assert isinstance(exc.value.body, dict) and exc.value.body["type"] == "error"
    assert exc.value.body["request_id"].startswith("req_")
    assert len(fake_anthropic.requests) == 1 and len(fake_anthropic.rejected) == 1  # not retried
    assert fake_anthropic.pending == 1 and fake_anthropic.unscripted == 0


def test_anthropic_accepts_paired_tool_blocks(fake_anthropic: FakeAnthropic) -> None:
    """Results in any order in the next turn (text after them), several rounds: accepted."""
    fake_anthropic.push(fa.message("fine"))
    messages = [HI, uses("toolu_a", "toolu_b"), results("toolu_b", "toolu_a", text="[event] heartbeat"),
                uses("toolu_c"), results("toolu_c"), {"role": "assistant", "content": "done"}, HI]
    m = ant(fake_anthropic).messages.create(model="claude-sonnet-4-6", max_tokens=256, messages=messages)
    assert m.content[0].text == "fine" and fake_anthropic.rejected == []


# --- lifecycle --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [FakeOpenAI, FakeAnthropic])
def test_close_is_prompt_and_joins_threads(kind: type[FakeOpenAI] | type[FakeAnthropic]) -> None:
    before = set(threading.enumerate())
    fake = kind()
    if isinstance(fake, FakeOpenAI):
        fake.push(fo.completion("a"), fo.delay(30, fo.completion("b")))
        client: Any = oai(fake, timeout=0.2)
        chat(client)
        with pytest.raises(openai.APITimeoutError):
            chat(client)
    else:
        fake.push(fa.message("a"), fa.delay(30, fa.message("b")))
        client = ant(fake, timeout=0.2)
        ask(client)
        with pytest.raises(anthropic.APITimeoutError):
            ask(client)
    start = time.monotonic()  # the client still holds a pooled keep-alive connection, and a reply is delayed
    fake.close()
    fake.close()  # idempotent
    assert time.monotonic() - start < 1
    assert set(threading.enumerate()) <= before
    client.close()
