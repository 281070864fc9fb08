"""Schedules: messages delivered to an agent at a time or on a cron, and timed heartbeats.

The timing rules live here, pure, so the scheduler (``services/schedules.py``), the store and
the tests share them:

- **one-time** (``at``): due at ``at``; delivered once, then the schedule is removed (as
  Letta does). A time more than ``PAST_GRACE`` in the past is refused when created; one that
  passed while no server ran fires once at the next start.
- **recurring** (``cron``, UTC; five fields, or six with seconds first, or ``@hourly`` and
  the like): due at each time the expression names. Times missed while no server ran fire
  *once* together (the first missed time is the firing), then the cron resumes from now.
- **heartbeat**: MemGPT's timed heartbeat, one per agent when ``MEMGPT_HEARTBEAT_INTERVAL``
  is on: a system event every interval. One that falls due while the agent has paused
  heartbeats (``pause_heartbeats``) is skipped, and the next is due at the later of one
  interval on and the pause's end. Missed heartbeats collapse into one.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Literal, Protocol

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, Field

from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import Text, new_id, stable_id, utcnow

ScheduleKind = Literal["one-time", "recurring", "heartbeat"]
PAST_GRACE = timedelta(seconds=5)
"""How far in the past a one-time schedule may be set (clock skew, latency): it fires at once."""
LATEST = datetime(9999, 1, 1, tzinfo=timezone.utc)
ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
HEARTBEAT_TEXT = (
    "heartbeat: timed wake-up at {now:%Y-%m-%d %H:%M} UTC; nothing new has arrived. Use the time "
    "as you see fit (review or tidy your memory), or call pause_heartbeats to rest."
)


class ScheduledInput(BaseModel):
    """One message a firing delivers: a user message, or a system event (role ``system``)."""

    role: Literal["user", "system"] = "user"
    text: Text = Field(min_length=1)


class Schedule(BaseModel):
    """A stored schedule of one agent."""

    id: str = Field(default_factory=lambda: new_id("scheduled_message"))
    agent_id: str
    owner: str
    kind: ScheduleKind
    at: datetime | None = None
    """When a one-time schedule is due."""
    cron: str | None = None
    """A recurring schedule's cron expression, as given."""
    messages: list[ScheduledInput] = Field(default_factory=list)
    next_at: datetime | None = None
    """When it is next due (None: nothing left to fire)."""
    max_steps: int | None = None
    callback_url: str | None = None
    include_return_message_types: list[str] | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_fired_at: datetime | None = None
    firings: int = 0
    last_error: str | None = None
    claimed_by: str | None = None
    """The scheduler (a kernel's holder id) delivering it now, if any."""
    claimed_until: datetime | None = None
    """When that claim lapses (or, with nobody claiming, when a postponed firing may go)."""

    def input_id(self, due: datetime, index: int) -> str:
        """The id of the message a firing delivers: the same for the same firing in every
        process, so a firing whose message is already in recall is never delivered again."""
        return stable_id("message", self.id, due.astimezone(timezone.utc).isoformat(), str(index))


def heartbeat_id(agent_id: str) -> str:
    """The one heartbeat schedule of an agent (a fixed id: two processes cannot make two)."""
    return stable_id("heartbeat", agent_id)


def cron_expression(expression: str) -> str:
    """The expression cronsim reads (aliases expanded); InvalidRequestError if it is no cron."""
    text = " ".join(expression.split())
    text = ALIASES.get(text.lower(), text)
    try:
        next(CronSim(text, datetime(2000, 1, 1, tzinfo=timezone.utc)))
    except (CronSimError, StopIteration, ValueError) as exc:
        raise InvalidRequestError(
            f"invalid cron expression {expression!r}: {exc or 'it never matches'} (five fields: "
            "minute hour day-of-month month day-of-week, UTC; or six with seconds first)"
        ) from None
    return text


def next_cron(expression: str, after: datetime) -> datetime | None:
    """The first time after ``after`` that the expression names (None if none is left)."""
    try:
        found = next(CronSim(cron_expression(expression), after.astimezone(timezone.utc)))
    except StopIteration:
        return None
    return found if found < LATEST else None


