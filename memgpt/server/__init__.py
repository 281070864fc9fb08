"""``memgpt server``: FastAPI + uvicorn, with the REST shapes of the Letta API."""

from __future__ import annotations

import ipaddress

from memgpt.core.errors import InvalidRequestError
from memgpt.server.app import MAX_BODY_BYTES, create_app
from memgpt.server.background import BackgroundServer
from memgpt.core.settings import Settings

__all__ = ["BackgroundServer", "DEFAULT_HOST", "DEFAULT_PORT", "KEEP_ALIVE", "MAX_BODY_BYTES", "create_app", "is_loopback", "run"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8283  # Letta's port, so letta-client users change nothing but the host
KEEP_ALIVE = 75
"""Seconds an idle keep-alive connection stays open: longer than clients keep theirs (httpx
5 s, requests/urllib3 none), so a client never reuses one the server is just closing (at
uvicorn's default of 5 s, under load about one request in 450 failed that way)."""


def is_loopback(host: str) -> bool:
    """Whether host is a loopback address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    settings: Settings | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    log_level: str = "info",
    require_key: bool | None = None,
) -> None:
    """Serve agents until interrupted (the service has the demo model configured, as the CLI).

    Keys are required unless ``require_key`` is False, which only a loopback host allows;
    by default they are required exactly when the host is not loopback.
    """
    import uvicorn

    loopback = is_loopback(host)
    if require_key is None:
        require_key = not loopback
    if not require_key and not loopback:
        raise InvalidRequestError(
            f"refusing to serve {host} without API keys: keyless local mode is for loopback "
            "addresses only (create keys with 'memgpt keys create USER')"
        )

    from memgpt.services.service import default_service

    service = default_service(settings)
    app = create_app(
        service, own_service=True, max_body_bytes=max_body_bytes, require_key=require_key
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_keep_alive=KEEP_ALIVE)
