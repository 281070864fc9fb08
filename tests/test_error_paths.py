"""Failures answered as stable JSON errors on a connection that stays open, and text no store
can keep refused before anything is stored.

One uvicorn server (tests/serve.py) serves agents on three models: a scripted one, the openai
SDK against the fake OpenAI server and the anthropic SDK against the fake Anthropic server, so
malformed replies go through the real SDKs and the real HTTP stack.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fakes import anthropic_server as fa
from fakes.openai_server import FakeOpenAI, Reply, completion, raw

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import InvalidTextError
from memgpt.llm.anthropic_messages import AnthropicModel
from memgpt.llm.openai_chat import OpenAIChatModel
from memgpt.llm.scripted import reply
from memgpt.server import create_app
from memgpt.server.errors import unstorable_text
from serve import serving_app

pytestmark = pytest.mark.asyncio(loop_scope="module")
HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"
JSON = {"content-type": "application/json"}


class Served:
    """The running server, its models and fakes."""

    def __init__(self, service: AgentService, url: str, scripted: ScriptedModel,
                 openai: FakeOpenAI, anthropic: fa.FakeAnthropic) -> None:
        self.service, self.url, self.scripted = service, url, scripted
        self.fakes: dict[str, FakeOpenAI | fa.FakeAnthropic] = {"gpt": openai, "claude": anthropic}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    scripted = ScriptedModel()
    with FakeOpenAI() as openai, fa.FakeAnthropic() as anthropic:
        models = {
            "scripted": scripted,
            "gpt": OpenAIChatModel("gpt-4o-mini", base_url=openai.url, api_key="sk-test", timeout=5),
            "claude": AnthropicModel("claude-haiku-4-5", base_url=anthropic.url, api_key="sk-test", timeout=5),
        }
        settings = Settings(home=tmp_path_factory.mktemp("errors"))
        async with AgentService(settings, models=models) as service:
            async with serving_app(create_app(service)) as url:
                yield Served(service, url, scripted, openai, anthropic)


@pytest_asyncio.fixture(loop_scope="module")
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    """One client with a single keep-alive connection."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=served.url, timeout=30, limits=limits) as client:
        yield client


async def agent(http: httpx.AsyncClient, model: str = "scripted") -> str:
    r = await http.post("/v1/agents/", json={"name": f"e-{uuid.uuid4().hex[:8]}", "model": model})
    assert r.status_code == 200, r.text
    agent_id: str = r.json()["id"]
    return agent_id


def local_port(r: httpx.Response) -> int:
    """The client's port of the connection that carried this response."""
    port: int = r.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


