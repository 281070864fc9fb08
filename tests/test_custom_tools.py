"""Custom tools: made from Python source (parsed, never run at creation), stored per user on
SQLite and PostgreSQL, attached to agents, and run in the sandbox when the model calls them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import (
    AlreadyExistsError, FeatureDisabledError, InvalidRequestError, NotFoundError, ToolDefinitionError,
)
from memgpt.llm.scripted import reply, tool_call
from memgpt.core.prompts import FAILED_EVENT
from memgpt.core.schemas import AgentState, Role, SendResult, ToolDef
from memgpt.server import create_app
from memgpt.storage.db import create_engine, migrate, sessionmaker
from memgpt.storage.sql_agents import SqlAgentStore
from memgpt.storage.tools import SqlToolStore
from memgpt.tools.custom import custom_tool
from test_sandbox import kill_named, marker, pids_named, until

WEATHER = '''
from typing import Literal, Optional


def _fmt(city, degrees):
    return f"{city}: {degrees} degrees"


def weather(city: str, unit: Literal["C", "F"] = "C", days: Optional[int] = None,
            tags: list[str] = []) -> str:
    """Look up the weather in a city.

    More words that the model does not need.

    Args:
        city: The city's name.
        unit (str): C or F.
        days: How many days ahead.
        tags: Labels for the forecast.

    Returns:
        str: the forecast.
    """
    return _fmt(city, 21 if unit == "C" else 70) + f" ({days or 0}d, {','.join(tags)})"
'''

MISBEHAVING = '''
import os
import time


def explode(reason: str) -> str:
    """Raise an error.

    Args:
        reason: What to say.
    """
    print("about to fail")
    raise RuntimeError(reason)


def spin() -> str:
    """Loop forever."""
    while True:
        time.sleep(0.01)


def babble() -> str:
    """Write garbage and exit without returning."""
    os.write(1, b"\\xff\\xfe {not json at all\\n")
    os._exit(3)
'''


def results(result: SendResult) -> list[tuple[str, str, bool]]:
    """(tool name, content, is_error) of every tool result of a send."""
    return [(r.name, r.content, r.is_error) for m in result.messages for r in m.tool_results]


def offered(model: ScriptedModel, call: int = -1) -> list[str]:
    """The tool names the model was offered in one of its calls."""
    return [t.name for t in model.calls[call].tools]


async def agent_with(service: AgentService, *tools: ToolDef) -> AgentState:
    """A new agent with the tools attached."""
    state = await service.create_agent(f"agent-{time.monotonic_ns()}", model="scripted")
    for t in tools:
        await service.attach_tool(state.id, t.id)
    return state


# --- creation --------------------------------------------------------------------------------
async def test_schema_from_signature_and_docstring(service: AgentService) -> None:
    """The last top-level function's annotations, defaults and docstring make the schema."""
    tool = await service.create_tool(WEATHER, tags=["demo"])
    assert tool.name == "weather" and not tool.builtin and tool.owner == "local" and tool.tags == ["demo"]
    assert tool.spec.description == "Look up the weather in a city."
    props = tool.spec.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "The city's name."}
    assert props["unit"]["enum"] == ["C", "F"] and props["unit"]["default"] == "C"
    assert props["days"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert props["tags"]["items"] == {"type": "string"}
    assert tool.spec.parameters["required"] == ["city", "request_heartbeat"]
    assert [t.name for t in await service.list_tools()][-1] == "weather"
    assert (await service.get_tool("weather")).id == (await service.get_tool(tool.id)).id == tool.id
    with pytest.raises(AlreadyExistsError):
        await service.create_tool(WEATHER)
    named = await service.create_tool(MISBEHAVING, function="explode")
    assert named.name == "explode" and list(named.spec.parameters["properties"]) == ["reason", "request_heartbeat"]


async def test_upsert_update_delete(service: AgentService) -> None:
    """Upsert keeps the id; update re-reads the source; base tools cannot be changed."""
    first = await service.upsert_tool(WEATHER)
    again = await service.upsert_tool(WEATHER.replace("Look up", "Fetch"))
    assert again.id == first.id and again.spec.description == "Fetch the weather in a city."
    described = await service.update_tool("weather", description="Weather, briefly.", return_char_limit=50)
    assert described.spec.description == "Weather, briefly." and described.return_char_limit == 50
    kept = await service.update_tool("weather", tags=["x"])
    assert kept.spec.description == "Weather, briefly." and kept.tags == ["x"]
    renamed = await service.update_tool(first.id, source_code=MISBEHAVING)  # no weather(): the last def
    assert renamed.id == first.id and renamed.name == "babble"
    for base_op in (service.update_tool("send_message", description="x"), service.delete_tool("send_message")):
        with pytest.raises(InvalidRequestError, match="base tool"):
            await base_op
    await service.delete_tool(first.id)
    with pytest.raises(NotFoundError):
        await service.get_tool(first.id)


BAD_SOURCES = {
    "syntax error": ("def f(:\n    pass\n", "syntax error at line 1"),
    "no function": ("x = 1\n", "no top-level function"),
    "missing annotation": ('def f(x):\n    """Doc.\n\n    Args:\n        x: X.\n    """\n', "no type annotation"),
    "undocumented argument": ('def f(x: int):\n    """Doc."""\n', "'x' is undocumented"),
    "no docstring": ("def f(x: int) -> int:\n    return x\n", "no docstring"),
    "base tool name": ('def send_message(m: str):\n    """Doc.\n\n    Args:\n        m: M.\n    """\n',
                       "taken by a base tool"),
    "unsupported type": ('import os\ndef f(p: os.PathLike):\n    """Doc.\n\n    Args:\n        p: P.\n    """\n',
                         "not supported"),
    "computed default": ('def f(n: int = len("ab")):\n    """Doc.\n\n    Args:\n        n: N.\n    """\n',
                         "must be a literal"),
    "star args": ('def f(*args: int):\n    """Doc."""\n', "*args"),
    "empty": ("   \n", "empty"),
    "null byte": ("def f():\x00\n", "cannot contain null bytes"),
    "named function missing": (WEATHER, "no top-level function 'forecast'"),
}


@pytest.mark.parametrize("case", list(BAD_SOURCES))
async def test_bad_source_is_rejected(service: AgentService, case: str) -> None:
    """Each kind of unusable source is refused with a message saying what is wrong."""
    source, words = BAD_SOURCES[case]
    function = "forecast" if case == "named function missing" else None
    with pytest.raises(ToolDefinitionError, match=words.replace("*", r"\*")):
        await service.create_tool(source, function=function)
    assert [t for t in await service.list_tools() if not t.builtin] == []


def test_creation_never_runs_the_source(tmp_path: Path) -> None:
    """Top-level code of the source is not executed when the tool is made."""
    marker = tmp_path / "ran"
    source = f'open({str(marker)!r}, "w").write("x")\n\ndef f() -> str:\n    """Doc."""\n    return "ok"\n'
    assert custom_tool(source, owner="me").name == "f"
    assert not marker.exists()


# --- running ---------------------------------------------------------------------------------
async def test_attached_tool_is_offered_and_runs_in_the_sandbox(service: AgentService, model: ScriptedModel) -> None:
    """Attach: the model sees the tool and calling it returns the function's result; detach: gone."""
    tool = await service.create_tool(WEATHER)
    agent = await agent_with(service, tool)
    assert [t.name for t in await service.list_agent_tools(agent.id)][-1] == "weather"
    model.push(tool_call("weather", city="Oslo", unit="F", days=2, tags=["a", "b"], request_heartbeat=True),
               reply("It is 70 in Oslo."))
    result = await service.send_message(agent.id, "Weather in Oslo?")
    assert "weather" in offered(model, 0)
    assert results(result)[0] == ("weather", "Oslo: 70 degrees (2d, a,b)", False)
    assert result.replies == ["It is 70 in Oslo."]
    schema = next(t for t in model.calls[0].tools if t.name == "weather")
    assert schema == tool.spec
    # the model's bad arguments are an error result, validated before anything runs
    model.push(tool_call("weather", city=3, unit="K", request_heartbeat=True), reply("oops"))
    bad = await service.send_message(agent.id, "again")
    name, content, failed = results(bad)[0]
    assert failed and "'unit'" in content and "'city'" in content

    await service.detach_tool(agent.id, tool.id)
    await service.detach_tool(agent.id, tool.id)  # twice: nothing to do
    model.push(tool_call("weather", city="Oslo", request_heartbeat=True), reply("gone"))
    gone = await service.send_message(agent.id, "and now?")
    assert "weather" not in offered(model, -2)
    assert results(gone)[0][2] is True and "Unknown function 'weather'" in results(gone)[0][1]


@pytest.fixture
async def quick(tmp_path: Path, model: ScriptedModel) -> AsyncIterator[AgentService]:
    """A service whose custom tools time out after 1.5 seconds."""
    settings = Settings(home=tmp_path / "quick", tool_timeout=1.5, tool_memory_mb=512)
    async with AgentService(settings, models={"scripted": model}) as svc:
        yield svc


@pytest.mark.parametrize(("function", "args", "expected"), [
    ("explode", {"reason": "the dial is stuck"}, "RuntimeError: the dial is stuck (line 13 of the tool)"),
    ("spin", {}, "did not finish within 1.5 seconds"),
    ("babble", {}, "exited with code 3 without a result"),
])
async def test_failing_tool_is_an_error_result_and_the_agent_goes_on(
    quick: AgentService, model: ScriptedModel, function: str, args: dict[str, Any], expected: str
) -> None:
    """An exception, a timeout or a crash with garbage output: an error result; the chain continues."""
    tool = await quick.create_tool(MISBEHAVING, function=function)
    agent = await agent_with(quick, tool)
    model.push(tool_call(function, request_heartbeat=False, **args), reply("That tool failed; sorry."))
    result = await quick.send_message(agent.id, "try it")
    [(name, content, failed), _] = results(result)
    assert name == function and failed and expected in content
    assert result.replies == ["That tool failed; sorry."]  # a failed call always returns control
    assert model.calls[-1].messages[-1].role is Role.EVENT and model.calls[-1].messages[-1].text == FAILED_EVENT
    if function == "explode":
        assert "about to fail" in content  # what it printed helps the model


async def test_long_results_are_cut_to_the_tools_limit(quick: AgentService, model: ScriptedModel) -> None:
    """A result longer than return_char_limit reaches the model cut, saying how much was cut."""
    source = 'def shout() -> str:\n    """Say a lot."""\n    return "a" * 5000\n'
    agent = await agent_with(quick, await quick.create_tool(source, return_char_limit=100))
    model.push(tool_call("shout", request_heartbeat=False))
    [(_, content, failed)] = results(await quick.send_message(agent.id, "shout"))
    assert not failed and content == "a" * 100 + " [... 4900 more characters cut]"
    with pytest.raises(ToolDefinitionError, match="greater than or equal to 1"):
        await quick.create_tool(source.replace("shout", "whisper"), return_char_limit=-1)


STUBBORN = '''
import os
import time


def stubborn(label: str) -> str:
    """Start a child in the same process group, name both, then never return.

    Args:
        label: The two processes' name, then p for this one and c for the child.
    """
    child = os.fork()
    with open("/proc/self/comm", "w") as f:
        f.write(label + ("c" if child == 0 else "p"))
    while True:
        time.sleep(0.05)
'''


async def test_timeout_kills_the_tool_and_what_it_started(model: ScriptedModel, tmp_path: Path) -> None:
    """At the timeout the tool's whole process tree is killed: the tool and a child it forked
    are seen running on the host during the call and are gone after it, not left running."""
    settings = Settings(home=tmp_path / "home", tool_timeout=4, tool_memory_mb=512)
    label = marker()[:12]
    names = (label + "p", label + "c")
    try:
        async with AgentService(settings, models={"scripted": model}) as svc:
            agent = await agent_with(svc, await svc.create_tool(STUBBORN))
            model.push(tool_call("stubborn", label=label, request_heartbeat=False), reply("gave up"))
            # a survivor holding the output pipe would stall the call: fail rather than hang
            call = asyncio.create_task(asyncio.wait_for(svc.send_message(agent.id, "go"), timeout=60))
            assert await until(lambda: all(pids_named(n) for n in names), 30), "the tool never started"
            result = await call
        [(_, content, failed), _] = results(result)
        assert failed and "did not finish within 4 seconds" in content
        assert await until(lambda: not any(pids_named(n) for n in names), 5), "a process outlived the timeout"
    finally:  # never leave a process of this test behind, whatever failed
        for name in names:
            kill_named(name)


HANDSHAKE = '''
import signal
import time


def handshake(label: str) -> str:
    """Say it is running (by taking a process name), then wait until the server side signals.

    Args:
        label: The process name to take.
    """
    answered = []
    signal.signal(signal.SIGUSR1, lambda *_: answered.append(True))
    with open("/proc/self/comm", "w") as f:
        f.write(label)
    while not answered:
        time.sleep(0.01)
    return "answered"
'''


async def test_sandbox_does_not_block_the_event_loop(service: AgentService, model: ScriptedModel) -> None:
    """While a tool runs in its process, other coroutines of the server run: the tool waits for
    a signal that only a coroutine of this event loop sends, after seeing the tool has started.
    A blocked loop could never send it, and the call would end in the tool timeout instead."""
    agent = await agent_with(service, await service.create_tool(HANDSHAKE))
    label = marker()
    model.push(tool_call("handshake", label=label, request_heartbeat=False),
               reply("it failed"))  # asked for only if the call fails
    signalled = []

    async def answer() -> None:
        while not (pids := pids_named(label)):
            await asyncio.sleep(0.05)
        os.kill(pids[0], signal.SIGUSR1)
        signalled.append(pids[0])

    helper = asyncio.create_task(answer())
    try:
        result = await service.send_message(agent.id, "shake")
    finally:
        helper.cancel()
        kill_named(label)
    assert results(result)[0] == ("handshake", "answered", False)
    assert len(results(result)) == 1 and signalled


async def test_tool_env_holds_no_server_secrets(quick: AgentService, model: ScriptedModel,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's environment is minimal: no API keys of the server's; it runs in a temp dir."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-secret")
    source = 'import os\n\ndef env() -> dict:\n    """Show the environment."""\n' \
             '    return {"keys": sorted(os.environ), "cwd": os.getcwd()}\n'
    agent = await agent_with(quick, await quick.create_tool(source))
    model.push(tool_call("env", request_heartbeat=False))
    [(_, content, failed)] = results(await quick.send_message(agent.id, "env"))
    assert not failed and "OPENAI_API_KEY" not in content and "sk-server-secret" not in content
    assert '"cwd": "/tmp"' in content  # the sandbox's private /tmp


async def test_custom_tools_can_be_turned_off(tmp_path: Path, model: ScriptedModel) -> None:
    """allow_custom_tools=False: no creating or attaching, and attached tools are not offered."""
    home = tmp_path / "home"
    async with AgentService(Settings(home=home), models={"scripted": model}) as svc:
        tool = await svc.create_tool(WEATHER)
        agent = await agent_with(svc, tool)
    async with AgentService(Settings(home=home, allow_custom_tools=False), models={"scripted": model}) as svc:
        with pytest.raises(FeatureDisabledError, match="MEMGPT_ALLOW_CUSTOM_TOOLS"):
            await svc.create_tool(WEATHER.replace("def weather", "def weather2"))
        with pytest.raises(FeatureDisabledError):
            await svc.attach_tool(agent.id, tool.id)
        assert "weather" not in [t.name for t in await svc.list_agent_tools(agent.id)]
        model.push(reply("no tools"))
        await svc.send_message(agent.id, "hi")
        assert "weather" not in offered(model)
        await svc.delete_tool(tool.id)  # cleaning up is still allowed


# --- tenancy -----------------------------------------------------------------------------------
async def test_tools_belong_to_their_user(service: AgentService, model: ScriptedModel) -> None:
    """Bob neither sees, changes, deletes nor attaches Alice's tools; names are per user."""
    alice, bob = service.scoped("alice"), service.scoped("bob")
    tool = await alice.create_tool(WEATHER)
    bobs_agent = await bob.create_agent("bobs", model="scripted")
    for attempt in (bob.get_tool(tool.id), bob.get_tool("weather"), bob.update_tool(tool.id, tags=["x"]),
                    bob.delete_tool(tool.id), bob.attach_tool(bobs_agent.id, tool.id)):
        with pytest.raises(NotFoundError):
            await attempt
    with pytest.raises(InvalidRequestError, match="unknown tools"):
        await bob.create_agent("with-alices", model="scripted", tools=[tool.id])
    assert [t.name for t in await bob.list_tools() if not t.builtin] == []
    bobs = await bob.create_tool(WEATHER)
    assert bobs.id != tool.id and (await alice.get_tool("weather")).id == tool.id
    alices_agent = await alice.create_agent("alices", model="scripted", tools=["weather"])
    assert [t.id for t in await alice.list_agent_tools(alices_agent.id)][-1] == tool.id
    with pytest.raises(NotFoundError):
        await bob.detach_tool(alices_agent.id, bobs.id)


# --- the store on both backends --------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
async def tool_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[SqlToolStore, SqlAgentStore]]:
    """A tool store and an agent store over an empty, migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'tools.db'}"
    else:
        url = await request.getfixturevalue("postgres").database()
    engine = create_engine(url)
    if request.param == "sqlite":
        await migrate(engine)
    sessions = sessionmaker(engine)
    yield SqlToolStore(sessions), SqlAgentStore(sessions)
    await engine.dispose()


async def test_tool_store(tool_store: tuple[SqlToolStore, SqlAgentStore]) -> None:
    """Create, read by id or name, save, attach in order, detach, and cascade on delete."""
    tools, agents = tool_store
    a = custom_tool(WEATHER, owner="ann")
    b = custom_tool(MISBEHAVING, owner="ann", function="spin")
    await tools.create(a)
    await tools.create(b)
    with pytest.raises(AlreadyExistsError):
        await tools.create(custom_tool(WEATHER, owner="ann"))
    await tools.create(custom_tool(WEATHER, owner="ben"))  # another user, same name
    assert (await tools.get("ann", "weather")) == a
    assert (await tools.get("ann", a.id)).spec == a.spec
    with pytest.raises(NotFoundError):
        await tools.get("ben", a.id)
    assert [t.id for t in await tools.all("ann")] == [a.id, b.id]
    await tools.save(a.model_copy(update={"tags": ["new"], "return_char_limit": 99}))
    stored = await tools.get("ann", a.id)
    assert stored.tags == ["new"] and stored.return_char_limit == 99
    with pytest.raises(AlreadyExistsError):
        await tools.save(b.model_copy(update={"name": "weather"}))

    state = AgentState(owner="ann", name="x", model="m", instructions="i", context_window=4096)
    await agents.create(state, [])
    await tools.attach(state.id, b.id)
    await tools.attach(state.id, a.id)
    await tools.attach(state.id, b.id)  # again: nothing changes
    assert [t.id for t in await tools.for_agent(state.id)] == [b.id, a.id]
    await tools.detach(state.id, b.id)
    assert [t.id for t in await tools.for_agent(state.id)] == [a.id]
    with pytest.raises(NotFoundError):
        await tools.attach("agent-none", a.id)
    await tools.delete("ann", a.id)
    assert await tools.for_agent(state.id) == []
    await tools.attach(state.id, b.id)
    await agents.delete(state.id)
    assert [t.id for t in await tools.all("ann")] == [b.id]  # deleting the agent keeps the tool
    with pytest.raises(NotFoundError):
        await tools.delete("ben", b.id)


# --- over HTTP ---------------------------------------------------------------------------------
async def test_bad_source_over_http_is_a_4xx_json(service: AgentService) -> None:
    """Letta's /v1/tools answers bad source with 400 and a JSON body naming the problem."""
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for case, (source, words) in BAD_SOURCES.items():
            if case == "named function missing":
                continue
            r = await http.post("/v1/tools/", json={"source_code": source})
            assert r.status_code == 400, (case, r.text)
            if case == "null byte":  # over HTTP refused first as text no store keeps
                assert r.json()["type"] in ("invalid_text", "ToolDefinitionError"), r.text
                continue
            assert r.json()["type"] == "ToolDefinitionError" and words in r.json()["detail"], (case, r.text)
        r = await http.post("/v1/tools/", json={"source_code": WEATHER, "json_schema": {"name": "forecast"}})
        assert r.status_code == 400 and "forecast" in r.json()["detail"]
        r = await http.post("/v1/tools/", json={"source_code": WEATHER, "pip_requirements": [{"name": "numpy"}]})
        assert r.status_code == 400 and "requirements" in r.json()["detail"]
        r = await http.post("/v1/tools/", json={"source_code": WEATHER, "source_type": "typescript"})
        assert r.status_code == 400
        r = await http.post("/v1/tools/", json={"source_code": WEATHER})
        assert r.status_code == 200 and r.json()["tool_type"] == "custom"
        assert (await http.post("/v1/tools/", json={"source_code": WEATHER})).status_code == 409
        agent = (await http.post("/v1/agents/", json={"name": "web", "model": "scripted",
                                                      "tools": ["weather"]})).json()
        assert agent["tools"][-1]["name"] == "weather"
        r = await http.patch(f"/v1/agents/{agent['id']}", json={"tool_ids": []})
        assert r.status_code == 200 and "weather" not in [t["name"] for t in r.json()["tools"]]
        disabled = httpx.ASGITransport(app=create_app(_disabled(service)))
        async with httpx.AsyncClient(transport=disabled, base_url="http://test") as off:
            r = await off.post("/v1/tools/", json={"source_code": WEATHER.replace("weather(", "w2(")})
            assert r.status_code == 403 and r.json()["type"] == "FeatureDisabledError"


def _disabled(service: AgentService) -> AgentService:
    view = service.scoped(service.owner)
    view.settings = service.settings.model_copy(update={"allow_custom_tools": False})
    return view
