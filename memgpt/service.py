"""AgentService: the one place every adapter (Python API, CLI, server) goes through."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Self

from pydantic import ValidationError
from sqlalchemy import text

from memgpt import agent as agent_loop
from memgpt import agentfile
from memgpt.context import measure
from memgpt.embeddings import Embedder, embedder_from_spec
from memgpt.errors import (
    AlreadyExistsError, BlockError, FeatureDisabledError, InvalidRequestError, ModelNotFoundError,
    NotFoundError, ToolDefinitionError,
)
from memgpt.llm.base import Model
from memgpt.llm.providers import known_context_window, resolve_model
from memgpt.memory import archival, recall
from memgpt.memory.window import WindowCache
from memgpt.memory.blocks import default_blocks, find
from memgpt.memory.stores import Page
from memgpt.prompts import SYSTEM_INSTRUCTIONS
from memgpt.schemas import (
    AgentState, Block, ContextReport, Message, Passage, SendResult, ToolDef, stable_id, utcnow,
)
from memgpt.settings import Settings
from memgpt.storage.db import create_engine, migrate, sessionmaker
from memgpt.storage.postgres import PgArchivalStore, PgRecallStore
from memgpt.storage.sql import (
    SqlAgentStore, SqlArchivalStore, SqlBlockStore, SqlKeyStore, SqlRecallStore,
)
from memgpt.storage.tools import SqlToolStore
from memgpt.tools.base import base_tools
from memgpt.tools.custom import custom_tool, runnable
from memgpt.tools.registry import ToolRegistry
from memgpt.tools.sandbox import SandboxLimits

ModelResolver = Callable[[str], Model]
log = logging.getLogger("memgpt.service")
LOCAL_OWNER = "local"


class AgentService:
    """Create, run and inspect agents. Async; see ``memgpt.MemGPT`` for the sync wrapper."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        models: Mapping[str, Model] | ModelResolver | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._models = models or {}
        self._resolved: dict[str, Model] = {}
        self.embedder = embedder or embedder_from_spec(self.settings.embedder)
        self.tools = ToolRegistry(base_tools())
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._engine = create_engine(self.settings.resolved_database_url())
        sessions = sessionmaker(self._engine)
        postgres = self._engine.dialect.name == "postgresql"
        self.stores = agent_loop.Stores(
            SqlAgentStore(sessions), SqlBlockStore(sessions),
            (PgRecallStore if postgres else SqlRecallStore)(sessions),
            (PgArchivalStore if postgres else SqlArchivalStore)(sessions),
        )
        self._windows = WindowCache(self.stores.recall)
        self.keys = SqlKeyStore(sessions)
        self.tool_store = SqlToolStore(sessions)
        self.owner = LOCAL_OWNER
        self._opened = False

    def scoped(self, owner: str) -> AgentService:
        """A view of this service that sees and creates only owner's agents.

        The view shares the database and locks; close the original, not the view.
        """
        if not owner:
            raise InvalidRequestError("owner must be non-empty")
        view = copy.copy(self)
        view.owner = owner
        return view

    async def create_api_key(self, user: str) -> tuple[str, str]:
        """A new API key for user: (key id, raw key). Show the raw key once; only a hash is kept."""
        if not user.strip():
            raise InvalidRequestError("user must be non-empty")
        return await self.keys.create(user)

    async def revoke_api_key(self, key_id: str) -> None:
        """Revoke an API key by id."""
        await self.keys.revoke(key_id)

    async def list_api_keys(self) -> list[dict[str, Any]]:
        """Every key's id, user, prefix and dates (never the key itself)."""
        return await self.keys.all()

    async def authenticate(self, raw_key: str) -> str | None:
        """The user a live API key belongs to, or None."""
        return await self.keys.authenticate(raw_key) if raw_key else None

    async def open(self) -> Self:
        """Create or migrate the database. Called by ``async with``."""
        if not self._opened:
            await migrate(self._engine)
            self._opened = True
        return self

    async def close(self) -> None:
        """Release database connections."""
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def model(self, name: str) -> Model:
        """The model under name: a configured one, else a provider spec like openai/gpt-4o."""
        if callable(self._models):
            return self._models(name)
        if name in self._models:
            return self._models[name]
        if name not in self._resolved:
            if "/" not in name:
                known = ", ".join(self._models) or "none"
                raise ModelNotFoundError(
                    f"no model named {name!r} (configured: {known}; or use provider/model, "
                    "e.g. openai/gpt-4o-mini)"
                )
            self._resolved[name] = resolve_model(
                name, timeout=self.settings.llm_timeout, max_retries=self.settings.llm_max_retries
            )
        return self._resolved[name]

    def _local_lock(self, agent_id: str) -> asyncio.Lock:
        lock = self._locks.get(agent_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[agent_id] = lock
        return lock

    @asynccontextmanager
    async def _lock(self, agent_id: str) -> AsyncIterator[None]:
        """One turn at a time per agent: in this process, and on Postgres across processes."""
        async with self._local_lock(agent_id):
            if self._engine.dialect.name != "postgresql":
                yield
                return
            key = int.from_bytes(hashlib.blake2b(agent_id.encode(), digest_size=8).digest(),
                                 "big", signed=True)
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                await conn.commit()
                try:
                    yield
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()

    # --- agents ----------------------------------------------------------------------------
    async def create_agent(
        self,
        name: str,
        *,
        model: str,
        persona: str | None = None,
        human: str | None = None,
        blocks: list[Block] | None = None,
        instructions: str | None = None,
        context_window: int | None = None,
        summarizer_model: str | None = None,
        max_output_tokens: int | None = None,
        tools: list[str] | None = None,
    ) -> AgentState:
        """Create an agent; blocks default to our persona and human starters.

        ``tools`` names custom tools (by id or name) to attach; base tools every agent has.
        """
        self.model(model)
        extra = await self._resolve_tools(tools or [])
        if summarizer_model:
            self.model(summarizer_model)
        chosen = blocks if blocks is not None else default_blocks(persona, human)
        labels = [b.label for b in chosen]
        if len(set(labels)) != len(labels):
            raise InvalidRequestError(f"block labels must be unique: {labels}")
        for b in chosen:
            if len(b.value) > b.limit:
                raise InvalidRequestError(f"block {b.label!r} is longer than its limit {b.limit}")
        state = AgentState(
            owner=self.owner,
            name=name,
            model=model,
            summarizer_model=summarizer_model,
            embedding_model=self.embedder.name,
            instructions=instructions or SYSTEM_INSTRUCTIONS,
            context_window=context_window or self._default_window(model),
            max_output_tokens=max_output_tokens,
        )
        await self.stores.agents.create(state, chosen)
        for tool in extra:
            await self.tool_store.attach(state.id, tool.id)
        return state

    async def _resolve_tools(self, names: list[str]) -> list[ToolDef]:
        """The custom tools among names (ids or names); InvalidRequestError for unknown ones."""
        found: list[ToolDef] = []
        unknown: list[str] = []
        for name in names:
            try:
                tool = await self.get_tool(name)
            except NotFoundError:
                unknown.append(name)
                continue
            if not tool.builtin and tool.id not in {t.id for t in found}:
                found.append(tool)
        if unknown:
            known = ", ".join(t.name for t in await self.list_tools())
            raise InvalidRequestError(f"unknown tools {unknown} (this user's tools: {known})")
        if found:
            self.check_custom_tools_allowed()
        return found

    def _default_window(self, model: str) -> int:
        known = known_context_window(model)
        if known is None:
            return self.settings.context_window
        return min(known, self.settings.max_default_window)

    def model_names(self) -> list[str]:
        """Names of the configured models (and the default model, if set)."""
        names = [] if callable(self._models) else list(self._models)
        if self.settings.model and self.settings.model not in names:
            names.append(self.settings.model)
        return names

    async def update_agent(
        self,
        agent: str,
        *,
        name: str | None = None,
        instructions: str | None = None,
        model: str | None = None,
        context_window: int | None = None,
        max_output_tokens: int | None = None,
    ) -> AgentState:
        """Change an agent's name, instructions, model or window; memory is kept."""
        state = await self.get_agent(agent)
        if model is not None:
            self.model(model)
        async with self._lock(state.id):
            fresh = await self.stores.agents.get(state.id)
            if name is not None and name != fresh.name:
                if name in {a.name for a in await self.list_agents()}:
                    raise AlreadyExistsError(f"an agent named {name!r} already exists")
            changes = {"name": name, "instructions": instructions, "model": model,
                       "context_window": context_window, "max_output_tokens": max_output_tokens}
            update = {k: v for k, v in changes.items() if v is not None}
            try:
                new = AgentState.model_validate({**fresh.model_dump(), **update})
            except ValidationError as exc:
                raise InvalidRequestError(f"invalid agent update: {exc}") from exc
            new.memory_dirty = new.memory_dirty or instructions is not None
            await self.stores.agents.save(new)
            return new

    async def list_agents(self) -> list[AgentState]:
        """Every agent."""
        return await self.stores.agents.all(self.owner)

    async def get_agent(self, agent: str) -> AgentState:
        """An agent by id or name, among this service's owner's agents."""
        return await self.stores.agents.get(agent, self.owner)

    async def delete_agent(self, agent: str) -> None:
        """Delete an agent with its blocks, messages and passages."""
        state = await self.get_agent(agent)
        async with self._lock(state.id):
            await self.stores.agents.delete(state.id)
            self._windows.drop(state.id)
        await self.stores.recall.forget_agent(state.id)
        await self.stores.archival.forget_agent(state.id)

    async def _runtime(self, state: AgentState) -> agent_loop.AgentRuntime:
        return agent_loop.AgentRuntime(
            state,
            await self.stores.blocks.all(state.id),
            await self._windows.load(state),
            stores=self.stores,
            model=self.model(state.model),
            summarizer=self.model(state.summarizer_model or state.model),
            tools=await self.agent_tools(state),
            embedder=self.embedder,
            settings=self.settings,
        )

    # --- messages ----------------------------------------------------------------------------
    async def send_message(
        self, agent: str, text: str, *, on_event: agent_loop.Listener | None = None
    ) -> SendResult:
        """Send the agent a user message; returns every step it took.

        ``on_event`` receives streamed deltas and each message as it is persisted.
        """
        if not text.strip():
            raise InvalidRequestError("message text is empty")
        return await self._send(agent, Message.user(text), on_event)

    async def send_event(
        self, agent: str, text: str, *, on_event: agent_loop.Listener | None = None
    ) -> SendResult:
        """Wake the agent with a system event (a timer, a webhook, a finished job)."""
        return await self._send(agent, Message.event(text), on_event)

    async def _send(
        self, agent: str, message: Message, on_event: agent_loop.Listener | None
    ) -> SendResult:
        state = await self.get_agent(agent)
        async with self._lock(state.id):
            runtime = await self._runtime(await self.get_agent(state.id))
            runtime.listener = on_event
            result = await agent_loop.run(runtime, message)
            self._windows.keep(runtime.state, runtime.context)
            await recall.embed_pending(self.stores.recall, self.embedder, state.id, recall.CATCH_UP)
            return result

    async def get_message(self, agent: str, message_id: str) -> Message:
        """One message of the agent's recall memory by id."""
        state = await self.get_agent(agent)
        return await self.stores.recall.get(state.id, message_id)

    async def list_messages(
        self, agent: str, *, limit: int = 50, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """Recall memory in order; page with the ``seq`` of a message as before/after."""
        state = await self.get_agent(agent)
        return await self.stores.recall.window(state.id, limit=limit, before=before, after=after)

    async def search_messages(
        self,
        agent: str,
        query: str | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> Page[Message]:
        """Search recall memory by words and/or a [start, end) date range."""
        state = await self.get_agent(agent)
        return await recall.search(
            self.stores.recall, self.embedder, state.id, query,
            start=start, end=end, limit=limit, offset=offset,
        )

    # --- core memory ---------------------------------------------------------------------------
    async def list_blocks(self, agent: str) -> list[Block]:
        """The agent's core memory blocks."""
        state = await self.get_agent(agent)
        return await self.stores.blocks.all(state.id)

    async def get_block(self, agent: str, label: str) -> Block:
        """One block by label."""
        return _find(await self.list_blocks(agent), label)

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
        async with self._lock(state.id):
            block = _find(await self.stores.blocks.all(state.id), label)
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
            await self.stores.blocks.save(state.id, new)
            await self._touch(state)
            return new

    async def _touch(self, state: AgentState) -> None:
        fresh = await self.stores.agents.get(state.id)
        fresh.memory_dirty = True
        fresh.last_memory_edit = utcnow()
        await self.stores.agents.save(fresh)

    # --- archival memory --------------------------------------------------------------------------
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
        async with self._lock(state.id):
            await self.stores.archival.insert(state.id, passages, vectors)
            fresh = await self.stores.agents.get(state.id)
            fresh.memory_dirty = True
            await self.stores.agents.save(fresh)
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
            if start is not None and p.created_at < _aware(start):
                return False
            return end is None or p.created_at < _aware(end)

        return [p for p in page.items if keep(p)][:limit]

    async def delete_passage(self, agent: str, passage_id: str) -> None:
        """Delete one archival passage."""
        state = await self.get_agent(agent)
        await self.stores.archival.delete(state.id, passage_id)

    # --- introspection ---------------------------------------------------------------------------
    async def context_window(self, agent: str) -> ContextReport:
        """Tokens per section of the agent's context window as the next request would see it."""
        state = await self.get_agent(agent)
        async with self._lock(state.id):
            runtime = await self._runtime(state)
            system = await runtime.system_message()
            sections = measure(system.text, runtime.tools.schemas(), runtime.context)
        return ContextReport(
            context_window=state.context_window,
            sections=sections,
            total=sum(sections.values()),
            in_context_messages=len(runtime.context),
            recall_messages=await self.stores.recall.count(state.id),
            archival_passages=await self.stores.archival.count(state.id),
        )

    # --- agent files -----------------------------------------------------------------------------
    async def export_agent(
        self, agent: str, *, messages: bool = True, passages: bool = True
    ) -> dict[str, Any]:
        """The agent as a Letta-compatible agent file (a JSON-ready dict): settings, blocks,
        tools (custom ones with their source), history, the in-context window, the summary
        and (with ``passages``) archival memory."""
        state = await self.get_agent(agent)
        async with self._lock(state.id):
            snap = await agentfile.snapshot(self, await self.get_agent(state.id), with_passages=passages)
        return agentfile.write(snap, with_messages=messages)

    async def import_agent(
        self,
        data: Any,
        *,
        name: str | None = None,
        model: str | None = None,
        strip_messages: bool = False,
        replace_tools: bool = True,
        copy_suffix: bool = False,
    ) -> AgentState:
        """A new agent (new ids, owned by this user) from an agent file's parsed JSON.

        ``name``/``model`` override the file's; custom tools are created, or reused by name
        (``replace_tools`` updates a same-named tool whose source differs); passages are
        embedded again with this service's embedder. ``copy_suffix`` appends ``__copy`` to the
        name. A malformed file raises InvalidRequestError and leaves nothing behind.
        """
        plan = agentfile.read(data, base_tools=set(self.tools.tools), strip_messages=strip_messages)
        plan.name = (name or plan.name) + ("__copy" if copy_suffix else "")
        plan.model = model or plan.model
        state = await agentfile.import_plan(self, plan, replace_tools=replace_tools)
        await recall.embed_pending(self.stores.recall, self.embedder, state.id)
        return state

    # --- tools ---------------------------------------------------------------------------------
    def base_tool_defs(self) -> list[ToolDef]:
        """The base tools, which every agent has."""
        return [ToolDef(id=stable_id("tool", t.name), name=t.name, spec=t, builtin=True)
                for t in self.tools.schemas()]

    def check_custom_tools_allowed(self) -> None:
        if not self.settings.allow_custom_tools:
            raise FeatureDisabledError(
                "custom tools are turned off on this server (MEMGPT_ALLOW_CUSTOM_TOOLS=false)"
            )

    async def create_tool(
        self,
        source_code: str,
        *,
        function: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        return_char_limit: int | None = None,
    ) -> ToolDef:
        """A custom tool from Python source (parsed, not run): the last top-level function, or
        ``function``; its signature and docstring make the schema. Names are unique per user."""
        self.check_custom_tools_allowed()
        tool = custom_tool(source_code, owner=self.owner, function=function, description=description,
                           tags=tags, return_char_limit=return_char_limit, reserved=self.tools.tools)
        await self.tool_store.create(tool)
        return tool

    async def upsert_tool(self, source_code: str, **options: Any) -> ToolDef:
        """Create a custom tool, or replace this user's tool of the same name (id kept)."""
        self.check_custom_tools_allowed()
        new = custom_tool(source_code, owner=self.owner, reserved=self.tools.tools, **options)
        try:
            old = await self.tool_store.get(self.owner, new.name)
        except NotFoundError:
            await self.tool_store.create(new)
            return new
        updated = new.model_copy(update={"id": old.id, "created_at": old.created_at})
        await self.tool_store.save(updated)
        return updated

    async def get_tool(self, tool: str) -> ToolDef:
        """A tool by id or name: a base tool, or one of this user's custom tools."""
        for base in self.base_tool_defs():
            if tool in (base.id, base.name):
                return base
        return await self.tool_store.get(self.owner, tool)

    async def list_tools(self) -> list[ToolDef]:
        """The base tools, then this user's custom tools (oldest first)."""
        return self.base_tool_defs() + await self.tool_store.all(self.owner)

    async def update_tool(
        self,
        tool: str,
        *,
        source_code: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        return_char_limit: int | None = None,
    ) -> ToolDef:
        """Change a custom tool; new source keeps the tool's function if it still defines it."""
        current = await self.get_tool(tool)
        if current.builtin:
            raise InvalidRequestError(f"{current.name!r} is a base tool: base tools cannot be changed")
        self.check_custom_tools_allowed()
        new = custom_tool(
            source_code if source_code is not None else current.source_code, owner=self.owner,
            prefer=current.name, description=description, reserved=self.tools.tools,
            tags=tags if tags is not None else current.tags,
            return_char_limit=return_char_limit or current.return_char_limit,
        )
        keep: dict[str, Any] = {"id": current.id, "created_at": current.created_at}
        if source_code is None and description is None:
            keep["spec"] = current.spec  # a description set earlier stays
        updated = new.model_copy(update=keep)
        await self.tool_store.save(updated)
        return updated

    async def delete_tool(self, tool: str) -> None:
        """Delete one of this user's custom tools (it is detached from every agent)."""
        current = await self.get_tool(tool)
        if current.builtin:
            raise InvalidRequestError(f"{current.name!r} is a base tool: base tools cannot be deleted")
        await self.tool_store.delete(self.owner, current.id)

    async def attach_tool(self, agent: str, tool: str) -> AgentState:
        """Give an agent one of this user's custom tools (base tools it has already)."""
        state = await self.get_agent(agent)
        found = await self.get_tool(tool)
        if not found.builtin:
            self.check_custom_tools_allowed()
            await self.tool_store.attach(state.id, found.id)
        return state

    async def detach_tool(self, agent: str, tool: str) -> AgentState:
        """Take a custom tool from an agent (base tools cannot be taken away)."""
        state = await self.get_agent(agent)
        found = await self.get_tool(tool)
        if found.builtin:
            raise InvalidRequestError(f"{found.name!r} is a base tool, which every agent keeps")
        await self.tool_store.detach(state.id, found.id)
        return state

    async def set_agent_tools(self, agent: str, tools: list[str]) -> AgentState:
        """Make the agent's custom tools exactly those named (base tools stay regardless)."""
        state = await self.get_agent(agent)
        wanted = await self._resolve_tools(tools)
        for old in await self.tool_store.for_agent(state.id):
            if old.id not in {t.id for t in wanted}:
                await self.tool_store.detach(state.id, old.id)
        for tool in wanted:
            await self.tool_store.attach(state.id, tool.id)
        return state

    async def list_agent_tools(self, agent: str) -> list[ToolDef]:
        """The tools the agent's model is offered: base tools, then attached custom tools
        (none while custom tools are turned off)."""
        state = await self.get_agent(agent)
        return self.base_tool_defs() + await self._custom_tools_of(state.id)

    async def _custom_tools_of(self, agent_id: str) -> list[ToolDef]:
        if not self.settings.allow_custom_tools:
            return []
        return await self.tool_store.for_agent(agent_id)

    async def agent_tools(self, state: AgentState) -> ToolRegistry:
        """The registry an agent's loop runs with: base tools and its custom tools, sandboxed."""
        limits = SandboxLimits(timeout=self.settings.tool_timeout, memory_mb=self.settings.tool_memory_mb)
        extra = []
        for tool in await self._custom_tools_of(state.id):
            try:
                extra.append(runnable(tool, limits))
            except ToolDefinitionError as exc:  # stored by an older version with laxer rules
                log.warning("agent %s: custom tool %s is left out: %s", state.id, tool.name, exc)
        return ToolRegistry([*self.tools.tools.values(), *extra]) if extra else self.tools


def _find(blocks: list[Block], label: str) -> Block:
    """The block with label; NotFoundError (an operator's error) if none."""
    try:
        return find(blocks, label)
    except BlockError as exc:
        raise NotFoundError(str(exc)) from exc


def _aware(moment: datetime) -> datetime:
    """A timezone-aware datetime; naive ones are taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
