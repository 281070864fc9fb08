"""Archives: archival memory several agents share.

An archive is a user's named collection of passages. Attached to an agent, it widens that
agent's archival search (its ``archival_memory_search`` tool and the archival search routes):
the agent's own passages and every attached archive's are ranked together by the same hybrid
ranking, exact ids and phrases first. What an agent inserts stays its own. Detaching stops the
agent seeing the archive; deleting an archive deletes its passages and detaches it everywhere.
Another user's archive is absent (NotFoundError), exactly as one never made.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import AgentState, Passage, utcnow
from memgpt.memory import archival
from memgpt.memory.archives import Archive, NewPassage, PassageHit
from memgpt.memory.stores import Scope
from memgpt.services.base import ServiceBase, aware
from memgpt.storage.sql_archives import SqlArchiveStore

MAX_BATCH = 1000
"""Passages one request may add to an archive."""
_SCAN = 500


@dataclass(frozen=True)
class PassageFilter:
    """What a passage search keeps: any (or all) of some tags, made within [start, end)."""

    tags: tuple[str, ...] = ()
    match_all_tags: bool = False
    start: datetime | None = None
    end: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether it drops anything at all."""
        return bool(self.tags) or self.start is not None or self.end is not None

    def keeps(self, p: Passage) -> bool:
        """Whether passage p passes."""
        wanted, have = set(self.tags), set(p.tags)
        if wanted and not (wanted <= have if self.match_all_tags else wanted & have):
            return False
        if self.start is not None and p.created_at < aware(self.start):
            return False
        return self.end is None or p.created_at < aware(self.end)


def _archive(fields: dict[str, Any]) -> Archive:
    try:
        return Archive.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(f"invalid archive: {exc}") from exc


