"""Standalone blocks: made on their own, shared by any of their owner's agents.

One block, many agents: an edit by its owner (``modify_block``) or by any attached agent's
tool is seen in every attached agent's next request. Concurrent edits are never lost: a
tool's edits are re-applied to the block's stored value when its step commits (see
``memgpt.memory.blocks.rebase``). Detaching keeps the block; deleting a block detaches it
from every agent that used it (as Letta's server does).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import AgentState, Block
from memgpt.memory.blocks import StoredBlock
from memgpt.services.base import ServiceBase


def _valid(fields: dict[str, Any]) -> Block:
    try:
        block = Block.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(f"invalid block: {exc}") from exc
    if len(block.value) > block.limit:
        raise InvalidRequestError(
            f"block {block.label!r} would hold {len(block.value)} characters, over its limit {block.limit}")
    return block


class BlocksApi(ServiceBase):
    """Standalone, shareable blocks by id."""

    async def create_block(
        self, label: str, value: str = "", *, limit: int | None = None, description: str = "",
        read_only: bool = False,
    ) -> StoredBlock:
        """A new block of this user's, attached to no agent yet."""
        fields: dict[str, Any] = {"label": label, "value": value, "description": description,
                                  "read_only": read_only}
        if limit is not None:
            fields["limit"] = limit
        return await self.stores.blocks.create(self.owner, _valid(fields))

    async def retrieve_block(self, block_id: str) -> StoredBlock:
        """One of this user's blocks by id (NotFoundError for another's)."""
        return await self.stores.blocks.get(self.owner, block_id)

    async def list_all_blocks(
        self, *, label: str | None = None, value_search: str | None = None,
    ) -> list[StoredBlock]:
        """This user's blocks, oldest first; by label or by text in their value."""
        return await self.stores.blocks.owned(self.owner, label=label, value_search=value_search)

    async def modify_block(
        self, block_id: str, *, label: str | None = None, value: str | None = None,
        limit: int | None = None, description: str | None = None, read_only: bool | None = None,
    ) -> StoredBlock:
        """Change a block (as its owner: read-only blocks too); the limit still holds. Every
        agent it is attached to sees the change in its next request."""
        current = await self.retrieve_block(block_id)
        changes = {k: v for k, v in {"label": label, "value": value, "limit": limit,
                                     "description": description, "read_only": read_only}.items()
                   if v is not None}
        _valid({**current.model_dump(), **changes})
        return await self.stores.blocks.update(self.owner, block_id, changes)

    async def delete_block(self, block_id: str) -> None:
        """Delete a block; the agents that used it lose it from their next request on."""
        await self.stores.blocks.remove(self.owner, block_id)

    async def block_agents(self, block_id: str) -> list[AgentState]:
        """The agents a block is attached to, oldest first."""
        ids = await self.stores.blocks.agents_of(self.owner, block_id)
        return [await self.stores.agents.get(i, self.owner) for i in ids]

    async def attach_block(self, agent: str, block_id: str) -> AgentState:
        """Attach a block to an agent (a no-op if attached); its label must be free there."""
        state = await self.get_agent(agent)
        async with self.kernel.lock(state.id):
            await self.stores.blocks.attach(self.owner, state.id, block_id)
        return await self.get_agent(state.id)

    async def detach_block(self, agent: str, block_id: str) -> AgentState:
        """Take a block from an agent; the block is kept."""
        state = await self.get_agent(agent)
        async with self.kernel.lock(state.id):
            await self.stores.blocks.detach(self.owner, state.id, block_id)
        return await self.get_agent(state.id)
