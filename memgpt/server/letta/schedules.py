"""Letta's scheduled messages (``agents.schedule``): one-time at a Unix-ms time or recurring by
cron expression (UTC), delivered by the scheduler inside ``memgpt server``.

As Letta documents: a one-time schedule must be in the future (we allow 5 s of clock skew;
older is 400) and is removed once delivered; a recurring one fires until deleted. Messages
are text, role ``user`` (a user message) or ``system`` (a system event); ``assistant`` is
refused. ``max_steps`` and ``callback_url`` act as in Letta.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from memgpt.core.errors import InvalidRequestError
from memgpt.formats.letta import MessageType
from memgpt.memory.schedules import Schedule, ScheduledInput, from_unix_ms
from memgpt.server.deps import Service
from memgpt.server.errors import NotImplementedByServer

router = APIRouter(tags=["schedule"])


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Part(_In):
    """A content part; only text is supported."""

    type: str = "text"
    text: str | None = None


class ScheduleMessage(_In):
    """One message a firing delivers."""

    role: Literal["user", "assistant", "system"]
    content: str | list[Part]
    name: str | None = None
    otid: str | None = None
    sender_id: str | None = None
    type: Literal["message"] | None = None


class OneTime(_In):
    """Once, at a Unix time in milliseconds."""

    scheduled_at: float
    type: Literal["one-time"] | None = None


class Recurring(_In):
    """On a cron expression (UTC)."""

    cron_expression: str = Field(min_length=1, max_length=200)
    type: Literal["recurring"]


class CreateSchedule(_In):
    """POST /v1/agents/{agent_id}/schedule."""

    messages: list[ScheduleMessage] = Field(min_length=1)
    schedule: Recurring | OneTime
    callback_url: str | None = Field(default=None, max_length=2000)
    include_return_message_types: list[MessageType] | None = None
    max_steps: float | None = Field(default=None, ge=1, le=1000)


def _input(m: ScheduleMessage) -> ScheduledInput:
    if m.role == "assistant":
        raise InvalidRequestError("cannot schedule an assistant message; use role user or system")
    if isinstance(m.content, str):
        text = m.content
    else:
        kinds = {p.type for p in m.content} - {"text"}
        if kinds:
            raise NotImplementedByServer(f"content of type {sorted(kinds)} is not supported; send text")
        text = "\n".join(p.text or "" for p in m.content)
    if not text.strip():
        raise InvalidRequestError("a scheduled message needs text")
    return ScheduledInput(role=m.role, text=text)


def _iso(schedule: Schedule) -> str | None:
    at = schedule.next_at
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def scheduled_message(schedule: Schedule) -> dict[str, Any]:
    """A schedule as Letta's ScheduledMessage."""
    when: dict[str, Any] = (
        {"type": "recurring", "cron_expression": schedule.cron} if schedule.kind == "recurring"
        else {"type": "one-time", "scheduled_at": (schedule.at.timestamp() * 1000) if schedule.at else 0.0}
    )
    message: dict[str, Any] = {
        "messages": [{"role": m.role, "content": m.text, "type": "message"} for m in schedule.messages],
        "callback_url": schedule.callback_url,
        "include_return_message_types": schedule.include_return_message_types,
        "max_steps": schedule.max_steps,
    }
    return {"id": schedule.id, "agent_id": schedule.agent_id, "message": message,
            "next_scheduled_time": _iso(schedule), "schedule": when}


@router.post("/v1/agents/{agent_id}/schedule")
async def create_schedule(agent_id: str, body: CreateSchedule, service: Service) -> dict[str, Any]:
    """Schedule messages for the agent, once or on a cron."""
    inputs = [_input(m) for m in body.messages]
    when = body.schedule
    made = await service.create_schedule(
        agent_id, inputs,
        at=from_unix_ms(when.scheduled_at) if isinstance(when, OneTime) else None,
        cron=when.cron_expression if isinstance(when, Recurring) else None,
        max_steps=int(body.max_steps) if body.max_steps is not None else None,
        callback_url=body.callback_url,
        include_return_message_types=list(body.include_return_message_types or []) or None,
    )
    return {"id": made.id, "next_scheduled_at": _iso(made)}


@router.get("/v1/agents/{agent_id}/schedule")
async def list_schedules(
    agent_id: str, service: Service, after: str | None = None,
    limit: Annotated[str | None, Query(max_length=10)] = None,
) -> dict[str, Any]:
    """The agent's schedules, oldest first (``after``: an id; ``limit``: 1 to 1000, 50)."""
    try:
        count = int(limit) if limit not in (None, "") else 50
    except ValueError:
        raise InvalidRequestError(f"limit must be a whole number (got {limit!r})") from None
    found = await service.list_schedules(agent_id, after=after or None, limit=count)
    return {"has_next_page": found.has_more, "scheduled_messages": [scheduled_message(s) for s in found.items]}


@router.get("/v1/agents/{agent_id}/schedule/{scheduled_message_id}")
async def retrieve_schedule(agent_id: str, scheduled_message_id: str, service: Service) -> dict[str, Any]:
    """One of the agent's schedules."""
    return scheduled_message(await service.get_schedule(agent_id, scheduled_message_id))


@router.delete("/v1/agents/{agent_id}/schedule/{scheduled_message_id}")
async def delete_schedule(agent_id: str, scheduled_message_id: str, service: Service) -> dict[str, Any]:
    """Delete one of the agent's schedules: it fires no more."""
    await service.delete_schedule(agent_id, scheduled_message_id)
    return {"success": True}
