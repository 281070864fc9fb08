"""MCP over HTTP to the address that was checked: an httpx2 transport pinned to one address.

The URL policy (``memgpt.core.urls``) resolves an MCP server's host and approves its
addresses just before a session; the session's connections must then go to an approved
address, not to whatever a second DNS lookup answers (DNS rebinding: public when checked,
loopback when connected). Imported only when an HTTP session opens (httpx2 is mcp's client).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2

from memgpt.core import urls


class PinnedTransport(httpx2.AsyncBaseTransport):
    """Connects every request for `host` to `address`, keeping the name as the Host header
    and, over TLS, as the name the certificate must match; refuses requests to other hosts."""

    def __init__(self, host: str, address: urls.Address) -> None:
        self.host, self.address = host, address
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.host != self.host:
            raise httpx2.ConnectError(
                f"refused a request to {request.url.host!r}: only {self.host!r} was checked", request=request)
        request.url = request.url.copy_with(host=str(self.address))
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": self.host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def pinned_client_factory(url: str, address: urls.Address) -> Callable[..., httpx2.AsyncClient]:
    """A client factory (the shape mcp's ``httpx_client_factory`` takes) whose clients
    connect to `address` for `url`'s host."""
    host = urls.host_of(url)

    def client(headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None,
               auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:
        kwargs: dict[str, Any] = {"headers": headers, "auth": auth, "transport": PinnedTransport(host, address)}
        if timeout is not None:
            kwargs["timeout"] = timeout
        return httpx2.AsyncClient(**kwargs)

    return client
