"""MCP servers, the tools they offered, and which agents have them, in SQL (SQLite and
PostgreSQL alike). Servers arrive here with their secrets already sealed (services encrypt)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError

from memgpt.core.errors import AlreadyExistsError, NotFoundError
from memgpt.core.schemas import ToolSchema, utcnow
from memgpt.storage.sql_common import Sessions
from memgpt.storage.tables import AgentMcpToolRow, McpServerRow, McpToolRow, bump_versions
from memgpt.tools.mcp import McpServer, McpTool

_SKIP = {"id", "owner", "name", "kind", "created_at", "updated_at"}


def _server(row: McpServerRow) -> McpServer:
    return McpServer(id=row.id, owner=row.owner, name=row.name, kind=row.kind,
                     created_at=row.created_at, updated_at=row.updated_at, **json.loads(row.config))


def _tool(row: McpToolRow, server_name: str) -> McpTool:
    stored = json.loads(row.input_schema)
    return McpTool(
        id=row.id, name=row.name, spec=ToolSchema.model_validate(stored["spec"]), owner=row.owner,
        tags=[f"mcp:{server_name}"], server_id=row.server_id, server_name=server_name,
        input_schema=stored["input"], created_at=row.created_at, updated_at=row.updated_at,
    )


def _tool_columns(tool: McpTool) -> dict[str, Any]:
    return {
        "server_id": tool.server_id, "owner": tool.owner, "name": tool.name,
        "description": tool.spec.description,
        "input_schema": json.dumps({"input": tool.input_schema, "spec": tool.spec.model_dump()}),
        "created_at": tool.created_at or utcnow(), "updated_at": utcnow(),
    }


def _users_of(tool_ids: Any) -> Any:
    return select(AgentMcpToolRow.agent_id).where(AgentMcpToolRow.tool_id.in_(tool_ids))


class SqlMcpStore:
    """A user's MCP servers and their tools; other users' ids are as good as unknown."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def create(self, server: McpServer) -> None:
        """Store a new server; AlreadyExistsError if its owner has one of that name."""
        now = utcnow()
        try:
            async with self.sessions() as s, s.begin():
                s.add(McpServerRow(
                    id=server.id, owner=server.owner, name=server.name, kind=server.kind,
                    config=server.model_dump_json(exclude=_SKIP), created_at=now, updated_at=now,
                ))
        except IntegrityError as exc:
            raise AlreadyExistsError(f"an MCP server named {server.name!r} already exists") from exc

    async def get(self, owner: str, id_or_name: str) -> McpServer:
        """One of owner's servers by id or name."""
        async with self.sessions() as s:
            row = await s.scalar(select(McpServerRow).where(
                McpServerRow.owner == owner,
                or_(McpServerRow.id == id_or_name, McpServerRow.name == id_or_name),
            ).order_by(McpServerRow.id != id_or_name).limit(1))
        if row is None:
            raise NotFoundError(f"no MCP server {id_or_name!r}")
        return _server(row)

    async def all(self, owner: str) -> list[McpServer]:
        """Owner's servers, oldest first."""
        async with self.sessions() as s:
            rows = await s.scalars(select(McpServerRow).where(McpServerRow.owner == owner)
                                   .order_by(McpServerRow.created_at, McpServerRow.id))
            return [_server(r) for r in rows]

    async def save(self, server: McpServer) -> None:
        """Replace a stored server's settings (by id); its tools' agents see the change."""
        try:
            async with self.sessions() as s, s.begin():
                row = await s.get(McpServerRow, server.id)
                if row is None or row.owner != server.owner:
                    raise NotFoundError(f"no MCP server {server.id!r}")
                row.name, row.kind = server.name, server.kind
                row.config, row.updated_at = server.model_dump_json(exclude=_SKIP), utcnow()
                tool_ids = select(McpToolRow.id).where(McpToolRow.server_id == server.id)
                await s.execute(bump_versions(_users_of(tool_ids)))
        except IntegrityError as exc:
            raise AlreadyExistsError(f"an MCP server named {server.name!r} already exists") from exc

    async def delete(self, owner: str, server_id: str) -> None:
        """Delete one of owner's servers with its tools (detached from every agent)."""
        async with self.sessions() as s, s.begin():
            row = await s.get(McpServerRow, server_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no MCP server {server_id!r}")
            tool_ids = select(McpToolRow.id).where(McpToolRow.server_id == server_id)
            await s.execute(bump_versions(_users_of(tool_ids)))
            await s.execute(delete(AgentMcpToolRow).where(AgentMcpToolRow.tool_id.in_(tool_ids)))
            await s.execute(delete(McpToolRow).where(McpToolRow.server_id == server_id))
            await s.delete(row)

    async def tools(self, server: McpServer) -> list[McpTool]:
        """The server's stored tools, by name."""
        async with self.sessions() as s:
            rows = await s.scalars(select(McpToolRow).where(McpToolRow.server_id == server.id)
                                   .order_by(McpToolRow.name))
            return [_tool(r, server.name) for r in rows]

    async def all_tools(self, owner: str) -> list[McpTool]:
        """Every stored tool of owner's servers, oldest first."""
        async with self.sessions() as s:
            rows = (await s.execute(
                select(McpToolRow, McpServerRow.name).join(McpServerRow, McpServerRow.id == McpToolRow.server_id)
                .where(McpToolRow.owner == owner).order_by(McpToolRow.created_at, McpToolRow.id)
            )).all()
            return [_tool(r, name) for r, name in rows]

    async def replace_tools(self, server: McpServer, tools: list[McpTool]) -> None:
        """Make the server's stored tools exactly these (by name: ids of kept ones stay);
        tools gone from the server are detached from their agents."""
        async with self.sessions() as s, s.begin():
            if await s.get(McpServerRow, server.id) is None:
                raise NotFoundError(f"no MCP server {server.id!r}")
            rows = {r.name: r for r in await s.scalars(
                select(McpToolRow).where(McpToolRow.server_id == server.id))}
            keep = {t.name for t in tools}
            gone = [r.id for name, r in rows.items() if name not in keep]
            if gone:
                await s.execute(bump_versions(_users_of(gone)))
                await s.execute(delete(AgentMcpToolRow).where(AgentMcpToolRow.tool_id.in_(gone)))
                await s.execute(delete(McpToolRow).where(McpToolRow.id.in_(gone)))
            for tool in tools:
                row = rows.get(tool.name)
                if row is None:
                    s.add(McpToolRow(id=tool.id, **_tool_columns(tool)))
                    continue
                for column, value in _tool_columns(tool).items():
                    if column != "created_at":
                        setattr(row, column, value)
            await s.execute(bump_versions(_users_of(select(McpToolRow.id).where(
                McpToolRow.server_id == server.id))))

    async def get_tool(self, owner: str, tool_id: str) -> McpTool:
        """One of owner's MCP tools by id."""
        async with self.sessions() as s:
            found = (await s.execute(
                select(McpToolRow, McpServerRow.name).join(McpServerRow, McpServerRow.id == McpToolRow.server_id)
                .where(McpToolRow.id == tool_id, McpToolRow.owner == owner)
            )).first()
        if found is None:
            raise NotFoundError(f"no tool {tool_id!r}")
        return _tool(found[0], found[1])

    async def attach(self, agent_id: str, tool_id: str) -> None:
        """Give an agent an MCP tool (twice changes nothing)."""
        async with self.sessions() as s, s.begin():
            if await s.get(AgentMcpToolRow, (agent_id, tool_id)) is None:
                s.add(AgentMcpToolRow(agent_id=agent_id, tool_id=tool_id, attached_at=utcnow()))
                try:
                    await s.flush()
                except IntegrityError as exc:
                    raise NotFoundError(f"cannot attach tool {tool_id!r} to agent {agent_id!r}") from exc
                await s.execute(bump_versions(agent_id))

    async def detach(self, agent_id: str, tool_id: str) -> None:
        """Take an MCP tool from an agent."""
        async with self.sessions() as s, s.begin():
            await s.execute(delete(AgentMcpToolRow).where(
                AgentMcpToolRow.agent_id == agent_id, AgentMcpToolRow.tool_id == tool_id))
            await s.execute(bump_versions(agent_id))

    async def for_agent(self, agent_id: str) -> list[tuple[McpTool, McpServer]]:
        """The MCP tools attached to an agent (in attach order), each with its server."""
        async with self.sessions() as s:
            rows = (await s.execute(
                select(McpToolRow, McpServerRow)
                .join(AgentMcpToolRow, AgentMcpToolRow.tool_id == McpToolRow.id)
                .join(McpServerRow, McpServerRow.id == McpToolRow.server_id)
                .where(AgentMcpToolRow.agent_id == agent_id)
                .order_by(AgentMcpToolRow.attached_at, McpToolRow.id)
            )).all()
            return [(_tool(t, srv.name), _server(srv)) for t, srv in rows]
