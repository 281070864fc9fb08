"""Agents: create, change, list, delete, and what their context window holds."""

from __future__ import annotations

from pydantic import ValidationError

from memgpt.core.errors import AlreadyExistsError, InvalidRequestError
from memgpt.core.prompts import SYSTEM_INSTRUCTIONS
from memgpt.core.schemas import AgentState, Block, ContextReport
from memgpt.memory.blocks import default_blocks
from memgpt.memory.unit import StepWrite
from memgpt.runtime.context import measure
from memgpt.services.kernel import Loaded
from memgpt.services.tools import ToolsApi


class AgentsApi(ToolsApi):
    """Agents: create, change, list, delete, and what their context window holds."""

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
        block_ids: list[str] | None = None,
    ) -> AgentState:
        """Create an agent; blocks default to our persona and human starters (those whose
        label no block of ``block_ids`` has).

        ``tools`` names custom tools (by id or name) to attach; base tools every agent has.
        ``block_ids`` names existing blocks of this user's to share with the new agent.
        """
        self.kernel.check_model(model)
        extra = await self._resolve_tools(tools or [])
        if summarizer_model:
            self.kernel.check_model(summarizer_model)
        shared = [await self.stores.blocks.get(self.owner, i) for i in dict.fromkeys(block_ids or [])]
        chosen = blocks if blocks is not None else [
            b for b in default_blocks(persona, human) if b.label not in {s.label for s in shared}]
        labels = [b.label for b in [*chosen, *shared]]
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
            context_window=context_window or self.kernel.default_window(model),
            max_output_tokens=max_output_tokens,
        )
        await self.stores.agents.create(state, chosen, [b.id for b in shared])
        for tool in extra:
            await self.kernel.tool_store.attach(state.id, tool.id)
        if not extra:  # what its first turn would read: keep it (version 0, no history or passages, base tools)
            base = self.kernel.base_tools if self.settings is self.kernel.settings else None
            self.kernel.remember(Loaded(state.model_copy(), await self.stores.blocks.all(state.id), [], base,
                                        archival_count=0))
        return state

    def model_names(self) -> list[str]:
        """Names of the configured models (and the default model, if set)."""
        return self.kernel.model_names()

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
            self.kernel.check_model(model)
        async with self.kernel.lock(state.id):
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
            await self.stores.agents.save_config(new.config())
            if instructions is not None:  # the system message must be compiled anew
                new.memory_dirty = True
                await self.kernel.unit.commit(StepWrite(new.id, position=new.position()))
            return await self.stores.agents.get(new.id)

    async def list_agents(self) -> list[AgentState]:
        """Every agent."""
        return await self.stores.agents.all(self.owner)

    async def delete_agent(self, agent: str) -> None:
        """Delete an agent with its blocks, messages and passages."""
        state = await self.get_agent(agent)
        async with self.kernel.lock(state.id):
            await self.stores.agents.delete(state.id)
            self.kernel.forget(state.id)
        await self.stores.recall.forget_agent(state.id)
        await self.stores.archival.forget_agent(state.id)

    async def context_window(self, agent: str) -> ContextReport:
        """Tokens per section of the agent's context window as the next request would see it."""
        state = await self.get_agent(agent)
        async with self.kernel.lock(state.id) as lease:
            runtime = await self.runtime(lease)
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
