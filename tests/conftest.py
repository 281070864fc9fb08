"""Shared fixtures: every test gets its own MEMGPT_HOME and a real SQLite database."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from memgpt import AgentService, ScriptedModel, Settings
from pg import PostgresServer


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests are offline: any attempt to reach a non-loopback address fails loudly."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")):
            if self.family in (socket.AF_INET, socket.AF_INET6):
                raise RuntimeError(f"test tried to reach the network: {address}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "default_embedder: run with memgpt's default embedder (MEMGPT_EMBEDDER=local), "
        "not the hashing one",
    )


@pytest.fixture(autouse=True)
def _fast_embedder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests embed with the hashing embedder (fast); tests marked ``default_embedder``
    (search ranking) get the default one, as a user does; tests of a given model pass it."""
    default = request.node.get_closest_marker("default_embedder") is not None
    monkeypatch.setenv("MEMGPT_EMBEDDER", "local" if default else "hashing")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh home directory."""
    return Settings(home=tmp_path / "home")


@pytest.fixture
def model() -> ScriptedModel:
    """An empty scripted model; tests push responses or set a policy."""
    return ScriptedModel()


@pytest.fixture
async def service(settings: Settings, model: ScriptedModel) -> AsyncIterator[AgentService]:
    """An open AgentService whose only model is the scripted one, named "scripted"."""
    async with AgentService(settings, models={"scripted": model}) as svc:
        yield svc


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL (with pgvector) for the session; failing to start fails the tests."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
