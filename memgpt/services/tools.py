"""Tools: the base tools every agent has, custom tools from Python source, attachments."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from memgpt.core.errors import InvalidRequestError, NotFoundError
from memgpt.core.schemas import AgentState, ToolCallPart, ToolDef, ToolRule, new_id, stable_id
from memgpt.core.tool_control import ToolRun, ToolSearchHit
from memgpt.runtime.rules import checked
from memgpt.services.base import ServiceBase
from memgpt.tools.custom import custom_tool
from memgpt.tools.mcp import McpTool
from memgpt.tools.registry import HEARTBEAT


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
        default_requires_approval: bool | None = None,
    ) -> ToolDef:
        """A custom tool from Python source (parsed, not run): the last top-level function, or
        ``function``; its signature and docstring make the schema. Names are unique per user.
        ``default_requires_approval``: agents it is attached to hold its calls for approval."""
        self.check_custom_tools_allowed()
        tool = custom_tool(source_code, owner=self.owner, function=function, description=description,
                           tags=tags, return_char_limit=return_char_limit, reserved=self.kernel.base_tools.tools)
        tool.default_requires_approval = bool(default_requires_approval)
        await self.kernel.tool_store.create(tool)
        return tool

    async def upsert_tool(self, source_code: str, **options: Any) -> ToolDef:
        """Create a custom tool, or replace this user's tool of the same name (id kept)."""
        self.check_custom_tools_allowed()
        approval = bool(options.pop("default_requires_approval", None))
        new = custom_tool(source_code, owner=self.owner, reserved=self.kernel.base_tools.tools, **options)
        new.default_requires_approval = approval
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
        try:
            return await self.kernel.tool_store.get(self.owner, tool)
        except NotFoundError:
            return await self.kernel.storage.mcp.get_tool(self.owner, tool)

    async def list_tools(self) -> list[ToolDef]:
        """The base tools, then this user's custom tools (oldest first)."""
        mcp: list[ToolDef] = [*await self.kernel.storage.mcp.all_tools(self.owner)]
        return self.base_tool_defs() + await self.kernel.tool_store.all(self.owner) + mcp

    async def update_tool(
        self,
        tool: str,
        *,
        source_code: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        return_char_limit: int | None = None,
        default_requires_approval: bool | None = None,
    ) -> ToolDef:
        """Change a custom tool; new source keeps the tool's function if it still defines it."""
        current = await self.get_tool(tool)
        if current.builtin:
            raise InvalidRequestError(f"{current.name!r} is a base tool: base tools cannot be changed")
        if isinstance(current, McpTool):
            raise InvalidRequestError(f"{current.name!r} is an MCP tool: it changes with its server (refresh)")
        self.check_custom_tools_allowed()
        new = custom_tool(
            source_code if source_code is not None else current.source_code, owner=self.owner,
            prefer=current.name, description=description, reserved=self.kernel.base_tools.tools,
            tags=tags if tags is not None else current.tags,
            return_char_limit=return_char_limit or current.return_char_limit,
        )
        keep: dict[str, Any] = {"id": current.id, "created_at": current.created_at,
                                "default_requires_approval": current.default_requires_approval
                                if default_requires_approval is None else default_requires_approval}
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
        if isinstance(current, McpTool):
            raise InvalidRequestError(f"{current.name!r} is an MCP tool: it goes with its server")
        await self.kernel.tool_store.delete(self.owner, current.id)

    async def attach_tool(self, agent: str, tool: str) -> AgentState:
        """Give an agent one of this user's custom tools (base tools it has already)."""
        state = await self.get_agent(agent)
        found = await self.get_tool(tool)
        if not found.builtin:
            await self._attach_tool_to(state.id, found)
        if found.default_requires_approval:  # the tool's default becomes the agent's rule
            return await self.set_tool_approval(state.id, found.name, True)
        return state

    async def detach_tool(self, agent: str, tool: str) -> AgentState:
        """Take a custom tool from an agent (base tools cannot be taken away)."""
        state = await self.get_agent(agent)
        found = await self.get_tool(tool)
        if found.builtin:
            raise InvalidRequestError(f"{found.name!r} is a base tool, which every agent keeps")
        await self._detach_tool_from(state.id, found)
        return state

    async def set_agent_tools(self, agent: str, tools: list[str]) -> AgentState:
        """Make the agent's custom tools exactly those named (base tools stay regardless)."""
        state = await self.get_agent(agent)
        wanted = await self._resolve_tools(tools)
        had = [*await self.kernel.tool_store.for_agent(state.id),
               *(t for t, _ in await self.kernel.storage.mcp.for_agent(state.id))]
        for old in had:
            if old.id not in {t.id for t in wanted}:
                await self._detach_tool_from(state.id, old)
        for tool in wanted:
            await self._attach_tool_to(state.id, tool)
        return state

    async def list_agent_tools(self, agent: str) -> list[ToolDef]:
        """The tools the agent's model is offered: base tools, then attached custom tools
        (none while custom tools are turned off)."""
        state = await self.get_agent(agent)
        mcp: list[ToolDef] = [t for t, _ in await self._mcp_tools_of(state.id)]
        return self.base_tool_defs() + await self._custom_tools_of(state.id) + mcp

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
        if any(not isinstance(t, McpTool) for t in found):
            self.check_custom_tools_allowed()
        return found

    # --- tool control: running a tool, approvals, rules, search ------------------------------
    async def run_tool(self, agent: str, tool_name: str, args: dict[str, Any]) -> ToolRun:
        """Run one of the agent's tools now, outside a turn, under the agent's lease: its memory
        edits commit as one unit, like a step's (no message is added to the history).
        Unknown tool: NotFoundError; arguments its schema refuses: InvalidRequestError; a
        failure of the tool itself is a result with ``is_error``."""
        state = await self.get_agent(agent)
        args = {k: v for k, v in args.items() if k != HEARTBEAT}
        ids = {t.id: t.name for t in await self.list_agent_tools(state.id)}
        tool = ids.get(tool_name, tool_name)  # by name, or by id
        async with self.kernel.lock(state.id) as lease:
            runtime = await self.runtime(lease)
            found = runtime.tools.tools.get(tool)
            if found is None:
                known = ", ".join(runtime.tools.tools)
                raise NotFoundError(f"agent {state.id} has no tool {tool_name!r} (its tools: {known})")
            try:
                found.args_model.model_validate(args)
            except ValidationError as err:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'args'}: {e['msg']}"
                                     for e in err.errors())
                raise InvalidRequestError(f"bad arguments for {tool}: {problems}") from None
            call = ToolCallPart(id=new_id("call"), name=tool, arguments=json.dumps(args))
            try:
                if runtime.tools.is_external(tool):
                    await runtime.unit.journal_start(state.id, call.id, tool, call.arguments)
                    runtime.pending.finished_calls.append(call.id)
                outcome = await runtime.tools.run(call, runtime)
                await runtime.commit(last=True)
            except BaseException:
                self.kernel.forget(state.id)
                raise
            finally:
                lease.released = runtime.released
            self.keep(runtime)
        return ToolRun(content=outcome.content, is_error=outcome.is_error)

    async def set_tool_rules(self, agent: str, rules: list[ToolRule]) -> AgentState:
        """Replace the agent's tool rules (approval rules included), checked against its tools."""
        state = await self.get_agent(agent)
        names = [t.name for t in await self.list_agent_tools(state.id)]
        return await self._save_rules(state.id, checked(rules, names))

    async def set_tool_approval(self, agent: str, tool_name: str, requires_approval: bool = True) -> AgentState:
        """Whether the agent's calls of a tool (by name or id) wait for a user's approval."""
        state = await self.get_agent(agent)
        tools = await self.list_agent_tools(state.id)
        name = next((t.name for t in tools if tool_name in (t.name, t.id)), None)
        if name is None:
            raise NotFoundError(f"agent {state.id} has no tool {tool_name!r}")
        rules = [r for r in state.tool_rules if (r.type, r.tool_name) != ("requires_approval", name)]
        if requires_approval:
            rules.append(ToolRule(type="requires_approval", tool_name=name))
        return await self._save_rules(state.id, rules)

    async def _save_rules(self, agent_id: str, rules: list[ToolRule]) -> AgentState:
        async with self.kernel.lock(agent_id):
            fresh = await self.stores.agents.get(agent_id)
            await self.stores.agents.save_config(fresh.model_copy(update={"tool_rules": rules}).config())
        return await self.stores.agents.get(agent_id)

    async def search_tools(
        self, query: str | None, *, tags: list[str] | None = None, limit: int = 50
    ) -> list[ToolSearchHit]:
        """This user's tools (base tools included) best matching the query's words, by a plain
        score over name, tags and description (no embeddings), with the tags given if any."""
        words = re.findall(r"\w+", (query or "").lower())
        found = []
        for tool in await self.list_tools():
            if tags and not set(tags) & set(tool.tags):
                continue
            score = _score(tool, words, (query or "").strip().lower())
            if score > 0 or not words:
                found.append(ToolSearchHit(tool=tool, score=score))
        found.sort(key=lambda hit: (-hit.score, hit.tool.name))
        return found[:limit]


def _score(tool: ToolDef, words: list[str], phrase: str) -> float:
    """How well a tool matches query words, in [0, 1]: a word in its name counts 3, in its
    tags 2, in its description 1; the exact name scores 1."""
    if not words:
        return 0.0
    if phrase == tool.name.lower():
        return 1.0
    name = set(re.findall(r"[a-z0-9]+", tool.name.lower()))
    tags = {t.lower() for t in tool.tags}
    text = set(re.findall(r"\w+", tool.spec.description.lower()))
    points = sum(3 if w in name else 2 if w in tags else 1 if w in text else 0 for w in words)
    return round(points / (3 * len(words)), 4)
