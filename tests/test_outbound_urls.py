"""The policy for URLs a user makes the server contact (memgpt/core/urls.py): run callbacks
to private addresses are refused at send time unless the operator allows them, checked again
at POST time against a DNS answer that changed (rebinding), and POSTed to the address that
was checked. DNS is played by replacing ``urls._resolve``; the receiver is on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core import urls
from memgpt.core.errors import InvalidRequestError
from memgpt.llm.scripted import reply
from memgpt.memory.runs import Run
from memgpt.tools.mcp import McpUnavailableError
from serve import recording_hook, serving_app, until


def playing_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]) -> None:
    """Resolve each name to its next answer (the last one repeats)."""
    async def resolve(host: str, port: int | None) -> list[str]:
        if host in answers:
            queue = answers[host]
            return queue.pop(0) if len(queue) > 1 else queue[0]
        return [host]  # an IP literal
    monkeypatch.setattr(urls, "_resolve", resolve)



@pytest.fixture
async def public_only(settings: Settings, model: ScriptedModel) -> AsyncIterator[AgentService]:
    """A service whose operator allows only public URLs (as a keyed server by default)."""
    async with AgentService(settings.model_copy(update={"mcp_private_urls": False}),
                            models={"scripted": model}) as service:
        yield service


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/x",
    "http://[::1]/x", "http://0.0.0.0/", "https://internal.example/hook", "ftp://example.com/x",
])
async def test_private_callback_urls_are_refused_at_send(
        public_only: AgentService, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    playing_dns(monkeypatch, {"internal.example": [["192.168.1.20"]]})
    agent = await public_only.create_agent("a", model="scripted")
    with pytest.raises(InvalidRequestError, match="non-public|http"):
        await public_only.send_async(agent.id, "hi", callback_url=url)
    assert await public_only.list_runs(agent.id) == []  # nothing was queued


async def test_rebinding_is_refused_at_post_time(
        public_only: AgentService, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Public when the run was made, loopback when it is posted: not posted, recorded."""
    playing_dns(monkeypatch, {"rebind.example": [["93.184.216.34"], ["127.0.0.1"]]})
    agent = await public_only.create_agent("a", model="scripted")
    model.push(reply("done"))
    run = await public_only.send_async(agent.id, "hi", callback_url="http://rebind.example/hook")

    async def recorded() -> bool:
        return (await public_only.get_run(run.id)).callback_error is not None
    await until(recorded, "callback outcome recorded")
    done: Run = await public_only.get_run(run.id)
    assert done.status == "completed" and done.callback_status_code is None
    assert "non-public address (127.0.0.1)" in (done.callback_error or "")


async def test_callback_goes_to_the_checked_address(
        settings: Settings, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """With private URLs allowed, the POST reaches the address the name resolved to when
    checked (a name real DNS does not know), with the name as its Host."""
    hook, got = recording_hook(with_host=True)

    playing_dns(monkeypatch, {"hook.invalid": [["127.0.0.1"]]})
    allowed = settings.model_copy(update={"mcp_private_urls": True})
    async with AgentService(allowed, models={"scripted": model}) as service, serving_app(hook) as hook_url:
        port = hook_url.rsplit(":", 1)[1]
        agent = await service.create_agent("a", model="scripted")
        model.push(reply("done"))
        run = await service.send_async(agent.id, "hi", callback_url=f"http://hook.invalid:{port}/hook")

        async def sent() -> bool:
            return (await service.get_run(run.id)).callback_status_code is not None
        await until(sent, "callback sent")
        assert (await service.get_run(run.id)).callback_status_code == 200
    assert got == [(f"hook.invalid:{port}", got[0][1])] and got[0][1]["id"] == run.id


@pytest.mark.parametrize("sse", [False, True])
async def test_mcp_sessions_go_to_the_checked_address(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, sse: bool) -> None:
    """An MCP server named by a host real DNS does not know, resolved (by the policy's own
    lookup) to loopback: its tools list and run, so every connection went to that address,
    and with the name as its Host (the server's own rebinding guard accepts only that name)."""
    from fakes.mcp_server import serving_http

    playing_dns(monkeypatch, {"mcp.invalid": [["127.0.0.1"]]})
    allowed = settings.model_copy(update={"mcp_private_urls": True, "mcp_timeout": 20.0})
    async with AgentService(allowed) as service:
        with serving_http(sse=sse, host="mcp.invalid") as url:
            named = url.replace("127.0.0.1", "mcp.invalid")
            web = await service.create_mcp_server("web", "sse" if sse else "streamable_http", server_url=named)
            assert "add" in [t.name for t in await service.list_mcp_tools(web.id)]
            assert (await service.run_mcp_tool(web.id, "add", {"a": 2, "b": 5})).content == "sum=7"


async def test_mcp_rebinding_is_refused_at_use(public_only: AgentService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Public when stored, loopback when used: the session is not opened, the call says why."""
    playing_dns(monkeypatch, {"mcp.example": [["93.184.216.34"], ["127.0.0.1"]]})
    web = await public_only.create_mcp_server("web", "streamable_http", server_url="http://mcp.example/mcp")
    with pytest.raises(McpUnavailableError, match=r"non-public address \(127.0.0.1\)"):
        await public_only.list_mcp_tools(web.id)
