"""Letta's /v1/agents: create, list, retrieve, update, delete; plus our /context."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import AgentState as MemAgentState, Block, ContextReport, ToolRule
from memgpt.formats import letta as ls
from memgpt.formats.letta_tools import tool_rules_in
from memgpt.server.deps import Service
from memgpt.server.errors import NotImplementedByServer
from memgpt.server.paging import page
from memgpt.services.identities import valid_tags
from memgpt.services.service import AgentService

router = APIRouter(tags=["agents"])


async def agent_out(service: AgentService, state: MemAgentState) -> ls.AgentState:
    """An agent with its blocks, tools, tags and identities, in Letta's shape."""
    blocks = await service.list_blocks(state.id)
    return ls.agent_out(state, blocks, await service.list_agent_tools(state.id), service.embedder,
                        tags=await service.agent_tags(state.id),
                        identities=await service.agent_identities(state.id))


async def _labels(service: AgentService, tags: list[str] | None, identity_ids: list[str] | None) -> None:
    """Check tags and identity ids before anything is written (a bad one answers 400/404)."""
    if tags is not None:
        valid_tags(tags)
    for identity_id in identity_ids or []:
        await service.get_identity(identity_id)


async def _set_identities(service: AgentService, agent_id: str, identity_ids: list[str]) -> None:
    """Make an agent's identities exactly these."""
    for identity in await service.agent_identities(agent_id):
        if identity.id not in identity_ids:
            await service.detach_identity(agent_id, identity.id)
    for identity_id in identity_ids:
        await service.attach_identity(agent_id, identity_id)


def _spec(cfg: ls.LlmConfigIn) -> str:
    """The model an llm_config names; its model_endpoint (a base URL) is checked like any."""
    if cfg.handle:
        return cfg.handle
    spec = f"{cfg.model_endpoint_type}/{cfg.model}" if cfg.model_endpoint_type else cfg.model
    return f"{spec}@{cfg.model_endpoint}" if cfg.model_endpoint else spec


def _model(body: ls.CreateAgentRequest, service: AgentService) -> str:
    if body.model:
        return body.model
    if body.llm_config is not None:
        return _spec(body.llm_config)
    if service.settings.model:
        return service.settings.model
    raise InvalidRequestError("model is required, e.g. \"openai/gpt-4o-mini\" (or set MEMGPT_MODEL)")


@router.post("/v1/agents/", response_model=ls.AgentState, status_code=200)
@router.post("/v1/agents", response_model=ls.AgentState, include_in_schema=False)
async def create_agent(body: ls.CreateAgentRequest, service: Service) -> ls.AgentState:
    """Create an agent: name, system prompt, memory blocks, model, context window limit.

    Every agent gets the base memory tools; ``tools``/``tool_ids`` attach custom tools.
    ``embedding`` is accepted but the server's embedder is used (it is shown in the response).
    """
    await _labels(service, body.tags, body.identity_ids)
    rules = tool_rules_in(body.tool_rules or [])  # a kind we do not run is refused first
    blocks = None
    if body.memory_blocks is not None:
        blocks = [
            Block(**b.model_dump(exclude_none=True, exclude={"limit"}), **({"limit": b.limit} if b.limit else {}))
            for b in body.memory_blocks
        ]
    cfg = body.llm_config
    state = await service.create_agent(
        body.name or f"agent-{uuid.uuid4().hex[:12]}",
        model=_model(body, service),
        blocks=blocks,
        instructions=body.system,
        context_window=body.context_window_limit or (cfg.context_window if cfg else None),
        max_output_tokens=body.max_tokens or (cfg.max_tokens if cfg else None),
        tools=[*(body.tools or []), *(body.tool_ids or [])],
        block_ids=body.block_ids,
    )
    state = await _initial_rules(service, state, rules)
    if body.tags:
        await service.set_agent_tags(state.id, body.tags)
    if body.identity_ids:
        await _set_identities(service, state.id, body.identity_ids)
    return await agent_out(service, state)


