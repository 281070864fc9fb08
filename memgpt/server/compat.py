"""Small helpers the Letta routes share, over AgentService's public methods."""

from __future__ import annotations

from datetime import datetime

from memgpt.schemas import Passage
from memgpt.service import AgentService

_SCAN = 500


async def message_seq(service: AgentService, agent: str, message_id: str) -> int:
    """The seq of one of the agent's messages, by id (NotFoundError if it has none such)."""
    return (await service.get_message(agent, message_id)).seq


async def all_passages(service: AgentService, agent: str) -> list[Passage]:
    """Every archival passage of the agent, newest first."""
    out: list[Passage] = []
    while True:
        page = await service.list_passages(agent, limit=_SCAN, offset=len(out))
        out += page
        if len(page) < _SCAN:
            return out


async def search_passages(
    service: AgentService, agent: str, query: str, *, limit: int, tags: list[str] | None = None,
    match_all: bool = False, start: datetime | None = None, end: datetime | None = None,
) -> list[Passage]:
    """Archival search with Letta's tag and date filters."""
    return await service.search_passages(
        agent, query, limit=limit, tags=tags, match_all_tags=match_all, start=start, end=end
    )
