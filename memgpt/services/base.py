"""What every resource service stands on: the shared kernel and the caller's identity."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import numpy as np

from memgpt.core.errors import BlockError, FeatureDisabledError, NotFoundError, ToolDefinitionError
from memgpt.core.schemas import AgentState, Block, Passage, ToolDef, utcnow
from memgpt.core.settings import Settings
from memgpt.embeddings import Embedder
from memgpt.memory.blocks import find
from memgpt.memory.stores import Stores, ToolStore
from memgpt.memory.unit import StepWrite
from memgpt.runtime.agent import AgentRuntime
from memgpt.services.kernel import Kernel, Lease, Loaded
from memgpt.tools.custom import runnable
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

    async def agent_tools(self, state: AgentState) -> ToolRegistry:
        """The registry an agent's loop runs with: base tools and its custom tools, sandboxed."""
        limits = limits_for(self.settings)
        extra = []
        for tool in await self._custom_tools_of(state.id):
            try:
                extra.append(runnable(tool, limits))
            except ToolDefinitionError as exc:  # stored by an older version with laxer rules
                log.warning("agent %s: custom tool %s is left out: %s", state.id, tool.name, exc)
        return self.kernel.base_tools.extended(extra)

    async def runtime(self, lease: Lease) -> AgentRuntime:
        """The agent loaded to run under a lease: what its last turn here left, if nothing
        wrote to it since (the lease's version says), else read afresh."""
        k, agent_id = self.kernel, lease.agent_id
        kept = k.cached(agent_id, lease.version)
        if kept is None:
            state = await self.stores.agents.get(agent_id)
            kept = Loaded(state, await self.stores.blocks.all(agent_id), await k.windows.load(state))
        state = kept.state
        own_settings = self.settings is k.settings  # a view with other settings builds its own
        tools = kept.tools if kept.tools is not None and own_settings else await self.agent_tools(state)
        return AgentRuntime(
            state, kept.blocks, kept.context, stores=self.stores, unit=k.unit,
            model=k.model(state.model), summarizer=k.model(state.summarizer_model or state.model),
            tools=tools, embedder=self.embedder, settings=self.settings,
            journal_clean=kept.journal_clean, lease_holder=lease.holder,
        )

    def keep(self, runtime: AgentRuntime) -> None:
        """Remember what a committed turn left, for the next turn in this process."""
        own = self.settings is self.kernel.settings
        self.kernel.remember(Loaded(runtime.state, runtime.blocks, runtime.context,
                                    runtime.tools if own else None))
        self.kernel.windows.keep(runtime.state, runtime.context)

def find_block(blocks: list[Block], label: str) -> Block:
    """The block with label; NotFoundError (an operator's error) if none."""
    try:
        return find(blocks, label)
    except BlockError as exc:
        raise NotFoundError(str(exc)) from exc


def aware(moment: datetime) -> datetime:
    """A timezone-aware datetime; naive ones are taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
