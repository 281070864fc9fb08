"""The small protocols every storage backend implements, and `Stores`, one of each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from memgpt.embeddings.base import Vectors
from memgpt.core.schemas import AgentConfig, AgentState, Block, Message, Passage, Step, ToolDef


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of ranked results and the total number of results."""

    items: list[T]
    total: int


class AgentStore(Protocol):
    """Agents and their loop state."""

    async def create(self, state: AgentState, blocks: list[Block]) -> None:
        """Persist a new agent with its blocks."""
    async def get(self, id_or_name: str, owner: str | None = None) -> AgentState:
        """Load an agent by id or name (among owner's, if given); NotFoundError if absent."""
    async def all(self, owner: str | None = None) -> list[AgentState]:
        """All agents (of owner, if given), oldest first."""
    async def save(self, state: AgentState) -> None:
        """Persist an agent's configuration and loop position (imports, re-embedding)."""
    async def save_config(self, config: AgentConfig) -> None:
        """Persist an operator's change to an agent's configuration, and nothing else."""
    async def set_embedding_model(self, agent_id: str, model: str) -> None:
        """Record the embedding model an agent's memory now uses, changing nothing else."""
    async def delete(self, agent_id: str) -> None:
        """Delete an agent and everything it owns."""
    async def save_step(self, agent_id: str, input_id: str, model: str, step: Step) -> None:
        """Record a step's usage."""


class BlockStore(Protocol):
    """Core memory blocks."""

    async def all(self, agent_id: str) -> list[Block]:
        """An agent's blocks in display order."""
    async def save(self, agent_id: str, block: Block) -> None:
        """Insert or update a block by label."""
    async def delete(self, agent_id: str, label: str) -> None:
        """Remove a block."""


class RecallStore(Protocol):
    """Recall memory: every message, append-only."""

    async def append(self, agent_id: str, messages: list[Message]) -> list[Message]:
        """Append messages, assigning seq numbers; returns them."""
    async def get(self, agent_id: str, message_id: str) -> Message:
        """One of the agent's messages by id; NotFoundError if absent."""
    async def since(self, agent_id: str, seq: int) -> list[Message]:
        """Messages with seq >= seq, in order."""
    async def window(
        self, agent_id: str, *, limit: int, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """Messages in seq order within the bounds (the newest `limit` when paging back)."""
    async def count(self, agent_id: str, before: int | None = None) -> int:
        """Number of messages (with seq < before, if given)."""
    async def by_date(
        self, agent_id: str, *, start: datetime | None, end: datetime | None, limit: int, offset: int
    ) -> Page[Message]:
        """Searchable messages within [start, end), oldest first, with their number."""
    async def lexical(
        self, agent_id: str, query: str, *, start: datetime | None, end: datetime | None, limit: int
    ) -> list[tuple[str, float, bool]]:
        """(message id, score, exact phrase) of the best word matches, best first."""
    async def nearest(
        self,
        agent_id: str,
        model: str,
        vector: Vectors,
        k: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[tuple[str, float]]:
        """Up to k (message id, cosine) of the messages embedded with model most like vector."""
    async def get_many(self, agent_id: str, ids: list[str]) -> list[Message]:
        """The agent's messages by id, in the order given."""
    async def unembedded(self, agent_id: str, limit: int) -> list[tuple[str, str]]:
        """(id, search text) of the oldest searchable messages not yet embedded."""
    async def set_embeddings(
        self, agent_id: str, model: str, ids: list[str], vectors: Vectors
    ) -> None:
        """Store messages' embeddings under model."""
    async def forget_embeddings(self, agent_id: str, keep_model: str) -> int:
        """Mark messages embedded under any other model as not embedded."""
    async def forget_agent(self, agent_id: str) -> None:
        """Drop a deleted agent's vector indexes (in memory and on disk)."""


class ArchivalStore(Protocol):
    """Archival memory: passages with embeddings."""

    async def insert(self, agent_id: str, passages: list[Passage], vectors: Vectors) -> None:
        """Store passages with their vectors."""
    async def page(self, agent_id: str, *, limit: int, offset: int) -> list[Passage]:
        """Passages, newest first."""
    async def count(self, agent_id: str) -> int:
        """Number of passages."""
    async def delete(self, agent_id: str, passage_id: str) -> None:
        """Delete one passage; NotFoundError if absent."""
    async def lexical(self, agent_id: str, query: str, limit: int) -> list[tuple[str, float, bool]]:
        """(passage id, score, exact phrase) of the best word matches, best first."""
    async def nearest(
        self, agent_id: str, model: str, vector: Vectors, k: int
    ) -> list[tuple[str, float]]:
        """Up to k passage ids most similar (cosine) to vector, with their similarity."""
    async def get_many(self, agent_id: str, ids: list[str]) -> list[Passage]:
        """The agent's passages by id, in the order given."""
    async def needing_embedding(
        self, agent_id: str, model: str, *, after: int, limit: int, force: bool = False
    ) -> list[tuple[int, str, str]]:
        """Up to limit (cursor, id, text) of the passages past cursor `after` (0 at the start)
        not embedded with model (every passage, with force), in cursor order; pass the last
        cursor back as `after` for the next batch."""
    async def embedding_models(self, agent_id: str) -> list[str]:
        """The distinct embedding models an agent's passages use."""
    async def set_embeddings(self, agent_id: str, model: str, ids: list[str], vectors: Vectors) -> int:
        """Replace passages' embeddings (now under model); returns how many were found."""
    async def forget_agent(self, agent_id: str) -> None:
        """Drop a deleted agent's vector indexes (in memory and on disk)."""


@dataclass(frozen=True)
class Stores:
    """The stores an agent's memory persists into: one implementation of each protocol."""

    agents: AgentStore
    blocks: BlockStore
    recall: RecallStore
    archival: ArchivalStore


class ToolStore(Protocol):
    """Custom tools (per owner) and which agents they are attached to."""

    async def create(self, tool: ToolDef) -> None:
        """Store a new tool; AlreadyExistsError if its owner has one of that name."""
    async def get(self, owner: str, id_or_name: str) -> ToolDef:
        """One of owner's tools by id or name; NotFoundError if absent."""
    async def all(self, owner: str) -> list[ToolDef]:
        """Owner's tools, oldest first."""
    async def save(self, tool: ToolDef) -> None:
        """Replace a stored tool (same id)."""
    async def delete(self, owner: str, tool_id: str) -> None:
        """Delete one of owner's tools (detaching it everywhere)."""
    async def attach(self, agent_id: str, tool_id: str) -> None:
        """Attach a tool to an agent (no-op if attached)."""
    async def detach(self, agent_id: str, tool_id: str) -> None:
        """Detach a tool from an agent."""
    async def for_agent(self, agent_id: str) -> list[ToolDef]:
        """The tools attached to an agent, in attachment order."""
