"""The Python API: AgentService (async) and the MemGPT sync wrapper, on real SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from memgpt import AgentService, Block, MemGPT, Message, ScriptedModel, Settings
from memgpt.core.errors import (
    AlreadyExistsError,
    InvalidRequestError,
    ModelNotFoundError,
    NotFoundError,
    ScriptExhaustedError,
)
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory.blocks import DEFAULT_HUMAN, DEFAULT_PERSONA
from memgpt.core.schemas import Role

SECTIONS = {"system", "tools", "blocks", "summary", "metadata", "messages"}


# --- agents ------------------------------------------------------------------------------
async def test_create_list_get_delete_agent(service: AgentService) -> None:
    """Agents can be created, listed in creation order, fetched by id or name, and deleted."""
    first = await service.create_agent("alice", model="scripted")
    second = await service.create_agent("bob", model="scripted")
    assert first.id != second.id and first.id.startswith("agent-")
    assert [a.name for a in await service.list_agents()] == ["alice", "bob"]

    by_id = await service.get_agent(first.id)
    by_name = await service.get_agent("alice")
    assert by_id.id == by_name.id == first.id
    assert by_name.model == "scripted"
    assert by_name.context_window == service.settings.context_window

    await service.delete_agent("alice")
    assert [a.name for a in await service.list_agents()] == ["bob"]
    with pytest.raises(NotFoundError):
        await service.get_agent(first.id)


async def test_duplicate_agent_name_raises(service: AgentService) -> None:
    """A second agent with a taken name raises AlreadyExistsError and is not stored."""
    await service.create_agent("twin", model="scripted")
    with pytest.raises(AlreadyExistsError):
        await service.create_agent("twin", model="scripted")
    assert len(await service.list_agents()) == 1


async def test_rename_to_a_taken_name_raises(service: AgentService) -> None:
    """Renaming an agent to another agent's name raises AlreadyExistsError and changes nothing;
    its own name (with other changes), a free name, or a name only another user has are fine."""
    alpha = await service.create_agent("alpha", model="scripted")
    beta = await service.create_agent("beta", model="scripted")
    with pytest.raises(AlreadyExistsError, match="beta"):
        await service.update_agent(alpha.id, name="beta", instructions="Changed.")
    assert [(a.id, a.name) for a in await service.list_agents()] == [(alpha.id, "alpha"), (beta.id, "beta")]
    assert (await service.get_agent("alpha")).instructions == alpha.instructions

    same = await service.update_agent("alpha", name="alpha", instructions="Be brief.")
    assert same.name == "alpha" and (await service.get_agent(alpha.id)).instructions == "Be brief."

    renamed = await service.update_agent(alpha.id, name="gamma")
    assert renamed.name == "gamma" and (await service.get_agent("gamma")).id == alpha.id
    with pytest.raises(NotFoundError):
        await service.get_agent("alpha")
    with pytest.raises(AlreadyExistsError):
        await service.update_agent(beta.id, name="gamma")

    await service.scoped("someone-else").create_agent("delta", model="scripted")
    assert (await service.update_agent(beta.id, name="delta")).name == "delta"
    assert [a.name for a in await service.list_agents()] == ["gamma", "delta"]


async def test_unknown_agent_raises_not_found(service: AgentService) -> None:
    """Every per-agent call with an unknown id or name raises NotFoundError."""
    with pytest.raises(NotFoundError):
        await service.get_agent("nobody")
    with pytest.raises(NotFoundError):
        await service.delete_agent("agent-00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        await service.send_message("nobody", "hello")
    with pytest.raises(NotFoundError):
        await service.list_blocks("nobody")
    with pytest.raises(NotFoundError):
        await service.context_window("nobody")


async def test_unknown_model_raises_model_not_found(service: AgentService) -> None:
    """Creating an agent on an unconfigured model (or summarizer) raises and stores nothing."""
    with pytest.raises(ModelNotFoundError, match="gpt-nonexistent"):
        await service.create_agent("ghost", model="gpt-nonexistent")
    with pytest.raises(ModelNotFoundError):
        await service.create_agent("ghost", model="scripted", summarizer_model="nope")
    assert await service.list_agents() == []


async def test_delete_agent_removes_blocks_messages_passages(
    service: AgentService, model: ScriptedModel
) -> None:
    """Deleting an agent deletes its blocks, messages, steps, passages and their search index."""
    doomed = await service.create_agent("doomed", model="scripted")
    other = await service.create_agent("survivor", model="scripted")
    model.push(reply("Noted the marmalade"))
    await service.send_message(doomed.id, "I like marmalade")
    await service.insert_passage(doomed.id, "marmalade recipe from grandma")
    assert await service.stores.recall.count(doomed.id) > 0

    await service.delete_agent(doomed.id)

    assert await service.stores.blocks.all(doomed.id) == []
    assert await service.stores.recall.count(doomed.id) == 0
    assert await service.stores.archival.count(doomed.id) == 0
    async with service.stores.recall.sessions() as s:  # type: ignore[attr-defined]
        for table in ("messages", "passages", "agent_blocks", "steps"):
            left = (await s.execute(
                text(f"SELECT count(*) FROM {table} WHERE agent_id = :a"), {"a": doomed.id}
            )).scalar_one()
            assert left == 0, table
        assert (await s.execute(text("SELECT count(*) FROM blocks"))).scalar_one() == 2  # the survivor's
        fts_hits = (await s.execute(
            text("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'marmalade'")
        )).scalar_one()
        assert fts_hits == 0
    assert len(await service.list_blocks(other.id)) == 2


# --- blocks ------------------------------------------------------------------------------
async def test_default_blocks_persona_and_human(service: AgentService) -> None:
    """A new agent gets persona and human blocks with non-empty starter text and descriptions."""
    agent = await service.create_agent("defaulted", model="scripted")
    blocks = await service.list_blocks(agent.id)
    assert [b.label for b in blocks] == ["persona", "human"]
    assert all(b.value.strip() and b.description for b in blocks)
    assert (await service.get_block(agent.id, "persona")).value == DEFAULT_PERSONA
    assert (await service.get_block(agent.id, "human")).value == DEFAULT_HUMAN


async def test_persona_and_human_arguments_override_starters(service: AgentService) -> None:
    """persona= and human= replace the starter text of the default blocks."""
    agent = await service.create_agent("custom", model="scripted", persona="I am Rex.", human="Ann, a pilot.")
    assert (await service.get_block(agent.id, "persona")).value == "I am Rex."
    assert (await service.get_block(agent.id, "human")).value == "Ann, a pilot."


async def test_custom_blocks(service: AgentService) -> None:
    """blocks=[...] replaces the defaults, keeping order, limits and flags."""
    blocks = [
        Block(label="mission", value="Help with taxes.", limit=100, read_only=True),
        Block(label="notes", value="", limit=500, description="Scratch space"),
    ]
    agent = await service.create_agent("taxbot", model="scripted", blocks=blocks)
    stored = await service.list_blocks(agent.id)
    assert [(b.label, b.value, b.limit, b.read_only, b.description) for b in stored] == [
        ("mission", "Help with taxes.", 100, True, ""),
        ("notes", "", 500, False, "Scratch space"),
    ]
    with pytest.raises(InvalidRequestError):
        await service.create_agent("dupes", model="scripted", blocks=[Block(label="a"), Block(label="a")])
    with pytest.raises(InvalidRequestError):
        await service.create_agent("toolong", model="scripted", blocks=[Block(label="a", value="xyz", limit=2)])


async def test_update_block_changes_value_and_system_message(
    service: AgentService, model: ScriptedModel
) -> None:
    """update_block persists the new value and the next model request's system message shows it."""
    agent = await service.create_agent("editable", model="scripted")
    updated = await service.update_block(agent.id, "human", value="Name: Grace Hopper")
    assert updated.value == "Name: Grace Hopper"
    assert (await service.get_block(agent.id, "human")).value == "Name: Grace Hopper"
    model.push(reply("Hello Grace"))
    await service.send_message(agent.id, "hi")
    assert "Name: Grace Hopper" in model.calls[0].system
    assert DEFAULT_HUMAN not in model.calls[0].system


