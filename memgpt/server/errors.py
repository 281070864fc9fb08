"""Every failure as a JSON body naming the problem: ``{"detail": ..., "type": ...}``.

Client mistakes get 4xx (never 500); the model failing gets 502 (504 when it timed out), an
overloaded server 503, and only a bug 500. Error responses carry ``x-should-retry: false`` so
SDKs that retry 409/5xx (letta-client, openai) do not resend a message that was already handled.

No handler re-raises: Starlette runs an ``Exception`` handler in ServerErrorMiddleware, which
answers and then re-raises, so uvicorn drops the keep-alive connection and a pooled client's
next request fails with ECONNRESET. ``Guard`` (a small ASGI middleware) answers instead.
"""

from __future__ import annotations

import json
import re
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memgpt.core import errors
from memgpt.core.schemas import scrub_text, text_problem

log = logging.getLogger("memgpt.server")

NO_RETRY = {"x-should-retry": "false"}

# Most specific first: the first class in an exception's MRO found here decides.
STATUS: dict[type[errors.MemGPTError], int] = {
    errors.NotFoundError: 404,
    errors.BlockError: 404,  # service.get_block/update_block raise it for an unknown label
    errors.AlreadyExistsError: 409,
    errors.AgentBusyError: 409,
    errors.InvalidRequestError: 400,
    errors.ToolDefinitionError: 400,
    errors.FeatureDisabledError: 403,
    errors.ToolError: 400,
    errors.ModelNotFoundError: 400,
    errors.ContextOverflowError: 400,
    errors.EmbeddingMismatchError: 409,
    errors.ModelTimeoutError: 504,
    errors.ModelError: 502,
    errors.OverloadedError: 503,
    errors.MemGPTError: 500,
}
RETRY_AFTER_SECONDS = 5
"""What a 503 asks the client to wait (Retry-After) before trying again."""


class NotImplementedByServer(Exception):
    """A Letta feature this server does not implement (answered 501)."""


def status_of(exc: errors.MemGPTError) -> int:
    """The HTTP status for one of our errors."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(status: int, detail: str, kind: str, **extra: Any) -> JSONResponse:
    """A JSON error body."""
    return JSONResponse({"detail": detail, "type": kind, **extra}, status_code=status, headers=NO_RETRY)


def _describe(err: Any) -> str:
    loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
    return f"{loc}: {err.get('msg', 'invalid')}"


async def _memgpt_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.MemGPTError)
    status = status_of(exc)
    if status >= 500:
        log.warning("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    response = error_response(status, str(exc), type(exc).__name__)
    if status == 503:
        response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):  # refused before anything was done: trying again is safe
        response.headers["retry-after"] = str(retry_after)
        response.headers["x-should-retry"] = "true"
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errs):
        err = next(e for e in errs if e.get("type") == "json_invalid")
        reason = (err.get("ctx") or {}).get("error", "invalid JSON")
        return error_response(400, f"request body is not valid JSON: {reason}", "malformed_json")
    problems = [_describe(e) for e in errs]
    safe = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errs]
    return error_response(422, "invalid request: " + "; ".join(problems), "validation_error", errors=safe)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, UnstorableText):
        return error_response(400, str(exc.detail), "invalid_text")
    if exc.status_code == 413:
        limit = getattr(request.app.state, "max_body_bytes", None)
        detail = f"request body is too large (limit {limit} bytes)" if limit else "request body is too large"
        return error_response(413, detail, "payload_too_large")
    if exc.status_code == 404:
        return error_response(404, f"no route {request.method} {request.url.path}", "route_not_found")
    if exc.status_code == 405:
        return error_response(405, f"{request.method} is not allowed on {request.url.path}", "method_not_allowed")
    return error_response(exc.status_code, str(exc.detail), "http_error")


async def _not_implemented(request: Request, exc: Exception) -> JSONResponse:
    return error_response(501, str(exc), "not_implemented")


def _is_overflow(exc: BaseException | None) -> bool:
    """An out-of-range number or date from the client, however deep the driver wrapped it."""
    while exc is not None:
        if isinstance(exc, OverflowError):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
    return False


def unexpected(scope: Scope, exc: Exception) -> JSONResponse:
    """The answer to an exception no handler knew: out-of-range input is the client's (400);
    anything else is a bug (500, logged with its traceback)."""
    if _is_overflow(exc):
        return error_response(400, "a number or date in the request is out of range", "out_of_range")
    log.exception("%s %s crashed", scope.get("method"), scope.get("path"), exc_info=exc)
    return error_response(500, f"internal server error: {type(exc).__name__}", "internal_error")


class UnstorableText(StarletteHTTPException):
    """A JSON body holding text no store can keep (raised while it is read; answered 400).

    An HTTPException, so FastAPI passes it on unchanged from reading the body."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=400, detail=detail)


