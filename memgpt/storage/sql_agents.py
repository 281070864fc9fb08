"""Agents, their steps, core memory blocks and API keys in SQL (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from memgpt.core.errors import AlreadyExistsError, NotFoundError
from memgpt.core.schemas import (
    CONFIG_FIELDS, AgentConfig, AgentState, Block, Step, new_id, stable_id, utcnow,
)
from memgpt.storage.sql_blocks import SqlBlockStore, link, new_row, orphans_of
from memgpt.storage.sql_common import Sessions
from memgpt.storage.tables import STEPS, AgentRow, ApiKeyRow

__all__ = ["SqlAgentStore", "SqlBlockStore", "SqlKeyStore", "step_values"]

_AGENT_FIELDS = [f for f in AgentState.model_fields if f not in ("id", "created_at", "version")]


def _agent(row: AgentRow) -> AgentState:
    return AgentState.model_validate({f: getattr(row, f) for f in AgentState.model_fields})


class SqlAgentStore:
    """Agents in SQL."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def create(self, state: AgentState, blocks: list[Block], attach: list[str] | None = None) -> None:
        """Persist a new agent with its new blocks, then the existing blocks ``attach`` names
        (ids of the owner's blocks, checked by the caller)."""
        async with self.sessions() as s, s.begin():
            taken = select(AgentRow.id).where(AgentRow.name == state.name, AgentRow.owner == state.owner)
            if await s.scalar(taken):
                raise AlreadyExistsError(f"an agent named {state.name!r} already exists")
            s.add(AgentRow(**state.model_dump()))
            await s.flush()
            def add(sync: Session) -> None:
                for b in blocks:
                    row = new_row(sync, state.owner, b, stable_id("block", state.id, b.label), False)
                    link(sync, state.id, row.id)
                for block_id in attach or []:
                    link(sync, state.id, block_id)

            await s.run_sync(add)

    async def get(self, id_or_name: str, owner: str | None = None) -> AgentState:
        """Load an agent by id or name (only among owner's agents, if given)."""
        scope = [AgentRow.owner == owner] if owner is not None else []
        async with self.sessions() as s:
            row = await s.scalar(select(AgentRow).where(AgentRow.id == id_or_name, *scope))
            row = row or await s.scalar(
                select(AgentRow).where(AgentRow.name == id_or_name, *scope).limit(1)
            )
            if row is None:
                raise NotFoundError(f"no agent with id or name {id_or_name!r}")
            return _agent(row)

    async def all(self, owner: str | None = None) -> list[AgentState]:
        """All agents (of owner, if given), oldest first."""
        q = select(AgentRow).order_by(AgentRow.created_at)
        if owner is not None:
            q = q.where(AgentRow.owner == owner)
        async with self.sessions() as s:
            return [_agent(r) for r in await s.scalars(q)]

    async def save(self, state: AgentState) -> None:
        """Persist an agent's mutable state."""
        async with self.sessions() as s, s.begin():
            row = await s.get(AgentRow, state.id)
            if row is None:
                raise NotFoundError(f"no agent with id {state.id!r}")
            for field in _AGENT_FIELDS:
                setattr(row, field, getattr(state, field))
            row.version = row.version + 1

    async def save_config(self, config: AgentConfig) -> None:
        """Persist an operator's change to an agent's configuration (never its loop position)."""
        values = {f: getattr(config, f) for f in CONFIG_FIELDS if f not in ("id", "created_at")}
        async with self.sessions() as s, s.begin():
            result: Any = await s.execute(
                update(AgentRow).where(AgentRow.id == config.id)
                .values(**values, version=AgentRow.version + 1)
            )
            if result.rowcount == 0:
                raise NotFoundError(f"no agent with id {config.id!r}")

    async def set_embedding_model(self, agent_id: str, model: str) -> None:
        """Record the embedding model an agent's memory now uses (and change nothing else)."""
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(AgentRow).where(AgentRow.id == agent_id)
                .values(embedding_model=model, version=AgentRow.version + 1)
            )

    async def delete(self, agent_id: str) -> None:
        """Delete an agent and everything it owns."""
        async with self.sessions() as s, s.begin():
            await s.execute(orphans_of(agent_id))
            result: Any = await s.execute(delete(AgentRow).where(AgentRow.id == agent_id))
            if result.rowcount == 0:
                raise NotFoundError(f"no agent with id {agent_id!r}")

    async def save_step(self, agent_id: str, input_id: str, model: str, step: Step) -> None:
        """Record a step's usage."""
        async with self.sessions() as s, s.begin():
            await s.execute(insert(STEPS), step_values(agent_id, input_id, model, step))


def step_values(agent_id: str, input_id: str, model: str, step: Step) -> dict[str, Any]:
    """The ``steps`` row recording one step's usage, by column."""
    return {
        "id": step.id, "agent_id": agent_id, "input_id": input_id, "step_index": step.index,
        "model": model, "heartbeat": step.heartbeat, "stop_reason": step.stop_reason,
        "repairs": json.dumps(step.repairs), "created_at": utcnow(), **step.usage.model_dump(),
    }


class SqlKeyStore:
    """API keys, kept as SHA-256 hashes."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def create(self, user_id: str) -> tuple[str, str]:
        """A new key for user_id: (key id, raw key). The raw key is not stored."""
        raw = "mgpt-" + secrets.token_urlsafe(32)
        key_id = new_id("key")
        async with self.sessions() as s, s.begin():
            s.add(ApiKeyRow(id=key_id, user_id=user_id, key_hash=_hash(raw), prefix=raw[:9],
                            created_at=utcnow()))
        return key_id, raw

    async def authenticate(self, raw: str) -> str | None:
        """The user a live key belongs to, or None."""
        async with self.sessions() as s:
            return await s.scalar(select(ApiKeyRow.user_id).where(
                ApiKeyRow.key_hash == _hash(raw), ApiKeyRow.revoked_at.is_(None)))

    async def revoke(self, key_id: str) -> None:
        """Revoke a key by id."""
        async with self.sessions() as s, s.begin():
            row = await s.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFoundError(f"no API key {key_id!r}")
            row.revoked_at = row.revoked_at or utcnow()

    async def all(self) -> list[dict[str, Any]]:
        """Every key's id, user, prefix and dates (never the key)."""
        async with self.sessions() as s:
            rows = await s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))
            return [{"id": r.id, "user": r.user_id, "prefix": r.prefix,
                     "created_at": r.created_at, "revoked_at": r.revoked_at} for r in rows]


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
