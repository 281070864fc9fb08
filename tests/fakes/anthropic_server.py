"""A fake Anthropic Messages API server speaking the real wire format, for tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .openai_server import (
    DelayReply, ErrorReply, FakeServer, RawReply, Reply, _Handler, delay, format_seconds, new_id, pieces, raw,
)

__all__ = [
    "DelayReply", "ErrorReply", "FakeAnthropic", "MessageReply", "RawReply", "Reply", "context_overflow",
    "conversation_error", "delay", "error", "fake_anthropic", "message", "overloaded", "rate_limited", "raw",
    "server_error",
]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}


@dataclass(frozen=True)
class MessageReply(Reply):
    """An assistant message (sent as JSON, or as SSE events when the request streams)."""

    texts: tuple[str, ...]
    tool_uses: tuple[tuple[str, dict[str, Any] | str], ...]
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    stop_reason: str | None


def message(text: str | list[str] | None = None, tool_uses: list[tuple[str, dict[str, Any] | str]] | None = None,
            *, input_tokens: int = 100, output_tokens: int = 20, cache_read_input_tokens: int = 0,
            cache_creation_input_tokens: int = 0, stop_reason: str | None = None) -> MessageReply:
    """A message: text block(s), then tool_use blocks; a str input is sent raw (even if not JSON)."""
    texts = (text,) if isinstance(text, str) else tuple(text or ())
    return MessageReply(texts, tuple(tool_uses or ()), input_tokens, output_tokens, cache_read_input_tokens,
                        cache_creation_input_tokens, stop_reason)


def _anthropic_error_body(status: int, message: str, type: str | None = None) -> dict[str, Any]:
    """Anthropic's error shape."""
    kind = type or _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": new_id("req_")}


def error(status: int, message: str = "The fake server returned an error.", *, type: str | None = None,
          headers: dict[str, str] | None = None) -> ErrorReply:
    """An error response in Anthropic's `{"type": "error", "error": {...}}` shape."""
    return ErrorReply(status, _anthropic_error_body(status, message, type), dict(headers or {}))


def rate_limited(retry_after: float = 0) -> ErrorReply:
    """429 rate_limit_error with a retry-after header (the SDK backs off ~0.5 s itself when it is 0)."""
    return error(429, "Number of request tokens has exceeded your per-minute rate limit.",
                 headers={"retry-after": format_seconds(retry_after)})


def overloaded() -> ErrorReply:
    """529 overloaded_error."""
    return error(529, "Overloaded")


def server_error() -> ErrorReply:
    """500 api_error."""
    return error(500, "Internal server error")


def context_overflow(tokens: int = 250000, maximum: int = 200000) -> ErrorReply:
    """400 invalid_request_error "prompt is too long: N tokens > M maximum"."""
    return error(400, f"prompt is too long: {tokens} tokens > {maximum} maximum")


def _blocks(message: Any) -> list[dict[str, Any]]:
    """A message's content blocks (a string content has none of interest here)."""
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def conversation_error(messages: Any) -> ErrorReply | None:
    """The 400 Anthropic answers when tool_use and tool_result blocks do not pair up, else None.

    The real API's rules (and wording): every `tool_result` block must name a `tool_use` id of
    the message right before its own (the previous assistant turn), and every `tool_use` block
    of an assistant message must be answered by a `tool_result` block in the message right
    after it, which must begin with those results (text may follow them). Messages are checked
    in order; the first problem is reported.
    """
    if not isinstance(messages, list):
        return None
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role == "user":
            before = messages[i - 1] if i else None
            used = {b.get("id") for b in _blocks(before) if b.get("type") == "tool_use"} \
                if isinstance(before, dict) and before.get("role") == "assistant" else set()
            for k, b in enumerate(_blocks(m)):
                if b.get("type") == "tool_result" and b.get("tool_use_id") not in used:
                    return error(400, f"messages.{i}.content.{k}: unexpected `tool_use_id` found in "
                                      f"`tool_result` blocks: {b.get('tool_use_id')}. Each `tool_result` "
                                      "block must have a corresponding `tool_use` block in the previous message.")
        elif role == "assistant":
            ids = [b.get("id") for b in _blocks(m) if b.get("type") == "tool_use"]
            after = messages[i + 1] if i + 1 < len(messages) else None
            answered = {b.get("tool_use_id") for b in _blocks(after) if b.get("type") == "tool_result"} \
                if isinstance(after, dict) and after.get("role") == "user" else set()
            missing = [t for t in ids if t not in answered]
            if missing:
                return error(400, f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                                  f"immediately after: {', '.join(map(str, missing))}. Each `tool_use` block "
                                  "must have a corresponding `tool_result` block in the next message.")
            lead = [b.get("type") for b in _blocks(after)[: len(ids)]]
            if ids and lead != ["tool_result"] * len(ids):  # answered, but text comes first
                return error(400, f"messages.{i + 1}: Did not find {len(ids)} tool_result block(s) at the "
                                  "beginning of this message. Messages following tool_use blocks must begin "
                                  "with a matching number of tool_result blocks.")
    return None


