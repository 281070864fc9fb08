"""memgpt.Client over HTTP against an in-process server: the MemGPT API, remotely."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from memgpt import AgentService, Block, MemGPT, ScriptedModel, Settings
from memgpt.sdk.client import Client, ServerConnectionError
from memgpt.core.errors import (
    AlreadyExistsError, InvalidRequestError, ModelNotFoundError, NotFoundError, ScriptExhaustedError,
)
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory.stores import Page
from memgpt.core.schemas import AgentState, ContextReport, Message, Passage, Role, SendResult, utcnow
from memgpt.server import BackgroundServer


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ScriptedModel]]:
    """One server for the module: a fresh database, model "scripted"."""
    model = ScriptedModel()
    service = AgentService(Settings(home=tmp_path_factory.mktemp("client")), models={"scripted": model})
    with BackgroundServer(service) as server:
        yield server.url, model


@pytest.fixture
def model(served: tuple[str, ScriptedModel]) -> ScriptedModel:
    """The server's scripted model, emptied."""
    m = served[1]
    m.queue.clear()
    m.policy = None
    return m


@pytest.fixture
def client(served: tuple[str, ScriptedModel]) -> Iterator[Client]:
    """A client for the server."""
    with Client(served[0]) as c:
        yield c


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_same_surface_as_local_api() -> None:
    """Client has MemGPT's public methods with the same parameters."""
    local = {n: f for n, f in inspect.getmembers(MemGPT, inspect.isfunction) if not n.startswith("_")}
    for name, fn in local.items():
        if name == "close":
            continue
        remote = getattr(Client, name, None)
        assert remote is not None, f"Client lacks {name}"
        assert list(inspect.signature(remote).parameters) == list(inspect.signature(fn).parameters), name


def test_agents_messages_and_history(client: Client, model: ScriptedModel) -> None:
    """Agents, a heartbeat chain as a full SendResult, history paging by seq, recall search."""
    name = unique("ada")
    agent = client.create_agent(
        name, model="scripted", persona="I am Sam.", context_window=4096,
        blocks=[Block(label="persona", value="I am Sam."), Block(label="notes", value="", limit=300)],
    )
    assert isinstance(agent, AgentState) and agent.name == name and agent.context_window == 4096
    assert client.get_agent(name) == agent == client.get_agent(agent.id)
    assert agent.id in [a.id for a in client.list_agents()]

    model.push(
        tool_call("core_memory_append", thinking="Note it.", label="notes", content="Likes mirrors",
                  request_heartbeat=True),
        reply("Noted!"),
    )
    result = client.send_message(name, "I like mirrors")
    assert isinstance(result, SendResult) and result.agent_id == agent.id
    assert result.input.text == "I like mirrors" and result.replies == ["Noted!"]
    assert [s.stop_reason for s in result.steps] == [None, "end_turn"] and result.steps[0].heartbeat
    assert result.steps[0].messages[0].reasoning == "Note it." and result.usage.prompt_tokens > 0
    roles = [m.role for m in result.messages]
    assert roles == [Role.ASSISTANT, Role.TOOL, Role.EVENT, Role.ASSISTANT, Role.TOOL]

    history = client.list_messages(name, limit=100)
    assert all(isinstance(m, Message) for m in history)
    assert [m.id for m in history] == [result.input.id, *(m.id for m in result.messages)]
    assert [m.seq for m in client.list_messages(name, limit=2)] == [history[-2].seq, history[-1].seq]
    assert [m.seq for m in client.list_messages(name, after=history[0].seq, limit=2)] == [1, 2]
    assert [m.seq for m in client.list_messages(name, before=2)] == [0, 1]

    model.push(reply("An event!"))
    assert client.send_event(name, "timer fired").replies == ["An event!"]

    page = client.search_messages(name, "mirrors")
    assert isinstance(page, Page) and page.total >= 1 and page.items[0].agent_id == agent.id
    hour = timedelta(hours=1)
    assert client.search_messages(name, start=utcnow() - hour, end=utcnow() + hour, limit=2).total >= 3
    assert client.search_messages(name, "mirrors", end=utcnow() - hour).total == 0

    client.delete_agent(name)
    with pytest.raises(NotFoundError):
        client.get_agent(agent.id)


