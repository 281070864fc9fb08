"""The step's unit of work in SQL: one transaction per step, the tool journal, agent leases.

``commit`` stages everything a step wrote through the stores' writers (recall ``add``,
archival ``add``, block ``put``, the step row) and the agent's new loop position and version
in one transaction, so a crash leaves the step wholly applied or not at all. Blocks may be
shared: a tool's edits are re-applied to the block's current value under a row lock (so two
agents' concurrent edits are both kept), the other agents attached are marked stale, and an
agent whose block another writer changed during its step is moved one version past the one
``commit`` returns, so no process reuses a copy compiled from the old value. In-memory
vector indexes learn of new passages only after the commit succeeded.

Each of these is one transaction written as a plain (sync) function over a Session, run by a
``Runner`` (``memgpt.storage.runner``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import Update, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from memgpt.core.errors import NotFoundError
from memgpt.core.schemas import POSITION_FIELDS, utcnow
from memgpt.memory.unit import THREAD_FIELDS, JournalEntry, StepWrite
from memgpt.storage.sql_agents import SqlBlockStore, step_values
from memgpt.storage.sql_blocks import settled
from memgpt.storage.sql_conversations import commit_thread
from memgpt.storage.sql_archival import SqlArchivalStore
from memgpt.storage.runner import Runner
from memgpt.storage.sql_recall import SqlRecallStore
from memgpt.storage.sql_runs import cancel_requested, end_run, insert_run
from memgpt.storage.tables import AGENT_BLOCKS, AGENTS, STEPS, ToolJournalRow, bump_versions


# The statements of every turn, built once: building a statement and its cache key costs
# several times what executing a prebuilt one does (about 350 against 70 us here).
_AGENT = AGENTS.c.id == bindparam("b_agent_id")
_ACQUIRE = (
    update(AGENTS)
    .where(_AGENT, or_(AGENTS.c.lease_holder.is_(None), AGENTS.c.lease_holder == bindparam("holder"),
                       AGENTS.c.lease_until < bindparam("now")))
    .values(lease_holder=bindparam("holder"), lease_until=bindparam("until"))
    .returning(AGENTS.c.version)
)
_INSERT_STEP = insert(STEPS)
_CLEAR_STALE = update(AGENT_BLOCKS).where(
    AGENT_BLOCKS.c.agent_id == bindparam("b_agent_id"), AGENT_BLOCKS.c.stale).values(stale=False)


@lru_cache(maxsize=64)
def _agent_update(fields: tuple[str, ...]) -> Update:
    """The commit's update of the agent row setting these fields (parameters ``v_<field>``)
    and moving its version on; one statement per set of fields, built once."""
    values: dict[str, Any] = {f: bindparam(f"v_{f}") for f in fields}
    return update(AGENTS).where(_AGENT).values(version=AGENTS.c.version + 1, **values).returning(AGENTS.c.version)


class SqlUnitStore:
    """Steps committed whole; external tool calls journalled; agents leased."""

    def __init__(self, runner: Runner, recall: SqlRecallStore, archival: SqlArchivalStore) -> None:
        self.runner, self.recall, self.archival = runner, recall, archival

    async def commit(self, write: StepWrite) -> int:
        """Apply a step's writes in one transaction; returns the agent's new version."""
        version, after, values = await self.runner.run(lambda s: self._commit(s, write))
        if after is not None:
            after()
        settled(write.blocks, values)
        return version

    def _commit(
        self, s: Session, write: StepWrite
    ) -> tuple[int, Callable[[], None] | None, dict[str, str]]:
        agent_id, after = write.agent_id, None
        # Blocks first, in label order: every writer locks a shared block before any agent row
        # (operators' edits too), so concurrent commits on PostgreSQL never deadlock.
        if write.blocks and s.scalar(select(AGENTS.c.id).where(AGENTS.c.id == agent_id)) is None:
            raise NotFoundError(f"no agent with id {agent_id!r}")
        stored = {label: SqlBlockStore.put(s, agent_id, write.blocks[label]) for label in sorted(write.blocks)}
        values: dict[str, Any] = {}
        thread = write.conversation_id
        if write.position is not None:
            values |= {f: getattr(write.position, f) for f in POSITION_FIELDS
                       if thread is None or f not in THREAD_FIELDS}
        if thread is not None and (write.blocks or write.passages):
            values["memory_dirty"] = True  # memory changed in a conversation: the default thread recompiles
        if write.release is not None:
            values |= {"lease_holder": None, "lease_until": None}
        params = {"b_agent_id": agent_id} | {f"v_{k}": v for k, v in values.items()}
        version = s.scalar(_agent_update(tuple(values)), params)  # Core: no session state to sync
        if version is None:
            raise NotFoundError(f"no agent with id {agent_id!r}")
        if thread is not None:
            commit_thread(s, write)
        if write.run_open is not None:
            insert_run(s, write.run_open)
        if write.messages:
            self.recall.add(s, agent_id, write.messages, thread)
        if write.passages:
            vectors = np.asarray(write.vectors, dtype=np.float32)
            after = self.archival.add(s, agent_id, write.passages, vectors)
        if write.step is not None:
            step = write.step
            s.execute(_INSERT_STEP, {**step_values(agent_id, step.input_id, step.model, step.step),
                                     "run_id": step.run_id})
        if write.run_end is not None:
            end_run(s, write.run_end)
        elif write.step is not None and write.step.run_id is not None:
            write.cancel_requested = cancel_requested(s, write.step.run_id)
        if write.finished_calls:
            s.execute(
                update(ToolJournalRow)
                .where(ToolJournalRow.agent_id == agent_id, ToolJournalRow.call_id.in_(write.finished_calls))
                .values(finished_at=utcnow())
            )
        if s.execute(_CLEAR_STALE, {"b_agent_id": agent_id}).rowcount:  # type: ignore[attr-defined]
            # Another writer changed a block of the agent during this step: what the caller
            # keeps was compiled from the old value, so the stored agent moves one version on
            # (no cache matches it) and is compiled anew.
            s.execute(bump_versions(agent_id).values(memory_dirty=True))
        return int(version), after, stored

    async def journal_start(self, agent_id: str, call_id: str, tool: str, arguments: str) -> None:
        """Record, durably and before it runs, that an external tool call is starting."""
        def job(s: Session) -> None:
            s.add(ToolJournalRow(agent_id=agent_id, call_id=call_id, tool=tool,
                                 arguments=arguments, started_at=utcnow()))
            s.execute(bump_versions(agent_id))

        await self.runner.run(job)

    async def journal_open(self, agent_id: str) -> list[JournalEntry]:
        """Calls started but never finished, oldest first."""
        def job(s: Session) -> list[JournalEntry]:
            rows = s.scalars(
                select(ToolJournalRow)
                .where(ToolJournalRow.agent_id == agent_id, ToolJournalRow.finished_at.is_(None))
                .order_by(ToolJournalRow.pk)
            )
            return [JournalEntry(r.call_id, r.tool, r.arguments, r.started_at) for r in rows]

        return await self.runner.run(job)

    async def acquire(self, agent_id: str, holder: str, ttl: float) -> int | None:
        """Take or renew the lease: the agent's version, or None while another holds it.
        A vanished agent raises NotFoundError."""
        def job(s: Session) -> int | None:
            now = utcnow()
            version = s.scalar(_ACQUIRE, {"b_agent_id": agent_id, "holder": holder, "now": now,
                                          "until": now + timedelta(seconds=ttl)})
            if version is None and s.scalar(select(AGENTS.c.id).where(AGENTS.c.id == agent_id)) is None:
                raise NotFoundError(f"no agent with id {agent_id!r}")
            return None if version is None else int(version)

        return await self.runner.run(job)

    async def holder(self, agent_id: str) -> str | None:
        """Who holds the agent's lease now (None: nobody)."""
        return await self.runner.run(
            lambda s: s.scalar(select(AGENTS.c.lease_holder).where(AGENTS.c.id == agent_id))
        )

    async def take_over(self, agent_id: str, dead: str, holder: str, ttl: float) -> int | None:
        """Take the lease from a holder known to be dead (only if it still holds it)."""
        def job(s: Session) -> int | None:
            version = s.scalar(
                update(AGENTS).where(AGENTS.c.id == agent_id, AGENTS.c.lease_holder == dead)
                .values(lease_holder=holder, lease_until=utcnow() + timedelta(seconds=ttl))
                .returning(AGENTS.c.version)
            )
            return None if version is None else int(version)

        return await self.runner.run(job)

    async def renew(self, agent_id: str, holder: str, ttl: float) -> None:
        """Extend holder's live lease (never takes a lease that was given back)."""
        await self.runner.run(lambda s: s.execute(
            update(AGENTS).where(AGENTS.c.id == agent_id, AGENTS.c.lease_holder == holder)
            .values(lease_until=utcnow() + timedelta(seconds=ttl))
        ))

    async def release(self, agent_id: str, holder: str) -> None:
        """Give the lease back (no-op if another holds it)."""
        await self.runner.run(lambda s: s.execute(
            update(AGENTS).where(AGENTS.c.id == agent_id, AGENTS.c.lease_holder == holder)
            .values(lease_holder=None, lease_until=None)
        ))
