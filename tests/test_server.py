"""memgpt server over real HTTP: uvicorn on 127.0.0.1 in the tests' own event loop.

One server and database serve the whole module (opening a database costs more than most
tests); each test makes its own uniquely named agents and resets the scripted model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import reply, text, tool_call
from memgpt.core.schemas import Role, utcnow
from memgpt.server import create_app
from memgpt.formats.letta import block_id, tool_id
from memgpt.server.letta import messages as message_routes
from memgpt.server.streaming import _decode_prefix
from serve import serving_app

LIMIT = 64 * 1024


@contextlib.asynccontextmanager
async def serving(service: AgentService, **options: Any) -> AsyncIterator[str]:
    """Serve the app on a random loopback port in this loop; yields the base URL."""
    async with serving_app(create_app(service, **options)) as url:
        yield url


pytestmark = pytest.mark.asyncio(loop_scope="module")
Shared = tuple[AgentService, ScriptedModel, str]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shared]:
    """A service whose model "scripted" is a ScriptedModel, served with a 64 KiB body limit."""
    model = ScriptedModel()
    settings = Settings(home=tmp_path_factory.mktemp("server"))
    async with AgentService(settings, models={"scripted": model}) as svc:
        async with serving(svc, max_body_bytes=LIMIT) as url:
            yield svc, model, url


@pytest.fixture
def service(shared: Shared) -> AgentService:
    """The served service."""
    return shared[0]


@pytest.fixture
def model(shared: Shared) -> ScriptedModel:
    """The served scripted model, emptied."""
    m = shared[1]
    m.queue.clear()
    m.policy = None
    return m


@pytest_asyncio.fixture(loop_scope="module")
async def http(shared: Shared) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the server."""
    async with httpx.AsyncClient(base_url=shared[2], timeout=30) as client:
        yield client


def echo(request: ModelRequest) -> ModelResponse:
    """Answer the latest user message by repeating it."""
    last = next(m for m in reversed(request.messages) if m.role is Role.USER)
    return reply(f"echo: {last.text}", thinking=f"They said {last.text}.")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def make_agent(http: httpx.AsyncClient, name: str | None = None, **extra: Any) -> dict[str, Any]:
    r = await http.post("/v1/agents/", json={"name": name or unique("sam"), "model": "scripted", **extra})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def parse_sse(raw: str) -> list[tuple[str | None, str]]:
    """(event, data) of each Server-Sent Event."""
    out = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        out.append((event, "\n".join(data)))
    return out


