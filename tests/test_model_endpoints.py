"""Model endpoints are operator configuration: no caller sends the server's keys elsewhere.

An "evil" fake OpenAI server on loopback records every request it gets (any method, any
path). Creating, changing (PATCH, with ``model`` or Letta's ``llm_config.model_endpoint``) or
importing an agent whose model names it is refused with 400 before anything is written, and it
never sees a request. A named endpoint from MEMGPT_ENDPOINTS works and carries its own key,
never OPENAI_API_KEY; the CLI and the MemGPT library (the operator typing) may name any URL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.openai_server import FakeOpenAI, _Handler, completion

from memgpt import AgentService, MemGPT, ScriptedModel, Settings
from memgpt.core.errors import ModelNotFoundError
from memgpt.core.settings import ModelEndpoint
from memgpt.llm.providers import route
from memgpt.server import create_app

SERVER_KEY = "sk-server-secret-0000"
GOOD_KEY = "sk-good-endpoint-1111"


class RecordingOpenAI(FakeOpenAI):
    """A fake OpenAI server that records every request before answering it."""

    name = "EvilOpenAI"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        super().__init__()

    def _handle(self, h: _Handler) -> None:
        self.seen.append((h.command, h.path, {k.lower(): v for k, v in h.headers.items()}))
        super()._handle(h)


@pytest.fixture
def evil() -> Iterator[RecordingOpenAI]:
    """The host a hostile caller names."""
    with RecordingOpenAI() as fake:
        yield fake


@pytest.fixture
def good() -> Iterator[RecordingOpenAI]:
    """The endpoint the operator configured (as ``good``, with its own key)."""
    with RecordingOpenAI() as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, good: RecordingOpenAI, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A server's settings: one named endpoint; OPENAI_API_KEY set, as a real server has it."""
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    monkeypatch.setenv("GOOD_KEY", GOOD_KEY)
    for var in ("OPENAI_BASE_URL", "MEMGPT_TRUST_MODEL_URLS", "MEMGPT_ENDPOINTS"):
        monkeypatch.delenv(var, raising=False)
    endpoint = ModelEndpoint(provider="openai", base_url=good.url, api_key_env="GOOD_KEY")
    return Settings(home=tmp_path / "home", endpoints={"good": endpoint})


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, AgentService]]:
    """The app over a service with a scripted model beside the provider models."""
    async with AgentService(settings, models={"scripted": ScriptedModel()}) as service:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, service


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "ModelNotFoundError" and "MEMGPT_ENDPOINTS" in r.json()["detail"], r.text
    assert SERVER_KEY not in r.text


def agent_file(llm_config: dict[str, Any], **extension: Any) -> dict[str, Any]:
    """A minimal Letta agent file with this llm_config (and memgpt extension fields)."""
    return {
        "agents": [{"id": "agent-0", "name": "imported", "system": "You are a bot.",
                    "llm_config": llm_config, "block_ids": ["block-0"], "tool_ids": [],
                    "in_context_message_ids": [], "messages": []}],
        "blocks": [{"id": "block-0", "label": "human", "value": "Name: Ada", "limit": 5000}],
        "tools": [], "memgpt": {"format": 1, "agents": {"agent-0": extension}, "passages": {}},
    }


async def test_create_naming_an_unlisted_url_is_refused(
    http: tuple[httpx.AsyncClient, AgentService], evil: RecordingOpenAI
) -> None:
    """Letta's and memgpt's create, by model or by llm_config, refuse the evil host: nothing written."""
    client, service = http
    spec = f"openai/gpt-4o-mini@{evil.url}"
    for path, body in [
        ("/v1/agents/", {"name": "a", "model": spec}),
        ("/v1/agents/", {"name": "b", "llm_config": {"model": "gpt-4o-mini", "model_endpoint_type": "openai",
                                                     "model_endpoint": evil.url}}),
        ("/v1/agents/", {"name": "c", "llm_config": {"model": "x", "handle": spec}}),
        ("/v1/agents/", {"name": "e", "model": f"anthropic/claude-sonnet-4-5@{evil.url}"}),
        ("/memgpt/v1/agents", {"name": "f", "model": spec}),
        ("/memgpt/v1/agents", {"name": "g", "model": "scripted", "summarizer_model": spec}),
    ]:
        _refused(await client.post(path, json=body))
    assert await service.list_agents() == []
    assert evil.seen == []


