"""Custom tools and their attachment to agents, in SQL (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError

from memgpt.core.errors import AlreadyExistsError, NotFoundError
from memgpt.core.schemas import ToolDef, ToolSchema, utcnow
from memgpt.storage.sql_common import Sessions
from memgpt.storage.tables import AgentToolRow, ToolRow, bump_versions


def _tool(row: ToolRow) -> ToolDef:
    return ToolDef(
        id=row.id, name=row.name, spec=ToolSchema.model_validate_json(row.json_schema),
        owner=row.owner, source_code=row.source_code, tags=json.loads(row.tags),
        return_char_limit=row.return_char_limit, created_at=row.created_at,
        default_requires_approval=bool(row.default_requires_approval),
        updated_at=row.updated_at,
    )


def _columns(tool: ToolDef) -> dict[str, Any]:
    return {
        "owner": tool.owner, "name": tool.name, "description": tool.spec.description,
        "source_code": tool.source_code, "json_schema": tool.spec.model_dump_json(),
        "tags": json.dumps(tool.tags), "return_char_limit": tool.return_char_limit,
        "default_requires_approval": tool.default_requires_approval,
        "created_at": tool.created_at or utcnow(), "updated_at": tool.updated_at or utcnow(),
    }


class SqlToolStore:
    """Custom tools, owned by a user, attached to that user's agents."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def create(self, tool: ToolDef) -> None:
        """Store a new tool; AlreadyExistsError if its owner has a tool of that name."""
        try:
            async with self.sessions() as s, s.begin():
                s.add(ToolRow(id=tool.id, **_columns(tool)))
        except IntegrityError as exc:
            raise AlreadyExistsError(f"a tool named {tool.name!r} already exists") from exc

    async def get(self, owner: str, id_or_name: str) -> ToolDef:
        """One of owner's tools by id or name."""
        async with self.sessions() as s:
            row = await s.scalar(select(ToolRow).where(
                ToolRow.owner == owner, or_(ToolRow.id == id_or_name, ToolRow.name == id_or_name)
            ).order_by(ToolRow.id != id_or_name).limit(1))
        if row is None:
            raise NotFoundError(f"no tool {id_or_name!r}")
        return _tool(row)

    async def all(self, owner: str) -> list[ToolDef]:
        """Owner's tools, oldest first."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(ToolRow).where(ToolRow.owner == owner).order_by(ToolRow.created_at, ToolRow.id)
            )
            return [_tool(r) for r in rows]

    async def save(self, tool: ToolDef) -> None:
        """Replace a stored tool's fields (by id); AlreadyExistsError on a name clash."""
        try:
            async with self.sessions() as s, s.begin():
                row = await s.get(ToolRow, tool.id)
                if row is None or row.owner != tool.owner:
                    raise NotFoundError(f"no tool {tool.id!r}")
                for column, value in _columns(tool).items():
                    setattr(row, column, value)
                await s.execute(bump_versions(_attached(tool.id)))
        except IntegrityError as exc:
            raise AlreadyExistsError(f"a tool named {tool.name!r} already exists") from exc

    async def delete(self, owner: str, tool_id: str) -> None:
        """Delete one of owner's tools; it is detached from every agent."""
        async with self.sessions() as s, s.begin():
            row = await s.get(ToolRow, tool_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no tool {tool_id!r}")
            await s.execute(bump_versions(_attached(tool_id)))
            await s.execute(delete(AgentToolRow).where(AgentToolRow.tool_id == tool_id))
            await s.delete(row)

    async def attach(self, agent_id: str, tool_id: str) -> None:
        """Give an agent a tool (attaching it twice changes nothing)."""
        async with self.sessions() as s, s.begin():
            if await s.get(AgentToolRow, (agent_id, tool_id)) is None:
                s.add(AgentToolRow(agent_id=agent_id, tool_id=tool_id, attached_at=utcnow()))
                try:
                    await s.flush()
                except IntegrityError as exc:  # the agent or tool is gone, or a concurrent attach
                    raise NotFoundError(f"cannot attach tool {tool_id!r} to agent {agent_id!r}") from exc
                await s.execute(bump_versions(agent_id))

    async def detach(self, agent_id: str, tool_id: str) -> None:
        """Take a tool from an agent (detaching one it does not have changes nothing)."""
        async with self.sessions() as s, s.begin():
            await s.execute(delete(AgentToolRow).where(
                AgentToolRow.agent_id == agent_id, AgentToolRow.tool_id == tool_id
            ))
            await s.execute(bump_versions(agent_id))

    async def for_agent(self, agent_id: str) -> list[ToolDef]:
        """The custom tools attached to an agent, in the order they were attached."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(ToolRow).join(AgentToolRow, AgentToolRow.tool_id == ToolRow.id)
                .where(AgentToolRow.agent_id == agent_id)
                .order_by(AgentToolRow.attached_at, ToolRow.id)
            )
            return [_tool(r) for r in rows]


def _attached(tool_id: str) -> Any:
    """The ids of the agents a tool is attached to (their tool lists change with it)."""
    return select(AgentToolRow.agent_id).where(AgentToolRow.tool_id == tool_id)
