"""Conversations on the native API (``/memgpt/v1/conversations``): each route calls the
AgentService method of the same name with its parameters. A conversation is shown as stored
(settings and loop position); ``default`` with ``?agent=`` is the agent's own thread."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from memgpt.core.schemas import Message, SendResult
from memgpt.memory.conversations import (
    ArchiveStatus,
    CompactResult,
    Conversation,
    OrderBy,
)
from memgpt.server import streaming
from memgpt.server.deps import Service
from memgpt.server.disconnect import unless_disconnected

router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateConversation(_Body):
    """Arguments of AgentService.create_conversation (the agent as ``agent_id``)."""

    agent_id: str
    description: str | None = None
    model: str | None = None
    context_window_limit: int | None = Field(default=None, ge=512)
    summary: str | None = None
    hidden: bool = False


class UpdateConversation(_Body):
    """Arguments of AgentService.update_conversation (None: unchanged)."""

    description: str | None = None
    model: str | None = None
    context_window_limit: int | None = Field(default=None, ge=0)
    archived: bool | None = None
    summary: str | None = None
    last_message_at: datetime | None = None


class SendText(_Body):
    """A user message, or with ``event`` a system event."""

    text: str
    event: bool = False
    max_steps: int | None = Field(default=None, ge=1)


class Fork(_Body):
    """Arguments of AgentService.fork_conversation."""

    message_id: str | None = None
    hidden: bool = False


Agent = Annotated[str | None, Query(description='the agent, for the conversation "default"')]


@router.post("/conversations", response_model=Conversation, status_code=201)
async def create_conversation(body: CreateConversation, service: Service) -> Conversation:
    """A new conversation with an agent, its window empty."""
    return await service.create_conversation(
        body.agent_id, description=body.description, model=body.model,
        context_window_limit=body.context_window_limit, summary=body.summary, hidden=body.hidden)


@router.get("/conversations", response_model=list[Conversation])
async def list_conversations(
    service: Service, agent: str | None = None, archive_status: ArchiveStatus = "unarchived",
    summary_search: str | None = None, order_by: OrderBy = "created_at", descending: bool = True,
    after: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[Conversation]:
    """The user's conversations (of one agent, if given), newest first by default."""
    return await service.list_conversations(
        agent=agent, archive_status=archive_status, summary_search=summary_search, order_by=order_by,
        descending=descending, after=after, limit=limit)


@router.get("/conversations/{conversation}", response_model=Conversation)
async def get_conversation(conversation: str, service: Service) -> Conversation:
    """One conversation."""
    return await service.get_conversation(conversation)


@router.patch("/conversations/{conversation}", response_model=Conversation)
async def update_conversation(conversation: str, body: UpdateConversation, service: Service) -> Conversation:
    """Change a conversation's settings or summary."""
    return await service.update_conversation(conversation, **body.model_dump())


@router.delete("/conversations/{conversation}", status_code=204)
async def delete_conversation(conversation: str, service: Service) -> Response:
    """Delete a conversation; its messages stay in the agent's recall."""
    await service.delete_conversation(conversation)
    return Response(status_code=204)


@router.post("/conversations/{conversation}/messages", response_model=SendResult)
async def send_conversation_message(
    conversation: str, body: SendText, service: Service, request: Request, agent: Agent = None,
) -> SendResult | Response:
    """Send a message in a conversation; every step comes back."""
    return await unless_disconnected(request, service.send_conversation_message(
        conversation, body.text, agent=agent, event=body.event, max_steps=body.max_steps))


@router.post("/conversations/{conversation}/messages/stream", response_class=StreamingResponse)
async def stream_conversation_message(
    conversation: str, body: SendText, service: Service, agent: Agent = None,
) -> StreamingResponse:
    """Send a message in a conversation and stream the loop's events (as the agents' stream)."""
    async def send(target: str, text: str, **options: Any) -> SendResult:
        return await service.send_conversation_message(target, text, agent=agent, event=body.event,
                                                       max_steps=body.max_steps, **options)

    task, queue, first = await streaming.start(send, conversation, body.text)
    return streaming.response(streaming.native_body(task, queue, first), task=task)


@router.get("/conversations/{conversation}/messages", response_model=list[Message])
async def conversation_messages(
    conversation: str, service: Service, agent: Agent = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50, before: int | None = None, after: int | None = None,
) -> list[Message]:
    """A conversation's messages in order; page with a message's ``seq`` as before/after."""
    return await service.conversation_messages(conversation, agent=agent, limit=limit, before=before, after=after)


@router.get("/conversations/{conversation}/messages/{message_id}", response_model=Message)
async def conversation_message(
    conversation: str, message_id: str, service: Service, agent: Agent = None,
) -> Message:
    """One message of a conversation by id."""
    return await service.conversation_message(conversation, message_id, agent=agent)


@router.post("/conversations/{conversation}/fork", response_model=Conversation, status_code=201)
async def fork_conversation(conversation: str, body: Fork, service: Service, agent: Agent = None) -> Conversation:
    """A new conversation starting with a copy of this one's window."""
    return await service.fork_conversation(conversation, agent=agent, message_id=body.message_id, hidden=body.hidden)


@router.post("/conversations/{conversation}/compact", response_model=CompactResult)
async def compact_conversation(conversation: str, service: Service, agent: Agent = None) -> CompactResult:
    """Evict the conversation's window into its summary now."""
    return await service.compact_conversation(conversation, agent=agent)


@router.post("/conversations/{conversation}/recompile", response_model=str)
async def recompile_conversation(
    conversation: str, service: Service, agent: Agent = None, dry_run: bool = False,
) -> str:
    """Rebuild the conversation's system message from current memory; returns it."""
    return await service.recompile_conversation(conversation, agent=agent, dry_run=dry_run)


@router.post("/conversations/{conversation}/cancel", response_model=dict[str, str])
async def cancel_conversation(conversation: str, service: Service, agent: Agent = None) -> dict[str, str]:
    """Cancel the conversation's active runs: their new status by run id."""
    return await service.cancel_conversation(conversation, agent=agent)
