"""Conversations with the real letta-client against memgpt server and the scripted model:
several threads with one agent, each with its own window and summary, over one core memory."""

from __future__ import annotations

import asyncio

import pytest
from letta_client import BadRequestError, Letta, NotFoundError
from letta_client.types import AgentState
from letta_client.types.agents import AssistantMessage, UserMessage

from memgpt import AgentService, Settings
from memgpt.core.errors import InvalidRequestError as InvalidRequest
from memgpt.core.errors import NotFoundError as NotFound
from memgpt.core.errors import ScriptExhaustedError
from memgpt.core.schemas import Role
from memgpt.llm.base import ModelRequest
from memgpt.llm.scripted import ScriptedModel, reply, text, tool_call


from letta_users import Users, users  # noqa: E402,F401  (the fixture)


def _agent(letta: Letta) -> AgentState:
    return letta.agents.create(model="scripted", memory_blocks=[{"label": "human", "value": "Nothing yet."}])


def _said(request: ModelRequest) -> list[str]:
    """The user messages in a model request, oldest first."""
    return [m.text for m in request.messages if m.role is Role.USER]


def _send(letta: Letta, conversation: str, words: str) -> list[object]:
    """A non-streamed send in a conversation."""
    return list(letta.conversations.messages.with_raw_response.create(
        conversation, messages=[{"role": "user", "content": words}], streaming=False,
    ).parse())  # type: ignore[arg-type]


def _chat(letta: Letta, conversation: str, words: str) -> list[object]:
    """A send in a conversation as the SDK makes it by default: streamed."""
    return list(letta.conversations.messages.create(conversation, messages=[{"role": "user", "content": words}]))


def test_two_conversations_keep_separate_windows_over_one_core_memory(users: Users) -> None:
    ada, model = users.ada, users.model
    agent = _agent(ada)
    one = ada.conversations.create(agent_id=agent.id, description="about tea")
    two = ada.conversations.create(agent_id=agent.id)
    assert one.agent_id == two.agent_id == agent.id and one.id.startswith("conv-")

    model.push(tool_call("core_memory_append", label="human", content="Likes green tea.", request_heartbeat=True),
               reply("Noted, tea."))
    chunks = _chat(ada, one.id, "I like green tea.")
    assert any(getattr(c, "message_type", "") == "assistant_message" and "Noted, tea." in str(getattr(c, "content", ""))
               for c in chunks)
    assert _said(model.calls[-1]) == ["I like green tea."]

    model.push(reply("Hello there."))
    _chat(ada, two.id, "Who am I?")
    request = model.calls[-1]
    assert _said(request) == ["Who am I?"]  # only its own thread's messages
    assert "Likes green tea." in request.system  # the block edit made in the other thread

    model.push(reply("Still tea."))
    _chat(ada, one.id, "And now?")
    assert _said(model.calls[-1]) == ["I like green tea.", "And now?"]

    # the agent's default thread is untouched by both
    model.push(reply("Default here."))
    ada.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Plain hello"}])
    assert _said(model.calls[-1]) == ["Plain hello"] and "Likes green tea." in model.calls[-1].system

    listed = ada.conversations.messages.list(one.id, order="asc")
    users_said = [m.content for m in listed if isinstance(m, UserMessage)]
    assert users_said == ["I like green tea.", "And now?"]
    assert [m.content for m in ada.conversations.messages.list(two.id) if isinstance(m, AssistantMessage)] == [
        "Hello there."]
    newest = ada.conversations.messages.list(one.id, limit=1)
    assert isinstance(newest.items[0], AssistantMessage) and newest.items[0].content == "Still tea."
    got = ada.conversations.retrieve(one.id)
    assert got.last_message_at is not None and got.in_context_message_ids
    assert {c.id for c in ada.conversations.list(agent_id=agent.id)} == {one.id, two.id}


