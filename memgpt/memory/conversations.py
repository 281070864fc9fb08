"""Conversations: several threads with one agent, and the port that stores them.

A conversation is "which loop position and which messages": its own window (the messages
stored with its id whose seq is at least its ``context_start``), its own recursive summary,
pressure flag and compiled system message; the agent's configuration, core memory blocks and
archival memory are shared by every thread. The agent's default thread (messages with no
conversation) keeps its position in the agent row, as before conversations existed. All
threads share the agent's seq, so recall stays one append-only sequence per agent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from memgpt.core.schemas import AgentState, Message, new_id, utcnow

ArchiveStatus = Literal["unarchived", "archived", "all"]
OrderBy = Literal["created_at", "last_run_completion", "last_message_at"]


class Conversation(BaseModel):
    """A thread with an agent: its settings and its loop position."""

    id: str = Field(default_factory=lambda: new_id("conv"))
    agent_id: str
    owner: str = "local"
    description: str | None = None
    model: str | None = None
    """Overrides the agent's model in this thread."""
    context_window_limit: int | None = Field(default=None, ge=512)
    """Overrides the agent's context window in this thread."""
    hidden: bool = False
    archived: bool = False
    archived_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_message_at: datetime | None = None
    summary: str = ""
    context_start: int = 0
    warned: bool = False
    system_compiled: str = ""
    memory_dirty: bool = True

    def thread_state(self, agent: AgentState) -> AgentState:
        """The agent as it runs in this thread: its configuration with this thread's model
        and window overrides, and this thread's loop position."""
        update: dict[str, object] = {
            "summary": self.summary, "context_start": self.context_start, "warned": self.warned,
            "system_compiled": self.system_compiled, "memory_dirty": self.memory_dirty,
        }
        if self.model:
            update["model"] = self.model
        if self.context_window_limit:
            update["context_window"] = self.context_window_limit
        return agent.model_copy(update=update)


class CompactResult(BaseModel):
    """What a compaction did: in-context message counts (system message included), the summary."""

    num_messages_before: int
    num_messages_after: int
    summary: str


class ConversationStore(Protocol):
    """Conversations of agents; every write bumps the agent's version (its kept state in any
    process is stale then)."""

    async def create(self, conversation: Conversation) -> Conversation:
        """Store a new conversation (the window starts at the agent's next seq)."""
    async def get(self, owner: str, conversation_id: str) -> Conversation:
        """One of owner's (not deleted) conversations; NotFoundError if absent."""
    async def all(
        self, owner: str, *, agent_id: str | None = None, archive_status: ArchiveStatus = "unarchived",
        summary_search: str | None = None, order_by: OrderBy = "created_at", descending: bool = True,
        after: str | None = None, limit: int = 50,
    ) -> list[Conversation]:
        """Owner's conversations (not hidden, not deleted), filtered and ordered, the first
        ``limit`` after the conversation ``after`` in that order."""
    async def update(self, owner: str, conversation_id: str, changes: dict[str, object]) -> Conversation:
        """Change a conversation's settings (or summary); NotFoundError if absent."""
    async def delete(self, owner: str, conversation_id: str) -> None:
        """Delete softly: gone from the API, its messages stay in the agent's recall."""
    async def fork(self, source: Conversation, copies: list[Message]) -> Conversation:
        """Store ``source`` as a new conversation whose window is ``copies`` (given their seq
        here), in one transaction."""
    async def messages(
        self, agent_id: str, conversation_id: str | None, *, limit: int,
        before: int | None = None, after: int | None = None,
    ) -> list[Message]:
        """A thread's messages in seq order within the bounds (the newest ``limit`` when
        paging back)."""
    async def message(self, agent_id: str, conversation_id: str | None, message_id: str) -> Message:
        """One message of a thread by id; NotFoundError if absent."""
