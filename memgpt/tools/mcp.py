"""MCP tools: a client for Model Context Protocol servers (stdio, SSE, streamable HTTP).

Built on the official ``mcp`` SDK. Connection handling is the simplest robust one: **a fresh
session per request** (list the tools, or call one), opened, initialised, used and closed
within one deadline (``McpLimits.timeout``). Nothing is kept between calls, so a server that
died, hung or was replaced costs only that call, never the next one; the price is the
start-up of a session per call (a stdio server is started per call).

A stdio server is a command on this host: it runs in the same bubblewrap sandbox as custom
tools (``tools/sandbox.py``: no memgpt home, no network unless ``MEMGPT_TOOL_NETWORK``,
rlimits), or as a plain subprocess where the operator allows unsandboxed tools, and always
with a scrubbed environment: ``PATH``, ``HOME``, ``TMPDIR``, ``LANG`` and what its config
names, never the server's own variables (its provider keys). Remote servers get only the
headers their config names. Every failure (a crash, a timeout, a reply that is not MCP, an
error result) becomes ``ToolError``, which the loop gives the model as an error result.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, ConfigDict

from memgpt.core import urls
from memgpt.core.errors import InvalidRequestError, ModelError, ToolError
from memgpt.core.schemas import ToolSchema
from memgpt.core.settings import Settings
from memgpt.tools.registry import HEARTBEAT, HEARTBEAT_DOC, Tool
from memgpt.core.mcp import KINDS as KINDS, MASK as MASK, McpKind as McpKind  # re-exported
from memgpt.core.mcp import McpRefresh as McpRefresh, McpRun as McpRun, McpServer as McpServer, McpTool as McpTool
from memgpt.tools.sandbox import SandboxLimits, limits_for, sandbox_command, sandbox_status

MAX_ERROR_CHARS = 2000


class McpUnavailableError(ModelError):
    """An MCP server could not be reached or did not answer as MCP (502: not the caller's fault)."""


def check_config(server: McpServer) -> None:
    """InvalidRequestError unless the server's config fits its kind."""
    if server.kind == "stdio":
        if not server.command or not server.command.strip():
            raise InvalidRequestError("a stdio MCP server needs a command")
        bad = [k for k in server.env if not k or "=" in k or "\0" in k]
        if bad:
            raise InvalidRequestError(f"invalid environment variable names: {bad}")
        return
    if not server.server_url:
        raise InvalidRequestError(f"a {server.kind} MCP server needs a server_url")
    urls.check_url_syntax(server.server_url, "server_url")


async def check_url_host(url: str, *, private: bool) -> list[urls.Address]:
    """The addresses of the MCP server URL's host; InvalidRequestError if it may not be
    contacted here (the shared policy for user-supplied URLs, ``memgpt.core.urls``: no
    private addresses unless allowed)."""
    return await urls.check_url_host(url, private=private, what="MCP server URL")


class SecretBox:
    """Fernet encryption of MCP secrets with a key kept in memgpt's home (``mcp.key``, 0600).

    A stolen database without the home's key file gives no secret away; an operator who
    moves the database moves the key file with it.
    """

    def __init__(self, home: Path) -> None:
        path = home / "mcp.key"
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
        self._fernet = Fernet(path.read_bytes().strip())

    def _seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def _open(self, value: str) -> str:
        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken as exc:
            raise McpUnavailableError("an MCP secret cannot be decrypted: was mcp.key in "
                                      "memgpt's home replaced?") from exc

    def seal(self, server: McpServer) -> McpServer:
        """The server with its secret values encrypted (what the store keeps)."""
        return self._map(server, self._seal)

    def open(self, server: McpServer) -> McpServer:
        """The server with its secret values decrypted."""
        return self._map(server, self._open)

    @staticmethod
    def _map(server: McpServer, fn: Any) -> McpServer:
        return server.model_copy(update={
            "env": {k: fn(v) for k, v in server.env.items()},
            "auth_token": fn(server.auth_token) if server.auth_token else server.auth_token,
            "custom_headers": {k: fn(v) for k, v in server.custom_headers.items()},
        })


@dataclass(frozen=True)
class McpLimits:
    """How long a session may take and how a stdio server is confined."""

    timeout: float = 30.0
    sandbox: SandboxLimits = SandboxLimits()
    private_urls: bool = True
    max_chars: int = 20_000


def _headers(server: McpServer) -> dict[str, str]:
    headers = dict(server.custom_headers)
    if server.auth_token:
        if server.auth_header:
            headers[server.auth_header] = server.auth_token
        else:
            token = server.auth_token
            headers["Authorization"] = token if token.lower().startswith("bearer ") else f"Bearer {token}"
    return headers


def _stdio_params(server: McpServer, limits: McpLimits) -> Any:
    """The process to start: the command in the sandbox (or plainly, if the operator allows
    unsandboxed tools), with only basic variables and the config's own."""
    from mcp import StdioServerParameters

    argv = [server.command or "", *server.args]
    if sandbox_status().available:
        full, env = sandbox_command(argv, limits.sandbox)
    elif limits.sandbox.unsandboxed:
        full = argv
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": tempfile.gettempdir(),
               "TMPDIR": tempfile.gettempdir(), "LANG": "C.UTF-8"}
    else:
        raise ToolError("no sandbox to run this stdio MCP server in; the operator can set "
                        "MEMGPT_UNSANDBOXED_TOOLS=true to run it without one")
    return StdioServerParameters(command=full[0], args=full[1:], env={**env, **server.env})


