"""The kinds of things a user owns that routes name by a path parameter, for the tenancy matrix
(tests/test_server_tenancy.py).

A new resource (an archive, a folder, a run...) registers one ``Kind`` here: the path
parameters that name it, how to make a fresh one over HTTP, an id that never existed, and
optionally how to read it back. The matrix then makes one for Alice (holding a secret of its
own) and fresh ones for the intruder, fills every route's parameters with them, and checks
that the intruder's requests with Alice's ids answer exactly like the ghost id, that her
secret never shows, and (with ``read``) that her thing is unchanged afterwards.

Register with the decorator, after the kinds your maker needs (``made`` holds the ids made so
far for the same user and agent, by kind)::

    @kind("archive", "archive_id", ghost=f"archive-{uuid.UUID(int=101)}", read="/v1/archives/{id}")
    async def _archive(http, headers, agent_id, text, made):
        r = await http.post("/v1/archives/", headers=headers, json={"name": text})
        assert r.status_code == 200, r.text
        ... attach it to agent_id if routes list it under the agent ...
        return r.json()["id"]

``text`` is Alice's secret for this kind (put it inside the thing, e.g. its name or content)
or a harmless text for the intruder's. Path parameters already known to the matrix (agent,
block label, passage, message, tool, block, identity) are built in there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from fakes.mcp_server import shared_http_url

Maker = Callable[[httpx.AsyncClient, dict[str, str], str, str, dict[str, str]], Awaitable[str]]


@dataclass(frozen=True)
class Kind:
    """One kind of owned thing: the path parameters naming it, and how to make and read one."""

    name: str
    params: tuple[str, ...]
    make: Maker
    ghost: str
    read: str | None = None
    """A GET path template (``{id}``) showing the thing to its owner, compared before/after."""
    uses: tuple[str, ...] = ()
    """Kinds its maker reads from ``made`` (made first, e.g. an archive for its passage)."""

    @property
    def secret(self) -> str:
        """The secret Alice's thing of this kind holds."""
        return f"alice-{self.name}-secret-{uuid.uuid5(uuid.NAMESPACE_OID, self.name).hex[:4]}"


KINDS: dict[str, Kind] = {}
"""Registered kinds, in registration order (a maker may use the ids of earlier kinds)."""


def kind(name: str, *params: str, ghost: str, read: str | None = None,
         uses: tuple[str, ...] = ()) -> Callable[[Maker], Maker]:
    """Register a kind named ``name``, named in paths by ``params``."""
    def register(make: Maker) -> Maker:
        assert name not in KINDS, f"kind {name!r} registered twice"
        assert all(u in KINDS for u in uses), f"kind {name!r} uses kinds registered after it"
        KINDS[name] = Kind(name, params, make, ghost, read, uses)
        return make
    return register


async def make_all(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str,
                   text: Callable[[Kind], str], only: set[str] | None = None) -> dict[str, str]:
    """One fresh thing of every registered kind (or of the kinds in ``only``, with the kinds
    they use) for the caller and agent: ids by kind."""
    wanted = set(KINDS) if only is None else {n for n in only if n in KINDS}
    for k in reversed(KINDS.values()):  # a kind is registered after the kinds it uses
        if k.name in wanted:
            wanted.update(k.uses)
    made: dict[str, str] = {}
    for k in KINDS.values():
        if k.name in wanted:
            made[k.name] = await k.make(http, headers, agent_id, text(k), made)
    return made


async def read_all(http: httpx.AsyncClient, headers: dict[str, str], ids: dict[str, str]) -> dict[str, Any]:
    """What the owner sees of each readable thing (for before/after comparison)."""
    out: dict[str, Any] = {}
    for k in KINDS.values():
        if k.read is not None and k.name in ids:
            r = await http.get(k.read.format(id=ids[k.name]), headers=headers)
            out[k.name] = (r.status_code, r.json() if r.headers.get("content-type", "").startswith(
                "application/json") else r.text)
    return out