_HI, _LO = rb"\\u[dD][89abAB][0-9a-fA-F]{2}", rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_SUSPECT = re.compile(
    rb"\\u0000|" + _HI + rb"(?!" + _LO + rb")|(?<!" + _HI + rb")" + _LO + rb"|\xed[\xa0-\xbf]"
)
"""A NUL escape, a lone surrogate escape, or a surrogate's UTF-8-style bytes: what may hide
bad text (an escaped backslash before ``u`` can match too; then the parse clears it)."""


def unstorable_text(body: bytes) -> str | None:
    """Where a JSON body holds a lone surrogate or a NUL (in a key or a value), or None.

    Only ``\\u`` escapes (and raw surrogate bytes, which json.loads lets through) can put
    them in a string, so a body is parsed here only when a scan finds a NUL or surrogate escape
    or such bytes (a large import must not be parsed twice on the event loop); unparseable
    bodies are left to the route, which answers 400 malformed_json."""
    if not _SUSPECT.search(body):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    todo: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while todo:
        where, item = todo.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:  # a key's own path is where it is; the path itself is made printable
                return f"{'.'.join(scrub_text(p) for p in where) or 'body'}: {problem}"
        elif isinstance(item, dict):
            todo += [((*where, k), k) for k in item] + [((*where, k), v) for k, v in item.items()]
        elif isinstance(item, list):
            todo += [((*where, str(i)), v) for i, v in enumerate(item)]
    return None


def _checked(scope: Scope, receive: Receive) -> Receive:
    """``receive`` that refuses a JSON body with unstorable text once it has all arrived."""
    ctype = dict(scope["headers"]).get(b"content-type", b"application/json").lower()
    if b"json" not in ctype:
        return receive
    body = bytearray()

    async def checked() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                problem = unstorable_text(bytes(body))
                body.clear()
                if problem:
                    raise UnstorableText(problem)
        return message

    return checked


class Guard:
    """The app's outermost middleware: answers every exception no handler did, as JSON,
    without re-raising (so the connection stays open), and checks JSON bodies' text.

    Once a response has started its status is out; an exception then is re-raised, and the
    server ends the connection, the only way left to tell the client the body is incomplete
    (the streams send their own ``error`` event before that can happen).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, _checked(scope, receive), sending)
        except Exception as exc:
            if started:
                raise
            await unexpected(scope, exc)(scope, receive, send)


VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "type": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["detail", "type"],
}
"""The 422 body this server really sends (FastAPI documents a different one by default)."""


def document_errors(app: FastAPI) -> None:
    """Make the OpenAPI schema describe the 422 body the handlers send."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.get("components", {}).get("schemas", {})["HTTPValidationError"] = (
                VALIDATION_ERROR_SCHEMA
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register the handlers on an app."""
    document_errors(app)
    app.add_exception_handler(errors.MemGPTError, _memgpt_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(NotImplementedByServer, _not_implemented)
    app.add_middleware(Guard)  # added last: outermost, around BodyLimit too
