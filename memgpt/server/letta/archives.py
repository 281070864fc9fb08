"""Letta's archives: ``/v1/archives`` with their passages, attaching archives to agents, and
``/v1/passages/search``.

An archive belongs to the user who made it (another user gets 404, as for one never made);
attached to agents, its passages are searched with theirs (see ``memgpt.services.archives``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, field_validator

from memgpt.core.schemas import Passage as MemPassage
from memgpt.embeddings.base import Embedder
from memgpt.formats import letta as ls
from memgpt.memory.archives import Archive as MemArchive
from memgpt.server.deps import Service
from memgpt.server.paging import page
from memgpt.memory.archives import NewPassage
from memgpt.services.archives import MAX_BATCH

router = APIRouter(tags=["archives"])


class Archive(BaseModel):
    """An archive in Letta's shape."""

    id: str
    name: str
    description: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    embedding_config: ls.EmbeddingConfig | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    vector_db_provider: Literal["native"] = "native"
    created_by_id: str | None = None
    last_updated_by_id: str | None = None


class Passage(ls.Passage):
    """A passage in Letta's shape, with the archive holding it."""

    archive_id: str | None = None


class CreateArchive(BaseModel):
    """Letta's ``ArchiveCreateRequest`` (the embedding fields are accepted and not used)."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    embedding: str | None = None
    embedding_config: dict[str, Any] | None = None


class ModifyArchive(BaseModel):
    """Letta's ``ArchiveUpdateRequest``."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class CreatePassage(BaseModel):
    """A passage to add to an archive."""

    text: str = Field(min_length=1, max_length=1_000_000)
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    created_at: datetime | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is not None and any(not t.strip() or len(t) > 200 for t in tags):
            raise ValueError("tags must be non-empty text of at most 200 characters")
        return tags

    def new(self) -> NewPassage:
        """As the service takes it."""
        return NewPassage(text=self.text, tags=self.tags or [], metadata=self.metadata or {},
                          created_at=self.created_at)


class CreatePassages(BaseModel):
    """Several passages to add to an archive at once."""

    passages: list[CreatePassage] = Field(min_length=1, max_length=MAX_BATCH)


class SearchPassages(BaseModel):
    """Letta's ``PassageSearchRequest``."""

    query: str | None = None
    agent_id: str | None = None
    archive_id: str | None = None
    tags: list[str] | None = None
    tag_match_mode: Literal["any", "all"] = "any"
    limit: int = Field(default=50, ge=1, le=100)
    start_date: datetime | None = None
    end_date: datetime | None = None


class PassageSearchResult(BaseModel):
    """One result of ``/v1/passages/search``."""

    passage: Passage
    score: float
    metadata: dict[str, Any] = Field(default_factory=dict)


def archive_out(a: MemArchive, embedder: Embedder) -> Archive:
    """Our archive in Letta's shape."""
    cfg = ls.embedding_config(embedder) if a.embedding_model == embedder.name else None
    return Archive(id=a.id, name=a.name, description=a.description or None, created_at=a.created_at,
                   updated_at=a.updated_at, embedding_config=cfg, metadata=a.metadata)


def passage_out(p: MemPassage, embedder: Embedder) -> Passage:
    """A passage (an agent's own or an archive's) in Letta's shape."""
    base = ls.passage_out(p, embedder).model_dump()
    if p.archive_id is not None:
        base.update(agent_id=None, metadata=p.metadata)
    return Passage(**base, archive_id=p.archive_id)


@router.post("/v1/archives/", response_model=Archive)
@router.post("/v1/archives", response_model=Archive, include_in_schema=False)
async def create_archive(body: CreateArchive, service: Service) -> Archive:
    """A new, empty archive. As for agents, ``embedding`` and ``embedding_config`` are
    accepted but the server's embedder is used (the response shows it)."""
    made = await service.create_archive(body.name, description=body.description)
    return archive_out(made, service.embedder)


