"""BackgroundServer: the app served by uvicorn in a thread (notebooks, tests, embedding)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

from memgpt.server.app import create_app
from memgpt.services.service import AgentService


class BackgroundServer:
    """Serve ``service`` on ``host:port`` (port 0: a free one) from a daemon thread.

    The service is opened in the server's own event loop and, with ``own_service``, closed
    there at shutdown; use it only through HTTP while served.
    """

    def __init__(
        self, service: AgentService, *, host: str = "127.0.0.1", port: int = 0,
        own_service: bool = True, log_level: str = "warning", **app_options: Any,
    ) -> None:
        import uvicorn

        app = create_app(service, own_service=own_service, **app_options)
        self._server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_keep_alive=75))
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = host, int(self._socket.getsockname()[1])
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="memgpt-server", daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8283``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> Self:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"memgpt server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down (finishing requests in flight) and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
