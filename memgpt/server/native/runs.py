"""memgpt's own runs, steps and window-control routes under /memgpt/v1 (memgpt's schemas)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from memgpt.core.schemas import AgentState, Message
from memgpt.memory.runs import Compaction, Run, StepInfo
from memgpt.server.deps import Service

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])
Limit = Annotated[int, Query(ge=1, le=1000)]


class AsyncSend(BaseModel):
    """Body of POST /agents/{agent}/messages/async."""

    text: str
    role: Literal["user", "event"] = "user"
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None
    request_config: dict[str, Any] | None = None


@router.post("/agents/{agent}/messages/async", response_model=Run, status_code=202)
async def send_async(agent: str, body: AsyncSend, service: Service) -> Run:
    """Queue an input; the run comes back at once and runs in the background, in order."""
    return await service.send_async(agent, body.text, role=body.role, callback_url=body.callback_url,
                                    metadata=body.metadata, request_config=body.request_config)


@router.get("/runs", response_model=list[Run])
async def list_runs(
    service: Service, agent: str | None = None, statuses: Annotated[list[str] | None, Query()] = None,
    background: bool | None = None, before: str | None = None, after: str | None = None,
    limit: Limit = 50, ascending: bool = False,
) -> list[Run]:
    """The caller's runs, newest first unless ascending."""
    return await service.list_runs(agent, statuses=statuses, background=background, before=before,
                                   after=after, limit=limit, ascending=ascending)


@router.get("/runs/{run_id}", response_model=Run)
async def get_run(run_id: str, service: Service) -> Run:
    """One run: status, stop reason, usage, input, callback outcome."""
    return await service.get_run(run_id)


@router.get("/runs/{run_id}/messages", response_model=list[Message])
async def run_messages(run_id: str, service: Service, after_seq: int | None = None, limit: Limit = 1000) -> list[Message]:
    """The messages a run wrote, its input first."""
    return await service.run_messages(run_id, after_seq=after_seq, limit=limit)


class CancelBody(BaseModel):
    """Body of POST /agents/{agent}/cancel."""

    run_ids: list[str] | None = None


@router.post("/agents/{agent}/cancel", response_model=dict[str, str])
async def cancel_runs(agent: str, body: CancelBody, service: Service) -> dict[str, str]:
    """Cancel the agent's active runs (or those named)."""
    return await service.cancel_runs(agent, body.run_ids)


@router.get("/steps", response_model=list[StepInfo])
async def list_steps(
    service: Service, agent: str | None = None, run_id: str | None = None,
    feedback: Literal["positive", "negative"] | None = None, before: str | None = None,
    after: str | None = None, limit: Limit = 50, ascending: bool = False,
) -> list[StepInfo]:
    """The caller's step records, newest first unless ascending."""
    return await service.list_steps(agent=agent, run_id=run_id, feedback=feedback, before=before,
                                    after=after, limit=limit, ascending=ascending)


@router.get("/steps/{step_id}", response_model=StepInfo)
async def get_step(step_id: str, service: Service) -> StepInfo:
    """One step record."""
    return await service.get_step(step_id)


class FeedbackBody(BaseModel):
    """Body of PATCH /steps/{step_id}/feedback."""

    feedback: Literal["positive", "negative"] | None
    tags: list[str] | None = None


@router.patch("/steps/{step_id}/feedback", response_model=StepInfo)
async def set_step_feedback(step_id: str, body: FeedbackBody, service: Service) -> StepInfo:
    """Store feedback (and tags) on a step."""
    return await service.set_step_feedback(step_id, body.feedback, body.tags)


class ResetBody(BaseModel):
    """Body of POST /agents/{agent}/reset."""

    add_default_initial_messages: bool = False


@router.post("/agents/{agent}/reset", response_model=AgentState)
async def reset_messages(agent: str, body: ResetBody, service: Service) -> AgentState:
    """A new window: recall keeps every message, the summary goes."""
    return await service.reset_messages(agent, add_default_initial_messages=body.add_default_initial_messages)


@router.post("/agents/{agent}/compact", response_model=Compaction)
async def compact(agent: str, service: Service) -> Compaction:
    """Evict the window into the recursive summary now."""
    return await service.compact(agent)


class RecompileBody(BaseModel):
    """Body of POST /agents/{agent}/recompile."""

    dry_run: bool = False
    update_timestamp: bool = False


@router.post("/agents/{agent}/recompile", response_model=str)
async def recompile(agent: str, body: RecompileBody, service: Service) -> str:
    """Rebuild the system message from current memory; returns it."""
    return await service.recompile(agent, dry_run=body.dry_run, update_timestamp=body.update_timestamp)