def from_unix_ms(ms: float) -> datetime:
    """A Unix time in milliseconds as a UTC datetime; InvalidRequestError if it is none."""
    if not math.isfinite(ms):
        raise InvalidRequestError("scheduled_at must be a Unix time in milliseconds")
    try:
        at = datetime.fromtimestamp(ms / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise InvalidRequestError(f"scheduled_at {ms!r} is out of range (Unix milliseconds)") from None
    if at >= LATEST:
        raise InvalidRequestError(f"scheduled_at {ms!r} is out of range (Unix milliseconds)")
    return at


def one_time_at(at: datetime, now: datetime) -> datetime:
    """A one-time schedule's time (naive: UTC), refused if more than PAST_GRACE past."""
    at = at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
    try:
        at = at.astimezone(timezone.utc)
    except OverflowError:
        raise InvalidRequestError("scheduled_at is out of range") from None
    if at < now - PAST_GRACE:
        raise InvalidRequestError(
            f"scheduled_at {at:%Y-%m-%dT%H:%M:%S}Z is in the past (now {now:%Y-%m-%dT%H:%M:%S}Z); "
            "it must be in the future"
        )
    if at >= LATEST:
        raise InvalidRequestError("scheduled_at is out of range")
    return at


def after_firing(schedule: Schedule, now: datetime, interval: float,
                 paused_until: datetime | None = None) -> datetime | None:
    """When a schedule is due next once the firing due at ``schedule.next_at`` is done at
    ``now`` (None: it is finished). Missed recurring times collapse into the one fired."""
    if schedule.kind == "one-time":
        return None
    if schedule.kind == "recurring":
        assert schedule.cron is not None
        return next_cron(schedule.cron, now)
    following = now + timedelta(seconds=interval)
    return max(following, paused_until) if paused_until is not None else following


def heartbeat_text(now: datetime) -> str:
    """The system event a timed heartbeat delivers."""
    return HEARTBEAT_TEXT.format(now=now)


class SchedulePage(BaseModel):
    """A page of an agent's schedules, and whether more follow."""

    items: list[Schedule]
    has_more: bool


class ScheduleStore(Protocol):
    """Schedules by owner and agent, and the claims that make a firing happen once."""

    async def create(self, schedule: Schedule) -> Schedule:
        """Store a new schedule."""
        ...

    async def get(self, owner: str, agent_id: str, schedule_id: str) -> Schedule:
        """One of owner's schedules of an agent (not heartbeats); NotFoundError if absent."""
        ...

    async def page(self, owner: str, agent_id: str, *, after: str | None, limit: int) -> SchedulePage:
        """Owner's schedules of an agent, oldest first, after the one with id ``after``."""
        ...

    async def delete(self, owner: str, agent_id: str, schedule_id: str) -> None:
        """Delete one of owner's schedules of an agent; NotFoundError if absent."""
        ...

    async def due(self, now: datetime, *, heartbeats: bool, limit: int) -> list[Schedule]:
        """Schedules due at ``now`` (next_at passed, not claimed or the claim expired), and
        ones claimed by someone (to check whether the claimer died), earliest first."""
        ...

    async def next_due(self, *, heartbeats: bool) -> datetime | None:
        """The earliest next_at of any schedule."""
        ...

    async def claim(self, schedule_id: str, holder: str, now: datetime, until: datetime,
                    *, dead: str | None = None) -> Schedule | None:
        """Claim a due schedule for delivery until ``until`` (a conditional update: of several
        processes, one wins); ``dead`` takes over the claim of that dead holder instead."""
        ...

    async def renew(self, schedule_id: str, holder: str, until: datetime) -> None:
        """Extend our claim while delivering."""
        ...

    async def finish(self, schedule_id: str, holder: str, *, fired_at: datetime | None,
                     next_at: datetime | None, error: str | None = None) -> None:
        """End our claim: record a firing (``fired_at``) and set when it is due next; a
        schedule with no next time that fired is removed."""
        ...

    async def postpone(self, schedule_id: str, holder: str, until: datetime) -> None:
        """Give our claim back without firing; nobody claims it before ``until``."""
        ...

    async def ensure_heartbeats(self, first_at: datetime) -> int:
        """Give every agent without one a heartbeat schedule, first due at ``first_at``;
        returns how many were made."""
        ...
