"""Runs and step records in SQL (``runs``, ``steps``), the same on SQLite and PostgreSQL.

Writes go through the unit store's ``Runner`` (on SQLite the one writer thread), reads
through async sessions. A run's end and a created run's start are conditional updates on its
status, so a run ended by recovery or by a cancel is never reopened by a late writer.
"""

from __future__ import annotations

import json
from typing import Any, cast

from sqlalchemy import Select, Table, Update, and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from memgpt.core.errors import NotFoundError
from memgpt.core.schemas import Usage, utcnow
from memgpt.memory.runs import ACTIVE, INTERRUPTED, Run, RunQuery, RunStatus, StepInfo, StepQuery
from memgpt.storage.runner import Runner
from memgpt.storage.sql_common import Sessions
from memgpt.storage.tables import AgentRow, RunRow, StepRow

_ACTIVE = [s.value for s in ACTIVE]
RUNS = cast(Table, RunRow.__table__)


def _end_run_statement() -> Update:
    fields = ("status", "stop_reason", "input_id", "seq_start", "seq_end", "completed_at", "prompt_tokens",
              "completion_tokens", "cached_tokens", "step_count", "error")
    return update(RUNS).where(RUNS.c.id == bindparam("run_id"), RUNS.c.status.in_(_ACTIVE)).values(
        {f: bindparam(f"v_{f}") for f in fields})


# Statements of every turn, built once (see memgpt.storage.unit).
_FAIL_STALE = update(RUNS).where(
    RUNS.c.agent_id == bindparam("b_agent_id"), RUNS.c.status == RunStatus.RUNNING.value,
    RUNS.c.id != bindparam("run_id"),
).values(status=RunStatus.FAILED.value, stop_reason="error", error=INTERRUPTED, completed_at=bindparam("now"))
_END_RUN = _end_run_statement()
_INSERT_RUN = insert(RUNS)
_CANCEL_REQUESTED = select(RUNS.c.cancel_requested).where(RUNS.c.id == bindparam("run_id"))


def _fail_stale(s: Session, agent_id: str, run_id: str) -> None:
    """A run opens under the agent's lease, so any other run of the agent still marked
    running belongs to a process that died: it ends failed (its input stays)."""
    s.execute(_FAIL_STALE, {"b_agent_id": agent_id, "run_id": run_id, "now": utcnow()})


def insert_run(s: Session, run: Run) -> None:
    """Store a new run; a ``running`` one fails the agent's other running runs (the caller
    holds the agent's lease, so their processes are dead). Core statements, no ORM state:
    this runs in the commit of every turn's input."""
    s.execute(_INSERT_RUN, {
        "id": run.id, "agent_id": run.agent_id, "owner": run.owner, "background": run.background,
        "input_role": run.input_role, "input_text": run.input_text, "created_at": run.created_at,
        "started_at": run.started_at, "holder": run.holder, "callback_url": run.callback_url,
        "metadata": json.dumps(run.metadata), "request_config": json.dumps(run.request_config),
        "cancel_requested": run.cancel_requested, **_ending(run),
    })
    if run.status is RunStatus.RUNNING:
        _fail_stale(s, run.agent_id, run.id)


def end_run(s: Session, run: Run) -> bool:
    """Store how a run ended if it is still active (one ended elsewhere stays as it ended)."""
    ending = _ending(run) | {"completed_at": run.completed_at or utcnow()}
    done = s.execute(_END_RUN, {"run_id": run.id} | {f"v_{k}": v for k, v in ending.items()})
    return bool(done.rowcount)  # type: ignore[attr-defined]


def cancel_requested(s: Session, run_id: str) -> bool:
    """Whether the run was asked to stop (``cancel``, from any process)."""
    return bool(s.scalar(_CANCEL_REQUESTED, {"run_id": run_id}))


def _ending(run: Run) -> dict[str, Any]:
    """The columns a run's end (or its progress so far) sets."""
    usage = run.usage
    return {
        "status": run.status.value, "stop_reason": run.stop_reason, "input_id": run.input_id,
        "seq_start": run.seq_start, "seq_end": run.seq_end, "completed_at": run.completed_at,
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens, "step_count": run.step_count, "error": run.error,
    }


