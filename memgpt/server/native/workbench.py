"""The web workbench: its static page (``/``, ``/web/...``) and the one route it needs that the
API did not have (the context window with its thresholds and summary).

The page is served by an ASGI middleware, not by routes: the app authenticates every route
(``dependencies=[Depends(get_service)]``), and the page must load before anyone has typed a
key. The page's files hold no user data; everything it shows comes from the API with the
caller's key. The files are read once, when the app is built (they ship in the package), and
served from memory with an ETag, a strict content-security policy and ``nosniff``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from memgpt.core.schemas import ContextReport, reply_reserve
from memgpt.server.deps import Service

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
"""The page's files: index.html, its modules, stylesheet and icon."""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""Only the page's own files run: no inline script or style, no eval, nothing external."""

SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
CACHE = "no-cache"
"""Files keep their names across versions (there is no build step), so browsers revalidate
them every load; the ETag makes that a bodiless 304."""

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    """One file of the page, in memory."""

    body: bytes
    media_type: str
    etag: str


def _asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def load_assets(directory: Path = WEB_DIR) -> dict[str, Asset]:
    """The page's files by URL path: ``/`` is index.html, the rest are under ``/web/``."""
    assets: dict[str, Asset] = {}
    if not directory.is_dir():  # an install without the page still serves the API
        return assets
    for path in sorted(directory.iterdir()):
        if path.suffix not in TYPES or not path.is_file():
            continue
        asset = _asset(path.read_bytes(), TYPES[path.suffix])
        assets[f"/web/{path.name}"] = asset
        if path.name == "index.html":
            assets["/"] = asset
    return assets


KEY_META = b'<meta name="memgpt-require-key" content="false">'
"""In index.html: says whether the server requires keys, so the page asks for one before its
first API call (instead of provoking a 401) without an extra round trip."""


class WorkbenchPage:
    """Serves the page's files (GET/HEAD) ahead of the API, without a key; passes the rest on."""

    def __init__(self, app: ASGIApp, require_key: bool = False) -> None:
        self.app = app
        self.assets = load_assets()
        if require_key and "/" in self.assets:
            index = self.assets["/"].body.replace(KEY_META, KEY_META.replace(b"false", b"true"))
            self.assets["/"] = self.assets["/web/index.html"] = _asset(index, TYPES[".html"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asset = self.assets.get(scope["path"]) if scope["type"] == "http" else None
        if asset is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = {**SECURITY_HEADERS, "cache-control": CACHE, "etag": asset.etag}
        if Headers(scope=scope).get("if-none-match") == asset.etag:
            response = Response(status_code=304, headers=headers)
        else:
            body = asset.body if scope["method"] == "GET" else b""
            response = Response(body, media_type=asset.media_type, headers=headers)
            if scope["method"] == "HEAD":
                response.headers["content-length"] = str(len(asset.body))
        await response(scope, receive, send)


router = APIRouter(prefix="/memgpt/v1", tags=["memgpt"])


class WindowMap(BaseModel):
    """The context window as the workbench draws it: the sections, where the loop warns and
    where it evicts, and the recursive summary beside them."""

    report: ContextReport
    warning_tokens: int
    """Past this many tokens the agent gets one memory-pressure alert."""
    eviction_tokens: int
    """A request larger than this (the window less the reply's reserve) triggers eviction."""
    output_tokens: int
    summary: str
    context_start: int
    """The ``seq`` of the oldest message still in context; it moves on each eviction."""


@router.get("/agents/{agent}/window", response_model=WindowMap)
async def window_map(agent: str, service: Service) -> WindowMap:
    """Tokens per section of the window, the warning and eviction lines, and the summary."""
    report = await service.context_window(agent)
    state = await service.get_agent(agent)
    window = state.context_window
    output = reply_reserve(window, state.max_output_tokens)  # as the next request reserves
    return WindowMap(
        report=report,
        warning_tokens=int(window * service.settings.warning_fraction),
        eviction_tokens=window - output,
        output_tokens=output,
        summary=state.summary,
        context_start=state.context_start,
    )


def install(app: FastAPI, *, require_key: bool) -> None:
    """Serve the workbench page and add its route (call before the catch-all router)."""
    app.include_router(router)
    app.add_middleware(WorkbenchPage, require_key=require_key)
