"""Letta's agent messages: send (JSON or SSE), stream, history; and recall search."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from memgpt.core.errors import InvalidRequestError
from memgpt.formats import letta as ls
from memgpt.formats.letta_tools import ApprovalCreate
from memgpt.core.tool_control import Decision
from memgpt.server import streaming
from memgpt.server.deps import Service
from memgpt.server.disconnect import unless_disconnected
from memgpt.server.errors import NotImplementedByServer
from memgpt.server.paging import history
from memgpt.core.schemas import SendResult
from memgpt.services.service import AgentService

router = APIRouter(tags=["messages"])

PING_SECONDS = 15.0


def _text(content: str | list[ls.ContentPart]) -> str:
    if isinstance(content, str):
        return content
    kinds = {p.type for p in content} - {"text"}
    if kinds:
        raise NotImplementedByServer(f"content of type {sorted(kinds)} is not supported; send text")
    return "\n".join(p.text or "" for p in content)


def _input(body: ls.SendMessageRequest) -> tuple[Literal["user", "system"], str]:
    """The one input of a send request: a user message, or a system message (sent as an event)."""
    unsupported = {
        "background": body.background, "override_model": body.override_model,
        "override_system": body.override_system, "client_tools": body.client_tools,
        "return_logprobs": body.return_logprobs, "return_token_ids": body.return_token_ids,
    }
    used = [k for k, v in unsupported.items() if v]
    if used:
        raise NotImplementedByServer(f"not supported by this server: {', '.join(used)}")
    if body.messages is not None and body.input is not None:
        raise InvalidRequestError("pass either messages or input, not both")
    if body.input is not None:
        return "user", _text(body.input)
    if not body.messages:
        raise InvalidRequestError("no message to send: pass messages=[{\"role\": \"user\", \"content\": ...}] or input")
    if len(body.messages) != 1:
        raise InvalidRequestError(f"send one message per request (got {len(body.messages)})")
    message = body.messages[0]
    if isinstance(message, ApprovalCreate):
        raise InvalidRequestError("an approval is answered on its own (it was not expected here)")
    if message.role == "assistant":
        raise InvalidRequestError("cannot send an assistant message; send role user or system")
    return message.role, _text(message.content)


def _approval(body: ls.SendMessageRequest) -> ApprovalCreate | None:
    """The approval a send carries (alone: follow-up messages are refused), or None."""
    found = [m for m in body.messages or [] if isinstance(m, ApprovalCreate)]
    if not found:
        return None
    if len(body.messages or []) != 1 or body.input is not None:
        raise InvalidRequestError("send an approval on its own, then the next message")
    approval = found[0]
    if approval.approvals is None and approval.approve is None:
        raise InvalidRequestError("an approval needs approvals=[...] or approve (true/false)")
    return approval


def _approval_send(service: AgentService, approval: ApprovalCreate) -> streaming.Send:
    """A send that answers pending tool calls (approved ones run, denied ones get the reason)."""
    decisions = [Decision(call_id=a.tool_call_id, approve=a.approve, reason=a.reason)
                 for a in approval.approvals or []]
    if approval.approve is not None and not decisions:
        decisions = [Decision(approve=approval.approve, reason=approval.reason)]

    async def send(agent: str, _text: str, **options: Any) -> SendResult:
        return await service.send_approval(agent, decisions, request_id=approval.approval_request_id, **options)

    return send


async def _send(
    request: Request, service: AgentService, agent_id: str, body: ls.SendMessageRequest, stream: bool
) -> ls.LettaResponse | Response:
    approval = _approval(body)
    if approval is not None:
        role, text, send = "user", "", _approval_send(service, approval)
    else:
        role, text = _input(body)
        send = service.send_message if role == "user" else service.send_event
    if body.max_steps is not None:
        send = functools.partial(send, max_steps=body.max_steps)
    if stream:
        task, queue, first = await streaming.start(send, agent_id, text)
        chunks = streaming.LettaChunks(
            tokens=body.stream_tokens, use_assistant_message=body.use_assistant_message,
            types=body.include_return_message_types,
        )
        ping = PING_SECONDS if body.include_pings else None
        return streaming.response(streaming.letta_body(task, queue, first, chunks, ping_every=ping), task=task)
    result = await unless_disconnected(request, send(agent_id, text))
    if isinstance(result, Response):
        return result
    return ls.letta_response(
        result, use_assistant_message=body.use_assistant_message, types=body.include_return_message_types,
    )


@router.post("/v1/agents/{agent_id}/messages", response_model=ls.LettaResponse)
async def send_message(
    agent_id: str, body: ls.SendMessageRequest, service: Service, request: Request
) -> ls.LettaResponse | Response:
    """Send one message; the steps come back as Letta messages with usage.

    With ``streaming: true`` the answer is an SSE stream, as from ``/messages/stream``.
    A system-role message reaches the agent as a system event. ``max_steps`` bounds the
    turn's steps (never above the server's MEMGPT_MAX_CHAIN_STEPS). A client that
    disconnects cancels the turn (its input and finished steps stay).
    """
    return await _send(request, service, agent_id, body, body.streaming)


@router.post(
    "/v1/agents/{agent_id}/messages/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Letta SSE stream"}},
)
async def stream_message(
    agent_id: str, body: ls.SendMessageRequest, service: Service, request: Request
) -> Response:
    """Send one message and stream the steps as Server-Sent Events (``data: {json}``).

    Ends with a ``stop_reason`` chunk, a ``usage_statistics`` chunk and ``data: [DONE]``.
    ``stream_tokens: true`` streams model output as it is generated.
    """
    out = await _send(request, service, agent_id, body, True)
    assert isinstance(out, Response)
    return out


@router.get("/v1/agents/{agent_id}/messages", response_model=list[ls.LettaMessage])
async def list_messages(
    agent_id: str,
    service: Service,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Literal["asc", "desc"] = "desc",
    use_assistant_message: bool = True,
    include_return_message_types: Annotated[list[ls.MessageType] | None, Query()] = None,
) -> list[ls.LettaMessage]:
    """Recall memory (every message) as Letta messages, newest first by default.

    ``after``/``before`` are message ids, relative to the order. Letta messages made from
    one stored message share its id and are never split across pages.
    """
    return await history(
        service, agent_id, after=after, before=before, limit=limit, order=order,
        use_assistant_message=use_assistant_message, types=include_return_message_types,
    )


@router.post("/v1/messages/search", response_model=list[ls.MessageSearchResult])
async def search_messages(body: ls.MessageSearchRequest, service: Service) -> list[ls.MessageSearchResult]:
    """Search recall memory by words and/or a [start_date, end_date) range: one agent's
    (``agent_id``) or all the caller's agents' (their hits interleaved by rank). An empty
    query lists messages in the date range in order. ``search_mode`` is always hybrid."""
    found = await service.search_all_messages(
        body.query or None, agent=body.agent_id or None, start=body.start_date, end=body.end_date,
        limit=body.limit,
    )
    return [ls.search_result(m) for m in found]