async def test_patch_naming_an_unlisted_url_is_refused(
    http: tuple[httpx.AsyncClient, AgentService], evil: RecordingOpenAI
) -> None:
    """PATCH with model or llm_config.model_endpoint: 400, the agent unchanged, no request sent."""
    client, service = http
    r = await client.post("/v1/agents/", json={"name": "bot", "model": "scripted"})
    agent_id = r.json()["id"]
    before = (await service.get_agent(agent_id)).model_dump()
    for path, body in [
        (f"/v1/agents/{agent_id}", {"model": f"openai/gpt-4o-mini@{evil.url}"}),
        (f"/v1/agents/{agent_id}", {"name": "renamed", "tool_ids": [],
                                    "llm_config": {"model": "gpt-4o-mini", "model_endpoint_type": "openai",
                                                   "model_endpoint": evil.url, "context_window": 9000}}),
        (f"/memgpt/v1/agents/{agent_id}", {"model": f"openai/gpt-4o-mini@{evil.url}"}),
    ]:
        _refused(await client.patch(path, json=body))
    assert (await service.get_agent(agent_id)).model_dump() == before
    # llm_config naming the allowed endpoint is read as on create
    r = await client.patch(f"/v1/agents/{agent_id}", json={"llm_config": {
        "model": "gpt-4o-mini", "model_endpoint_type": "openai", "model_endpoint": "good", "context_window": 9000}})
    assert r.status_code == 200 and r.json()["model"] == "openai/gpt-4o-mini@good", r.text
    assert r.json()["llm_config"]["context_window"] == 9000
    assert evil.seen == []


async def test_import_naming_an_unlisted_url_is_refused(
    http: tuple[httpx.AsyncClient, AgentService], evil: RecordingOpenAI, good: RecordingOpenAI
) -> None:
    """An agent file's llm_config.model_endpoint (or handle) naming the evil host: 400, nothing written."""
    client, service = http
    files = [
        agent_file({"model": "gpt-4o-mini", "model_endpoint_type": "openai", "model_endpoint": evil.url,
                    "context_window": 16000}),
        agent_file({"model": "gpt-4o-mini", "handle": f"openai/gpt-4o-mini@{evil.url}"}),
    ]
    for data in files:
        _refused(await client.post("/v1/agents/import", json=data))
        body = json.dumps(data).encode()
        _refused(await client.post("/v1/agents/import", files={"file": ("x.af", body, "application/json")}))
    assert await service.list_agents() == [] and [t for t in await service.list_tools() if not t.builtin] == []
    # the operator may override the file's model with an allowed one; a summarizer on the
    # evil host is dropped, never used
    data = agent_file({"model": "gpt-4o-mini", "model_endpoint": evil.url, "model_endpoint_type": "openai"},
                      summarizer_model=f"openai/gpt-4o-mini@{evil.url}")
    r = await client.post("/v1/agents/import", json=data, params={"model": "openai/gpt-4o-mini@good"})
    assert r.status_code == 200, r.text
    state = await service.get_agent(r.json()["agent_ids"][0])
    assert state.model == "openai/gpt-4o-mini@good" and state.summarizer_model is None
    assert evil.seen == [] and good.seen == []


