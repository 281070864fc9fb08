"""Identities, agent tags and messages across agents on the native API (``/memgpt/v1``):
each route calls the AgentService method of the same name with every one of its parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.schemas import AgentState, Message
from memgpt.memory.stores import Identity, IdentityProperty
from memgpt.server.deps import Service

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewIdentity(_Body):
    """Arguments of AgentService.create_identity and upsert_identity."""

    identifier_key: str
    name: str
    identity_type: str = "user"
    properties: list[IdentityProperty] | None = None
    agent_ids: list[str] | None = None


class IdentityChanges(_Body):
    """Arguments of AgentService.update_identity (None: unchanged)."""

    identifier_key: str | None = None
    name: str | None = None
    identity_type: str | None = None
    properties: list[IdentityProperty] | None = None
    agent_ids: list[str] | None = None


class Tags(_Body):
    """Arguments of AgentService.set_agent_tags."""

    tags: list[str] = Field(max_length=1000)


@router.post("/identities", response_model=Identity, status_code=201)
async def create_identity(body: NewIdentity, service: Service) -> Identity:
    """A new identity, linked to the agents named."""
    return await service.create_identity(
        body.identifier_key, body.name, identity_type=body.identity_type, properties=body.properties,
        agent_ids=body.agent_ids)


@router.put("/identities", response_model=Identity)
async def upsert_identity(body: NewIdentity, service: Service) -> Identity:
    """The identity with this key made, or replaced."""
    return await service.upsert_identity(
        body.identifier_key, body.name, identity_type=body.identity_type, properties=body.properties,
        agent_ids=body.agent_ids)


@router.get("/identities", response_model=list[Identity])
async def list_identities(
    service: Service, name: str | None = None, identifier_key: str | None = None,
    identity_type: str | None = None,
) -> list[Identity]:
    """The caller's identities, oldest first, optionally filtered."""
    return await service.list_identities(name=name, identifier_key=identifier_key, identity_type=identity_type)


@router.get("/identities/{identity_id}", response_model=Identity)
async def get_identity(identity_id: str, service: Service) -> Identity:
    """One identity by id."""
    return await service.get_identity(identity_id)


@router.patch("/identities/{identity_id}", response_model=Identity)
async def update_identity(identity_id: str, body: IdentityChanges, service: Service) -> Identity:
    """Change an identity; properties and agent_ids replace the current ones."""
    return await service.update_identity(
        identity_id, identifier_key=body.identifier_key, name=body.name, identity_type=body.identity_type,
        properties=body.properties, agent_ids=body.agent_ids)


@router.delete("/identities/{identity_id}", status_code=204)
async def delete_identity(identity_id: str, service: Service) -> Response:
    """Delete an identity; its agents stay."""
    await service.delete_identity(identity_id)
    return Response(status_code=204)


@router.get("/agents/{agent}/identities", response_model=list[Identity])
async def agent_identities(agent: str, service: Service) -> list[Identity]:
    """The identities linked to an agent."""
    return await service.agent_identities(agent)


@router.put("/agents/{agent}/identities/{identity_id}", response_model=AgentState)
async def attach_identity(agent: str, identity_id: str, service: Service) -> AgentState:
    """Link an identity to an agent."""
    return await service.attach_identity(agent, identity_id)


@router.delete("/agents/{agent}/identities/{identity_id}", response_model=AgentState)
async def detach_identity(agent: str, identity_id: str, service: Service) -> AgentState:
    """Unlink an identity from an agent."""
    return await service.detach_identity(agent, identity_id)


@router.get("/agents/{agent}/tags", response_model=list[str])
async def agent_tags(agent: str, service: Service) -> list[str]:
    """An agent's tags, sorted."""
    return await service.agent_tags(agent)


@router.put("/agents/{agent}/tags", response_model=list[str])
async def set_agent_tags(agent: str, body: Tags, service: Service) -> list[str]:
    """Make an agent's tags exactly these."""
    return await service.set_agent_tags(agent, body.tags)


@router.get("/tags", response_model=list[str])
async def list_tags(service: Service, name: str | None = None) -> list[str]:
    """The distinct tags of the caller's agents."""
    return await service.list_tags(name=name)


@router.get("/agent-search", response_model=list[AgentState])
async def find_agents(
    service: Service,
    tags: Annotated[list[str] | None, Query()] = None,
    match_all_tags: bool = False,
    identity_id: str | None = None,
    identifier_keys: Annotated[list[str] | None, Query()] = None,
) -> list[AgentState]:
    """The caller's agents with any (or all) of the tags, linked to the identities named."""
    return await service.find_agents(tags=tags, match_all_tags=match_all_tags, identity_id=identity_id,
                                     identifier_keys=identifier_keys)


@router.get("/messages/search", response_model=list[Message])
async def search_all_messages(
    service: Service, query: str | None = None, agent: str | None = None, start: datetime | None = None,
    end: datetime | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[Message]:
    """Recall search over one agent or all the caller's agents."""
    return await service.search_all_messages(query, agent=agent, start=start, end=end, limit=limit)


@router.get("/messages", response_model=list[Message])
async def list_all_messages(
    service: Service, after: str | None = None, before: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, order: Literal["asc", "desc"] = "desc",
) -> list[Message]:
    """Messages of all the caller's agents by time; after/before are message ids."""
    return await service.list_all_messages(after=after, before=before, limit=limit, order=order)


@router.get("/messages/{message_id}", response_model=Message)
async def get_any_message(message_id: str, service: Service) -> Message:
    """One message of any of the caller's agents."""
    return await service.get_any_message(message_id)
