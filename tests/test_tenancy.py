"""Owners and API keys: one user never sees another's agents."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import NotFoundError
from memgpt.llm.scripted import reply
from memgpt.storage.db import create_engine, migrate, upgrade


async def test_owners_are_isolated(service: AgentService, model: ScriptedModel) -> None:
    """Alice's agent is invisible to Bob by id and by name; both may use the same name."""
    alice, bob = service.scoped("alice"), service.scoped("bob")
    mine = await alice.create_agent("bot", model="scripted")
    await alice.insert_passage(mine.id, "alice's secret: the vault code is 1234")
    theirs = await bob.create_agent("bot", model="scripted")
    assert mine.id != theirs.id
    assert [a.id for a in await alice.list_agents()] == [mine.id]
    assert [a.id for a in await bob.list_agents()] == [theirs.id]
    assert (await bob.get_agent("bot")).id == theirs.id
    for call in (
        lambda: bob.get_agent(mine.id),
        lambda: bob.send_message(mine.id, "hi"),
        lambda: bob.list_blocks(mine.id),
        lambda: bob.update_block(mine.id, "human", value="pwned"),
        lambda: bob.list_messages(mine.id),
        lambda: bob.search_passages(mine.id, "vault code"),
        lambda: bob.insert_passage(mine.id, "planted"),
        lambda: bob.context_window(mine.id),
        lambda: bob.delete_agent(mine.id),
    ):
        with pytest.raises(NotFoundError):
            await call()
    model.push(reply("hello alice"))
    assert (await alice.send_message("bot", "hi")).replies == ["hello alice"]
    assert [p.text for p in await alice.list_passages(mine.id)] == [
        "alice's secret: the vault code is 1234"]
    assert await service.list_agents() == []  # the unscoped local user owns nothing here


async def test_api_keys_hashed_and_revocable(service: AgentService) -> None:
    """A key authenticates its user, is stored only as a hash, and stops working when revoked."""
    key_id, raw = await service.create_api_key("alice")
    assert await service.authenticate(raw) == "alice"
    assert await service.authenticate(raw + "x") is None
    listed = await service.list_api_keys()
    assert [(k["id"], k["user"]) for k in listed] == [(key_id, "alice")]
    assert raw not in str(listed)
    await service.revoke_api_key(key_id)
    assert await service.authenticate(raw) is None
    with pytest.raises(NotFoundError):
        await service.revoke_api_key("key-nope")


async def test_migration_keeps_existing_agents(settings: Settings) -> None:
    """A database made before owners existed upgrades with its agents owned by "local"."""
    engine = create_engine(settings.resolved_database_url())

    async with engine.begin() as conn:
        await conn.run_sync(upgrade, "0002")
        await conn.execute(text(
            "INSERT INTO agents VALUES ('agent-old', 'veteran', 'scripted', NULL, 'hashing-384-v1',"
            " 'be kind', 8192, NULL, 'an old summary', 0, 0, '', 1, NULL, NULL,"
            " '2025-01-01 00:00:00')"))
    await migrate(engine)
    await engine.dispose()
    async with AgentService(settings, models={"scripted": ScriptedModel()}) as svc:
        old = await svc.get_agent("veteran")
        assert (old.id, old.owner, old.summary) == ("agent-old", "local", "an old summary")
        assert (await svc.scoped("eve").create_agent("veteran", model="scripted")).owner == "eve"
