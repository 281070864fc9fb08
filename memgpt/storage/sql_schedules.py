"""Schedules in SQL, and the claims that make each firing happen once across processes.

A firing is claimed with a conditional UPDATE (``next_at`` passed and no live claim): on
PostgreSQL the row lock makes a second claimer re-check the condition after the first
commits, on SQLite the database lock serialises them, so of several schedulers exactly one
gets the row. Reads use the async engine; claims and their ends go through the runner (the
SQLite writer thread), like every other frequent write.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from memgpt.core.errors import NotFoundError
from memgpt.core.schemas import utcnow
from memgpt.memory.schedules import Schedule, ScheduledInput, SchedulePage, heartbeat_id
from memgpt.storage.runner import Runner
from memgpt.storage.sql_common import Sessions
from memgpt.storage.tables import AgentRow, ScheduleRow

_INPUTS = TypeAdapter(list[ScheduledInput])
_OPTIONS = ("max_steps", "callback_url", "include_return_message_types")
HEARTBEAT = "heartbeat"


def _schedule(row: ScheduleRow) -> Schedule:
    options: dict[str, Any] = json.loads(row.options or "{}")
    return Schedule(
        id=row.id, agent_id=row.agent_id, owner=row.owner, kind=row.kind,
        at=row.at, cron=row.cron, messages=_INPUTS.validate_json(row.messages or "[]"),
        next_at=row.next_at, created_at=row.created_at, last_fired_at=row.last_fired_at,
        firings=row.firings, last_error=row.last_error, claimed_by=row.claimed_by,
        claimed_until=row.claimed_until,
        **{k: options.get(k) for k in _OPTIONS},
    )


def _values(schedule: Schedule) -> dict[str, Any]:
    options = {k: getattr(schedule, k) for k in _OPTIONS if getattr(schedule, k) is not None}
    return dict(
        id=schedule.id, owner=schedule.owner, agent_id=schedule.agent_id, kind=schedule.kind,
        at=schedule.at, cron=schedule.cron, next_at=schedule.next_at, created_at=schedule.created_at,
        messages=json.dumps([m.model_dump() for m in schedule.messages]), options=json.dumps(options),
        firings=0,
    )


class SqlScheduleStore:
    """Schedules by owner and agent; claims, renewals and ends of firings."""

    def __init__(self, sessions: Sessions, runner: Runner) -> None:
        self.sessions, self.runner = sessions, runner

    async def create(self, schedule: Schedule) -> Schedule:
        """Store a new schedule (its agent must exist: NotFoundError otherwise)."""
        values = _values(schedule)

        def job(s: Session) -> None:
            if s.get(AgentRow, schedule.agent_id) is None:
                raise NotFoundError(f"no agent with id {schedule.agent_id!r}")
            s.execute(insert(ScheduleRow).values(**values))

        await self.runner.run(job)
        return schedule

    def _visible(self, owner: str, agent_id: str) -> list[Any]:
        return [ScheduleRow.owner == owner, ScheduleRow.agent_id == agent_id, ScheduleRow.kind != HEARTBEAT]

    async def get(self, owner: str, agent_id: str, schedule_id: str) -> Schedule:
        """One of owner's schedules of an agent; NotFoundError if absent (heartbeats are not
        listed: they follow the server's setting)."""
        async with self.sessions() as s:
            row = await s.scalar(select(ScheduleRow).where(
                ScheduleRow.id == schedule_id, *self._visible(owner, agent_id)))
        if row is None:
            raise NotFoundError(f"no scheduled message with id {schedule_id!r}")
        return _schedule(row)

    async def page(self, owner: str, agent_id: str, *, after: str | None, limit: int) -> SchedulePage:
        """Owner's schedules of an agent, oldest first, after the one with id ``after``."""
        q = select(ScheduleRow).where(*self._visible(owner, agent_id))
        async with self.sessions() as s:
            if after is not None:
                mark = await s.scalar(select(ScheduleRow.pk).where(
                    ScheduleRow.id == after, *self._visible(owner, agent_id)))
                if mark is None:
                    raise NotFoundError(f"no scheduled message with id {after!r} (the 'after' cursor)")
                q = q.where(ScheduleRow.pk > mark)
            rows = list(await s.scalars(q.order_by(ScheduleRow.pk).limit(limit + 1)))
        return SchedulePage(items=[_schedule(r) for r in rows[:limit]], has_more=len(rows) > limit)

    async def delete(self, owner: str, agent_id: str, schedule_id: str) -> None:
        """Delete one of owner's schedules of an agent (a firing under way still finishes)."""
        def job(s: Session) -> int:
            done = cast(CursorResult[Any], s.execute(delete(ScheduleRow).where(
                ScheduleRow.id == schedule_id, *self._visible(owner, agent_id))))
            return int(done.rowcount or 0)

        if not await self.runner.run(job):
            raise NotFoundError(f"no scheduled message with id {schedule_id!r}")

    def _kinds(self, heartbeats: bool) -> list[Any]:
        return [] if heartbeats else [ScheduleRow.kind != HEARTBEAT]

    async def due(self, now: datetime, *, heartbeats: bool, limit: int) -> list[Schedule]:
        """Due schedules (free, or claimed: the caller checks whether the claimer died)."""
        claimable = or_(ScheduleRow.claimed_by.is_not(None), ScheduleRow.claimed_until.is_(None),
                        ScheduleRow.claimed_until <= now)  # not postponed
        q = (select(ScheduleRow).where(ScheduleRow.next_at <= now, claimable, *self._kinds(heartbeats))
             .order_by(ScheduleRow.next_at, ScheduleRow.pk).limit(limit))
        async with self.sessions() as s:
            return [_schedule(r) for r in await s.scalars(q)]

    async def next_due(self, *, heartbeats: bool) -> datetime | None:
        """The earliest time a schedule nobody holds is due."""
        async with self.sessions() as s:
            row = await s.scalar(select(ScheduleRow).where(
                ScheduleRow.next_at.is_not(None), ScheduleRow.claimed_by.is_(None), *self._kinds(heartbeats))
                                 .order_by(ScheduleRow.next_at).limit(1))
        return None if row is None else row.next_at

    async def claim(self, schedule_id: str, holder: str, now: datetime, until: datetime,
                    *, dead: str | None = None) -> Schedule | None:
        """Claim a due schedule (or take over a dead holder's claim): None if another won."""
        free = or_(ScheduleRow.claimed_until.is_(None), ScheduleRow.claimed_until <= now)
        who = ScheduleRow.claimed_by == dead if dead is not None else free

        def job(s: Session) -> Schedule | None:
            row = s.scalar(
                update(ScheduleRow)
                .where(ScheduleRow.id == schedule_id, ScheduleRow.next_at <= now, who)
                .values(claimed_by=holder, claimed_until=until).returning(ScheduleRow)
            )
            return None if row is None else _schedule(row)

        return await self.runner.run(job)

    def _ours(self, schedule_id: str, holder: str) -> Any:
        return and_(ScheduleRow.id == schedule_id, ScheduleRow.claimed_by == holder)

    async def renew(self, schedule_id: str, holder: str, until: datetime) -> None:
        """Extend our claim while delivering."""
        await self.runner.run(lambda s: s.execute(
            update(ScheduleRow).where(self._ours(schedule_id, holder)).values(claimed_until=until)))

    async def finish(self, schedule_id: str, holder: str, *, fired_at: datetime | None,
                     next_at: datetime | None, error: str | None = None) -> None:
        """End our claim; a schedule that fired and has no next time is removed."""
        def job(s: Session) -> None:
            if fired_at is not None and next_at is None:
                s.execute(delete(ScheduleRow).where(self._ours(schedule_id, holder)))
                return
            values: dict[str, Any] = dict(next_at=next_at, claimed_by=None, claimed_until=None, last_error=error)
            if fired_at is not None:
                values.update(last_fired_at=fired_at, firings=ScheduleRow.firings + 1)
            s.execute(update(ScheduleRow).where(self._ours(schedule_id, holder)).values(**values))

        await self.runner.run(job)

    async def postpone(self, schedule_id: str, holder: str, until: datetime) -> None:
        """Give our claim back without firing; nobody claims it before ``until``."""
        await self.runner.run(lambda s: s.execute(
            update(ScheduleRow).where(self._ours(schedule_id, holder))
            .values(claimed_by=None, claimed_until=until)))

    async def ensure_heartbeats(self, first_at: datetime) -> int:
        """A heartbeat schedule for every agent without one (its id is fixed per agent, so
        two processes doing this at once make one; the loser's insert is skipped)."""
        async with self.sessions() as s:
            missing = list(await s.execute(
                select(AgentRow.id, AgentRow.owner).where(~AgentRow.id.in_(
                    select(ScheduleRow.agent_id).where(ScheduleRow.kind == HEARTBEAT)))))
        if not missing:
            return 0

        def job(s: Session) -> int:
            made = 0
            for agent_id, owner in missing:
                if s.get(AgentRow, agent_id) is None or s.scalar(
                        select(ScheduleRow.pk).where(ScheduleRow.id == heartbeat_id(agent_id))) is not None:
                    continue
                s.execute(insert(ScheduleRow).values(_values(Schedule(
                    id=heartbeat_id(agent_id), agent_id=agent_id, owner=owner, kind="heartbeat",
                    next_at=first_at, created_at=utcnow()))))
                made += 1
            return made

        try:
            return await self.runner.run(job)
        except IntegrityError:  # another process made them meanwhile
            return 0
