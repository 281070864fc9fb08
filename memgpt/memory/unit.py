"""The step as one unit of work: what one step writes, committed together, and the journal
of tool calls whose effects leave the database.

The runtime collects a step's writes in a ``StepWrite`` (new messages with their seq, changed
blocks, new passages with vectors, the agent's loop position, the step record) and hands it
to ``UnitStore.commit``, which applies it in one transaction or not at all. Agents are held
by a lease (a row that expires), not by a database connection, so no connection waits on a
model; the lease also serializes turns across server processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from memgpt.core.schemas import AgentPosition, Block, Message, Passage, Step
from memgpt.memory.runs import Run


@dataclass(frozen=True)
class StepRecord:
    """The usage record of one step: which input it answered and with which model."""

    input_id: str
    model: str
    step: Step
    run_id: str | None = None


@dataclass
class StepWrite:
    """Everything one step changes, applied atomically by ``UnitStore.commit``."""

    agent_id: str
    position: AgentPosition | None = None
    messages: list[Message] = field(default_factory=list)
    blocks: dict[str, Block] = field(default_factory=dict)
    """Changed blocks by label. A block may be shared with other agents: a tool's edits (a
    ``StoredBlock`` carrying them) are re-applied to the block's stored value at commit, an
    operator's block is stored as given; after the commit each ``StoredBlock`` here holds the
    stored value (see ``memgpt.memory.blocks.rebase``)."""
    passages: list[Passage] = field(default_factory=list)
    vectors: list[np.ndarray[Any, Any]] = field(default_factory=list)
    step: StepRecord | None = None
    finished_calls: list[str] = field(default_factory=list)
    release: str | None = None
    """A lease holder whose lease on the agent ends with this commit (the turn's last)."""
    run_open: Run | None = None
    """The turn's run, stored ``running`` with this commit (the input's), so a send's run
    costs no transaction of its own."""
    run_end: Run | None = None
    """The turn's run as it ended, stored with this commit (the turn's last) if still active."""
    cancel_requested: bool = False
    """Set by ``commit``: the step's run was asked to stop (by any process sharing the
    database), so the loop ends the chain after this step."""
    conversation_id: str | None = None
    """The thread written: None is the agent's default one; a conversation's messages carry
    its id and its ``THREAD_FIELDS`` of the position go to its row, not the agent's."""

    def empty(self) -> bool:
        """Whether there is nothing to write."""
        return not (self.position or self.messages or self.blocks or self.passages or self.step
                    or self.finished_calls or self.run_open or self.run_end)


THREAD_FIELDS = ("summary", "context_start", "warned", "system_compiled", "memory_dirty")
"""The loop-position fields each thread (conversation) keeps for itself; the rest of the
position (last memory edit, paused heartbeats) is the agent's in every thread."""


@dataclass(frozen=True)
class JournalEntry:
    """A call of an external tool that was started; ``finished`` once its step committed."""

    call_id: str
    tool: str
    arguments: str
    started_at: datetime


class UnitStore(Protocol):
    """Commits steps whole, journals external tool calls, and leases agents."""

    async def commit(self, write: StepWrite) -> int:
        """Apply a step's writes in one transaction; returns the agent's new version."""
    async def journal_start(self, agent_id: str, call_id: str, tool: str, arguments: str) -> None:
        """Record (durably, before it runs) that an external tool call is starting; bumps the
        agent's version, so no process trusts a cache from before the call."""
    async def journal_open(self, agent_id: str) -> list[JournalEntry]:
        """Calls started but never finished (a crash came between), oldest first."""
    async def acquire(self, agent_id: str, holder: str, ttl: float) -> int | None:
        """Take or renew the agent's lease for ttl seconds: its version, or None if another
        holder's lease is live."""
    async def holder(self, agent_id: str) -> str | None:
        """Who holds the agent's lease now (None: nobody)."""
    async def take_over(self, agent_id: str, dead: str, holder: str, ttl: float) -> int | None:
        """Take the lease from a holder known to be dead (only if it still holds it)."""
    async def renew(self, agent_id: str, holder: str, ttl: float) -> None:
        """Extend holder's live lease (never takes a lease that was given back)."""
    async def release(self, agent_id: str, holder: str) -> None:
        """Give the lease back (no-op if held by someone else)."""
