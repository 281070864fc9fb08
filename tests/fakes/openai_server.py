"""A fake OpenAI Chat Completions server speaking the real wire format, for tests."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import pytest

__all__ = [
    "CompletionReply", "DelayReply", "ErrorReply", "FakeOpenAI", "FakeServer", "RawReply", "Reply", "Responder",
    "completion",
    "context_overflow", "conversation_error", "delay", "error", "fake_openai", "rate_limited", "raw",
    "server_error",
]


class Reply:
    """Base class of every scripted reply."""


@dataclass(frozen=True)
class ErrorReply(Reply):
    """An HTTP error: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RawReply(Reply):
    """Any body, sent as it is to a request streamed or not (a broken proxy, an HTML page)."""

    status: int
    body: str
    content_type: str


def raw(body: str, content_type: str = "application/json", status: int = 200) -> RawReply:
    """Answer with exactly this body (e.g. "not json", or an HTML error page with 200)."""
    return RawReply(status, body, content_type)


@dataclass(frozen=True)
class DelayReply(Reply):
    """Sleep `seconds`, then answer with `then`."""

    seconds: float
    then: Reply


@dataclass(frozen=True)
class CompletionReply(Reply):
    """A chat completion (sent as JSON, or as SSE chunks when the request streams)."""

    content: str | None
    tool_calls: tuple[tuple[str, str], ...]
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    finish_reason: str | None


Responder = Callable[[dict[str, Any]], Reply]
"""Computes the reply to a request body (a scripted model that reads what it was sent)."""


def delay(seconds: float, then: Reply) -> DelayReply:
    """Answer with `then` after `seconds` (to trigger client timeouts)."""
    return DelayReply(seconds, then)


def new_id(prefix: str, n: int = 24) -> str:
    """A random id like the real APIs use, e.g. `call_AbC...`."""
    return prefix + secrets.token_hex(n)[:n]


def pieces(text: str, n: int = 4) -> list[str]:
    """Split `text` into at most `n` non-empty, roughly equal pieces."""
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def format_seconds(seconds: float) -> str:
    """Render seconds for a Retry-After header ("0", "2", "0.5")."""
    return f"{seconds:g}"


class _Handler(BaseHTTPRequestHandler):
    """Routes each HTTP request to the owning FakeServer."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        """Register the connection so close() can unblock idle keep-alive reads."""
        super().setup()
        self.server.fake._track(self.connection)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self.server.fake._untrack(self.connection)

    def do_GET(self) -> None:
        """Handle GET and POST alike."""
        self.server.fake._handle(self)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def head(self, status: int, headers: dict[str, str]) -> None:
        """Send the status line and headers (plus a fresh request id)."""
        self.send_response(status)
        for key, value in {**self.server.fake._response_headers(), **headers}.items():
            self.send_header(key, value)
        self.end_headers()

    def send_json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
        """Send a complete JSON response with Content-Length."""
        data = json.dumps(obj).encode()
        self.head(status, {"content-type": "application/json", "content-length": str(len(data)), **(headers or {})})
        self.wfile.write(data)

    def start_sse(self) -> None:
        """Begin a chunked text/event-stream response."""
        self.head(200, {"content-type": "text/event-stream; charset=utf-8", "transfer-encoding": "chunked",
                        "cache-control": "no-cache"})

    def send_chunk(self, text: str) -> None:
        """Write one HTTP chunk (an empty string ends the body)."""
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its FakeServer and ignores dropped clients. Its request
    threads are daemons (a fake left open never holds the interpreter) but are remembered, so
    close() can join them: with daemon threads ThreadingMixIn keeps no list of its own."""

    daemon_threads = True

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        self.handlers: list[threading.Thread] = []
        self.handlers_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Handle the request in a daemon thread that close() can join."""
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
        with self.handlers_lock:
            self.handlers = [t for t in self.handlers if t.is_alive()] + [thread]
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, close()) are expected; stay quiet."""


