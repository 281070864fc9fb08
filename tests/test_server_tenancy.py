"""Tenancy over HTTP: two users, every route, no cross-user access.

Alice (bearer key) owns an agent whose system prompt, core memory block, archival passage and
messages hold secrets, and a custom tool (its source holds one too) attached to the agent. An intruder (Bob with his own key on a ``require_key=True`` server, or
the keyless local user on a ``require_key=False`` one) then calls every route the app serves,
found by walking ``app.routes`` so a route added later is covered without editing this file:

* every route that takes an agent (by path, or ``agent_id`` in its body), with every method it
  accepts, with Alice's real agent id, agent name, block label, passage id and message id, and
  a request body valid for the route (``BODIES``; proven valid by the same call on the
  intruder's own agent succeeding), must answer 404 (not 403), exactly as it answers for ids
  that never existed, and never with Alice's secrets;
* sub-resource ids of Alice's (passage, message, custom tool, block id cursors) on the
  intruder's own agent are not found either;
* routes naming a custom tool without an agent (retrieve, modify, delete) answer 404 for
  Alice's tool id or name, exactly as for a tool that never existed, and work on the
  intruder's own tools;
* list and search routes show only the intruder's own data;
* afterwards Alice's agent, blocks, passages and messages are exactly as before.

A route with a path parameter the matrix does not exercise, or a body it has no entry for,
fails the test. A new kind of owned thing (archive, folder, run...) registers in
``tests/tenancy_kinds.py`` (how to make one, its path parameters, a ghost id); the matrix then
covers every route naming it. Also: missing, invalid and revoked keys get 401 on every authenticated route,
and ``memgpt.server.run`` refuses a non-loopback host without keys before binding anything.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.routing import compile_path

import memgpt.server
from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import InvalidRequestError
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import reply
from memgpt.core.schemas import Role
from memgpt.server import create_app
from memgpt.server.deps import get_service
from memgpt.formats.letta import block_id
from memgpt.server.letta.fallback import LETTA_API
from serve import serving_app
from tenancy_kinds import KINDS, make_all, read_all

# --- what the matrix knows about routes -----------------------------------------------------------
AGENT = "<agent>"
"""Stands for the agent under test inside a request body."""

UPLOAD = {"file": "<upload>"}
"""The body of a multipart file upload: sent as a small text file in the part "file"."""
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/agents/"): {"name": "<name>", "model": "scripted"},
    ("POST", "/v1/agents"): {"name": "<name>", "model": "scripted"},
    ("PATCH", "/v1/agents/{agent_id}"): {"name": "<name>", "system": "pwned by the intruder"},
    ("POST", "/v1/agents/{agent_id}/messages"): {"messages": [{"role": "user", "content": "hi, it's me"}]},
    ("POST", "/v1/agents/{agent_id}/messages/stream"): {"messages": [{"role": "user", "content": "hi again"}]},
    ("POST", "/v1/messages/search"): {"agent_id": AGENT, "query": "secret"},
    ("PATCH", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}"): {"value": "pwned by the intruder"},
    ("POST", "/v1/agents/{agent_id}/archival-memory"): {"text": "planted by the intruder"},
    ("POST", "/memgpt/v1/agents"): {"name": "<name>", "model": "scripted"},
    ("PATCH", "/memgpt/v1/agents/{agent}"): {"name": "<name>", "instructions": "pwned by the intruder"},
    ("POST", "/memgpt/v1/agents/{agent}/messages"): {"text": "hi, it's me"},
    ("POST", "/memgpt/v1/agents/{agent}/events"): {"text": "an event from the intruder"},
    ("POST", "/memgpt/v1/agents/{agent}/messages/stream"): {"text": "hi, it's me, streaming"},
    ("PUT", "/memgpt/v1/agents/{agent}/tools"): {"tools": []},
    ("PATCH", "/memgpt/v1/agents/{agent}/blocks/{label}"): {"value": "pwned by the intruder"},
    ("POST", "/memgpt/v1/agents/{agent}/passages"): {"text": "planted by the intruder"},
    ("POST", "/v1/tools/"): {"source_code": "<source>"},
    ("POST", "/v1/tools"): {"source_code": "<source>"},
    ("PUT", "/v1/tools/"): {"source_code": "<source>"},
    ("PUT", "/v1/tools"): {"source_code": "<source>"},
    ("PATCH", "/v1/tools/{tool_id}"): {"description": "pwned by the intruder", "tags": ["pwned"]},
    ("POST", "/memgpt/v1/tools"): {"source_code": "<source>"},
    ("PUT", "/memgpt/v1/tools"): {"source_code": "<source>"},
    ("PATCH", "/memgpt/v1/tools/{tool}"): {"description": "pwned by the intruder", "tags": ["pwned"]},
    ("POST", "/memgpt/v1/agents/import"): {"file": {"agents": []}},
    ("POST", "/v1/blocks/"): {"label": "shared", "value": "mine"},
    ("POST", "/v1/blocks"): {"label": "shared", "value": "mine"},
    ("PATCH", "/v1/blocks/{block_id}"): {"value": "pwned by the intruder"},
    ("POST", "/memgpt/v1/blocks"): {"label": "shared", "value": "mine"},
    ("PATCH", "/memgpt/v1/blocks/{block_id}"): {"value": "pwned by the intruder"},
    **{(m, p): {"identifier_key": "<name>", "name": "<name>"}
       for m in ("POST", "PUT") for p in ("/v1/identities/", "/v1/identities")},
    ("PATCH", "/v1/identities/{identity_id}"): {"name": "pwned by the intruder"},
    ("PUT", "/v1/identities/{identity_id}/properties"): [{"key": "pwned", "value": "yes", "type": "string"}],
    ("POST", "/memgpt/v1/identities"): {"identifier_key": "<name>", "name": "<name>"},
    ("PUT", "/memgpt/v1/identities"): {"identifier_key": "<name>", "name": "<name>"},
    ("PATCH", "/memgpt/v1/identities/{identity_id}"): {"name": "pwned by the intruder"},
    ("PUT", "/memgpt/v1/agents/{agent}/tags"): {"tags": ["pwned"]},
    ("POST", "/v1/agents/{agent_id}/schedule"): {
        "schedule": {"type": "recurring", "cron_expression": "0 0 1 1 *"},
        "messages": [{"role": "user", "content": "planted by the intruder"}]},
    ("POST", "/memgpt/v1/agents/{agent}/schedules"): {
        "cron": "0 0 1 1 *", "messages": [{"role": "user", "text": "planted by the intruder"}]},
    **{("POST", p): {"name": "<name>"} for p in ("/v1/archives/", "/v1/archives", "/memgpt/v1/archives")},
    **{("PATCH", p): {"description": "pwned by the intruder"}
       for p in ("/v1/archives/{archive_id}", "/memgpt/v1/archives/{archive_id}")},
    ("POST", "/v1/archives/{archive_id}/passages"): {"text": "planted by the intruder"},
    ("POST", "/v1/archives/{archive_id}/passages/batch"): {"passages": [{"text": "planted by the intruder"}]},
    ("POST", "/memgpt/v1/archives/{archive_id}/passages"): {"items": [{"text": "planted by the intruder"}]},
    ("POST", "/v1/passages/search"): {"agent_id": AGENT, "query": "secret"},
    **{("POST", p): {"server_name": "<name>", "config": {
        "mcp_server_type": "streamable_http", "server_url": "http://127.0.0.1:9/mcp"}}
       for p in ("/v1/mcp-servers/", "/v1/mcp-servers")},
    ("PATCH", "/v1/mcp-servers/{mcp_server_id}"): {"server_name": "<name>"},
    ("POST", "/v1/mcp-servers/{mcp_server_id}/tools/{mcp_tool_id}/run"): {"args": {"a": 1, "b": 2}},
    ("POST", "/memgpt/v1/mcp-servers"): {"name": "<name>", "kind": "sse", "server_url": "http://127.0.0.1:9/sse"},
    ("PATCH", "/memgpt/v1/mcp-servers/{mcp_server}"): {"name": "<name>"},
    ("POST", "/memgpt/v1/mcp-servers/{mcp_server}/tools/{mcp_tool}/run"): {"args": {"a": 1, "b": 2}},
    **{("POST", p): {"agent_id": AGENT, "description": "mine"}
       for p in ("/v1/conversations/", "/v1/conversations", "/memgpt/v1/conversations")},
    **{("PATCH", p): {"description": "pwned by the intruder"}
       for p in ("/v1/conversations/{conversation_id}", "/memgpt/v1/conversations/{conversation}")},
    ("POST", "/v1/conversations/{conversation_id}/messages"): {
        "messages": [{"role": "user", "content": "hi, it's me"}], "streaming": False},
    **{("POST", f"/memgpt/v1/conversations/{{conversation}}/{p}"): {"text": "hi, it's me"}
       for p in ("messages", "messages/stream")},
    ("POST", "/memgpt/v1/conversations/{conversation}/fork"): {},
    ("POST", "/v1/agents/{agent_id}/messages/async"): {"messages": [{"role": "user", "content": "hi, later"}]},
    ("POST", "/v1/agents/{agent_id}/messages/cancel"): {},
    ("PATCH", "/v1/agents/{agent_id}/reset-messages"): {},
    ("POST", "/v1/agents/{agent_id}/summarize"): {},
    ("POST", "/v1/runs/{run_id}/stream"): {},
    **{("PATCH", p): {"feedback": "negative"}
       for p in ("/v1/steps/{step_id}/feedback", "/memgpt/v1/steps/{step_id}/feedback")},
    ("POST", "/memgpt/v1/agents/{agent}/messages/async"): {"text": "hi, later"},
    **{("POST", f"/memgpt/v1/agents/{{agent}}/{p}"): {} for p in ("cancel", "reset", "recompile")},
    **{("POST", f"/v1/conversations/{{conversation_id}}/{p}"): {} for p in ("compact", "recompile", "stream")},
    **{("POST", p): {"name": "<name>"} for p in ("/v1/folders/", "/v1/folders", "/memgpt/v1/folders")},
    **{("PATCH", p): {"description": "pwned by the intruder"}
       for p in ("/v1/folders/{folder_id}", "/memgpt/v1/folders/{folder_id}")},
    **{("POST", p): UPLOAD for p in ("/v1/folders/{folder_id}/upload", "/memgpt/v1/folders/{folder_id}/files")},
    **{("POST", p): {"args": {"code": "0000"}}
       for p in ("/v1/agents/{agent_id}/tools/{tool_name}/run", "/memgpt/v1/agents/{agent}/tools/{tool_name}/run")},
    ("PATCH", "/v1/agents/{agent_id}/tools/approval/{tool_name}"): {"requires_approval": True},
    ("PUT", "/memgpt/v1/agents/{agent}/tools/{tool_name}/approval"): {"requires_approval": True},
    ("PUT", "/memgpt/v1/agents/{agent}/tool-rules"): {"rules": [{"type": "exit_loop", "tool_name": "send_message"}]},
    ("POST", "/memgpt/v1/agents/{agent}/approvals"): {"decisions": [{"approve": False, "reason": "no"}]},
    **{("POST", p): {"query": "secret"} for p in ("/v1/tools/search", "/memgpt/v1/tools/search")},
}
"""A valid request body for every (method, path) whose route reads one."""

OWN_AGENT_STATUS: dict[tuple[str, str], int] = {
    ("POST", "/memgpt/v1/agents/{agent}/approvals"): 400,  # a fresh agent holds no call to answer
    # the intruder's message is in its agent's default thread, not in its conversation
    ("GET", "/memgpt/v1/conversations/{conversation}/messages/{message_id}"): 404,
}
"""Routes that cannot succeed on the intruder's fresh agent, and what they answer there instead
(still a live route that read the body; the 404 checks with Alice's ids stay as for any)."""

QUERIES: dict[str, str] = {"query": "secret"}
"""Values for required query parameters, by name."""

AGENT_PARAMS = ("agent_id", "agent")
SUB_PARAMS = {"block_label": "label", "label": "label", "memory_id": "passage", "passage_id": "passage",
              "message_id": "message", "tool_id": "tool", "tool": "tool", "block_id": "block",
              "identity_id": "identity",
              **{p: k.name for k in KINDS.values() for p in k.params}}
"""Path parameters naming something inside an agent or owned by a user, by the kind of thing
they name (a custom tool is its owner's, and is attached to the owner's agents). New kinds
register in tests/tenancy_kinds.py."""
PUBLIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/v1/health/", "/v1/health",
          "/{path:path}"}