def assert_error(r: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert isinstance(body["detail"], str) and body["type"]
    for word in words:
        assert word.lower() in body["detail"].lower(), body
    return body


# --- docs and agents ------------------------------------------------------------------------------
async def test_docs_and_openapi(http: httpx.AsyncClient) -> None:
    """/docs serves Swagger UI; the OpenAPI lists the Letta routes and ours."""
    assert (await http.get("/docs")).status_code == 200
    paths = (await http.get("/openapi.json")).json()["paths"]
    for p in ("/v1/agents/", "/v1/agents/{agent_id}/messages", "/v1/agents/{agent_id}/messages/stream",
              "/v1/agents/{agent_id}/core-memory/blocks/{block_label}", "/v1/agents/{agent_id}/archival-memory",
              "/v1/agents/{agent_id}/context", "/v1/models/", "/memgpt/v1/agents"):
        assert p in paths
    assert (await http.get("/v1/health")).json()["status"] == "ok"


async def test_agent_create_list_retrieve_delete(http: httpx.AsyncClient) -> None:
    """Agents in Letta's shape: blocks, system, model, context window limit; list pages by id."""
    a = await make_agent(
        http, unique("ada"), system="Be brief.", context_window_limit=4096, max_tokens=256, tools=["send_message"],
        embedding="openai/text-embedding-3-small",
        memory_blocks=[{"label": "persona", "value": "I am Ada.", "limit": 500},
                       {"label": "human", "value": "Unknown.", "description": "the user"}],
    )
    assert a["id"].startswith("agent-") and a["name"].startswith("ada-") and a["system"] == "Be brief."
    assert a["agent_type"] == "memgpt_agent" and a["model"] == "scripted"
    assert [b["label"] for b in a["blocks"]] == ["persona", "human"]
    assert a["blocks"][0]["limit"] == 500 and a["blocks"][1]["description"] == "the user"
    assert a["blocks"][0]["id"] == block_id(a["id"], "persona")
    assert a["memory"]["blocks"] == a["blocks"]
    assert a["llm_config"]["context_window"] == 4096 and a["llm_config"]["max_tokens"] == 256
    assert a["embedding_config"]["embedding_dim"] > 0
    assert {t["name"] for t in a["tools"]} >= {"send_message", "core_memory_append", "archival_memory_search"}

    b = await make_agent(http)
    c = await make_agent(http)
    ids = [a["id"], b["id"], c["id"]]

    async def listed(**params: Any) -> list[str]:
        return [x["id"] for x in (await http.get("/v1/agents/", params=params)).json() if x["id"] in ids]

    assert await listed(limit=1000) == ids[::-1]  # newest first
    assert await listed(order="asc", limit=1000) == ids
    assert await listed(order="asc", after=a["id"], limit=2) == ids[1:]
    assert await listed(order="desc", before=a["id"], limit=2) == [c["id"], b["id"]]
    assert [x["id"] for x in (await http.get("/v1/agents", params={"name": b["name"]})).json()] == [b["id"]]

    got = (await http.get(f"/v1/agents/{a['id']}")).json()
    assert got["id"] == a["id"] and got["blocks"] == a["blocks"]
    assert (await http.delete(f"/v1/agents/{b['id']}")).status_code == 200
    assert_error(await http.get(f"/v1/agents/{b['id']}"), 404, b["id"])
    assert_error(await http.delete(f"/v1/agents/{b['id']}"), 404)


async def test_agent_create_errors(http: httpx.AsyncClient, service: AgentService) -> None:
    """Duplicate names 409; unknown models and tools 400; bad blocks and types 422."""
    twin = (await make_agent(http))["name"]
    assert_error(await http.post("/v1/agents/", json={"name": twin, "model": "scripted"}), 409, twin)
    assert_error(await http.post("/v1/agents/", json={"name": "m", "model": "nosuch"}), 400, "nosuch")
    assert_error(await http.post("/v1/agents/", json={"name": "m", "model": "madeup/x"}), 400)
    assert_error(await http.post("/v1/agents/", json={"name": "m"}), 400, "model")
    assert_error(await http.post("/v1/agents/", json={"name": "m", "model": "scripted",
                                                       "tools": ["web_search"]}), 400, "web_search")
    r = await http.post("/v1/agents/", json={"name": "m", "model": "scripted",
                                             "memory_blocks": [{"label": "bad label!", "value": ""}]})
    assert_error(r, 422, "memory_blocks")
    assert_error(await http.post("/v1/agents/", json={"name": "m", "model": "scripted",
                                                       "context_window_limit": "big"}), 422, "context_window_limit")
    assert_error(await http.post("/v1/agents/", json={"name": "m", "model": "scripted",
                                                       "memory_blocks": [{"label": "x", "value": "long", "limit": 2}]}),
                 400, "limit")
    assert_error(await http.post("/v1/agents/", json=["not", "an", "object"]), 422)
    assert "m" not in [a.name for a in await service.list_agents()]


async def test_update_agent(http: httpx.AsyncClient, service: AgentService) -> None:
    """PATCH renames and changes the system prompt (stored); another agent's name is 409."""
    a = await make_agent(http)
    new = unique("new")
    r = await http.patch(f"/v1/agents/{a['id']}", json={"name": new, "system": "Changed."})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == new and r.json()["system"] == "Changed."
    stored = await service.get_agent(a["id"])
    assert stored.name == new and stored.instructions == "Changed."
    assert (await http.get(f"/v1/agents/{new}")).json()["id"] == a["id"]
    r = await http.patch(f"/v1/agents/{a['id']}", json={"name": new, "system": "Again."})  # its own name
    assert r.status_code == 200 and r.json()["system"] == "Again.", r.text
    b = await make_agent(http)
    assert_error(await http.patch(f"/v1/agents/{b['id']}", json={"name": new}), 409, new)
    assert (await service.get_agent(b["id"])).name == b["name"]
    assert_error(await http.patch("/v1/agents/agent-nope", json={"name": "x"}), 404)
    assert_error(await http.patch(f"/v1/agents/{a['id']}", json={"context_window_limit": 5}), 422)


# --- messages -------------------------------------------------------------------------------------
async def test_send_message_steps_and_usage(http: httpx.AsyncClient, model: ScriptedModel) -> None:
    """A heartbeat chain comes back as reasoning / tool call / tool return / assistant messages."""
    a = await make_agent(http)
    model.push(
        tool_call("core_memory_append", thinking="Note the name.", label="human", content="Name: Ada",
                  request_heartbeat=True),
        reply("Hi Ada!", thinking="Greet her."),
    )
    r = await http.post(f"/v1/agents/{a['id']}/messages", json=user("I'm Ada"))
    assert r.status_code == 200, r.text
    body = r.json()
    kinds = [m["message_type"] for m in body["messages"]]
    assert kinds == ["reasoning_message", "tool_call_message", "tool_return_message",
                     "reasoning_message", "assistant_message"]
    call, ret = body["messages"][1], body["messages"][2]
    assert call["tool_call"]["name"] == "core_memory_append"
    assert json.loads(call["tool_call"]["arguments"])["content"] == "Name: Ada"
    assert ret["tool_call_id"] == call["tool_call"]["tool_call_id"] and ret["status"] == "success"
    assert body["messages"][0]["id"] == call["id"]  # Letta messages of one stored message share its id
    assert body["messages"][-1]["content"] == "Hi Ada!"
    assert body["stop_reason"] == {"message_type": "stop_reason", "stop_reason": "end_turn"}
    usage = body["usage"]
    assert usage["step_count"] == 2 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    block = (await http.get(f"/v1/agents/{a['id']}/core-memory/blocks/human")).json()
    assert block["value"].endswith("Name: Ada")

    model.push(reply("plain"))
    r = await http.post(f"/v1/agents/{a['id']}/messages",
                        json={"input": "again", "include_return_message_types": ["assistant_message"]})
    assert [m["message_type"] for m in r.json()["messages"]] == ["assistant_message"]
    model.push(reply("as a tool"))
    r = await http.post(f"/v1/agents/{a['id']}/messages", json={**user("raw"), "use_assistant_message": False})
    kinds = [m["message_type"] for m in r.json()["messages"]]
    assert kinds == ["tool_call_message", "tool_return_message"]


async def test_send_input_forms_and_errors(http: httpx.AsyncClient, model: ScriptedModel) -> None:
    """Content parts, system events; empty, several or unsupported inputs are 4xx/501."""
    a = await make_agent(http)
    model.policy = echo
    r = await http.post(f"/v1/agents/{a['id']}/messages",
                        json={"messages": [{"role": "user", "content": [{"type": "text", "text": "parts"}]}]})
    assert r.json()["messages"][-1]["content"] == "echo: parts"
    model.policy = None
    model.push(reply("event seen"))
    r = await http.post(f"/v1/agents/{a['id']}/messages",
                        json={"messages": [{"role": "system", "content": "timer fired"}]})
    assert r.json()["messages"][-1]["content"] == "event seen"
    url = f"/v1/agents/{a['id']}/messages"
    assert_error(await http.post(url, json=user("   ")), 400, "empty")
    assert_error(await http.post(url, json={}), 400, "no message")
    assert_error(await http.post(url, json={"messages": [user("a")["messages"][0]] * 2}), 400, "one message")
    assert_error(await http.post(url, json={"messages": [{"role": "assistant", "content": "x"}]}), 400)
    assert_error(await http.post(url, json={"messages": [{"role": "robot", "content": "x"}]}), 422)
    assert_error(await http.post(url, json={"messages": [{"role": "user", "content": 5}]}), 422)
    assert_error(await http.post(url, json={"messages": [{"role": "user", "content": [
        {"type": "image", "source": {}}]}]}), 501, "image")
    assert_error(await http.post(url, json={**user("x"), "override_model": "other"}), 501, "override_model")
    assert_error(await http.post("/v1/agents/agent-missing/messages", json=user("hi")), 404)
    # the model failing is a 502, and it does not invite a retry
    body = assert_error(await http.post(url, json=user("no script left")), 502)
    assert body["type"] == "ScriptExhaustedError"


async def test_stream_in_order(http: httpx.AsyncClient, model: ScriptedModel) -> None:
    """SSE: data chunks in step order, then stop_reason, usage_statistics and [DONE]."""
    a = await make_agent(http)
    model.push(
        tool_call("archival_memory_insert", thinking="Save it.", content="mirror is 150 mm",
                  request_heartbeat=True),
        reply("Saved!", thinking="Confirm."),
    )
    r = await http.post(f"/v1/agents/{a['id']}/messages/stream", json=user("remember the mirror"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert all(e is None for e, _ in events)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert [c["message_type"] for c in chunks] == [
        "reasoning_message", "tool_call_message", "tool_return_message", "reasoning_message",
        "assistant_message", "stop_reason", "usage_statistics"]
    assert chunks[4]["content"] == "Saved!" and chunks[-1]["step_count"] == 2
    history = (await http.get(f"/v1/agents/{a['id']}/messages", params={"order": "asc"})).json()
    assert [m["content"] for m in history if m["message_type"] == "assistant_message"] == ["Saved!"]

    # streaming: true on the plain route streams too
    model.push(reply("also streamed"))
    r = await http.post(f"/v1/agents/{a['id']}/messages", json={**user("x"), "streaming": True})
    assert [json.loads(d)["message_type"] for _, d in parse_sse(r.text)[:-1]] == [
        "assistant_message", "stop_reason", "usage_statistics"]


async def test_stream_is_live_with_pings(
    http: httpx.AsyncClient, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks arrive while the agent still works (the loop is never blocked); pings fill silences."""
    monkeypatch.setattr(message_routes, "PING_SECONDS", 0.05)
    a = await make_agent(http)
    gate = asyncio.Event()

    async def held(request: ModelRequest) -> ModelResponse:
        await gate.wait()  # the second step waits until the client has seen a ping
        return reply("after the gate")

    model.push(tool_call("archival_memory_insert", content="first step", request_heartbeat=True))
    model.policy = held
    seen: list[str] = []

    async def consume() -> None:
        body = {**user("go"), "include_pings": True}
        async with http.stream("POST", f"/v1/agents/{a['id']}/messages/stream", json=body) as r:
            async for line in r.aiter_lines():
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                kind = json.loads(line[5:])["message_type"]
                seen.append(kind)
                if kind == "ping":
                    gate.set()

    await asyncio.wait_for(consume(), 20)
    # the model waited for the client to see a ping: chunks flowed while the agent worked
    assert seen.index("tool_return_message") < seen.index("assistant_message")
    assert seen.index("ping") < seen.index("assistant_message")
    assert seen[-2:] == ["stop_reason", "usage_statistics"]


async def test_stream_tokens(http: httpx.AsyncClient, model: ScriptedModel) -> None:
    """stream_tokens: reasoning and the reply arrive in pieces that add up; tool returns whole."""
    a = await make_agent(http)
    long_reply = 'A "quoted", longer reply — with ünïcode and a newline\nthat streams in pieces.'
    model.push(
        tool_call("core_memory_append", thinking="Thinking it over carefully.", label="human",
                  content="likes long replies", request_heartbeat=True),
        reply(long_reply, thinking="Now answer."),
    )
    r = await http.post(f"/v1/agents/{a['id']}/messages/stream", json={**user("go"), "stream_tokens": True})
    chunks = [json.loads(d) for _, d in parse_sse(r.text)[:-1]]
    kinds = [c["message_type"] for c in chunks]
    said = [c["content"] for c in chunks if c["message_type"] == "assistant_message"]
    assert len(said) > 2 and "".join(said) == long_reply
    thoughts = [c["reasoning"] for c in chunks if c["message_type"] == "reasoning_message"]
    assert "".join(thoughts) == "Thinking it over carefully.Now answer."
    calls = [c for c in chunks if c["message_type"] == "tool_call_message"]
    args = "".join(c["tool_call"]["arguments"] for c in calls)
    assert json.loads(args)["content"] == "likes long replies"
    assert kinds.index("tool_return_message") > max(i for i, k in enumerate(kinds) if k == "tool_call_message")
    assert kinds[-2:] == ["stop_reason", "usage_statistics"]

    # a reply in plain text (no tool call) streams as monologue, then arrives whole
    model.push(text("Just words, no tools."))
    r = await http.post(f"/v1/agents/{a['id']}/messages/stream", json={**user("again"), "stream_tokens": True})
    chunks = [json.loads(d) for _, d in parse_sse(r.text)[:-1]]
    assert [c["content"] for c in chunks if c["message_type"] == "assistant_message"] == ["Just words, no tools."]


async def test_decode_partial_json_string() -> None:
    """The send_message extractor never emits half an escape sequence."""
    assert _decode_prefix('ab\\"c') == 'ab"c'
    assert _decode_prefix("ab\\") == "ab"
    assert _decode_prefix("x\\u00e") == "x"
    assert _decode_prefix("x\\u00e9y") == "xéy"
    assert _decode_prefix("\\ud83d") == ""
    assert _decode_prefix("\\ud83d\\ude00!") == "😀!"
    assert _decode_prefix('done" , "more') == "done"


async def test_stream_errors(http: httpx.AsyncClient, model: ScriptedModel) -> None:
    """Errors before the stream starts are JSON; after, an `event: error` then [DONE]."""
    a = await make_agent(http)
    assert_error(await http.post("/v1/agents/agent-nobody/messages/stream", json=user("hi")), 404)
    assert_error(await http.post(f"/v1/agents/{a['id']}/messages/stream", json=user("")), 400)
    r = await http.post(f"/v1/agents/{a['id']}/messages/stream", json=user("no script"))
    events = parse_sse(r.text)
    assert events[-2][0] == "error" and json.loads(events[-2][1])["error_type"] == "ScriptExhaustedError"
    assert events[-1] == (None, "[DONE]")


async def test_history_pagination(http: httpx.AsyncClient, model: ScriptedModel) -> None:
    """Cursors are message ids relative to the order; paging forward or back covers everything once."""
    a = await make_agent(http)
    model.policy = echo
    for i in range(6):
        await http.post(f"/v1/agents/{a['id']}/messages", json=user(f"m{i}"))
    url = f"/v1/agents/{a['id']}/messages"
    everything = (await http.get(url, params={"order": "asc", "limit": 1000})).json()
    texts = [m.get("content") for m in everything if m["message_type"] in ("user_message", "assistant_message")]
    assert texts == [x for i in range(6) for x in (f"m{i}", f"echo: m{i}")]
    assert (await http.get(url, params={"limit": 1000})).json() == everything[::-1]  # desc by default

    def keyed(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(m["id"], m["message_type"]) for m in items]

    for order, expected in (("asc", everything), ("desc", everything[::-1])):
        pages, after = [], None
        while True:
            params: dict[str, Any] = {"order": order, "limit": 3, **({"after": after} if after else {})}
            got = (await http.get(url, params=params)).json()
            if not got:
                break
            assert len(got) <= 3
            pages.append(got)
            after = got[-1]["id"]
        assert keyed([m for p in pages for m in p]) == keyed(expected)
        assert len(pages) > 3
    # before pages back towards the start, adjacent to the cursor
    last_user = next(m for m in reversed(everything) if m["message_type"] == "user_message")
    older = (await http.get(url, params={"order": "asc", "before": last_user["id"], "limit": 2})).json()
    assert older[-1]["content"] == "echo: m4"
    newer = (await http.get(url, params={"order": "desc", "before": last_user["id"], "limit": 2})).json()
    assert newer[0]["content"] == "echo: m5"
    only = (await http.get(url, params={"include_return_message_types": ["user_message"], "limit": 1000})).json()
    assert [m["content"] for m in only] == [f"m{i}" for i in reversed(range(6))]
    assert_error(await http.get(url, params={"after": "message-unknown"}), 404, "message-unknown")
    assert_error(await http.get(url, params={"limit": "many"}), 422, "limit")
    assert_error(await http.get(url, params={"limit": 0}), 422)
    assert_error(await http.get("/v1/agents/agent-none/messages"), 404)


async def test_fifty_concurrent_messages(http: httpx.AsyncClient, model: ScriptedModel) -> None:
    """50 messages at once to one agent: each reply answers its input; history stays in order."""
    a = await make_agent(http)
    model.policy = echo

    async def send(i: int) -> str:
        r = await http.post(f"/v1/agents/{a['id']}/messages", json=user(f"question {i}"))
        assert r.status_code == 200, r.text
        said = [m["content"] for m in r.json()["messages"] if m["message_type"] == "assistant_message"]
        assert said == [f"echo: question {i}"]
        return str(said[0])

    replies = await asyncio.gather(*(send(i) for i in range(50)))
    assert sorted(replies) == sorted(f"echo: question {i}" for i in range(50))
    history = (await http.get(f"/v1/agents/{a['id']}/messages", params={"order": "asc", "limit": 1000})).json()
    spoken = [m["content"] for m in history if m["message_type"] in ("user_message", "assistant_message")]
    assert len(spoken) == 100
    for question, answer in zip(spoken[::2], spoken[1::2], strict=True):
        assert question.startswith("question ") and answer == f"echo: {question}"
    seqs = [m["seq_id"] for m in history]
    assert seqs == sorted(seqs)


# --- memory ---------------------------------------------------------------------------------------
async def test_blocks(http: httpx.AsyncClient) -> None:
    """List, retrieve and update blocks by label; limits hold; unknown labels 404."""
    a = await make_agent(http, memory_blocks=[{"label": "persona", "value": "P"},
                                              {"label": "human", "value": "H", "limit": 50}])
    base = f"/v1/agents/{a['id']}/core-memory/blocks"
    assert [b["label"] for b in (await http.get(base)).json()] == ["persona", "human"]
    assert [b["label"] for b in (await http.get(base, params={"order": "desc", "limit": 1})).json()] == ["human"]
    assert (await http.get(f"{base}/human")).json()["value"] == "H"
    r = await http.patch(f"{base}/human", json={"value": "Name: Ada", "description": "the user"})
    assert r.status_code == 200 and r.json()["value"] == "Name: Ada" and r.json()["description"] == "the user"
    by_name = (await http.get(f"/v1/agents/{a['name']}/core-memory/blocks/human")).json()
    assert by_name["value"] == "Name: Ada" and by_name["id"] == block_id(a["id"], "human")
    assert_error(await http.patch(f"{base}/human", json={"value": "x" * 51}), 400, "limit")
    assert_error(await http.patch(f"{base}/human", json={"limit": "lots"}), 422)
    assert_error(await http.patch(f"{base}/human", json={"label": "other"}), 501, "renaming")
    assert_error(await http.get(f"{base}/nosuch"), 404, "nosuch")
    assert_error(await http.patch(f"{base}/nosuch", json={"value": "v"}), 404)
    assert_error(await http.get("/v1/agents/agent-nobody/core-memory/blocks"), 404)
    assert_error(await http.patch(f"{base}/attach/block-1"), 404, "block-1")  # another's or none


async def test_passages(http: httpx.AsyncClient) -> None:
    """Archival memory: create, list both ways with cursors, search (tags, dates), delete."""
    a = await make_agent(http)
    base = f"/v1/agents/{a['id']}/archival-memory"
    made = []
    for i, fact in enumerate(["The mirror is 150 mm wide.", "Ada grinds mirrors on Sundays.",
                             "Order number XJ-7731 shipped.", "Telescope tube is carbon fibre."]):
        r = await http.post(base, json={"text": fact, "tags": ["telescope"] if i != 2 else ["orders"]})
        assert r.status_code == 200, r.text
        [p] = r.json()
        assert p["text"] == fact and p["id"].startswith("passage-")
        made.append(p)
    ids = [p["id"] for p in made]
    assert [p["id"] for p in (await http.get(base)).json()] == ids  # oldest first by default
    assert [p["id"] for p in (await http.get(base, params={"ascending": False, "limit": 2})).json()] == ids[:1:-1]
    assert [p["id"] for p in (await http.get(base, params={"after": ids[1]})).json()] == ids[2:]
    assert [p["id"] for p in (await http.get(base, params={"search": "XJ-7731"})).json()][0] == ids[2]

    hits = (await http.get(f"{base}/search", params={"query": "mirror"})).json()
    assert hits["count"] == len(hits["results"]) >= 2
    assert {h["id"] for h in hits["results"][:2]} == {ids[0], ids[1]}
    tagged = (await http.get(f"{base}/search", params={"query": "shipped mirror", "tags": ["orders"]})).json()
    assert [h["id"] for h in tagged["results"]] == [ids[2]]
    future = (utcnow() + timedelta(days=1)).isoformat()
    dated = (await http.get(f"{base}/search", params={"query": "mirror", "start_datetime": future})).json()
    assert dated == {"count": 0, "results": []}

    assert (await http.delete(f"{base}/{ids[0]}")).status_code == 200
    assert ids[0] not in [p["id"] for p in (await http.get(base)).json()]
    assert_error(await http.delete(f"{base}/{ids[0]}"), 404, ids[0])
    assert_error(await http.post(base, json={"text": "  "}), 400)
    assert_error(await http.post(base, json={"tags": ["x"]}), 422, "text")
    assert_error(await http.get(f"{base}/search"), 422, "query")
    assert_error(await http.post("/v1/agents/agent-x/archival-memory", json={"text": "t"}), 404)


async def test_context_and_recall_search(http: httpx.AsyncClient, model: ScriptedModel) -> None:
    """Our additions: the context-window breakdown, and recall search by words and dates."""
    a = await make_agent(http)
    model.policy = echo
    await http.post(f"/v1/agents/{a['id']}/messages", json=user("the telescope arrived"))
    ctx = (await http.get(f"/v1/agents/{a['id']}/context")).json()
    assert ctx["context_window"] == a["llm_config"]["context_window"]
    assert ctx["total"] == sum(ctx["sections"].values()) and ctx["recall_messages"] >= 3
    assert_error(await http.get("/v1/agents/agent-zzz/context"), 404)

    found = (await http.post("/v1/messages/search", json={"query": "telescope", "agent_id": a["id"]})).json()
    assert {f["message_type"] for f in found} == {"user_message", "assistant_message"}
    assert all(f["agent_id"] == a["id"] for f in found)
    start = (utcnow() - timedelta(hours=1)).isoformat()
    end = (utcnow() + timedelta(hours=1)).isoformat()
    window = (await http.post("/v1/messages/search", json={"agent_id": a["id"], "start_date": start,
                                                           "end_date": end})).json()
    assert [f["message_type"] for f in window] == ["user_message", "assistant_message"]
    past = (await http.post("/v1/messages/search", json={"agent_id": a["id"], "query": "telescope",
                                                         "end_date": start})).json()
    assert past == []
    everywhere = (await http.post("/v1/messages/search", json={"query": "telescope", "limit": 1000})).json()
    assert {f["message_id"] for f in found} <= {f["message_id"] for f in everywhere}  # all the user's agents
    assert_error(await http.post("/v1/messages/search", json={"agent_id": a["id"], "start_date": "soon"}), 422)


async def test_tools_and_models(http: httpx.AsyncClient) -> None:
    """Base tools are listed and cannot be changed; bad tool source answers 400; models are listed."""
    tools = (await http.get("/v1/tools/")).json()
    names = [t["name"] for t in tools]
    assert "send_message" in names and "archival_memory_search" in names
    send = next(t for t in tools if t["name"] == "send_message")
    assert send["id"] == tool_id("send_message") and send["json_schema"]["parameters"]["properties"]["message"]
    assert (await http.get(f"/v1/tools/{send['id']}")).json()["name"] == "send_message"
    assert (await http.get("/v1/tools/send_message")).json()["id"] == send["id"]
    assert [t["name"] for t in (await http.get("/v1/tools", params={"name": "send_message"})).json()] == ["send_message"]
    assert_error(await http.get("/v1/tools/tool-nope"), 404)
    assert_error(await http.post("/v1/tools/", json={"source_code": "def f(): ..."}), 400, "docstring")
    assert_error(await http.put("/v1/tools/", json={"source_code": "def f(:"}), 400, "syntax error")
    assert_error(await http.patch(f"/v1/tools/{send['id']}", json={"description": "x"}), 400, "base tool")
    assert_error(await http.delete(f"/v1/tools/{send['id']}"), 400, "base tool")
    a = await make_agent(http)
    assert [t["name"] for t in (await http.get(f"/v1/agents/{a['id']}/tools")).json()] == names
    attached = await http.patch(f"/v1/agents/{a['id']}/tools/attach/{send['id']}")  # has it already
    assert attached.status_code == 200 and attached.json()["id"] == a["id"]
    assert_error(await http.patch(f"/v1/agents/{a['id']}/tools/detach/{send['id']}"), 400, "base tool")
    assert_error(await http.patch(f"/v1/agents/agent-none/tools/detach/{send['id']}"), 404)
    assert_error(await http.get("/v1/agents/agent-none/tools"), 404)

    models = (await http.get("/v1/models/")).json()
    assert [m["handle"] for m in models] == ["scripted"]
    assert models[0]["context_window"] > 0
    [emb] = (await http.get("/v1/models/embedding")).json()
    assert emb["embedding_dim"] > 0 and emb["handle"]


# --- errors ---------------------------------------------------------------------------------------
async def test_bad_requests_are_4xx_json(http: httpx.AsyncClient) -> None:
    """Malformed JSON 400, oversize 413 (declared or chunked), unknown routes 404, Letta's others 501."""
    a = await make_agent(http)
    r = await http.post("/v1/agents/", content=b'{"name": "x", ', headers={"content-type": "application/json"})
    assert_error(r, 400, "json")
    r = await http.post(f"/v1/agents/{a['id']}/messages", content=b"{nope", headers={"content-type": "application/json"})
    assert_error(r, 400, "json")
    big = json.dumps(user("x" * (LIMIT + 10)))
    assert_error(await http.post(f"/v1/agents/{a['id']}/messages", content=big,
                                 headers={"content-type": "application/json"}), 413, "too large")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(LIMIT // 1024 + 2):
            yield b"y" * 1024
        yield b'"}'

    r = await http.post(f"/v1/agents/{a['id']}/archival-memory", content=chunks(),
                        headers={"content-type": "application/json"})
    assert_error(r, 413)
    body = assert_error(await http.get("/v1/environments"), 501, "letta api", "/v1/environments")
    assert body["type"] == "not_implemented"
    assert_error(await http.post("/v1/client-side-access-tokens", json={}), 501)  # Letta Cloud's
    assert_error(await http.get("/v1/conversations/abc/messages"), 404)  # served: no such conversation
    assert_error(await http.get("/v2/whatever"), 404, "no route")
    r = await http.post("/v1/agents/", json={"name": a["name"], "model": "scripted"})
    assert_error(r, 409)
    assert r.headers["x-should-retry"] == "false"
    # the server still works after all that
    assert (await http.get(f"/v1/agents/{a['id']}")).status_code == 200
