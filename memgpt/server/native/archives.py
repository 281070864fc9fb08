"""Archives on the native API (``/memgpt/v1/archives``): each route calls the AgentService
method of the same name; shapes are memgpt's own (`memgpt.memory.archives.Archive`, `Passage`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.schemas import AgentState, Passage
from memgpt.memory.archives import Archive, NewPassage, PassageHit
from memgpt.server.deps import Service
from memgpt.services.archives import MAX_BATCH

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArchiveInfo(Archive):
    """An archive with the number of passages it holds."""

    passages: int = 0


class CreateArchive(_Body):
    """Arguments of AgentService.create_archive."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    embedding: str | None = None
    metadata: dict[str, Any] | None = None


class ModifyArchive(_Body):
    """Arguments of AgentService.modify_archive (None: unchanged)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class AddPassages(_Body):
    """Arguments of AgentService.add_archive_passages (all are added or none)."""

    items: list[NewPassage] = Field(min_length=1, max_length=MAX_BATCH)


async def _info(service: Service, archives: list[Archive]) -> list[ArchiveInfo]:
    counts = await service._passage_counts([a.id for a in archives])
    return [ArchiveInfo(**a.model_dump(), passages=counts.get(a.id, 0)) for a in archives]


@router.post("/archives", response_model=ArchiveInfo, status_code=201)
async def create_archive(body: CreateArchive, service: Service) -> ArchiveInfo:
    """A new, empty archive."""
    made = await service.create_archive(body.name, description=body.description, embedding=body.embedding,
                                        metadata=body.metadata)
    return (await _info(service, [made]))[0]


@router.get("/archives", response_model=list[ArchiveInfo])
async def list_archives(service: Service, name: str | None = None, agent: str | None = None) -> list[ArchiveInfo]:
    """The user's archives, oldest first: by exact name, or those attached to an agent."""
    return await _info(service, await service.list_archives(name=name, agent=agent))


@router.get("/archives/{archive_id}", response_model=ArchiveInfo)
async def retrieve_archive(archive_id: str, service: Service) -> ArchiveInfo:
    """One archive by id."""
    return (await _info(service, [await service.retrieve_archive(archive_id)]))[0]


@router.patch("/archives/{archive_id}", response_model=ArchiveInfo)
async def modify_archive(archive_id: str, body: ModifyArchive, service: Service) -> ArchiveInfo:
    """Rename an archive or change its description."""
    changed = await service.modify_archive(archive_id, **body.model_dump())
    return (await _info(service, [changed]))[0]


@router.delete("/archives/{archive_id}", status_code=204)
async def delete_archive(archive_id: str, service: Service) -> Response:
    """Delete an archive with its passages, detached from every agent."""
    await service.delete_archive(archive_id)
    return Response(status_code=204)


@router.get("/archives/{archive_id}/agents", response_model=list[AgentState])
async def archive_agents(archive_id: str, service: Service) -> list[AgentState]:
    """The agents an archive is attached to."""
    return await service.archive_agents(archive_id)


@router.post("/archives/{archive_id}/passages", response_model=list[Passage], status_code=201)
async def add_archive_passages(archive_id: str, body: AddPassages, service: Service) -> list[Passage]:
    """Add passages to an archive (embedded at once)."""
    return await service.add_archive_passages(archive_id, body.items)


@router.get("/archives/{archive_id}/passages", response_model=list[Passage])
async def list_archive_passages(
    archive_id: str, service: Service, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> list[Passage]:
    """An archive's passages, newest first."""
    return await service.list_archive_passages(archive_id, limit=limit, offset=offset)


@router.delete("/archives/{archive_id}/passages/{archive_passage_id}", status_code=204)
async def delete_archive_passage(archive_id: str, archive_passage_id: str, service: Service) -> Response:
    """Delete one passage of an archive."""
    await service.delete_archive_passage(archive_id, archive_passage_id)
    return Response(status_code=204)


@router.get("/passages/search", response_model=list[PassageHit])
async def search_all_passages(
    service: Service, query: str | None = None, agent: str | None = None, archive_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50, tags: Annotated[list[str] | None, Query()] = None,
    match_all_tags: bool = False, start: datetime | None = None, end: datetime | None = None,
) -> list[PassageHit]:
    """Passages ranked by hybrid search: an agent's (its own and its archives'), else an
    archive's, else all of the user's."""
    return await service.search_all_passages(query, agent=agent, archive_id=archive_id, limit=limit, tags=tags,
                                             match_all_tags=match_all_tags, start=start, end=end)


@router.put("/agents/{agent}/archives/{archive_id}", response_model=AgentState)
async def attach_archive(agent: str, archive_id: str, service: Service) -> AgentState:
    """Let an agent's archival search read an archive."""
    return await service.attach_archive(agent, archive_id)


@router.delete("/agents/{agent}/archives/{archive_id}", response_model=AgentState)
async def detach_archive(agent: str, archive_id: str, service: Service) -> AgentState:
    """Stop an agent's archival search reading an archive."""
    return await service.detach_archive(agent, archive_id)