def _run(r: RunRow) -> Run:
    return Run(
        id=r.id, agent_id=r.agent_id, owner=r.owner, status=RunStatus(r.status), stop_reason=r.stop_reason,
        background=r.background, input_role="event" if r.input_role == "event" else "user",
        input_text=r.input_text, input_id=r.input_id, seq_start=r.seq_start, seq_end=r.seq_end,
        created_at=r.created_at, started_at=r.started_at, completed_at=r.completed_at,
        usage=Usage(prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                    cached_tokens=r.cached_tokens),
        step_count=r.step_count, error=r.error, holder=r.holder, cancel_requested=r.cancel_requested,
        callback_url=r.callback_url, callback_sent_at=r.callback_sent_at,
        callback_status_code=r.callback_status_code, callback_error=r.callback_error,
        metadata=json.loads(r.metadata_json or "{}"), request_config=json.loads(r.request_config or "{}"),
    )


def _step(r: StepRow) -> StepInfo:
    feedback = r.feedback if r.feedback in ("positive", "negative") else None
    return StepInfo(
        id=r.id, agent_id=r.agent_id, run_id=r.run_id, input_id=r.input_id, index=r.index,
        model=r.model, heartbeat=r.heartbeat, stop_reason=r.stop_reason, feedback=feedback,
        usage=Usage(prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                    cached_tokens=r.cached_tokens),
        tags=json.loads(r.tags or "[]"), created_at=r.created_at,
    )