def test_non_streamed_send_and_default_thread_by_name(users: Users) -> None:
    ada, model = users.ada, users.model
    agent = _agent(ada)
    conv = ada.conversations.create(agent_id=agent.id)
    model.push(reply("Plain answer."))
    response = ada.post(f"/v1/conversations/{conv.id}/messages", cast_to=object,
                        body={"messages": [{"role": "user", "content": "hi"}], "streaming": False})
    assert isinstance(response, dict) and any(
        m.get("content") == "Plain answer." for m in response["messages"])
    model.push(reply("In the default thread."))
    _chat_default = list(ada.conversations.messages.create(
        "default", agent_id=agent.id, messages=[{"role": "user", "content": "default hi"}]))
    assert _chat_default and _said(model.calls[-1]) == ["default hi"]
    default = ada.conversations.messages.list("default", agent_id=agent.id, order="asc")
    assert [m.content for m in default if isinstance(m, UserMessage)] == ["default hi"]


def test_fork_copies_the_window_and_goes_its_own_way(users: Users) -> None:
    ada, model = users.ada, users.model
    agent = _agent(ada)
    source = ada.conversations.create(agent_id=agent.id)
    model.push(reply("One."))
    _chat(ada, source.id, "first")
    model.push(reply("Two."))
    _chat(ada, source.id, "second")
    fork = ada.conversations.fork(source.id)
    assert fork.id != source.id and fork.agent_id == agent.id
    model.push(reply("Forked."))
    _chat(ada, fork.id, "third, in the fork")
    assert _said(model.calls[-1]) == ["first", "second", "third, in the fork"]
    model.push(reply("Source."))
    _chat(ada, source.id, "third, in the source")
    assert _said(model.calls[-1]) == ["first", "second", "third, in the source"]

    first_input = [m for m in ada.conversations.messages.list(source.id, order="asc") if isinstance(m, UserMessage)][0]
    early = ada.conversations.fork(source.id, message_id=first_input.id)
    model.push(reply("Early."))
    _chat(ada, early.id, "after the first")
    assert _said(model.calls[-1]) == ["first", "after the first"]
    with pytest.raises(NotFoundError):
        ada.conversations.fork(source.id, message_id="message-nope")


def test_compact_moves_the_window_into_the_summary_of_that_conversation(users: Users) -> None:
    ada, model = users.ada, users.model
    agent = _agent(ada)
    conv = ada.conversations.create(agent_id=agent.id)
    other = ada.conversations.create(agent_id=agent.id)
    for n in range(3):
        model.push(reply(f"Answer {n}."))
        _chat(ada, conv.id, f"question {n}")
    with pytest.raises(BadRequestError, match="nothing to compact"):
        ada.conversations.messages.compact(other.id)
    model.push(text("They asked three questions about zebras."))
    done = ada.conversations.messages.compact(conv.id)
    assert done.summary == "They asked three questions about zebras."
    assert done.num_messages_after < done.num_messages_before
    model.push(reply("After compaction."))
    _chat(ada, conv.id, "question 3")
    request = model.calls[-1]
    assert "three questions about zebras" in request.system
    assert _said(request) == ["question 2", "question 3"]
    assert ada.conversations.retrieve(conv.id).summary == "They asked three questions about zebras."
    model.push(reply("Other."))
    _chat(ada, other.id, "hello other")
    assert "zebras" not in model.calls[-1].system  # a summary is its conversation's own

    compiled = ada.conversations.recompile(conv.id, dry_run=True)
    assert "zebras" in compiled and "Nothing yet." in compiled