"""Routes that may answer without a key; any other route must authenticate its caller."""
FALLBACK = "/{path:path}"

SECRETS = {
    "system": "alice-system-secret-5d1e",
    "block": "alice-block-secret-94c2",
    "passage": "alice-passage-secret-7b0f",
    "message": "alice-message-secret-e3a8",
    "tool": "alice-tool-secret-0c5d",
    "identity": "alice-identity-secret-4f1b",
    **{k.name: k.secret for k in KINDS.values()},
}
TOOL_SOURCE = '''
def {name}(code: str) -> str:
    """Check a code against {secret}.

    Args:
        code: The code to check.
    """
    return "yes" if code == "{secret}" else "no"
'''


def tool_source(name: str, secret: str = "nothing") -> str:
    """Python source of a custom tool called name."""
    return TOOL_SOURCE.replace("{name}", name).replace("{secret}", secret)



@dataclass(frozen=True)
class Route:
    """One served route: its full path, methods and what it reads."""

    path: str
    methods: tuple[str, ...]
    path_params: tuple[str, ...]
    body: Any  # the body's annotation, or None
    required_query: tuple[str, ...]
    authenticated: bool


def _depends_on_service(dependant: Any) -> bool:
    return any(d.call is get_service or _depends_on_service(d) for d in dependant.dependencies)