async def test_a_named_endpoint_works_with_its_own_key(
    http: tuple[httpx.AsyncClient, AgentService], good: RecordingOpenAI, evil: RecordingOpenAI
) -> None:
    """``@good`` (or good's URL itself) reaches the configured endpoint with GOOD_KEY, never OPENAI_API_KEY."""
    client, _ = http
    for n, model in enumerate(["openai/gpt-4o-mini@good", f"openai/gpt-4o-mini@{good.url}/"]):
        r = await client.post("/v1/agents/", json={"name": f"bot{n}", "model": model})
        assert r.status_code == 200, r.text
        good.push(completion(None, [("send_message", json.dumps({"message": f"hello {n}"}))]))
        r = await client.post(f"/v1/agents/{r.json()['id']}/messages",
                              json={"messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200 and f"hello {n}" in r.text, r.text
    posts = [headers for method, _, headers in good.seen if method == "POST"]
    assert len(posts) == 2 and all(h["authorization"] == f"Bearer {GOOD_KEY}" for h in posts)
    assert SERVER_KEY not in json.dumps(good.seen) and evil.seen == []


async def test_stored_agent_on_an_unlisted_url_never_reaches_it(
    settings: Settings, evil: RecordingOpenAI
) -> None:
    """An agent written before this check (or by a trusted CLI) on the evil host: the server
    refuses to run it (400) rather than send the key there; its message is kept."""
    trusted = settings.model_copy(update={"trust_model_urls": True})
    async with AgentService(trusted) as cli:
        await cli.create_agent("old", model=f"openai/gpt-4o-mini@{evil.url}")
    async with AgentService(settings) as service:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.post("/v1/agents/old/messages", json={"messages": [{"role": "user", "content": "hi"}]})
            _refused(r)
    assert evil.seen == []


def test_the_library_and_cli_may_name_any_url(settings: Settings, evil: RecordingOpenAI) -> None:
    """MemGPT (the operator's own code) may name a URL; a bare AgentService (what a server runs)
    may not, and a file's URL is refused even for the library."""
    with MemGPT(settings, models={"scripted": ScriptedModel()}) as mem:
        evil.push(completion(None, [("send_message", json.dumps({"message": "local vLLM here"}))]))
        mem.create_agent("mine", model=f"openai/gpt-4o-mini@{evil.url}")
        assert mem.send_message("mine", "hi").replies == ["local vLLM here"]
        with pytest.raises(ModelNotFoundError, match="MEMGPT_ENDPOINTS"):
            mem.import_agent(agent_file({"model": "gpt-4o-mini", "model_endpoint_type": "openai",
                                         "model_endpoint": evil.url}), name="from-file")
        assert [a.name for a in mem.list_agents()] == ["mine"]
    assert len([m for m, _, _ in evil.seen if m == "POST"]) == 1
    with MemGPT(settings.model_copy(update={"trust_model_urls": False})) as strict:
        with pytest.raises(ModelNotFoundError):
            strict.create_agent("nope", model=f"openai/gpt-4o-mini@{evil.url}")


def test_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Which URL and key each spec gets: the provider's own URL (variable, default, SDK default)
    is allowed by name with its key; an endpoint carries only its own key; others refused."""
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11434")
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    gpu = {"gpu": ModelEndpoint(provider="vllm", base_url="http://gpu:8000/v1")}
    assert route("openai/gpt-4o").api_key == SERVER_KEY
    explicit = route("openai/gpt-4o@https://API.openai.com/v1/")
    assert explicit.base_url is None and explicit.api_key == SERVER_KEY  # the SDK's default
    assert route("ollama/qwen2.5@http://gpu-box:11434").base_url == "http://gpu-box:11434/v1"
    named = route("vllm/Qwen/Qwen2.5-7B@gpu", gpu)
    assert (named.base_url, named.api_key, named.spec.model) == ("http://gpu:8000/v1", None, "Qwen/Qwen2.5-7B")
    assert route("vllm/Qwen@http://gpu:8000/v1", gpu).base_url == "http://gpu:8000/v1"
    with pytest.raises(ModelNotFoundError, match="serves vllm models"):
        route("openai/gpt-4o@gpu", gpu)
    for bad in ("openai/gpt-4o@http://127.0.0.1:9/v1", "vllm/Qwen@http://gpu:8001/v1", "openai/x@nothere"):
        with pytest.raises(ModelNotFoundError, match="does not allow"):
            route(bad, gpu)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://proxy.internal/v1")  # the operator's: only that one
    assert route("openai/gpt-4o@http://proxy.internal/v1").api_key == SERVER_KEY
    with pytest.raises(ModelNotFoundError):
        route("openai/gpt-4o@https://api.openai.com/v1")
    trusted = route("openai/gpt-4o@http://127.0.0.1:9/v1", trusted=True)
    assert trusted.base_url == "http://127.0.0.1:9/v1"


async def test_endpoints_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """MEMGPT_ENDPOINTS is JSON; MEMGPT_MODEL's own URL is allowed too (the operator named it)."""
    monkeypatch.setenv("MEMGPT_ENDPOINTS", json.dumps(
        {"gpu": {"provider": "vllm", "base_url": "http://gpu:8000/v1", "api_key_env": "GPU_KEY"}}))
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    settings = Settings(home=tmp_path, model="openai/gpt-4o-mini@http://gateway.internal/v1")
    assert settings.endpoints["gpu"].api_key_env == "GPU_KEY" and settings.trust_model_urls is None
    async with AgentService(settings) as service:
        allowed = service.kernel.endpoints()
        assert set(allowed) == {"gpu", "MEMGPT_MODEL"}
        assert allowed["MEMGPT_MODEL"].api_key_env == "OPENAI_API_KEY"
        service.kernel.check_model("openai/gpt-4o@http://gateway.internal/v1")
        service.kernel.check_model("vllm/Qwen@gpu")
        with pytest.raises(ModelNotFoundError):
            service.kernel.check_model("openai/gpt-4o@http://elsewhere.internal/v1")