@kind("schedule", "scheduled_message_id", "schedule_id", ghost=f"scheduled_message-{uuid.UUID(int=113)}")
async def _schedule(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                    made: dict[str, str]) -> str:
    """A recurring schedule of the agent (due once a year), the secret as its message."""
    r = await http.post(f"/v1/agents/{agent_id}/schedule", headers=headers, json={
        "schedule": {"type": "recurring", "cron_expression": "0 0 1 1 *"},
        "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


@kind("archive", "archive_id", ghost=f"archive-{uuid.UUID(int=101)}", read="/v1/archives/{id}")
async def _archive(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                   made: dict[str, str]) -> str:
    """An archive named with the secret, holding a passage with it, attached to the agent."""
    r = await http.post("/v1/archives/", headers=headers, json={"name": text, "description": text})
    assert r.status_code == 200, r.text
    archive = str(r.json()["id"])
    r = await http.post(f"/v1/archives/{archive}/passages", headers=headers, json={"text": f"archived {text}"})
    assert r.status_code == 200, r.text
    r = await http.patch(f"/v1/agents/{agent_id}/archives/attach/{archive}", headers=headers)
    assert r.status_code == 200, r.text
    return archive


@kind("archive_passage", "archive_passage_id", ghost=f"passage-{uuid.UUID(int=102)}", uses=("archive",))
async def _archive_passage(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                           made: dict[str, str]) -> str:
    """A passage of the archive made just before, the secret in its text."""
    r = await http.post(f"/v1/archives/{made['archive']}/passages", headers=headers,
                        json={"text": f"archive passage {text}"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


@kind("conversation", "conversation_id", "conversation", ghost=f"conv-{uuid.UUID(int=114)}",
      read="/v1/conversations/{id}")
async def _conversation(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                        made: dict[str, str]) -> str:
    """A conversation with the agent, the secret as its description and summary, with two
    exchanges in it (so it has a run to resume and a window to compact)."""
    r = await http.post("/v1/conversations/", headers=headers, params={"agent_id": agent_id},
                        json={"description": text, "summary": text})
    assert r.status_code == 200, r.text
    conversation = str(r.json()["id"])
    for words in (f"first words {text}", "second words"):
        r = await http.post(f"/v1/conversations/{conversation}/messages", headers=headers,
                            json={"messages": [{"role": "user", "content": words}], "streaming": False})
        assert r.status_code == 200, r.text
    return conversation


@kind("mcp_server", "mcp_server_id", "mcp_server", ghost=f"mcp_server-{uuid.UUID(int=116)}",
      read="/v1/mcp-servers/{id}")
async def _mcp_server(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                      made: dict[str, str]) -> str:
    """An MCP server over streamable HTTP (the fake one), the secret as its token and a header."""
    r = await http.post("/v1/mcp-servers/", headers=headers, json={
        "server_name": f"mcp-{uuid.uuid4().hex[:8]}", "config": {
            "mcp_server_type": "streamable_http", "server_url": shared_http_url(), "auth_token": text,
            "custom_headers": {"X-Secret": text}}})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


@kind("mcp_tool", "mcp_tool_id", "mcp_tool", ghost=f"tool-{uuid.UUID(int=117)}", uses=("mcp_server",))
async def _mcp_tool(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                    made: dict[str, str]) -> str:
    """The ``add`` tool of the MCP server made just before."""
    r = await http.get(f"/v1/mcp-servers/{made['mcp_server']}/tools", headers=headers)
    assert r.status_code == 200, r.text
    return next(str(t["id"]) for t in r.json() if t["name"] == "add")


@kind("folder", "folder_id", ghost=f"source-{uuid.UUID(int=121)}", read="/v1/folders/{id}")
async def _folder(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                  made: dict[str, str]) -> str:
    """A folder named with the secret (its files come with the "file" kind)."""
    name = f"{text} {uuid.uuid4().hex[:6]}"  # names are unique per user; makers run many times
    r = await http.post("/v1/folders/", headers=headers, json={"name": name, "description": text})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


@kind("file", "file_id", ghost=f"file-{uuid.UUID(int=122)}", uses=("folder",))
async def _file(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                made: dict[str, str]) -> str:
    """A text file holding the secret in the folder made just before, processed, with the
    folder attached to the agent (so the agent has the file, open)."""
    folder = made["folder"]
    r = await http.post(f"/v1/folders/{folder}/upload", headers=headers,
                        files={"file": ("notes.txt", f"The file says {text}.".encode())})
    assert r.status_code == 200, r.text
    file_id = str(r.json()["id"])
    for _ in range(400):  # processing runs in the background: wait for it to end
        r = await http.get(f"/v1/folders/{folder}/files/{file_id}", headers=headers)
        if r.json()["processing_status"] in ("completed", "error"):
            break
        await asyncio.sleep(0.02)
    assert r.json()["processing_status"] == "completed", r.text
    r = await http.patch(f"/v1/agents/{agent_id}/folders/attach/{folder}", headers=headers)
    assert r.status_code == 200, r.text
    return file_id


AGENT_TOOL_SOURCE = '''
def {name}(code: str) -> str:
    """Check a code.

    Args:
        code: The code to check.
    """
    return "no"
'''


@kind("agent_tool", "tool_name", ghost="no_such_tool")
async def _agent_tool(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                      made: dict[str, str]) -> str:
    """A custom tool of the agent's, by name, taking ``code`` (tool control runs tools and sets
    approval by name): the agent's first attached one (Alice's holds her tool secret), else a
    fresh ``mine_`` tool attached to it (the intruder's own: the matrix counts those as his)."""
    r = await http.get(f"/memgpt/v1/agents/{agent_id}/tools", headers=headers)
    assert r.status_code == 200, r.text
    attached = [t["name"] for t in r.json() if not t["builtin"] and t["source_code"]]
    if attached:
        return str(attached[0])
    name = f"mine_{uuid.uuid4().hex[:8]}"
    r = await http.post("/memgpt/v1/tools", headers=headers,
                        json={"source_code": AGENT_TOOL_SOURCE.replace("{name}", name)})
    assert r.status_code == 201, r.text
    r = await http.put(f"/memgpt/v1/agents/{agent_id}/tools/{name}", headers=headers)
    assert r.status_code == 200, r.text
    return name


@kind("run", "run_id", ghost=f"run-{uuid.UUID(int=131)}", read="/v1/runs/{id}")
async def _run(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
               made: dict[str, str]) -> str:
    """A finished run of the agent (a direct send is a run)."""
    r = await http.post(f"/v1/agents/{agent_id}/messages", headers=headers,
                        json={"messages": [{"role": "user", "content": f"a run about {text}"}]})
    assert r.status_code == 200, r.text
    r = await http.get("/v1/runs/", headers=headers, params={"agent_id": agent_id, "limit": 1})
    assert r.status_code == 200, r.text
    return str(r.json()[0]["id"])


@kind("step", "step_id", ghost=f"step-{uuid.UUID(int=132)}", read="/v1/steps/{id}", uses=("run",))
async def _step(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str, text: str,
                made: dict[str, str]) -> str:
    """The first step of the agent's run made above."""
    r = await http.get(f"/v1/runs/{made['run']}/steps", headers=headers)
    assert r.status_code == 200 and r.json(), r.text
    return str(r.json()[0]["id"])
