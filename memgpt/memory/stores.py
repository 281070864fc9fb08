"""The small protocols every storage backend implements, and `Stores`, one of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field

from memgpt.embeddings.base import Vectors
from memgpt.core.schemas import (
    AgentConfig, AgentState, Block, Message, Passage, Step, ToolDef, new_id, utcnow,
)
from memgpt.memory.blocks import StoredBlock


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of ranked results and the total number of results."""

    items: list[T]
    total: int


class AgentStore(Protocol):
    """Agents and their loop state."""

    async def create(self, state: AgentState, blocks: list[Block], attach: list[str] | None = None) -> None:
        """Persist a new agent with its new blocks and the existing blocks ``attach`` names."""
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
        """Take a block from an agent (deleted too if made with it and used by no other)."""
    async def create(self, owner: str, block: Block) -> StoredBlock:
        """A new standalone block of owner's."""
    async def get(self, owner: str, block_id: str) -> StoredBlock:
        """One of owner's blocks by id; NotFoundError if absent."""
    async def owned(
        self, owner: str, *, label: str | None = None, value_search: str | None = None,
        agents: Sequence[str] | None = None,
    ) -> list[StoredBlock]:
        """Owner's blocks, oldest first, optionally filtered."""
    async def update(self, owner: str, block_id: str, changes: dict[str, Any]) -> StoredBlock:
        """Change one of owner's blocks; every agent attached sees it next request."""
    async def remove(self, owner: str, block_id: str) -> list[str]:
        """Delete one of owner's blocks, detached from every agent; returns their ids."""
    async def attach(self, owner: str, agent_id: str, block_id: str) -> None:
        """Attach one of owner's blocks to an agent."""
    async def detach(self, owner: str, agent_id: str, block_id: str) -> None:
        """Take a block from an agent, keeping the block."""
    async def agents_of(self, owner: str, block_id: str) -> list[str]:
        """The ids of the agents a block is attached to."""


class RecallStore(Protocol):
    """Recall memory: every message, append-only."""

    async def append(self, agent_id: str, messages: list[Message]) -> list[Message]:
        """Append messages, assigning seq numbers; returns them."""
    async def get(self, agent_id: str, message_id: str) -> Message:
        """One of the agent's messages by id; NotFoundError if absent."""
    async def since(self, agent_id: str, seq: int) -> list[Message]:
        """Messages with seq >= seq, in order."""
    async def thread_since(self, agent_id: str, conversation_id: str | None, seq: int) -> list[Message]:
        """One thread's messages with seq >= seq, in order (None: the default thread)."""
    async def next_seq(self, agent_id: str) -> int:
        """The seq of the agent's next message (the threads share the agent's seq)."""
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
    ) -> tuple[list[tuple[str, float]], dict[str, tuple[int, datetime]]]:
        """Up to k (message id, cosine) of the messages embedded with model most like vector,
        and their (seq, created_at), read with them."""
    async def get_many(self, agent_id: str, ids: list[str]) -> list[Message]:
        """The agent's messages by id, in the order given."""
    async def positions(self, agent_id: str, ids: list[str]) -> dict[str, tuple[int, datetime]]:
        """(seq, created_at) of the agent's messages by id (unknown ids left out)."""
    async def unembedded(self, agent_id: str, limit: int) -> list[tuple[str, str]]:
        """(id, search text) of the oldest searchable messages not yet embedded."""
    async def unembedded_of(self, agent_ids: list[str], limit: int) -> list[tuple[str, str, str]]:
        """(agent id, message id, search text): `unembedded` of several agents (up to limit each)."""
    async def set_embeddings(
        self, agent_id: str, model: str, ids: list[str], vectors: Vectors
    ) -> None:
        """Store messages' embeddings under model."""
    async def set_embeddings_of(self, model: str, messages: list[tuple[str, str]], vectors: Vectors) -> None:
        """`set_embeddings` of messages given as (agent id, message id), of several agents at once."""
    async def forget_embeddings(self, agent_id: str, keep_model: str) -> int:
        """Mark messages embedded under any other model as not embedded."""
    async def forget_agent(self, agent_id: str) -> None:
        """Drop a deleted agent's vector indexes (in memory and on disk)."""


@dataclass(frozen=True)
class Scope:
    """Whose passages a search reads: these agents' own and these archives'.

    The search methods of `ArchivalStore` take a scope or an agent id (that agent's own
    passages only); an agent's archival search reads `ArchivalStore.scope_of` it.
    """

    agents: tuple[str, ...] = ()
    archives: tuple[str, ...] = ()

    @staticmethod
    def of(target: "Scope | str") -> "Scope":
        """A scope as given, or the scope of one agent's own passages."""
        return target if isinstance(target, Scope) else Scope(agents=(target,))