def served_routes(app: FastAPI) -> list[Route]:
    """Every route of the app, however deeply included (newer FastAPI keeps routers nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI flattens included routers into app.routes
        contexts: list[Any] = list(app.routes)
    else:
        contexts = list(iter_route_contexts(app.routes))
    out = []
    for ctx in contexts:
        original = getattr(ctx, "original_route", ctx)
        path, methods = ctx.path, tuple(sorted(ctx.methods or ()))
        if isinstance(original, APIRoute):
            dep = original.dependant
            body = original.body_field.field_info.annotation if original.body_field is not None else None
            out.append(Route(
                path, methods, tuple(p.name for p in dep.path_params), body,
                tuple(q.name for q in dep.query_params if q.field_info.is_required()),
                _depends_on_service(dep),
            ))
        else:
            params = tuple(compile_path(path)[2])
            out.append(Route(path, methods, params, None, (), False))
    return out


# --- the server ----------------------------------------------------------------------------------


def echo(request: ModelRequest) -> ModelResponse:
    """Answer the latest user message by repeating it."""
    last = next((m for m in reversed(request.messages) if m.role is Role.USER), None)
    return reply(f"echo: {last.text}" if last is not None else "noted")


@dataclass
class Alice:
    """Alice's agent and the ids inside it."""

    agent_id: str
    name: str
    passage_id: str
    message_id: str
    message_seq: int
    tool_id: str
    tool_name: str
    headers: dict[str, str]
    block: str = ""
    """A standalone block of Alice's (holding a secret), attached to her agent."""
    identity: str = ""
    """An identity of Alice's (its key a secret), linked to her agent, which has a secret tag."""
    extra: dict[str, str] = field(default_factory=dict)
    """Her thing of each kind registered in tests/tenancy_kinds.py, holding its secret: ids by kind."""

    def ids(self) -> dict[str, str]:
        """Her ids by kind (the block label is ``human``)."""
        return {"agent": self.agent_id, "label": "human", "passage": self.passage_id, "message": self.message_id,
                "tool": self.tool_id, "block": self.block, "identity": self.identity, **self.extra}


@dataclass
class World:
    """A served app with Alice's agent, and the intruder's credentials."""

    service: AgentService
    app: FastAPI
    http: httpx.AsyncClient
    alice: Alice
    intruder: dict[str, str]  # headers
    intruder_user: str
    routes: list[Route] = field(default_factory=list)
    reader: dict[str, Any] | None = None
    """The intruder's agent (and things) that read-only requests share: see ``_own_for``."""


async def _alice(http: httpx.AsyncClient, headers: dict[str, str]) -> Alice:
    name = f"alice-diary-{uuid.uuid4().hex[:6]}"
    r = await http.post("/v1/agents/", headers=headers, json={
        "name": name, "model": "scripted", "system": f"You keep {SECRETS['system']}.",
        "memory_blocks": [{"label": "persona", "value": "Alice's diary keeper."},
                          {"label": "human", "value": f"Alice. Her code: {SECRETS['block']}"}],
    })
    assert r.status_code == 200, r.text
    agent_id = r.json()["id"]
    r = await http.post(f"/v1/agents/{agent_id}/archival-memory", headers=headers,
                        json={"text": f"The vault code is {SECRETS['passage']}", "tags": ["vault"]})
    assert r.status_code == 200, r.text
    passage_id = r.json()[0]["id"]
    r = await http.post(f"/v1/agents/{agent_id}/messages", headers=headers,
                        json={"messages": [{"role": "user", "content": f"Remember {SECRETS['message']}"}]})
    assert r.status_code == 200, r.text
    assert r.json()["messages"][-1]["content"] == f"echo: Remember {SECRETS['message']}"
    r = await http.get(f"/memgpt/v1/agents/{agent_id}/messages", headers=headers)
    said = next(m for m in r.json() if m["role"] == "user" and SECRETS["message"] in json.dumps(m))
    r = await http.post("/v1/tools/", headers=headers, json={"source_code": tool_source("vault_check", SECRETS["tool"])})
    assert r.status_code == 200, r.text
    tool = r.json()
    r = await http.patch(f"/v1/agents/{agent_id}/tools/attach/{tool['id']}", headers=headers)
    assert r.status_code == 200 and "vault_check" in r.text, r.text
    block = await _new_block(http, headers, f"Shared: {SECRETS['block']}")
    r = await http.patch(f"/v1/agents/{agent_id}/core-memory/blocks/attach/{block}", headers=headers)
    assert r.status_code == 200, r.text
    identity = await _new_identity(http, headers, SECRETS["identity"], agent_id)
    r = await http.patch(f"/v1/agents/{agent_id}", headers=headers, json={"tags": [SECRETS["identity"]]})
    assert r.status_code == 200, r.text
    extra = await make_all(http, headers, agent_id, lambda k: k.secret)
    return Alice(agent_id, name, passage_id, said["id"], said["seq"], tool["id"], tool["name"], headers, block,
                 identity, extra)


