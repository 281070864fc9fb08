"""memgpt's own MCP routes under /memgpt/v1 (``memgpt.Client``): servers in memgpt's shape
(``McpServer``, secrets masked), their tools, refresh and run."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from memgpt.server.deps import Service
from memgpt.tools.mcp import McpRefresh, McpRun, McpServer, McpTool

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateMcpServer(_Body):
    """Arguments of AgentService.create_mcp_server."""

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["stdio", "sse", "streamable_http"]
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None


class UpdateMcpServer(_Body):
    """Arguments of AgentService.update_mcp_server (``********`` keeps a stored secret)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None


class RunTool(_Body):
    """Arguments of a tool run."""

    args: dict[str, Any] | None = None


@router.post("/mcp-servers", response_model=McpServer, status_code=201)
async def create_mcp_server(body: CreateMcpServer, service: Service) -> McpServer:
    """Add an MCP server (stored; contacted when its tools are listed or run)."""
    fields = body.model_dump(exclude={"name", "kind"}, exclude_none=True)
    return await service.create_mcp_server(body.name, body.kind, **fields)


@router.get("/mcp-servers", response_model=list[McpServer])
async def list_mcp_servers(service: Service) -> list[McpServer]:
    """The caller's MCP servers."""
    return await service.list_mcp_servers()


@router.get("/mcp-servers/{mcp_server}", response_model=McpServer)
async def get_mcp_server(mcp_server: str, service: Service) -> McpServer:
    """One MCP server by id or name."""
    return await service.get_mcp_server(mcp_server)


@router.patch("/mcp-servers/{mcp_server}", response_model=McpServer)
async def update_mcp_server(mcp_server: str, body: UpdateMcpServer, service: Service) -> McpServer:
    """Rename a server or change its config."""
    return await service.update_mcp_server(mcp_server, **body.model_dump(exclude_none=True))


@router.delete("/mcp-servers/{mcp_server}", status_code=204)
async def delete_mcp_server(mcp_server: str, service: Service) -> Response:
    """Delete a server; agents lose its tools."""
    await service.delete_mcp_server(mcp_server)
    return Response(status_code=204)


@router.post("/mcp-servers/{mcp_server}/refresh", response_model=McpRefresh)
async def refresh_mcp_server(mcp_server: str, service: Service, agent: str | None = None) -> McpRefresh:
    """List the server's tools now and store them."""
    return await service.refresh_mcp_server(mcp_server, agent)


@router.get("/mcp-servers/{mcp_server}/tools", response_model=list[McpTool])
async def list_mcp_tools(mcp_server: str, service: Service) -> list[McpTool]:
    """The server's tools (attach them to agents by id)."""
    return await service.list_mcp_tools(mcp_server)


@router.get("/mcp-servers/{mcp_server}/tools/{mcp_tool}", response_model=McpTool)
async def get_mcp_tool(mcp_server: str, mcp_tool: str, service: Service) -> McpTool:
    """One of the server's tools by id or name."""
    return await service.get_mcp_tool(mcp_server, mcp_tool)


@router.post("/mcp-servers/{mcp_server}/tools/{mcp_tool}/run", response_model=McpRun)
async def run_mcp_tool(mcp_server: str, mcp_tool: str, body: RunTool, service: Service) -> McpRun:
    """Call one of the server's tools."""
    return await service.run_mcp_tool(mcp_server, mcp_tool, body.args)
