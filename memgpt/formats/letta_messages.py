"""The Letta REST shapes (as the ``letta-client`` v1 SDK reads them), mapped from our schemas.

Each of our messages becomes zero or more Letta messages, all sharing its id (as Letta does):

- user text -> ``user_message``; system text and events (heartbeats, alerts) -> ``system_message``
- ``ReasoningPart`` -> ``reasoning_message``; a plain-text reply -> ``assistant_message``
- ``ToolCallPart`` -> ``tool_call_message``, except ``send_message`` calls, which become
  ``assistant_message`` (with ``use_assistant_message``, Letta's default)
- ``ToolResultPart`` -> ``tool_return_message``; the successful return of a ``send_message``
  call is left out, as Letta leaves it out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from memgpt.core.schemas import (
    Message as MemMessage,
    ReasoningPart,
    Role,
    SendResult,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)

SEND_MESSAGE = "send_message"
SEND_MESSAGE_KWARG = "message"
LETTA_NS = uuid.UUID("5d3f1c52-8f4e-4c4e-9b8e-6f2f2a9c1e10")
"""Namespace of the stable uuids derived for Letta ids (otids, block and tool ids)."""


# --- messages ---------------------------------------------------------------------------------
class _LettaMessage(BaseModel):
    id: str
    date: datetime
    name: str | None = None
    otid: str | None = None
    sender_id: str | None = None
    step_id: str | None = None
    run_id: str | None = None
    seq_id: int | None = None
    is_err: bool | None = None


class SystemMessage(_LettaMessage):
    """A system prompt or a system event (heartbeat, memory alert)."""

    message_type: Literal["system_message"] = "system_message"
    content: str


class UserMessage(_LettaMessage):
    """What the user said."""

    message_type: Literal["user_message"] = "user_message"
    content: str


class ReasoningMessage(_LettaMessage):
    """The agent's inner monologue."""

    message_type: Literal["reasoning_message"] = "reasoning_message"
    reasoning: str
    source: Literal["reasoner_model", "non_reasoner_model"] = "non_reasoner_model"
    signature: str | None = None


class ToolCall(BaseModel):
    """A complete tool call."""

    name: str
    arguments: str
    tool_call_id: str


class ToolCallDelta(BaseModel):
    """A piece of a streamed tool call."""

    name: str | None = None
    arguments: str | None = None
    tool_call_id: str | None = None


class ToolCallMessage(_LettaMessage):
    """A tool call the agent made (other than send_message)."""

    message_type: Literal["tool_call_message"] = "tool_call_message"
    tool_call: ToolCall | ToolCallDelta
    tool_calls: list[ToolCall] | ToolCallDelta | None = None


class ApprovalRequestMessage(_LettaMessage):
    """A tool call held for the user's approval (its message id is the approval request id)."""

    message_type: Literal["approval_request_message"] = "approval_request_message"
    tool_call: ToolCall | ToolCallDelta
    tool_calls: list[ToolCall] | ToolCallDelta | None = None


class ToolReturn(BaseModel):
    """One tool result."""

    type: Literal["tool"] = "tool"
    status: Literal["success", "error"]
    tool_call_id: str
    tool_return: str
    stdout: list[str] | None = None
    stderr: list[str] | None = None


class ToolReturnMessage(_LettaMessage):
    """The result of a tool call."""

    message_type: Literal["tool_return_message"] = "tool_return_message"
    tool_return: str
    status: Literal["success", "error"]
    tool_call_id: str
    stdout: list[str] | None = None
    stderr: list[str] | None = None
    tool_returns: list[ToolReturn] | None = None


class AssistantMessage(_LettaMessage):
    """What the agent told the user."""

    message_type: Literal["assistant_message"] = "assistant_message"
    content: str


LettaMessage = Annotated[
    SystemMessage | UserMessage | ReasoningMessage | ToolCallMessage | ToolReturnMessage
    | AssistantMessage | ApprovalRequestMessage,
    Field(discriminator="message_type"),
]


class LettaStopReason(BaseModel):
    """Why the agent stopped."""

    message_type: Literal["stop_reason"] = "stop_reason"
    stop_reason: str


class LettaUsageStatistics(BaseModel):
    """Tokens used by one input, over all its steps."""

    message_type: Literal["usage_statistics"] = "usage_statistics"
    completion_tokens: int = 0
    prompt_tokens: int = 0
    total_tokens: int = 0
    step_count: int = 0
    cached_input_tokens: int | None = None
    context_tokens: int | None = None
    run_ids: list[str] | None = None


class LettaPing(BaseModel):
    """A keep-alive on a long stream."""

    message_type: Literal["ping"] = "ping"
    id: str
    date: datetime


class LettaErrorMessage(BaseModel):
    """An error that ended a stream after it started."""

    message_type: Literal["error_message"] = "error_message"
    run_id: str
    error_type: str
    message: str
    detail: str | None = None


class LettaResponse(BaseModel):
    """The answer to a non-streamed send."""

    messages: list[LettaMessage]
    stop_reason: LettaStopReason
    usage: LettaUsageStatistics


def _otid(message_id: str, index: int) -> str:
    return str(uuid.uuid5(LETTA_NS, f"{message_id}/{index}"))


def _common(m: MemMessage, index: int) -> dict[str, Any]:
    return {
        "id": m.id, "date": m.created_at, "otid": _otid(m.id, index), "step_id": m.step_id,
        "seq_id": m.seq if m.seq >= 0 else None,
    }


