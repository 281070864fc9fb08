"""Letta's core memory blocks and archival memory (passages) of an agent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from memgpt.formats import letta as ls
from memgpt.server.paging import all_passages
from memgpt.server.deps import Service
from memgpt.server.errors import NotImplementedByServer
from memgpt.server.paging import page

router = APIRouter()


# --- core memory blocks --------------------------------------------------------------------------
@router.get("/v1/agents/{agent_id}/core-memory/blocks", response_model=list[ls.Block], tags=["blocks"])
async def list_blocks(
    agent_id: str,
    service: Service,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    order: Literal["asc", "desc"] = "asc",
) -> list[ls.Block]:
    """The agent's core memory blocks, in display order; cursors are block ids."""
    state = await service.get_agent(agent_id)
    blocks = [ls.block_out(state.id, b) for b in await service.list_blocks(state.id)]
    return page(blocks, lambda b: b.id, after=after, before=before, limit=limit, order=order, what="block")


@router.get("/v1/agents/{agent_id}/core-memory/blocks/{block_label}", response_model=ls.Block, tags=["blocks"])
async def retrieve_block(agent_id: str, block_label: str, service: Service) -> ls.Block:
    """One block by label."""
    state = await service.get_agent(agent_id)
    return ls.block_out(state.id, await service.get_block(state.id, block_label))


@router.patch("/v1/agents/{agent_id}/core-memory/blocks/{block_label}", response_model=ls.Block, tags=["blocks"])
async def update_block(
    agent_id: str, block_label: str, body: ls.UpdateBlockRequest, service: Service
) -> ls.Block:
    """Change a block's value, limit, description or read-only flag (limits still hold)."""
    if body.label is not None and body.label != block_label:
        raise NotImplementedByServer("renaming a block is not supported")
    state = await service.get_agent(agent_id)
    block = await service.update_block(
        state.id, block_label, value=body.value, limit=body.limit, description=body.description,
        read_only=body.read_only,
    )
    return ls.block_out(state.id, block)


# --- archival memory -----------------------------------------------------------------------------
@router.post("/v1/agents/{agent_id}/archival-memory", response_model=list[ls.Passage], tags=["passages"])
async def create_passage(agent_id: str, body: ls.CreatePassageRequest, service: Service) -> list[ls.Passage]:
    """Add a passage to archival memory (``created_at`` is ignored: passages are stamped now)."""
    passage = await service.insert_passage(agent_id, body.text, body.tags)
    return [ls.passage_out(passage, service.embedder)]


@router.get("/v1/agents/{agent_id}/archival-memory", response_model=list[ls.Passage], tags=["passages"])
async def list_passages(
    agent_id: str,
    service: Service,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 100,
    ascending: bool = True,
    search: str | None = None,
) -> list[ls.Passage]:
    """Archival passages, oldest first by default; ``search`` ranks them by the query instead."""
    if search:
        found = await service.search_passages(agent_id, search, limit=limit or 100)
        return [ls.passage_out(p, service.embedder) for p in found]
    if after is None and before is None and not ascending:
        newest = await service.list_passages(agent_id, limit=limit or 100)
        return [ls.passage_out(p, service.embedder) for p in newest]
    oldest_first = (await all_passages(service, agent_id))[::-1]
    chosen = page(oldest_first, lambda p: p.id, after=after, before=before, limit=limit,
                  order="asc" if ascending else "desc", what="passage")
    return [ls.passage_out(p, service.embedder) for p in chosen]


@router.get("/v1/agents/{agent_id}/archival-memory/search", response_model=ls.PassageSearchResponse,
            tags=["passages"])
async def search_passages(
    agent_id: str,
    service: Service,
    query: str,
    top_k: Annotated[int | None, Query(ge=1, le=1000)] = None,
    tags: Annotated[list[str] | None, Query()] = None,
    tag_match_mode: Literal["any", "all"] = "any",
    start_datetime: datetime | None = None,
    end_datetime: datetime | None = None,
) -> ls.PassageSearchResponse:
    """Search archival memory (exact words and similarity together), optionally by tags and dates."""
    found = await service.search_passages(
        agent_id, query, limit=top_k or 10, tags=tags, match_all_tags=tag_match_mode == "all",
        start=start_datetime, end=end_datetime,
    )
    return ls.PassageSearchResponse(count=len(found), results=[ls.passage_hit(p) for p in found])


@router.delete("/v1/agents/{agent_id}/archival-memory/{memory_id}", tags=["passages"])
async def delete_passage(agent_id: str, memory_id: str, service: Service) -> dict[str, str]:
    """Delete one passage."""
    await service.delete_passage(agent_id, memory_id)
    return {"deleted": memory_id}
