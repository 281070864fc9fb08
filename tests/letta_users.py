"""Two users (ada, the owner, and bob) on one key-requiring `memgpt server` with a scripted
model, each with a real letta-client: the `users` fixture the Letta-client feature tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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


@contextmanager
def two_users(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, model: ScriptedModel, **updates: Any
) -> Iterator[tuple[str, str, str]]:
    """A key-requiring server whose model is ``model`` (settings changed by ``updates``),
    with API keys for ada and bob: yields (url, ada's key, bob's key)."""
    for var in ("LETTA_BASE_URL", "LETTA_API_KEY", "LETTA_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)

    async def make_keys() -> tuple[str, str]:
        async with AgentService(settings) as admin:
            return (await admin.create_api_key("ada"))[1], (await admin.create_api_key("bob"))[1]

    ada_key, bob_key = asyncio.run(make_keys())
    served = settings.model_copy(update={"model": "scripted", **updates})
    with BackgroundServer(AgentService(served, models={"scripted": model}), require_key=True) as server:
        yield server.url, ada_key, bob_key


def letta(url: str, key: str) -> Letta:
    """A strict letta-client for one user of the server at url."""
    return Letta(base_url=url, api_key=key, max_retries=0, timeout=30, _strict_response_validation=True)


@pytest.fixture
def users(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Users]:
    model = ScriptedModel()
    with two_users(settings, monkeypatch, model) as (url, ada_key, bob_key), \
            letta(url, ada_key) as ada, letta(url, bob_key) as bob:
        yield Users(ada, bob, model)
