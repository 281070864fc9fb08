"""Standalone, shareable blocks on the native API (``/memgpt/v1/blocks``): each route calls
the AgentService method of the same name with every one of its parameters."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.schemas import AgentState, Block
from memgpt.memory.blocks import StoredBlock
from memgpt.server.deps import Service

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SharedBlock(Block):
    """A block with its id (what ``StoredBlock`` leaves out of its dumps)."""

    id: str


def _out(block: StoredBlock) -> SharedBlock:
    return SharedBlock(id=block.id, **block.model_dump())


class CreateBlock(_Body):
    """Arguments of AgentService.create_block."""

    label: str
    value: str = ""
    limit: int | None = Field(default=None, ge=1)
    description: str = ""
    read_only: bool = False


class ModifyBlock(_Body):
    """Arguments of AgentService.modify_block (None: unchanged)."""

    label: str | None = None
    value: str | None = None
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None
    read_only: bool | None = None


@router.post("/blocks", response_model=SharedBlock, status_code=201)
async def create_block(body: CreateBlock, service: Service) -> SharedBlock:
    """A new block, attached to no agent yet."""
    return _out(await service.create_block(
        body.label, body.value, limit=body.limit, description=body.description, read_only=body.read_only))


@router.get("/blocks", response_model=list[SharedBlock])
async def list_all_blocks(
    service: Service, label: str | None = None, value_search: str | None = None,
) -> list[SharedBlock]:
    """The user's blocks, oldest first; by label or by text in their value."""
    return [_out(b) for b in await service.list_all_blocks(label=label, value_search=value_search)]


@router.get("/blocks/{block_id}", response_model=SharedBlock)
async def retrieve_block(block_id: str, service: Service) -> SharedBlock:
    """One block by id."""
    return _out(await service.retrieve_block(block_id))


@router.patch("/blocks/{block_id}", response_model=SharedBlock)
async def modify_block(block_id: str, body: ModifyBlock, service: Service) -> SharedBlock:
    """Change a block; every agent it is attached to sees it in its next request."""
    return _out(await service.modify_block(block_id, **body.model_dump()))


@router.delete("/blocks/{block_id}", status_code=204)
async def delete_block(block_id: str, service: Service) -> Response:
    """Delete a block, detaching it from every agent."""
    await service.delete_block(block_id)
    return Response(status_code=204)


@router.get("/blocks/{block_id}/agents", response_model=list[AgentState])
async def block_agents(block_id: str, service: Service) -> list[AgentState]:
    """The agents a block is attached to."""
    return await service.block_agents(block_id)


@router.put("/agents/{agent}/blocks/{block_id}", response_model=AgentState)
async def attach_block(agent: str, block_id: str, service: Service) -> AgentState:
    """Attach a block to an agent."""
    return await service.attach_block(agent, block_id)


@router.delete("/agents/{agent}/blocks/{block_id}", response_model=AgentState)
async def detach_block(agent: str, block_id: str, service: Service) -> AgentState:
    """Take a block from an agent; the block is kept."""
    return await service.detach_block(agent, block_id)