@router.get("/v1/archives/", response_model=list[Archive])
@router.get("/v1/archives", response_model=list[Archive], include_in_schema=False)
async def list_archives(
    service: Service,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Literal["asc", "desc"] = "desc",
    order_by: Literal["created_at"] = "created_at",
    name: str | None = None,
    agent_id: str | None = None,
) -> list[Archive]:
    """The user's archives, newest first by default; by exact ``name``, or attached to an agent."""
    archives = await service.list_archives(name=name, agent=agent_id)
    chosen = page(archives, lambda a: a.id, after=after, before=before, limit=limit, order=order, what="archive")
    return [archive_out(a, service.embedder) for a in chosen]


@router.get("/v1/archives/{archive_id}", response_model=Archive)
async def retrieve_archive(archive_id: str, service: Service) -> Archive:
    """One archive by id."""
    return archive_out(await service.retrieve_archive(archive_id), service.embedder)


@router.patch("/v1/archives/{archive_id}", response_model=Archive)
async def modify_archive(archive_id: str, body: ModifyArchive, service: Service) -> Archive:
    """Rename an archive or change its description."""
    changed = await service.modify_archive(archive_id, name=body.name, description=body.description)
    return archive_out(changed, service.embedder)


@router.delete("/v1/archives/{archive_id}", status_code=204)
async def delete_archive(archive_id: str, service: Service) -> Response:
    """Delete an archive with its passages, detached from every agent."""
    await service.delete_archive(archive_id)
    return Response(status_code=204)


@router.post("/v1/archives/{archive_id}/passages", response_model=Passage)
async def create_archive_passage(archive_id: str, body: CreatePassage, service: Service) -> Passage:
    """Add a passage to an archive (embedded at once)."""
    made = await service.add_archive_passages(archive_id, [body.new()])
    return passage_out(made[0], service.embedder)


@router.post("/v1/archives/{archive_id}/passages/batch", response_model=list[Passage])
async def create_archive_passages(archive_id: str, body: CreatePassages, service: Service) -> list[Passage]:
    """Add several passages to an archive: all of them or, on bad input, none."""
    made = await service.add_archive_passages(archive_id, [p.new() for p in body.passages])
    return [passage_out(p, service.embedder) for p in made]


@router.delete("/v1/archives/{archive_id}/passages/{archive_passage_id}", status_code=204)
async def delete_archive_passage(archive_id: str, archive_passage_id: str, service: Service) -> Response:
    """Delete one passage of an archive."""
    await service.delete_archive_passage(archive_id, archive_passage_id)
    return Response(status_code=204)


@router.patch("/v1/agents/{agent_id}/archives/attach/{archive_id}")
async def attach_archive(agent_id: str, archive_id: str, service: Service) -> None:
    """Let an agent's archival search read an archive."""
    await service.attach_archive(agent_id, archive_id)


@router.patch("/v1/agents/{agent_id}/archives/detach/{archive_id}")
async def detach_archive(agent_id: str, archive_id: str, service: Service) -> None:
    """Stop an agent's archival search reading an archive."""
    await service.detach_archive(agent_id, archive_id)


@router.post("/v1/passages/search", response_model=list[PassageSearchResult], tags=["passages"])
async def search_passages(body: SearchPassages, service: Service) -> list[PassageSearchResult]:
    """Passages ranked by hybrid search: an agent's (its own and its archives'), else an
    archive's, else all of the user's. Without a query, the newest that pass the filters."""
    found = await service.search_all_passages(
        body.query, agent=body.agent_id, archive_id=body.archive_id, limit=body.limit, tags=body.tags,
        match_all_tags=body.tag_match_mode == "all", start=body.start_date, end=body.end_date)
    return [PassageSearchResult(passage=passage_out(h.passage, service.embedder), score=h.score,
                                metadata={"rank": i + 1}) for i, h in enumerate(found)]
