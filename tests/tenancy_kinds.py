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

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

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

    @property
    def secret(self) -> str:
        """The secret Alice's thing of this kind holds."""
        return f"alice-{self.name}-secret-{uuid.uuid5(uuid.NAMESPACE_OID, self.name).hex[:4]}"


KINDS: dict[str, Kind] = {}
"""Registered kinds, in registration order (a maker may use the ids of earlier kinds)."""


def kind(name: str, *params: str, ghost: str, read: str | None = None) -> Callable[[Maker], Maker]:
    """Register a kind named ``name``, named in paths by ``params``."""
    def register(make: Maker) -> Maker:
        assert name not in KINDS, f"kind {name!r} registered twice"
        KINDS[name] = Kind(name, params, make, ghost, read)
        return make
    return register


async def make_all(http: httpx.AsyncClient, headers: dict[str, str], agent_id: str,
                   text: Callable[[Kind], str]) -> dict[str, str]:
    """One fresh thing of every registered kind for the caller and agent: ids by kind."""
    made: dict[str, str] = {}
    for k in KINDS.values():
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
