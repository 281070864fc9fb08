"""Runs and steps as records: every input an agent handles is a run, every model call a step.

A run is created when an input is accepted (an async send stores its input here first, so a
queued message is durable before anything runs), goes ``running`` once it holds the agent's
lease, and ends ``completed``, ``failed`` or ``cancelled`` with its stop reason and usage.
Its messages are the agent's recall messages from ``seq_start`` to ``seq_end`` (a turn holds
the agent alone, so they are contiguous). ``RunStore`` is the port storage implements.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from memgpt.core.schemas import StopReason, Usage, new_id, utcnow


class RunStatus(StrEnum):
    """Where a run stands."""

    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (RunStatus.CREATED, RunStatus.RUNNING)
"""Statuses of runs that have not ended."""
INTERRUPTED = "interrupted: the process running it stopped before it finished; its input is kept"
"""The error of a run whose process died while it ran."""


class Run(BaseModel):
    """One input handled (or to be handled) by an agent."""

    id: str = Field(default_factory=lambda: new_id("run"))
    agent_id: str
    owner: str
    status: RunStatus = RunStatus.CREATED
    stop_reason: str | None = None
    background: bool = False
    """Sent with ``send_async``: run by the server in the background, in order per agent."""
    input_role: Literal["user", "event"] = "user"
    input_text: str = ""
    """The input as received: kept even if the run never started or failed."""
    input_id: str | None = None
    seq_start: int | None = None
    seq_end: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    usage: Usage = Field(default_factory=Usage)
    step_count: int = 0
    error: str | None = None
    holder: str | None = None
    """The process (lease holder id) running it."""
    cancel_requested: bool = False
    callback_url: str | None = None
    callback_sent_at: datetime | None = None
    callback_status_code: int | None = None
    callback_error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    request_config: dict[str, Any] = Field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether the run has not ended yet."""
        return self.status in ACTIVE

    def end(self, reason: str | None, error: BaseException | None, last_seq: int) -> None:
        """Set how the run ended: by its last step's stop reason (None: the turn ended
        normally), or, with ``error``, by what stopped it; ``last_seq`` is the agent's last
        committed message (the run's messages end there, if it wrote any)."""
        self.seq_end = last_seq if self.seq_start is not None and last_seq >= self.seq_start else None
        self.completed_at = utcnow()
        if error is None:
            self.stop_reason = str(reason or StopReason.END_TURN)
            self.status = RunStatus.CANCELLED if self.stop_reason == StopReason.CANCELLED else RunStatus.COMPLETED
        elif isinstance(error, asyncio.CancelledError):
            self.status, self.stop_reason, self.error = RunStatus.CANCELLED, "cancelled", "cancelled"
        else:
            self.status, self.stop_reason = RunStatus.FAILED, "error"
            self.error = f"{type(error).__name__}: {error}"


class Compaction(BaseModel):
    """What a compaction did: in-context message counts (system message included), the summary."""

    num_messages_before: int
    num_messages_after: int
    summary: str


class StepInfo(BaseModel):
    """The record of one step (one model call and its tool calls)."""

    id: str
    agent_id: str
    run_id: str | None
    input_id: str
    index: int
    model: str
    usage: Usage
    heartbeat: bool
    stop_reason: str | None
    feedback: Literal["positive", "negative"] | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: datetime


class RunQuery(BaseModel):
    """Filters and paging of a run list (ids as cursors, newest first unless ``ascending``)."""

    agent_ids: list[str] | None = None
    statuses: list[str] | None = None
    background: bool | None = None
    stop_reason: str | None = None
    input_id: str | None = None
    """The run of one input (a message id)."""
    before: str | None = None
    after: str | None = None
    limit: int = 50
    ascending: bool = False


class StepQuery(BaseModel):
    """Filters and paging of a step list."""

    agent_id: str | None = None
    run_id: str | None = None
    model: str | None = None
    feedback: str | None = None
    has_feedback: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    before: str | None = None
    after: str | None = None
    limit: int = 50
    ascending: bool = False


class RunStore(Protocol):
    """Runs and step records, by owner."""

    async def create(self, run: Run) -> None:
        """Persist a new run."""
    async def get(self, run_id: str, owner: str | None = None) -> Run:
        """A run by id (owner's, if given); NotFoundError if absent."""
    async def find(self, owner: str, query: RunQuery) -> list[Run]:
        """Owner's runs matching query."""
    async def start(self, run_id: str, holder: str, seq_start: int) -> bool:
        """Mark a created run running under holder; False if it is no longer ``created``."""
    async def finish(self, run: Run) -> bool:
        """Store a run's end (status, stop reason, usage, seqs, error) if it is still active."""
    async def cancel(self, owner: str, agent_id: str, run_ids: list[str] | None) -> dict[str, str]:
        """Cancel owner's active runs of the agent (those named, or all): created ones end
        cancelled at once, running ones are flagged. Returns the new status by run id."""
    async def next_queued(self, agent_id: str) -> Run | None:
        """The oldest background run of the agent still ``created``."""
    async def active(self) -> list[Run]:
        """Every run not ended (for recovery after a restart)."""
    async def record_callback(self, run_id: str, status_code: int | None, error: str | None) -> None:
        """Store the outcome of POSTing the run's callback_url."""
    async def steps(self, owner: str, query: StepQuery) -> list[StepInfo]:
        """Owner's step records matching query."""
    async def step(self, owner: str, step_id: str) -> StepInfo:
        """One step record of owner's; NotFoundError if absent."""
    async def set_feedback(
        self, owner: str, step_id: str, feedback: str | None, tags: list[str] | None
    ) -> StepInfo:
        """Store feedback (and tags) on one of owner's steps."""
