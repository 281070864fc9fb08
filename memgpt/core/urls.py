"""Where memgpt may send requests a user asked for: the one policy for user-supplied URLs.

A user names URLs the server itself will contact: a remote MCP server, a run's or a
schedule's ``callback_url``. Without a check any key holder could make the server reach
what only it can reach (SSRF: loopback admin ports, cloud metadata at 169.254.169.254,
the LAN). So a user-supplied URL must be http(s) and its host must resolve only to global
addresses, unless the operator allows private ones (``MEMGPT_MCP_PRIVATE_URLS``; unset:
allowed exactly where custom tools are, i.e. refused on a server with API keys).

The check runs when the URL is stored (a clear 400) and again when it is used. A callback
POST and an MCP session connect to the very address that was checked (``post_json`` and
``memgpt.tools.mcp`` pin it, keeping the name for the Host header and TLS), so a DNS answer
that changes in between (rebinding) cannot redirect them; redirects are not followed (MCP's
SDK follows them only within the same origin, which stays pinned).
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from memgpt.core.errors import InvalidRequestError
from memgpt.core.settings import Settings

PRIVATE_SETTING = "MEMGPT_MCP_PRIVATE_URLS"
"""The operator setting that lets users name non-public addresses."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def private_urls_allowed(settings: Settings) -> bool:
    """Whether users may name loopback/private/link-local hosts under these settings."""
    if settings.mcp_private_urls is not None:
        return settings.mcp_private_urls
    return settings.allow_custom_tools is not False


def check_url_syntax(url: str, what: str) -> None:
    """InvalidRequestError unless ``url`` is an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"{what} must be an http(s) URL, not {url!r}")


async def _resolve(host: str, port: int | None) -> list[str]:
    """The addresses ``host`` resolves to (a seam tests replace to play DNS)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port)
    return [str(info[4][0]) for info in infos]


async def check_url_host(url: str, *, private: bool, what: str = "URL") -> list[Address]:
    """The addresses ``url``'s host resolves to; InvalidRequestError if it cannot be
    resolved, or if one is not global and ``private`` is not allowed."""
    check_url_syntax(url, what)
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = await _resolve(host, parts.port)
    except OSError as exc:
        raise InvalidRequestError(f"cannot resolve the host {host!r} of {what}: {exc}") from exc
    addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
    if not addresses:
        raise InvalidRequestError(f"the host {host!r} of {what} has no address")
    if not private:
        for address in addresses:
            if not address.is_global:
                raise InvalidRequestError(
                    f"{what} {url!r} points at a non-public address ({address}); this server allows "
                    f"only public URLs ({PRIVATE_SETTING}=true allows others)")
    return addresses


def host_of(url: str) -> str:
    """The host name of ``url`` as it is matched and sent (lower case, no brackets)."""
    return urlsplit(url).hostname or ""


async def post_json(url: str, body: Any, *, private: bool, timeout: float, what: str = "callback_url") -> httpx.Response:
    """POST ``body`` as JSON to ``url`` under the URL policy, connecting to the address that
    was checked (not a second DNS answer); redirects are not followed."""
    addresses = await check_url_host(url, private=private, what=what)
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = literal + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    host_header = host if ":" not in host else f"[{host}]"
    headers = {"Host": host_header + (f":{parts.port}" if parts.port else "")}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        return await client.post(pinned, json=body, headers=headers, extensions=extensions)