class _Watch:
    """Ends a session at the first thing the server sends that is not MCP (the client would
    log and skip it, then wait for an answer until the deadline)."""

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.garbage: str | None = None

    async def __call__(self, message: Any) -> None:
        if isinstance(message, Exception) and self.garbage is None:
            self.garbage = _describe(message)[:300]
            self.scope.cancel()


@contextlib.asynccontextmanager
async def _session(server: McpServer, limits: McpLimits, errlog: Any, watch: _Watch) -> AsyncIterator[Any]:
    """One initialised MCP client session with the server (a stdio server's stderr to errlog)."""
    from mcp import ClientSession

    async with contextlib.AsyncExitStack() as stack:
        if server.kind == "stdio":
            from mcp import stdio_client

            streams = await stack.enter_async_context(stdio_client(_stdio_params(server, limits), errlog=errlog))
        else:
            addresses = await check_url_host(server.server_url or "", private=limits.private_urls)
            streams = await stack.enter_async_context(_http_streams(server, limits, addresses[0]))
        session = await stack.enter_async_context(
            ClientSession(streams[0], streams[1], message_handler=watch))
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def _http_streams(server: McpServer, limits: McpLimits, address: urls.Address) -> AsyncIterator[Any]:
    """The session's streams over SSE or streamable HTTP, every connection made to `address`
    (the one the URL check approved), never to a second DNS answer."""
    import httpx2
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    from memgpt.tools.mcp_http import pinned_client_factory

    url, headers = server.server_url or "", _headers(server)
    client = pinned_client_factory(url, address)
    if server.kind == "sse":
        async with sse_client(url, headers=headers, timeout=limits.timeout, sse_read_timeout=limits.timeout,
                              httpx_client_factory=client) as streams:
            yield streams
        return
    async with client(headers=headers, timeout=httpx2.Timeout(limits.timeout)) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams


def _describe(exc: BaseException) -> str:
    """The innermost useful message of an exception (task groups wrap them in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _guarded(server: McpServer, limits: McpLimits, what: str, work: Any) -> Any:
    """Run ``work(session)`` within the deadline; every failure becomes ToolError (with the
    end of what a stdio server wrote to stderr)."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as errlog:
        try:
            watch = _Watch()
            with anyio.fail_after(limits.timeout):
                with watch.scope:
                    async with _session(server, limits, errlog, watch) as session:
                        return await work(session)
                raise McpUnavailableError(f"it sent something that is not MCP ({watch.garbage})")
        except ToolError:
            raise
        except InvalidRequestError as exc:  # its URL now points somewhere it may not go
            raise ToolError(f"MCP server {server.name!r}: {exc}") from exc
        except TimeoutError as exc:
            message = (f"MCP server {server.name!r} did not {what} within {limits.timeout:g} "
                       "seconds and was stopped.")
            raise ToolError(_with_stderr(message, errlog)) from exc
        except Exception as exc:  # a dead server, a reply that is not MCP, a refused connection
            message = f"MCP server {server.name!r} failed to {what}: {_describe(exc)}"
            raise ToolError(_with_stderr(message, errlog)) from exc


