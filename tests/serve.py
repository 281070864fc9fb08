"""uvicorn inside the test's event loop, on a random loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (it runs inside pytest's loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving_app(app: FastAPI) -> AsyncIterator[str]:
    """Serve app on a random loopback port in this loop; yields the base URL."""
    server = _Server(uvicorn.Config(app, log_level="warning"))
    # proto IPPROTO_TCP: asyncio sets TCP_NODELAY only then (else ~40 ms per keep-alive reply)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "server did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until check() holds (polling; fails after many tries, not after a set time)."""
    for _ in range(2000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def recording_hook(with_host: bool = False) -> tuple[FastAPI, list[Any]]:
    """An app that answers POST /hook and records each JSON body (with its Host header as
    ``(host, body)`` if with_host), for callback tests to serve with ``serving_app``."""
    got: list[Any] = []
    hook = FastAPI()

    @hook.post("/hook")
    async def receive(request: Request) -> dict[str, str]:
        body = json.loads(await request.body())
        got.append((request.headers["host"], body) if with_host else body)
        return {"ok": "yes"}

    return hook, got
