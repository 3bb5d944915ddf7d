"""A test double of the recommendation service, enough for the app's guards and docs.

``create_app`` only needs the service in its routes; the Host check, the key checks and the
API docs are answered before any route runs, so these tests build the app in milliseconds
instead of opening the demo store.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest


class FakeService:
    """What ``/health`` asks of a service; every other route is unused here."""

    has_reranker = False

    def policy_name(self) -> tuple[str, str]:
        return ("greedy", "test")

    def product_count(self) -> int:
        return 3


@pytest.fixture()
def make_app():
    from shelfwise.serve import create_app

    def make(**kwargs: Any) -> Any:
        return create_app(FakeService(), **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture()
def serve_in_thread():
    """Start an app with uvicorn on a free 127.0.0.1 port: ``(base url, stop)``."""
    stops: list[Any] = []

    def start(app: Any) -> tuple[str, Any]:
        url, stop = _serve(app)
        stops.append(stop)
        return url, stop

    yield start
    for stop in stops:
        stop()


def _serve(app: Any) -> tuple[str, Any]:
    """``(base url, stop)`` of ``app`` served by uvicorn on a free 127.0.0.1 port."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)

    def stop() -> None:
        if not thread.is_alive():
            return
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()

    return f"http://127.0.0.1:{port}", stop