class ArchivalStore(Protocol):
    """Archival memory: passages with embeddings, an agent's own or an archive's."""

    async def insert(self, agent_id: str, passages: list[Passage], vectors: Vectors) -> None:
        """Store passages with their vectors."""
    async def page(self, agent_id: Scope | str, *, limit: int, offset: int) -> list[Passage]:
        """The scope's passages (an agent's own, given its id), newest first."""
    async def count(self, agent_id: str) -> int:
        """Number of passages."""
    async def delete(self, agent_id: str, passage_id: str) -> None:
        """Delete one passage; NotFoundError if absent."""
    async def lexical(self, agent_id: Scope | str, query: str, limit: int) -> list[tuple[str, float, bool]]:
        """(passage id, score, exact phrase) of the best word matches, best first."""
    async def nearest(
        self, agent_id: Scope | str, model: str, vector: Vectors, k: int
    ) -> list[tuple[str, float]]:
        """Up to k passage ids most similar (cosine) to vector, with their similarity."""
    async def get_many(self, agent_id: Scope | str, ids: list[str]) -> list[Passage]:
        """The scope's passages by id, in the order given."""
    async def scope_of(self, agent_id: str) -> Scope:
        """What an agent's archival search reads: its own passages and its archives'."""
    async def insert_archive(self, archive_id: str, passages: list[Passage], vectors: Vectors) -> None:
        """Store passages in an archive, with their vectors."""
    async def delete_from_archive(self, archive_id: str, passage_id: str) -> None:
        """Delete one passage of an archive; NotFoundError if absent."""
    async def forget_archive(self, archive_id: str) -> None:
        """Drop a deleted archive's vector indexes (in memory and on disk)."""
    async def needing_embedding(
        self, agent_id: str, model: str, *, after: int, limit: int, force: bool = False
    ) -> list[tuple[int, str, str]]:
        """Up to limit (cursor, id, text) of the passages past cursor `after` (0 at the start)
        not embedded with model (every passage, with force), in cursor order; pass the last
        cursor back as `after` for the next batch."""
    async def embedding_models(self, agent_id: Scope | str) -> list[str]:
        """The distinct embedding models the scope's passages use."""
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


IdentityType = Literal["org", "user", "other"]


class IdentityProperty(BaseModel):
    """A typed property of an identity (Letta's shape: key, value, type)."""

    key: str = Field(min_length=1)
    value: str | float | bool | dict[str, Any]
    type: Literal["string", "number", "boolean", "json"]


class Identity(BaseModel):
    """Someone an owner's application serves (a user, an org), known by an external key
    unique per owner, and the agents linked to it."""

    id: str = Field(default_factory=lambda: new_id("identity"))
    owner: str = "local"
    identifier_key: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    identity_type: IdentityType = "user"
    properties: list[IdentityProperty] = Field(default_factory=list)
    agent_ids: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class IdentityStore(Protocol):
    """Identities, the agents linked to them, agent tags, and recall read across an owner's
    agents (the global message list)."""

    async def create(self, identity: Identity) -> Identity:
        """Store a new identity; AlreadyExistsError if its owner has one with that key."""
    async def get(self, owner: str, identity_id: str) -> Identity:
        """One of owner's identities by id; NotFoundError if absent."""
    async def by_key(self, owner: str, identifier_key: str) -> Identity | None:
        """Owner's identity with that identifier key, if any."""
    async def all(
        self, owner: str, *, name: str | None = None, identifier_key: str | None = None,
        identity_type: str | None = None,
    ) -> list[Identity]:
        """Owner's identities, oldest first, optionally filtered (name: a substring)."""
    async def update(self, owner: str, identity_id: str, changes: dict[str, Any]) -> Identity:
        """Change an identity's name, key, type or properties (replaced whole)."""
    async def delete(self, owner: str, identity_id: str) -> None:
        """Delete one of owner's identities (unlinked from every agent)."""
    async def attach(self, owner: str, agent_id: str, identity_id: str) -> None:
        """Link one of owner's identities to an agent (a no-op if linked)."""
    async def detach(self, owner: str, agent_id: str, identity_id: str) -> None:
        """Unlink an identity from an agent; NotFoundError if it was not linked."""
    async def of_agents(self, agent_ids: Sequence[str]) -> dict[str, list[Identity]]:
        """Each agent's identities, oldest first."""
    async def set_tags(self, agent_id: str, tags: Sequence[str]) -> None:
        """Make an agent's tags exactly these."""
    async def tags_of(self, agent_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each agent's tags, sorted."""
    async def owner_tags(self, owner: str) -> list[str]:
        """The distinct tags of owner's agents, sorted."""
    async def owner_messages(
        self, owner: str, *, limit: int, after: tuple[datetime, int] | None = None,
        before: tuple[datetime, int] | None = None, descending: bool = False,
    ) -> list[Message]:
        """Messages of all owner's agents ordered by (created_at, storage order), within the
        exclusive bounds, the first ``limit`` in the order asked."""
    async def owner_message(self, owner: str, message_id: str) -> tuple[Message, tuple[datetime, int]]:
        """One message of any of owner's agents and its place in ``owner_messages``'s
        order; NotFoundError if absent."""
