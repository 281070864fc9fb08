"""Schedules: messages an agent receives at a time or on a cron, and timed heartbeats.

The timing rules are in ``memgpt.memory.schedules``. Delivery rules (``run_due``):

- **Once, across processes.** A due firing is claimed with a conditional UPDATE (one
  scheduler wins), the claim is renewed while it is delivered, and it ends by setting the
  next time (a one-time schedule is removed). A claim whose holder died on this host is taken
  over at once; one of another host lapses after ``CLAIM_SECONDS``.
- **Tied to the firing.** The message a firing delivers has an id made from the schedule and
  the due time, and delivery checks, under the agent's lease, that recall does not hold it
  yet. So a crash after the claim and before the input was committed delivers it on the next
  claim; a crash after the commit (before the claim ended) does not deliver it again: that
  firing just ends. The turn itself follows the loop's rule (a step not committed is re-asked
  on the next turn).
- **Through the normal loop.** A firing is a turn like any send (``_send``, so it is a run):
  a user message, or a system event for role ``system``; heartbeats are system events.
- **Busy agents delay, never drop.** A firing whose agent stays busy past
  ``MEMGPT_BUSY_WAIT`` gives its claim back and is tried again ``RETRY_SECONDS`` later.
  Any other failure spends the firing: it is recorded in ``last_error`` and the schedule
  moves on (a model that is misconfigured must not be called every second).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from memgpt.core import urls
from memgpt.core.errors import AgentBusyError, InvalidRequestError, NotFoundError
from memgpt.core.schemas import AgentState, Message, SendResult, utcnow
from memgpt.memory.schedules import (
    Schedule, ScheduledInput, SchedulePage, ScheduleStore, after_firing, cron_expression, heartbeat_text,
    next_cron, one_time_at,
)
from memgpt.memory.runs import RunQuery
from memgpt.runtime.agent import AgentRuntime
from memgpt.services import run_tracking as tracking
from memgpt.services.base import ServiceBase
from memgpt.services.kernel import Kernel, holder_is_dead
from memgpt.services.messages import MessagesApi

log = logging.getLogger("memgpt.schedules")
CLAIM_SECONDS = 60.0
"""How long a claim on a firing lasts unless renewed (it is, every third of it)."""
RETRY_SECONDS = 5.0
"""How long a firing whose agent stayed busy waits before it is tried again."""
BATCH = 100
"""Due schedules looked at per pass."""
MAX_MESSAGES = 20

_WAKE: weakref.WeakKeyDictionary[Kernel, asyncio.Event] = weakref.WeakKeyDictionary()
"""The running scheduler of a kernel, woken when a schedule is made in this process."""


class _AlreadyDelivered(Exception):
    """Raised under the lease when a firing's message is already in recall."""


@dataclass(frozen=True)
class Firing:
    """What one delivery attempt did: ``fired`` (delivered now, or found delivered),
    ``skipped`` (a paused heartbeat), ``retry`` (agent busy) or ``failed``; and the turns."""

    schedule_id: str
    agent_id: str
    due: datetime
    outcome: str
    results: tuple[SendResult, ...] = ()
    error: str | None = None


class SchedulesApi(ServiceBase):
    """Schedules of the caller's agents (``Scheduler`` delivers them)."""

    @property
    def schedule_store(self) -> ScheduleStore:
        """Where schedules and their claims are kept."""
        return self.kernel.storage.schedules

    async def create_schedule(
        self, agent: str, messages: list[ScheduledInput], *, at: datetime | None = None,
        cron: str | None = None, max_steps: int | None = None, callback_url: str | None = None,
        include_return_message_types: list[str] | None = None,
    ) -> Schedule:
        """Schedule messages for an agent: once at ``at`` (naive: UTC; not more than a few
        seconds past) or on a ``cron`` expression (UTC). ``max_steps`` bounds the steps of each
        delivered message's turn (never above ``MEMGPT_MAX_CHAIN_STEPS``); ``callback_url`` is
        POSTed each delivered message's finished run, as a run's callback is, under the same URL
        policy (checked here and at each POST). ``include_return_message_types`` is kept only."""
        state = await self.get_agent(agent)
        if max_steps is not None and max_steps < 1:
            raise InvalidRequestError(f"max_steps must be at least 1 (got {max_steps})")
        if callback_url is not None:
            await urls.check_url_host(callback_url, private=urls.private_urls_allowed(self.settings),
                                      what="callback_url")
        now = utcnow()
        if not messages or len(messages) > MAX_MESSAGES:
            raise InvalidRequestError(f"a schedule delivers 1 to {MAX_MESSAGES} messages (got {len(messages)})")
        if (at is None) == (cron is None):
            raise InvalidRequestError("give exactly one of a time (at, scheduled_at) or a cron expression")
        if cron is not None:
            expression = cron_expression(cron)
            first = next_cron(expression, now)
            if first is None:
                raise InvalidRequestError(f"cron expression {cron!r} names no future time")
            schedule = Schedule(agent_id=state.id, owner=self.owner, kind="recurring", cron=expression, next_at=first)
        else:
            when = one_time_at(cast(datetime, at), now)
            schedule = Schedule(agent_id=state.id, owner=self.owner, kind="one-time", at=when, next_at=when)
        schedule = schedule.model_copy(update=dict(
            messages=messages, max_steps=max_steps, callback_url=callback_url,
            include_return_message_types=include_return_message_types))
        await self.schedule_store.create(schedule)
        wake = _WAKE.get(self.kernel)
        if wake is not None:
            wake.set()
        return schedule

    async def list_schedules(self, agent: str, *, after: str | None = None, limit: int = 50) -> SchedulePage:
        """An agent's schedules, oldest first, after the one with id ``after``."""
        if not 1 <= limit <= 1000:
            raise InvalidRequestError(f"limit must be 1 to 1000 (got {limit})")
        state = await self.get_agent(agent)
        return await self.schedule_store.page(self.owner, state.id, after=after, limit=limit)

    async def get_schedule(self, agent: str, schedule_id: str) -> Schedule:
        """One of an agent's schedules."""
        state = await self.get_agent(agent)
        return await self.schedule_store.get(self.owner, state.id, schedule_id)

    async def delete_schedule(self, agent: str, schedule_id: str) -> None:
        """Delete a schedule: it fires no more (a delivery under way finishes)."""
        state = await self.get_agent(agent)
        await self.schedule_store.delete(self.owner, state.id, schedule_id)


