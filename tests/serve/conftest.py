"""Fixtures of the HTTP tests: one service over a private copy of the demo workspace.

Wiring is ``--no-llm`` style (``llm=False``): slates come from the seeded LinUCB policy and
reasons from templates, so every test runs offline and fast. The engine loads once per
session (several seconds); tests that count events filter them by their own slate ids.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest


@pytest.fixture(scope="session")
def serve_ws(demo_workspace, tmp_path_factory):
    """A writable copy of the demo workspace shared by the serve tests (like ``demo_copy``)."""
    from shelfwise.workspace import Workspace

    target = tmp_path_factory.mktemp("serve") / "ws"
    shutil.copytree(demo_workspace.root, target)
    return Workspace.resolve(target)


@pytest.fixture(scope="session")
def service(serve_ws):
    """The server's service, ``--no-llm`` wiring, QueryChat or the shop assistant for chat."""
    from shelfwise.serve import RecommendationService

    svc = RecommendationService.open(serve_ws, policy="linucb", llm=False, seed=0)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def app(service):
    from shelfwise.serve import create_app

    return create_app(service)


@pytest.fixture()
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def live_server(app):
    """The app served by uvicorn on a free loopback port in a background thread."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()

