"""Schedules on the native API (``/memgpt/v1``): each route calls the AgentService method of
the same name; the stored ``Schedule`` comes back whole (firings, last error, next time)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from memgpt.memory.schedules import Schedule, ScheduledInput, SchedulePage
from memgpt.server.deps import Service

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class NewSchedule(BaseModel):
    """Arguments of AgentService.create_schedule: ``at`` (once) or ``cron`` (UTC)."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ScheduledInput] = Field(min_length=1)
    at: datetime | None = None
    cron: str | None = Field(default=None, min_length=1, max_length=200)
    max_steps: int | None = Field(default=None, ge=1, le=1000)
    callback_url: str | None = Field(default=None, max_length=2000)
    include_return_message_types: list[str] | None = None


@router.post("/agents/{agent}/schedules", response_model=Schedule, status_code=201)
async def create_schedule(agent: str, body: NewSchedule, service: Service) -> Schedule:
    """Schedule messages for an agent, once or on a cron."""
    return await service.create_schedule(
        agent, body.messages, at=body.at, cron=body.cron, max_steps=body.max_steps,
        callback_url=body.callback_url, include_return_message_types=body.include_return_message_types)


@router.get("/agents/{agent}/schedules", response_model=SchedulePage)
async def list_schedules(
    agent: str, service: Service, after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> SchedulePage:
    """An agent's schedules, oldest first."""
    return await service.list_schedules(agent, after=after, limit=limit)


@router.get("/agents/{agent}/schedules/{schedule_id}", response_model=Schedule)
async def get_schedule(agent: str, schedule_id: str, service: Service) -> Schedule:
    """One of an agent's schedules."""
    return await service.get_schedule(agent, schedule_id)


@router.delete("/agents/{agent}/schedules/{schedule_id}", status_code=204)
async def delete_schedule(agent: str, schedule_id: str, service: Service) -> Response:
    """Delete a schedule: it fires no more."""
    await service.delete_schedule(agent, schedule_id)
    return Response(status_code=204)