class SqlRunStore:
    """Runs and step records."""

    def __init__(self, sessions: Sessions, runner: Runner) -> None:
        self.sessions, self.runner = sessions, runner

    async def create(self, run: Run) -> None:
        """Persist a new run (as it stands: a run may also be stored already ended)."""
        await self.runner.run(lambda s: insert_run(s, run))

    async def get(self, run_id: str, owner: str | None = None) -> Run:
        """A run by id (owner's, if given); NotFoundError if absent."""
        query = select(RunRow).where(RunRow.id == run_id)
        if owner is not None:
            query = query.where(RunRow.owner == owner)
        async with self.sessions() as s:
            row = await s.scalar(query)
        if row is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return _run(row)

    @staticmethod
    async def _pk(s: Any, run_id: str, owner: str) -> int:
        pk = await s.scalar(select(RunRow.pk).where(RunRow.id == run_id, RunRow.owner == owner))
        if pk is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return int(pk)

    async def find(self, owner: str, query: RunQuery) -> list[Run]:
        """Owner's runs matching query, newest first unless ascending; cursors are run ids."""
        q = select(RunRow).where(RunRow.owner == owner)
        if query.agent_ids:
            q = q.where(RunRow.agent_id.in_(query.agent_ids))
        if query.statuses:
            q = q.where(RunRow.status.in_(query.statuses))
        if query.background is not None:
            q = q.where(RunRow.background.is_(query.background))
        if query.stop_reason:
            q = q.where(RunRow.stop_reason == query.stop_reason)
        if query.input_id is not None:
            q = q.where(RunRow.input_id == query.input_id)
        async with self.sessions() as s:
            for cursor, newer in ((query.after, query.ascending), (query.before, not query.ascending)):
                if cursor is not None:
                    pk = await self._pk(s, cursor, owner)
                    q = q.where(RunRow.pk < pk if not newer else RunRow.pk > pk)
            order = RunRow.pk.asc() if query.ascending else RunRow.pk.desc()
            rows = (await s.scalars(q.order_by(order).limit(query.limit))).all()
        return [_run(r) for r in rows]

    async def start(self, run_id: str, holder: str, seq_start: int) -> bool:
        """Mark a created run running under holder; False if it is no longer ``created``."""
        def job(s: Session) -> bool:
            done = s.execute(
                update(RunRow).where(RunRow.id == run_id, RunRow.status == RunStatus.CREATED.value)
                .values(status=RunStatus.RUNNING.value, holder=holder, seq_start=seq_start, started_at=utcnow())
            )
            if done.rowcount:  # type: ignore[attr-defined]
                agent = s.scalar(select(RunRow.agent_id).where(RunRow.id == run_id))
                _fail_stale(s, str(agent), run_id)
            return bool(done.rowcount)  # type: ignore[attr-defined]

        return await self.runner.run(job)

    async def finish(self, run: Run) -> bool:
        """Store a run's end if it is still active (a run ended elsewhere stays as it ended)."""
        return await self.runner.run(lambda s: end_run(s, run))

    async def cancel(self, owner: str, agent_id: str, run_ids: list[str] | None) -> dict[str, str]:
        """Cancel owner's active runs of the agent: created ones at once, running ones flagged."""
        def job(s: Session) -> dict[str, str]:
            where = [RunRow.owner == owner, RunRow.agent_id == agent_id, RunRow.status.in_(_ACTIVE)]
            if run_ids is not None:
                where.append(RunRow.id.in_(run_ids))
            out: dict[str, str] = {}
            for row in s.scalars(select(RunRow).where(*where)):
                if row.status == RunStatus.CREATED.value:
                    row.status, row.stop_reason = RunStatus.CANCELLED.value, "cancelled"
                    row.completed_at = utcnow()
                else:
                    row.cancel_requested = True
                out[row.id] = "cancelled"
            return out

        return await self.runner.run(job)

    async def next_queued(self, agent_id: str) -> Run | None:
        """The oldest background run of the agent still ``created``."""
        async with self.sessions() as s:
            row = await s.scalar(
                select(RunRow).where(RunRow.agent_id == agent_id, RunRow.background.is_(True),
                                     RunRow.status == RunStatus.CREATED.value)
                .order_by(RunRow.pk).limit(1)
            )
        return None if row is None else _run(row)

    async def active(self) -> list[Run]:
        """Every run not ended, oldest first."""
        async with self.sessions() as s:
            rows = (await s.scalars(select(RunRow).where(RunRow.status.in_(_ACTIVE)).order_by(RunRow.pk))).all()
        return [_run(r) for r in rows]

    async def record_callback(self, run_id: str, status_code: int | None, error: str | None) -> None:
        """Store the outcome of POSTing the run's callback_url."""
        await self.runner.run(lambda s: s.execute(
            update(RunRow).where(RunRow.id == run_id)
            .values(callback_sent_at=utcnow(), callback_status_code=status_code, callback_error=error)
        ))

    def _owned_steps(self, owner: str) -> Select[Any]:
        return select(StepRow).join(AgentRow, and_(AgentRow.id == StepRow.agent_id, AgentRow.owner == owner))

    async def steps(self, owner: str, query: StepQuery) -> list[StepInfo]:
        """Owner's step records matching query, newest first unless ascending."""
        q = self._owned_steps(owner)
        for column, value in ((StepRow.agent_id, query.agent_id), (StepRow.run_id, query.run_id),
                              (StepRow.model, query.model), (StepRow.feedback, query.feedback)):
            if value is not None:
                q = q.where(column == value)
        if query.has_feedback is not None:
            q = q.where(StepRow.feedback.is_not(None) if query.has_feedback else StepRow.feedback.is_(None))
        if query.start is not None:
            q = q.where(StepRow.created_at >= query.start)
        if query.end is not None:
            q = q.where(StepRow.created_at < query.end)
        async with self.sessions() as s:
            for cursor, newer in ((query.after, query.ascending), (query.before, not query.ascending)):
                if cursor is not None:
                    at = await s.scalar(select(StepRow.created_at).where(StepRow.id == cursor))
                    if at is None:
                        raise NotFoundError(f"no step with id {cursor!r}")
                    q = q.where(StepRow.created_at > at if newer else StepRow.created_at < at)
            order = (StepRow.created_at.asc(), StepRow.index.asc()) if query.ascending else (
                StepRow.created_at.desc(), StepRow.index.desc())
            rows = (await s.scalars(q.order_by(*order).limit(query.limit))).all()
        return [_step(r) for r in rows]

    async def step(self, owner: str, step_id: str) -> StepInfo:
        """One step record of owner's; NotFoundError if absent."""
        async with self.sessions() as s:
            row = await s.scalar(self._owned_steps(owner).where(StepRow.id == step_id))
        if row is None:
            raise NotFoundError(f"no step with id {step_id!r}")
        return _step(row)

    async def set_feedback(
        self, owner: str, step_id: str, feedback: str | None, tags: list[str] | None
    ) -> StepInfo:
        """Store feedback (and tags, if given) on one of owner's steps."""
        await self.step(owner, step_id)
        values: dict[str, Any] = {"feedback": feedback}
        if tags is not None:
            values["tags"] = json.dumps(tags)
        await self.runner.run(lambda s: s.execute(update(StepRow).where(StepRow.id == step_id).values(**values)))
        return await self.step(owner, step_id)
