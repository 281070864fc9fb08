"""Letta's standalone blocks: ``/v1/blocks`` and attaching blocks to agents.

A block belongs to the user who made it (another user gets 404) and may be attached to
many of their agents; see ``memgpt.services.blocks`` for the rules of shared editing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from memgpt.formats import letta as ls
from memgpt.server.deps import Service
from memgpt.server.letta.agents import agent_out
from memgpt.server.paging import page

router = APIRouter(tags=["blocks"])


@router.post("/v1/blocks/", response_model=ls.Block)
@router.post("/v1/blocks", response_model=ls.Block, include_in_schema=False)
async def create_block(body: ls.CreateBlockRequest, service: Service) -> ls.Block:
    """A new block, attached to no agent yet (attach it, or pass it in ``block_ids``)."""
    block = await service.create_block(body.label, body.value, limit=body.limit,
                                       description=body.description or "", read_only=body.read_only)
    return ls.block_out(None, block)


@router.get("/v1/blocks/", response_model=list[ls.Block])
@router.get("/v1/blocks", response_model=list[ls.Block], include_in_schema=False)
async def list_blocks(
    service: Service,
    label: str | None = None,
    value_search: str | None = None,
    templates_only: bool = False,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Literal["asc", "desc"] = "asc",
) -> list[ls.Block]:
    """The user's blocks, oldest first by default; by ``label`` or by text in the value.
    There are no templates here, so ``templates_only`` lists none."""
    if templates_only:
        return []
    blocks = await service.list_all_blocks(label=label, value_search=value_search)
    chosen = page(blocks, lambda b: b.id, after=after, before=before, limit=limit, order=order, what="block")
    return [ls.block_out(None, b) for b in chosen]


@router.get("/v1/blocks/{block_id}", response_model=ls.Block)
async def retrieve_block(block_id: str, service: Service) -> ls.Block:
    """One block by id."""
    return ls.block_out(None, await service.retrieve_block(block_id))


@router.patch("/v1/blocks/{block_id}", response_model=ls.Block)
async def modify_block(block_id: str, body: ls.ModifyBlockRequest, service: Service) -> ls.Block:
    """Change a block; every agent it is attached to sees it in its next request."""
    block = await service.modify_block(block_id, label=body.label, value=body.value, limit=body.limit,
                                       description=body.description, read_only=body.read_only)
    return ls.block_out(None, block)


@router.delete("/v1/blocks/{block_id}")
async def delete_block(block_id: str, service: Service) -> dict[str, str]:
    """Delete a block, detaching it from every agent that used it."""
    await service.delete_block(block_id)
    return {"deleted": block_id}


@router.get("/v1/blocks/{block_id}/agents", response_model=list[ls.AgentState])
async def list_block_agents(
    block_id: str,
    service: Service,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Literal["asc", "desc"] = "asc",
) -> list[ls.AgentState]:
    """The agents a block is attached to, oldest first by default; cursors are agent ids."""
    agents = await service.block_agents(block_id)
    chosen = page(agents, lambda a: a.id, after=after, before=before, limit=limit, order=order, what="agent")
    return [await agent_out(service, a) for a in chosen]


@router.patch("/v1/agents/{agent_id}/core-memory/blocks/attach/{block_id}", response_model=ls.AgentState)
async def attach_block(agent_id: str, block_id: str, service: Service) -> ls.AgentState:
    """Attach a block to an agent (its label must be free there)."""
    return await agent_out(service, await service.attach_block(agent_id, block_id))


@router.patch("/v1/agents/{agent_id}/core-memory/blocks/detach/{block_id}", response_model=ls.AgentState)
async def detach_block(agent_id: str, block_id: str, service: Service) -> ls.AgentState:
    """Take a block from an agent; the block is kept."""
    return await agent_out(service, await service.detach_block(agent_id, block_id))
