"""Archives for ``memgpt.MemGPT`` (``LocalArchives``) and ``memgpt.Client``
(``ClientArchives``): the AgentService methods of ``memgpt.services.archives``, blocking."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from memgpt.core.schemas import AgentState, Passage
from memgpt.memory.archives import Archive, NewPassage, PassageHit

if TYPE_CHECKING:
    from memgpt.services.service import AgentService

T = TypeVar("T")


def _q(part: str) -> str:
    return quote(part, safe="")


class LocalArchives:
    """Archives on the local service (MemGPT mixes this in)."""

    service: AgentService

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    def create_archive(
        self, name: str, *, description: str | None = None, embedding: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Archive:
        """A new, empty archive of yours."""
        return self._run(self.service.create_archive(name, description=description, embedding=embedding,
                                                     metadata=metadata))

    def retrieve_archive(self, archive_id: str) -> Archive:
        """One archive by id."""
        return self._run(self.service.retrieve_archive(archive_id))

    def list_archives(self, *, name: str | None = None, agent: str | None = None) -> list[Archive]:
        """Your archives, oldest first: by exact name, or those attached to an agent."""
        return self._run(self.service.list_archives(name=name, agent=agent))

    def modify_archive(self, archive_id: str, *, name: str | None = None, description: str | None = None) -> Archive:
        """Rename an archive or change its description."""
        return self._run(self.service.modify_archive(archive_id, name=name, description=description))

    def delete_archive(self, archive_id: str) -> None:
        """Delete an archive and its passages, detached from every agent."""
        self._run(self.service.delete_archive(archive_id))

    def archive_agents(self, archive_id: str) -> list[AgentState]:
        """The agents an archive is attached to."""
        return self._run(self.service.archive_agents(archive_id))

    def attach_archive(self, agent: str, archive_id: str) -> AgentState:
        """Let an agent's archival search read an archive."""
        return self._run(self.service.attach_archive(agent, archive_id))

    def detach_archive(self, agent: str, archive_id: str) -> AgentState:
        """Stop an agent's archival search reading an archive."""
        return self._run(self.service.detach_archive(agent, archive_id))

    def add_archive_passages(self, archive_id: str, items: list[NewPassage]) -> list[Passage]:
        """Add passages to an archive; all of them or none."""
        return self._run(self.service.add_archive_passages(archive_id, items))

    def list_archive_passages(self, archive_id: str, *, limit: int = 50, offset: int = 0) -> list[Passage]:
        """An archive's passages, newest first."""
        return self._run(self.service.list_archive_passages(archive_id, limit=limit, offset=offset))

    def delete_archive_passage(self, archive_id: str, passage_id: str) -> None:
        """Delete one passage of an archive."""
        self._run(self.service.delete_archive_passage(archive_id, passage_id))

    def search_all_passages(
        self, query: str | None = None, *, agent: str | None = None, archive_id: str | None = None,
        limit: int = 50, tags: list[str] | None = None, match_all_tags: bool = False,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[PassageHit]:
        """Passages ranked by hybrid search: an agent's (its own and its archives'), else an
        archive's, else all of yours."""
        return self._run(self.service.search_all_passages(
            query, agent=agent, archive_id=archive_id, limit=limit, tags=tags, match_all_tags=match_all_tags,
            start=start, end=end))


class ClientArchives:
    """Archives over HTTP (Client mixes this in)."""

    def _get(self, kind: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def create_archive(
        self, name: str, *, description: str | None = None, embedding: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Archive:
        """A new, empty archive of yours."""
        body = {"name": name, "description": description, "embedding": embedding, "metadata": metadata}
        return self._get(Archive, "POST", "/archives", json={k: v for k, v in body.items() if v is not None})

    def retrieve_archive(self, archive_id: str) -> Archive:
        """One archive by id."""
        return self._get(Archive, "GET", f"/archives/{_q(archive_id)}")

    def list_archives(self, *, name: str | None = None, agent: str | None = None) -> list[Archive]:
        """Your archives, oldest first: by exact name, or those attached to an agent."""
        return self._get(list[Archive], "GET", "/archives", params={"name": name, "agent": agent})

    def modify_archive(self, archive_id: str, *, name: str | None = None, description: str | None = None) -> Archive:
        """Rename an archive or change its description."""
        body = {k: v for k, v in {"name": name, "description": description}.items() if v is not None}
        return self._get(Archive, "PATCH", f"/archives/{_q(archive_id)}", json=body)

    def delete_archive(self, archive_id: str) -> None:
        """Delete an archive and its passages, detached from every agent."""
        self._call("DELETE", f"/archives/{_q(archive_id)}")

    def archive_agents(self, archive_id: str) -> list[AgentState]:
        """The agents an archive is attached to."""
        return self._get(list[AgentState], "GET", f"/archives/{_q(archive_id)}/agents")

    def attach_archive(self, agent: str, archive_id: str) -> AgentState:
        """Let an agent's archival search read an archive."""
        return self._get(AgentState, "PUT", f"/agents/{_q(agent)}/archives/{_q(archive_id)}")

    def detach_archive(self, agent: str, archive_id: str) -> AgentState:
        """Stop an agent's archival search reading an archive."""
        return self._get(AgentState, "DELETE", f"/agents/{_q(agent)}/archives/{_q(archive_id)}")

    def add_archive_passages(self, archive_id: str, items: list[NewPassage]) -> list[Passage]:
        """Add passages to an archive; all of them or none."""
        body = {"items": [i.model_dump(mode="json") for i in items]}
        return self._get(list[Passage], "POST", f"/archives/{_q(archive_id)}/passages", json=body)

    def list_archive_passages(self, archive_id: str, *, limit: int = 50, offset: int = 0) -> list[Passage]:
        """An archive's passages, newest first."""
        return self._get(list[Passage], "GET", f"/archives/{_q(archive_id)}/passages",
                         params={"limit": limit, "offset": offset})

    def delete_archive_passage(self, archive_id: str, passage_id: str) -> None:
        """Delete one passage of an archive."""
        self._call("DELETE", f"/archives/{_q(archive_id)}/passages/{_q(passage_id)}")

    def search_all_passages(
        self, query: str | None = None, *, agent: str | None = None, archive_id: str | None = None,
        limit: int = 50, tags: list[str] | None = None, match_all_tags: bool = False,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[PassageHit]:
        """Passages ranked by hybrid search: an agent's (its own and its archives'), else an
        archive's, else all of yours."""
        params = {"query": query, "agent": agent, "archive_id": archive_id, "limit": limit, "tags": tags,
                  "match_all_tags": match_all_tags, "start": start.isoformat() if start else None,
                  "end": end.isoformat() if end else None}
        return self._get(list[PassageHit], "GET", "/passages/search", params=params)
