"""MCP servers for ``memgpt.MemGPT`` (``LocalMcp``) and ``memgpt.Client`` (``ClientMcp``):
the AgentService methods of ``memgpt.services.mcp``, blocking. Attach an MCP tool to an
agent by its id with ``attach_tool``, like any tool."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import quote

from memgpt.core.mcp import McpRefresh, McpRun, McpServer, McpTool

T = TypeVar("T")


def _q(part: str) -> str:
    return quote(part, safe="")


def _present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class LocalMcp:
    """MCP servers on the local service (MemGPT mixes this in)."""

    service: Any

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    def create_mcp_server(
        self, name: str, kind: str, *, command: str | None = None, args: list[str] | None = None,
        env: dict[str, str] | None = None, server_url: str | None = None, auth_header: str | None = None,
        auth_token: str | None = None, custom_headers: dict[str, str] | None = None,
    ) -> McpServer:
        """Add an MCP server: stdio (command, args, env) or sse/streamable_http (server_url...)."""
        made: McpServer = self._run(self.service.create_mcp_server(
            name, kind, command=command, args=args, env=env, server_url=server_url, auth_header=auth_header,
            auth_token=auth_token, custom_headers=custom_headers))
        return made

    def list_mcp_servers(self) -> list[McpServer]:
        """Your MCP servers (secrets masked)."""
        found: list[McpServer] = self._run(self.service.list_mcp_servers())
        return found

    def get_mcp_server(self, mcp_server: str) -> McpServer:
        """One MCP server by id or name (secrets masked)."""
        found: McpServer = self._run(self.service.get_mcp_server(mcp_server))
        return found

    def update_mcp_server(
        self, mcp_server: str, *, name: str | None = None, command: str | None = None,
        args: list[str] | None = None, env: dict[str, str] | None = None, server_url: str | None = None,
        auth_header: str | None = None, auth_token: str | None = None,
        custom_headers: dict[str, str] | None = None,
    ) -> McpServer:
        """Rename an MCP server or change its config (a masked secret sent back is kept)."""
        changed: McpServer = self._run(self.service.update_mcp_server(
            mcp_server, name=name, command=command, args=args, env=env, server_url=server_url,
            auth_header=auth_header, auth_token=auth_token, custom_headers=custom_headers))
        return changed

    def delete_mcp_server(self, mcp_server: str) -> None:
        """Delete an MCP server; agents lose its tools."""
        self._run(self.service.delete_mcp_server(mcp_server))

    def refresh_mcp_server(self, mcp_server: str, agent: str | None = None) -> McpRefresh:
        """List the server's tools now and store them."""
        done: McpRefresh = self._run(self.service.refresh_mcp_server(mcp_server, agent))
        return done

    def list_mcp_tools(self, mcp_server: str) -> list[McpTool]:
        """The server's tools."""
        found: list[McpTool] = self._run(self.service.list_mcp_tools(mcp_server))
        return found

    def get_mcp_tool(self, mcp_server: str, mcp_tool: str) -> McpTool:
        """One of the server's tools by id or name."""
        found: McpTool = self._run(self.service.get_mcp_tool(mcp_server, mcp_tool))
        return found

    def run_mcp_tool(self, mcp_server: str, mcp_tool: str, args: dict[str, Any] | None = None) -> McpRun:
        """Call one of the server's tools."""
        done: McpRun = self._run(self.service.run_mcp_tool(mcp_server, mcp_tool, args))
        return done


class ClientMcp:
    """MCP servers over HTTP (Client mixes this in)."""

    def _get(self, kind: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def create_mcp_server(
        self, name: str, kind: str, *, command: str | None = None, args: list[str] | None = None,
        env: dict[str, str] | None = None, server_url: str | None = None, auth_header: str | None = None,
        auth_token: str | None = None, custom_headers: dict[str, str] | None = None,
    ) -> McpServer:
        """Add an MCP server: stdio (command, args, env) or sse/streamable_http (server_url...)."""
        body = _present(name=name, kind=kind, command=command, args=args, env=env, server_url=server_url,
                        auth_header=auth_header, auth_token=auth_token, custom_headers=custom_headers)
        return self._get(McpServer, "POST", "/mcp-servers", json=body)

    def list_mcp_servers(self) -> list[McpServer]:
        """Your MCP servers (secrets masked)."""
        return self._get(list[McpServer], "GET", "/mcp-servers")

    def get_mcp_server(self, mcp_server: str) -> McpServer:
        """One MCP server by id or name (secrets masked)."""
        return self._get(McpServer, "GET", f"/mcp-servers/{_q(mcp_server)}")

    def update_mcp_server(
        self, mcp_server: str, *, name: str | None = None, command: str | None = None,
        args: list[str] | None = None, env: dict[str, str] | None = None, server_url: str | None = None,
        auth_header: str | None = None, auth_token: str | None = None,
        custom_headers: dict[str, str] | None = None,
    ) -> McpServer:
        """Rename an MCP server or change its config (a masked secret sent back is kept)."""
        body = _present(name=name, command=command, args=args, env=env, server_url=server_url,
                        auth_header=auth_header, auth_token=auth_token, custom_headers=custom_headers)
        return self._get(McpServer, "PATCH", f"/mcp-servers/{_q(mcp_server)}", json=body)

    def delete_mcp_server(self, mcp_server: str) -> None:
        """Delete an MCP server; agents lose its tools."""
        self._call("DELETE", f"/mcp-servers/{_q(mcp_server)}")

    def refresh_mcp_server(self, mcp_server: str, agent: str | None = None) -> McpRefresh:
        """List the server's tools now and store them."""
        return self._get(McpRefresh, "POST", f"/mcp-servers/{_q(mcp_server)}/refresh",
                         params=_present(agent=agent))

    def list_mcp_tools(self, mcp_server: str) -> list[McpTool]:
        """The server's tools."""
        return self._get(list[McpTool], "GET", f"/mcp-servers/{_q(mcp_server)}/tools")

    def get_mcp_tool(self, mcp_server: str, mcp_tool: str) -> McpTool:
        """One of the server's tools by id or name."""
        return self._get(McpTool, "GET", f"/mcp-servers/{_q(mcp_server)}/tools/{_q(mcp_tool)}")

    def run_mcp_tool(self, mcp_server: str, mcp_tool: str, args: dict[str, Any] | None = None) -> McpRun:
        """Call one of the server's tools."""
        return self._get(McpRun, "POST", f"/mcp-servers/{_q(mcp_server)}/tools/{_q(mcp_tool)}/run",
                         json={"args": args or {}})