async def _new_identity(http: httpx.AsyncClient, headers: dict[str, str], key: str, agent_id: str) -> str:
    """A fresh identity of the caller's, linked to the agent: its id."""
    r = await http.post("/v1/identities/", headers=headers,
                        json={"identifier_key": key, "name": key, "agent_ids": [agent_id]})
    assert r.status_code == 200, r.text
    identity_id: str = r.json()["id"]
    return identity_id


async def _new_block(http: httpx.AsyncClient, headers: dict[str, str], value: str = "my own block") -> str:
    """A fresh standalone block of the caller's, labelled ``shared``: its id."""
    r = await http.post("/v1/blocks/", headers=headers, json={"label": "shared", "value": value})
    assert r.status_code == 200, r.text
    block_id: str = r.json()["id"]
    return block_id


@contextlib.asynccontextmanager
async def world(tmp_path: Path, intruder: str) -> AsyncIterator[World]:
    """Alice's agent on a served app; the intruder is Bob (keys required) or the local user."""
    model = ScriptedModel(policy=echo)
    async with AgentService(Settings(home=tmp_path / "home"), models={"scripted": model}) as service:
        app = create_app(service, require_key=intruder == "bob")
        _, alice_key = await service.create_api_key("alice")
        _, bob_key = await service.create_api_key("bob")
        async with serving_app(app) as url, httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as http:
            alice = await _alice(http, {"Authorization": f"Bearer {alice_key}"})
            headers = {"Authorization": f"Bearer {bob_key}"} if intruder == "bob" else {}
            yield World(service, app, http, alice, headers, "bob" if intruder == "bob" else "local",
                        served_routes(app))


# --- helpers -------------------------------------------------------------------------------------
def _secrets_in(text: str) -> list[str]:
    return [k for k, v in SECRETS.items() if v in text]


def _body(route: Route, method: str, agent_id: str) -> dict[str, Any] | None:
    """The table's body for a route, with the agent and a fresh name filled in; checked valid."""
    if route.body is None:
        return None
    key = (method, route.path)
    assert key in BODIES, f"{method} {route.path} reads a body but BODIES has none for it: add one"
    raw = json.dumps(BODIES[key]).replace(AGENT, agent_id).replace("<name>", f"n-{uuid.uuid4().hex[:8]}")
    raw = raw.replace("<source>", json.dumps(tool_source(f"tool_{uuid.uuid4().hex[:8]}"))[1:-1])
    body: dict[str, Any] = json.loads(raw)
    if body == UPLOAD:
        return body
    TypeAdapter(route.body).validate_python(body)  # the body fits the route's model
    return body


def _query(route: Route) -> dict[str, str]:
    missing = [q for q in route.required_query if q not in QUERIES]
    assert not missing, f"{route.path} requires query parameters {missing}: add them to QUERIES"
    return {q: QUERIES[q] for q in route.required_query}


def _takes_agent(route: Route) -> bool:
    if any(p in AGENT_PARAMS for p in route.path_params):
        return True
    fields = getattr(route.body, "model_fields", {})
    return "agent_id" in fields


async def _own_agent(w: World, names: set[str] | None = None) -> dict[str, Any]:
    """A fresh agent of the intruder's with a thing of every kind (or, given ``names``, of
    the kinds named there): ids by parameter kind."""
    h = w.intruder
    wants = (lambda kind: True) if names is None else names.__contains__
    r = await w.http.post("/memgpt/v1/agents", headers=h, json={"name": f"mine-{uuid.uuid4().hex[:8]}",
                                                                "model": "scripted"})
    assert r.status_code == 201, r.text
    agent = r.json()
    own: dict[str, Any] = {"agent": agent["id"], "name": agent["name"], "label": "human"}
    if wants("passage"):
        r = await w.http.post(f"/memgpt/v1/agents/{agent['id']}/passages", headers=h, json={"text": "my own note"})
        assert r.status_code == 201, r.text
        own["passage"] = r.json()[0]["id"]
    if wants("message"):
        r = await w.http.post(f"/memgpt/v1/agents/{agent['id']}/messages", headers=h, json={"text": "my own words"})
        assert r.status_code == 200, r.text
        own["message"] = (await w.http.get(f"/memgpt/v1/agents/{agent['id']}/messages", headers=h)).json()[-1]["id"]
    if wants("block"):
        own["block"] = await _new_block(w.http, h)
        r = await w.http.patch(f"/v1/agents/{agent['id']}/core-memory/blocks/attach/{own['block']}", headers=h)
        assert r.status_code == 200, r.text
    if wants("identity"):
        own["identity"] = await _new_identity(w.http, h, f"me-{uuid.uuid4().hex[:8]}", agent["id"])
    if wants("tool"):
        own["tool"] = await _own_tool(w)
    return {**own, **await make_all(w.http, h, agent["id"], lambda k: f"my own {k.name}", names)}


def _named(route: Route) -> set[str]:
    """The kinds of thing a route's path names (besides the agent)."""
    return {SUB_PARAMS[p] for p in route.path_params if p in SUB_PARAMS}


READS = frozenset({"GET", "HEAD"})
"""Methods that change nothing, so one agent of the intruder's can serve all of them."""


