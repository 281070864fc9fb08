"""Identities, agent tags, and recall read across all of a user's agents.

An identity is someone the user's application serves (a user, an org), known by an
``identifier_key`` unique per user; agents are linked to identities so an application can
find "the agents of customer X". Tags are free labels on agents to find them by. Both are
bookkeeping for the application: neither enters an agent's context window, so changing them
never recompiles an agent.

The global message list and search read every agent of the user's (the Letta API's
``/v1/messages``); search runs each agent's own hybrid recall search and interleaves them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from memgpt.core.errors import InvalidRequestError, NotFoundError
from memgpt.core.schemas import AgentState, Message
from memgpt.memory import recall
from memgpt.memory.stores import Identity, IdentityProperty, IdentityStore
from memgpt.services.base import ServiceBase

MAX_TAG = 200


def _identity(fields: dict[str, Any]) -> Identity:
    try:
        return Identity.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(f"invalid identity: {exc}") from exc


def valid_tags(tags: Sequence[str]) -> list[str]:
    """Tags as stored (duplicates dropped); InvalidRequestError if one is empty or too long."""
    bad = [t for t in tags if not isinstance(t, str) or not t.strip() or len(t) > MAX_TAG]
    if bad:
        raise InvalidRequestError(f"tags must be non-empty text of at most {MAX_TAG} characters: {bad!r}")
    return list(dict.fromkeys(tags))


class IdentitiesApi(ServiceBase):
    """Identities and their agents, agent tags, and the user's messages across agents."""

    @property
    def identity_store(self) -> IdentityStore:
        """Identities, agent tags and the owner-wide message list."""
        return self.kernel.storage.identities

    # --- identities ---------------------------------------------------------------------------
    async def create_identity(
        self, identifier_key: str, name: str, *, identity_type: str = "user",
        properties: list[IdentityProperty] | None = None, agent_ids: list[str] | None = None,
    ) -> Identity:
        """A new identity of this user's (identifier_key unique among them), linked to agents."""
        agents = [(await self.get_agent(a)).id for a in agent_ids or []]
        made = await self.identity_store.create(_identity({
            "owner": self.owner, "identifier_key": identifier_key, "name": name,
            "identity_type": identity_type, "properties": properties or []}))
        for agent_id in agents:
            await self.identity_store.attach(self.owner, agent_id, made.id)
        return await self.identity_store.get(self.owner, made.id)

    async def upsert_identity(
        self, identifier_key: str, name: str, *, identity_type: str = "user",
        properties: list[IdentityProperty] | None = None, agent_ids: list[str] | None = None,
    ) -> Identity:
        """The identity with this key made anew or replaced (name, type, properties, and the
        agents if given)."""
        current = await self.identity_store.by_key(self.owner, identifier_key)
        if current is None:
            return await self.create_identity(identifier_key, name, identity_type=identity_type,
                                              properties=properties, agent_ids=agent_ids)
        return await self.update_identity(current.id, name=name, identity_type=identity_type,
                                          properties=properties or [], agent_ids=agent_ids)

    async def list_identities(
        self, *, name: str | None = None, identifier_key: str | None = None, identity_type: str | None = None,
    ) -> list[Identity]:
        """This user's identities, oldest first (name matches a part, any case)."""
        return await self.identity_store.all(
            self.owner, name=name, identifier_key=identifier_key, identity_type=identity_type)

    async def get_identity(self, identity_id: str) -> Identity:
        """One of this user's identities by id."""
        return await self.identity_store.get(self.owner, identity_id)

    async def update_identity(
        self, identity_id: str, *, identifier_key: str | None = None, name: str | None = None,
        identity_type: str | None = None, properties: list[IdentityProperty] | None = None,
        agent_ids: list[str] | None = None,
    ) -> Identity:
        """Change an identity; ``properties`` and ``agent_ids`` replace the current ones."""
        current = await self.get_identity(identity_id)
        merged = current.model_dump()
        changes = {"identifier_key": identifier_key, "name": name, "identity_type": identity_type,
                   "properties": None if properties is None else list(properties)}
        merged.update({k: v for k, v in changes.items() if v is not None})
        checked = _identity(merged)  # validates before anything is written
        wanted = None if agent_ids is None else [(await self.get_agent(a)).id for a in agent_ids]
        await self.identity_store.update(self.owner, identity_id, {
            "identifier_key": checked.identifier_key, "name": checked.name,
            "identity_type": checked.identity_type, "properties": checked.properties})
        if wanted is not None:
            for agent_id in set(current.agent_ids) - set(wanted):
                await self.identity_store.detach(self.owner, agent_id, identity_id)
            for agent_id in wanted:
                await self.identity_store.attach(self.owner, agent_id, identity_id)
        return await self.get_identity(identity_id)

    async def delete_identity(self, identity_id: str) -> None:
        """Delete an identity (its agents stay, unlinked)."""
        await self.identity_store.delete(self.owner, identity_id)

    async def attach_identity(self, agent: str, identity_id: str) -> AgentState:
        """Link one of this user's identities to one of their agents."""
        state = await self.get_agent(agent)
        await self.identity_store.attach(self.owner, state.id, identity_id)
        return state

    async def detach_identity(self, agent: str, identity_id: str) -> AgentState:
        """Unlink an identity from an agent (both are kept)."""
        state = await self.get_agent(agent)
        await self.identity_store.detach(self.owner, state.id, identity_id)
        return state

    async def agent_identities(self, agent: str) -> list[Identity]:
        """The identities linked to an agent."""
        state = await self.get_agent(agent)
        return (await self.identity_store.of_agents([state.id]))[state.id]

    # --- tags ---------------------------------------------------------------------------------
    async def set_agent_tags(self, agent: str, tags: list[str]) -> list[str]:
        """Make an agent's tags exactly these (duplicates dropped); returns them sorted."""
        state = await self.get_agent(agent)
        await self.identity_store.set_tags(state.id, valid_tags(tags))
        return sorted(dict.fromkeys(tags))

    async def agent_tags(self, agent: str) -> list[str]:
        """An agent's tags, sorted."""
        state = await self.get_agent(agent)
        return (await self.identity_store.tags_of([state.id]))[state.id]

    async def list_tags(self, *, name: str | None = None) -> list[str]:
        """The distinct tags of this user's agents, sorted (``name``: a part, any case)."""
        tags = await self.identity_store.owner_tags(self.owner)
        return [t for t in tags if name.lower() in t.lower()] if name else tags

    async def find_agents(
        self, *, tags: list[str] | None = None, match_all_tags: bool = False, identity_id: str | None = None,
        identifier_keys: list[str] | None = None,
    ) -> list[AgentState]:
        """This user's agents, oldest first, with any (or all) of the tags and linked to the
        identity / an identity of these keys."""
        agents = await self.stores.agents.all(self.owner)
        ids = [a.id for a in agents]
        if tags:
            wanted, have = set(tags), await self.identity_store.tags_of(ids)
            agents = [a for a in agents if (wanted <= set(have[a.id]) if match_all_tags
                                            else wanted & set(have[a.id]))]
        if identity_id is not None or identifier_keys:
            linked = await self.identity_store.of_agents([a.id for a in agents])
            keys = set(identifier_keys or [])
            agents = [a for a in agents if any(
                i.id == identity_id or i.identifier_key in keys for i in linked[a.id])]
        return agents

    # --- messages across agents ---------------------------------------------------------------
    async def list_all_messages(
        self, *, after: str | None = None, before: str | None = None, limit: int = 100,
        order: Literal["asc", "desc"] = "desc",
    ) -> list[Message]:
        """Messages of all this user's agents by time (newest first by default); ``after`` and
        ``before`` are message ids, relative to the order."""
        descending = order == "desc"
        a = (await self.identity_store.owner_message(self.owner, after))[1] if after else None
        b = (await self.identity_store.owner_message(self.owner, before))[1] if before else None
        lo, hi = (b, a) if descending else (a, b)
        from_end = descending if before is None or after is not None else not descending
        found = await self.identity_store.owner_messages(
            self.owner, limit=limit, after=lo, before=hi, descending=from_end)
        return found if from_end == descending else found[::-1]

    async def get_any_message(self, message_id: str) -> Message:
        """One message of any of this user's agents by id."""
        return (await self.identity_store.owner_message(self.owner, message_id))[0]

    async def search_all_messages(
        self, query: str | None, *, agent: str | None = None, start: datetime | None = None,
        end: datetime | None = None, limit: int = 50,
    ) -> list[Message]:
        """Recall search over one agent or all this user's agents, within [start, end).

        Each agent's hits come from its own hybrid search; across agents they are interleaved
        by rank (every agent's best, then every agent's second, ...; newest first within a
        rank), since scores of different agents' searches are not comparable.
        """
        agents = [await self.get_agent(agent)] if agent else await self.stores.agents.all(self.owner)
        pages: list[list[Message]] = []
        for state in agents:
            try:
                found = await recall.search(self.stores.recall, self.embedder, state.id, query,
                                            start=start, end=end, limit=limit)
            except NotFoundError:  # deleted meanwhile
                continue
            pages.append(found.items)
        merged: list[Message] = []
        for rank in range(limit):
            level = sorted((p[rank] for p in pages if rank < len(p)), key=lambda m: m.created_at, reverse=True)
            if not level:
                break
            merged.extend(level)
        return merged[:limit]
