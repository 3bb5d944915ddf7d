"""A loopback image server started by the tests, and small PNG makers.

Routes (every request is counted by full path in ``server.hits``):

* ``/img/<n>.png``: a distinct 16x16 PNG per ``n``; ``/same.png``: the bytes of ``/img/0.png``
* ``/missing.png``: 404; ``/page.html``: an HTML page (not an image)
* ``/huge.png``: streams zeros without a Content-Length (stops when the client hangs up;
  bytes sent are in ``server.sent``); ``/declared-huge.png``: declares 50 MiB
* ``/slow.png``: waits ``SLOW_SECONDS`` before answering
* ``/flaky.png?...``: 503 on the first two requests of each path, then a PNG
* ``/down.png``: always 500
* ``/bomb.png``: a 150-byte PNG declaring 30000x30000 pixels (Pillow's own bomb guard);
  ``/big-pixels.png``: declares 7000x7000 (under Pillow's guard, over shelfwise's 40 MP limit)
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _pngs import png_bytes, png_declaring  # noqa: E402

SLOW_SECONDS = 3.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: Counter[str] = Counter()
        self.sent: dict[str, int] = {}
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        pass  # a client hanging up on /huge.png or /slow.png is expected

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "image/png") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path
        with self.server.lock:
            self.server.hits[path] += 1
            count = self.server.hits[path]
        route = path.split("?")[0]
        if route.startswith("/img/") and route.endswith(".png"):
            self._send(200, png_bytes(int(route[5:-4])))
        elif route == "/same.png":
            self._send(200, png_bytes(0))
        elif route == "/page.html":
            self._send(200, b"<html><body>not a picture</body></html>", "text/html")
        elif route == "/huge.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            block = b"\0" * (1 << 20)
            sent = 0
            try:
                for _ in range(200):
                    self.wfile.write(block)
                    sent += len(block)
            finally:
                self.server.sent[path] = sent
        elif route == "/declared-huge.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"\0" * 1024)
        elif route == "/slow.png":
            time.sleep(SLOW_SECONDS)
            self._send(200, png_bytes(99))
        elif route == "/flaky.png":
            if count <= 2:
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, png_bytes(77))
        elif route == "/down.png":
            self._send(500, b"broken", "text/plain")
        elif route == "/bomb.png":
            self._send(200, png_declaring(30_000, 30_000))
        elif route == "/big-pixels.png":
            self._send(200, png_declaring(7_000, 7_000))
        else:
            self._send(404, b"no such file", "text/plain")


@pytest.fixture()
def image_server():
    """A fresh loopback image server per test (its counters start at zero)."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture()
def refused_url():
    """A loopback URL where nothing listens (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/nothing.png"


@pytest.fixture(scope="module", autouse=True)
def offline_and_no_clip(offline_no_clip):
    """Every test here runs offline with the CLIP loader forbidden (tests/conftest.py)."""
    yield
