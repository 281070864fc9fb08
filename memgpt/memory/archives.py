"""Archives: named collections of passages a user's agents share, and the port that keeps them.

An archive's passages live beside the agents' own in archival memory (the `ArchivalStore`),
marked with the archive's id; attaching an archive to an agent widens that agent's archival
search to them. Deleting an archive deletes its passages and detaches it everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from memgpt.core.schemas import Passage, new_id, utcnow


class Archive(BaseModel):
    """A named collection of passages, owned by a user, attachable to any of their agents."""

    id: str = Field(default_factory=lambda: new_id("archive"))
    owner: str = "local"
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    embedding_model: str = ""
    """The embedder its passages are embedded with (the service's, at creation)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ArchiveStore(Protocol):
    """Archives and which agents they are attached to (their passages: `ArchivalStore`)."""

    async def create(self, archive: Archive) -> Archive:
        """Store a new archive."""
    async def get(self, owner: str, archive_id: str) -> Archive:
        """One of owner's archives by id; NotFoundError if absent (or another's)."""
    async def all(
        self, owner: str, *, name: str | None = None, agent_id: str | None = None,
    ) -> list[Archive]:
        """Owner's archives, oldest first: by exact name, or attached to an agent."""
    async def update(self, owner: str, archive_id: str, changes: dict[str, Any]) -> Archive:
        """Change an archive's name or description."""
    async def delete(self, owner: str, archive_id: str) -> list[str]:
        """Delete an archive and its passages, detached everywhere; the agents it was attached to."""
    async def attach(self, owner: str, agent_id: str, archive_id: str) -> None:
        """Attach one of owner's archives to an agent (a no-op if attached)."""
    async def detach(self, owner: str, agent_id: str, archive_id: str) -> None:
        """Detach an archive from an agent (a no-op if it was not attached)."""
    async def agents_of(self, owner: str, archive_id: str) -> list[str]:
        """The ids of the agents an archive is attached to, in attachment order."""
    async def counts(self, archive_ids: Sequence[str]) -> dict[str, int]:
        """How many passages each archive holds."""


class NewPassage(BaseModel):
    """A passage to add to an archive, as its maker gives it (``created_at``: now if None)."""

    text: str = Field(min_length=1, max_length=1_000_000)
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None


class PassageHit(BaseModel):
    """A passage found by a search, with its relevance (1/rank for ranked searches)."""

    passage: Passage
    score: float
