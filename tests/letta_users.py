"""Two users (ada, the owner, and bob) on one key-requiring `memgpt server` with a scripted
model, each with a real letta-client: the `users` fixture the Letta-client feature tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from letta_client import Letta

from memgpt import AgentService, Settings
from memgpt.llm.scripted import ScriptedModel
from memgpt.server import BackgroundServer


@dataclass
class Users:
    """ada (the owner) and bob (another user) on one server, and its scripted model."""

    ada: Letta
    bob: Letta
    model: ScriptedModel


@pytest.fixture
def users(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Users]:
    for var in ("LETTA_BASE_URL", "LETTA_API_KEY", "LETTA_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)

    async def make_keys() -> tuple[str, str]:
        async with AgentService(settings) as admin:
            return (await admin.create_api_key("ada"))[1], (await admin.create_api_key("bob"))[1]

    ada_key, bob_key = asyncio.run(make_keys())
    model = ScriptedModel()
    service = AgentService(settings.model_copy(update={"model": "scripted"}), models={"scripted": model})
    with BackgroundServer(service, require_key=True) as server:
        def client(key: str) -> Letta:
            return Letta(base_url=server.url, api_key=key, max_retries=0, timeout=30,
                         _strict_response_validation=True)

        with client(ada_key) as ada, client(bob_key) as bob:
            yield Users(ada, bob, model)