async def _own_for(w: World, method: str, route: Route) -> dict[str, Any]:
    """The intruder's own agent and things for a request with ``method`` on ``route``. A read
    gets the world's one shared agent with a thing of every kind (made on first use; reads
    change nothing, and the matrix checks at the end that they did not); a write gets a
    fresh agent with just the things the route names, so a route that changes or deletes
    what it names cannot affect the routes after it."""
    if method not in READS:
        return await _own_agent(w, _named(route))
    if w.reader is None:
        w.reader = await _own_agent(w)
    return w.reader


async def _own_state(w: World, own: dict[str, Any]) -> dict[str, Any]:
    """What the intruder sees of their agent and its things (compared before/after the reads)."""
    kinds = await read_all(w.http, w.intruder, {k: own[k] for k in KINDS if k in own})
    agent = (await w.http.get(f"/v1/agents/{own['agent']}", headers=w.intruder)).json()
    messages = (await w.http.get(f"/memgpt/v1/agents/{own['agent']}/messages", headers=w.intruder,
                                 params={"limit": 1000})).json()
    return {"kinds": kinds, "agent": agent, "messages": messages}


async def _own_thing(w: World, kind: str) -> str:
    """A fresh thing of the intruder's that routes name without an agent: its id."""
    if kind == "block":
        return await _new_block(w.http, w.intruder)
    if kind in ("identity", "message") or kind in KINDS:
        return str((await _own_agent(w, {kind}))[kind])
    return await _own_tool(w)


async def _own_tool(w: World) -> str:
    """A fresh custom tool of the intruder's (attached to nothing): its id."""
    r = await w.http.post("/memgpt/v1/tools", headers=w.intruder,
                          json={"source_code": tool_source(f"mine_{uuid.uuid4().hex[:8]}")})
    assert r.status_code == 201, r.text
    tool_id: str = r.json()["id"]
    return tool_id


def _fill(route: Route, ids: dict[str, str]) -> str:
    values = {}
    for p in route.path_params:
        if p in AGENT_PARAMS:
            values[p] = ids["agent"]
        elif p in SUB_PARAMS:
            values[p] = ids[SUB_PARAMS[p]]
        else:
            raise AssertionError(
                f"{route.path}: the tenancy matrix does not know path parameter {p!r}: add it to "
                "AGENT_PARAMS or SUB_PARAMS"
            )
    return route.path.format(**values)


def _normalized(r: httpx.Response, *ids: str) -> tuple[int, str]:
    text = r.text
    for i in sorted(ids, key=len, reverse=True):
        text = text.replace(i, "<ID>")
    return r.status_code, text


async def _call(w: World, method: str, url: str, body: Any, query: dict[str, str]) -> httpx.Response:
    if body == UPLOAD:
        files = {"file": ("planted.txt", b"planted by the intruder")}
        return await w.http.request(method, url, headers=w.intruder, files=files, params=query)
    return await w.http.request(method, url, headers=w.intruder, json=body, params=query)


async def _snapshot(service: AgentService, agent_id: str, w: World | None = None) -> dict[str, Any]:
    """Everything stored for Alice's agent, read straight from the service (and, given the
    world, what Alice sees of her things of the registered kinds)."""
    alice = service.scoped("alice")
    return {
        "kinds": await read_all(w.http, w.alice.headers, w.alice.extra) if w is not None else {},
        "agent": (await alice.get_agent(agent_id)).model_dump(),
        "blocks": [b.model_dump() for b in await alice.list_blocks(agent_id)],
        "passages": [p.model_dump(exclude={"embedding"}) for p in await alice.list_passages(agent_id, limit=1000)],
        "messages": [m.model_dump() for m in await alice.list_messages(agent_id, limit=1000)],
        "tools": [t.model_dump() for t in await alice.list_tools()],
        "agent_tools": [t.id for t in await alice.list_agent_tools(agent_id)],
        "context": (await alice.context_window(agent_id)).model_dump(),
    }


GHOST = {"agent": f"agent-{uuid.UUID(int=1)}", "label": "human", "passage": f"passage-{uuid.UUID(int=2)}",
         "message": f"message-{uuid.UUID(int=3)}", "tool": f"tool-{uuid.UUID(int=4)}",
         "block": f"block-{uuid.UUID(int=5)}", "identity": f"identity-{uuid.UUID(int=6)}",
         **{k.name: k.ghost for k in KINDS.values()}}
"""Ids that never existed: what the intruder sees for Alice's must be indistinguishable."""


