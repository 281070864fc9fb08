"""MCP tools with the real letta-client against memgpt server and the scripted model: a stdio
server (in the sandbox, with a scrubbed environment) and one over streamable HTTP, both written
with the `mcp` package (tests/fakes/mcp_server.py), whose tools an agent calls; tools list,
refresh and run; servers that crash, hang or answer garbage give error results; secrets are
never returned (nor stored in the clear); another user's servers and tools are 404."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from letta_client import Letta, NotFoundError
from letta_client.types import AgentState

from fakes.mcp_server import GARBAGE, serving_http
from pg import PostgresServer
from memgpt import AgentService, Settings
from memgpt.core.errors import FeatureDisabledError, InvalidRequestError
from memgpt.core.errors import NotFoundError as NotFoundError_
from memgpt.llm.scripted import ScriptedModel, reply, tool_call
from memgpt.server import BackgroundServer
from memgpt.tools.mcp import MASK, McpRun, McpUnavailableError

SOURCE = (Path(__file__).parent / "fakes" / "mcp_server.py").read_text()
SECRET = "s3cret-mcp-value-7f1c"


@dataclass
class Users:
    """ada (the owner) and bob (another user) on one keyed server, and its scripted model."""

    ada: Letta
    bob: Letta
    model: ScriptedModel
    home: Path


@pytest.fixture
def users(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Users]:
    for var in ("LETTA_BASE_URL", "LETTA_API_KEY", "LETTA_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-servers-own-key")  # must never reach a server

    async def make_keys() -> tuple[str, str]:
        async with AgentService(settings) as admin:
            return (await admin.create_api_key("ada"))[1], (await admin.create_api_key("bob"))[1]

    ada_key, bob_key = asyncio.run(make_keys())
    model = ScriptedModel()
    own = settings.model_copy(update={"model": "scripted", "mcp_timeout": 60.0})
    with BackgroundServer(AgentService(own, models={"scripted": model}), require_key=True) as server:
        def client(key: str) -> Letta:
            return Letta(base_url=server.url, api_key=key, max_retries=0, timeout=90,
                         _strict_response_validation=True)

        with client(ada_key) as ada, client(bob_key) as bob:
            yield Users(ada, bob, model, settings.home)


def _agent(letta: Letta) -> AgentState:
    return letta.agents.create(model="scripted", memory_blocks=[{"label": "human", "value": "?"}])


def _say(letta: Letta, agent: AgentState, text: str) -> None:
    letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": text}])


def _last_request(model: ScriptedModel) -> str:
    return " ".join(str(m.model_dump()) for m in model.calls[-1].messages)


def test_stdio_server_tool_runs_in_the_loop_with_a_scrubbed_environment(users: Users) -> None:
    ada, bob = users.ada, users.bob
    server = ada.mcp_servers.create(server_name="fake", config={
        "mcp_server_type": "stdio", "command": sys.executable, "args": ["-c", SOURCE],
        "env": {"GREETING": SECRET}})
    assert server.env == {"GREETING": MASK}  # type: ignore[union-attr]
    tools = {t.name: t for t in ada.mcp_servers.tools.list(server.id)}  # type: ignore[arg-type]
    assert {"add", "environment", "crash", "hang", "fail"} <= set(tools)
    agent = _agent(ada)
    ada.agents.tools.attach(tools["environment"].id, agent_id=agent.id)
    offered = {t.name: t for t in ada.agents.tools.list(agent_id=agent.id)}
    assert offered["environment"].tool_type == "external_mcp"

    users.model.push(tool_call("environment", request_heartbeat=True), reply("Seen."))
    _say(ada, agent, "What is your server's environment?")
    assert "environment" in {t.name for t in users.model.calls[-1].tools}
    result = next(p for m in users.model.calls[-1].messages for p in m.parts
                  if getattr(p, "type", "") == "tool_result")
    env = json.loads(str(getattr(result, "content")))  # the server's answer reached the model
    assert env["GREETING"] == SECRET  # what its config names, and nothing of the server's own:
    assert "OPENAI_API_KEY" not in env and not any(k.startswith("MEMGPT_") for k in env)
    assert set(env) <= {"GREETING", "PATH", "HOME", "TMPDIR", "LANG", "PYTHONIOENCODING", "SHELL",
                        "TERM", "USER", "LOGNAME", "PWD"}

    ada.agents.tools.attach(tools["crash"].id, agent_id=agent.id)  # a server that dies mid-call
    users.model.push(tool_call("crash"), reply("It broke."))
    _say(ada, agent, "Crash it")
    assert "Connection closed" in _last_request(users.model)  # an error result, not a failed turn
    assert SECRET.encode() not in (users.home / "memgpt.db").read_bytes()  # stored encrypted
    assert SECRET not in str(ada.mcp_servers.list()) + str(ada.mcp_servers.retrieve(server.id))  # type: ignore[arg-type]

    bob_agent = _agent(bob)  # another user: every route answers as for a server that never was
    with pytest.raises(NotFoundError):
        bob.mcp_servers.retrieve(server.id)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        bob.mcp_servers.tools.list(server.id)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        bob.mcp_servers.tools.run(tools["add"].id, mcp_server_id=server.id, args={"a": 1, "b": 1})  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        bob.agents.tools.attach(tools["add"].id, agent_id=bob_agent.id)
    with pytest.raises(NotFoundError):
        bob.mcp_servers.delete(server.id)  # type: ignore[arg-type]
    assert bob.mcp_servers.list() == []


def test_streamable_http_server_list_refresh_run_and_the_loop(users: Users) -> None:
    ada = users.ada
    with serving_http() as url:
        server = ada.mcp_servers.create(server_name="web", config={
            "mcp_server_type": "streamable_http", "server_url": url, "auth_token": SECRET,
            "custom_headers": {"X-Secret": SECRET}})
        assert server.auth_token == MASK and server.custom_headers == {"X-Secret": MASK}  # type: ignore[union-attr]
        done = ada.mcp_servers.refresh(server.id)  # type: ignore[arg-type]
        assert "add" in done["added"]  # type: ignore[index]
        tools = {t.name: t for t in ada.mcp_servers.tools.list(server.id)}  # type: ignore[arg-type]
        assert ada.mcp_servers.tools.retrieve(tools["add"].id, mcp_server_id=server.id).name == "add"  # type: ignore[arg-type]
        ok = ada.mcp_servers.tools.run(tools["add"].id, mcp_server_id=server.id, args={"a": 4, "b": 5})  # type: ignore[arg-type]
        assert ok.status == "success" and ok.func_return == "sum=9"
        failed = ada.mcp_servers.tools.run(tools["fail"].id, mcp_server_id=server.id, args={"reason": "no"})  # type: ignore[arg-type]
        assert failed.status == "error" and "fail" in str(failed.func_return)

        agent = _agent(ada)
        ada.agents.tools.attach(tools["add"].id, agent_id=agent.id)
        users.model.push(tool_call("add", a=1, b=1, request_heartbeat=True), reply("Two."))
        _say(ada, agent, "1 + 1?")
        assert "sum=2" in _last_request(users.model)
        users.model.push(tool_call("add", a="one", b=1), reply("Sorry."))
        _say(ada, agent, "one + 1?")
        assert "Bad call to add" in _last_request(users.model)  # checked against its schema

        renamed = ada.mcp_servers.update(server.id, server_name="web2",  # type: ignore[arg-type]
                                         config={"mcp_server_type": "streamable_http", "server_url": url,
                                                 "auth_token": MASK})
        assert renamed.server_name == "web2" and renamed.auth_token == MASK  # type: ignore[union-attr]
        assert ada.mcp_servers.tools.run(tools["add"].id, mcp_server_id=server.id,  # type: ignore[arg-type]
                                         args={"a": 1, "b": 2}).status == "success"
        ada.mcp_servers.delete(server.id)  # type: ignore[arg-type]
        assert "add" not in {t.name for t in ada.agents.tools.list(agent_id=agent.id)}


async def test_dead_hung_and_garbage_servers_give_error_results(settings: Settings) -> None:
    model = ScriptedModel()
    quick = settings.model_copy(update={"mcp_timeout": 3.0})
    async with AgentService(quick, models={"scripted": model}) as service:
        with serving_http() as url:
            web = await service.create_mcp_server("web", "streamable_http", server_url=url)
            hang = await service.get_mcp_tool(web.id, "hang")
            agent = await service.create_agent(name="a", model="scripted")
            await service.attach_tool(agent.id, hang.id)
            model.push(tool_call("hang"), reply("It did not answer."))
            result = await service.send_message(agent.id, "Wait for it")
            seen = " ".join(str(m.model_dump()) for m in model.calls[-1].messages)
            assert "did not run hang within 3 seconds" in seen, seen[-600:]
            assert result.messages  # the turn finished
        gone = await service.run_mcp_tool(web.id, "add", {"a": 1, "b": 1})  # the server is gone now
        assert gone.is_error and "failed to run add" in gone.content

        junk = await service.create_mcp_server("junk", "stdio", command=sys.executable, args=["-c", GARBAGE])
        with pytest.raises(McpUnavailableError, match="not MCP"):
            await service.refresh_mcp_server(junk.id)


async def test_sse_server_lists_and_runs_its_tools(settings: Settings) -> None:
    async with AgentService(settings.model_copy(update={"mcp_timeout": 20.0})) as service:
        with serving_http(sse=True) as url:
            old = await service.create_mcp_server("old", "sse", server_url=url, custom_headers={"X-K": SECRET})
            assert "add" in [t.name for t in await service.list_mcp_tools(old.id)]
            ran = await service.run_mcp_tool("old", "add", {"a": 3, "b": 4})
            assert ran == McpRun(content="sum=7", is_error=False)


async def test_policy_stdio_needs_custom_tools_and_private_urls_need_the_operator(settings: Settings) -> None:
    keyed = settings.model_copy(update={"allow_custom_tools": False})
    async with AgentService(keyed) as service:
        with pytest.raises(FeatureDisabledError, match="MEMGPT_ALLOW_CUSTOM_TOOLS"):
            await service.create_mcp_server("s", "stdio", command="true")
        for url in ("http://127.0.0.1:9/mcp", "http://10.0.0.1/mcp", "http://169.254.169.254/x"):
            with pytest.raises(InvalidRequestError, match="non-public"):
                await service.create_mcp_server("h", "streamable_http", server_url=url)
        with pytest.raises(InvalidRequestError, match="http"):
            await service.create_mcp_server("f", "sse", server_url="file:///etc/passwd")
    allowed = keyed.model_copy(update={"mcp_private_urls": True})
    async with AgentService(allowed) as service:
        made = await service.create_mcp_server("h", "sse", server_url="http://127.0.0.1:9/sse", auth_token="t")
        assert made.auth_token == MASK
        assert [s.name for s in await service.list_mcp_servers()] == ["h"]


def test_cli_adds_lists_shows_tools_and_removes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from memgpt.cli.main import app

    run, home = CliRunner().invoke, str(tmp_path / "cli")
    with serving_http() as url:
        added = run(app, ["mcp", "add", "web", url, "--token", SECRET, "--home", home])
        assert added.exit_code == 0 and "tools: add" in added.output, added.output
        listed = run(app, ["mcp", "list", "--home", home])
        assert "web" in listed.output and SECRET not in listed.output
        tools = run(app, ["mcp", "tools", "web", "--refresh", "--home", home])
        assert tools.exit_code == 0 and "environment" in tools.output
        assert run(app, ["mcp", "remove", "web", "--home", home]).exit_code == 0
        assert "web" not in run(app, ["mcp", "list", "--home", home]).output
        refused = run(app, ["mcp", "add", "bad", "http://127.0.0.1:1/mcp", "--home", home])
        assert refused.exit_code == 1 and "error" in refused.output


async def test_on_postgresql_servers_tools_and_agents(postgres: PostgresServer, tmp_path: Path) -> None:
    """The store on PostgreSQL: create, tools listed and refreshed (ids kept), attach, the loop
    calls the tool, delete detaches; other users see nothing."""
    model = ScriptedModel()
    settings = Settings(home=tmp_path / "home", database_url=await postgres.database())
    async with AgentService(settings, models={"scripted": model}) as service:
        with serving_http() as url:
            web = await service.create_mcp_server("web", "streamable_http", server_url=url, auth_token=SECRET)
            add = await service.get_mcp_tool(web.id, "add")
            again = await service.refresh_mcp_server(web.id)
            assert again.added == [] and (await service.get_mcp_tool("web", "add")).id == add.id
            agent = await service.create_agent(name="pg", model="scripted")
            await service.attach_tool(agent.id, add.id)
            model.push(tool_call("add", a=20, b=22, request_heartbeat=True), reply("42."))
            await service.send_message(agent.id, "20 + 22?")
            assert "sum=42" in " ".join(str(m.model_dump()) for m in model.calls[-1].messages)
            other = service.scoped("someone-else")
            assert await other.list_mcp_servers() == []
            with pytest.raises(NotFoundError_):
                await other.get_mcp_tool(web.id, add.id)
            await service.delete_mcp_server("web")
            assert "add" not in [t.name for t in await service.list_agent_tools(agent.id)]
