"""ScriptedModel: a model whose answers are written in advance, for tests and demos."""

from __future__ import annotations

import inspect
import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from memgpt.core.errors import ScriptExhaustedError
from memgpt.llm.base import Delta, DeltaHandler, ModelRequest, ModelResponse
from memgpt.llm.tokens import count_messages, count_tools, estimate_tokens
from memgpt.core.schemas import Message, ReasoningPart, Role, TextPart, ToolCallPart, Usage

Policy = Callable[[ModelRequest], ModelResponse | Awaitable[ModelResponse]]


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def tool_call(name: str, thinking: str | None = None, **arguments: Any) -> ModelResponse:
    """A response that calls one tool with the given arguments."""
    return raw_tool_call(name, json.dumps(arguments), thinking=thinking)


def raw_tool_call(name: str, arguments: str, thinking: str | None = None) -> ModelResponse:
    """A response calling a tool with a raw argument string (which may be malformed)."""
    parts: list[Any] = [ReasoningPart(text=thinking)] if thinking else []
    parts.append(ToolCallPart(id=_call_id(), name=name, arguments=arguments))
    return ModelResponse(message=Message(role=Role.ASSISTANT, parts=parts))


def reply(message: str, thinking: str | None = None) -> ModelResponse:
    """A response that sends the user a message through ``send_message``."""
    return tool_call("send_message", thinking=thinking, message=message)


def text(content: str) -> ModelResponse:
    """A plain-text response with no tool call (a summary, or a model ignoring tools)."""
    return ModelResponse(message=Message(role=Role.ASSISTANT, parts=[TextPart(text=content)]))


def _fresh_copy(message: Message) -> Message:
    """A copy with new message and call ids, so one scripted response can be served twice."""
    parts = [
        p.model_copy(update={"id": _call_id()}) if isinstance(p, ToolCallPart) else p.model_copy()
        for p in message.parts
    ]
    return Message(role=message.role, parts=parts)


class ScriptedModel:
    """Answers from a queue of responses, then from an optional policy function.

    Every request is recorded in ``calls``. Asking for more than was scripted raises
    ScriptExhaustedError naming how many responses were scripted.
    """

    def __init__(
        self,
        responses: Iterable[ModelResponse] = (),
        *,
        policy: Policy | None = None,
        name: str = "scripted",
    ) -> None:
        self.name = name
        self.queue: deque[ModelResponse] = deque(responses)
        self.policy = policy
        self.calls: list[ModelRequest] = []
        self._served = 0

    def push(self, *responses: ModelResponse) -> None:
        """Append responses to the queue."""
        self.queue.extend(responses)

    async def complete(
        self, request: ModelRequest, *, on_delta: DeltaHandler | None = None
    ) -> ModelResponse:
        """Answer with the next scripted response (or the policy's), streamed if asked."""
        self.calls.append(request)
        if self.queue:
            response = self.queue.popleft()
        elif self.policy is not None:
            result = self.policy(request)
            response = await result if inspect.isawaitable(result) else result
        else:
            raise ScriptExhaustedError(
                f"ScriptedModel {self.name!r} was asked for response #{self._served + 1} "
                f"but only {self._served} were scripted"
            )
        self._served += 1
        message = _fresh_copy(response.message)
        prompt = count_messages(request.messages) + count_tools(request.tools)
        completion = sum(
            estimate_tokens(getattr(p, "text", "") or getattr(p, "arguments", ""))
            for p in message.parts
        )
        usage = response.usage if response.usage.prompt_tokens else Usage(
            prompt_tokens=prompt, completion_tokens=completion
        )
        if on_delta is not None:
            await _stream(message, on_delta)
        return ModelResponse(message=message, usage=usage, repairs=list(response.repairs))


async def _stream(message: Message, on_delta: DeltaHandler) -> None:
    """Emit a message's parts as deltas of a few characters each."""
    index = 0
    for part in message.parts:
        if isinstance(part, ToolCallPart):
            pieces = [part.arguments[i : i + 16] for i in range(0, len(part.arguments), 16)] or [""]
            for n, piece in enumerate(pieces):
                first = n == 0
                await on_delta(Delta(
                    kind="tool_call", text=piece, index=index,
                    call_id=part.id if first else None, name=part.name if first else None,
                ))
            index += 1
        elif isinstance(part, (TextPart, ReasoningPart)):
            kind = "reasoning" if isinstance(part, ReasoningPart) else "content"
            for i in range(0, len(part.text), 16):
                await on_delta(Delta(kind=kind, text=part.text[i : i + 16]))
