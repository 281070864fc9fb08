"""Tool control with the real letta-client against memgpt server and the scripted model:
running a tool outside a turn, approvals (approve, deny, across a restart), tool rules and
tool search, each for its owner only."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from letta_client import BadRequestError, ConflictError, Letta, NotFoundError
from letta_client.types import AgentState, ToolReturnMessage
from letta_client.types.agents import ApprovalRequestMessage, AssistantMessage, ToolCallMessage

from memgpt import AgentService, MemGPT, Settings
from memgpt.core.errors import AlreadyExistsError, InvalidRequestError
from memgpt.core.schemas import Role, StopReason, ToolRule
from memgpt.core.tool_control import Decision, ToolRun
from memgpt.llm.scripted import ScriptedModel, reply, tool_call
from memgpt.runtime.rules import PendingApprovalError
from memgpt.sdk.client import Client
from memgpt.server import BackgroundServer


from letta_users import Users, users  # noqa: E402,F401  (the fixture)


def _agent(letta: Letta, **extra: object) -> AgentState:
    return letta.agents.create(
        model="scripted", memory_blocks=[{"label": "human", "value": "Nothing yet."}], **extra)  # type: ignore[arg-type]


def _say(letta: Letta, agent: AgentState, text: str) -> list[object]:
    return list(letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": text}]).messages)


def test_run_tool_edits_memory_seen_by_the_next_request(users: Users) -> None:
    agent = _agent(users.ada)
    done = users.ada.agents.tools.run("core_memory_append", agent_id=agent.id,
                                      args={"label": "human", "content": "Likes green tea."})
    assert done.status == "success" and "Appended" in str(done.func_return)
    failed = users.ada.agents.tools.run("core_memory_append", agent_id=agent.id,
                                        args={"label": "nope", "content": "x"})
    assert failed.status == "error"  # the tool's own failure is a result, not an HTTP error
    with pytest.raises(BadRequestError, match="content"):
        users.ada.agents.tools.run("core_memory_append", agent_id=agent.id, args={"label": "human"})
    with pytest.raises(NotFoundError, match="no tool"):
        users.ada.agents.tools.run("teleport", agent_id=agent.id, args={})
    with pytest.raises(NotFoundError):
        users.bob.agents.tools.run("core_memory_append", agent_id=agent.id,
                                   args={"label": "human", "content": "Bob was here."})
    users.model.push(reply("Noted."))
    _say(users.ada, agent, "Hello")
    system = users.model.calls[-1].system
    assert "Likes green tea." in system and "Bob was here." not in system
    assert users.ada.agents.blocks.retrieve("human", agent_id=agent.id).value.endswith("Likes green tea.")


def test_approval_approved_runs_the_tool_and_resumes(users: Users) -> None:
    agent = _agent(users.ada)
    updated = users.ada.agents.tools.update_approval(
        "core_memory_append", agent_id=agent.id, body_requires_approval=True)
    assert updated is not None and [r.type for r in updated.tool_rules or []] == ["requires_approval"]
    with pytest.raises(NotFoundError):
        users.bob.agents.tools.update_approval("core_memory_append", agent_id=agent.id, body_requires_approval=False)
    users.model.push(tool_call("core_memory_append", label="human", content="Name: Ada", request_heartbeat=True))
    first = users.ada.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "I'm Ada"}])
    assert first.stop_reason.stop_reason == "requires_approval"
    [request] = [m for m in first.messages if isinstance(m, ApprovalRequestMessage)]
    assert request.tool_call.name == "core_memory_append"  # type: ignore[union-attr]
    assert users.ada.agents.blocks.retrieve("human", agent_id=agent.id).value == "Nothing yet."
    with pytest.raises(ConflictError, match="waiting for approval"):  # as Letta: answer it first
        _say(users.ada, agent, "Hello?")
    users.model.push(reply("Saved your name, Ada."))
    answer = users.ada.agents.messages.create(agent_id=agent.id, messages=[
        {"type": "approval", "approve": True, "approval_request_id": request.id}])
    kinds = [type(m) for m in answer.messages]
    assert kinds == [ToolReturnMessage, AssistantMessage] and answer.stop_reason.stop_reason == "end_turn"
    assert answer.messages[0].status == "success"  # type: ignore[union-attr]
    assert users.ada.agents.blocks.retrieve("human", agent_id=agent.id).value.endswith("Name: Ada")
    history = users.ada.agents.messages.list(agent_id=agent.id, limit=100, order="asc").items
    assert any(isinstance(m, ApprovalRequestMessage) for m in history)
    with pytest.raises(BadRequestError, match="no tool call is awaiting"):
        users.ada.agents.messages.create(agent_id=agent.id, messages=[{"type": "approval", "approve": True}])


def test_approval_denied_tells_the_model_why_in_a_stream(users: Users) -> None:
    agent = _agent(users.ada)
    users.ada.agents.tools.update_approval("archival_memory_insert", agent_id=agent.id, body_requires_approval=True)
    users.model.push(tool_call("archival_memory_insert", content="secret plan", request_heartbeat=True))
    chunks = list(users.ada.agents.messages.stream(agent_id=agent.id, messages=[{"role": "user", "content": "hi"}]))
    [request] = [c for c in chunks if getattr(c, "message_type", "") == "approval_request_message"]
    assert [c.stop_reason for c in chunks if getattr(c, "message_type", "") == "stop_reason"] == ["requires_approval"]
    call_id = request.tool_call.tool_call_id  # type: ignore[union-attr]
    with pytest.raises(BadRequestError, match="answer every pending"):
        users.ada.agents.messages.create(agent_id=agent.id, messages=[{"type": "approval", "approvals": [
            {"type": "approval", "tool_call_id": "call-other", "approve": True}]}])
    users.model.push(reply("Understood, I will not save it."))
    after = list(users.ada.agents.messages.stream(agent_id=agent.id, messages=[{"type": "approval", "approvals": [
        {"type": "approval", "tool_call_id": call_id, "approve": False, "reason": "too private"}]}]))
    returns = [c for c in after if getattr(c, "message_type", "") == "tool_return_message"]
    assert returns and returns[0].status == "error" and "too private" in returns[0].tool_return  # type: ignore[union-attr]
    seen = [r for m in users.model.calls[-1].messages for r in m.tool_results]
    assert seen[-1].is_error and "denied" in seen[-1].content and "too private" in seen[-1].content
    assert users.ada.agents.passages.list(agent_id=agent.id) == []


async def test_pending_approval_survives_a_restart(settings: Settings, model: ScriptedModel) -> None:
    async with AgentService(settings, models={"scripted": model}) as svc:
        agent = await svc.create_agent("keeper", model="scripted")
        await svc.set_tool_approval(agent.id, "core_memory_append", True)
        model.push(tool_call("core_memory_append", label="human", content="Pi is 3.14", request_heartbeat=True))
        first = await svc.send_message(agent.id, "remember pi")
        assert first.steps[-1].stop_reason is StopReason.REQUIRES_APPROVAL
    async with AgentService(settings, models={"scripted": model}) as svc:  # a new process
        with pytest.raises(PendingApprovalError):
            await svc.send_message(agent.id, "anything?")
        model.push(reply("Remembered."))
        done = await svc.send_approval(agent.id, [Decision(approve=True)])
        assert done.input.role is Role.TOOL and not done.input.tool_results[0].is_error
        assert done.replies == ["Remembered."]
        assert "Pi is 3.14" in (await svc.get_block(agent.id, "human")).value


def test_tool_rules_change_the_loop(users: Users) -> None:
    m = users.model
    rules = [{"type": "exit_loop", "tool_name": "core_memory_append"},
             {"type": "max_count_per_step", "tool_name": "archival_memory_insert", "max_count_limit": 1}]
    agent = _agent(users.ada, tool_rules=rules)
    assert [r.type for r in users.ada.agents.retrieve(agent.id).tool_rules or []] == ["exit_loop", "max_count_per_step"]
    # terminal: the chain ends after it ran, though the call asked for a heartbeat
    m.push(tool_call("core_memory_append", label="human", content="A", request_heartbeat=True))
    calls = len(m.calls)
    out = _say(users.ada, agent, "one")
    assert len(m.calls) == calls + 1 and isinstance(out[-1], ToolReturnMessage)
    # max count: the second call is refused and the tool is no longer offered
    m.push(tool_call("archival_memory_insert", content="x", request_heartbeat=True),
           tool_call("archival_memory_insert", content="y", request_heartbeat=True), reply("ok"))
    out = _say(users.ada, agent, "two")
    returns = [r for r in out if isinstance(r, ToolReturnMessage)]
    assert [r.status for r in returns] == ["success", "error"] and "at most 1" in returns[1].tool_return
    assert "archival_memory_insert" not in [t.name for t in m.calls[-1].tools]
    assert [p.text for p in users.ada.agents.passages.list(agent_id=agent.id)] == ["x"]


def test_run_first_and_required_before_exit(users: Users) -> None:
    m = users.model
    agent = _agent(users.ada, tool_rules=[
        {"type": "run_first", "tool_name": "archival_memory_search", "args": {"query": "tea"}},
        {"type": "required_before_exit", "tool_name": "core_memory_append"}])
    m.push(reply("Hi!"), tool_call("core_memory_append", label="human", content="Said hi"), reply("unused"))
    out = _say(users.ada, agent, "hello")
    assert isinstance(out[0], ToolCallMessage) and out[0].tool_call.name == "archival_memory_search"  # type: ignore[union-attr]
    first = m.calls[-2]  # the model's first request already holds the run-first call's result
    assert any(r.name == "archival_memory_search" for msg in first.messages for r in msg.tool_results)
    assert "core_memory_append" in m.calls[-1].messages[-1].text  # told to call it before the end
    assert m.queue and users.ada.agents.blocks.retrieve("human", agent_id=agent.id).value.endswith("Said hi")


def test_bad_tool_rules_are_refused(users: Users) -> None:
    with pytest.raises(BadRequestError, match="not supported"):
        _agent(users.ada, tool_rules=[{"type": "continue_loop", "tool_name": "send_message"}])
    with pytest.raises(BadRequestError, match="does not have"):
        _agent(users.ada, name="ghost-rules", tool_rules=[{"type": "exit_loop", "tool_name": "teleport"}])
    assert [a.name for a in users.ada.agents.list()] == []  # the refused create left nothing
    agent = _agent(users.ada)
    with pytest.raises(BadRequestError, match="max_count_limit"):
        users.ada.agents.update(agent.id, tool_rules=[{"type": "max_count_per_step", "tool_name": "send_message"}])  # type: ignore[list-item]
    updated = users.ada.agents.update(agent.id, tool_rules=[{"type": "exit_loop", "tool_name": "send_message"}])
    assert [(r.type, r.tool_name) for r in updated.tool_rules or []] == [("exit_loop", "send_message")]


def test_tool_search_finds_a_tool(users: Users) -> None:
    hits = users.ada.tools.search(query="insert archival memory", limit=3)
    assert hits[0].tool.name == "archival_memory_insert" and hits[0].combined_score > 0
    assert len(hits) <= 3
    assert users.ada.tools.search(query="zzzz-nothing") == []
    core = users.ada.tools.search(query="memory", tool_types=["letta_memory_core"])
    assert {h.tool.name for h in core} == {"core_memory_append", "core_memory_replace"}


@pytest.mark.parametrize("kind", ["local", "client"])
def test_python_apis(settings: Settings, kind: str) -> None:
    """memgpt.MemGPT and memgpt.Client (over the native routes) do the same."""
    model = ScriptedModel()
    with contextlib.ExitStack() as stack:
        if kind == "local":
            api: MemGPT | Client = stack.enter_context(MemGPT(settings, models={"scripted": model}))
        else:
            service = AgentService(settings, models={"scripted": model})
            server = stack.enter_context(BackgroundServer(service))
            api = stack.enter_context(Client(server.url))
        agent = api.create_agent("sdk", model="scripted")
        ran = api.run_tool(agent.id, "core_memory_append", {"label": "human", "content": "Tea."})
        assert isinstance(ran, ToolRun) and not ran.is_error and ran.content.startswith("Appended")
        assert api.get_block(agent.id, "human").value.endswith("Tea.")
        with pytest.raises(InvalidRequestError):
            api.run_tool(agent.id, "core_memory_append", {"label": "human"})
        state = api.set_tool_rules(agent.id, [ToolRule(type="exit_loop", tool_name="send_message")])
        assert [r.type for r in state.tool_rules] == ["exit_loop"]
        state = api.set_tool_approval(agent.id, "archival_memory_insert")
        assert [r.type for r in state.tool_rules] == ["exit_loop", "requires_approval"]
        model.push(tool_call("archival_memory_insert", content="plan", request_heartbeat=True),
                   tool_call("archival_memory_insert", content="plan B", request_heartbeat=True), reply("ok"))
        held = api.send_message(agent.id, "save it")
        assert held.steps[-1].stop_reason == StopReason.REQUIRES_APPROVAL
        with pytest.raises(AlreadyExistsError, match="waiting for approval"):
            api.send_message(agent.id, "hello?")
        again = api.send_approval(agent.id, [Decision(approve=False, reason="no plans")])
        assert again.steps[-1].stop_reason == StopReason.REQUIRES_APPROVAL  # the model asked again
        call = next(c for m in again.messages for c in m.tool_calls if c.requires_approval)
        with pytest.raises(InvalidRequestError, match="approval_request_id"):
            api.send_approval(agent.id, [Decision(approve=True)], request_id="message-nope")
        done = api.send_approval(agent.id, [Decision(call_id=call.id, approve=True)])
        assert done.replies == ["ok"] and [p.text for p in api.list_passages(agent.id)] == ["plan B"]
        assert api.search_tools("conversation search date")[0].tool.name == "conversation_search_date"


def test_cli_runs_a_tool_and_searches(tmp_path: Path) -> None:
    """`memgpt tools run` edits memory (a bad --args is refused), `memgpt tools search` ranks."""
    from typer.testing import CliRunner

    from memgpt.cli.main import app

    runner, home = CliRunner(), str(tmp_path / "home")
    assert runner.invoke(app, ["demo", "--home", home]).exit_code == 0
    out = runner.invoke(app, ["tools", "run", "demo", "core_memory_append", "--home", home,
                              "--args", '{"label": "human", "content": "Likes tea."}'])
    assert out.exit_code == 0 and "Appended" in out.output, out.output
    assert "Likes tea." in runner.invoke(app, ["memory", "demo", "--home", home]).output
    bad = runner.invoke(app, ["tools", "run", "demo", "core_memory_append", "--home", home, "--args", "[1]"])
    assert bad.exit_code != 0
    found = runner.invoke(app, ["tools", "search", "archival insert", "--home", home, "--limit", "1"])
    assert "archival_memory_insert" in found.output