# --- the matrix ----------------------------------------------------------------------------------
@pytest.mark.parametrize("intruder", ["bob", "local"])
async def test_no_route_reaches_another_users_agent(tmp_path: Path, intruder: str) -> None:
    """Every agent route, every method, Alice's real ids: 404 like a ghost id, no secrets, no change."""
    async with world(tmp_path, intruder) as w:
        a = w.alice
        before = await _snapshot(w.service, a.agent_id, w)
        reader_before = await _own_state(w, await _own_for(w, "GET", w.routes[0]))
        alice_ids = a.ids()
        exercised: set[tuple[str, str]] = set()
        problems: list[str] = []

        for route in w.routes:
            if route.path == FALLBACK or not _takes_agent(route):
                continue
            for method in route.methods:
                where = f"{method} {route.path}"
                query = _query(route)
                # the same request on the intruder's own agent works: the body is valid, the
                # route is live, so a 404 below is the tenancy check and nothing else
                mine = await _own_for(w, method, route)
                r = await _call(w, method, _fill(route, mine), _body(route, method, mine["agent"]), query)
                if not r.is_success and r.status_code != OWN_AGENT_STATUS.get((method, route.path)):
                    problems.append(f"{where} on the intruder's own agent: {r.status_code} {r.text}")
                variants = [("Alice's ids", alice_ids, GHOST)]
                variants.append(("Alice's agent name", {**alice_ids, "agent": a.name},
                                 {**GHOST, "agent": "no-such-agent-name"}))
                if any(p in SUB_PARAMS and SUB_PARAMS[p] != "label" for p in route.path_params):
                    variants.append(("the intruder's agent with Alice's sub-ids",
                                     {**alice_ids, "agent": mine["agent"], "label": "human"},
                                     {**GHOST, "agent": mine["agent"]}))
                for what, ids, ghost in variants:
                    r = await _call(w, method, _fill(route, ids), _body(route, method, ids["agent"]), query)
                    g = await _call(w, method, _fill(route, ghost), _body(route, method, ghost["agent"]), query)
                    leaked = _secrets_in(r.text)
                    if r.status_code != 404 or leaked:
                        problems.append(f"{where} with {what}: {r.status_code} (want 404), secrets {leaked}: {r.text[:300]}")
                    if _normalized(r, *ids.values(), a.name) != _normalized(g, *ghost.values()):
                        problems.append(f"{where} with {what} answers unlike a ghost id: "
                                        f"{r.status_code} {r.text[:200]} vs {g.status_code} {g.text[:200]}")
                exercised.add((method, route.path))

        # the Letta API's other agent routes fall through to the catch-all: no difference either
        served = [(compile_path(rt.path)[0], rt.methods) for rt in w.routes if rt.path != FALLBACK]
        for template, methods in LETTA_API:
            if "{agent_id}" not in template:
                continue
            for method in methods.split():
                path = re.sub(r"\{(?!agent_id)[^}]+\}", "x", template)
                if any(rx.match(path.format(agent_id=a.agent_id)) and method in ms for rx, ms in served):
                    continue  # a served route, checked above
                r = await _call(w, method, path.format(agent_id=a.agent_id), None, {})
                g = await _call(w, method, path.format(agent_id=GHOST["agent"]), None, {})
                if r.status_code != 501 or r.json().get("type") != "not_implemented" or _secrets_in(r.text):
                    problems.append(f"{method} {template} (catch-all) with Alice's id: {r.status_code} "
                                    f"(want 501 not_implemented) {r.text[:200]}")
                if _normalized(r, a.agent_id) != _normalized(g, GHOST["agent"]):
                    problems.append(f"{method} {template} (catch-all) tells Alice's agent from a ghost")
                exercised.add((method, FALLBACK))
        # a path under Alice's agent that no route knows: the catch-all's 404, as for a ghost
        r = await _call(w, "GET", f"/v1/agents/{a.agent_id}/no-such-route", None, {})
        g = await _call(w, "GET", f"/v1/agents/{GHOST['agent']}/no-such-route", None, {})
        if r.status_code != 404 or _normalized(r, a.agent_id) != _normalized(g, GHOST["agent"]) or _secrets_in(r.text):
            problems.append(f"an unknown path under Alice's agent: {r.status_code} {r.text[:200]}")
        exercised.add(("GET", FALLBACK))

        # routes naming a user's own things (custom tools, blocks) without an agent: Alice's are not found
        for route in w.routes:
            if route.path_params and route.path != FALLBACK and not _takes_agent(route):
                kind = next((SUB_PARAMS[p] for p in route.path_params if p in SUB_PARAMS), "tool")
                for method in route.methods:
                    where, query = f"{method} {route.path}", _query(route)
                    if method in READS:
                        own = await _own_for(w, method, route)  # holds one thing of every kind
                    else:
                        own = await _own_agent(w, _named(route)) if kind in KINDS else {kind: await _own_thing(w, kind)}
                    r = await _call(w, method, _fill(route, own), _body(route, method, own.get("agent", "")), query)
                    if not r.is_success and r.status_code != OWN_AGENT_STATUS.get((method, route.path)):
                        problems.append(f"{where} on the intruder's own {kind}: {r.status_code} {r.text[:200]}")
                    if kind == "tool":
                        cases = [("Alice's tool id", {kind: a.tool_id}, {kind: GHOST["tool"]}),
                                 ("Alice's tool name", {kind: a.tool_name}, {kind: "no_such_tool"})]
                    elif kind in KINDS:  # every parameter Alice's (a file of her folder...)
                        cases = [(f"Alice's {kind} ids", alice_ids, GHOST)]
                    else:
                        cases = [(f"Alice's {kind} id", {kind: alice_ids[kind]}, {kind: GHOST[kind]})]
                    for what, ids, ghost in cases:
                        r = await _call(w, method, _fill(route, ids), _body(route, method, ""), query)
                        g = await _call(w, method, _fill(route, ghost), _body(route, method, ""), query)
                        if r.status_code != 404 or _secrets_in(r.text):
                            problems.append(f"{where} with {what}: {r.status_code} (want 404): {r.text[:200]}")
                        if _normalized(r, *ids.values()) != _normalized(g, *ghost.values()):
                            problems.append(f"{where} with {what} answers unlike a ghost: {r.text[:200]} vs {g.text[:200]}")
                    exercised.add((method, route.path))

        missed = [f"{m} {rt.path}" for rt in w.routes if rt.path_params and rt.path != FALLBACK
                  for m in rt.methods if (m, rt.path) not in exercised]
        if any(rt.path == FALLBACK for rt in w.routes) and not any(p == FALLBACK for _, p in exercised):
            missed.append(f"* {FALLBACK}")
        assert not missed, f"routes with path parameters the matrix did not exercise: {missed}"
        assert not problems, "\n".join(problems)
        assert await _snapshot(w.service, a.agent_id, w) == before, "Alice's agent changed"
        assert w.reader is not None and await _own_state(w, w.reader) == reader_before, \
            "reads changed the intruder's shared agent: the routes must not share it"


