"""``memgpt server``: FastAPI + uvicorn, with the REST shapes of the Letta API."""

from __future__ import annotations

import ipaddress
import logging

from memgpt.core.errors import InvalidRequestError
from memgpt.server.app import MAX_BODY_BYTES, create_app
from memgpt.server.background import BackgroundServer
from memgpt.core.settings import Settings
from memgpt.tools.sandbox import sandbox_status

__all__ = ["BackgroundServer", "DEFAULT_HOST", "DEFAULT_PORT", "KEEP_ALIVE", "MAX_BODY_BYTES", "create_app", "custom_tool_policy", "is_loopback", "run"]

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


log = logging.getLogger("memgpt.server")


def custom_tool_policy(settings: Settings, require_key: bool) -> Settings:
    """The settings a server runs with as to custom tools, said at start.

    Unset ``allow_custom_tools`` means off when keys are required: on a multi-user server
    every user could run code, so the operator turns that on knowingly. Where there is no
    sandbox the operator hears so, and tools are refused unless MEMGPT_UNSANDBOXED_TOOLS.
    """
    if settings.allow_custom_tools is None and require_key:
        settings = settings.model_copy(update={"allow_custom_tools": False})
        log.warning("custom tools are off because API keys are required; set "
                    "MEMGPT_ALLOW_CUSTOM_TOOLS=true to let users run them (in the sandbox)")
    if settings.allow_custom_tools is False:
        return settings
    status = sandbox_status()
    if status.available:
        log.info("custom tools run in the sandbox: %s", status.detail)
    elif settings.unsandboxed_tools:
        log.warning("custom tools run WITHOUT a sandbox (%s; MEMGPT_UNSANDBOXED_TOOLS=true): "
                    "every user can run code as this server's user", status.detail)
    else:
        log.warning("custom tools are refused: there is no sandbox (%s). Install bubblewrap, "
                    "or set MEMGPT_UNSANDBOXED_TOOLS=true to run them without one", status.detail)
    return settings


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

    service = default_service(custom_tool_policy(settings or Settings(), require_key))
    app = create_app(
        service, own_service=True, max_body_bytes=max_body_bytes, require_key=require_key
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_keep_alive=KEEP_ALIVE)
