"""MCP servers of the caller: their configs (secrets sealed, masked on read), their tools
(listed from the server and stored, so agents can have them), refresh, and running a tool.

Creating or changing a **stdio** server needs what a custom tool needs (it names a command
this host will run): ``check_custom_tools_allowed``. An SSE/HTTP server's URL is checked for
private addresses unless the operator allows them (``mcp_limits(...).private_urls``).
"""

from __future__ import annotations

import logging
from typing import Any

from memgpt.core.errors import InvalidRequestError, NotFoundError, ToolError
from memgpt.services.base import ServiceBase
from memgpt.tools.mcp import (
    MASK, McpRefresh, McpRun, McpServer, McpTool, SecretBox, call_server_tool, check_config,
    check_url_host, list_server_tools, mcp_limits, mcp_tool,
)

log = logging.getLogger("memgpt.services")

SECRET_FIELDS = ("env", "auth_token", "custom_headers")


def _keep_masked(new: Any, old: Any) -> Any:
    """A secret as sent back: ``MASK`` (what the API showed) keeps the stored value."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: old.get(k, v) if v == MASK else v for k, v in new.items()}
    return old if new == MASK else new


class McpApi(ServiceBase):
    """The caller's MCP servers and their tools."""

    @property
    def _box(self) -> SecretBox:
        return SecretBox(self.settings.home)

    async def _checked(self, server: McpServer) -> McpServer:
        """The server if its config may be stored here; else InvalidRequestError/FeatureDisabledError."""
        check_config(server)
        if server.kind == "stdio":
            self.check_custom_tools_allowed()
        else:
            await check_url_host(server.server_url or "", private=mcp_limits(self.settings).private_urls)
        return server

    async def _server(self, server: str) -> McpServer:
        """One of the caller's servers by id or name, secrets decrypted."""
        return self._box.open(await self.kernel.storage.mcp.get(self.owner, server))

    async def create_mcp_server(
        self, name: str, kind: str, *, command: str | None = None, args: list[str] | None = None,
        env: dict[str, str] | None = None, server_url: str | None = None, auth_header: str | None = None,
        auth_token: str | None = None, custom_headers: dict[str, str] | None = None,
    ) -> McpServer:
        """Store a new MCP server (nothing is started or contacted yet); secrets masked.
        ``kind`` is stdio (``command``, ``args``, ``env``), sse or streamable_http
        (``server_url``, ``auth_header``/``auth_token``, ``custom_headers``)."""
        config = {k: v for k, v in {
            "command": command, "args": args, "env": env, "server_url": server_url, "auth_header": auth_header,
            "auth_token": auth_token, "custom_headers": custom_headers}.items() if v is not None}
        try:
            server = McpServer(owner=self.owner, name=name.strip(), kind=kind, **config)
        except ValueError as exc:
            raise InvalidRequestError(f"invalid MCP server config: {exc}") from exc
        await self.kernel.storage.mcp.create(self._box.seal(await self._checked(server)))
        return (await self.kernel.storage.mcp.get(self.owner, server.id)).masked()

    async def list_mcp_servers(self) -> list[McpServer]:
        """The caller's MCP servers, oldest first, secrets masked."""
        return [s.masked() for s in await self.kernel.storage.mcp.all(self.owner)]

    async def get_mcp_server(self, mcp_server: str) -> McpServer:
        """One server by id or name, secrets masked."""
        return (await self.kernel.storage.mcp.get(self.owner, mcp_server)).masked()

    async def update_mcp_server(
        self, mcp_server: str, *, name: str | None = None, command: str | None = None,
        args: list[str] | None = None, env: dict[str, str] | None = None, server_url: str | None = None,
        auth_header: str | None = None, auth_token: str | None = None,
        custom_headers: dict[str, str] | None = None,
    ) -> McpServer:
        """Change a server's name or config (fields of its kind; secrets sent back masked keep
        their stored values); agents with its tools use the new config from their next call."""
        current = await self._server(mcp_server)
        update = {k: v for k, v in {
            "command": command, "args": args, "env": env, "server_url": server_url, "auth_header": auth_header,
            "auth_token": auth_token, "custom_headers": custom_headers}.items() if v is not None}
        for field in SECRET_FIELDS:
            if field in update:
                update[field] = _keep_masked(update[field], getattr(current, field))
        if name is not None:
            update["name"] = name.strip()
        try:
            new = McpServer.model_validate({**current.model_dump(), **update})
        except ValueError as exc:
            raise InvalidRequestError(f"invalid MCP server config: {exc}") from exc
        await self.kernel.storage.mcp.save(self._box.seal(await self._checked(new)))
        return await self.get_mcp_server(new.id)

    async def delete_mcp_server(self, mcp_server: str) -> None:
        """Delete a server and its tools (taken from every agent that had them)."""
        found = await self.kernel.storage.mcp.get(self.owner, mcp_server)
        await self.kernel.storage.mcp.delete(self.owner, found.id)

    async def refresh_mcp_server(self, mcp_server: str, agent: str | None = None) -> McpRefresh:
        """List the server's tools now and store them: new ones added, changed ones updated
        (ids kept), vanished ones deleted and detached. McpUnavailableError (502) if it fails."""
        if agent is not None:
            await self.get_agent(agent)  # Letta scopes a refresh to an agent; we check it is ours
        found = await self._server(mcp_server)
        if found.kind == "stdio":
            self.check_custom_tools_allowed()
        listed = await list_server_tools(found, mcp_limits(self.settings))
        old = {t.name: t for t in await self.kernel.storage.mcp.tools(found)}
        new = [mcp_tool(found, t, existing=old.get(t.name)) for t in listed]
        names = [t.name for t in new]
        if len(set(names)) != len(names):
            new = list({t.name: t for t in new}.values())
        await self.kernel.storage.mcp.replace_tools(found, new)
        return McpRefresh(
            added=[t.name for t in new if t.name not in old],
            updated=[t.name for t in new if t.name in old and t.spec != old[t.name].spec],
            deleted=[name for name in old if name not in {t.name for t in new}],
        )

    async def list_mcp_tools(self, mcp_server: str) -> list[McpTool]:
        """The server's tools as last listed; listed from the server first if none are stored."""
        found = await self.kernel.storage.mcp.get(self.owner, mcp_server)
        tools = await self.kernel.storage.mcp.tools(found)
        if not tools:
            await self.refresh_mcp_server(found.id)
            tools = await self.kernel.storage.mcp.tools(found)
        return tools

    async def get_mcp_tool(self, mcp_server: str, mcp_tool: str) -> McpTool:
        """One of the server's tools by id or name."""
        for candidate in await self.list_mcp_tools(mcp_server):
            if mcp_tool in (candidate.id, candidate.name):
                return candidate
        raise NotFoundError(f"no tool {mcp_tool!r} on MCP server {mcp_server!r}")

    async def run_mcp_tool(self, mcp_server: str, mcp_tool: str, args: dict[str, Any] | None = None) -> McpRun:
        """Call one of the server's tools with these arguments, outside any agent's turn; a
        failure (of the server or the tool) is ``is_error``, not an exception."""
        found = await self._server(mcp_server)
        chosen = await self.get_mcp_tool(found.id, mcp_tool)
        if found.kind == "stdio":
            self.check_custom_tools_allowed()
        try:
            text = await call_server_tool(found, chosen.name, dict(args or {}), mcp_limits(self.settings))
        except ToolError as exc:
            return McpRun(content=str(exc), is_error=True)
        return McpRun(content=text, is_error=False)