class FakeServer:
    """Shared plumbing: a loopback HTTP server with a queue of scripted replies."""

    endpoint = "/v1/chat/completions"
    name = "FakeServer"
    request_id_header = "x-request-id"

    def __init__(self, *replies: Reply, responder: Responder | None = None) -> None:
        self.responder = responder  # answers requests once the scripted queue is empty
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.unscripted = 0
        self.rejected: list[ErrorReply] = []  # requests refused as malformed, like the real API would
        self._queue: deque[Reply] = deque(replies)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd = _HTTPServer(self)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}:{self.port}", daemon=True)
        self._thread.start()

    def push(self, *replies: Reply) -> None:
        """Queue replies; each request consumes the next one."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies are still unused."""
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        """Stop serving, drop open connections, and join every server thread."""
        with self._lock:
            if self._closing.is_set():
                return
            self._closing.set()
        self._httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _hang_up(conn)
        self._httpd.server_close()
        self._thread.join()
        with self._httpd.handlers_lock:
            handlers = list(self._httpd.handlers)
        for thread in handlers:  # each ends at once: its connection was hung up, delays end on close
            thread.join(5)

    def __enter__(self) -> Self:
        """Return the running server."""
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Close the server."""
        self.close()

    def _track(self, conn: socket.socket) -> None:
        """Remember an open connection (or hang it up if we are closing)."""
        with self._lock:
            if self._closing.is_set():
                _hang_up(conn)
            else:
                self._conns.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        """Forget a finished connection."""
        with self._lock:
            self._conns.discard(conn)

    def _response_headers(self) -> dict[str, str]:
        """Headers on every response: a fresh request id."""
        return {self.request_id_header: new_id("req_")}

    def _handle(self, h: _Handler) -> None:
        """Route one request: models list, scripted reply, or an error in the provider's shape."""
        method, path = h.command, urlsplit(h.path).path
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        if method == "GET" and path == "/v1/models":
            h.send_json(200, self._models())
            return
        if method != "POST" or path != self.endpoint:
            h.send_json(404, self._error_body(404, f"{self.name}: no route for {method} {path}"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            h.send_json(400, self._error_body(400, f"{self.name}: request body is not JSON"))
            return
        rejection = self._reject(body) if isinstance(body, dict) else None
        with self._lock:
            self.requests.append(body)
            self.headers.append({k.lower(): v for k, v in h.headers.items()})
            if rejection is not None:  # refused before generating: no scripted reply is used
                self.rejected.append(rejection)
                reply, number = rejection, len(self.requests)
            else:
                reply, number = (self._queue.popleft() if self._queue else None), len(self.requests)
                if reply is None and self.responder is not None:
                    reply = self.responder(body)
                self.unscripted += reply is None
        if reply is None:  # x-should-retry: false stops the SDKs from retrying into the same hole
            msg = f"{self.name}: no reply was scripted for request #{number}"
            reply = ErrorReply(500, self._error_body(500, msg), {"x-should-retry": "false"})
        while isinstance(reply, DelayReply):
            if self._closing.wait(reply.seconds):
                h.close_connection = True
                return
            reply = reply.then
        if isinstance(reply, ErrorReply):
            h.send_json(reply.status, reply.body, reply.headers)
        elif isinstance(reply, RawReply):
            data = reply.body.encode()
            h.head(reply.status, {"content-type": reply.content_type, "content-length": str(len(data))})
            h.wfile.write(data)
        else:
            self._answer(h, body, reply)

    def _answer(self, h: _Handler, request: dict[str, Any], reply: Reply) -> None:
        """Send a success reply (JSON or SSE); provider-specific."""
        raise NotImplementedError

    def _reject(self, request: dict[str, Any]) -> ErrorReply | None:
        """The 400 the real API answers to a malformed request, or None; provider-specific."""
        return None

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        """An error body in the provider's shape."""
        raise NotImplementedError

    def _models(self) -> dict[str, Any]:
        """The GET /v1/models body."""
        raise NotImplementedError


def _hang_up(conn: socket.socket) -> None:
    """Shut a socket down both ways, ignoring errors."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# --- OpenAI ---------------------------------------------------------------------------------------

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error",
                404: "invalid_request_error", 429: "requests"}


def completion(content: str | None = None, tool_calls: list[tuple[str, str]] | None = None, *,
               prompt_tokens: int = 100, completion_tokens: int = 20, cached_tokens: int = 0,
               finish_reason: str | None = None) -> CompletionReply:
    """A chat completion; tool_calls are (name, raw_arguments) sent verbatim, valid JSON or not."""
    return CompletionReply(content, tuple(tool_calls or ()), prompt_tokens, completion_tokens,
                           cached_tokens, finish_reason)


def _openai_error_body(status: int, message: str, code: str | None, type: str | None = None,
                       param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape."""
    kind = type or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error(status: int, message: str = "The fake server returned an error.", *, code: str | None = None,
          headers: dict[str, str] | None = None, type: str | None = None,
          param: str | None = None) -> ErrorReply:
    """An error response in OpenAI's `{"error": {...}}` shape."""
    return ErrorReply(status, _openai_error_body(status, message, code, type, param), dict(headers or {}))


def rate_limited(retry_after: float = 0) -> ErrorReply:
    """429 with a Retry-After header (the SDKs back off ~0.5 s themselves when it is 0)."""
    return error(429, "Rate limit reached for requests. Please try again later.", code="rate_limit_exceeded",
                 headers={"retry-after": format_seconds(retry_after)})


def server_error() -> ErrorReply:
    """500 server_error."""
    return error(500, "The server had an error while processing your request. Sorry about that!")


def context_overflow(limit: int = 128000, requested: int = 130000) -> ErrorReply:
    """400 context_length_exceeded with OpenAI's usual wording."""
    return error(400, f"This model's maximum context length is {limit} tokens. However, your messages "
                      f"resulted in {requested} tokens. Please reduce the length of the messages.",
                 code="context_length_exceeded", param="messages")


def conversation_error(messages: Any) -> ErrorReply | None:
    """The 400 OpenAI answers when tool calls and tool messages do not pair up, else None.

    The real API's rules (and wording, typo included): every `role: tool` message must answer
    a `tool_calls` id of the assistant message right before the run of tool messages it is in,
    and an assistant message with `tool_calls` must be followed by tool messages answering every
    one of its ids. Messages are checked in order; the first problem is reported.
    """
    if not isinstance(messages, list):
        return None
    n, i = len(messages), 0
    while i < n:
        m = messages[i] if isinstance(messages[i], dict) else {}
        if m.get("role") == "tool":  # not right after an assistant message with tool_calls
            return error(400, "Invalid parameter: messages with role 'tool' must be a response to a "
                              "preceeding message with 'tool_calls'.", param=f"messages.[{i}].role")
        calls = m.get("tool_calls") if m.get("role") == "assistant" else None
        if not calls:
            i += 1
            continue
        ids = [c.get("id") for c in calls if isinstance(c, dict)]
        answered: set[str] = set()
        j = i + 1
        while j < n and isinstance(messages[j], dict) and messages[j].get("role") == "tool":
            call_id = messages[j].get("tool_call_id")
            if call_id not in ids:
                return error(400, f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in "
                                  "'tool_calls' of previous message.", param=f"messages.[{j}].tool_call_id")
            answered.add(call_id)
            j += 1
        missing = [c for c in ids if c not in answered]
        if missing:
            return error(400, "An assistant message with 'tool_calls' must be followed by tool messages "
                              "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                              f"response messages: {', '.join(map(str, missing))}",
                         param=f"messages.[{j if j < n else i}].role")
        i = j
    return None


class FakeOpenAI(FakeServer):
    """Fake OpenAI server: POST /v1/chat/completions and GET /v1/models; point the SDK at `.url`."""

    endpoint = "/v1/chat/completions"
    name = "FakeOpenAI"
    request_id_header = "x-request-id"

    @property
    def url(self) -> str:
        """Base URL for `openai.OpenAI(base_url=...)`, ending in /v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        """OpenAI's error shape."""
        return _openai_error_body(status, message, None)

    def _reject(self, request: dict[str, Any]) -> ErrorReply | None:
        """Tool calls and tool messages that do not pair up, refused as OpenAI does."""
        return conversation_error(request.get("messages"))

    def _models(self) -> dict[str, Any]:
        """A couple of model ids."""
        ids = ("gpt-4o-mini", "gpt-4o", "gpt-4.1")
        return {"object": "list", "data": [{"id": i, "object": "model", "created": 1700000000,
                                            "owned_by": "openai"} for i in ids]}

    def _answer(self, h: _Handler, request: dict[str, Any], reply: Reply) -> None:
        """A chat.completion, or chat.completion.chunk SSE events when the request streams."""
        assert isinstance(reply, CompletionReply), f"unexpected reply {reply!r}"
        model = str(request.get("model", "gpt-4o-mini"))
        calls = [{"id": new_id("call_"), "type": "function", "function": {"name": n, "arguments": a}}
                 for n, a in reply.tool_calls]
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                 "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                 "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
        head = {"id": new_id("chatcmpl-"), "created": int(time.time()), "model": model,
                "system_fingerprint": "fp_fake", "service_tier": "default"}
        if not request.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None,
                                       "annotations": []}
            if calls:
                message["tool_calls"] = calls
            h.send_json(200, {**head, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]})
            return
        with_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        h.start_sse()
        for chunk in self._chunks(reply, calls, finish):
            if with_usage:
                chunk["usage"] = None
            h.send_chunk(_sse({**head, "object": "chat.completion.chunk", **chunk}))
        if with_usage:
            h.send_chunk(_sse({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
        h.send_chunk("data: [DONE]\n\n")
        h.send_chunk("")

    @staticmethod
    def _chunks(reply: CompletionReply, calls: list[dict[str, Any]], finish: str) -> Iterator[dict[str, Any]]:
        """The choices of each streamed chunk: role, content pieces, tool-call pieces, finish."""

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

        yield choice({"role": "assistant", "content": "" if reply.content is not None else None, "refusal": None})
        for piece in pieces(reply.content or ""):
            yield choice({"content": piece})
        for index, call in enumerate(calls):
            fn = call["function"]
            yield choice({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                          "function": {"name": fn["name"], "arguments": ""}}]})
            for piece in pieces(fn["arguments"]):
                yield choice({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield choice({}, finish)


def _sse(obj: object) -> str:
    """One `data:` Server-Sent Event."""
    return f"data: {json.dumps(obj)}\n\n"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running FakeOpenAI, closed after the test."""
    with FakeOpenAI() as fake:
        yield fake