def test_update_archive_list_delete_and_tenancy(users: Users) -> None:
    ada, bob = users.ada, users.bob
    agent = _agent(ada)
    a = ada.conversations.create(agent_id=agent.id, summary="We met about kites.")
    b = ada.conversations.create(agent_id=agent.id, hidden=True)
    c = ada.conversations.create(agent_id=agent.id)
    assert a.summary == "We met about kites."
    assert [x.id for x in ada.conversations.list(agent_id=agent.id)] == [c.id, a.id]  # newest first, hidden left out
    assert [x.id for x in ada.conversations.list(agent_id=agent.id, order="asc")] == [a.id, c.id]
    assert [x.id for x in ada.conversations.list(summary_search="KITES")] == [a.id]
    assert [x.id for x in ada.conversations.list(agent_id=agent.id, after=c.id)] == [a.id]
    changed = ada.conversations.update(c.id, archived=True, description="old")
    assert changed.archived and changed.archived_at is not None and changed.description == "old"
    assert [x.id for x in ada.conversations.list(agent_id=agent.id)] == [a.id]
    assert [x.id for x in ada.conversations.list(agent_id=agent.id, archive_status="archived")] == [c.id]
    assert ada.conversations.retrieve(b.id).id == b.id  # hidden from lists, not from its owner

    for call in (lambda: bob.conversations.retrieve(a.id), lambda: bob.conversations.update(a.id, description="x"),
                 lambda: bob.conversations.delete(a.id), lambda: bob.conversations.messages.list(a.id),
                 lambda: bob.conversations.fork(a.id), lambda: bob.conversations.messages.compact(a.id),
                 lambda: bob.conversations.recompile(a.id),
                 lambda: bob.conversations.create(agent_id=agent.id)):
        with pytest.raises(NotFoundError):
            call()
    with pytest.raises(NotFoundError):
        list(bob.conversations.messages.create(a.id, messages=[{"role": "user", "content": "hi"}]))
    assert bob.conversations.list() == []

    ada.conversations.delete(a.id)
    with pytest.raises(NotFoundError):
        ada.conversations.retrieve(a.id)
    with pytest.raises(NotFoundError):
        ada.conversations.delete(a.id)
    with pytest.raises(BadRequestError):
        ada.conversations.messages.list("default")  # the default thread needs its agent


