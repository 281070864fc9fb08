"""Letta's conversations: several threads with one agent (``/v1/conversations``).

Each conversation has its own window, summary and messages over the agent's core and
archival memory (``memgpt.services.conversations``). Sends stream by default, as Letta's do.
Every route that takes a conversation id also takes ``default`` with an ``agent_id`` (the
agent's own thread). Sends are runs (``/v1/runs``); ``/stream`` resumes the stream of the
conversation's active (else latest) run, as ``/v1/runs/{id}/stream`` does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response, StreamingResponse

from memgpt.core.errors import InvalidRequestError
from memgpt.core.schemas import Message, SendResult
from memgpt.formats import letta as ls
from memgpt.memory.conversations import ArchiveStatus, Conversation, OrderBy
from memgpt.server import streaming
from memgpt.server.deps import Service
from memgpt.server.disconnect import unless_disconnected
from memgpt.server.letta.messages import PING_SECONDS, _input
from memgpt.server.letta.runs import _resumed as resumed
from memgpt.server.paging import add_whole

router = APIRouter(tags=["conversations"])


class LettaConversation(BaseModel):
    """Letta's Conversation."""

    id: str
    agent_id: str
    archived: bool = False
    archived_at: datetime | None = None
    context_window_limit: int | None = None
    created_at: datetime
    updated_at: datetime
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    description: str | None = None
    in_context_message_ids: list[str] | None = None
    last_message_at: datetime | None = None
    model: str | None = None
    model_settings: dict[str, Any] | None = None
    summary: str | None = None


def _out(c: Conversation) -> LettaConversation:
    return LettaConversation(
        id=c.id, agent_id=c.agent_id, archived=c.archived, archived_at=c.archived_at,
        context_window_limit=c.context_window_limit, created_at=c.created_at, updated_at=c.updated_at,
        created_by_id=c.owner, last_updated_by_id=c.owner, description=c.description,
        last_message_at=c.last_message_at, model=c.model, summary=c.summary or None,
    )


class CreateConversation(ls._Request):
    """POST /v1/conversations/ (the agent is the ``agent_id`` query parameter, as the SDK
    sends it, or a field of the body)."""

    agent_id: str | None = None
    description: str | None = None
    model: str | None = None
    context_window_limit: int | None = Field(default=None, ge=512)
    summary: str | None = None
    hidden: bool = False


class UpdateConversation(ls._Request):
    """PATCH /v1/conversations/{id}: only the fields sent change."""

    archived: bool | None = None
    context_window_limit: int | None = Field(default=None, ge=512)
    description: str | None = None
    last_message_at: datetime | None = None
    model: str | None = None
    summary: str | None = None


class ConversationSend(ls.SendMessageRequest):
    """POST /v1/conversations/{id}/messages: streamed unless ``streaming`` is false."""

    agent_id: str | None = None
    streaming: bool = True


class AgentDirect(ls._Request):
    """Bodies that only name the agent for the ``default`` conversation."""

    agent_id: str | None = None


class StreamRequest(AgentDirect):
    """POST /v1/conversations/{id}/stream: which run to resume, from where."""

    run_id: str | None = None
    starting_after: int = 0


class Compaction(BaseModel):
    """Letta's CompactionResponse."""

    summary: str
    num_messages_before: int
    num_messages_after: int


@router.post("/v1/conversations/", response_model=LettaConversation)
@router.post("/v1/conversations", response_model=LettaConversation, include_in_schema=False)
async def create_conversation(
    service: Service, agent_id: str | None = None, body: CreateConversation | None = None,
) -> LettaConversation:
    """A new conversation with one of the caller's agents; its window starts empty."""
    body = body or CreateConversation()
    agent = agent_id or body.agent_id
    if not agent:
        raise InvalidRequestError("agent_id is required (query parameter)")
    return _out(await service.create_conversation(
        agent, description=body.description, model=body.model,
        context_window_limit=body.context_window_limit, summary=body.summary, hidden=body.hidden,
    ))


@router.get("/v1/conversations/", response_model=list[LettaConversation])
@router.get("/v1/conversations", response_model=list[LettaConversation], include_in_schema=False)
async def list_conversations(
    service: Service, agent_id: str | None = None, after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50, archive_status: ArchiveStatus = "unarchived",
    order: Literal["asc", "desc"] = "desc", order_by: OrderBy = "created_at", summary_search: str | None = None,
) -> list[LettaConversation]:
    """The caller's conversations (of one agent, if given), newest first by default."""
    found = await service.list_conversations(
        agent=agent_id, archive_status=archive_status, summary_search=summary_search,
        order_by=order_by, descending=order == "desc", after=after, limit=limit,
    )
    return [_out(c) for c in found]


@router.get("/v1/conversations/{conversation_id}", response_model=LettaConversation)
async def retrieve_conversation(conversation_id: str, service: Service) -> LettaConversation:
    """One conversation, with the ids of its in-context messages."""
    found = await service.get_conversation(conversation_id)
    window = await service.conversation_messages(conversation_id, limit=100_000, after=found.context_start - 1)
    return _out(found).model_copy(update={"in_context_message_ids": [m.id for m in window]})


@router.patch("/v1/conversations/{conversation_id}", response_model=LettaConversation)
async def update_conversation(
    conversation_id: str, body: UpdateConversation, service: Service
) -> LettaConversation:
    """Change a conversation's description, model, window, summary or archived flag (a
    field sent as null clears it)."""
    sent = body.model_dump(exclude_unset=True)
    cleared: dict[str, Any] = {"description": "", "model": "", "summary": "", "context_window_limit": 0}
    changes = {k: cleared.get(k) if v is None else v for k, v in sent.items()}
    return _out(await service.update_conversation(conversation_id, **changes))