def test_memory(client: Client) -> None:
    """Blocks and archival passages through the client; the context window report."""
    name = unique("mem")
    client.create_agent(name, model="scripted", human="Unknown.")
    assert [b.label for b in client.list_blocks(name)] == ["persona", "human"]
    block = client.update_block(name, "human", value="Name: Ada", read_only=True)
    assert block.value == "Name: Ada" and block.read_only
    assert client.get_block(name, "human") == block

    first = client.insert_passage(name, "The mirror is 150 mm wide.", tags=["telescope"])
    assert isinstance(first, Passage) and first.tags == ["telescope"]
    more = client.insert_passages(name, ["Order XJ-7731 shipped.", "Tube is carbon fibre."])
    assert [p.text for p in client.list_passages(name, limit=2)] == [p.text for p in more[::-1]]
    assert len(client.list_passages(name, limit=10, offset=1)) == 2
    assert client.search_passages(name, "XJ-7731", limit=1)[0].id == more[0].id
    client.delete_passage(name, first.id)
    assert first.id not in [p.id for p in client.list_passages(name)]

    report = client.context_window(name)
    assert isinstance(report, ContextReport) and report.archival_passages == 2
    assert report.total == sum(report.sections.values())


def test_errors_are_memgpt_exceptions(client: Client, model: ScriptedModel) -> None:
    """The server's errors come back as the exceptions the local API raises."""
    name = unique("err")
    client.create_agent(name, model="scripted")
    with pytest.raises(AlreadyExistsError):
        client.create_agent(name, model="scripted")
    with pytest.raises(ModelNotFoundError):
        client.create_agent(unique("x"), model="no-such-model")
    with pytest.raises(InvalidRequestError):
        client.create_agent(unique("x"), model="scripted", context_window=5)
    with pytest.raises(TypeError):  # the parameters are AgentService's, as on MemGPT
        client.create_agent(unique("x"), model="scripted", colour="blue")  # type: ignore[call-arg]
    with pytest.raises(InvalidRequestError):  # and the server refuses fields it does not know
        client._call("POST", "/agents", json={"name": unique("x"), "model": "scripted", "colour": "blue"})
    with pytest.raises(NotFoundError):
        client.send_message("nobody", "hi")
    with pytest.raises(NotFoundError):  # an unknown block label, as AgentService raises
        client.get_block(name, "nosuch")
    with pytest.raises(InvalidRequestError):
        client.send_message(name, "   ")
    with pytest.raises(InvalidRequestError):
        client.update_block(name, "human", limit=1)
    with pytest.raises(NotFoundError):
        client.delete_passage(name, "passage-nope")
    with pytest.raises(ScriptExhaustedError):
        client.send_message(name, "nothing scripted")
    assert [m.text for m in client.list_messages(name)][-1] == "nothing scripted"  # input kept
    with pytest.raises(ServerConnectionError), Client("http://127.0.0.1:9") as dead:
        dead.list_agents()


def test_api_key_is_sent_as_bearer() -> None:
    """api_key goes in the Authorization header; a server's non-JSON answer is a clear error."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/agents"):
            return httpx.Response(200, json=[])
        return httpx.Response(200, text="<html>not memgpt</html>")

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = Client("http://memgpt.invalid/", api_key="mk-secret", http_client=http)
        assert client.list_agents() == []
        with pytest.raises(ServerConnectionError):
            client.get_agent("x")
    assert seen[0].headers["authorization"] == "Bearer mk-secret"
    assert str(seen[0].url) == "http://memgpt.invalid/memgpt/v1/agents"
    assert json.loads(seen[0].content or b"null") is None
