"""The real letta-client SDK against memgpt server, with the agent's model a fake OpenAI server.

The Letta client runs with strict response validation, so every answer must parse as the
SDK's own types: the SDK is the contract.
"""

from __future__ import annotations

import asyncio

import json
from collections.abc import Iterator

import pytest
from fakes.openai_server import FakeOpenAI, completion, fake_openai
from letta_client import APIStatusError, BadRequestError, ConflictError, Letta, NotFoundError
from letta_client.types import AgentState, ToolReturnMessage
from letta_client.types.agents import (
    AssistantMessage, ReasoningMessage, ToolCallMessage, UserMessage,
)

from memgpt import AgentService, Settings
from memgpt.server import BackgroundServer

__all__ = ["fake_openai"]


def call(name: str, **args: object) -> tuple[str, str]:
    """A tool call as the fake server sends it."""
    return (name, json.dumps(args))


@pytest.fixture
def spec(fake_openai: FakeOpenAI) -> str:
    """The agent's model: gpt-4o-mini at the fake server, through the real openai SDK."""
    return f"openai/gpt-4o-mini@{fake_openai.url}"


@pytest.fixture
def letta(settings: Settings, spec: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Letta]:
    """A Letta client on a memgpt server (uvicorn in a thread on 127.0.0.1, a free port)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for var in ("LETTA_BASE_URL", "LETTA_API_KEY", "LETTA_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)
    async def make_key() -> str:
        async with AgentService(settings) as admin:
            return (await admin.create_api_key("ada"))[1]

    key = asyncio.run(make_key())  # as `memgpt keys create ada` would
    service = AgentService(settings.model_copy(update={"model": spec}))
    with BackgroundServer(service, require_key=True) as server:
        with Letta(base_url=server.url, api_key=key, max_retries=0, timeout=30,
                   _strict_response_validation=True) as client:
            yield client


def test_letta_client_end_to_end(letta: Letta, fake_openai: FakeOpenAI, spec: str) -> None:
    """Create an agent with two blocks; a memory edit, blocks, passages, streams and history."""
    agent = letta.agents.create(
        name="ada-helper", model=spec, system="You are a helpful telescope-maker's assistant.",
        memory_blocks=[{"label": "human", "value": "Nothing known yet.", "limit": 1000},
                       {"label": "persona", "value": "I am Sam."}],
        context_window_limit=16000, embedding="openai/text-embedding-3-small",
    )
    assert isinstance(agent, AgentState)
    assert agent.name == "ada-helper" and [b.label for b in agent.blocks] == ["human", "persona"]
    assert agent.llm_config.context_window == 16000 and agent.llm_config.model == "gpt-4o-mini"
    assert agent.system.startswith("You are a helpful")

    # a message that makes the model edit memory, then answer
    fake_openai.push(
        completion("Saving her name.", [call("core_memory_append", label="human", content="Name: Ada",
                                             request_heartbeat=True)], prompt_tokens=900, completion_tokens=30),
        completion(None, [call("send_message", message="Nice to meet you, Ada!")]),
    )
    response = letta.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "Hi, I'm Ada."}],
    )
    kinds = [type(m) for m in response.messages]
    assert kinds == [ReasoningMessage, ToolCallMessage, ToolReturnMessage, AssistantMessage]
    thought, edit, result, said = response.messages
    assert isinstance(thought, ReasoningMessage) and thought.reasoning == "Saving her name."
    assert isinstance(edit, ToolCallMessage) and not isinstance(edit.tool_call, list)
    assert edit.tool_call.name == "core_memory_append"
    assert isinstance(result, ToolReturnMessage) and result.status == "success"
    assert isinstance(said, AssistantMessage) and said.content == "Nice to meet you, Ada!"
    assert response.stop_reason.stop_reason == "end_turn"
    assert response.usage.step_count == 2 and response.usage.prompt_tokens == 1000

    # read the block back; change another
    human = letta.agents.blocks.retrieve("human", agent_id=agent.id)
    assert human.value.endswith("Name: Ada") and human.limit == 1000
    persona = letta.agents.blocks.update("persona", agent_id=agent.id, value="I am Sam, an astronomer.")
    assert persona.value == "I am Sam, an astronomer."
    assert [b.label for b in letta.agents.blocks.list(agent_id=agent.id)] == ["human", "persona"]
    assert letta.agents.retrieve(agent.id).blocks[1].value == "I am Sam, an astronomer."

    # archival memory: insert and search
    [passage] = letta.agents.passages.create(agent_id=agent.id, text="Ada's mirror is 150 mm wide.",
                                             tags=["telescope"])
    letta.agents.passages.create(agent_id=agent.id, text="Order XJ-7731 shipped on Monday.")
    found = letta.agents.passages.search(agent_id=agent.id, query="mirror width", top_k=5)
    assert found.count >= 1 and found.results[0].id == passage.id
    assert found.results[0].content == "Ada's mirror is 150 mm wide."
    assert [p.id for p in letta.agents.passages.list(agent_id=agent.id)][0] == passage.id

    # stream a reply: token by token, then whole steps
    fake_openai.push(completion("Looking it up.", [call("send_message", message="Your mirror is 150 mm wide.")]))
    chunks = list(letta.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "How wide is my mirror?"}],
        streaming=True, stream_tokens=True,
    ))
    types = [c.message_type for c in chunks]
    assert types[-2:] == ["stop_reason", "usage_statistics"]
    pieces = [c.content for c in chunks if isinstance(c, AssistantMessage)]
    assert len(pieces) > 1 and "".join(str(p) for p in pieces) == "Your mirror is 150 mm wide."
    assert "".join(c.reasoning for c in chunks if isinstance(c, ReasoningMessage)) == "Looking it up."
    fake_openai.push(completion(None, [call("send_message", message="Clear skies!")]))
    with pytest.warns(DeprecationWarning):  # the SDK's older streaming call, still served
        steps = list(letta.agents.messages.stream(agent_id=agent.id, input="Good night"))
    assert [c.message_type for c in steps] == ["assistant_message", "stop_reason", "usage_statistics"]
    assert fake_openai.requests[-1]["stream"] is True

    # the history, page by page through the SDK's own pagination
    full = list(letta.agents.messages.list(agent_id=agent.id, order="asc", limit=1000))
    paged = list(letta.agents.messages.list(agent_id=agent.id, order="asc", limit=3))
    assert [(m.id, m.message_type) for m in paged] == [(m.id, m.message_type) for m in full]
    users = [m.content for m in full if isinstance(m, UserMessage)]
    assert users == ["Hi, I'm Ada.", "How wide is my mirror?", "Good night"]
    replies = [m.content for m in full if isinstance(m, AssistantMessage)]
    assert replies == ["Nice to meet you, Ada!", "Your mirror is 150 mm wide.", "Clear skies!"]
    newest = letta.agents.messages.list(agent_id=agent.id, limit=1).items
    assert isinstance(newest[0], AssistantMessage) and newest[0].content == "Clear skies!"
    assert fake_openai.pending == 0


def test_letta_client_catalog_and_errors(letta: Letta, spec: str) -> None:
    """Models, tools, agent listing; unknown ids, duplicates and unimplemented routes raise."""
    assert [m.handle for m in letta.models.list()] == [spec]
    assert letta.models.embeddings.list()[0].embedding_dim > 0
    names = [t.name for t in letta.tools.list()]
    assert {"send_message", "core_memory_append", "archival_memory_search"} <= set(names)

    first = letta.agents.create(name="one")  # the server's default model
    second = letta.agents.create(name="two", model=spec)
    assert first.model == spec
    assert [a.name for a in letta.agents.list(order="asc")] == ["one", "two"]
    assert [a.name for a in letta.agents.list(limit=1)] == ["two", "one"]  # auto-paginates
    with pytest.raises(ConflictError):
        letta.agents.create(name="one", model=spec)
    with pytest.raises(NotFoundError):
        letta.agents.retrieve("agent-00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        letta.agents.blocks.retrieve("nosuch", agent_id=first.id)
    with pytest.raises(APIStatusError) as unimplemented:
        letta.get("/v1/environments", cast_to=object)  # Letta Cloud's: never served here
    assert unimplemented.value.status_code == 501
    with pytest.raises(BadRequestError, match="docstring"):
        letta.tools.create(source_code="def f() -> str:\n    return 'x'\n")
    letta.agents.delete(second.id)
    assert [a.name for a in letta.agents.list()] == ["one"]
    context = letta.get(f"/v1/agents/{first.id}/context", cast_to=object)
    assert isinstance(context, dict) and context["context_window"] == first.llm_config.context_window


DICE = '''
import random


def roll_dice(sides: int, seed: int = 0) -> str:
    """Roll one die with a fixed seed.

    Args:
        sides: How many faces the die has.
        seed: Seed of the random generator.
    """
    return f"rolled {random.Random(seed).randint(1, sides)} on a d{sides}"
'''


def test_letta_client_custom_tool_and_agent_file(letta: Letta, fake_openai: FakeOpenAI, spec: str) -> None:
    """tools.create from source, agents.tools.attach, the model calls it through the sandbox;
    export_file then import_file make an agent with the same memory, history and tools."""
    import random

    tool = letta.tools.create(source_code=DICE, tags=["games"])
    assert tool.name == "roll_dice" and tool.tool_type == "custom" and tool.source_code == DICE
    assert tool.json_schema is not None and tool.json_schema["description"] == "Roll one die with a fixed seed."
    params = tool.json_schema["parameters"]
    assert isinstance(params, dict) and params["required"] == ["sides", "request_heartbeat"]
    assert letta.tools.retrieve(tool.id).name == "roll_dice"
    assert [t.id for t in letta.tools.list(name="roll_dice")] == [tool.id]
    assert letta.tools.upsert(source_code=DICE, description="Roll a die.").id == tool.id
    assert letta.tools.update(tool.id, tags=["games", "dice"]).tags == ["games", "dice"]

    agent = letta.agents.create(name="gamer", model=spec, memory_blocks=[{"label": "human", "value": "Ada."}])
    assert "roll_dice" not in [t.name for t in agent.tools]
    attached = letta.agents.tools.attach(tool.id, agent_id=agent.id)
    assert attached is not None and "roll_dice" in [t.name for t in attached.tools]
    assert [t.name for t in letta.agents.tools.list(agent_id=agent.id)][-1] == "roll_dice"

    fake_openai.push(
        completion("Rolling.", [call("roll_dice", sides=20, seed=7, request_heartbeat=True)]),
        completion(None, [call("send_message", message="You rolled it.")]),
    )
    response = letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Roll a d20"}])
    offered = [t["function"]["name"] for t in fake_openai.requests[-2]["tools"]]
    assert "roll_dice" in offered
    [ret] = [m for m in response.messages if isinstance(m, ToolReturnMessage)][:1]
    assert ret.status == "success" and ret.tool_return == f"rolled {random.Random(7).randint(1, 20)} on a d20"

    text = letta.agents.export_file(agent.id)
    exported = json.loads(text)
    assert [t["name"] for t in exported["tools"]][-1] == "roll_dice"
    imported = letta.agents.import_file(file=("gamer.af", text.encode(), "application/json"),
                                        name="gamer-2")
    [new_id] = imported.agent_ids
    twin = letta.agents.retrieve(new_id)
    assert twin.name == "gamer-2" and twin.id != agent.id
    assert [(b.label, b.value) for b in twin.blocks] == [(b.label, b.value) for b in letta.agents.retrieve(agent.id).blocks]
    assert "roll_dice" in [t.name for t in twin.tools]

    def history(agent_id: str) -> list[tuple[str, str]]:
        return [(m.message_type, str(getattr(m, "content", None) or getattr(m, "tool_return", "")))
                for m in letta.agents.messages.list(agent_id=agent_id, order="asc", limit=1000)]

    assert history(new_id) == history(agent.id)
    with pytest.raises(BadRequestError, match="not valid JSON"):
        letta.agents.import_file(file=("bad.af", b"{not json", "application/json"))

    detached = letta.agents.tools.detach(tool.id, agent_id=agent.id)
    assert detached is not None and "roll_dice" not in [t.name for t in detached.tools]
    letta.tools.delete(tool.id)
    with pytest.raises(NotFoundError):
        letta.tools.retrieve(tool.id)
    assert "roll_dice" not in [t.name for t in letta.agents.retrieve(new_id).tools]
