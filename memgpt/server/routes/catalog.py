"""Letta's tools and models, and a health check."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from memgpt import __version__
from memgpt.errors import NotFoundError
from memgpt.server import letta_schemas as ls
from memgpt.server.deps import Service
from memgpt.server.errors import NotImplementedByServer
from memgpt.server.paging import page
from memgpt.service import AgentService

router = APIRouter()

CUSTOM_TOOLS = (
    "custom tools are not supported yet: this server runs only its base memory tools, which "
    "every agent has"
)


def _tools(service: AgentService) -> list[ls.Tool]:
    return [ls.tool_out(t) for t in service.tools.schemas()]


@router.get("/v1/tools/", response_model=list[ls.Tool], tags=["tools"])
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
) -> list[ls.Tool]:
    """The tools agents can call (our base tools)."""
    tools = _tools(service)
    if name is not None:
        tools = [t for t in tools if t.name == name]
    if names:
        tools = [t for t in tools if t.name in names]
    if search:
        tools = [t for t in tools if search.lower() in t.name.lower()]
    return page(tools, lambda t: t.id, after=after, before=before, limit=limit, order=order, what="tool")


@router.get("/v1/tools/{tool_id}", response_model=ls.Tool, tags=["tools"])
async def retrieve_tool(tool_id: str, service: Service) -> ls.Tool:
    """One tool by id (or name)."""
    for tool in _tools(service):
        if tool_id in (tool.id, tool.name):
            return tool
    raise NotFoundError(f"no tool {tool_id!r}")


@router.post("/v1/tools/", tags=["tools"], status_code=501)
@router.put("/v1/tools/", tags=["tools"], status_code=501)
@router.post("/v1/tools", include_in_schema=False)
@router.put("/v1/tools", include_in_schema=False)
async def create_tool(service: Service) -> None:
    """Not implemented: creating tools from Python source (answers 501)."""
    raise NotImplementedByServer(CUSTOM_TOOLS)


@router.get("/v1/agents/{agent_id}/tools", response_model=list[ls.Tool], tags=["tools"])
async def list_agent_tools(agent_id: str, service: Service) -> list[ls.Tool]:
    """The tools an agent can call (every agent has the base tools)."""
    await service.get_agent(agent_id)
    return _tools(service)


@router.patch("/v1/agents/{agent_id}/tools/attach/{tool_id}", tags=["tools"], status_code=501)
@router.patch("/v1/agents/{agent_id}/tools/detach/{tool_id}", tags=["tools"], status_code=501)
async def attach_tool(agent_id: str, tool_id: str, service: Service) -> None:
    """Not implemented: attaching or detaching tools (answers 501; unknown agents 404)."""
    await service.get_agent(agent_id)
    raise NotImplementedByServer(CUSTOM_TOOLS)


@router.get("/v1/models/", response_model=list[ls.ModelOut], tags=["models"])
@router.get("/v1/models", response_model=list[ls.ModelOut], include_in_schema=False)
async def list_models(service: Service) -> list[ls.ModelOut]:
    """The models this server is configured with; any ``provider/model[@base_url]`` also works."""
    s = service.settings
    return [ls.model_out(n, s.context_window, s.max_default_window) for n in service.model_names()]


@router.get("/v1/models/embedding", response_model=list[ls.EmbeddingModel], tags=["models"])
async def list_embedding_models(service: Service) -> list[ls.EmbeddingModel]:
    """The embedding model this server uses for archival memory."""
    return [ls.embedding_model(service.embedder)]


@router.get("/v1/health/", tags=["health"])
@router.get("/v1/health", include_in_schema=False)
async def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok", "version": __version__}
