"""Every failure as a JSON body naming the problem: ``{"detail": ..., "type": ...}``.

Client mistakes get 4xx (never 500); the model failing gets 502. Error responses carry
``x-should-retry: false`` so SDKs that retry 409/5xx (letta-client, openai) do not resend a
message that was already handled.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from memgpt.core import errors

log = logging.getLogger("memgpt.server")

NO_RETRY = {"x-should-retry": "false"}

# Most specific first: the first class in an exception's MRO found here decides.
STATUS: dict[type[errors.MemGPTError], int] = {
    errors.NotFoundError: 404,
    errors.BlockError: 404,  # service.get_block/update_block raise it for an unknown label
    errors.AlreadyExistsError: 409,
    errors.InvalidRequestError: 400,
    errors.ToolDefinitionError: 400,
    errors.FeatureDisabledError: 403,
    errors.ToolError: 400,
    errors.ModelNotFoundError: 400,
    errors.ContextOverflowError: 400,
    errors.EmbeddingMismatchError: 409,
    errors.ModelError: 502,
    errors.MemGPTError: 500,
}


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
    return error_response(status, str(exc), type(exc).__name__)


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


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if _is_overflow(exc):
        return error_response(400, "a number or date in the request is out of range", "out_of_range")
    log.exception("%s %s crashed", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal server error: {type(exc).__name__}", "internal_error")


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
    app.add_exception_handler(Exception, _unexpected)
