"""Anthropic's Messages API via the anthropic SDK, with prompt-cache markers on the prefix."""

from __future__ import annotations

import json
from typing import Any

import anthropic
from anthropic.types import Message as AnthropicMessage

from memgpt.core.errors import MalformedReplyError, ModelError, ModelTimeoutError
from memgpt.llm.base import (
    UNREADABLE, Delta, DeltaHandler, ModelRequest, ModelResponse, retry_empty, unreadable,
)
from memgpt.llm.wire import assemble, event_text, overflow_or_error, paired, wire_arguments
from memgpt.core.schemas import Message, Role, ToolCallPart, Usage, scrub_text

CACHE = {"type": "ephemeral"}
DEFAULT_MAX_TOKENS = 4096


def _blocks(m: Message) -> list[dict[str, Any]]:
    if m.role is Role.USER:
        return [{"type": "text", "text": m.text or "(empty)"}]
    if m.role is Role.EVENT:
        return [{"type": "text", "text": event_text(m)}]
    if m.role is Role.TOOL:
        return [
            {"type": "tool_result", "tool_use_id": r.call_id, "content": r.content or "(empty)",
             "is_error": r.is_error}
            for r in m.tool_results
        ]
    blocks: list[dict[str, Any]] = []
    text = "\n".join(filter(None, [m.reasoning, m.text]))
    if text:
        blocks.append({"type": "text", "text": text})
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": wire_arguments(c.arguments)}
        for c in m.tool_calls
    )
    return blocks


def to_wire(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages): roles alternate, the first message is the user's."""
    system = [{"type": "text", "text": m.text, "cache_control": CACHE}
              for m in messages if m.role is Role.SYSTEM]
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role is Role.SYSTEM:
            continue
        role = "assistant" if m.role is Role.ASSISTANT else "user"
        blocks = _blocks(m)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if not out or out[0]["role"] != "user":
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": event_text(
            Message.event("earlier messages are summarized above"))}]})
    return system, out


def _usage(raw: Any) -> Usage:
    read = getattr(raw, "cache_read_input_tokens", 0) or 0
    created = getattr(raw, "cache_creation_input_tokens", 0) or 0
    return Usage(
        prompt_tokens=(getattr(raw, "input_tokens", 0) or 0) + read + created,
        completion_tokens=getattr(raw, "output_tokens", 0) or 0,
        cached_tokens=read,
    )


class AnthropicModel:
    """A Model over Anthropic's Messages API. The SDK retries 408/409/429/5xx/529 with backoff."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        name: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
    ) -> None:
        self.model = model
        self.name = name or f"anthropic/{model}"
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        system, messages = to_wire(paired(request.messages))
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            params["system"] = system
        if request.tools:
            tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                     for t in request.tools]
            tools[-1]["cache_control"] = CACHE
            params["tools"] = tools
            if request.purpose == "agent":
                params["tool_choice"] = {"type": "any"}
        return params

    async def complete(
        self, request: ModelRequest, *, on_delta: DeltaHandler | None = None
    ) -> ModelResponse:
        """Send one request; stream it if on_delta is given. An empty reply is asked again once."""
        return await retry_empty(self.name, lambda: self._complete(request, on_delta))

    async def _complete(self, request: ModelRequest, on_delta: DeltaHandler | None) -> ModelResponse:
        params = self._params(request)
        try:
            if on_delta is None:
                return self._parse(request, await self.client.messages.create(**params))
            return await self._stream(request, params, on_delta)
        except anthropic.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            message = str((error or {}).get("message") or exc.message)
            raise overflow_or_error(self.name, exc.status_code, message, None) from exc
        except anthropic.APITimeoutError as exc:
            raise ModelTimeoutError(f"{self.name} timed out (after retries)") from exc
        except anthropic.APIConnectionError as exc:
            raise ModelError(f"{self.name}: cannot connect to {self.client.base_url}") from exc
        except anthropic.APIError as exc:
            raise ModelError(f"{self.name} failed: {exc.message}") from exc
        except UNREADABLE as exc:  # not JSON, or JSON of the wrong shape
            raise unreadable(self.name, None, exc) from exc

    def _parse(self, request: ModelRequest, response: Any) -> ModelResponse:
        if not isinstance(response, AnthropicMessage):  # the SDK returns other bodies as they are
            raise unreadable(self.name, response)
        content, reasoning, calls = [], [], []
        for block in response.content:
            if block.type == "text":
                content.append(block.text)
            elif block.type == "thinking":
                reasoning.append(block.thinking)
            elif block.type == "tool_use":
                calls.append(ToolCallPart(id=block.id, name=block.name,
                                          arguments=scrub_text(json.dumps(block.input, ensure_ascii=False))))
        return assemble(request, content=scrub_text("\n".join(content)),
                        reasoning=scrub_text("\n".join(reasoning)), calls=calls, usage=_usage(response.usage))

    async def _stream(
        self, request: ModelRequest, params: dict[str, Any], on_delta: DeltaHandler
    ) -> ModelResponse:
        content, reasoning, usage = [], [], Usage()
        calls: dict[int, dict[str, str]] = {}
        stream = await self.client.messages.create(**params, stream=True)
        events = 0
        async for event in stream:
            events += 1
            if event.type == "message_start":
                usage = _usage(event.message.usage)
            elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                block = event.content_block
                calls[event.index] = {"id": block.id, "name": block.name, "arguments": ""}
                await on_delta(Delta(kind="tool_call", index=event.index, call_id=block.id,
                                     name=block.name))
            elif event.type == "content_block_delta":
                d = event.delta
                if d.type == "text_delta":
                    content.append(d.text)
                    await on_delta(Delta(kind="content", text=scrub_text(d.text)))
                elif d.type == "thinking_delta":
                    reasoning.append(d.thinking)
                    await on_delta(Delta(kind="reasoning", text=scrub_text(d.thinking)))
                elif d.type == "input_json_delta" and event.index in calls:
                    calls[event.index]["arguments"] += d.partial_json
                    await on_delta(Delta(kind="tool_call", index=event.index, text=scrub_text(d.partial_json)))
            elif event.type == "message_delta":
                usage = usage.model_copy(update={"completion_tokens": event.usage.output_tokens or 0})
        kind = stream.response.headers.get("content-type", "")
        if not events and "event-stream" not in kind:
            raise MalformedReplyError(f"{self.name} answered a streamed request with {kind or 'a body'}"
                                      " instead of an event stream")
        parts = [ToolCallPart(id=c["id"], name=c["name"], arguments=scrub_text(c["arguments"] or "{}"))
                 for _, c in sorted(calls.items())]
        return assemble(request, content=scrub_text("".join(content)),
                        reasoning=scrub_text("".join(reasoning)), calls=parts, usage=usage)
