"""Letta's /v1/tools (base tools and the caller's custom tools) and an agent's tools."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import ToolDef
from memgpt.formats import letta as ls
from memgpt.formats import letta_tools as lt
from memgpt.server.deps import Service
from memgpt.server.paging import page
from memgpt.server.letta.agents import agent_out

router = APIRouter(tags=["tools"])


class _ToolFields(BaseModel):
    """What the Letta SDK sends for a tool; fields we have no use for are ignored."""

    model_config = ConfigDict(extra="ignore")

    description: str | None = None
    tags: list[str] | None = None
    return_char_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    source_type: str | None = None
    pip_requirements: list[Any] | None = None
    npm_requirements: list[Any] | None = None
    default_requires_approval: bool | None = None


class CreateToolRequest(_ToolFields):
    """POST and PUT /v1/tools/: a tool from Python source."""

    source_code: str


class UpdateToolRequest(_ToolFields):
    """PATCH /v1/tools/{tool_id}."""

    source_code: str | None = None


class ToolSearchResult(BaseModel):
    """One tool search hit (``combined_score`` in [0, 1]; ``fts_rank`` its place)."""

    tool: ls.Tool
    combined_score: float
    embedded_text: str | None = None
    fts_rank: int | None = None
    vector_rank: int | None = None


def _options(body: _ToolFields) -> dict[str, Any]:
    """The service's options for a request. The schema always comes from the source, so of a
    ``json_schema`` only its ``name`` (which function) and ``description`` are used."""
    if body.source_type not in (None, "python"):
        raise InvalidRequestError(f"source_type {body.source_type!r} is not supported: tools are Python")
    if body.pip_requirements or body.npm_requirements:
        raise InvalidRequestError(
            "pip/npm requirements are not supported: tools run with the server's Python packages"
        )
    schema = body.json_schema or {}
    description = body.description or schema.get("description")
    return {
        "description": description if isinstance(description, str) else None,
        "tags": body.tags, "return_char_limit": body.return_char_limit,
        "default_requires_approval": body.default_requires_approval,
    }


def _function(body: _ToolFields) -> str | None:
    name = (body.json_schema or {}).get("name")
    return name if isinstance(name, str) else None


def _split(values: list[str] | None) -> set[str]:
    """Repeated query values, each of which may also be comma-separated."""
    return {v.strip() for item in values or [] for v in item.split(",") if v.strip()}


def _letta_type(tool: ToolDef) -> str:
    return ls.tool_out(tool).tool_type


@router.get("/v1/tools/", response_model=list[ls.Tool])
@router.get("/v1/tools", response_model=list[ls.Tool], include_in_schema=False)
async def list_tools(
    service: Service,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    order: Literal["asc", "desc"] = "asc",
    name: str | None = None,
    names: Annotated[list[str] | None, Query()] = None,
    search: str | None = None,
    tool_ids: Annotated[list[str] | None, Query()] = None,
    tool_types: Annotated[list[str] | None, Query()] = None,
    exclude_tool_types: Annotated[list[str] | None, Query()] = None,
    return_only_letta_tools: bool | None = None,
) -> list[ls.Tool]:
    """The base tools and the caller's custom tools, filtered and paged."""
    tools = await service.list_tools()
    wanted_names, wanted_ids = _split(names), _split(tool_ids)
    types, excluded = _split(tool_types), _split(exclude_tool_types)
    keep = [
        t for t in tools
        if (name is None or t.name == name) and (not wanted_names or t.name in wanted_names)
        and (not wanted_ids or t.id in wanted_ids)
        and (not search or search.lower() in t.name.lower())
        and (not types or _letta_type(t) in types) and _letta_type(t) not in excluded
        and (not return_only_letta_tools or t.builtin)
    ]
    chosen = page(keep, lambda t: t.id, after=after, before=before, limit=limit, order=order, what="tool")
    return [ls.tool_out(t) for t in chosen]


@router.get("/v1/tools/{tool_id}", response_model=ls.Tool)
async def retrieve_tool(tool_id: str, service: Service) -> ls.Tool:
    """One tool by id (or name)."""
    return ls.tool_out(await service.get_tool(tool_id))


@router.post("/v1/tools/", response_model=ls.Tool)
@router.post("/v1/tools", response_model=ls.Tool, include_in_schema=False)
async def create_tool(body: CreateToolRequest, service: Service) -> ls.Tool:
    """A custom tool from Python source: the last top-level function (or ``json_schema.name``).

    The source is parsed, not run: its schema comes from the signature's annotations and the
    Google-style docstring. Bad source answers 400 naming the problem; a name already taken
    answers 409.
    """
    tool = await service.create_tool(body.source_code, function=_function(body), **_options(body))
    return ls.tool_out(tool)