def error_of(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-should-retry"] == "false"
    body: dict[str, Any] = r.json()
    assert body["type"] == kind and isinstance(body["detail"], str), body
    return body


async def texts(http: httpx.AsyncClient, agent_id: str) -> list[str]:
    """The agent's user messages, as the Letta API lists them."""
    r = await http.get(f"/v1/agents/{agent_id}/messages")
    return [m["content"] for m in r.json() if m["message_type"] == "user_message"]


# --- keep-alive -----------------------------------------------------------------------------------
async def test_errors_keep_the_connection(
    served: Served, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash (500) and an out-of-range number (400) are answered as JSON on a connection that
    stays open: the next requests go over the same socket and succeed."""
    agent_id = await agent(http)
    first = await http.get("/v1/agents/")
    assert first.status_code == 200
    port = local_port(first)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(AgentService, "find_agents", boom)  # what GET /v1/agents/ runs
    crashed = await http.get("/v1/agents/")
    assert error_of(crashed, 500, "internal_error")["detail"] == "internal server error: RuntimeError"
    monkeypatch.undo()
    after = await http.get("/v1/agents/")
    assert after.status_code == 200 and local_port(after) == port
    huge = await http.get(f"/memgpt/v1/agents/{agent_id}/messages", params={"after": 10**20})
    error_of(huge, 400, "out_of_range")
    again = await http.get(f"/v1/agents/{agent_id}")
    assert again.status_code == 200 and local_port(again) == port
    assert "close" not in {crashed.headers.get("connection"), huge.headers.get("connection")}


# --- malformed model replies ----------------------------------------------------------------------
OPENAI_BAD = {
    "not json": [raw("this is not json")],
    "html page with 200": [raw(HTML, "text/html")],
    "no choices": [raw("{}")],
    "choices of the wrong type": [raw('{"choices": "x"}')],
    "choice without message": [raw('{"choices": [{"index": 0, "message": null}]}')],
    "empty reply": [completion(None), completion("")],
}
ANTHROPIC_BAD = {
    "not json": [raw("this is not json")],
    "html page with 200": [raw(HTML, "text/html")],
    "no content": [raw('{"type": "message"}')],
    "text of the wrong type": [raw('{"type": "message", "content": [{"type": "text", "text": 5}]}')],
    "empty reply": [fa.message(None), fa.message([])],
}
CASES = [("gpt", name, r) for name, r in OPENAI_BAD.items()] + [
    ("claude", name, r) for name, r in ANTHROPIC_BAD.items()]


def good(model: str, text: str) -> Reply:
    """A reply saying ``text`` through send_message."""
    args = json.dumps({"message": text})
    return completion(None, [("send_message", args)]) if model == "gpt" else fa.message(
        None, [("send_message", {"message": text})])


@pytest.mark.parametrize(("model", "name", "replies"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
async def test_malformed_reply_is_502_and_keeps_the_message(
    served: Served, http: httpx.AsyncClient, model: str, name: str, replies: list[Reply]
) -> None:
    """Each malformed reply is a 502 JSON error; the user's message stays in recall, and the
    agent answers the next message."""
    agent_id = await agent(http, model)
    fake = served.fakes[model]
    fake.push(*replies)
    r = await http.post(f"/v1/agents/{agent_id}/messages", json={"input": f"remember {name}"})
    body = error_of(r, 502, "MalformedReplyError" if name != "no choices" or model != "gpt" else "ModelError")
    assert model in body["detail"]
    assert fake.pending == 0  # an empty reply was asked again once
    assert await texts(http, agent_id) == [f"remember {name}"]
    fake.push(good(model, "all good"))
    r = await http.post(f"/v1/agents/{agent_id}/messages", json={"input": "again"})
    assert r.status_code == 200, r.text
    said = [m["content"] for m in r.json()["messages"] if m["message_type"] == "assistant_message"]
    assert said == ["all good"]


STREAM_BAD = {
    "gpt": [raw("data: this is not json\n\n", "text/event-stream"), raw(HTML, "text/html"),
            completion(None), completion(None)],
    "claude": [raw(HTML, "text/html"), fa.message(None), fa.message(None)],
}


@pytest.mark.parametrize("model", ["gpt", "claude"])
async def test_malformed_stream_ends_with_an_error_event(
    served: Served, http: httpx.AsyncClient, model: str
) -> None:
    """A broken or empty streamed reply ends the Letta stream with an error event (not a quiet
    end_turn), for each kind; the message is kept and the next stream works."""
    agent_id = await agent(http, model)
    fake = served.fakes[model]
    fake.push(*STREAM_BAD[model])
    sent = []
    while fake.pending:
        text = f"streamed {fake.pending}"
        sent.append(text)
        r = await http.post(f"/v1/agents/{agent_id}/messages/stream", json={"input": text})
        assert r.status_code == 200
        events = [b for b in r.text.split("\n\n") if b.strip()]
        assert events[-1] == "data: [DONE]" and events[-2].startswith("event: error"), r.text
        error = json.loads(events[-2].split("data:", 1)[1])
        assert error["error_type"] == "MalformedReplyError" and error["detail"] == "HTTP 502"
        assert not any("stop_reason" in e for e in events)
    assert sorted(await texts(http, agent_id)) == sorted(sent)
    fake.push(good(model, "streams again"))
    r = await http.post(f"/v1/agents/{agent_id}/messages/stream", json={"input": "last"})
    assert "streams again" in r.text and '"stop_reason":"end_turn"' in r.text


async def test_model_output_with_unstorable_text_is_scrubbed(
    served: Served, http: httpx.AsyncClient
) -> None:
    """A model's lone surrogate or NUL (raw or as a JSON escape in arguments) is replaced, not a
    500: the reply is stored and shown with U+FFFD."""
    agent_id = await agent(http, "gpt")
    served.fakes["gpt"].push(completion("thinking \ud800", [("send_message", '{"message": "hi \\ud800\\u0000!"}')]))
    r = await http.post(f"/v1/agents/{agent_id}/messages", json={"input": "hello"})
    assert r.status_code == 200, r.text
    said = [m["content"] for m in r.json()["messages"] if m["message_type"] == "assistant_message"]
    assert said == ["hi \ufffd!"]


# --- text no store can keep -----------------------------------------------------------------------
BAD_TEXT = {"lone high surrogate": "\\ud800", "lone low surrogate": "x\\udfff", "NUL": "a\\u0000b"}


@pytest.mark.parametrize("escape", BAD_TEXT.values(), ids=list(BAD_TEXT))
async def test_unstorable_text_is_400_and_nothing_is_stored(
    served: Served, http: httpx.AsyncClient, escape: str
) -> None:
    """Lone surrogates and NULs (sent as JSON escapes: no JSON library writes them raw) are
    refused with 400 on every route that stores text, Letta's and memgpt's own; nothing is stored."""
    agent_id = await agent(http)
    served.scripted.policy = lambda request: reply("fine")
    bodies = [
        ("POST", f"/v1/agents/{agent_id}/messages", f'{{"messages": [{{"role": "user", "content": "hi {escape}"}}]}}'),
        ("POST", f"/v1/agents/{agent_id}/messages", f'{{"input": "{escape}"}}'),
        ("POST", f"/v1/agents/{agent_id}/messages/stream", f'{{"input": "{escape}"}}'),
        ("POST", f"/memgpt/v1/agents/{agent_id}/messages", f'{{"text": "{escape}"}}'),
        ("POST", f"/v1/agents/{agent_id}/archival-memory", f'{{"text": "p {escape}"}}'),
        ("POST", f"/memgpt/v1/agents/{agent_id}/passages", f'{{"text": "p {escape}"}}'),
        ("PATCH", f"/v1/agents/{agent_id}/core-memory/blocks/human", f'{{"value": "b {escape}"}}'),
        ("PATCH", f"/memgpt/v1/agents/{agent_id}/blocks/human", f'{{"value": "b {escape}"}}'),
        ("PATCH", f"/v1/agents/{agent_id}", f'{{"system": "be {escape}"}}'),
        ("POST", "/v1/agents/", f'{{"name": "n{uuid.uuid4().hex[:6]}", "model": "scripted", "system": "{escape}"}}'),
        ("POST", "/v1/messages/search", f'{{"agent_id": "{agent_id}", "query": "{escape}"}}'),
        ("POST", f"/v1/agents/{agent_id}/messages", f'{{"input": "x", "{escape}": 1}}'),
    ]
    before = (await http.get(f"/v1/agents/{agent_id}/core-memory/blocks/human")).json()["value"]
    count = len((await http.get("/v1/agents/")).json())
    for method, path, body in bodies:
        r = await http.request(method, path, content=body.encode(), headers=JSON)
        detail = error_of(r, 400, "invalid_text")["detail"]
        assert ("NUL" if "u0000" in escape else "lone surrogate") in detail, (path, detail)
    assert await texts(http, agent_id) == []
    assert (await http.get(f"/v1/agents/{agent_id}/archival-memory")).json() == []
    assert (await http.get(f"/v1/agents/{agent_id}/core-memory/blocks/human")).json()["value"] == before
    assert len((await http.get("/v1/agents/")).json()) == count
    r = await http.post(f"/v1/agents/{agent_id}/messages", json={"input": "valid \U0001F600 emoji"})
    assert r.status_code == 200 and await texts(http, agent_id) == ["valid \U0001F600 emoji"]


async def test_library_refuses_lone_surrogates(served: Served) -> None:
    """The same refusal for in-process callers (the SDK): a 400-kind error, nothing stored."""
    svc = served.service
    state = await svc.create_agent(f"lib-{uuid.uuid4().hex[:6]}", model="scripted")
    with pytest.raises(InvalidTextError, match="lone surrogate"):
        await svc.send_message(state.id, "hi \ud800")
    with pytest.raises(InvalidTextError):
        await svc.update_block(state.id, "human", value="\udc00")
    assert await svc.list_messages(state.id) == []


async def test_body_check_finds_keys_and_values_and_passes_pairs() -> None:
    """Escaped pairs (an emoji) are fine; a bad key or value is named by its path."""
    assert unstorable_text(b'{"a": ["\\ud83d\\ude00", "\\u00e9"]}') is None
    assert unstorable_text(b'{"a": [1, {"b": "\\ud800"}]}') == (
        "a.1.b: text contains a lone surrogate (U+D800; UTF-16 surrogates must come in pairs) at character 0")
    assert (unstorable_text(b'{"k\\u0000": 1}') or "").startswith("k: text contains a NUL")
    assert unstorable_text(b'{"broken": "\\ud800') is None  # malformed JSON is the route's 400
