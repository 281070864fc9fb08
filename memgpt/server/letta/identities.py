"""Letta's identities (``/v1/identities``, ``agents.identities.attach/detach``), tags
(``/v1/tags``) and the user's messages across agents (``GET /v1/messages``, ``/{id}``).

Everything is the caller's: another user's identity or message answers 404, and lists hold
only the caller's. Search (``POST /v1/messages/search``) is in ``letta/messages.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.errors import InvalidRequestError
from memgpt.formats import letta as ls
from memgpt.memory.stores import Identity, IdentityProperty
from memgpt.server.deps import Service
from memgpt.server.letta.agents import agent_out
from memgpt.server.paging import add_whole, page

router = APIRouter(tags=["identities"])

IdentityType = Literal["org", "user", "other"]


class _Request(BaseModel):
    """Request bodies ignore the Letta fields we have no use for (project_id, ...)."""

    model_config = ConfigDict(extra="ignore")


class IdentityCreate(_Request):
    """POST /v1/identities/ and PUT /v1/identities/ (upsert by identifier_key)."""

    identifier_key: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    identity_type: IdentityType = "user"
    agent_ids: list[str] | None = None
    properties: list[IdentityProperty] | None = None
    block_ids: list[str] | None = None


class IdentityUpdate(_Request):
    """PATCH /v1/identities/{identity_id}."""

    identifier_key: str | None = Field(default=None, min_length=1, max_length=200)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    identity_type: IdentityType | None = None
    agent_ids: list[str] | None = None
    properties: list[IdentityProperty] | None = None
    block_ids: list[str] | None = None


def _no_blocks(block_ids: list[str] | None) -> None:
    if block_ids:
        raise InvalidRequestError("identities hold no blocks on this server: attach blocks to agents")


async def _save(save: Callable[..., Awaitable[Identity]], body: IdentityCreate) -> ls.Identity:
    """The identity made by save (create or upsert) from a Letta create body."""
    _no_blocks(body.block_ids)
    made = await save(body.identifier_key, body.name, identity_type=body.identity_type,
                      properties=body.properties, agent_ids=body.agent_ids)
    return ls.identity_out(made)


@router.post("/v1/identities/", response_model=ls.Identity)
@router.post("/v1/identities", response_model=ls.Identity, include_in_schema=False)
async def create_identity(body: IdentityCreate, service: Service) -> ls.Identity:
    """A new identity (``identifier_key`` unique among the caller's; 409 if taken)."""
    return await _save(service.create_identity, body)


@router.put("/v1/identities/", response_model=ls.Identity)
@router.put("/v1/identities", response_model=ls.Identity, include_in_schema=False)
async def upsert_identity(body: IdentityCreate, service: Service) -> ls.Identity:
    """The identity with this ``identifier_key`` made, or replaced if it exists."""
    return await _save(service.upsert_identity, body)


@router.get("/v1/identities/", response_model=list[ls.Identity])
@router.get("/v1/identities", response_model=list[ls.Identity], include_in_schema=False)
async def list_identities(
    service: Service,
    name: str | None = None,
    identifier_key: str | None = None,
    identity_type: IdentityType | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Literal["asc", "desc"] = "desc",
) -> list[ls.Identity]:
    """The caller's identities, newest first by default; ``after``/``before`` are ids."""
    found = await service.list_identities(name=name, identifier_key=identifier_key, identity_type=identity_type)
    chosen = page(found, lambda i: i.id, after=after, before=before, limit=limit, order=order, what="identity")
    return [ls.identity_out(i) for i in chosen]


@router.get("/v1/identities/count")
async def count_identities(service: Service) -> int:
    """How many identities the caller has."""
    return len(await service.list_identities())


@router.get("/v1/identities/{identity_id}", response_model=ls.Identity)
async def retrieve_identity(identity_id: str, service: Service) -> ls.Identity:
    """One identity by id."""
    return ls.identity_out(await service.get_identity(identity_id))


@router.patch("/v1/identities/{identity_id}", response_model=ls.Identity)
async def update_identity(identity_id: str, body: IdentityUpdate, service: Service) -> ls.Identity:
    """Change an identity; ``properties`` and ``agent_ids`` replace the current ones."""
    _no_blocks(body.block_ids)
    changed = await service.update_identity(
        identity_id, identifier_key=body.identifier_key, name=body.name, identity_type=body.identity_type,
        properties=body.properties, agent_ids=body.agent_ids)
    return ls.identity_out(changed)


@router.put("/v1/identities/{identity_id}/properties", response_model=ls.Identity)
async def upsert_identity_properties(
    identity_id: str, body: list[IdentityProperty], service: Service
) -> ls.Identity:
    """Set properties by key (others are kept)."""
    current = await service.get_identity(identity_id)
    given = {p.key for p in body}
    merged = [p for p in current.properties if p.key not in given] + body
    return ls.identity_out(await service.update_identity(identity_id, properties=merged))


@router.delete("/v1/identities/{identity_id}")
async def delete_identity(identity_id: str, service: Service) -> dict[str, str]:
    """Delete an identity; its agents stay."""
    await service.delete_identity(identity_id)
    return {"deleted": identity_id}


@router.get("/v1/identities/{identity_id}/agents", response_model=list[ls.AgentState])
async def identity_agents(identity_id: str, service: Service) -> list[ls.AgentState]:
    """The agents linked to an identity, oldest first."""
    identity = await service.get_identity(identity_id)
    return [await agent_out(service, await service.get_agent(a)) for a in identity.agent_ids]


@router.patch("/v1/agents/{agent_id}/identities/attach/{identity_id}", response_model=ls.AgentState)
async def attach_identity(agent_id: str, identity_id: str, service: Service) -> ls.AgentState:
    """Link an identity to an agent (a no-op if linked)."""
    return await agent_out(service, await service.attach_identity(agent_id, identity_id))


@router.patch("/v1/agents/{agent_id}/identities/detach/{identity_id}", response_model=ls.AgentState)
async def detach_identity(agent_id: str, identity_id: str, service: Service) -> ls.AgentState:
    """Unlink an identity from an agent (404 if it was not linked)."""
    return await agent_out(service, await service.detach_identity(agent_id, identity_id))


@router.get("/v1/tags/", response_model=list[str], tags=["tags"])
@router.get("/v1/tags", response_model=list[str], include_in_schema=False)
async def list_tags(
    service: Service,
    name: str | None = None,
    query_text: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Literal["asc", "desc"] = "asc",
    order_by: Literal["name"] = "name",
) -> list[str]:
    """The distinct tags of the caller's agents, alphabetical (``order=desc``: reversed);
    ``name`` (or the older ``query_text``) keeps those containing it; ``after``/``before``
    are tags, and need not be one of them."""
    tags = await service.list_tags(name=name or query_text)
    if order == "desc":
        tags = tags[::-1]
    if after is not None:
        tags = [t for t in tags if (t > after if order == "asc" else t < after)]
    if before is not None:
        tags = [t for t in tags if (t < before if order == "asc" else t > before)]
    if limit is not None:
        tags = tags[-limit:] if before is not None and after is None else tags[:limit]
    return tags


@router.get("/v1/messages/", response_model=list[ls.LettaMessage], tags=["messages"])
@router.get("/v1/messages", response_model=list[ls.LettaMessage], include_in_schema=False)
async def list_all_messages(
    service: Service,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Literal["asc", "desc"] = "desc",
    conversation_id: str | None = None,
    include_return_message_types: Annotated[list[ls.MessageType] | None, Query()] = None,
) -> list[ls.LettaMessage]:
    """Messages of all the caller's agents by time, newest first by default; ``after`` and
    ``before`` are message ids. As for one agent's history, the Letta messages made from one
    stored message share its id and are never split across pages, and stored messages that
    show as nothing are skipped. ``conversation_id`` finds nothing: there are none yet."""
    if conversation_id is not None:
        return []
    backwards = before is not None and after is None  # the page nearest `before`
    groups: list[list[ls.LettaMessage]] = []
    total, chunk = 0, max(limit, 20)
    while total < limit:
        batch = await service.list_all_messages(after=after, before=before, limit=chunk, order=order)
        for m in reversed(batch) if backwards else batch:
            converted = ls.messages_to_letta([m], types=include_return_message_types)
            if order == "desc":
                converted.reverse()
            total = add_whole(groups, converted, total, limit)
            before, after = (m.id, after) if backwards else (before, m.id)
            if total >= limit:
                break
        if len(batch) < chunk:
            break
    if backwards:
        groups.reverse()
    return [x for g in groups for x in g]


@router.get("/v1/messages/{message_id}", response_model=list[ls.LettaMessage], tags=["messages"])
async def retrieve_message(message_id: str, service: Service) -> list[ls.LettaMessage]:
    """One stored message of any of the caller's agents, as the Letta messages it shows as."""
    return ls.messages_to_letta([await service.get_any_message(message_id)])
