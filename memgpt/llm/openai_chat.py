"""OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, ...)."""

from __future__ import annotations

import json
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from memgpt.core.errors import MalformedReplyError, ModelError, ModelTimeoutError
from memgpt.llm.base import (
    UNREADABLE, Delta, DeltaHandler, ModelRequest, ModelResponse, retry_empty, unreadable,
)
from memgpt.llm.wire import assemble, event_text, overflow_or_error, paired, wire_arguments
from memgpt.core.schemas import Message, Role, ToolCallPart, Usage, scrub_text


def to_wire(messages: list[Message]) -> list[dict[str, Any]]:
    """Domain messages as chat-completions messages."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role is Role.SYSTEM:
            out.append({"role": "system", "content": m.text})
        elif m.role is Role.USER:
            out.append({"role": "user", "content": m.text})
        elif m.role is Role.EVENT:
            out.append({"role": "user", "content": event_text(m)})
        elif m.role is Role.ASSISTANT:
            text = "\n".join(filter(None, [m.reasoning, m.text]))
            item: dict[str, Any] = {"role": "assistant", "content": text or None}
            if m.tool_calls:
                item["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {
                        "name": c.name, "arguments": json.dumps(wire_arguments(c.arguments))}}
                    for c in m.tool_calls
                ]
            out.append(item)
        else:
            out.extend(
                {"role": "tool", "tool_call_id": r.call_id,
                 "content": f"Error: {r.content}" if r.is_error else r.content}
                for r in m.tool_results
            )
    return out


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    details = getattr(raw, "prompt_tokens_details", None)
    return Usage(
        prompt_tokens=raw.prompt_tokens or 0,
        completion_tokens=raw.completion_tokens or 0,
        cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
    )


def _reasoning_of(obj: Any) -> str:
    """Reasoning text some servers add (vLLM, DeepSeek, Ollama: reasoning_content/reasoning)."""
    extra = getattr(obj, "model_extra", None) or {}
    value = extra.get("reasoning_content") or extra.get("reasoning") or ""
    return value if isinstance(value, str) else ""


class OpenAIChatModel:
    """A Model over any OpenAI-compatible /chat/completions endpoint, via the openai SDK.

    The SDK retries timeouts, connection errors, 408/409/429 and 5xx with exponential
    backoff and jitter, honouring Retry-After; ``max_retries`` bounds it.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        name: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        require_tool_call: bool = True,
        max_tokens_field: str = "max_tokens",
    ) -> None:
        self.model = model
        self.name = name or f"openai/{model}"
        self.require_tool_call = require_tool_call
        self.max_tokens_field = max_tokens_field
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "no-key-needed", base_url=base_url,
            timeout=timeout, max_retries=max_retries,
        )

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "messages": to_wire(paired(request.messages))}
        if request.tools:
            params["tools"] = [
                {"type": "function", "function": t.model_dump()} for t in request.tools
            ]
            if self.require_tool_call and request.purpose == "agent":
                params["tool_choice"] = "required"
        if request.max_tokens:
            params[self.max_tokens_field] = request.max_tokens
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
                return self._parse(request, await self.client.chat.completions.create(**params))
            return await self._stream(request, params, on_delta)
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            raise overflow_or_error(self.name, exc.status_code, exc.message, body.get("code")) from exc
        except openai.APITimeoutError as exc:
            raise ModelTimeoutError(f"{self.name} timed out (after retries)") from exc
        except openai.APIConnectionError as exc:
            raise ModelError(f"{self.name}: cannot connect to {self.client.base_url}") from exc
        except openai.APIError as exc:
            raise ModelError(f"{self.name} failed: {exc.message}") from exc
        except UNREADABLE as exc:  # not JSON, or JSON of the wrong shape
            raise unreadable(self.name, None, exc) from exc

    def _parse(self, request: ModelRequest, completion: Any) -> ModelResponse:
        if not isinstance(completion, ChatCompletion):  # the SDK returns other bodies as they are
            raise unreadable(self.name, completion)
        if not completion.choices:
            raise ModelError(f"{self.name} returned no choices")
        msg = completion.choices[0].message
        calls = [
            ToolCallPart(id=c.id, name=fn.name, arguments=scrub_text(fn.arguments or ""))
            for c in (msg.tool_calls or [])
            if (fn := getattr(c, "function", None)) is not None
        ]
        return assemble(
            request, content=scrub_text(msg.content or ""), reasoning=scrub_text(_reasoning_of(msg)),
            calls=calls, usage=_usage(completion.usage),
        )

    async def _stream(
        self, request: ModelRequest, params: dict[str, Any], on_delta: DeltaHandler
    ) -> ModelResponse:
        stream = await self.client.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True}
        )
        content, reasoning, usage = [], [], Usage()
        calls: dict[int, dict[str, str]] = {}
        chunks = 0
        async for chunk in stream:
            chunks += 1
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices:
                delta = choice.delta
                if think := _reasoning_of(delta):
                    reasoning.append(think)
                    await on_delta(Delta(kind="reasoning", text=scrub_text(think)))
                if delta.content:
                    content.append(delta.content)
                    await on_delta(Delta(kind="content", text=scrub_text(delta.content)))
                for tc in delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    fn = tc.function
                    slot["id"] = tc.id or slot["id"]
                    slot["name"] += (fn.name or "") if fn else ""
                    piece = (fn.arguments or "") if fn else ""
                    slot["arguments"] += piece
                    await on_delta(Delta(kind="tool_call", text=scrub_text(piece), index=tc.index,
                                         call_id=tc.id, name=fn.name if fn else None))
        kind = stream.response.headers.get("content-type", "")
        if not chunks and "event-stream" not in kind:
            raise MalformedReplyError(f"{self.name} answered a streamed request with {kind or 'a body'}"
                                      " instead of an event stream")
        parts = [
            ToolCallPart(id=c["id"] or f"call_{i}", name=c["name"], arguments=scrub_text(c["arguments"]))
            for i, c in sorted(calls.items())
        ]
        return assemble(request, content=scrub_text("".join(content)),
                        reasoning=scrub_text("".join(reasoning)), calls=parts, usage=usage)