@router.delete("/v1/conversations/{conversation_id}")
async def delete_conversation(conversation_id: str, service: Service) -> None:
    """Delete a conversation; its messages stay in the agent's recall."""
    await service.delete_conversation(conversation_id)


@router.post("/v1/conversations/{conversation_id}/messages", response_model=ls.LettaResponse)
async def send_conversation_message(
    conversation_id: str, body: ConversationSend, service: Service, request: Request
) -> ls.LettaResponse | Response:
    """Send one message in a conversation: an SSE stream unless ``streaming: false``."""
    role, text = _input(body)
    agent = body.agent_id

    async def send(conversation: str, text: str, **options: Any) -> SendResult:
        return await service.send_conversation_message(
            conversation, text, agent=agent, event=role == "system", max_steps=body.max_steps, **options)

    if body.streaming:
        task, queue, first = await streaming.start(send, conversation_id, text)
        chunks = streaming.LettaChunks(
            tokens=body.stream_tokens, use_assistant_message=body.use_assistant_message,
            types=body.include_return_message_types,
        )
        ping = PING_SECONDS if body.include_pings else None
        return streaming.response(streaming.letta_body(task, queue, first, chunks, ping_every=ping), task=task)
    result = await unless_disconnected(request, send(conversation_id, text))
    if isinstance(result, Response):
        return result
    return ls.letta_response(result, use_assistant_message=body.use_assistant_message,
                             types=body.include_return_message_types)


@router.get("/v1/conversations/{conversation_id}/messages", response_model=list[ls.LettaMessage])
async def list_conversation_messages(
    conversation_id: str, service: Service, agent_id: str | None = None, after: str | None = None,
    before: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Literal["asc", "desc"] = "desc", use_assistant_message: bool = True,
    include_return_message_types: Annotated[list[ls.MessageType] | None, Query()] = None,
) -> list[ls.LettaMessage]:
    """A conversation's messages as Letta messages, newest first by default; ``after`` and
    ``before`` are message ids relative to the order (a stored message is never split)."""
    async def seq(message_id: str | None) -> int | None:
        if message_id is None:
            return None
        return (await service.conversation_message(conversation_id, message_id, agent=agent_id)).seq

    a, b = await seq(after), await seq(before)
    lo, hi = (b, a) if order == "desc" else (a, b)
    groups: list[list[ls.LettaMessage]] = []
    total = 0
    chunk = max(limit, 20)
    while total < limit:
        if order == "asc":
            raw = await service.conversation_messages(
                conversation_id, agent=agent_id, limit=chunk, after=-1 if lo is None else lo, before=hi)
            batch = raw
        else:
            raw = await service.conversation_messages(conversation_id, agent=agent_id, limit=chunk, before=hi)
            batch = [m for m in reversed(raw) if lo is None or m.seq > lo]
        for m in batch:
            total = add_whole(groups, _letta(m, use_assistant_message, include_return_message_types, order),
                              total, limit)
            lo, hi = (m.seq, hi) if order == "asc" else (lo, m.seq)
            if total >= limit:
                break
        if len(raw) < chunk or len(batch) < len(raw):
            break
    return [x for g in groups for x in g]


def _letta(m: Message, use_assistant_message: bool, types: list[ls.MessageType] | None,
           order: str) -> list[ls.LettaMessage]:
    out = ls.messages_to_letta([m], use_assistant_message=use_assistant_message, types=types)
    return out[::-1] if order == "desc" else out


@router.post("/v1/conversations/{conversation_id}/compact", response_model=Compaction)
async def compact_conversation(
    conversation_id: str, service: Service, body: Annotated[AgentDirect | None, Body()] = None,
) -> Compaction:
    """Evict the conversation's window into its summary now (the newest exchange stays)."""
    done = await service.compact_conversation(conversation_id, agent=body.agent_id if body else None)
    return Compaction(**done.model_dump())


@router.post("/v1/conversations/{conversation_id}/recompile", response_model=str)
async def recompile_conversation(
    conversation_id: str, service: Service, dry_run: bool = False,
    body: Annotated[AgentDirect | None, Body()] = None,
) -> str:
    """Rebuild the conversation's system message from current memory; returns its text."""
    return await service.recompile_conversation(
        conversation_id, agent=body.agent_id if body else None, dry_run=dry_run)


@router.post("/v1/conversations/{conversation_id}/fork", response_model=LettaConversation)
async def fork_conversation(
    conversation_id: str, service: Service, agent_id: str | None = None, hidden: bool = False,
    message_id: str | None = None,
) -> LettaConversation:
    """A new conversation of the same agent starting with a copy of this one's window."""
    return _out(await service.fork_conversation(
        conversation_id, agent=agent_id, message_id=message_id, hidden=hidden))


@router.post("/v1/conversations/{conversation_id}/cancel", response_model=dict[str, Any])
async def cancel_conversation(
    conversation_id: str, service: Service, agent_id: str | None = None,
) -> dict[str, Any]:
    """Cancel the conversation's active runs: their new status by run id."""
    return dict(await service.cancel_conversation(conversation_id, agent=agent_id))


@router.post(
    "/v1/conversations/{conversation_id}/stream", response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Letta SSE stream"}},
)
async def retrieve_conversation_stream(
    conversation_id: str, service: Service, body: Annotated[StreamRequest | None, Body()] = None,
) -> Response:
    """Resume the stream of the conversation's run (``run_id``, else its active one, else its
    latest): what it stored after seq ``starting_after``, then its live messages until it ends."""
    body = body or StreamRequest()
    run = await service._conversation_run(conversation_id, agent=body.agent_id, run_id=body.run_id)
    return streaming.response(resumed(service, run, body.starting_after))