@router.put("/v1/tools/", response_model=ls.Tool)
@router.put("/v1/tools", response_model=ls.Tool, include_in_schema=False)
async def upsert_tool(body: CreateToolRequest, service: Service) -> ls.Tool:
    """Create a custom tool, or replace the caller's tool of the same name (its id is kept)."""
    tool = await service.upsert_tool(body.source_code, function=_function(body), **_options(body))
    return ls.tool_out(tool)


@router.patch("/v1/tools/{tool_id}", response_model=ls.Tool)
async def modify_tool(tool_id: str, body: UpdateToolRequest, service: Service) -> ls.Tool:
    """Change a custom tool's source, description, tags or return limit (base tools: 400)."""
    tool = await service.update_tool(tool_id, source_code=body.source_code, **_options(body))
    return ls.tool_out(tool)


@router.delete("/v1/tools/{tool_id}")
async def delete_tool(tool_id: str, service: Service) -> dict[str, str]:
    """Delete a custom tool; agents that had it lose it."""
    tool = await service.get_tool(tool_id)
    await service.delete_tool(tool.id)
    return {"deleted": tool.id}


@router.get("/v1/agents/{agent_id}/tools", response_model=list[ls.Tool])
async def list_agent_tools(
    agent_id: str,
    service: Service,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    order: Literal["asc", "desc"] = "asc",
) -> list[ls.Tool]:
    """The tools the agent's model is offered: the base tools, then its custom tools."""
    tools = await service.list_agent_tools(agent_id)
    chosen = page(tools, lambda t: t.id, after=after, before=before, limit=limit, order=order, what="tool")
    return [ls.tool_out(t) for t in chosen]


@router.patch("/v1/agents/{agent_id}/tools/attach/{tool_id}", response_model=ls.AgentState)
async def attach_tool(agent_id: str, tool_id: str, service: Service) -> ls.AgentState:
    """Give the agent one of the caller's custom tools (a base tool: nothing to do)."""
    return await agent_out(service, await service.attach_tool(agent_id, tool_id))


@router.patch("/v1/agents/{agent_id}/tools/detach/{tool_id}", response_model=ls.AgentState)
async def detach_tool(agent_id: str, tool_id: str, service: Service) -> ls.AgentState:
    """Take a custom tool from the agent (base tools cannot be detached: 400)."""
    return await agent_out(service, await service.detach_tool(agent_id, tool_id))


@router.post("/v1/tools/search", response_model=list[ToolSearchResult])
async def search_tools(body: lt.ToolSearchRequest, service: Service) -> list[ToolSearchResult]:
    """The caller's tools (base tools included) that best match the query, best first: a plain
    score over name, tags and description (``search_mode`` is ignored; no embeddings). No
    query lists every tool the filters keep."""
    types = set(body.tool_types or [])
    hits = await service.search_tools(body.query, tags=body.tags, limit=1000)
    kept = [h for h in hits if not types or _letta_type(h.tool) in types][: body.limit]
    return [ToolSearchResult(tool=ls.tool_out(h.tool), combined_score=h.score, fts_rank=n + 1,
                             embedded_text=f"{h.tool.name}: {h.tool.spec.description}")
            for n, h in enumerate(kept)]


@router.post("/v1/agents/{agent_id}/tools/{tool_name}/run", response_model=lt.ToolExecutionResult)
async def run_tool(agent_id: str, tool_name: str, body: lt.RunToolRequest, service: Service) -> lt.ToolExecutionResult:
    """Run one of the agent's tools now with these arguments, outside a turn. Its memory edits
    commit under the agent's lease like a step's; nothing joins the message history. An
    unknown tool is a 404, arguments its schema refuses a 400, the tool failing a result with
    status ``error``. Approval rules do not apply: the caller is the one who would approve."""
    run = await service.run_tool(agent_id, tool_name, body.args)
    return lt.ToolExecutionResult(status="error" if run.is_error else "success", func_return=run.content)


@router.patch("/v1/agents/{agent_id}/tools/approval/{tool_name}", response_model=ls.AgentState)
async def update_approval(
    agent_id: str, tool_name: str, service: Service, body: lt.UpdateApprovalRequest | None = None,
    requires_approval: bool | None = None,
) -> ls.AgentState:
    """Whether the agent's calls of this tool wait for a user's approval (a
    ``requires_approval`` tool rule). The body's ``requires_approval`` wins over the query's."""
    wanted = body.requires_approval if body is not None and body.requires_approval is not None else requires_approval
    if wanted is None:
        raise InvalidRequestError("pass requires_approval (true or false) in the body")
    return await agent_out(service, await service.set_tool_approval(agent_id, tool_name, wanted))
