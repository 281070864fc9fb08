"""Schedules for ``memgpt.MemGPT`` (``LocalSchedules``) and ``memgpt.Client``
(``ClientSchedules``): the AgentService methods of ``memgpt.services.schedules``, blocking.

Schedules fire only while ``memgpt server`` runs (its scheduler delivers them); MemGPT can
make and inspect them on the same database.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from memgpt.memory.schedules import Schedule, ScheduledInput, SchedulePage

T = TypeVar("T")


def _q(part: str) -> str:
    return quote(part, safe="")


class LocalSchedules:
    """Schedules on the local service (MemGPT mixes this in)."""

    service: Any

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    def create_schedule(
        self, agent: str, messages: list[ScheduledInput], *, at: datetime | None = None,
        cron: str | None = None, max_steps: int | None = None, callback_url: str | None = None,
        include_return_message_types: list[str] | None = None,
    ) -> Schedule:
        """Schedule messages for an agent, once at ``at`` or on a ``cron`` expression (UTC)."""
        made: Schedule = self._run(self.service.create_schedule(
            agent, messages, at=at, cron=cron, max_steps=max_steps, callback_url=callback_url,
            include_return_message_types=include_return_message_types))
        return made

    def list_schedules(self, agent: str, *, after: str | None = None, limit: int = 50) -> SchedulePage:
        """An agent's schedules, oldest first, after the one with id ``after``."""
        page: SchedulePage = self._run(self.service.list_schedules(agent, after=after, limit=limit))
        return page

    def get_schedule(self, agent: str, schedule_id: str) -> Schedule:
        """One of an agent's schedules."""
        found: Schedule = self._run(self.service.get_schedule(agent, schedule_id))
        return found

    def delete_schedule(self, agent: str, schedule_id: str) -> None:
        """Delete a schedule: it fires no more."""
        self._run(self.service.delete_schedule(agent, schedule_id))


class ClientSchedules:
    """Schedules over HTTP (Client mixes this in)."""

    def _get(self, kind: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def create_schedule(
        self, agent: str, messages: list[ScheduledInput], *, at: datetime | None = None,
        cron: str | None = None, max_steps: int | None = None, callback_url: str | None = None,
        include_return_message_types: list[str] | None = None,
    ) -> Schedule:
        """Schedule messages for an agent, once at ``at`` or on a ``cron`` expression (UTC)."""
        body = {"messages": [m.model_dump() for m in messages], "at": at.isoformat() if at else None,
                "cron": cron, "max_steps": max_steps, "callback_url": callback_url,
                "include_return_message_types": include_return_message_types}
        return self._get(Schedule, "POST", f"/agents/{_q(agent)}/schedules",
                         json={k: v for k, v in body.items() if v is not None})

    def list_schedules(self, agent: str, *, after: str | None = None, limit: int = 50) -> SchedulePage:
        """An agent's schedules, oldest first, after the one with id ``after``."""
        return self._get(SchedulePage, "GET", f"/agents/{_q(agent)}/schedules",
                         params={"after": after, "limit": limit})

    def get_schedule(self, agent: str, schedule_id: str) -> Schedule:
        """One of an agent's schedules."""
        return self._get(Schedule, "GET", f"/agents/{_q(agent)}/schedules/{_q(schedule_id)}")

    def delete_schedule(self, agent: str, schedule_id: str) -> None:
        """Delete a schedule: it fires no more."""
        self._call("DELETE", f"/agents/{_q(agent)}/schedules/{_q(schedule_id)}")
