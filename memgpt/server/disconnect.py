"""Stop a synchronous turn whose client has gone.

uvicorn does not cancel a request's handler when the client hangs up; it only reports
``http.disconnect`` on the request's receive channel (once the body is read, the next
``receive`` waits for exactly that). So the send runs as a task beside a watcher of that
channel, and a disconnect cancels it. Cancelling a turn is safe at any point: the loop
drops the step under way whole (a commit under way lands first), keeping the input and
finished steps, and the agent's lock and lease are given back (memgpt.runtime.loop.run).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

T = TypeVar("T")
log = logging.getLogger("memgpt.server")

CLIENT_GONE = 499
"""Status of the (unsent) answer to a request whose client went away (nginx's usage)."""


async def _gone(request: Request) -> None:
    """Return when the client has disconnected (the body was already read by the route)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T | Response:
    """work's result; if the client disconnects first, work is cancelled (and waited for)
    and a 499 response nobody will read stands in for it."""
    task: asyncio.Task[T] = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_gone(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:  # the turn is not done: the client left, or this handler is being cancelled
        watcher.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
    if task.cancelled():
        log.info("%s %s: client disconnected; its turn was cancelled", request.method, request.url.path)
        return Response(status_code=CLIENT_GONE)
    return task.result()
