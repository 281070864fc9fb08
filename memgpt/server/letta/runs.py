"""Letta's runs and window-control routes: async sends, runs (list, retrieve, messages, steps,
usage, resumed stream, trace), cancel, reset-messages, summarize (compact) and recompile.

Steps live in ``letta/steps.py`` and are served through this router.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from memgpt.core.events import MessageSaved, RunFinished
from memgpt.core.schemas import Message, Role
from memgpt.formats import letta as ls
from memgpt.memory.runs import Run, RunQuery
from memgpt.server import streaming
from memgpt.server.deps import Service
from memgpt.server.letta import steps
from memgpt.server.letta.steps import cursor_page, letta_stop
from memgpt.server.letta.agents import agent_out
from memgpt.server.letta.messages import _input
from memgpt.services.service import AgentService

router = APIRouter(tags=["runs"])
router.include_router(steps.router)

POLL_SECONDS = 1.0
"""How often a resumed stream re-reads a run it gets no live events for (another process's)."""


class LettaRun(BaseModel):
    """A run in Letta's shape."""

    id: str
    agent_id: str
    background: bool | None = None
    status: Literal["created", "running", "completed", "failed", "cancelled"]
    stop_reason: str | None = None
    created_at: datetime
    completed_at: datetime | None = None
    callback_url: str | None = None
    callback_sent_at: datetime | None = None
    callback_status_code: int | None = None
    callback_error: str | None = None
    metadata: dict[str, Any] | None = None
    request_config: dict[str, Any] | None = None
    total_duration_ns: int | None = None
    conversation_id: str | None = None


def run_out(run: Run) -> LettaRun:
    """Our run in Letta's shape (its error, if any, under ``metadata.error``)."""
    took = None
    if run.completed_at is not None and run.started_at is not None:
        took = int((run.completed_at - run.started_at).total_seconds() * 1e9)
    meta = dict(run.metadata) | ({"error": run.error} if run.error else {})
    return LettaRun(
        id=run.id, agent_id=run.agent_id, background=run.background, status=run.status.value,
        stop_reason=letta_stop(run.stop_reason), created_at=run.created_at, completed_at=run.completed_at,
        callback_url=run.callback_url, callback_sent_at=run.callback_sent_at,
        callback_status_code=run.callback_status_code, callback_error=run.callback_error,
        metadata=meta, request_config=run.request_config or None, total_duration_ns=took,
    )


def usage_out(run: Run) -> ls.LettaUsageStatistics:
    """A run's usage as Letta's usage statistics."""
    u = run.usage
    return ls.LettaUsageStatistics(
        completion_tokens=u.completion_tokens, prompt_tokens=u.prompt_tokens,
        total_tokens=u.prompt_tokens + u.completion_tokens, step_count=run.step_count,
        cached_input_tokens=u.cached_tokens, run_ids=[run.id],
    )


def letta_messages(run_id: str, messages: list[Message], *, produced_only: bool = False) -> list[ls.LettaMessage]:
    """Stored messages as Letta messages carrying their run id."""
    if produced_only:
        messages = [m for m in messages if m.role in (Role.ASSISTANT, Role.TOOL)]
    return [x.model_copy(update={"run_id": run_id}) for x in ls.messages_to_letta(messages)]


class AsyncSendRequest(ls.SendMessageRequest):
    """POST /v1/agents/{agent_id}/messages/async."""

    callback_url: str | None = None


@router.post("/v1/agents/{agent_id}/messages/async", response_model=LettaRun)
async def send_async(agent_id: str, body: AsyncSendRequest, service: Service) -> LettaRun:
    """Queue one message and return its run at once; the server runs it in the background
    after the agent's earlier queued runs. Poll ``/v1/runs/{run_id}`` or resume its stream."""
    role, text = _input(body)
    config = {"use_assistant_message": body.use_assistant_message,
              "include_return_message_types": body.include_return_message_types, "max_steps": body.max_steps}
    run = await service.send_async(
        agent_id, text, role="event" if role == "system" else "user", callback_url=body.callback_url,
        request_config={k: v for k, v in config.items() if v is not None},
    )
    return run_out(run)


class CancelRequest(BaseModel):
    """POST /v1/agents/{agent_id}/messages/cancel."""

    run_ids: list[str] | None = None


@router.post("/v1/agents/{agent_id}/messages/cancel")
async def cancel_runs(agent_id: str, service: Service, body: CancelRequest | None = None) -> dict[str, str]:
    """Cancel the agent's active runs (or those named): queued ones at once, a running one
    after its current step (its finished steps stay; the agent stays consistent)."""
    return await service.cancel_runs(agent_id, body.run_ids if body else None)


class ResetRequest(BaseModel):
    """PATCH /v1/agents/{agent_id}/reset-messages."""

    add_default_initial_messages: bool = False


@router.patch("/v1/agents/{agent_id}/reset-messages", response_model=ls.AgentState)
async def reset_messages(agent_id: str, service: Service, body: ResetRequest | None = None) -> ls.AgentState:
    """A new window: nothing in context and no summary; recall memory keeps every message."""
    state = await service.reset_messages(
        agent_id, add_default_initial_messages=bool(body and body.add_default_initial_messages))
    return await agent_out(service, state)


class CompactionResponse(BaseModel):
    """What ``/summarize`` did."""

    num_messages_before: int
    num_messages_after: int
    summary: str


@router.post("/v1/agents/{agent_id}/summarize", response_model=CompactionResponse)
async def compact(agent_id: str, service: Service, body: dict[str, Any] | None = None) -> CompactionResponse:
    """Evict the window into the recursive summary now (``compaction_settings`` are ignored:
    the agent's summarizer model and summary budget apply)."""
    done = await service.compact(agent_id)
    return CompactionResponse(**done.model_dump())


@router.post("/v1/agents/{agent_id}/recompile")
async def recompile(agent_id: str, service: Service, dry_run: bool = False, update_timestamp: bool = False) -> str:
    """Rebuild the system message from current memory; returns it."""
    return await service.recompile(agent_id, dry_run=dry_run, update_timestamp=update_timestamp)


@router.get("/v1/runs/", response_model=list[LettaRun])
@router.get("/v1/runs", response_model=list[LettaRun], include_in_schema=False)
async def list_runs(
    service: Service,
    agent_id: str | None = None,
    agent_ids: Annotated[list[str] | None, Query()] = None,
    statuses: Annotated[list[str] | None, Query()] = None,
    active: bool = False,
    background: bool | None = None,
    stop_reason: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Literal["asc", "desc"] = "desc",
    ascending: bool | None = None,
    order_by: Literal["created_at"] = "created_at",
    conversation_id: str | None = None,
) -> list[LettaRun]:
    """The caller's runs, newest first by default; ``active`` keeps created and running ones."""
    agents = [*(agent_ids or []), *([agent_id] if agent_id else [])] or None
    wanted = ["created", "running"] if active else statuses
    if conversation_id is not None:
        return []  # runs here belong to an agent's one conversation
    runs = await service._find_runs(RunQuery(
        agent_ids=agents, statuses=wanted, background=background, stop_reason=stop_reason,
        before=before, after=after, limit=limit,
        ascending=ascending if ascending is not None else order == "asc",
    ))
    return [run_out(r) for r in runs]


@router.get("/v1/runs/{run_id}", response_model=LettaRun)
async def retrieve_run(run_id: str, service: Service) -> LettaRun:
    """One run: its status, stop reason and callback outcome."""
    return run_out(await service.get_run(run_id))


@router.get("/v1/runs/{run_id}/messages", response_model=list[ls.LettaMessage])
async def run_messages(
    run_id: str, service: Service, before: str | None = None, after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, order: Literal["asc", "desc"] = "asc",
    order_by: Literal["created_at"] = "created_at",
) -> list[ls.LettaMessage]:
    """The messages of a run (its input first), oldest first by default."""
    out = letta_messages(run_id, await service.run_messages(run_id))
    return cursor_page(out[::-1] if order == "desc" else out, after, before, limit)


@router.get("/v1/runs/{run_id}/usage")
async def run_usage(run_id: str, service: Service) -> dict[str, Any]:
    """Tokens the run used over all its steps."""
    usage = (await service.get_run(run_id)).usage
    return {
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


@router.get("/v1/runs/{run_id}/trace")
async def run_trace(run_id: str, service: Service, limit: int = 1000) -> list[dict[str, Any]]:
    """OpenTelemetry spans of the run: this server records none, so always an empty list."""
    await service.get_run(run_id)
    return []


class StreamRequest(BaseModel):
    """POST /v1/runs/{run_id}/stream."""

    starting_after: int = 0
    include_pings: bool | None = False
    poll_interval: float | None = None
    batch_size: int | None = None


@router.post(
    "/v1/runs/{run_id}/stream", response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Letta SSE stream"}},
)
async def stream_run(run_id: str, service: Service, body: StreamRequest | None = None) -> Response:
    """A run's stream, resumed: what it stored after seq ``starting_after`` (messages carry
    their ``seq_id``), then its live messages until it ends (stop reason, usage, [DONE])."""
    body = body or StreamRequest()
    await service.get_run(run_id)  # 404 before the stream starts
    return streaming.response(_resumed(service, run_id, body.starting_after))


async def _resumed(service: AgentService, run_id: str, after: int) -> AsyncIterator[str]:
    queue = service._follow_run(run_id)  # first: nothing saved from now on is missed
    seen: set[str] = set()
    try:
        while True:
            run = await service.get_run(run_id)
            for m in await service.run_messages(run_id, after_seq=after):
                after = max(after, m.seq)
                if m.id not in seen:
                    seen.add(m.id)
                    for chunk in letta_messages(run_id, [m], produced_only=True):
                        yield streaming.sse(chunk)
            if not run.active:
                break
            await _next_live(queue)
        yield streaming.sse(ls.LettaStopReason(stop_reason=letta_stop(run.stop_reason) or "end_turn"))
        yield streaming.sse(usage_out(run))
        yield "data: [DONE]\n\n"
    finally:
        service._unfollow_run(run_id, queue)


async def _next_live(queue: asyncio.Queue[Any]) -> None:
    """Wait for the run's next saved message or its end (or a poll interval, for a run in
    another process); the caller then reads what is stored."""
    try:
        while True:
            event = await asyncio.wait_for(queue.get(), POLL_SECONDS)
            if isinstance(event, (MessageSaved, RunFinished)):
                return
    except TimeoutError:
        return
