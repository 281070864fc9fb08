"""Core memory blocks in SQL: each block its owner's, attached to one or many agents.

A block is a row of ``blocks``; ``agent_blocks`` says which agents it is attached to and at
which display position. Every write to a block tells the other agents attached to it
(``touch_sharers``), so each one's next request is compiled from the new value.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from memgpt.core.errors import AlreadyExistsError, NotFoundError
from memgpt.core.schemas import Block, new_id, stable_id, utcnow
from memgpt.memory.blocks import StoredBlock, rebase
from memgpt.storage.sql_common import Sessions
from memgpt.storage.tables import (
    AGENT_BLOCKS, AgentBlockRow, AgentRow, BlockRow, bump_versions, touch_sharers,
)

_EDITABLE = ("label", "value", "limit", "description", "read_only")
log = logging.getLogger(__name__)


def stored(row: BlockRow) -> StoredBlock:
    """A block row as the memory layer sees it."""
    return StoredBlock(id=row.id, label=row.label, value=row.value, limit=row.limit,
                       description=row.description, read_only=row.read_only, updated_at=row.updated_at)


def _of_agent(agent_id: str) -> Select[BlockRow]:
    return (select(BlockRow).join(AgentBlockRow, AgentBlockRow.block_id == BlockRow.id)
            .where(AgentBlockRow.agent_id == agent_id))


class SqlBlockStore:
    """Core memory blocks in SQL: an agent's by label, and any block by id."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    # --- an agent's blocks, by label --------------------------------------------------------
    async def all(self, agent_id: str) -> list[Block]:
        """An agent's blocks in display order."""
        async with self.sessions() as s:
            rows = await s.scalars(_of_agent(agent_id).order_by(AgentBlockRow.position))
            return [stored(r) for r in rows]

    async def save(self, agent_id: str, block: Block) -> None:
        """Insert or update an agent's block by label."""
        async with self.sessions() as s, s.begin():
            await s.run_sync(self.put, agent_id, block)
            await s.execute(bump_versions(agent_id))

    @staticmethod
    def put(s: Session, agent_id: str, block: Block) -> str:
        """Insert or update an agent's block by label in an open (sync) session; returns the
        value stored. A tool's edits are re-applied to the current value (``rebase``); the
        other agents attached to the block are told."""
        row = s.scalar(_of_agent(agent_id).where(BlockRow.label == block.label)
                       .with_for_update(of=BlockRow))
        if row is None:
            owner = s.scalar(select(AgentRow.owner).where(AgentRow.id == agent_id)) or "local"
            row = new_row(s, owner, block, stable_id("block", agent_id, block.label), standalone=False)
            link(s, agent_id, row.id)
            return row.value
        if isinstance(block, StoredBlock) and block.edits:  # a tool's: only the value
            if row.read_only:  # made read-only since the tool read it: the edit is refused
                log.warning("block %s became read-only; an agent's edit was dropped", row.id)
                return row.value
            row.value = rebase(block, row.value, row.limit)
        else:  # an operator's change through the agent: as given
            for field in ("value", "limit", "description", "read_only"):
                setattr(row, field, getattr(block, field))
        row.updated_at = block.updated_at
        for statement in touch_sharers(row.id, agent_id):
            s.execute(statement)
        return row.value

    async def delete(self, agent_id: str, label: str) -> None:
        """Take a block from an agent (the block itself goes if made with an agent and no
        other agent uses it)."""
        async with self.sessions() as s, s.begin():
            row = await s.scalar(_of_agent(agent_id).where(BlockRow.label == label))
            if row is None:
                raise NotFoundError(f"agent {agent_id!r} has no block {label!r}")
            await s.run_sync(unlink, agent_id, row.id)
            await s.execute(bump_versions(agent_id))

    # --- blocks by id -----------------------------------------------------------------------
    async def create(self, owner: str, block: Block) -> StoredBlock:
        """A new standalone block of owner's (attached to no agent yet)."""
        async with self.sessions() as s, s.begin():
            row = await s.run_sync(new_row, owner, block, new_id("block"), True)
            return stored(row)

    async def get(self, owner: str, block_id: str) -> StoredBlock:
        """One of owner's blocks by id; NotFoundError if absent (or another's)."""
        async with self.sessions() as s:
            return stored(await _owned(s, owner, block_id))

    async def owned(
        self, owner: str, *, label: str | None = None, value_search: str | None = None,
        agents: Sequence[str] | None = None,
    ) -> list[StoredBlock]:
        """Owner's blocks, oldest first; by label, by words in the value (case-insensitive),
        or only those attached to one of ``agents``."""
        q = select(BlockRow).where(BlockRow.owner == owner).order_by(BlockRow.created_at, BlockRow.pk)
        if label is not None:
            q = q.where(BlockRow.label == label)
        if value_search:
            q = q.where(func.lower(BlockRow.value).contains(value_search.lower(), autoescape=True))
        if agents is not None:
            q = q.where(BlockRow.id.in_(select(AGENT_BLOCKS.c.block_id)
                                        .where(AGENT_BLOCKS.c.agent_id.in_(list(agents)))))
        async with self.sessions() as s:
            return [stored(r) for r in await s.scalars(q)]

    async def update(self, owner: str, block_id: str, changes: dict[str, Any]) -> StoredBlock:
        """Change one of owner's blocks (label, value, limit, description, read_only); every
        agent attached sees it in its next request. A new label must be free in each."""
        async with self.sessions() as s, s.begin():
            row = await _owned(s, owner, block_id, lock=True)
            new_label = changes.get("label")
            if new_label is not None and new_label != row.label:
                clash = await s.scalar(
                    select(AgentBlockRow.agent_id)
                    .where(AgentBlockRow.block_id == block_id,
                           AgentBlockRow.agent_id.in_(select(AgentBlockRow.agent_id)
                                                      .join(BlockRow, BlockRow.id == AgentBlockRow.block_id)
                                                      .where(BlockRow.label == new_label))))
                if clash is not None:
                    raise AlreadyExistsError(f"agent {clash!r} already has a block labelled {new_label!r}")
            for field in _EDITABLE:
                if changes.get(field) is not None:
                    setattr(row, field, changes[field])
            row.updated_at = utcnow()
            for statement in touch_sharers(block_id):
                await s.execute(statement)
            return stored(row)

    async def remove(self, owner: str, block_id: str) -> list[str]:
        """Delete one of owner's blocks, detaching it from every agent; returns their ids."""
        async with self.sessions() as s, s.begin():
            await _owned(s, owner, block_id, lock=True)
            agents = list(await s.scalars(
                select(AgentBlockRow.agent_id).where(AgentBlockRow.block_id == block_id)))
            for statement in touch_sharers(block_id):
                await s.execute(statement)
            await s.execute(delete(AgentBlockRow).where(AgentBlockRow.block_id == block_id))
            await s.execute(delete(BlockRow).where(BlockRow.id == block_id))
            return agents

    async def attach(self, owner: str, agent_id: str, block_id: str) -> None:
        """Attach one of owner's blocks to an agent (after its other blocks); a no-op if it
        is attached; AlreadyExistsError if the agent has another block of that label."""
        async with self.sessions() as s, s.begin():
            row = await _owned(s, owner, block_id)
            mine = await s.scalar(_of_agent(agent_id).where(BlockRow.label == row.label))
            if mine is not None and mine.id == row.id:
                return
            if mine is not None:
                raise AlreadyExistsError(f"the agent already has a block labelled {row.label!r}")
            await s.run_sync(link, agent_id, block_id)
            await s.execute(bump_versions(agent_id).values(memory_dirty=True))

    async def detach(self, owner: str, agent_id: str, block_id: str) -> None:
        """Take a block from an agent; the block is kept."""
        async with self.sessions() as s, s.begin():
            await _owned(s, owner, block_id)
            result: Any = await s.execute(delete(AgentBlockRow).where(
                AgentBlockRow.agent_id == agent_id, AgentBlockRow.block_id == block_id))
            if result.rowcount == 0:
                raise NotFoundError(f"block {block_id!r} is not attached to agent {agent_id!r}")
            await s.execute(bump_versions(agent_id).values(memory_dirty=True))

    async def agents_of(self, owner: str, block_id: str) -> list[str]:
        """The ids of the agents a block is attached to, in attachment order of the agents."""
        async with self.sessions() as s:
            await _owned(s, owner, block_id)
            return list(await s.scalars(
                select(AgentBlockRow.agent_id).join(AgentRow, AgentRow.id == AgentBlockRow.agent_id)
                .where(AgentBlockRow.block_id == block_id).order_by(AgentRow.created_at)))


