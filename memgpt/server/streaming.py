"""Server-Sent Events in Letta's streaming format, fed by the agent loop's listener.

The send runs as its own task; its listener (``on_event``) only puts events on an
``asyncio.Queue``, and the response body drains that queue, so nothing blocks the event loop.
Each chunk is ``data: {json}``; the stream ends with the stop reason, the usage statistics
and ``data: [DONE]``, as letta-client expects. An error after the stream began is sent as
``event: error`` (letta-client raises it) followed by ``data: [DONE]``.

A client hanging up cancels the send (``response(..., task=)``): the turn stops as at its
deadline, its input and finished steps stay in recall memory, and the agent is free at once
for the next request instead of spending model calls nobody will read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, Final

from pydantic import BaseModel
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send as ASGISend

from memgpt.core.errors import MemGPTError
from memgpt.core.events import Delta, Event as LoopEvent, MessageSaved
from memgpt.core.schemas import Message, ReasoningPart, Role, SendResult, ToolCallPart, utcnow
from memgpt.formats import letta as ls
from memgpt.server.errors import status_of

Send = Callable[..., Coroutine[Any, Any, SendResult]]


class _Done:
    """Marks the end of the send on the queue."""


DONE: Final = _Done()
Event = LoopEvent | _Done
_RUNNING: set[asyncio.Task[SendResult]] = set()
_KEY = re.compile(r'"message"\s*:\s*"')
log = logging.getLogger("memgpt.server")


def sse(chunk: BaseModel) -> str:
    """One ``data:`` event."""
    return f"data: {chunk.model_dump_json()}\n\n"


def sse_error(chunk: BaseModel) -> str:
    """One ``event: error`` event."""
    return f"event: error\ndata: {chunk.model_dump_json()}\n\n"


def _decode_prefix(raw: str) -> str:
    """The decoded text of a JSON string body seen so far (stops before a partial escape)."""
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == '"':
            break
        if c == "\\":
            if i + 1 >= n:
                break
            if raw[i + 1] == "u":
                if i + 6 > n:
                    break
                code = int(raw[i + 2 : i + 6], 16) if re.fullmatch(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]) else -1
                if code < 0:
                    break
                if 0xD800 <= code < 0xDC00 and i + 12 > n:
                    break  # wait for the low surrogate
                i += 12 if 0xD800 <= code < 0xDC00 else 6
            else:
                i += 2
        else:
            i += 1
    try:
        decoded: str = json.loads(f'"{raw[:i]}"')
    except ValueError:
        return ""
    return decoded


class _SentMessage:
    """Pulls the ``message`` argument out of a streamed send_message call as it arrives."""

    def __init__(self) -> None:
        self.raw = ""
        self.emitted = 0

    def feed(self, piece: str) -> str:
        self.raw += piece
        found = _KEY.search(self.raw)
        if found is None:
            return ""
        text = _decode_prefix(self.raw[found.end() :])
        new, self.emitted = text[self.emitted :], max(self.emitted, len(text))
        return new


class _Call:
    def __init__(self, call_id: str | None, name: str | None) -> None:
        self.id, self.name = call_id, name
        self.sent = _SentMessage() if name == ls.SEND_MESSAGE else None
        self.emitted = False


class LettaChunks:
    """Turns listener events into Letta stream chunks.

    Step mode (the default) sends each message the agent persists, converted as in a
    non-streamed response. Token mode (``stream_tokens``) sends model output as it is
    generated: reasoning and content deltas as ``reasoning_message`` pieces (content beside
    a tool call is inner monologue), send_message arguments as ``assistant_message`` pieces,
    other calls as ``tool_call_message`` pieces (ToolCallDelta); tool results come whole, and
    so does a plain-text reply (a response without tool calls) once it is stored. Pieces of one model response share a
    provisional id (the stored message's id is only known once it is stored).
    """

    def __init__(
        self, *, tokens: bool = False, use_assistant_message: bool = True,
        types: Sequence[str] | None = None,
    ) -> None:
        self.tokens = tokens
        self.use_assistant_message = use_assistant_message
        self.types = types
        self._reset()

    def _reset(self) -> None:
        self.pending_id: str | None = None
        self.text_streamed = False
        self.calls: dict[int, _Call] = {}

    def feed(self, event: LoopEvent) -> list[ls.LettaMessage]:
        """The chunks for one event (deltas in token mode, and each saved message)."""
        if isinstance(event, Delta):
            out = self._delta(event) if self.tokens else []
        elif isinstance(event, MessageSaved):
            out = self._message(event.message)
        else:
            out = []
        return [c for c in out if self.types is None or c.message_type in self.types]

    def _message(self, m: Message) -> list[ls.LettaMessage]:
        if m.role not in (Role.ASSISTANT, Role.TOOL):
            return []  # the input and system events are not streamed back, as in Letta
        if self.tokens and m.role is Role.ASSISTANT:
            streamed = {c.id for c in self.calls.values() if c.emitted and c.id}
            rest = [  # a plain-text reply is sent whole even if its tokens went out as reasoning
                p for p in m.parts
                if not (isinstance(p, ReasoningPart) and self.text_streamed)
                and not (isinstance(p, ToolCallPart) and p.id in streamed and not p.requires_approval)
            ]
            self._reset()
            m = m.model_copy(update={"parts": rest})
        return ls.message_to_letta(m, use_assistant_message=self.use_assistant_message)

    def _common(self, index: int) -> dict[str, object]:
        if self.pending_id is None:
            self.pending_id = f"message-{uuid.uuid4()}"
        return {"id": self.pending_id, "date": utcnow(), "otid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.pending_id}/{index}"))}

    def _delta(self, d: Delta) -> list[ls.LettaMessage]:
        if d.kind in ("reasoning", "content"):
            if not d.text:
                return []
            self.text_streamed = True
            return [ls.ReasoningMessage(**self._common(0), reasoning=d.text)]
        call = self.calls.get(d.index)
        if call is None:
            call = self.calls[d.index] = _Call(d.call_id, d.name)
        common = self._common(d.index + 1)
        if call.sent is not None and self.use_assistant_message:
            text = call.sent.feed(d.text)
            if not text:
                return []
            call.emitted = True
            return [ls.AssistantMessage(**common, content=text)]
        call.emitted = True
        piece = ls.ToolCallDelta(name=call.name, arguments=d.text, tool_call_id=call.id)
        return [ls.ToolCallMessage(**common, tool_call=piece, tool_calls=piece)]


def _forget(task: asyncio.Task[SendResult]) -> None:
    _RUNNING.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a send nobody is listening to any more may fail quietly


async def start(send: Send, agent: str, text: str) -> tuple[asyncio.Task[SendResult], asyncio.Queue[Event], Event]:
    """Start a send in its own task; wait for its first event.

    A send that fails before anything happened (unknown agent, empty text) raises here, so
    the route answers with an ordinary JSON error instead of a stream.
    """
    queue: asyncio.Queue[Event] = asyncio.Queue()

    async def listener(event: LoopEvent) -> None:
        queue.put_nowait(event)

    task = asyncio.create_task(send(agent, text, on_event=listener))
    _RUNNING.add(task)
    task.add_done_callback(lambda _: queue.put_nowait(DONE))
    task.add_done_callback(_forget)
    first = await queue.get()
    if isinstance(first, _Done):
        task.result()  # raises the send's error, if any
    return task, queue, first


async def letta_body(
    task: asyncio.Task[SendResult], queue: asyncio.Queue[Event], first: Event, chunks: LettaChunks,
    *, ping_every: float | None = None,
) -> AsyncIterator[str]:
    """The SSE body of a Letta stream."""
    async for event in _ticks(queue, first, ping_every):
        if event is None:
            yield sse(ls.LettaPing(id=f"message-{uuid.uuid4()}", date=utcnow()))
        elif not isinstance(event, _Done):
            for chunk in chunks.feed(event):
                yield sse(chunk)
    try:
        result = task.result()
    except Exception as exc:  # a bug too ends in an error event: never a silent, cut stream
        status = status_of(exc) if isinstance(exc, MemGPTError) else 500
        if status == 500:
            log.error("stream failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
        message = str(exc) if isinstance(exc, MemGPTError) else f"internal server error: {type(exc).__name__}"
        yield sse_error(ls.LettaErrorMessage(
            run_id="", error_type=type(exc).__name__, message=message, detail=f"HTTP {status}",
        ))
        yield "data: [DONE]\n\n"
        return
    yield sse(ls.stop_reason(result))
    yield sse(ls.usage_statistics(result))
    yield "data: [DONE]\n\n"


async def native_body(
    task: asyncio.Task[SendResult], queue: asyncio.Queue[Event], first: Event
) -> AsyncIterator[str]:
    """The SSE body of memgpt's own stream: every loop event as it happens."""
    async for event in _ticks(queue, first, None):
        if event is not None and not isinstance(event, _Done):
            yield f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"
    yield "data: [DONE]\n\n"  # a failed send's run event above carries its error


async def _ticks(
    queue: asyncio.Queue[Event], first: Event, ping_every: float | None
) -> AsyncIterator[Event | None]:
    """Queue items up to and including DONE, with None for each quiet ping_every seconds."""
    item: Event = first
    while True:
        yield item
        if isinstance(item, _Done):
            return
        while True:
            try:
                item = await (queue.get() if ping_every is None else asyncio.wait_for(queue.get(), ping_every))
                break
            except TimeoutError:
                yield None


class _TurnStream(StreamingResponse):
    """A stream that cancels its send when it ends first (Starlette stops the body when
    the client disconnects and then returns from ``__call__``)."""

    def __init__(self, body: AsyncIterator[str], task: asyncio.Task[SendResult] | None) -> None:
        super().__init__(
            body, media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
        self.task = task

    async def __call__(self, scope: Scope, receive: Receive, send: ASGISend) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.task is not None and not self.task.done():
                self.task.cancel()  # the client went away before the turn ended


def response(body: AsyncIterator[str], *, task: asyncio.Task[SendResult] | None = None) -> StreamingResponse:
    """A text/event-stream response; with ``task`` (the send feeding it), a client that
    disconnects cancels the send."""
    return _TurnStream(body, task)
