"""Agent files (.af): export, import into a fresh database, and the agent goes on as before."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from memgpt import AgentService, ModelRequest, ModelResponse, ScriptedModel, Settings
from memgpt.cli.main import app as cli
from memgpt.sdk.client import Client
from memgpt.core.errors import AlreadyExistsError, InvalidRequestError, ModelNotFoundError
from memgpt.llm.scripted import reply, text, tool_call
from memgpt.core.schemas import Block, Message, ReasoningPart, Role, TextPart, ToolCallPart
from memgpt.server import BackgroundServer, create_app

DICE = '''
def roll(sides: int) -> str:
    """Roll a die.

    Args:
        sides: Faces of the die.
    """
    return f"rolled a d{sides}"
'''
VOCAB = "garden river lantern copper meadow violin harbor thunder pepper canyon orbit velvet".split()


def chatty(request: ModelRequest) -> ModelResponse:
    """Summaries when asked; a dice roll, a failed call, a plain-text reply or a message otherwise."""
    if request.purpose == "summary":
        return text("Ada sent numbered word lists and rolled dice.")
    last = request.messages[-1]
    if last.role is Role.USER and last.text.startswith("roll"):
        return tool_call("roll", thinking="Roll it.", sides=20, request_heartbeat=True)
    if last.role is Role.USER and last.text.startswith("break"):
        return tool_call("core_memory_replace", label="human", old_content="absent", new_content="x",
                         request_heartbeat=True)
    if last.role is Role.USER and last.text.startswith("plain"):
        return text("Just thinking out loud.")
    return reply("Noted.", thinking="Acknowledge.")


def words(i: int) -> str:
    rng = random.Random(i)
    return f"Message {i}: " + " ".join(rng.choice(VOCAB) for _ in range(60))


async def chatted_agent(svc: AgentService) -> str:
    """An agent with a custom tool, edited blocks, a passage and a history long enough to
    have evicted messages into a summary; returns its id."""
    tool = await svc.create_tool(DICE, tags=["games"])
    agent = await svc.create_agent(
        "ada", model="scripted", context_window=2000, summarizer_model="scripted",
        blocks=[Block(label="persona", value="I am Sam.", description="who I am"),
                Block(label="human", value="Name: Ada", limit=500, read_only=False)],
        tools=[tool.id],
    )
    await svc.insert_passage(agent.id, "Ada's mirror is 150 mm wide.", tags=["telescope"])
    await svc.send_message(agent.id, "roll a die")
    await svc.send_message(agent.id, "break something")
    await svc.send_message(agent.id, "plain words please")
    for i in range(12):
        await svc.send_message(agent.id, words(i))
    await svc.send_event(agent.id, "The timer went off.")
    return agent.id


async def state_of(svc: AgentService, agent: str) -> dict[str, Any]:
    """What must survive export and import: blocks, history, window, summary, tools, passages."""
    state = await svc.get_agent(agent)
    history = await svc.list_messages(agent, limit=10_000)
    return {
        "settings": state.model_dump(include={"name", "model", "summarizer_model", "instructions",
                                              "context_window", "max_output_tokens", "summary", "warned",
                                              "context_start", "last_memory_edit", "owner"}),
        "blocks": [b.model_dump() for b in await svc.list_blocks(agent)],
        "history": [m.model_dump(exclude={"id", "agent_id", "step_id"}) for m in history],
        "in_context": [m.seq for m in history if m.seq >= state.context_start],
        "tools": [(t.name, t.source_code, t.tags, t.spec) for t in await svc.list_agent_tools(agent)],
        "passages": [p.model_dump(include={"text", "tags", "created_at"}) for p in await svc.list_passages(agent)],
    }


async def test_round_trip_into_a_fresh_database(tmp_path: Path) -> None:
    """Export, import elsewhere: same blocks, history, window and summary; it keeps chatting alike."""
    first = ScriptedModel(policy=chatty)
    async with AgentService(Settings(home=tmp_path / "a"), models={"scripted": first}) as svc:
        agent = await chatted_agent(svc)
        before = await state_of(svc, agent)
        data = json.loads(json.dumps(await svc.export_agent(agent)))  # as written to a file
        await svc.send_message(agent, "roll again")
        original_next = first.calls[-2]
    assert before["settings"]["summary"] and before["settings"]["context_start"] > 0  # eviction happened
    kinds = {m["role"] for m in before["history"]}
    assert kinds == {Role.USER, Role.ASSISTANT, Role.TOOL, Role.EVENT}

    second = ScriptedModel(policy=chatty)
    async with AgentService(Settings(home=tmp_path / "b"), models={"scripted": second}) as svc:
        imported = await svc.import_agent(data)
        assert imported.id != agent and imported.owner == "local"
        after = await state_of(svc, imported.id)
        assert after == before
        ids = {m.id for m in await svc.list_messages(imported.id, limit=10_000)}
        assert not ids & {m["id"] for m in data["agents"][0]["messages"]}
        result = await svc.send_message(imported.id, "roll again")
        copied_next = second.calls[-2]
    assert [(r.name, r.content) for m in result.messages for r in m.tool_results][0] == ("roll", "rolled a d20")
    assert [t.name for t in copied_next.tools] == [t.name for t in original_next.tools]
    assert [(m.role, m.parts) for m in copied_next.messages[1:]] == [(m.role, m.parts) for m in original_next.messages[1:]]


async def test_file_is_letta_shaped(service: AgentService, model: ScriptedModel) -> None:
    """Letta's layout: file-local ids, blocks and tools by id, messages with tool calls and
    returns, the system message first in context; our extras under "memgpt"."""
    model.policy = chatty
    agent = await chatted_agent(service)
    data = await service.export_agent(agent)
    assert set(data) >= {"agents", "groups", "blocks", "files", "sources", "tools", "mcp_servers", "metadata"}
    [a] = data["agents"]
    assert a["id"] == "agent-0" and a["block_ids"] == ["block-0", "block-1"]
    assert [b["label"] for b in data["blocks"]] == ["persona", "human"]
    tools = {t["id"]: t for t in data["tools"]}
    assert [tools[i]["name"] for i in a["tool_ids"]][-1] == "roll"
    assert tools[a["tool_ids"][-1]]["source_code"] == DICE and tools[a["tool_ids"][-1]]["tool_type"] == "custom"
    messages = {m["id"]: m for m in a["messages"]}
    assert a["in_context_message_ids"][0] == "message-0" and messages["message-0"]["role"] == "system"
    assert all(i in messages for i in a["in_context_message_ids"])
    call = next(m for m in a["messages"] if m["tool_calls"] and m["tool_calls"][0]["function"]["name"] == "roll")
    assert call["content"][0] == {"type": "reasoning", "is_native": False, "reasoning": "Roll it.", "signature": None}
    ret = next(m for m in a["messages"] if m["role"] == "tool" and m["tool_call_id"] == call["tool_calls"][0]["id"])
    assert ret["tool_returns"][0]["func_response"] == "rolled a d20" and ret["tool_returns"][0]["status"] == "success"
    assert a["llm_config"]["context_window"] == 2000 and a["llm_config"]["handle"] == "scripted"
    assert data["memgpt"]["agents"]["agent-0"]["summary"]
    assert [p["text"] for p in data["memgpt"]["passages"]["agent-0"]] == ["Ada's mirror is 150 mm wide."]
    scrubbed = await service.export_agent(agent, messages=False, passages=False)
    assert [m["role"] for m in scrubbed["agents"][0]["messages"]] == ["system"]
    assert scrubbed["memgpt"]["passages"]["agent-0"] == [] and scrubbed["memgpt"]["agents"]["agent-0"]["summary"] == ""


def letta_made_file() -> dict[str, Any]:
    """A file as Letta writes it: packed user messages and heartbeats, inner thoughts as text,
    packed tool results, Letta's own tools (one with no source)."""
    def msg(i: int, role: str, content: str | None, **extra: Any) -> dict[str, Any]:
        body = [{"type": "text", "text": content}] if content is not None else []
        return {"type": "message", "id": f"message-{i}", "role": role, "content": body,
                "created_at": f"2025-05-0{1 + i // 4}T10:0{i % 4}:00+00:00", **extra}

    call = {"id": "call-1", "type": "function",
            "function": {"name": "send_message", "arguments": json.dumps({"message": "Hello Ada!"})}}
    return {
        "agents": [{
            "id": "agent-0", "name": "letta-bot", "agent_type": "memgpt_agent", "system": "You are a bot.",
            "llm_config": {"model": "scripted", "model_endpoint_type": "openai", "context_window": 16000,
                           "handle": "scripted"},
            "block_ids": ["block-0"], "tool_ids": ["tool-0", "tool-1", "tool-2"],
            "in_context_message_ids": ["message-0", "message-3", "message-4", "message-5", "message-6"],
            "messages": [
                msg(0, "system", "You are a bot. <memory_blocks>...</memory_blocks>"),
                msg(1, "user", json.dumps({"type": "login", "message": "First login.", "time": "now"})),
                msg(2, "user", json.dumps({"type": "user_message", "message": "old words", "time": "now"})),
                msg(3, "user", json.dumps({"type": "user_message", "message": "Hi, I'm Ada", "time": "now"})),
                msg(4, "assistant", "She said hi.", tool_calls=[call]),
                msg(5, "tool", json.dumps({"status": "OK", "message": "None", "time": "now"}),
                    name="send_message", tool_call_id="call-1"),
                msg(6, "user", json.dumps({"type": "heartbeat", "reason": "[This is an automated system message]"})),
            ],
        }],
        "blocks": [{"id": "block-0", "label": "human", "value": "Name: Ada", "limit": 5000, "metadata": {}}],
        "tools": [
            {"id": "tool-0", "name": "send_message", "tool_type": "letta_core", "source_code": None},
            {"id": "tool-1", "name": "web_search", "tool_type": "letta_builtin", "source_code": None},
            {"id": "tool-2", "name": "roll", "tool_type": "custom", "source_code": DICE},
        ],
        "groups": [], "files": [], "sources": [], "mcp_servers": [], "metadata": {"revision_id": "x"},
    }