def sent_text(call: ToolCallPart) -> str | None:
    """The message of a well-formed send_message call, else None."""
    if call.name != SEND_MESSAGE:
        return None
    try:
        args = json.loads(call.arguments)
    except json.JSONDecodeError:
        return None
    value = args.get(SEND_MESSAGE_KWARG) if isinstance(args, dict) else None
    return value if isinstance(value, str) else None


def message_to_letta(m: MemMessage, *, use_assistant_message: bool = True) -> list[LettaMessage]:
    """One of our messages as Letta messages, in order."""
    out: list[LettaMessage] = []
    if m.role is Role.USER:
        out.append(UserMessage(**_common(m, 0), content=m.text))
    elif m.role in (Role.SYSTEM, Role.EVENT):
        out.append(SystemMessage(**_common(m, 0), content=m.text))
    elif m.role is Role.ASSISTANT:
        for part in m.parts:
            common = _common(m, len(out))
            if isinstance(part, ReasoningPart):
                out.append(ReasoningMessage(**common, reasoning=part.text))
            elif isinstance(part, TextPart):
                out.append(AssistantMessage(**common, content=part.text))
            elif isinstance(part, ToolCallPart):
                said = sent_text(part) if use_assistant_message else None
                if part.requires_approval:
                    call = ToolCall(name=part.name, arguments=part.arguments, tool_call_id=part.id)
                    out.append(ApprovalRequestMessage(**common, tool_call=call, tool_calls=[call]))
                elif said is not None:
                    out.append(AssistantMessage(**common, content=said))
                else:
                    call = ToolCall(name=part.name, arguments=part.arguments, tool_call_id=part.id)
                    out.append(ToolCallMessage(**common, tool_call=call, tool_calls=[call]))
    elif m.role is Role.TOOL:
        for part in m.parts:
            if not isinstance(part, ToolResultPart):
                continue
            if use_assistant_message and part.name == SEND_MESSAGE and not part.is_error:
                continue
            status: Literal["success", "error"] = "error" if part.is_error else "success"
            ret = ToolReturn(status=status, tool_call_id=part.call_id, tool_return=part.content)
            out.append(ToolReturnMessage(
                **_common(m, len(out)), tool_return=part.content, status=status,
                tool_call_id=part.call_id, tool_returns=[ret],
            ))
    return out


def messages_to_letta(
    messages: Iterable[MemMessage], *, use_assistant_message: bool = True,
    types: Sequence[str] | None = None,
) -> list[LettaMessage]:
    """Many messages as Letta messages, optionally only some message types."""
    out = [x for m in messages for x in message_to_letta(m, use_assistant_message=use_assistant_message)]
    if types is not None:
        out = [x for x in out if x.message_type in types]
    return out


STOP_REASONS = {"end_turn": "end_turn", "max_steps": "max_steps", "repeated_call": "max_steps",
                "requires_approval": "requires_approval"}


def stop_reason(result: SendResult) -> LettaStopReason:
    """Letta's stop reason for a finished send (our repeated-call breaker counts as max_steps)."""
    ours = result.steps[-1].stop_reason if result.steps else None
    return LettaStopReason(stop_reason=STOP_REASONS.get(ours or "end_turn", "end_turn"))


def usage_statistics(result: SendResult) -> LettaUsageStatistics:
    """Letta's usage statistics for a finished send."""
    usage: Usage = result.usage
    return LettaUsageStatistics(
        completion_tokens=usage.completion_tokens,
        prompt_tokens=usage.prompt_tokens,
        total_tokens=usage.prompt_tokens + usage.completion_tokens,
        step_count=len(result.steps),
        cached_input_tokens=usage.cached_tokens,
    )


def letta_response(
    result: SendResult, *, use_assistant_message: bool = True, types: Sequence[str] | None = None
) -> LettaResponse:
    """The response to a send: what the agent produced (not the input, not events), and usage."""
    produced = [m for m in [result.input, *result.messages] if m.role in (Role.ASSISTANT, Role.TOOL)]
    return LettaResponse(
        messages=messages_to_letta(produced, use_assistant_message=use_assistant_message, types=types),
        stop_reason=stop_reason(result),
        usage=usage_statistics(result),
    )


# --- search results ------------------------------------------------------------------------------
class _SearchResult(BaseModel):
    message_id: str
    agent_id: str | None = None
    created_at: datetime
    conversation_id: str | None = None


class UserSearchResult(_SearchResult):
    """A user message found by recall search."""

    message_type: Literal["user_message"] = "user_message"
    content: str


class AssistantSearchResult(_SearchResult):
    """An assistant message (what it said to the user) found by recall search."""

    message_type: Literal["assistant_message"] = "assistant_message"
    content: str


class ReasoningSearchResult(_SearchResult):
    """An assistant message that only thought, found by recall search."""

    message_type: Literal["reasoning_message"] = "reasoning_message"
    reasoning: str


class SystemSearchResult(_SearchResult):
    """A system message found by recall search."""

    message_type: Literal["system_message"] = "system_message"
    content: str


MessageSearchResult = Annotated[
    UserSearchResult | AssistantSearchResult | ReasoningSearchResult | SystemSearchResult,
    Field(discriminator="message_type"),
]


def search_result(m: MemMessage) -> MessageSearchResult:
    """One recall hit in Letta's message-search shape."""
    common: dict[str, Any] = {"message_id": m.id, "agent_id": m.agent_id or None, "created_at": m.created_at}
    if m.role is Role.USER:
        return UserSearchResult(**common, content=m.text)
    if m.role is Role.ASSISTANT:
        said = m.sent_messages()
        if said:
            return AssistantSearchResult(**common, content="\n".join(said))
        return ReasoningSearchResult(**common, reasoning=m.reasoning)
    return SystemSearchResult(**common, content=m.text)
