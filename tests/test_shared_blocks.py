"""One block, many agents: standalone blocks shared by agents, over the service and the real
letta-client.

The rules under test: an edit by the block's owner or by any attached agent's tool is in
every attached agent's next model request; limits and read-only hold for every agent;
concurrent tool edits from two agents are both kept (each step's edits are re-applied to the
block's stored value when it commits); detaching keeps the block; deleting a block detaches it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.openai_server import FakeOpenAI, completion, fake_openai
from letta_client import ConflictError, Letta, NotFoundError as LettaNotFound
from typer.testing import CliRunner

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.cli.main import app
from memgpt.core.errors import AlreadyExistsError, InvalidRequestError, NotFoundError
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory.blocks import StoredBlock, append, rebase, replace
from memgpt.server import BackgroundServer
from test_letta_client import call

__all__ = ["fake_openai"]


def system_of(model: ScriptedModel) -> str:
    """The system message of the model's last request."""
    return model.calls[-1].messages[0].text


@pytest.fixture
async def pair(settings: Settings) -> Any:
    """A service with two scripted models, and one block shared by agents a and b."""
    ma, mb = ScriptedModel(), ScriptedModel()
    async with AgentService(settings, models={"ma": ma, "mb": mb}) as svc:
        block = await svc.create_block("team", "Team notes.", limit=200, description="Shared notes.")
        a = await svc.create_agent("a", model="ma", block_ids=[block.id])
        b = await svc.create_agent("b", model="mb", block_ids=[block.id])
        yield svc, block, a, b, ma, mb


async def test_edits_reach_every_attached_agent(pair: Any) -> None:
    """An owner's edit by id and one agent's tool edit are both in each agent's next request."""
    svc, block, a, b, ma, mb = pair
    assert [x.label for x in await svc.list_blocks(a.id)] == ["persona", "human", "team"]
    assert [x.id for x in await svc.block_agents(block.id)] == [a.id, b.id]
    ma.push(reply("hi"))
    await svc.send_message("a", "hello")  # a's system message is compiled and cached
    mb.push(reply("hi"))
    await svc.send_message("b", "hello")

    await svc.modify_block(block.id, value="Team notes. Launch is Friday.")
    for name, model in (("a", ma), ("b", mb)):
        model.push(reply("ok"))
        await svc.send_message(name, "anything new?")
        assert "Launch is Friday." in system_of(model), name

    ma.push(tool_call("core_memory_append", label="team", content="Bo joined.", request_heartbeat=False))
    await svc.send_message("a", "Bo joined the team")
    mb.push(reply("ok"))
    await svc.send_message("b", "who is on the team?")
    assert "Launch is Friday.\nBo joined." in system_of(mb)
    assert (await svc.retrieve_block(block.id)).value == "Team notes. Launch is Friday.\nBo joined."


async def test_limits_and_read_only_hold_for_every_agent(pair: Any) -> None:
    """A read-only or full shared block refuses every agent's tool edit and keeps its value."""
    svc, block, _, _, ma, mb = pair
    await svc.modify_block(block.id, read_only=True)
    mb.push(tool_call("core_memory_append", label="team", content="sneaky", request_heartbeat=False),
            reply("I cannot."))
    result = await svc.send_message("b", "edit it")
    assert "read-only" in [r.content for m in result.messages for r in m.tool_results][0]
    await svc.modify_block(block.id, read_only=False, limit=20)
    ma.push(tool_call("core_memory_append", label="team", content="far too long to fit", request_heartbeat=False),
            reply("It does not fit."))
    result = await svc.send_message("a", "edit it")
    assert "limit" in [r.content for m in result.messages for r in m.tool_results][0]
    assert (await svc.retrieve_block(block.id)).value == "Team notes."
    with pytest.raises(InvalidRequestError, match="limit"):
        await svc.modify_block(block.id, value="x" * 21)