async def test_import_a_letta_made_file(service: AgentService, model: ScriptedModel) -> None:
    """Letta's packed messages become our roles; its built-in tools without source are skipped."""
    state = await service.import_agent(letta_made_file())
    history = await service.list_messages(state.id)
    assert [(m.role, m.text) for m in history] == [
        (Role.EVENT, "First login."), (Role.USER, "old words"), (Role.USER, "Hi, I'm Ada"),
        (Role.ASSISTANT, ""), (Role.TOOL, ""), (Role.EVENT, "[This is an automated system message]"),
    ]
    assert history[3].parts[0] == ReasoningPart(text="She said hi.")
    assert isinstance(history[3].parts[1], ToolCallPart) and history[4].tool_results[0].content == "None"
    assert state.context_start == 2 and state.context_window == 16000 and state.instructions == "You are a bot."
    assert [(b.label, b.value) for b in await service.list_blocks(state.id)] == [("human", "Name: Ada")]
    assert [t.name for t in await service.list_agent_tools(state.id) if not t.builtin] == ["roll"]
    model.push(reply("Welcome back."))
    assert (await service.send_message(state.id, "hello again")).replies == ["Welcome back."]


def _without(data: dict[str, Any], *path: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def _with(data: dict[str, Any], value: Any, *path: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


GOOD = letta_made_file()
MALFORMED: dict[str, tuple[Any, str]] = {
    "not an object": ([GOOD], "JSON object"),
    "no agents": (_without(GOOD, "agents"), "agents"),
    "two agents": (_with(GOOD, GOOD["agents"] * 2, "agents"), "exactly one"),
    "agent without name": (_without(GOOD, "agents", 0, "name"), "name"),
    "missing block": (_with(GOOD, ["block-9"], "agents", 0, "block_ids"), "block-9"),
    "missing tool": (_with(GOOD, ["tool-9"], "agents", 0, "tool_ids"), "tool-9"),
    "bad block label": (_with(GOOD, "bad label!", "blocks", 0, "label"), "bad label!"),
    "unknown role": (_with(GOOD, "approval", "agents", 0, "messages", 3, "role"), "approval"),
    "bad tool source": (_with(GOOD, "def roll(:", "tools", 2, "source_code"), "syntax error"),
    "tiny window": (_with(GOOD, 100, "agents", 0, "llm_config", "context_window"), "below 512"),
    "bad memgpt section": (_with(GOOD, {"agents": {"agent-0": {"warned": "very"}}}, "memgpt"), "memgpt section"),
    "messages not a list": (_with(GOOD, "lots", "agents", 0, "messages"), "messages"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_files_are_refused_and_leave_nothing(service: AgentService, case: str) -> None:
    """Each malformed file: InvalidRequestError naming the problem; no agent or tool is created."""
    data, words = MALFORMED[case]
    with pytest.raises(InvalidRequestError, match=words):
        await service.import_agent(data)
    assert await service.list_agents() == []
    assert [t for t in await service.list_tools() if not t.builtin] == []


async def test_import_conflicts_and_overrides(service: AgentService) -> None:
    """An unknown model or a taken name is refused; name and model can be overridden."""
    with pytest.raises(ModelNotFoundError):
        await service.import_agent(_with(GOOD, {"model": "x", "handle": "nosuch"}, "agents", 0, "llm_config"))
    first = await service.import_agent(GOOD)
    with pytest.raises(AlreadyExistsError, match="another name"):
        await service.import_agent(GOOD)
    copied = await service.import_agent(GOOD, copy_suffix=True, strip_messages=True)
    assert copied.name == "letta-bot__copy" and await service.list_messages(copied.id) == []
    renamed = await service.import_agent(GOOD, name="other", model="scripted")
    assert renamed.name == "other"
    tools = [t for t in await service.list_tools() if not t.builtin]
    assert [t.name for t in tools] == ["roll"]  # reused by name, not duplicated
    changed = _with(GOOD, DICE.replace("rolled a", "you rolled a"), "tools", 2, "source_code")
    await service.import_agent(changed, name="kept", replace_tools=False)
    assert "you rolled" not in (await service.get_tool("roll")).source_code
    await service.import_agent(changed, name="replaced")
    assert "you rolled" in (await service.get_tool("roll")).source_code
    assert first.id in {a.id for a in await service.list_agents()}


async def test_http_import_and_export(service: AgentService, model: ScriptedModel) -> None:
    """Letta's routes: export as JSON; import as a multipart upload or a JSON body; bad files 400."""
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        body = json.dumps(GOOD).encode()
        r = await http.post("/v1/agents/import", files={"file": ("bot.af", body, "application/json")},
                            data={"append_copy_suffix": "true", "strip_messages": "false"})
        assert r.status_code == 200, r.text
        [agent_id] = r.json()["agent_ids"]
        assert (await http.get(f"/v1/agents/{agent_id}")).json()["name"] == "letta-bot__copy"
        exported = await http.get(f"/v1/agents/{agent_id}/export")
        assert exported.status_code == 200 and exported.json()["agents"][0]["name"] == "letta-bot__copy"
        r = await http.post("/v1/agents/import", json=exported.json(), params={"name": "from-json"})
        assert r.status_code == 200, r.text
        for files, data, words in [
            ({"file": ("x.af", b"\xff\xfe", "application/json")}, {}, "not valid JSON"),
            ({"other": ("x.af", body, "application/json")}, {}, "no 'file' field"),
            ({"file": ("x.af", b'{"agents": []}', "application/json")}, {}, "exactly one"),
            ({"file": ("x.af", body, "application/json")}, {"strip_messages": "perhaps"}, "true or false"),
        ]:
            r = await http.post("/v1/agents/import", files=files, data=data)
            assert r.status_code == 400 and words in r.json()["detail"], r.text
        r = await http.post("/v1/agents/import", content=b"agents", headers={"content-type": "text/plain"})
        assert r.status_code == 400 and "multipart" in r.json()["detail"]
        assert (await http.get("/v1/agents/agent-none/export")).status_code == 404
        assert (await http.get(f"/v1/agents/{agent_id}/export", params={"use_legacy_format": True})).status_code == 400


def test_client_round_trip(tmp_path: Path) -> None:
    """memgpt.Client: tools and agent files over /memgpt/v1, with the service's results."""
    model = ScriptedModel(policy=chatty)
    service = AgentService(Settings(home=tmp_path / "served"), models={"scripted": model})
    with BackgroundServer(service) as server, Client(server.url) as client:
        tool = client.create_tool(DICE)
        assert client.upsert_tool(DICE, tags=["x"]).id == tool.id
        assert client.update_tool("roll", description="Roll.").spec.description == "Roll."
        assert [t.name for t in client.list_tools()][-1] == "roll" and client.get_tool(tool.id).name == "roll"
        agent = client.create_agent("ada", model="scripted")
        client.attach_tool(agent.id, "roll")
        assert [t.name for t in client.list_agent_tools(agent.id)][-1] == "roll"
        client.send_message(agent.id, "roll it")
        data = client.export_agent(agent.id)
        copy_ = client.import_agent(data, name="ada-2")
        assert [m.parts for m in client.list_messages(copy_.id)] == [m.parts for m in client.list_messages(agent.id)]
        with pytest.raises(InvalidRequestError, match="exactly one"):
            client.import_agent({"agents": []})
        client.detach_tool(agent.id, tool.id)
        client.delete_tool(tool.id)
        assert "roll" not in [t.name for t in client.list_agent_tools(copy_.id)]


def test_cli_export_import(tmp_path: Path) -> None:
    """memgpt export AGENT -o file.af, memgpt import file.af: the copy has the same memory."""
    runner = CliRunner()
    home = str(tmp_path / "home")
    assert runner.invoke(cli, ["demo", "--home", home]).exit_code == 0
    target = tmp_path / "demo.af"
    out = runner.invoke(cli, ["export", "demo", "-o", str(target), "--home", home])
    assert out.exit_code == 0, out.output
    assert json.loads(target.read_text())["agents"][0]["name"] == "demo"
    other = str(tmp_path / "other")
    out = runner.invoke(cli, ["import", str(target), "--home", other])
    assert out.exit_code == 0 and "Imported demo" in out.output, out.output
    assert "Name: Ada" in runner.invoke(cli, ["memory", "demo", "--home", other]).output
    found = runner.invoke(cli, ["archival", "demo", "mirror", "--home", other])
    assert "150 mm" in found.output
    again = runner.invoke(cli, ["import", str(target), "--home", other])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = tmp_path / "bad.af"
    bad.write_text("{not json")
    out = runner.invoke(cli, ["import", str(bad), "--home", other])
    assert out.exit_code == 1 and "cannot read" in out.output
    bad.write_text('{"agents": [{"name": "x"}]}')
    out = runner.invoke(cli, ["import", str(bad), "--home", other])
    assert out.exit_code == 1 and "not a valid agent file" in out.output


def test_message_roles_round_trip_exactly() -> None:
    """Every part kind and role survives write then read, including plain text beside a call."""
    from memgpt.formats import agentfile
    from memgpt.core.schemas import AgentState, ToolResultPart

    state = AgentState(name="r", model="scripted", instructions="be", context_window=4096, context_start=1)
    messages = [
        Message(role=Role.USER, parts=[TextPart(text='{"type": "note"} is what I typed')], seq=0),
        Message(role=Role.ASSISTANT, seq=1, parts=[ReasoningPart(text="hm"), TextPart(text="visible"),
                                                    ToolCallPart(id="c1", name="send_message", arguments="{bad json")]),
        Message(role=Role.TOOL, seq=2, parts=[ToolResultPart(call_id="c1", name="send_message", content="bad", is_error=True)]),
        Message(role=Role.EVENT, seq=3, parts=[TextPart(text="[system event] heartbeat")]),
    ]
    snap = agentfile.Snapshot(state=state, blocks=[], tools=[], messages=messages, passages=[],
                              llm_config={"model": "scripted", "handle": "scripted", "context_window": 4096},
                              embedding_config={}, tool_out=[])
    plan = agentfile.read(json.loads(json.dumps(agentfile.write(snap))), base_tools=set())
    assert [(m.role, m.parts, m.created_at) for m in plan.messages] == [(m.role, m.parts, m.created_at) for m in messages]
    assert plan.context_start == 1
