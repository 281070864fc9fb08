"""Shared helpers for provider modules: arguments on the wire, errors, response assembly."""

from __future__ import annotations

import json
import re
from typing import Any

from memgpt.core.errors import ContextOverflowError, ModelError
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.repair import normalize
from memgpt.core.prompts import EVENT_PREFIX
from memgpt.core.schemas import (
    Message, ReasoningPart, Role, TextPart, ToolCallPart, ToolResultPart, Usage,
)

_OVERFLOW = re.compile(
    r"context[_ ]length|maximum context|context window|prompt is too long|too many tokens"
    r"|exceeds? (?:the )?(?:model'?s )?(?:max|context)|exceed context limit",
    re.I,
)


def is_overflow(message: str, code: str | None = None) -> bool:
    """Whether a provider's error says the prompt does not fit the context window."""
    return code == "context_length_exceeded" or bool(_OVERFLOW.search(message or ""))


def event_text(message: Message) -> str:
    """How a system event reads on the wire (as a user-role message)."""
    return EVENT_PREFIX + message.text


def paired(messages: list[Message]) -> list[Message]:
    """Messages with every tool result right after the call it answers, as providers demand.

    History can hold a result away from its call (a crash's "interrupted" result appended
    later, an imported file): each result moves up behind its call; a call with no result
    anywhere gets one saying so; a result whose call is not in view becomes a system event.
    """
    results = {r.call_id: r for m in messages for r in m.tool_results}
    calls = {c.id for m in messages for c in m.tool_calls}
    out: list[Message] = []
    for m in messages:
        if m.role is Role.TOOL:
            orphans = [r for r in m.tool_results if r.call_id not in calls]
            out.extend(Message.event(f"Result of {r.name} (its call is out of view): {r.content}")
                       for r in orphans)
            continue
        out.append(m)
        for call in m.tool_calls:
            found = results.get(call.id) or ToolResultPart(
                call_id=call.id, name=call.name, content="No result was recorded for this call.",
                is_error=True,
            )
            out.append(Message(role=Role.TOOL, parts=[found], created_at=m.created_at))
    return out


def wire_arguments(raw: str) -> dict[str, Any]:
    """Arguments of a past call as a JSON object; unparseable ones are wrapped, not dropped."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {"_unparsed_arguments": raw}
    return value if isinstance(value, dict) else {"_arguments": value}


def assemble(
    request: ModelRequest,
    *,
    content: str,
    reasoning: str,
    calls: list[ToolCallPart],
    usage: Usage,
) -> ModelResponse:
    """A response from raw pieces: text beside tool calls is inner monologue, else the reply."""
    parts: list[Any] = []
    if reasoning.strip():
        parts.append(ReasoningPart(text=reasoning.strip()))
    if content.strip():
        parts.append(ReasoningPart(text=content.strip()) if calls else TextPart(text=content.strip()))
    parts.extend(calls)
    message, repairs = normalize(Message(role=Role.ASSISTANT, parts=parts), request.tools)
    return ModelResponse(message=message, usage=usage, repairs=repairs)


def overflow_or_error(provider: str, status: int | None, message: str, code: str | None) -> ModelError:
    """The memgpt error for a provider's rejection."""
    if status in (400, 413) and is_overflow(message, code):
        return ContextOverflowError(f"{provider}: {message}")
    where = f"HTTP {status}" if status else "error"
    return ModelError(f"{provider} refused the request ({where}): {message}")