@pytest.mark.parametrize("intruder", ["bob", "local"])
async def test_lists_and_searches_show_only_own_data(tmp_path: Path, intruder: str) -> None:
    """List routes (found programmatically) and search routes return only the caller's data."""
    async with world(tmp_path, intruder) as w:
        a, h = w.alice, w.intruder
        mine = await _own_agent(w)
        # the same name as Alice's agent is free for another user, and means their own agent
        r = await w.http.post("/v1/agents/", headers=h, json={"name": a.name, "model": "scripted"})
        assert r.status_code == 200, r.text
        twin = r.json()["id"]
        assert twin != a.agent_id
        assert (await w.http.get(f"/v1/agents/{a.name}", headers=h)).json()["id"] == twin
        assert (await w.http.get(f"/v1/agents/{a.name}", headers=a.headers)).json()["id"] == a.agent_id
        own_ids = {mine["agent"], twin}

        alice_strings = [a.agent_id, a.passage_id, a.message_id, a.tool_id, a.block, a.identity,
                         *a.extra.values(), *SECRETS.values()]
        list_routes = [rt for rt in w.routes if rt.authenticated and not rt.path_params and "GET" in rt.methods]
        assert {"/v1/agents/", "/memgpt/v1/agents", "/v1/tools/", "/v1/models/"} <= {rt.path for rt in list_routes}
        for rt in list_routes:
            r = await w.http.get(rt.path, headers=h, params=_query(rt))
            assert r.is_success, f"GET {rt.path}: {r.status_code} {r.text}"
            assert not [s for s in alice_strings if s in r.text], f"GET {rt.path} shows Alice's data: {r.text[:300]}"
        for path in ("/v1/agents/", "/v1/agents", "/memgpt/v1/agents"):
            listed = {x["id"] for x in (await w.http.get(path, headers=h)).json()}
            assert listed == own_ids, f"{path}: {listed}"
            alices = {x["id"] for x in (await w.http.get(path, headers=a.headers)).json()}
            assert alices == {a.agent_id}, f"{path} as Alice: {alices}"
        filters: list[dict[str, str | int]] = [{"name": a.name}, {"query_text": "alice-diary"},
                                               {"limit": 1000, "order": "asc"}]
        for params in filters:
            got = {x["id"] for x in (await w.http.get("/v1/agents/", headers=h, params=params)).json()}
            assert a.agent_id not in got, params
        # shared catalogues are the same for both users
        for path in ("/v1/models/", "/v1/models/embedding"):
            assert (await w.http.get(path, headers=h)).json() == (await w.http.get(path, headers=a.headers)).json()
        # tools: the base tools for both, custom tools each their own; names are per user
        alice_tools = {t["name"] for t in (await w.http.get("/v1/tools/", headers=a.headers)).json()}
        r = await w.http.post("/v1/tools/", headers=h, json={"source_code": tool_source(a.tool_name)})
        assert r.status_code == 200 and r.json()["id"] != a.tool_id, r.text
        mine_tools = {t["name"] for t in (await w.http.get("/v1/tools/", headers=h)).json()}
        assert {n for n in mine_tools if not n.startswith("mine_")} == alice_tools and a.tool_name in alice_tools
        assert (await w.http.get(f"/v1/tools/{a.tool_name}", headers=h)).json()["id"] == r.json()["id"]
        assert (await w.http.get(f"/v1/tools/{a.tool_name}", headers=a.headers)).json()["id"] == a.tool_id
        listed = (await w.http.get("/v1/tools/", headers=h, params={"tool_ids": a.tool_id})).json()
        assert listed == []
        r = await w.http.post("/v1/agents/", headers=h, json={"name": f"t-{uuid.uuid4().hex[:6]}", "model": "scripted",
                                                              "tool_ids": [a.tool_id]})
        assert r.status_code == 400 and not _secrets_in(r.text), r.text

        # searches of the intruder's own agent for Alice's words find nothing of hers
        searches: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/v1/messages/search", {"json": {"agent_id": mine["agent"], "query": SECRETS["message"]}}),
            ("POST", "/v1/messages/search", {"json": {"agent_id": mine["agent"]}}),
            ("GET", f"/v1/agents/{mine['agent']}/archival-memory/search", {"params": {"query": SECRETS["passage"]}}),
            ("GET", f"/v1/agents/{mine['agent']}/archival-memory", {"params": {"search": "vault code"}}),
            ("GET", f"/memgpt/v1/agents/{mine['agent']}/passages/search", {"params": {"query": "vault code"}}),
            ("GET", f"/memgpt/v1/agents/{mine['agent']}/messages/search", {"params": {"query": "Remember"}}),
            ("GET", f"/memgpt/v1/agents/{mine['agent']}/messages/search", {}),
            ("GET", f"/v1/agents/{mine['agent']}/messages", {"params": {"limit": 1000}}),
            ("GET", f"/memgpt/v1/agents/{mine['agent']}/messages", {"params": {"limit": 1000}}),
        ]
        for method, path, kwargs in searches:
            r = await w.http.request(method, path, headers=h, **kwargs)
            assert r.is_success, f"{method} {path}: {r.status_code} {r.text}"
            assert not [s for s in alice_strings if s in r.text], f"{method} {path} shows Alice's data: {r.text[:300]}"
        found = (await w.http.post("/v1/messages/search", headers=h, json={"agent_id": mine["agent"]})).json()
        assert found and {m["agent_id"] for m in found} == {mine["agent"]}
        assert (await w.http.post("/v1/messages/search", headers=h,
                                  json={"agent_id": a.agent_id, "query": "Remember"})).status_code == 404

        # Alice's ids as paging cursors on the intruder's own lists: not found, nothing shown
        cursors = [
            ("/v1/agents/", {"after": a.agent_id}),
            ("/v1/agents/", {"before": a.agent_id}),
            (f"/v1/agents/{mine['agent']}/messages", {"after": a.message_id}),
            (f"/v1/agents/{mine['agent']}/messages", {"before": a.message_id}),
            (f"/v1/agents/{mine['agent']}/archival-memory", {"after": a.passage_id}),
            (f"/v1/agents/{mine['agent']}/archival-memory", {"before": a.passage_id, "ascending": "false"}),
            (f"/v1/agents/{mine['agent']}/core-memory/blocks", {"after": block_id(a.agent_id, "human")}),
            ("/v1/tools/", {"after": a.tool_id}),
            (f"/v1/agents/{mine['agent']}/tools", {"before": a.tool_id}),
            ("/v1/blocks/", {"after": a.block}),
            (f"/v1/blocks/{mine['block']}/agents", {"after": a.agent_id}),
        ]
        for path, cursor in cursors:
            r = await w.http.get(path, headers=h, params=cursor)
            assert r.status_code == 404, f"GET {path} {cursor}: {r.status_code} {r.text[:300]}"
            assert not _secrets_in(r.text)
        # seq numbers are per agent: Alice's seq on the intruder's agent pages the intruder's messages
        r = await w.http.get(f"/memgpt/v1/agents/{mine['agent']}/messages", headers=h,
                             params={"after": a.message_seq - 1})
        assert r.is_success and all(m["agent_id"] == mine["agent"] for m in r.json())


