"""Letta's /v1/mcp-servers: the caller's MCP servers (stdio, SSE, streamable HTTP), their
tools, refresh and run. Secret values (env, auth_token, custom_headers) are never returned:
they read as ``********``, which sent back in a modify keeps the stored value."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.errors import InvalidRequestError
from memgpt.formats import letta as ls
from memgpt.server.deps import Service
from memgpt.tools.mcp import McpServer

router = APIRouter(tags=["mcp_servers"])

Kind = Literal["stdio", "sse", "streamable_http"]


class McpConfig(BaseModel):
    """One config of any transport (Letta's three create/update params, merged)."""

    model_config = ConfigDict(extra="ignore")

    mcp_server_type: Kind | None = None
    command: str | None = Field(default=None, max_length=4096)
    args: list[str] | None = None
    env: dict[str, str] | None = None
    server_url: str | None = Field(default=None, max_length=4096)
    auth_header: str | None = Field(default=None, max_length=200)
    auth_token: str | None = Field(default=None, max_length=8192)
    custom_headers: dict[str, str] | None = None

    def kind(self) -> Kind:
        """The transport: as named, else stdio for a command, else streamable HTTP."""
        if self.mcp_server_type is not None:
            return self.mcp_server_type
        return "stdio" if self.command is not None else "streamable_http"

    def fields(self) -> dict[str, Any]:
        """The fields given, as the service's keyword arguments."""
        return self.model_dump(exclude={"mcp_server_type"}, exclude_none=True)


class CreateMcpServer(BaseModel):
    """POST /v1/mcp-servers/."""

    server_name: str = Field(min_length=1, max_length=200)
    config: McpConfig


class UpdateMcpServer(BaseModel):
    """PATCH /v1/mcp-servers/{id}."""

    server_name: str | None = Field(default=None, min_length=1, max_length=200)
    config: McpConfig | None = None


class McpServerOut(BaseModel):
    """A server in Letta's shape (Stdio/Sse/StreamableHTTP McpServer; absent fields omitted)."""

    id: str
    server_name: str
    mcp_server_type: Kind
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None


class RunMcpTool(BaseModel):
    """POST .../tools/{mcp_tool_id}/run."""

    args: dict[str, Any] = Field(default_factory=dict)


class ToolExecutionResult(BaseModel):
    """Letta's ToolExecutionResult."""

    status: Literal["success", "error"]
    func_return: Any = None
    stdout: list[str] = Field(default_factory=list)
    stderr: list[str] = Field(default_factory=list)


def server_out(server: McpServer) -> McpServerOut:
    """A (masked) server in Letta's shape."""
    if server.kind == "stdio":
        return McpServerOut(id=server.id, server_name=server.name, mcp_server_type="stdio",
                            command=server.command, args=server.args, env=server.env)
    return McpServerOut(
        id=server.id, server_name=server.name, mcp_server_type=server.kind, server_url=server.server_url,
        auth_header=server.auth_header, auth_token=server.auth_token, custom_headers=server.custom_headers,
    )


@router.post("/v1/mcp-servers/", response_model=McpServerOut, response_model_exclude_none=True)
@router.post("/v1/mcp-servers", response_model=McpServerOut, response_model_exclude_none=True,
             include_in_schema=False)
async def create_mcp_server(body: CreateMcpServer, service: Service) -> McpServerOut:
    """Add an MCP server (stored only: it is contacted when its tools are listed or run).
    A stdio server is refused (403) where custom tools are off."""
    server = await service.create_mcp_server(body.server_name, body.config.kind(), **body.config.fields())
    return server_out(server)


@router.get("/v1/mcp-servers/", response_model=list[McpServerOut], response_model_exclude_none=True)
@router.get("/v1/mcp-servers", response_model=list[McpServerOut], response_model_exclude_none=True,
            include_in_schema=False)
async def list_mcp_servers(service: Service) -> list[McpServerOut]:
    """The caller's MCP servers, oldest first."""
    return [server_out(s) for s in await service.list_mcp_servers()]


@router.get("/v1/mcp-servers/{mcp_server_id}", response_model=McpServerOut, response_model_exclude_none=True)
async def retrieve_mcp_server(mcp_server_id: str, service: Service) -> McpServerOut:
    """One server by id (or name)."""
    return server_out(await service.get_mcp_server(mcp_server_id))


@router.patch("/v1/mcp-servers/{mcp_server_id}", response_model=McpServerOut, response_model_exclude_none=True)
async def modify_mcp_server(mcp_server_id: str, body: UpdateMcpServer, service: Service) -> McpServerOut:
    """Rename a server or change its config (its type cannot change)."""
    changes: dict[str, Any] = body.config.fields() if body.config else {}
    kind = body.config.mcp_server_type if body.config else None
    if kind is not None and kind != (await service.get_mcp_server(mcp_server_id)).kind:
        raise InvalidRequestError(f"an MCP server's type cannot change (to {kind}): create a new server")
    return server_out(await service.update_mcp_server(mcp_server_id, name=body.server_name, **changes))


@router.delete("/v1/mcp-servers/{mcp_server_id}", status_code=204)
async def delete_mcp_server(mcp_server_id: str, service: Service) -> Response:
    """Delete a server; agents lose its tools."""
    await service.delete_mcp_server(mcp_server_id)
    return Response(status_code=204)


@router.patch("/v1/mcp-servers/{mcp_server_id}/refresh")
async def refresh_mcp_server(mcp_server_id: str, service: Service, agent_id: str | None = None) -> dict[str, Any]:
    """List the server's tools now: new ones are added, changed ones updated, gone ones
    deleted (and taken from agents). 502 if the server cannot be reached."""
    return (await service.refresh_mcp_server(mcp_server_id, agent_id)).model_dump()


@router.get("/v1/mcp-servers/{mcp_server_id}/tools", response_model=list[ls.Tool])
async def list_mcp_tools(mcp_server_id: str, service: Service) -> list[ls.Tool]:
    """The server's tools (listed from it if none are stored yet)."""
    return [ls.tool_out(t) for t in await service.list_mcp_tools(mcp_server_id)]


@router.get("/v1/mcp-servers/{mcp_server_id}/tools/{mcp_tool_id}", response_model=ls.Tool)
async def retrieve_mcp_tool(mcp_server_id: str, mcp_tool_id: str, service: Service) -> ls.Tool:
    """One of the server's tools by id or name."""
    return ls.tool_out(await service.get_mcp_tool(mcp_server_id, mcp_tool_id))


@router.post("/v1/mcp-servers/{mcp_server_id}/tools/{mcp_tool_id}/run", response_model=ToolExecutionResult)
async def run_mcp_tool(
    mcp_server_id: str, mcp_tool_id: str, service: Service, body: RunMcpTool | None = None
) -> ToolExecutionResult:
    """Call the tool with these arguments; a failing server or tool is ``status: error``."""
    run = await service.run_mcp_tool(mcp_server_id, mcp_tool_id, body.args if body else {})
    return ToolExecutionResult(status="error" if run.is_error else "success", func_return=run.content)
