"""Core and archival memory as their operator sees them: blocks and passages."""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import ValidationError

from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import Block, Passage, utcnow
from memgpt.memory import archival
from memgpt.services.base import ServiceBase, aware, find_block


class MemoryApi(ServiceBase):
    """Core and archival memory as their operator sees them: blocks and passages."""

    async def list_blocks(self, agent: str) -> list[Block]:
        """The agent's core memory blocks."""
        state = await self.get_agent(agent)
        return await self.stores.blocks.all(state.id)

    async def get_block(self, agent: str, label: str) -> Block:
        """One block by label."""
        return find_block(await self.list_blocks(agent), label)

    async def update_block(
        self,
        agent: str,
        label: str,
        *,
        value: str | None = None,
        limit: int | None = None,
        description: str | None = None,
        read_only: bool | None = None,
    ) -> Block:
        """Change a block as its operator (read-only blocks too); limits still hold."""
        state = await self.get_agent(agent)
        async with self.kernel.lock(state.id):
            block = find_block(await self.stores.blocks.all(state.id), label)
            changes = {"value": value, "limit": limit, "description": description, "read_only": read_only}
            update = {k: v for k, v in changes.items() if v is not None}
            try:
                new = Block.model_validate({**block.model_dump(), **update, "updated_at": utcnow()})
            except ValidationError as exc:
                raise InvalidRequestError(f"invalid block update: {exc}") from exc
            if len(new.value) > new.limit:
                raise InvalidRequestError(
                    f"block {label!r} would hold {len(new.value)} characters, over its limit {new.limit}"
                )
            await self.commit_memory(state.id, blocks={label: new})
            return find_block(await self.stores.blocks.all(state.id), label)  # as stored, with its id

    async def insert_passage(self, agent: str, text: str, tags: list[str] | None = None) -> Passage:
        """Add one passage to archival memory."""
        return (await self.insert_passages(agent, [text], tags))[0]

    async def insert_passages(
        self, agent: str, texts: list[str], tags: list[str] | None = None
    ) -> list[Passage]:
        """Add passages to archival memory, embedded in one batch."""
        if not texts or any(not t.strip() for t in texts):
            raise InvalidRequestError("passages must be non-empty text")
        state = await self.get_agent(agent)
        vectors = await asyncio.to_thread(self.embedder.embed, texts)
        passages = [
            Passage(agent_id=state.id, text=t, tags=tags or [], embedding_model=self.embedder.name)
            for t in texts
        ]
        async with self.kernel.lock(state.id):
            await self.commit_memory(state.id, passages=passages, vectors=list(vectors))
        return passages

    async def list_passages(self, agent: str, *, limit: int = 50, offset: int = 0) -> list[Passage]:
        """Archival passages, newest first."""
        state = await self.get_agent(agent)
        return await self.stores.archival.page(state.id, limit=limit, offset=offset)

    async def search_passages(
        self,
        agent: str,
        query: str,
        *,
        limit: int = 10,
        tags: list[str] | None = None,
        match_all_tags: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Passage]:
        """Hybrid (exact words + similarity) search of archival memory.

        With tags (any of them, or all with ``match_all_tags``) or a [start, end) date range,
        only matching passages are returned, taken from an over-fetched ranking.
        """
        state = await self.get_agent(agent)
        filtered = bool(tags) or start is not None or end is not None
        fetch = min(max(limit * 5, 50), 1000) if filtered else limit
        page = await archival.search(self.stores.archival, self.embedder, state.id, query, limit=fetch)
        wanted = set(tags or [])

        def keep(p: Passage) -> bool:
            have = set(p.tags)
            if wanted and not (wanted <= have if match_all_tags else wanted & have):
                return False
            if start is not None and p.created_at < aware(start):
                return False
            return end is None or p.created_at < aware(end)

        return [p for p in page.items if keep(p)][:limit]

    async def delete_passage(self, agent: str, passage_id: str) -> None:
        """Delete one archival passage."""
        state = await self.get_agent(agent)
        await self.stores.archival.delete(state.id, passage_id)