def _with_stderr(message: str, errlog: Any) -> str:
    errlog.seek(0)
    said = errlog.read()[-600:].strip()
    return (message + (f" Its last output:\n{said}" if said else ""))[:MAX_ERROR_CHARS]


async def list_server_tools(server: McpServer, limits: McpLimits) -> list[Any]:
    """The tools the server offers now (``mcp.types.Tool``); McpUnavailableError on failure."""
    async def work(session: Any) -> list[Any]:
        tools: list[Any] = []
        cursor = None
        for _ in range(100):  # pages
            from mcp.types import PaginatedRequestParams

            page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    try:
        result: list[Any] = await _guarded(server, limits, "list its tools", work)
    except ToolError as exc:
        raise McpUnavailableError(str(exc)) from exc
    return result


def result_text(tool: str, result: Any, max_chars: int) -> str:
    """A CallToolResult as text for the model; ToolError if the tool reported an error."""
    parts: list[str] = []
    for block in result.content or []:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(block, 'type', 'unknown')} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    text = "\n".join(parts)
    if len(text) > max_chars:
        text = text[:max_chars] + f"... [truncated: {len(text)} characters]"
    if result.is_error:
        raise ToolError(f"MCP tool {tool} failed: {text or 'no detail'}"[:MAX_ERROR_CHARS])
    return text


async def call_server_tool(server: McpServer, tool: str, args: dict[str, Any], limits: McpLimits) -> str:
    """Call one tool of the server; its result as text, or ToolError saying what went wrong."""
    async def work(session: Any) -> Any:
        return await session.call_tool(tool, args)

    return result_text(tool, await _guarded(server, limits, f"run {tool}", work), limits.max_chars)


def mcp_tool(server: McpServer, found: Any, *, existing: McpTool | None = None) -> McpTool:
    """The stored form of a tool the server listed (keeping the id of the one it replaces)."""
    schema = dict(found.input_schema or {"type": "object", "properties": {}})
    schema.setdefault("type", "object")
    parameters = json.loads(json.dumps(schema))
    parameters.setdefault("properties", {})[HEARTBEAT] = {"type": "boolean", "description": HEARTBEAT_DOC}
    parameters["required"] = [*parameters.get("required", []), HEARTBEAT]
    description = (found.description or found.name).strip()[:4000]
    fields: dict[str, Any] = {"id": existing.id, "created_at": existing.created_at} if existing else {}
    return McpTool(
        name=found.name, spec=ToolSchema(name=found.name, description=description, parameters=parameters),
        owner=server.owner, tags=[f"mcp:{server.name}"], server_id=server.id, server_name=server.name,
        input_schema=schema, **fields,
    )


class _AnyArgs(BaseModel):
    """Arguments of an MCP tool: checked against its JSON schema when called."""

    model_config = ConfigDict(extra="allow")


def runnable_mcp(tool: McpTool, server: McpServer, limits: McpLimits) -> Tool:
    """The registry tool that checks a call's arguments against the tool's schema and calls
    the server (an external effect: journalled like a custom tool's)."""
    import jsonschema  # type: ignore[import-untyped]

    async def call(ctx: object, **args: Any) -> str:
        try:
            jsonschema.validate(args, tool.input_schema)
        except jsonschema.ValidationError as exc:
            raise ToolError(f"Bad call to {tool.name}: {exc.message}") from exc
        except jsonschema.SchemaError:
            pass  # the server's own schema is broken: let the server judge the call
        return await call_server_tool(server, tool.name, args, limits)

    return Tool(tool.name, call, tool.spec, _AnyArgs, heartbeat=True, external=True)



def mcp_limits(settings: Settings) -> McpLimits:
    """The limits of MCP sessions under these settings (stdio servers: the custom tools'
    sandbox, with the MCP deadline as its timeout)."""
    sandbox = limits_for(settings)
    return McpLimits(timeout=settings.mcp_timeout, private_urls=urls.private_urls_allowed(settings),
                     sandbox=replace(sandbox, timeout=settings.mcp_timeout))