class Scheduler:
    """The background loop of ``memgpt server``: claims due firings and delivers each in its
    own task (a busy agent holds up no other), sleeping until the next due time, at most
    ``MEMGPT_SCHEDULER_POLL`` seconds (other processes' new schedules), woken at once by a
    schedule made in this process."""

    def __init__(self, service: ServiceBase) -> None:
        self.service = service
        self.store: ScheduleStore = service.kernel.storage.schedules
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._firing: set[asyncio.Task[Firing]] = set()

    async def claim_due(self, now: datetime | None = None) -> list[Schedule]:
        """Claim every schedule due at ``now`` that nobody else delivers (all owners')."""
        now = now or utcnow()
        store, holder = self.store, self.service.kernel.holder
        heartbeats = self.service.settings.heartbeat_interval > 0
        if heartbeats:
            await store.ensure_heartbeats(now + timedelta(seconds=self.service.settings.heartbeat_interval))
        claimed = []
        until = now + timedelta(seconds=CLAIM_SECONDS)
        for found in await store.due(now, heartbeats=heartbeats, limit=BATCH):
            dead = None
            if found.claimed_by is not None and found.claimed_until is not None and found.claimed_until > now:
                if not holder_is_dead(found.claimed_by):
                    continue  # being delivered
                dead = found.claimed_by
            got = await store.claim(found.id, holder, now, until, dead=dead)
            if got is not None:
                claimed.append(got)
        return claimed

    async def run_due(self, now: datetime | None = None) -> list[Firing]:
        """Claim and deliver every due schedule, waiting for the deliveries (tests drive the
        scheduler with this; ``now`` is an injected clock)."""
        now = now or utcnow()
        claimed = await self.claim_due(now)
        return list(await asyncio.gather(*(self.fire(s, now) for s in claimed)))

    async def fire(self, schedule: Schedule, now: datetime | None = None) -> Firing:
        """Deliver a claimed firing (renewing the claim meanwhile) and end the claim."""
        now = now or utcnow()
        renew = asyncio.create_task(self._renew_claim(schedule.id))
        try:
            firing = await self._deliver_firing(schedule, now)
        except asyncio.CancelledError:  # shutting down: the next pass (here or elsewhere) goes on
            await asyncio.shield(self.store.postpone(schedule.id, self.service.kernel.holder, utcnow()))
            raise
        finally:
            renew.cancel()
            await asyncio.gather(renew, return_exceptions=True)
        await self._settle_firing(schedule, firing, now)
        return firing

    async def _renew_claim(self, schedule_id: str) -> None:
        while True:
            await asyncio.sleep(CLAIM_SECONDS / 3)
            until = utcnow() + timedelta(seconds=CLAIM_SECONDS)
            await self.store.renew(schedule_id, self.service.kernel.holder, until)

    async def _settle_firing(self, schedule: Schedule, firing: Firing, now: datetime) -> None:
        store, holder = self.store, self.service.kernel.holder
        if firing.outcome == "retry":
            await store.postpone(schedule.id, holder, utcnow() + timedelta(seconds=RETRY_SECONDS))
            return
        paused = None
        if schedule.kind == "heartbeat":
            try:
                paused = (await self.service.stores.agents.get(schedule.agent_id)).heartbeats_paused_until
            except NotFoundError:
                return  # the agent (and so its schedules) is gone
        later = max(now, utcnow())  # now may be a test's clock, ahead of the real one
        following = after_firing(schedule, later, self.service.settings.heartbeat_interval, paused)
        fired = firing.due if firing.outcome in ("fired", "failed") else None
        await store.finish(schedule.id, holder, fired_at=fired, next_at=following, error=firing.error)

    async def _deliver_firing(self, schedule: Schedule, now: datetime) -> Firing:
        due = schedule.next_at or now
        inputs: list[tuple[str, Message]] = []
        if schedule.kind == "heartbeat":
            state = await self._agent_if_any(schedule.agent_id)
            paused = state.heartbeats_paused_until if state is not None else None
            if state is None or (paused is not None and paused > now):
                return Firing(schedule.id, schedule.agent_id, due, "skipped")
            inputs.append(("heartbeat", Message.event(heartbeat_text(now))))
        for m in schedule.messages:
            inputs.append((m.role, Message.user(m.text) if m.role == "user" else Message.event(m.text)))
        sender = self._schedules_view(schedule.owner)
        results = []
        for index, (_, message) in enumerate(inputs):
            message = message.model_copy(update={"id": schedule.input_id(due, index)})
            try:
                results.append(await sender._send(schedule.agent_id, self._unless_delivered(message), None,
                                                  max_steps=schedule.max_steps))
                await self._callback(schedule, results[-1])
            except _AlreadyDelivered:
                continue
            except AgentBusyError:
                log.info("schedule %s: agent %s is busy; trying again later", schedule.id, schedule.agent_id)
                return Firing(schedule.id, schedule.agent_id, due, "retry", tuple(results))
            except Exception as exc:  # spent: recorded, and the schedule moves on
                log.warning("schedule %s of agent %s failed: %s: %s", schedule.id, schedule.agent_id,
                            type(exc).__name__, exc)
                return Firing(schedule.id, schedule.agent_id, due, "failed", tuple(results),
                              f"{type(exc).__name__}: {exc}")
        return Firing(schedule.id, schedule.agent_id, due, "fired", tuple(results))

    def _unless_delivered(self, message: Message) -> Callable[[AgentRuntime], Awaitable[Message]]:
        """The input, made under the agent's lease: refused if recall holds it already."""
        async def make(runtime: AgentRuntime) -> Message:
            try:
                await self.service.stores.recall.get(runtime.state.id, message.id)
            except NotFoundError:
                return message
            raise _AlreadyDelivered(message.id)
        return make

    async def _agent_if_any(self, agent_id: str) -> AgentState | None:
        try:
            return await self.service.stores.agents.get(agent_id)
        except NotFoundError:
            return None

    def _schedules_view(self, owner: str) -> MessagesApi:
        """The sender as the schedule's owner (the scheduler serves every owner)."""
        view = MessagesApi(self.service.kernel, owner)
        view.settings = self.service.settings
        return view

    async def _callback(self, schedule: Schedule, result: SendResult) -> None:
        """POST the delivered message's finished run to the schedule's callback_url in the
        background (its outcome is recorded on the run, as a run's own callback is)."""
        if not schedule.callback_url:
            return
        kernel = self.service.kernel
        query = RunQuery(agent_ids=[schedule.agent_id], input_id=result.input.id, limit=1)
        for run in await kernel.storage.runs.find(schedule.owner, query):
            tracking.live(kernel).spawn(tracking.post_callback(
                kernel, run.model_copy(update={"callback_url": schedule.callback_url})))
            return
        log.warning("schedule %s: no run found for its input %s; no callback", schedule.id, result.input.id)


    async def start(self) -> None:
        """Start the loop (a firing missed while no server ran goes at once)."""
        _WAKE[self.service.kernel] = self.wake
        self._task = asyncio.create_task(self._loop(), name="memgpt-scheduler")

    async def stop(self) -> None:
        """Stop the loop and the deliveries under way (their claims lapse or are taken over;
        a delivered input is never delivered again)."""
        if _WAKE.get(self.service.kernel) is self.wake:
            del _WAKE[self.service.kernel]
        tasks = [t for t in (self._task, *self._firing) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        poll = self.service.settings.scheduler_poll
        while True:
            self.wake.clear()
            try:
                for schedule in await self.claim_due():
                    task = asyncio.create_task(self.fire(schedule))
                    self._firing.add(task)
                    task.add_done_callback(self._done)
                heartbeats = self.service.settings.heartbeat_interval > 0
                upcoming = await self.store.next_due(heartbeats=heartbeats)
            except Exception:  # the database may be away a while: try again next poll
                log.exception("the scheduler's pass failed")
                upcoming = None
            delay = poll  # something due is held (delivered, or postponed): look again later
            if upcoming is not None and upcoming > utcnow():
                delay = min(poll, (upcoming - utcnow()).total_seconds())
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=max(delay, 0.01))
            except TimeoutError:
                pass

    def _done(self, task: asyncio.Task[Firing]) -> None:
        """A delivery ended: its schedule's next time may be the nearest now."""
        self._firing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a scheduled firing failed", exc_info=task.exception())
        self.wake.set()
