"""Letta's step routes: list, retrieve, messages, metrics, feedback, trace; and a run's steps.

Served through ``letta/runs.py``'s router. A step is one model call and its tool calls; its
record holds the run it belongs to, its token usage, and the feedback a client gave it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from memgpt.formats import letta as ls
from memgpt.memory.runs import StepInfo, StepQuery
from memgpt.server.deps import Service

router = APIRouter(tags=["steps"])
Limit = Annotated[int, Query(ge=1, le=1000)]

STOP_REASONS = {"repeated_call": "max_steps"}
"""Our stop reasons Letta has no name for."""


def letta_stop(reason: str | None) -> str | None:
    """Our stop reason in Letta's vocabulary."""
    return None if reason is None else STOP_REASONS.get(reason, reason)


class LettaStep(BaseModel):
    """A step in Letta's shape."""

    id: str
    agent_id: str
    run_id: str | None = None
    model: str | None = None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_input_tokens: int | None = None
    stop_reason: str | None = None
    status: Literal["pending", "success", "failed", "cancelled"] = "success"
    feedback: Literal["positive", "negative"] | None = None
    tags: list[str] = []


def step_out(step: StepInfo) -> LettaStep:
    """Our step record in Letta's shape (a step that asked for a heartbeat has no stop reason)."""
    u = step.usage
    return LettaStep(
        id=step.id, agent_id=step.agent_id, run_id=step.run_id, model=step.model,
        prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
        total_tokens=u.prompt_tokens + u.completion_tokens, cached_input_tokens=u.cached_tokens,
        stop_reason=letta_stop(step.stop_reason), feedback=step.feedback, tags=step.tags,
    )


def cursor_page(out: list[ls.LettaMessage], after: str | None, before: str | None, limit: int) -> list[ls.LettaMessage]:
    """A page of Letta messages in the requested order; cursors are message ids (several Letta
    messages made from one stored message share its id: a cursor skips past all of them)."""
    ids = [m.id for m in out]
    if after is not None:
        if after not in ids:
            return []
        out = out[len(ids) - ids[::-1].index(after):]
    if before is not None:
        ids = [m.id for m in out]
        out = out[:ids.index(before)] if before in ids else []
    return out[:limit]


def _query(order: Literal["asc", "desc"], limit: int, before: str | None, after: str | None,
           **filters: Any) -> StepQuery:
    return StepQuery(ascending=order == "asc", limit=limit, before=before, after=after, **filters)


@router.get("/v1/steps/", response_model=list[LettaStep])
@router.get("/v1/steps", response_model=list[LettaStep], include_in_schema=False)
async def list_steps(
    service: Service, agent_id: str | None = None, model: str | None = None,
    feedback: Literal["positive", "negative"] | None = None, has_feedback: bool | None = None,
    start_date: datetime | None = None, end_date: datetime | None = None,
    before: str | None = None, after: str | None = None, limit: Limit = 100,
    order: Literal["asc", "desc"] = "desc", order_by: Literal["created_at"] = "created_at",
    tags: Annotated[list[str] | None, Query()] = None, trace_ids: Annotated[list[str] | None, Query()] = None,
    project_id: str | None = None,
) -> list[LettaStep]:
    """The caller's steps, newest first by default."""
    steps = await service._find_steps(_query(
        order, limit, before, after, agent_id=agent_id, model=model, feedback=feedback,
        has_feedback=has_feedback, start=start_date, end=end_date,
    ))
    if tags:
        steps = [s for s in steps if set(tags) <= set(s.tags)]
    return [step_out(s) for s in steps]


@router.get("/v1/runs/{run_id}/steps", response_model=list[LettaStep])
async def run_steps(
    run_id: str, service: Service, before: str | None = None, after: str | None = None,
    limit: Limit = 100, order: Literal["asc", "desc"] = "asc", order_by: Literal["created_at"] = "created_at",
) -> list[LettaStep]:
    """The steps of a run, oldest first by default."""
    return [step_out(s) for s in await service._find_steps(_query(order, limit, before, after, run_id=run_id))]


@router.get("/v1/steps/{step_id}", response_model=LettaStep)
async def retrieve_step(step_id: str, service: Service) -> LettaStep:
    """One step: its run, usage, stop reason and feedback."""
    return step_out(await service.get_step(step_id))


@router.get("/v1/steps/{step_id}/messages", response_model=list[ls.LettaMessage])
async def step_messages(
    step_id: str, service: Service, before: str | None = None, after: str | None = None,
    limit: Limit = 100, order: Literal["asc", "desc"] = "asc", order_by: Literal["created_at"] = "created_at",
) -> list[ls.LettaMessage]:
    """What the step's model call said and its tool results."""
    step = await service.get_step(step_id)
    out = [x.model_copy(update={"run_id": step.run_id})
           for x in ls.messages_to_letta(await service._step_messages(step_id))]
    return cursor_page(out[::-1] if order == "desc" else out, after, before, limit)


class StepMetrics(BaseModel):
    """Timings of a step: this server does not measure them (all None)."""

    id: str
    agent_id: str | None = None
    run_id: str | None = None
    step_ns: int | None = None
    llm_request_ns: int | None = None
    tool_execution_ns: int | None = None


@router.get("/v1/steps/{step_id}/metrics", response_model=StepMetrics)
async def step_metrics(step_id: str, service: Service) -> StepMetrics:
    """A step's metrics record (ids only: timings are not recorded here)."""
    step = await service.get_step(step_id)
    return StepMetrics(id=step.id, agent_id=step.agent_id, run_id=step.run_id)


class FeedbackRequest(BaseModel):
    """PATCH /v1/steps/{step_id}/feedback."""

    feedback: Literal["positive", "negative"] | None = None
    tags: list[str] | None = None


@router.patch("/v1/steps/{step_id}/feedback", response_model=LettaStep)
async def step_feedback(step_id: str, body: FeedbackRequest, service: Service) -> LettaStep:
    """Store feedback (positive, negative or none) and tags on a step."""
    return step_out(await service.set_step_feedback(step_id, body.feedback, body.tags))


@router.get("/v1/steps/{step_id}/trace")
async def step_trace(step_id: str, service: Service) -> None:
    """The provider trace of a step: this server records none (null)."""
    await service.get_step(step_id)
    return None
