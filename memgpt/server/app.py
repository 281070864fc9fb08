"""The FastAPI app: Letta's REST surface and our own, as thin adapters over AgentService."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memgpt.core.version import VERSION as __version__
from memgpt.embeddings.base import warm
from memgpt.server import errors
from memgpt.server.deps import get_service
from memgpt.server.errors import error_response
from memgpt.server.letta import agentfiles, agents, catalog, fallback, memory, messages, tools
from memgpt.server.letta import blocks as letta_blocks
from memgpt.server.letta import identities as letta_identities
from memgpt.server.native import identities as native_identities
from memgpt.server.native import agents as native, tools as native_tools, workbench
from memgpt.server.native import blocks as native_blocks
from memgpt.server.letta import archives, conversations, folders, mcp, runs, schedules
from memgpt.server.native import archives as native_archives, conversations as native_conversations
from memgpt.server.native import folders as native_folders, mcp as native_mcp, runs as native_runs
from memgpt.server.native import schedules as native_schedules
from memgpt.services.schedules import Scheduler
from memgpt.services.service import AgentService

MAX_BODY_BYTES = 1 << 20
"""Default cap on a request body (1 MiB); larger bodies get 413."""
MAX_IMPORT_BYTES = 256 << 20
"""Cap on an uploaded agent file (256 MiB): a long history with passages is large."""
IMPORT_PATHS = ("/v1/agents/import", "/memgpt/v1/agents/import")
MAX_UPLOAD_BYTES = 200 << 20
"""Cap on a file uploaded to a folder (200 MiB); the upload streams to disk, never whole in memory."""
UPLOAD_PATH = re.compile(r"^/(?:memgpt/)?v1/folders/[^/]+/upload/?$")

DESCRIPTION = """\
memgpt agents over HTTP. `/v1/...` speaks the REST shapes of the Letta API (point the
`letta-client` SDK's `base_url` here); `/memgpt/v1/...` returns memgpt's own schemas.
Letta routes not listed here answer 501 with a JSON body."""


class BodyTooLarge(HTTPException):
    """Raised while reading a body past the limit; answered as a JSON 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request body is too large")


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (``import_bytes`` for agent-file imports): at
    once if declared, else as they arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int, import_bytes: int = MAX_IMPORT_BYTES) -> None:
        self.app, self.max_bytes, self.import_bytes = app, max_bytes, import_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        importing = scope["path"].rstrip("/") in IMPORT_PATHS
        limit = max(self.max_bytes, self.import_bytes) if importing else self.max_bytes
        if UPLOAD_PATH.match(scope["path"]):
            limit = max(self.max_bytes, MAX_UPLOAD_BYTES)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(
                413, f"request body is too large ({int(declared)} bytes; limit {limit})",
                "payload_too_large",
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited, send)


def create_app(
    service: AgentService,
    *,
    own_service: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
    require_key: bool = False,
) -> FastAPI:
    """An app serving ``service``; it is opened at startup (and closed at shutdown if owned).

    With ``require_key`` every request needs a Bearer API key; otherwise requests without
    one act as the single local user.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.open()
        await service.recover_runs()  # runs a dead process left: failed, or queued ones resumed
        scheduler = Scheduler(service)  # schedules and timed heartbeats fire while serving
        await scheduler.start()
        # what the first search would load (e5's query graph: ~0.6 s), loaded while idle
        warming = asyncio.create_task(asyncio.to_thread(warm, service.embedder))
        try:
            yield
        finally:
            await scheduler.stop()
            await asyncio.gather(warming, return_exceptions=True)
            if own_service:
                await service.close()

    app = FastAPI(
        title="memgpt", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        dependencies=[Depends(get_service)],  # every route authenticates, even 404/501 ones
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.state.service = service
    app.state.max_body_bytes = max_body_bytes
    app.state.require_key = require_key
    errors.install(app)
    for module in (agents, agentfiles, messages, memory, letta_blocks, tools, catalog, native, native_tools,
                   native_blocks):
        app.include_router(module.router)
    app.include_router(letta_identities.router)
    app.include_router(native_identities.router)
    for module in (archives, folders, runs, schedules, conversations, mcp, native_archives, native_folders,
                   native_runs, native_schedules, native_conversations, native_mcp):
        app.include_router(module.router)
    workbench.install(app, require_key=require_key)  # the page (no key needed) and its route
    app.include_router(fallback.router)  # last: answers whatever nothing else did
    return app
