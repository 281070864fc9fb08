"""What every resource service stands on: the shared kernel and the caller's identity."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import numpy as np

from memgpt.core.errors import (
    BlockError, FeatureDisabledError, InvalidRequestError, NotFoundError, ToolDefinitionError,
)
from memgpt.core.schemas import AgentState, Block, Passage, ToolDef, utcnow
from memgpt.core.settings import Settings
from memgpt.embeddings import Embedder
from memgpt.memory.blocks import find
from memgpt.memory.stores import Stores, ToolStore
from memgpt.memory.conversations import Conversation
from memgpt.memory.unit import StepWrite
from memgpt.runtime.agent import AgentRuntime
from memgpt.runtime.context import memory_shown
from memgpt.services.kernel import Kernel, Lease, Loaded
from memgpt.memory.file_view import AgentFiles
from memgpt.tools.custom import runnable
from memgpt.tools.mcp import McpServer, McpTool, SecretBox, mcp_limits, runnable_mcp
from memgpt.tools.files import FILE_TOOL_NAMES, file_tools
from memgpt.tools.registry import ToolRegistry
from memgpt.tools.sandbox import custom_tools_refusal, limits_for

log = logging.getLogger("memgpt.services")

LOCAL_OWNER = "local"


class ServiceBase:
    """A user's view of the kernel: every resource service reads and writes as ``owner``."""

    def __init__(self, kernel: Kernel, owner: str = LOCAL_OWNER) -> None:
        self.kernel = kernel
        self.owner = owner
        self.settings: Settings = kernel.settings
        """The kernel's settings; a view may carry its own (e.g. custom tools turned off)."""

    @property
    def embedder(self) -> Embedder:
        """The embedder new passages and messages are embedded with."""
        return self.kernel.embedder

    @property
    def stores(self) -> Stores:
        """The agent, block, recall and archival stores."""
        return self.kernel.stores

    @property
    def tools(self) -> ToolRegistry:
        """The base tools every agent has."""
        return self.kernel.base_tools

    @property
    def tool_store(self) -> ToolStore:
        """Custom tools and which agents they are attached to."""
        return self.kernel.tool_store

    async def get_agent(self, agent: str) -> AgentState:
        """An agent by id or name, among this service's owner's agents."""
        return await self.stores.agents.get(agent, self.owner)

    async def commit_memory(
        self,
        agent_id: str,
        *,
        blocks: dict[str, Block] | None = None,
        passages: list[Passage] | None = None,
        vectors: list[np.ndarray[Any, Any]] | None = None,
    ) -> None:
        """Write an operator's change to memory as one unit (call under the agent's lock):
        the system message is recompiled before the next step."""
        fresh = await self.stores.agents.get(agent_id)
        fresh.memory_dirty = True
        if blocks:
            fresh.last_memory_edit = utcnow()
        await self.kernel.unit.commit(StepWrite(
            agent_id, position=fresh.position(), blocks=blocks or {}, passages=passages or [],
            vectors=vectors or [],
        ))

    def check_custom_tools_allowed(self) -> None:
        """FeatureDisabledError unless this server allows custom tools and can sandbox them
        (or the operator opted in to running them unsandboxed)."""
        refusal = custom_tools_refusal(self.settings)
        if refusal is not None:
            raise FeatureDisabledError(refusal)

    async def _custom_tools_of(self, agent_id: str) -> list[ToolDef]:
        if custom_tools_refusal(self.settings) is not None:
            return []
        return await self.kernel.tool_store.for_agent(agent_id)

    async def _attach_tool_to(self, agent_id: str, tool: ToolDef) -> None:
        """Attach a custom or an MCP tool, each to its store, after the checks it needs."""
        if not isinstance(tool, McpTool):
            self.check_custom_tools_allowed()
            await self.kernel.tool_store.attach(agent_id, tool.id)
            return
        server = await self.kernel.storage.mcp.get(self.owner, tool.server_id)
        if server.kind == "stdio":
            self.check_custom_tools_allowed()  # it runs a command on this host
        if tool.name in self.kernel.base_tools.tools:
            raise InvalidRequestError(f"MCP tool {tool.name!r} has the name of a base tool")
        await self.kernel.storage.mcp.attach(agent_id, tool.id)

    async def _detach_tool_from(self, agent_id: str, tool: ToolDef) -> None:
        """Take a custom or an MCP tool from an agent."""
        store = self.kernel.storage.mcp if isinstance(tool, McpTool) else self.kernel.tool_store
        await store.detach(agent_id, tool.id)

    async def _mcp_tools_of(self, agent_id: str) -> list[tuple[McpTool, McpServer]]:
        """The MCP tools attached to an agent, each with its server (secrets decrypted);
        those of stdio servers only while custom tools may run here (they run a command)."""
        stdio = custom_tools_refusal(self.settings) is None
        box = SecretBox(self.settings.home)
        return [(tool, box.open(server)) for tool, server in await self.kernel.storage.mcp.for_agent(agent_id)
                if stdio or server.kind != "stdio"]

    async def agent_tools(self, state: AgentState) -> ToolRegistry:
        """The registry an agent's loop runs with: base tools and its custom tools, sandboxed."""
        limits = limits_for(self.settings)
        extra = []
        for tool in await self._custom_tools_of(state.id):
            try:
                extra.append(runnable(tool, limits))
            except ToolDefinitionError as exc:  # stored by an older version with laxer rules
                log.warning("agent %s: custom tool %s is left out: %s", state.id, tool.name, exc)
        mcp = mcp_limits(self.settings)
        extra.extend(runnable_mcp(tool, server, mcp) for tool, server in await self._mcp_tools_of(state.id))
        if await self.kernel.storage.folders.agent_folders(state.id):
            extra.extend(file_tools())  # while a folder is attached
        return self.kernel.base_tools.extended(extra)

    async def runtime(self, lease: Lease, conversation: Conversation | None = None) -> AgentRuntime:
        """The agent loaded to run under a lease, in the default thread or a conversation's:
        what its last turn here left, if nothing wrote to it since (the lease's version
        says), else read afresh (a conversation's position over the agent's state)."""
        k, agent_id = self.kernel, lease.agent_id
        thread = conversation.id if conversation is not None else None
        kept = k.cached(agent_id, lease.version, thread)
        if kept is None:
            state = await self.stores.agents.get(agent_id)
            blocks = await self.stores.blocks.all(agent_id)
            if conversation is not None:
                state = conversation.thread_state(state)
                state.memory_dirty |= not memory_shown(state.system_compiled, state.instructions, blocks)
            kept = Loaded(state, blocks, await k.windows.load(state, thread), conversation=thread,
                          next_seq=await self.stores.recall.next_seq(agent_id))
        state = kept.state
        own_settings = self.settings is k.settings  # a view with other settings builds its own
        tools = kept.tools if kept.tools is not None and own_settings else await self.agent_tools(state)
        return AgentRuntime(
            state, kept.blocks, kept.context, stores=self.stores, unit=k.unit,
            model=k.model(state.model), summarizer=k.model(state.summarizer_model or state.model),
            tools=tools, embedder=self.embedder, settings=self.settings,
            journal_clean=kept.journal_clean, lease_holder=lease.holder,
            conversation_id=thread, next_seq=kept.next_seq, window_tokens=kept.window_tokens,
            archival_count=kept.archival_count,
            files=self._file_port(state, tools),
        )

    def _file_port(self, state: AgentState, tools: ToolRegistry) -> AgentFiles | None:
        """The agent's files for its file tools and file blocks (None without a folder)."""
        if FILE_TOOL_NAMES[0] not in tools.tools:
            return None
        return AgentFiles(self.kernel.storage.folders, self.embedder, state.id, state.context_window)

    def keep(self, runtime: AgentRuntime) -> None:
        """Remember what a committed turn left, for the next turn in this process."""
        own = self.settings is self.kernel.settings
        thread = runtime.conversation_id
        self.kernel.remember(Loaded(runtime.state, runtime.blocks, runtime.context,
                                    runtime.tools if own else None, conversation=thread,
                                    next_seq=runtime.next_seq, window_tokens=runtime.window_tokens))
        self.kernel.windows.keep(runtime.state, runtime.context, thread)

def find_block(blocks: list[Block], label: str) -> Block:
    """The block with label; NotFoundError (an operator's error) if none."""
    try:
        return find(blocks, label)
    except BlockError as exc:
        raise NotFoundError(str(exc)) from exc


def aware(moment: datetime) -> datetime:
    """A timezone-aware datetime; naive ones are taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