# --- the service and its store, on SQLite and PostgreSQL ---------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
async def db_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings on a fresh database of each kind."""
    if request.param == "sqlite":
        return settings
    url = await request.getfixturevalue("postgres").database()
    return settings.model_copy(update={"database_url": url})


async def _thread_state(svc: AgentService, conversation: str) -> tuple[list[str], list[str]]:
    """The ids of the window a thread's next request would carry (as loaded under the lease)
    and of its stored messages from its ``context_start`` on (what it must equal)."""
    thread = await svc._thread(conversation)
    async with svc.kernel.lock(thread.agent.id) as lease:
        runtime = await svc.runtime(lease, thread.conversation)
    stored = await svc.conversation_messages(conversation, limit=1000, after=runtime.state.context_start - 1)
    return [m.id for m in runtime.context], [m.id for m in stored]


async def test_crash_and_restart_keep_each_window_consistent_with_its_recall(db_settings: Settings) -> None:
    """A turn in one conversation dies after its first step; after a restart each thread's
    window is exactly its stored messages from its start, and the next requests say so."""
    model = ScriptedModel()
    async with AgentService(db_settings, models={"scripted": model}) as svc:
        agent = await svc.create_agent("ada", model="scripted", human="Nothing yet.")
        one, two = await svc.create_conversation(agent.id), await svc.create_conversation(agent.id)
        model.push(reply("A1."))
        await svc.send_conversation_message(one.id, "one-a")
        model.push(reply("B1."))
        await svc.send_conversation_message(two.id, "two-a")
        model.push(tool_call("core_memory_append", label="human", content="Crash-proof.", request_heartbeat=True))
        with pytest.raises(ScriptExhaustedError):  # the model is gone mid-chain
            await svc.send_conversation_message(one.id, "one-b")
        listed = await svc.list_conversations(agent=agent.id, order_by="last_message_at")
        assert [c.id for c in listed] == [one.id, two.id]

    model = ScriptedModel()
    async with AgentService(db_settings, models={"scripted": model}) as svc:  # a new process
        for conv in (one, two):
            window, stored = await _thread_state(svc, conv.id)
            assert window == stored and window
        model.push(reply("A2."))
        await svc.send_conversation_message(one.id, "one-c")
        request = model.calls[-1]
        assert _said(request) == ["one-a", "one-b", "one-c"] and "Crash-proof." in request.system
        model.push(reply("B2."))
        await svc.send_conversation_message(two.id, "two-b")
        assert _said(model.calls[-1]) == ["two-a", "two-b"] and "Crash-proof." in model.calls[-1].system
        model.push(reply("Default."))
        await svc.send_message(agent.id, "default-a")
        assert _said(model.calls[-1]) == ["default-a"]
        everything = await svc.list_messages(agent.id, limit=100)
        assert [m.seq for m in everything] == list(range(len(everything)))  # one seq for every thread
        for conv in (one, two):
            window, stored = await _thread_state(svc, conv.id)
            assert window == stored


async def test_store_lists_forks_and_deletes(db_settings: Settings) -> None:
    model = ScriptedModel()
    async with AgentService(db_settings, models={"scripted": model}) as svc:
        agent = await svc.create_agent("ada", model="scripted")
        other = await svc.create_agent("bo", model="scripted")
        a = await svc.create_conversation(agent.id, summary="Kites and strings")
        b = await svc.create_conversation(other.id)
        model.push(reply("Hi."))
        await svc.send_conversation_message(a.id, "hello")
        fork = await svc.fork_conversation(a.id)
        assert fork.summary == "Kites and strings" and fork.context_start > a.context_start
        assert [m.text for m in await svc.conversation_messages(fork.id)] == [
            m.text for m in await svc.conversation_messages(a.id)]
        assert [c.id for c in await svc.list_conversations()] == [fork.id, b.id, a.id]
        assert [c.id for c in await svc.list_conversations(agent="bo")] == [b.id]
        assert [c.id for c in await svc.list_conversations(summary_search="kites", descending=False)] == [a.id, fork.id]
        assert [c.id for c in await svc.list_conversations(limit=1, after=b.id)] == [a.id]
        await svc.update_conversation(b.id, archived=True)
        assert [c.id for c in await svc.list_conversations(archive_status="archived")] == [b.id]
        await svc.delete_conversation(a.id)
        with pytest.raises(NotFound):
            await svc.get_conversation(a.id)
        assert len(await svc.list_messages(agent.id)) == 2 * len(await svc.conversation_messages(fork.id))
        with pytest.raises(NotFound):
            await svc.scoped("bob").get_conversation(fork.id)
        with pytest.raises(InvalidRequest):
            await svc.update_conversation(fork.id, context_window_limit=100)


def test_stream_resumes_the_conversations_latest_run_and_cancel_finds_none(users: Users) -> None:
    ada, model = users.ada, users.model
    agent = _agent(ada)
    conv = ada.conversations.create(agent_id=agent.id)
    with pytest.raises(BadRequestError, match="no run"):
        list(ada.conversations.messages.stream(conv.id))
    model.push(reply("Streamed once."))
    _chat(ada, conv.id, "hello")
    replayed = list(ada.conversations.messages.stream(conv.id))
    assert [getattr(c, "content", None) for c in replayed if getattr(c, "message_type", "") == "assistant_message"] == [
        "Streamed once."]
    assert ada.conversations.cancel(conv.id) == {}  # nothing running
    with pytest.raises(NotFoundError):
        list(users.bob.conversations.messages.stream(conv.id))


def test_cli_new_send_fork_list_messages_compact_delete(settings: Settings) -> None:
    """`memgpt conversations new|send|fork|list|messages|compact|delete` on the offline demo model."""
    from typer.testing import CliRunner

    from memgpt.cli.main import app
    from memgpt.services.service import default_service

    async def make_agent() -> None:
        async with default_service(settings) as svc:
            await svc.create_agent("cli-agent", model="demo")

    asyncio.run(make_agent())
    runner, home = CliRunner(), ["--home", str(settings.home)]

    def ok(*args: str) -> str:
        done = runner.invoke(app, ["conversations", *args, *home])
        assert done.exit_code == 0, done.output
        return done.output

    conv = ok("new", "cli-agent", "--description", "about owls").split()[0]
    assert conv.startswith("conv-")
    assert "You said" in ok("send", conv, "owls are great")
    ok("send", conv, "tell me more")
    fork = ok("fork", conv).split()[0]
    listed = ok("list", "cli-agent")
    assert conv in listed and fork in listed and "about owls" in listed
    assert "owls are great" in ok("messages", fork)
    assert "in context" in ok("compact", conv)
    ok("delete", fork)
    assert fork not in ok("list")
    bad = runner.invoke(app, ["conversations", "send", "conv-nope", "hi", *home])
    assert bad.exit_code == 1 and "no conversation" in bad.output