class ArchivesApi(ServiceBase):
    """Archives of the caller's, their passages, and which agents search them."""

    @property
    def archive_store(self) -> SqlArchiveStore:
        """Archives and their attachments (their passages are in ``stores.archival``)."""
        return self.kernel.storage.archives

    # --- archives -----------------------------------------------------------------------------
    async def create_archive(
        self, name: str, *, description: str | None = None, embedding: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Archive:
        """A new, empty archive of this user's; its passages are embedded with this service's
        embedder (``embedding`` may only name that one)."""
        if embedding and embedding != self.embedder.name:
            raise InvalidRequestError(
                f"this server embeds passages with {self.embedder.name!r}, not {embedding!r}")
        archive = _archive({"name": name, "description": description or "", "owner": self.owner,
                            "embedding_model": self.embedder.name, "metadata": metadata or {}})
        return await self.archive_store.create(archive)

    async def retrieve_archive(self, archive_id: str) -> Archive:
        """One of this user's archives by id."""
        return await self.archive_store.get(self.owner, archive_id)

    async def list_archives(self, *, name: str | None = None, agent: str | None = None) -> list[Archive]:
        """This user's archives, oldest first: by exact name, or those attached to an agent."""
        agent_id = (await self.get_agent(agent)).id if agent is not None else None
        return await self.archive_store.all(self.owner, name=name, agent_id=agent_id)

    async def modify_archive(
        self, archive_id: str, *, name: str | None = None, description: str | None = None,
    ) -> Archive:
        """Rename an archive or change its description."""
        current = await self.retrieve_archive(archive_id)
        _archive({**current.model_dump(), **{k: v for k, v in (("name", name), ("description", description))
                                            if v is not None}})
        return await self.archive_store.update(self.owner, archive_id, {"name": name, "description": description})

    async def delete_archive(self, archive_id: str) -> None:
        """Delete an archive and its passages; every agent it was attached to stops seeing it."""
        await self.archive_store.delete(self.owner, archive_id)
        await self.stores.archival.forget_archive(archive_id)

    async def archive_agents(self, archive_id: str) -> list[AgentState]:
        """The agents an archive is attached to, in attachment order."""
        ids = await self.archive_store.agents_of(self.owner, archive_id)
        return [await self.stores.agents.get(i, self.owner) for i in ids]

    async def _passage_counts(self, archive_ids: list[str]) -> dict[str, int]:
        """How many passages each of these archives holds."""
        return await self.archive_store.counts(archive_ids)

    # --- attaching ----------------------------------------------------------------------------
    async def attach_archive(self, agent: str, archive_id: str) -> AgentState:
        """Let an agent's archival search read an archive (a no-op if it does)."""
        state = await self.get_agent(agent)
        await self.archive_store.attach(self.owner, state.id, archive_id)
        return state

    async def detach_archive(self, agent: str, archive_id: str) -> AgentState:
        """Stop an agent's archival search reading an archive (a no-op if it did not)."""
        state = await self.get_agent(agent)
        await self.archive_store.detach(self.owner, state.id, archive_id)
        return state

    # --- passages -----------------------------------------------------------------------------
    async def add_archive_passages(self, archive_id: str, items: list[NewPassage]) -> list[Passage]:
        """Add passages to an archive, embedded in one batch; all of them or none."""
        archive = await self.retrieve_archive(archive_id)
        if not items or len(items) > MAX_BATCH:
            raise InvalidRequestError(f"give between 1 and {MAX_BATCH} passages")
        if any(not i.text.strip() for i in items):
            raise InvalidRequestError("passages must be non-empty text")
        try:
            passages = [Passage(
                text=i.text, tags=list(i.tags), metadata=dict(i.metadata), archive_id=archive.id,
                embedding_model=self.embedder.name, created_at=aware(i.created_at) if i.created_at else utcnow(),
            ) for i in items]
        except ValidationError as exc:
            raise InvalidRequestError(f"invalid passage: {exc}") from exc
        vectors = await asyncio.to_thread(self.embedder.embed, [p.text for p in passages])
        await self.stores.archival.insert_archive(archive.id, passages, vectors)
        return passages

    async def list_archive_passages(self, archive_id: str, *, limit: int = 50, offset: int = 0) -> list[Passage]:
        """An archive's passages, newest first."""
        archive = await self.retrieve_archive(archive_id)
        return await self.stores.archival.page(Scope(archives=(archive.id,)), limit=limit, offset=offset)

    async def delete_archive_passage(self, archive_id: str, passage_id: str) -> None:
        """Delete one passage of an archive."""
        archive = await self.retrieve_archive(archive_id)
        await self.stores.archival.delete_from_archive(archive.id, passage_id)

    async def search_all_passages(
        self, query: str | None = None, *, agent: str | None = None, archive_id: str | None = None,
        limit: int = 50, tags: list[str] | None = None, match_all_tags: bool = False,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[PassageHit]:
        """Passages with a relevance score: an agent's (its own and its archives'), else an
        archive's, else every passage of this user's agents and archives. With a query they
        are ranked by hybrid search (score 1/rank); without one, newest first. ``tags`` keeps
        those with any of them (all, with ``match_all_tags``); [start, end) by creation."""
        only = PassageFilter(tuple(tags or ()), match_all_tags, start, end)
        scope = await self._scope(agent, archive_id)
        if not query or not query.strip():
            return [PassageHit(passage=p, score=1.0) for p in await self._filtered_page(scope, limit, only)]
        fetch = min(max(limit * 5, 50), 1000) if only.active else limit
        page = await archival.search_scope(self.stores.archival, self.embedder, scope, query, limit=fetch)
        kept = [p for p in page.items if only.keeps(p)][:limit]
        return [PassageHit(passage=p, score=1.0 / (rank + 1)) for rank, p in enumerate(kept)]

    async def _scope(self, agent: str | None, archive_id: str | None) -> Scope:
        if agent is not None:  # as Letta: the agent's scope wins over an archive given too
            return await self.stores.archival.scope_of((await self.get_agent(agent)).id)
        if archive_id is not None:
            return Scope(archives=((await self.retrieve_archive(archive_id)).id,))
        agents = await self.stores.agents.all(self.owner)
        archives = await self.archive_store.all(self.owner)
        return Scope(agents=tuple(a.id for a in agents), archives=tuple(a.id for a in archives))

    async def _filtered_page(self, scope: Scope, limit: int, only: PassageFilter) -> list[Passage]:
        out: list[Passage] = []
        offset = 0
        while len(out) < limit:
            batch = await self.stores.archival.page(scope, limit=_SCAN, offset=offset)
            out += [p for p in batch if only.keeps(p)]
            offset += len(batch)
            if len(batch) < _SCAN:
                break
        return out[:limit]