class Gated:
    """A model that answers only once every gated model has been asked (so both agents'
    turns have read the block before either commits an edit)."""

    def __init__(self, inner: ScriptedModel, barrier: asyncio.Barrier) -> None:
        self.inner, self.barrier, self.name = inner, barrier, inner.name
        self.waited = False

    async def complete(self, request: ModelRequest, **kwargs: Any) -> ModelResponse:
        if not self.waited:
            self.waited = True
            await self.barrier.wait()
        return await self.inner.complete(request, **kwargs)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_concurrent_appends_from_two_agents_are_both_kept(
    kind: str, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """Two agents append to one block in concurrent turns: both appends are stored, and both
    agents' next requests show both (on SQLite and on PostgreSQL, whose commits run at once)."""
    if kind == "postgres":
        url = await request.getfixturevalue("postgres").database()
        settings = settings.model_copy(update={"database_url": url.replace("postgresql+asyncpg://", "postgresql://")})
    barrier = asyncio.Barrier(2)
    ma, mb = ScriptedModel(), ScriptedModel()
    models = {"ma": Gated(ma, barrier), "mb": Gated(mb, barrier)}
    async with AgentService(settings, models=models) as svc:
        block = await svc.create_block("team", "Team notes.", limit=500)
        await svc.create_agent("a", model="ma", block_ids=[block.id])
        await svc.create_agent("b", model="mb", block_ids=[block.id])
        ma.push(tool_call("core_memory_append", label="team", content="From a.", request_heartbeat=False))
        mb.push(tool_call("core_memory_append", label="team", content="From b.", request_heartbeat=False))
        await asyncio.gather(svc.send_message("a", "note a"), svc.send_message("b", "note b"))
        value = (await svc.retrieve_block(block.id)).value
        assert sorted(value.split("\n")) == ["From a.", "From b.", "Team notes."], value
        for name, model in (("a", ma), ("b", mb)):
            model.push(reply("ok"))
            await svc.send_message(name, "and now?")
            assert "From a." in system_of(model) and "From b." in system_of(model), name


class Held:
    """A model whose first answer waits for ``go`` (its agent's turn is under way meanwhile)."""

    def __init__(self, inner: ScriptedModel) -> None:
        self.inner, self.name = inner, inner.name
        self.asked, self.go = asyncio.Event(), asyncio.Event()

    async def complete(self, request: ModelRequest, **kwargs: Any) -> ModelResponse:
        if not self.asked.is_set():
            self.asked.set()
            await self.go.wait()
        return await self.inner.complete(request, **kwargs)


async def test_edit_during_another_agents_turn_reaches_its_next_turn(settings: Settings) -> None:
    """Agent b's turn has loaded the block when a's tool edits it and commits; b's turn ends
    without touching the block, and b's next request still shows a's edit (b's copy is stale)."""
    ma, mb = ScriptedModel(), ScriptedModel()
    held = Held(mb)
    async with AgentService(settings, models={"ma": ma, "mb": held}) as svc:
        block = await svc.create_block("team", "Team notes.", limit=500)
        await svc.create_agent("a", model="ma", block_ids=[block.id])
        await svc.create_agent("b", model="mb", block_ids=[block.id])
        mb.push(reply("thinking slowly"))
        turn = asyncio.create_task(svc.send_message("b", "slow question"))
        await held.asked.wait()
        ma.push(tool_call("core_memory_append", label="team", content="From a.", request_heartbeat=False))
        await svc.send_message("a", "note a")
        held.go.set()
        await turn
        mb.push(reply("ok"))
        await svc.send_message("b", "and now?")
        assert "Team notes.\nFrom a." in system_of(mb)


def test_rebase_reapplies_edits_to_the_current_value() -> None:
    """The rule: edits re-applied in order on the stored value; one that no longer applies is
    dropped; an unchanged stored value takes the edited value as is."""
    read = StoredBlock(id="block-1", label="team", value="alpha", limit=40)
    mine = replace(append(read, "beta"), "alpha", "ALPHA")
    assert rebase(mine, "alpha", 40) == "ALPHA\nbeta"
    assert rebase(mine, "alpha\ngamma", 40) == "ALPHA\ngamma\nbeta"
    assert rebase(mine, "omega", 40) == "omega\nbeta"  # the replaced text is gone: that edit drops
    assert rebase(mine, "x" * 38, 40) == "x" * 38  # no room left: the append drops too


async def test_attach_detach_delete_and_tenancy(pair: Any) -> None:
    """Detaching keeps the block; deleting detaches it everywhere; labels stay unique per
    agent; another user sees none of it."""
    svc, block, a, b, _, _ = pair
    await svc.detach_block("a", block.id)
    assert "team" not in [x.label for x in await svc.list_blocks("a")]
    assert (await svc.retrieve_block(block.id)).value == "Team notes."
    assert [x.id for x in await svc.block_agents(block.id)] == [b.id]
    await svc.attach_block("a", block.id)
    await svc.attach_block("a", block.id)  # already attached: nothing changes
    assert [x.label for x in await svc.list_blocks("a")] == ["persona", "human", "team"]
    twin = await svc.create_block("team", "another team")
    with pytest.raises(AlreadyExistsError):
        await svc.attach_block("a", twin.id)
    with pytest.raises(InvalidRequestError, match="unique"):
        await svc.create_agent("c", model="ma", block_ids=[block.id, twin.id])
    with pytest.raises(AlreadyExistsError):
        await svc.modify_block(block.id, label="human")

    bob = svc.scoped("bob")
    for attempt in (bob.retrieve_block(block.id), bob.modify_block(block.id, value="pwned"),
                    bob.delete_block(block.id), bob.block_agents(block.id)):
        with pytest.raises(NotFoundError):
            await attempt
    mine = await bob.create_agent("mine", model="ma")
    with pytest.raises(NotFoundError):
        await bob.attach_block(mine.id, block.id)
    with pytest.raises(NotFoundError):
        await bob.create_agent("other", model="ma", block_ids=[block.id])
    assert [x.id for x in await bob.list_all_blocks()] == [x.id for x in await bob.list_blocks(mine.id)]

    await svc.delete_block(block.id)
    assert "team" not in [x.label for x in await svc.list_blocks("b")]
    with pytest.raises(NotFoundError):
        await svc.retrieve_block(block.id)


async def test_agent_delete_keeps_standalone_and_still_used_blocks(pair: Any) -> None:
    """Deleting an agent drops the blocks made with it that no one else uses, nothing else."""
    svc, block, a, b, _, _ = pair
    human_a = next(x for x in await svc.list_blocks("a") if x.label == "human")
    assert isinstance(human_a, StoredBlock)
    await svc.delete_agent("a")
    assert (await svc.retrieve_block(block.id)).id == block.id
    assert [x.label for x in await svc.list_blocks("b")] == ["persona", "human", "team"]
    assert [x.id for x in await svc.list_all_blocks()] == [block.id] + [
        x.id for x in await svc.list_blocks("b") if x.id != block.id]


# --- the real letta-client -------------------------------------------------------------------
@pytest.fixture
def letta(settings: Settings, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Letta]:
    """A Letta client on a local (keyless) memgpt server whose model is the fake OpenAI server."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for var in ("LETTA_BASE_URL", "LETTA_API_KEY", "LETTA_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)
    spec = f"openai/gpt-4o-mini@{fake_openai.url}"
    service = AgentService(settings.model_copy(update={"model": spec}))
    with BackgroundServer(service) as server:
        with Letta(base_url=server.url, max_retries=0, timeout=30, _strict_response_validation=True) as client:
            yield client


def _system(fake: FakeOpenAI) -> str:
    content: str = fake.requests[-1]["messages"][0]["content"]
    return content


def test_letta_client_shared_block(letta: Letta, fake_openai: FakeOpenAI) -> None:
    """blocks.create, agents.create(block_ids), blocks.update and one agent's tool edit: both
    agents' next model requests show each; then list, agents, detach and delete."""
    block = letta.blocks.create(label="project", value="Project: Orion.", limit=500, description="Shared.")
    assert block.id.startswith("block-") and block.value == "Project: Orion."
    a = letta.agents.create(name="scout", block_ids=[block.id],
                            memory_blocks=[{"label": "persona", "value": "I scout."}])
    b = letta.agents.create(name="pilot", block_ids=[block.id])
    assert [x.id for x in letta.blocks.agents.list(block_id=block.id)] == [a.id, b.id]
    assert block.id in [x.id for x in letta.agents.retrieve(b.id).blocks]

    def ask(agent_id: str, text: str) -> str:
        fake_openai.push(completion(None, [call("send_message", message="ok")]))
        letta.agents.messages.create(agent_id=agent_id, messages=[{"role": "user", "content": text}])
        return _system(fake_openai)

    ask(a.id, "hello")
    updated = letta.blocks.update(block.id, value="Project: Orion. Launch in May.")
    assert updated.value.endswith("Launch in May.")
    assert "Launch in May." in ask(a.id, "news?") and "Launch in May." in ask(b.id, "news?")

    fake_openai.push(
        completion(None, [call("core_memory_append", label="project", content="Fuel: methane.",
                               request_heartbeat=True)]),
        completion(None, [call("send_message", message="Noted.")]),
    )
    letta.agents.messages.create(agent_id=a.id, messages=[{"role": "user", "content": "We use methane."}])
    assert "Launch in May.\nFuel: methane." in ask(b.id, "what fuel?")
    assert letta.blocks.retrieve(block.id).value.endswith("Fuel: methane.")
    assert letta.agents.blocks.retrieve("project", agent_id=b.id).id == block.id

    assert [x.id for x in letta.blocks.list(label="project")] == [block.id]
    assert [x.id for x in letta.blocks.list(value_search="methane")] == [block.id]
    twin = letta.blocks.create(label="project", value="Another project.")
    with pytest.raises(ConflictError):
        letta.agents.blocks.attach(twin.id, agent_id=a.id)
    detached = letta.agents.blocks.detach(block.id, agent_id=a.id)
    assert "project" not in [x.label for x in detached.blocks]
    assert "Fuel: methane." not in ask(a.id, "still there?")
    assert letta.blocks.retrieve(block.id).value.endswith("Fuel: methane.")
    attached = letta.agents.blocks.attach(twin.id, agent_id=a.id)
    assert twin.id in [x.id for x in attached.blocks]
    letta.blocks.delete(block.id)
    with pytest.raises(LettaNotFound):
        letta.blocks.retrieve(block.id)
    assert "project" not in [x.label for x in letta.agents.retrieve(b.id).blocks]
    assert "Fuel: methane." not in ask(b.id, "gone?")


def test_cli_blocks_group(tmp_path: Path) -> None:
    """memgpt blocks create/attach/show/list/detach, on the demo agent."""
    home = str(tmp_path / "home")
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--home", home]).exit_code == 0
    made = runner.invoke(app, ["blocks", "create", "team", "We grind mirrors.", "--limit", "300", "--home", home])
    assert made.exit_code == 0, made.output
    block_id = made.output.strip()
    attached = runner.invoke(app, ["blocks", "attach", block_id, "demo", "--home", home])
    assert attached.exit_code == 0 and "attached" in attached.output, attached.output
    shown = runner.invoke(app, ["blocks", "show", block_id, "--home", home])
    assert "We grind mirrors." in shown.output and "attached to: demo" in shown.output
    listed = runner.invoke(app, ["blocks", "list", "--label", "team", "--home", home])
    assert block_id in listed.output and listed.output.count("block-") == 1
    assert "We grind mirrors." in runner.invoke(app, ["memory", "demo", "--home", home]).output
    assert runner.invoke(app, ["blocks", "detach", block_id, "demo", "--home", home]).exit_code == 0
    assert "We grind mirrors." not in runner.invoke(app, ["memory", "demo", "--home", home]).output
    missing = runner.invoke(app, ["blocks", "show", "block-nope", "--home", home])
    assert missing.exit_code != 0 and "block-nope" in missing.output