async def _owned(s: Any, owner: str, block_id: str, lock: bool = False) -> BlockRow:
    q = select(BlockRow).where(BlockRow.id == block_id, BlockRow.owner == owner)
    row: BlockRow | None = await s.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise NotFoundError(f"no block with id {block_id!r}")
    return row


def new_row(s: Session, owner: str, block: Block, block_id: str, standalone: bool) -> BlockRow:
    """Insert a block row (a fresh id if ``block_id`` is taken)."""
    if s.scalar(select(BlockRow.pk).where(BlockRow.id == block_id)) is not None:
        block_id = new_id("block")
    now = utcnow()
    row = BlockRow(id=block_id, owner=owner, label=block.label, value=block.value, limit=block.limit,
                   description=block.description, read_only=block.read_only, standalone=standalone,
                   created_at=now, updated_at=block.updated_at)
    s.add(row)
    s.flush()
    return row


def link(s: Session, agent_id: str, block_id: str) -> None:
    """Attach a block to an agent, after its other blocks."""
    last = s.scalar(select(func.max(AgentBlockRow.position)).where(AgentBlockRow.agent_id == agent_id))
    s.add(AgentBlockRow(agent_id=agent_id, block_id=block_id, position=(last if last is not None else -1) + 1))
    s.flush()


def unlink(s: Session, agent_id: str, block_id: str) -> None:
    """Detach a block from an agent, and delete it if it was made with an agent and no
    other agent uses it."""
    s.execute(delete(AgentBlockRow).where(AgentBlockRow.agent_id == agent_id,
                                          AgentBlockRow.block_id == block_id))
    s.execute(delete(BlockRow).where(BlockRow.id == block_id, BlockRow.standalone.is_(False),
                                     BlockRow.id.not_in(select(AGENT_BLOCKS.c.block_id))))


def orphans_of(agent_id: str) -> Any:
    """The statement deleting an agent's blocks that were made with an agent and that no
    other agent uses (run before the agent is deleted)."""
    others = select(AGENT_BLOCKS.c.block_id).where(AGENT_BLOCKS.c.agent_id != agent_id)
    mine = select(AGENT_BLOCKS.c.block_id).where(AGENT_BLOCKS.c.agent_id == agent_id)
    return delete(BlockRow).where(BlockRow.id.in_(mine), BlockRow.id.not_in(others),
                                  BlockRow.standalone.is_(False))


def settled(blocks: dict[str, Block], values: dict[str, str]) -> None:
    """After a commit, make the committing runtime's copies of its blocks what was stored
    (a concurrent writer's change included) and forget their edits."""
    for label, block in blocks.items():
        if isinstance(block, StoredBlock):
            block.value, block.base, block.edits = values[label], None, ()
