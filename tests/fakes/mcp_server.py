"""A fake MCP server written with the `mcp` package's MCPServer (FastMCP in mcp 1.x).

Run as a script it serves over stdio; its source is self-contained, so tests run it in the
sandbox as ``python -c SOURCE``. ``serving_http()`` serves it over streamable HTTP on
loopback (in a thread); ``GARBAGE`` is a stdio "server" that answers with junk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("fake")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return f"sum={a + b}"


@server.tool()
def environment() -> str:
    """The server's whole environment, as JSON (tests check it is scrubbed)."""
    return json.dumps(dict(os.environ))


@server.tool()
def fail(reason: str) -> str:
    """Raise an error with the given reason."""
    raise ValueError(reason)


@server.tool()
async def hang() -> str:
    """Never answer."""
    await asyncio.sleep(3600)
    return "never"


@server.tool()
def crash() -> str:
    """Die in the middle of the call."""
    os._exit(3)


def app(security: Any = None) -> Any:
    """The streamable-HTTP ASGI app (path /mcp), stateless, JSON responses."""
    return server.streamable_http_app(json_response=True, stateless_http=True, transport_security=security)


@contextlib.contextmanager
def serving_http(*, sse: bool = False, host: str | None = None) -> Iterator[str]:
    """Serve ``app()`` (or with ``sse`` the SSE app) on a random loopback port in a thread;
    yields the MCP endpoint URL. The SDK's DNS-rebinding guard accepts only loopback names in
    the Host header, or ``host`` (with any port) if given."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    security = None if host is None else TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=[f"{host}:*"])
    served = server.sse_app(transport_security=security) if sse else app(security)
    httpd = uvicorn.Server(uvicorn.Config(served, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=lambda: asyncio.run(httpd.serve(sockets=[sock])), daemon=True)
    thread.start()
    for _ in range(1000):
        if httpd.started:
            break
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/{'sse' if sse else 'mcp'}"
    finally:
        httpd.should_exit = True
        thread.join(10)
        sock.close()


_SHARED: list[Any] = []


def shared_http_url() -> str:
    """One ``serving_http()`` for the whole test session, started on first use (kept open here;
    its daemon thread ends with the process): for tests that only need some live MCP server."""
    if not _SHARED:
        serving = serving_http()
        _SHARED.extend([serving, serving.__enter__()])
    return str(_SHARED[1])


GARBAGE = "import sys\nfor line in sys.stdin:\n    print('<html>not json-rpc</html>', flush=True)\n"
"""A stdio "server" that answers every line with text no MCP client can read."""


if __name__ == "__main__":
    server.run("stdio")