async def _initial_rules(service: AgentService, state: MemAgentState, rules: list[ToolRule]) -> MemAgentState:
    """A new agent's tool rules: those sent, and approval for the tools that ask for it by
    default. Rules naming tools it lacks undo the creation (400)."""
    tools = await service.list_agent_tools(state.id)
    rules = rules + [ToolRule(type="requires_approval", tool_name=t.name) for t in tools
                     if t.default_requires_approval]
    if not rules:
        return state
    try:
        return await service.set_tool_rules(state.id, rules)
    except InvalidRequestError:
        await service.delete_agent(state.id)
        raise


@router.get("/v1/agents/", response_model=list[ls.AgentState])
@router.get("/v1/agents", response_model=list[ls.AgentState], include_in_schema=False)
async def list_agents(
    service: Service,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Literal["asc", "desc"] | None = None,
    ascending: bool | None = None,
    name: str | None = None,
    query_text: str | None = None,
    tags: Annotated[list[str] | None, Query()] = None,
    match_all_tags: bool = False,
    identity_id: str | None = None,
    identifier_keys: Annotated[list[str] | None, Query()] = None,
) -> list[ls.AgentState]:
    """Agents, newest first by default; ``after``/``before`` are agent ids. ``tags`` keeps
    agents with any of them (all, with ``match_all_tags``); ``identity_id`` and
    ``identifier_keys`` keep the agents linked to those identities."""
    agents = await service.find_agents(tags=tags, match_all_tags=match_all_tags,
                                       identity_id=identity_id, identifier_keys=identifier_keys)
    if name is not None:
        agents = [a for a in agents if a.name == name]
    if query_text:
        agents = [a for a in agents if query_text.lower() in a.name.lower()]
    direction: Literal["asc", "desc"] = order or ("asc" if ascending else "desc")
    chosen = page(agents, lambda a: a.id, after=after, before=before, limit=limit, order=direction, what="agent")
    return [await agent_out(service, a) for a in chosen]


@router.get("/v1/agents/{agent_id}", response_model=ls.AgentState)
async def retrieve_agent(agent_id: str, service: Service) -> ls.AgentState:
    """One agent by id (or name)."""
    return await agent_out(service, await service.get_agent(agent_id))


@router.patch("/v1/agents/{agent_id}", response_model=ls.AgentState)
async def update_agent(agent_id: str, body: ls.UpdateAgentRequest, service: Service) -> ls.AgentState:
    """Rename an agent or change its system prompt, model, context window, output limit or
    custom tools (``tool_ids``: exactly these, besides the base tools). ``llm_config`` is
    read as on create; a model naming a base URL the server does not allow answers 400."""
    if body.block_ids is not None:
        raise NotImplementedByServer("changing an agent's blocks by id is not supported")
    cfg = body.llm_config
    changes: dict[str, Any] = {
        "name": body.name, "instructions": body.system,
        "model": body.model or (_spec(cfg) if cfg else None),
        "context_window": body.context_window_limit or (cfg.context_window if cfg else None),
        "max_output_tokens": body.max_tokens or (cfg.max_tokens if cfg else None),
    }
    current = await service.get_agent(agent_id)
    if changes["model"] is not None:  # before tool_ids change anything
        service.kernel.check_model(changes["model"])
    await _labels(service, body.tags, body.identity_ids)
    rules = tool_rules_in(body.tool_rules) if body.tool_rules is not None else None
    if body.tool_ids is not None:
        await service.set_agent_tools(current.id, body.tool_ids)
    if rules is not None:  # after tool_ids: the rules may name the tools just attached
        await service.set_tool_rules(current.id, rules)
    state = await service.update_agent(current.id, **changes)
    if body.tags is not None:  # checked above; written once the agent's own update succeeded
        await service.set_agent_tags(state.id, body.tags)
    if body.identity_ids is not None:
        await _set_identities(service, state.id, body.identity_ids)
    return await agent_out(service, state)


@router.delete("/v1/agents/{agent_id}")
async def delete_agent(agent_id: str, service: Service) -> dict[str, str]:
    """Delete an agent with everything it owns."""
    state = await service.get_agent(agent_id)
    await service.delete_agent(state.id)
    return {"deleted": state.id}


@router.get("/v1/agents/{agent_id}/context", response_model=ContextReport, tags=["memgpt"])
async def context_window(agent_id: str, service: Service) -> ContextReport:
    """(memgpt) Tokens per section of the agent's context window, as the next request sees it."""
    return await service.context_window(agent_id)
