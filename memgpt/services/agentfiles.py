"""Agent files: an agent exported to, or created from, Letta's ``.af`` JSON."""

from __future__ import annotations

import asyncio
from typing import Any

from memgpt.core.errors import AlreadyExistsError, InvalidRequestError, ModelNotFoundError, ToolDefinitionError
from memgpt.core.prompts import SYSTEM_INSTRUCTIONS
from memgpt.core.schemas import (
    AgentState, Message, Passage, ToolCallPart, ToolDef, ToolResultPart, reply_reserve, utcnow,
)
from memgpt.formats import agentfile
from memgpt.formats import letta as ls
from memgpt.llm.tokens import count_tools, estimate_tokens
from memgpt.memory import recall
from memgpt.runtime.context import MemoryStats, render_system
from memgpt.services.agents import AgentsApi
from memgpt.tools.custom import custom_tool

BATCH = 500
"""Messages written per transaction on import: the event loop serves others in between."""
CHARS_PER_TOKEN = 4
"""Characters per token when a block's limit (characters) is weighed against the window."""


class AgentFilesApi(AgentsApi):
    """Agent files: an agent exported to, or created from, Letta's ``.af`` JSON."""

    async def export_agent(
        self, agent: str, *, messages: bool = True, passages: bool = True
    ) -> dict[str, Any]:
        """The agent as a Letta-compatible agent file (a JSON-ready dict): settings, blocks,
        tools (custom ones with their source), history, the in-context window, the summary
        and (with ``passages``) archival memory."""
        state = await self.get_agent(agent)
        async with self.kernel.lock(state.id):
            snap = await snapshot(self, await self.get_agent(state.id), with_passages=passages)
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
        name. A malformed file, or one past this server's limits (``check_limits``), or whose
        model names a base URL the operator did not allow, raises InvalidRequestError or
        ModelNotFoundError and leaves nothing behind.
        """
        base = set(self.kernel.base_tools.tools)
        # parsing a long history is CPU work: off the event loop, so other requests go on
        plan = await asyncio.to_thread(agentfile.read, data, base_tools=base, strip_messages=strip_messages,
                                       max_messages=self.settings.max_import_messages)
        plan.name = (name or plan.name) + ("__copy" if copy_suffix else "")
        if model:  # the caller's choice, checked as any caller's model is
            self.kernel.check_model(model)
            plan.model = model
        elif plan.model:  # the file's: no operator typed it, so only allowed endpoints
            self.kernel.check_model(plan.model, trusted=False)
        await asyncio.to_thread(check_limits, self, plan)
        state = await import_plan(self, plan, replace_tools=replace_tools)
        await recall.embed_pending(self.stores.recall, self.embedder, state.id)
        return state


async def snapshot(service: AgentFilesApi, state: AgentState, *, with_passages: bool) -> agentfile.Snapshot:
    """Read everything of an agent that goes into its file (call under the agent's lock)."""
    tools = await service.list_agent_tools(state.id)
    passages: list[Passage] = []
    if with_passages:
        total = await service.stores.archival.count(state.id)
        passages = await service.stores.archival.page(state.id, limit=max(total, 1), offset=0)
        passages.reverse()  # oldest first, as they were inserted
    letta = ls.agent_out(state, [], tools, service.embedder)
    return agentfile.Snapshot(
        state=state, blocks=await service.stores.blocks.all(state.id), tools=tools,
        messages=await service.stores.recall.since(state.id, 0), passages=passages,
        llm_config=letta.llm_config.model_dump(), embedding_config=letta.embedding_config.model_dump(),
        tool_out=[t.model_dump() for t in letta.tools],
    )


async def _custom_tools(service: AgentFilesApi, plan: agentfile.Plan, replace: bool) -> list[ToolDef]:
    """The user's tools for the file's tools: created, reused by name, or (replace) updated."""
    if plan.tools:
        service.check_custom_tools_allowed()
    existing = {t.name: t for t in await service.kernel.tool_store.all(service.owner)}
    out = []
    for t in plan.tools:
        try:
            new = custom_tool(t.source_code, owner=service.owner, function=t.name, description=t.description,
                              tags=t.tags, return_char_limit=t.return_char_limit, reserved=service.kernel.base_tools.tools)
        except ToolDefinitionError as exc:
            raise InvalidRequestError(f"tool {t.name!r} in the file cannot be created: {exc}") from exc
        old = existing.get(new.name)
        if old is None:
            await service.kernel.tool_store.create(new)
            out.append(new)
        elif replace and old.source_code != new.source_code:
            new = new.model_copy(update={"id": old.id, "created_at": old.created_at})
            await service.kernel.tool_store.save(new)
            out.append(new)
        else:
            out.append(old)
    return out


async def import_plan(service: AgentFilesApi, plan: agentfile.Plan, *, replace_tools: bool) -> AgentState:
    """Create the planned agent with its blocks, tools, history, window and passages."""
    if plan.model is None:
        raise InvalidRequestError("the file names no model: pass one to import it with")
    service.kernel.model(plan.model)
    if plan.context_window is not None and plan.context_window < 512:
        raise InvalidRequestError(f"the file's context window ({plan.context_window}) is below 512 tokens")
    if not 1 <= len(plan.name) <= 200:
        raise InvalidRequestError("agent names are 1 to 200 characters")
    if plan.name in {a.name for a in await service.list_agents()}:
        raise AlreadyExistsError(f"an agent named {plan.name!r} already exists: import it under another name")
    for t in plan.tools:  # every tool must parse before anything is written
        try:
            custom_tool(t.source_code, owner=service.owner, function=t.name, reserved=service.kernel.base_tools.tools)
        except ToolDefinitionError as exc:
            raise InvalidRequestError(f"tool {t.name!r} in the file cannot be created: {exc}") from exc
    tools = await _custom_tools(service, plan, replace_tools)
    state = await service.create_agent(
        plan.name, model=plan.model, blocks=plan.blocks, instructions=plan.instructions,
        context_window=plan.context_window, max_output_tokens=plan.max_output_tokens,
        tools=[t.id for t in tools],
    )
    try:
        await _fill(service, state, plan)
    except BaseException:
        await service.delete_agent(state.id)
        raise
    return await service.get_agent(state.id)


async def _fill(service: AgentFilesApi, state: AgentState, plan: agentfile.Plan) -> None:
    stored: list[Message] = []
    for start in range(0, len(plan.messages), BATCH):  # one transaction per batch, in order
        stored += await service.stores.recall.append(state.id, plan.messages[start:start + BATCH])
    fresh = await service.stores.agents.get(state.id)
    fresh.context_start = stored[plan.context_start].seq if plan.context_start < len(stored) else len(stored)
    fresh.summary, fresh.warned = plan.summary, plan.warned
    fresh.last_memory_edit, fresh.heartbeats_paused_until = plan.last_memory_edit, plan.heartbeats_paused_until
    if plan.summarizer_model:
        try:
            service.kernel.check_model(plan.summarizer_model, trusted=False)
            fresh.summarizer_model = plan.summarizer_model
        except ModelNotFoundError:
            pass  # not available here: the agent's own model summarizes
    fresh.memory_dirty = True
    await service.stores.agents.save(fresh)
    if plan.tool_rules:  # checked against the imported agent's tools (a 400 imports nothing)
        await service.set_tool_rules(state.id, plan.tool_rules)
    for start in range(0, len(plan.passages), 64):
        batch = [p.model_copy(update={"agent_id": state.id, "embedding_model": service.embedder.name})
                 for p in plan.passages[start:start + 64]]
        vectors = await asyncio.to_thread(service.embedder.embed, [p.text for p in batch])
        await service.stores.archival.insert(state.id, batch, vectors)


def _chars(m: Message) -> int:
    return sum(len(p.arguments) if isinstance(p, ToolCallPart) else
               len(p.content) if isinstance(p, ToolResultPart) else len(getattr(p, "text", ""))
               for p in m.parts)


def check_limits(service: AgentFilesApi, plan: agentfile.Plan) -> None:
    """Refuse (InvalidRequestError) a file past this server's limits before anything is written:
    too many messages, too much text, a block limit over ``max_block_chars``, blocks whose
    limits exceed the window, or memory that leaves no room in the window to ever answer."""
    limits = service.settings
    if len(plan.messages) > limits.max_import_messages:
        raise InvalidRequestError(f"the file has {len(plan.messages)} messages; this server imports at "
                                  f"most {limits.max_import_messages} (or import with strip_messages)")
    total = (sum(map(_chars, plan.messages)) + sum(len(p.text) for p in plan.passages)
             + sum(len(b.value) for b in plan.blocks) + sum(len(t.source_code) for t in plan.tools)
             + len(plan.instructions or "") + len(plan.summary))
    if total > limits.max_import_chars:
        raise InvalidRequestError(f"the file holds {total} characters of text; this server imports "
                                  f"at most {limits.max_import_chars}")
    for b in plan.blocks:
        if b.limit > limits.max_block_chars:
            raise InvalidRequestError(f"block {b.label!r} has a limit of {b.limit} characters; this "
                                      f"server allows at most {limits.max_block_chars}")
    window = plan.context_window or service.kernel.default_window(plan.model or "")
    if window < 512:
        return  # import_plan says so in its own words
    at_limits = sum(b.limit for b in plan.blocks) // CHARS_PER_TOKEN
    if at_limits > window:
        raise InvalidRequestError(
            f"the blocks' limits ({sum(b.limit for b in plan.blocks)} characters, about {at_limits} "
            f"tokens) exceed the agent's {window}-token window: it could never hold them"
        )
    stats = MemoryStats(0, len(plan.messages), len(plan.passages), None, utcnow())
    system = render_system(plan.instructions or SYSTEM_INSTRUCTIONS, plan.blocks, plan.summary, stats)
    output = reply_reserve(window, plan.max_output_tokens)
    need = estimate_tokens(system) + count_tools(service.kernel.base_tools.schemas()) + output
    if need >= window:
        raise InvalidRequestError(
            f"the agent could never answer in its {window}-token window: its memory, tools and "
            f"reply need about {need} tokens; shorten the blocks or raise the context window"
        )