# --- authentication ------------------------------------------------------------------------------
async def test_keys_missing_invalid_or_revoked_get_401_on_every_route(tmp_path: Path) -> None:
    """With keys required, every authenticated route refuses no key, a wrong key, a revoked key."""
    async with world(tmp_path, "bob") as w:
        key_id, revoked = await w.service.create_api_key("alice")
        await w.service.revoke_api_key(key_id)
        bad_headers = {
            "no key": {},
            "empty bearer": {"Authorization": "Bearer"},
            "another scheme": {"Authorization": f"Basic {revoked}"},
            "invalid key": {"Authorization": f"Bearer mgpt-{uuid.uuid4().hex}"},
            "revoked key": {"Authorization": f"Bearer {revoked}"},
        }
        before = await _snapshot(w.service, w.alice.agent_id, w)
        ids = w.alice.ids()
        problems: list[str] = []
        checked = 0
        for rt in w.routes:
            if rt.path in PUBLIC:
                continue
            if not rt.authenticated:
                problems.append(f"{'/'.join(rt.methods)} {rt.path} does not authenticate its caller "
                                "(its endpoint does not depend on get_service)")
            for method in rt.methods:
                for what, headers in bad_headers.items():
                    r = await w.http.request(method, _fill(rt, ids), headers=headers,
                                             json=_body(rt, method, w.alice.agent_id), params=_query(rt))
                    checked += 1
                    if r.status_code != 401 or _secrets_in(r.text):
                        problems.append(f"{method} {rt.path} with {what}: {r.status_code} {r.text[:150]}")
                    elif r.json()["type"] != "http_error":
                        problems.append(f"{method} {rt.path} with {what}: error type {r.json()['type']}")
        assert checked > 100
        assert not problems, "\n".join(problems)
        assert await _snapshot(w.service, w.alice.agent_id, w) == before
        # the app-wide dependency authenticates every API route, the health check too; only
        # FastAPI's own schema route answers without a key, and it holds no user data
        for path in ("/v1/health", "/v1/health/"):
            r = await w.http.get(path)
            assert r.status_code == 401 and r.json()["type"] == "http_error", r.text
        r = await w.http.get("/openapi.json")
        assert r.status_code == 200 and not _secrets_in(r.text) and w.alice.agent_id not in r.text
        for path in (f"/v1/agents/{w.alice.agent_id}/export", f"/v1/agents/{GHOST['agent']}/export"):
            r = await w.http.get(path)  # no key: refused the same for Alice's agent and a ghost
            assert r.status_code == 401 and "missing API key" in r.text and not _secrets_in(r.text), r.text
        # and Alice's own key still works
        r = await w.http.get(f"/v1/agents/{w.alice.agent_id}", headers=w.alice.headers)
        assert r.status_code == 200 and SECRETS["block"] in r.text


async def test_local_mode_requests_are_the_local_user(tmp_path: Path) -> None:
    """require_key=False: no key (or an unknown one) means the local user, who does not see
    Alice's agents; valid keys still scope. (With keys required an unknown key is 401: above.)"""
    async with world(tmp_path, "local") as w:
        r = await w.http.post("/v1/agents/", json={"name": "local-bot", "model": "scripted"})
        assert r.status_code == 200, r.text
        local_id = r.json()["id"]
        assert [a.owner for a in await w.service.list_agents()] == ["local"]
        assert [x["id"] for x in (await w.http.get("/memgpt/v1/agents")).json()] == [local_id]
        assert (await w.http.get(f"/v1/agents/{w.alice.agent_id}")).status_code == 404
        assert [x["id"] for x in (await w.http.get("/v1/agents/", headers=w.alice.headers)).json()] == [w.alice.agent_id]
        assert (await w.http.get(f"/v1/agents/{local_id}", headers=w.alice.headers)).status_code == 404
        # an unknown or revoked key is the local user too (as Letta's self-hosted server does:
        # letta-client sends LETTA_API_KEY); a valid key still selects its user
        key_id, revoked = await w.service.create_api_key("alice")
        await w.service.revoke_api_key(key_id)
        for key in ("mgpt-not-a-key", revoked, "sk-let-1234"):
            r = await w.http.get("/v1/agents/", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200 and [x["id"] for x in r.json()] == [local_id], r.text


# --- memgpt.server.run -----------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "memgpt.example"])
def test_run_refuses_public_host_without_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    """Keyless mode on a non-loopback host is refused before anything is built or bound."""
    def must_not_serve(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("run() went on to serve")

    def must_not_bind(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("run() bound a socket")

    monkeypatch.setattr(uvicorn, "run", must_not_serve)
    monkeypatch.setattr(socket.socket, "bind", must_not_bind)
    with pytest.raises(InvalidRequestError, match="without API keys"):
        memgpt.server.run(host=host, require_key=False, settings=Settings(home=tmp_path))


@pytest.mark.parametrize(("host", "require_key", "expected"), [
    ("0.0.0.0", None, True), ("127.0.0.1", None, False), ("localhost", False, False), ("::1", None, False),
    ("127.0.0.1", True, True),
])
def test_run_requires_keys_off_loopback_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str, require_key: bool | None, expected: bool
) -> None:
    """By default keys are required exactly off loopback (uvicorn.run is replaced: nothing binds)."""
    seen: dict[str, Any] = {}

    def capture(app: FastAPI, **kwargs: Any) -> None:
        seen.update(kwargs, require_key=app.state.require_key)

    monkeypatch.setattr(uvicorn, "run", capture)
    memgpt.server.run(host=host, port=1, require_key=require_key, settings=Settings(home=tmp_path))
    assert seen == {"host": host, "port": 1, "log_level": "info", "require_key": expected,
                    "timeout_keep_alive": memgpt.server.KEEP_ALIVE}