async def test_update_block_enforces_limit(service: AgentService) -> None:
    """A value over the limit, or a limit under the value, raises and leaves the block unchanged."""
    agent = await service.create_agent("limited", model="scripted", blocks=[Block(label="notes", value="short", limit=20)])
    with pytest.raises(InvalidRequestError):
        await service.update_block(agent.id, "notes", value="x" * 21)
    with pytest.raises(InvalidRequestError):
        await service.update_block(agent.id, "notes", limit=3)
    block = await service.get_block(agent.id, "notes")
    assert (block.value, block.limit) == ("short", 20)
    assert (await service.update_block(agent.id, "notes", value="y" * 20)).value == "y" * 20


async def test_update_block_invalid_limit_raises_invalid_request(service: AgentService) -> None:
    """A non-positive limit is an operator error: InvalidRequestError, block unchanged."""
    agent = await service.create_agent("zero", model="scripted", blocks=[Block(label="notes", value="", limit=20)])
    with pytest.raises(InvalidRequestError):
        await service.update_block(agent.id, "notes", limit=0)
    assert (await service.get_block(agent.id, "notes")).limit == 20


# --- messages ----------------------------------------------------------------------------
async def test_list_messages_paging(service: AgentService) -> None:
    """list_messages returns the newest page by default and pages with before/after seq numbers."""
    agent = await service.create_agent("pager", model="scripted")
    await service.stores.recall.append(agent.id, [Message.user(f"m{i}") for i in range(10)])

    def texts(ms: list[Message]) -> list[str]:
        return [m.text for m in ms]

    newest = await service.list_messages(agent.id, limit=3)
    assert texts(newest) == ["m7", "m8", "m9"]
    assert [m.seq for m in newest] == [7, 8, 9]
    older = await service.list_messages(agent.id, limit=3, before=newest[0].seq)
    assert texts(older) == ["m4", "m5", "m6"]
    following = await service.list_messages(agent.id, limit=3, after=2)
    assert texts(following) == ["m3", "m4", "m5"]
    between = await service.list_messages(agent.id, limit=10, after=2, before=6)
    assert texts(between) == ["m3", "m4", "m5"]
    assert texts(await service.list_messages(agent.id, limit=5, before=0)) == []
    assert len(await service.list_messages(agent.id)) == 10


