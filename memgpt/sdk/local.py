"""MemGPT: a synchronous wrapper over AgentService, running its event loop in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

if TYPE_CHECKING:  # only annotations here; the service loads with the first MemGPT()
    from memgpt.embeddings import Embedder
    from memgpt.llm.base import Model
    from memgpt.memory.blocks import StoredBlock
    from memgpt.memory.stores import Identity, IdentityProperty, Page
    from memgpt.core.schemas import AgentState, Block, ContextReport, Message, Passage, SendResult, ToolDef
    from memgpt.services.service import AgentService, ModelResolver
    from memgpt.core.settings import Settings

from memgpt.sdk.archives import LocalArchives
from memgpt.sdk.conversations import LocalConversations
from memgpt.sdk.folders import LocalFolders
from memgpt.sdk.mcp import LocalMcp
from memgpt.sdk.runs import LocalRuns
from memgpt.sdk.schedules import LocalSchedules
from memgpt.sdk.tool_control import LocalToolControl

T = TypeVar("T")


def _operator(settings: Settings | None) -> Settings:
    """The library's caller is the operator: a model may name any base URL (provider/model@URL)
    unless the settings say otherwise (trust_model_urls=False)."""
    from memgpt.core.settings import Settings

    settings = settings or Settings()
    if settings.trust_model_urls is None:
        return settings.model_copy(update={"trust_model_urls": True})
    return settings


class MemGPT(LocalArchives, LocalConversations, LocalFolders, LocalSchedules, LocalToolControl, LocalMcp, LocalRuns):
    """Blocking access to agents; safe to call from several threads at once."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        models: Mapping[str, Model] | ModelResolver | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        from memgpt.services.service import AgentService

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="memgpt-loop", daemon=True)
        self._thread.start()
        self.service = AgentService(_operator(settings), models=models, embedder=embedder)
        self._run(self.service.open())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        """Close the database and stop the background loop."""
        self._run(self.service.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- agents ------------------------------------------------------------------------------
    def create_agent(
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
        block_ids: list[str] | None = None,
    ) -> AgentState:
        """Create an agent; blocks default to persona and human starters, ``tools`` names
        custom tools to attach, ``block_ids`` existing blocks to share with it."""
        return self._run(self.service.create_agent(
            name, model=model, persona=persona, human=human, blocks=blocks, instructions=instructions,
            context_window=context_window, summarizer_model=summarizer_model,
            max_output_tokens=max_output_tokens, tools=tools, block_ids=block_ids,
        ))

    def list_agents(self) -> list[AgentState]:
        """Every agent."""
        return self._run(self.service.list_agents())

    def get_agent(self, agent: str) -> AgentState:
        """An agent by id or name."""
        return self._run(self.service.get_agent(agent))

    def update_agent(
        self,
        agent: str,
        *,
        name: str | None = None,
        instructions: str | None = None,
        model: str | None = None,
        context_window: int | None = None,
        max_output_tokens: int | None = None,
    ) -> AgentState:
        """Change an agent's name, instructions, model or window (None: unchanged)."""
        return self._run(self.service.update_agent(
            agent, name=name, instructions=instructions, model=model, context_window=context_window,
            max_output_tokens=max_output_tokens,
        ))

    def delete_agent(self, agent: str) -> None:
        """Delete an agent and all it owns."""
        self._run(self.service.delete_agent(agent))

    def context_window(self, agent: str) -> ContextReport:
        """Tokens per section of the context window."""
        return self._run(self.service.context_window(agent))

    def model_names(self) -> list[str]:
        """Names of the configured models (and the default model, if set)."""
        return self.service.model_names()

    # --- messages ----------------------------------------------------------------------------
    # AgentService's send_message/send_event also take ``on_event`` (a streaming callback);
    # a blocking call returns the whole SendResult instead.
    def send_message(self, agent: str, text: str, *, max_steps: int | None = None) -> SendResult:
        """Send a user message; returns every step (at most ``max_steps`` of them)."""
        return self._run(self.service.send_message(agent, text, max_steps=max_steps))

    def send_event(self, agent: str, text: str, *, max_steps: int | None = None) -> SendResult:
        """Wake the agent with a system event (a timer, a webhook, a finished job)."""
        return self._run(self.service.send_event(agent, text, max_steps=max_steps))

    def get_message(self, agent: str, message_id: str) -> Message:
        """One message of recall memory by id."""
        return self._run(self.service.get_message(agent, message_id))

    def list_messages(
        self, agent: str, *, limit: int = 50, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """Recall memory in order; page with a message's ``seq`` as before/after."""
        return self._run(self.service.list_messages(agent, limit=limit, before=before, after=after))

    def search_messages(
        self, agent: str, query: str | None = None, *,
        start: datetime | None = None, end: datetime | None = None, limit: int = 10, offset: int = 0,
    ) -> Page[Message]:
        """Search recall memory by words and/or a [start, end) date range."""
        return self._run(
            self.service.search_messages(agent, query, start=start, end=end, limit=limit, offset=offset)
        )

    # --- core memory -------------------------------------------------------------------------
    def list_blocks(self, agent: str) -> list[Block]:
        """Core memory blocks."""
        return self._run(self.service.list_blocks(agent))

    def get_block(self, agent: str, label: str) -> Block:
        """One block."""
        return self._run(self.service.get_block(agent, label))

    def update_block(
        self,
        agent: str,
        label: str,
        *,
        value: str | None = None,
        limit: int | None = None,
        description: str | None = None,
        read_only: bool | None = None,
    ) -> Block:
        """Change a block's value, limit, description or read_only flag (None: unchanged)."""
        return self._run(self.service.update_block(
            agent, label, value=value, limit=limit, description=description, read_only=read_only
        ))

    # --- shared blocks -----------------------------------------------------------------------
    def create_block(
        self, label: str, value: str = "", *, limit: int | None = None, description: str = "",
        read_only: bool = False,
    ) -> StoredBlock:
        """A new block, attached to no agent yet (attach it to as many agents as you like)."""
        return self._run(self.service.create_block(
            label, value, limit=limit, description=description, read_only=read_only))

    def retrieve_block(self, block_id: str) -> StoredBlock:
        """One block by id."""
        return self._run(self.service.retrieve_block(block_id))

    def list_all_blocks(self, *, label: str | None = None, value_search: str | None = None) -> list[StoredBlock]:
        """Every block, oldest first; by label or by text in the value."""
        return self._run(self.service.list_all_blocks(label=label, value_search=value_search))

    def modify_block(
        self, block_id: str, *, label: str | None = None, value: str | None = None,
        limit: int | None = None, description: str | None = None, read_only: bool | None = None,
    ) -> StoredBlock:
        """Change a block; every agent it is attached to sees it in its next request."""
        return self._run(self.service.modify_block(
            block_id, label=label, value=value, limit=limit, description=description, read_only=read_only))

    def delete_block(self, block_id: str) -> None:
        """Delete a block, detaching it from every agent."""
        self._run(self.service.delete_block(block_id))

    def block_agents(self, block_id: str) -> list[AgentState]:
        """The agents a block is attached to."""
        return self._run(self.service.block_agents(block_id))

    def attach_block(self, agent: str, block_id: str) -> AgentState:
        """Attach a block to an agent."""
        return self._run(self.service.attach_block(agent, block_id))

    def detach_block(self, agent: str, block_id: str) -> AgentState:
        """Take a block from an agent; the block is kept."""
        return self._run(self.service.detach_block(agent, block_id))

    # --- archival memory ---------------------------------------------------------------------
    def insert_passage(self, agent: str, text: str, tags: list[str] | None = None) -> Passage:
        """Add a passage to archival memory."""
        return self._run(self.service.insert_passage(agent, text, tags))

    def insert_passages(self, agent: str, texts: list[str], tags: list[str] | None = None) -> list[Passage]:
        """Add passages to archival memory, embedded in one batch."""
        return self._run(self.service.insert_passages(agent, texts, tags))

    def list_passages(self, agent: str, *, limit: int = 50, offset: int = 0) -> list[Passage]:
        """Archival passages, newest first."""
        return self._run(self.service.list_passages(agent, limit=limit, offset=offset))

    def search_passages(
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
        """Search archival memory; optionally only passages with any (or all) of ``tags``,
        created in [start, end)."""
        return self._run(self.service.search_passages(
            agent, query, limit=limit, tags=tags, match_all_tags=match_all_tags, start=start, end=end
        ))

    def delete_passage(self, agent: str, passage_id: str) -> None:
        """Delete a passage."""
        self._run(self.service.delete_passage(agent, passage_id))

    # --- tools -------------------------------------------------------------------------------
    def create_tool(
        self,
        source_code: str,
        *,
        function: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        return_char_limit: int | None = None,
        default_requires_approval: bool | None = None,
    ) -> ToolDef:
        """A custom tool from Python source: the last top-level function, or ``function``."""
        return self._run(self.service.create_tool(
            source_code, function=function, description=description, tags=tags,
            return_char_limit=return_char_limit, default_requires_approval=default_requires_approval,
        ))

    def upsert_tool(
        self,
        source_code: str,
        *,
        function: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        return_char_limit: int | None = None,
        default_requires_approval: bool | None = None,
    ) -> ToolDef:
        """Create a custom tool or replace yours of the same name (options as create_tool)."""
        return self._run(self.service.upsert_tool(
            source_code, function=function, description=description, tags=tags,
            return_char_limit=return_char_limit, default_requires_approval=default_requires_approval,
        ))

    def list_tools(self) -> list[ToolDef]:
        """The base tools, then your custom tools."""
        return self._run(self.service.list_tools())

    def get_tool(self, tool: str) -> ToolDef:
        """A tool by id or name."""
        return self._run(self.service.get_tool(tool))

    def update_tool(
        self,
        tool: str,
        *,
        source_code: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        return_char_limit: int | None = None,
        default_requires_approval: bool | None = None,
    ) -> ToolDef:
        """Change a custom tool's source, description, tags or return limit (None: unchanged)."""
        return self._run(self.service.update_tool(
            tool, source_code=source_code, description=description, tags=tags,
            return_char_limit=return_char_limit, default_requires_approval=default_requires_approval,
        ))

    def delete_tool(self, tool: str) -> None:
        """Delete a custom tool."""
        self._run(self.service.delete_tool(tool))

    def list_agent_tools(self, agent: str) -> list[ToolDef]:
        """The tools the agent's model is offered."""
        return self._run(self.service.list_agent_tools(agent))

    def attach_tool(self, agent: str, tool: str) -> AgentState:
        """Give the agent a custom tool."""
        return self._run(self.service.attach_tool(agent, tool))

    def detach_tool(self, agent: str, tool: str) -> AgentState:
        """Take a custom tool from the agent."""
        return self._run(self.service.detach_tool(agent, tool))

    def set_agent_tools(self, agent: str, tools: list[str]) -> AgentState:
        """Make the agent's custom tools exactly those named (base tools stay regardless)."""
        return self._run(self.service.set_agent_tools(agent, tools))

    # --- identities, tags, messages across agents -------------------------------------------
    def create_identity(
        self, identifier_key: str, name: str, *, identity_type: str = "user",
        properties: list[IdentityProperty] | None = None, agent_ids: list[str] | None = None,
    ) -> Identity:
        """A new identity (identifier_key unique among yours), linked to the agents named."""
        return self._run(self.service.create_identity(identifier_key, name, identity_type=identity_type,
            properties=properties, agent_ids=agent_ids))

    def upsert_identity(
        self, identifier_key: str, name: str, *, identity_type: str = "user",
        properties: list[IdentityProperty] | None = None, agent_ids: list[str] | None = None,
    ) -> Identity:
        """The identity with this key made anew, or replaced (its agents too, if given)."""
        return self._run(self.service.upsert_identity(identifier_key, name, identity_type=identity_type,
            properties=properties, agent_ids=agent_ids))

    def list_identities(
        self, *, name: str | None = None, identifier_key: str | None = None, identity_type: str | None = None,
    ) -> list[Identity]:
        """Your identities, oldest first (name matches a part, any case)."""
        return self._run(self.service.list_identities(name=name, identifier_key=identifier_key,
            identity_type=identity_type))

    def get_identity(self, identity_id: str) -> Identity:
        """One identity by id."""
        return self._run(self.service.get_identity(identity_id))

    def update_identity(
        self, identity_id: str, *, identifier_key: str | None = None, name: str | None = None,
        identity_type: str | None = None, properties: list[IdentityProperty] | None = None,
        agent_ids: list[str] | None = None,
    ) -> Identity:
        """Change an identity; ``properties`` and ``agent_ids`` replace the current ones."""
        return self._run(self.service.update_identity(
            identity_id, identifier_key=identifier_key, name=name, identity_type=identity_type,
            properties=properties, agent_ids=agent_ids))

    def delete_identity(self, identity_id: str) -> None:
        """Delete an identity (its agents stay, unlinked)."""
        self._run(self.service.delete_identity(identity_id))

    def attach_identity(self, agent: str, identity_id: str) -> AgentState:
        """Link an identity to an agent."""
        return self._run(self.service.attach_identity(agent, identity_id))

    def detach_identity(self, agent: str, identity_id: str) -> AgentState:
        """Unlink an identity from an agent (both are kept)."""
        return self._run(self.service.detach_identity(agent, identity_id))

    def agent_identities(self, agent: str) -> list[Identity]:
        """The identities linked to an agent."""
        return self._run(self.service.agent_identities(agent))

    def set_agent_tags(self, agent: str, tags: list[str]) -> list[str]:
        """Make an agent's tags exactly these; returns them sorted."""
        return self._run(self.service.set_agent_tags(agent, tags))

    def agent_tags(self, agent: str) -> list[str]:
        """An agent's tags, sorted."""
        return self._run(self.service.agent_tags(agent))

    def list_tags(self, *, name: str | None = None) -> list[str]:
        """The distinct tags of your agents, sorted (``name``: a part, any case)."""
        return self._run(self.service.list_tags(name=name))

    def find_agents(
        self, *, tags: list[str] | None = None, match_all_tags: bool = False, identity_id: str | None = None,
        identifier_keys: list[str] | None = None,
    ) -> list[AgentState]:
        """Your agents with any (or all) of the tags, linked to the identity / identities of these keys."""
        return self._run(self.service.find_agents(tags=tags, match_all_tags=match_all_tags,
            identity_id=identity_id, identifier_keys=identifier_keys))

    def list_all_messages(
        self, *, after: str | None = None, before: str | None = None, limit: int = 100,
        order: Literal["asc", "desc"] = "desc",
    ) -> list[Message]:
        """Messages of all your agents by time (newest first by default); after/before are message ids."""
        return self._run(self.service.list_all_messages(after=after, before=before, limit=limit, order=order))

    def get_any_message(self, message_id: str) -> Message:
        """One message of any of your agents by id."""
        return self._run(self.service.get_any_message(message_id))

    def search_all_messages(
        self, query: str | None, *, agent: str | None = None, start: datetime | None = None,
        end: datetime | None = None, limit: int = 50,
    ) -> list[Message]:
        """Recall search over one agent or all your agents, within [start, end)."""
        return self._run(self.service.search_all_messages(query, agent=agent, start=start, end=end,
            limit=limit))

    # --- agent files -------------------------------------------------------------------------
    def export_agent(self, agent: str, *, messages: bool = True, passages: bool = True) -> dict[str, Any]:
        """The agent as an agent file (a JSON-ready dict)."""
        return self._run(self.service.export_agent(agent, messages=messages, passages=passages))

    def import_agent(
        self,
        data: Any,
        *,
        name: str | None = None,
        model: str | None = None,
        strip_messages: bool = False,
        replace_tools: bool = True,
        copy_suffix: bool = False,
    ) -> AgentState:
        """A new agent (new ids) from an agent file's parsed JSON; ``name``/``model`` override
        the file's."""
        return self._run(self.service.import_agent(
            data, name=name, model=model, strip_messages=strip_messages, replace_tools=replace_tools,
            copy_suffix=copy_suffix,
        ))