class FakeAnthropic(FakeServer):
    """Fake Anthropic server: POST /v1/messages and GET /v1/models; point the SDK at `.url`."""

    endpoint = "/v1/messages"
    name = "FakeAnthropic"
    request_id_header = "request-id"

    @property
    def url(self) -> str:
        """Base URL for `anthropic.Anthropic(base_url=...)`: no /v1, the SDK adds it."""
        return f"http://127.0.0.1:{self.port}"

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        """Anthropic's error shape."""
        return _anthropic_error_body(status, message)

    def _reject(self, request: dict[str, Any]) -> ErrorReply | None:
        """tool_use and tool_result blocks that do not pair up, refused as Anthropic does."""
        return conversation_error(request.get("messages"))

    def _models(self) -> dict[str, Any]:
        """A couple of model ids."""
        ids = ("claude-sonnet-4-6", "claude-haiku-4-5")
        data = [{"type": "model", "id": i, "display_name": i, "created_at": "2025-01-01T00:00:00Z"} for i in ids]
        return {"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]}

    def _answer(self, h: _Handler, request: dict[str, Any], reply: Reply) -> None:
        """A message, or the message_start..message_stop SSE events when the request streams."""
        assert isinstance(reply, MessageReply), f"unexpected reply {reply!r}"
        tools = [(new_id("toolu_"), name, raw) for name, raw in reply.tool_uses]
        stop_reason = reply.stop_reason or ("tool_use" if tools else "end_turn")
        usage = {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
                 "cache_creation_input_tokens": reply.cache_creation_input_tokens,
                 "cache_read_input_tokens": reply.cache_read_input_tokens, "service_tier": "standard"}
        msg: dict[str, Any] = {"id": new_id("msg_"), "type": "message", "role": "assistant",
                               "model": str(request.get("model", "claude-sonnet-4-6")), "content": [],
                               "stop_reason": None, "stop_sequence": None}
        if not request.get("stream"):
            content = [{"type": "text", "text": t} for t in reply.texts]
            content += [{"type": "tool_use", "id": i, "name": n, "input": _parsed(raw)} for i, n, raw in tools]
            h.send_json(200, {**msg, "content": content, "stop_reason": stop_reason, "usage": usage})
            return
        h.start_sse()
        for event in self._events(reply, tools, msg, usage, stop_reason):
            h.send_chunk(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n")
        h.send_chunk("")

    @staticmethod
    def _events(reply: MessageReply, tools: list[tuple[str, str, dict[str, Any] | str]], msg: dict[str, Any],
                usage: dict[str, Any], stop_reason: str) -> Iterator[dict[str, Any]]:
        """The real stream: message_start, ping, per-block start/deltas/stop, message_delta, message_stop."""
        yield {"type": "message_start", "message": {**msg, "usage": {**usage, "output_tokens": 1}}}
        yield {"type": "ping"}
        index = 0
        for text in reply.texts:
            yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            for piece in pieces(text):
                yield {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
            yield {"type": "content_block_stop", "index": index}
            index += 1
        for tool_id, name, args in tools:
            block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
            yield {"type": "content_block_start", "index": index, "content_block": block}
            for piece in [""] + pieces(args if isinstance(args, str) else json.dumps(args)):
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield {"type": "content_block_delta", "index": index, "delta": delta}
            yield {"type": "content_block_stop", "index": index}
            index += 1
        yield {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
               "usage": {"output_tokens": reply.output_tokens}}
        yield {"type": "message_stop"}


def _parsed(raw: dict[str, Any] | str) -> Any:
    """A tool input for a non-streamed message: the dict, parsed JSON, or the raw string."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A running FakeAnthropic, closed after the test."""
    with FakeAnthropic() as fake:
        yield fake