# --- context window ----------------------------------------------------------------------
async def test_context_window_report_sections(service: AgentService) -> None:
    """The report has every section, non-empty where content exists, and total is their sum."""
    agent = await service.create_agent("measured", model="scripted")
    report = await service.context_window(agent.id)
    assert set(report.sections) == SECTIONS
    for name in ("system", "tools", "blocks", "summary", "metadata"):
        assert report.sections[name] > 0, name
    assert report.sections["messages"] == 0
    assert report.total == sum(report.sections.values())
    assert report.context_window == service.settings.context_window
    assert (report.in_context_messages, report.recall_messages, report.archival_passages) == (0, 0, 0)


async def test_context_window_grows_after_exchange(service: AgentService, model: ScriptedModel) -> None:
    """After a message exchange the messages section and total grow, and counts follow."""
    agent = await service.create_agent("growing", model="scripted")
    before = await service.context_window(agent.id)
    model.push(reply("Glad to hear about your garden, it sounds lovely"))
    result = await service.send_message(agent.id, "I planted tomatoes and basil in my garden today")
    after = await service.context_window(agent.id)
    assert after.sections["messages"] > before.sections["messages"]
    assert after.total > before.total
    assert after.total == sum(after.sections.values())
    assert after.in_context_messages == 1 + len(result.messages)
    assert after.recall_messages == after.in_context_messages
    blocks_before = before.sections["blocks"]
    await service.update_block(agent.id, "human", value=DEFAULT_HUMAN + "\nGrows tomatoes and basil.")
    assert (await service.context_window(agent.id)).sections["blocks"] > blocks_before


# --- errors from the model -----------------------------------------------------------------
async def test_script_exhausted_raises_and_keeps_user_message(
    service: AgentService, model: ScriptedModel
) -> None:
    """An exhausted ScriptedModel raises ScriptExhaustedError; the user's message stays in recall."""
    agent = await service.create_agent("mute", model="scripted")
    with pytest.raises(ScriptExhaustedError):
        await service.send_message(agent.id, "are you there, lighthouse?")
    stored = await service.list_messages(agent.id)
    assert [(m.role, m.text) for m in stored] == [(Role.USER, "are you there, lighthouse?")]
    assert (await service.search_messages(agent.id, "lighthouse")).total == 1

    model.push(reply("Yes, sorry for the delay"))
    result = await service.send_message(agent.id, "hello?")
    assert result.replies == ["Yes, sorry for the delay"]
    assert "are you there, lighthouse?" in [m.text for m in model.calls[-1].messages]


# --- the sync wrapper ----------------------------------------------------------------------
def test_sync_wrapper_end_to_end(settings: Settings) -> None:
    """MemGPT creates an agent, sends a message and returns the agent's replies."""
    scripted = ScriptedModel([reply("Hi Ada, nice to meet you")])
    with MemGPT(settings, models={"scripted": scripted}) as client:
        agent = client.create_agent("sync-agent", model="scripted")
        result = client.send_message(agent.id, "Hello, I'm Ada")
        assert result.replies == ["Hi Ada, nice to meet you"]
        assert result.input.text == "Hello, I'm Ada"
        assert [m.text for m in client.list_messages("sync-agent") if m.role is Role.USER] == ["Hello, I'm Ada"]
        assert [a.name for a in client.list_agents()] == ["sync-agent"]
    assert len(scripted.calls) == 1


def test_sync_wrapper_restart_sees_same_agent_and_memory(settings: Settings) -> None:
    """A second MemGPT on the same home sees the agent, its edited memory and its conversation."""
    first_model = ScriptedModel([
        tool_call("core_memory_append", label="human", content="Name: Ada", request_heartbeat=True),
        reply("Nice to meet you, Ada"),
    ])
    with MemGPT(settings, models={"scripted": first_model}) as client:
        agent = client.create_agent("keeper", model="scripted")
        client.insert_passage(agent.id, "Ada's favourite number is 1843")
        assert client.send_message(agent.id, "My name is Ada").replies == ["Nice to meet you, Ada"]

    second_model = ScriptedModel([reply("Welcome back, Ada")])
    with MemGPT(settings, models={"scripted": second_model}) as client:
        again = client.get_agent("keeper")
        assert again.id == agent.id
        assert client.get_block(again.id, "human").value.endswith("Name: Ada")
        assert [p.text for p in client.search_passages(again.id, "1843")] == ["Ada's favourite number is 1843"]
        assert client.search_messages(again.id, "Ada").total >= 2
        assert client.send_message(again.id, "Do you remember me?").replies == ["Welcome back, Ada"]
    request = second_model.calls[0]
    assert "Name: Ada" in request.system
    assert "My name is Ada" in [m.text for m in request.messages]
