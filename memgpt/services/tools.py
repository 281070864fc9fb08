"""Tools: the base tools every agent has, custom tools from Python source, attachments."""

from __future__ import annotations

from typing import Any

from memgpt.core.errors import InvalidRequestError, NotFoundError
from memgpt.core.schemas import AgentState, ToolDef, stable_id
from memgpt.services.base import ServiceBase
from memgpt.tools.custom import custom_tool


class ToolsApi(ServiceBase):
    """Tools: the base tools every agent has, custom tools from Python source, attachments."""

    def base_tool_defs(self) -> list[ToolDef]:
        """The base tools, which every agent has."""
        return [ToolDef(id=stable_id("tool", t.name), name=t.name, spec=t, builtin=True)
                for t in self.kernel.base_tools.schemas()]

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
                           tags=tags, return_char_limit=return_char_limit, reserved=self.kernel.base_tools.tools)
        await self.kernel.tool_store.create(tool)
        return tool

    async def upsert_tool(self, source_code: str, **options: Any) -> ToolDef:
        """Create a custom tool, or replace this user's tool of the same name (id kept)."""
        self.check_custom_tools_allowed()
        new = custom_tool(source_code, owner=self.owner, reserved=self.kernel.base_tools.tools, **options)
        try:
            old = await self.kernel.tool_store.get(self.owner, new.name)
        except NotFoundError:
            await self.kernel.tool_store.create(new)
            return new
        updated = new.model_copy(update={"id": old.id, "created_at": old.created_at})
        await self.kernel.tool_store.save(updated)
        return updated

    async def get_tool(self, tool: str) -> ToolDef:
        """A tool by id or name: a base tool, or one of this user's custom tools."""
        for base in self.base_tool_defs():
            if tool in (base.id, base.name):
                return base
        return await self.kernel.tool_store.get(self.owner, tool)

    async def list_tools(self) -> list[ToolDef]:
        """The base tools, then this user's custom tools (oldest first)."""
        return self.base_tool_defs() + await self.kernel.tool_store.all(self.owner)

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
            prefer=current.name, description=description, reserved=self.kernel.base_tools.tools,
            tags=tags if tags is not None else current.tags,
            return_char_limit=return_char_limit or current.return_char_limit,
        )
        keep: dict[str, Any] = {"id": current.id, "created_at": current.created_at}
        if source_code is None and description is None:
            keep["spec"] = current.spec  # a description set earlier stays
        updated = new.model_copy(update=keep)
        await self.kernel.tool_store.save(updated)
        return updated

    async def delete_tool(self, tool: str) -> None:
        """Delete one of this user's custom tools (it is detached from every agent)."""
        current = await self.get_tool(tool)
        if current.builtin:
            raise InvalidRequestError(f"{current.name!r} is a base tool: base tools cannot be deleted")
        await self.kernel.tool_store.delete(self.owner, current.id)

    async def attach_tool(self, agent: str, tool: str) -> AgentState:
        """Give an agent one of this user's custom tools (base tools it has already)."""
        state = await self.get_agent(agent)
        found = await self.get_tool(tool)
        if not found.builtin:
            self.check_custom_tools_allowed()
            await self.kernel.tool_store.attach(state.id, found.id)
        return state

    async def detach_tool(self, agent: str, tool: str) -> AgentState:
        """Take a custom tool from an agent (base tools cannot be taken away)."""
        state = await self.get_agent(agent)
        found = await self.get_tool(tool)
        if found.builtin:
            raise InvalidRequestError(f"{found.name!r} is a base tool, which every agent keeps")
        await self.kernel.tool_store.detach(state.id, found.id)
        return state

    async def set_agent_tools(self, agent: str, tools: list[str]) -> AgentState:
        """Make the agent's custom tools exactly those named (base tools stay regardless)."""
        state = await self.get_agent(agent)
        wanted = await self._resolve_tools(tools)
        for old in await self.kernel.tool_store.for_agent(state.id):
            if old.id not in {t.id for t in wanted}:
                await self.kernel.tool_store.detach(state.id, old.id)
        for tool in wanted:
            await self.kernel.tool_store.attach(state.id, tool.id)
        return state

    async def list_agent_tools(self, agent: str) -> list[ToolDef]:
        """The tools the agent's model is offered: base tools, then attached custom tools
        (none while custom tools are turned off)."""
        state = await self.get_agent(agent)
        return self.base_tool_defs() + await self._custom_tools_of(state.id)

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
