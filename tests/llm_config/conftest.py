"""A fake OpenAI-compatible server on 127.0.0.1 (``POST /v1/chat/completions``), per test.

Modes (``server.mode``): ``ok`` ranks the labelled products of a rerank prompt in reverse
order and answers any other prompt with one sentence per label; ``hang`` waits longer than
any client timeout; ``garbage`` answers 200 with a body that is not JSON; ``nonsense``
answers well-formed JSON whose text is no ranking; ``error`` answers HTTP 500.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_LABEL_LINE = re.compile(r"^([A-Z])\) ", re.MULTILINE)


class FakeOpenAI(ThreadingHTTPServer):
    """The server; ``requests`` holds every JSON body received, ``mode`` the behaviour."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.requests: list[dict] = []
        self.hang_s = 3.0
        self.structured: dict = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def answer(self, body: dict) -> str:
        text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        labels = _LABEL_LINE.findall(text)
        if "Rank ALL the products" in text and labels:
            return ", ".join(reversed(labels))
        if labels:
            return "\n".join(f"{lab}: A fine choice for this request." for lab in labels)
        return "A fine choice for this request."


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(body)
        mode = self.server.mode
        if not self.path.endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        if mode == "hang":
            time.sleep(self.server.hang_s)
            self._send(200, b"{}")
            return
        if mode == "garbage":
            self._send(200, b"<html>\x00\xff not json", "text/html")
            return
        if mode == "error":
            self._send(500, b'{"error": {"message": "boom", "type": "server_error"}}')
            return
        content = "\u00af\\_(\u30c4)_/\u00af !!" if mode == "nonsense" else \
            self.server.answer(body)
        if "response_format" in body and mode == "ok":  # structured output: the set JSON
            content = json.dumps(self.server.structured)
        out = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
               "model": body.get("model", "fake"),
               "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": content}}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        self._send(200, json.dumps(out).encode())

    def _send(self, code: int, payload: bytes, ctype: str = "application/json") -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass


@pytest.fixture()
def fake_openai():
    """A running :class:`FakeOpenAI`; shut down after the test."""
    server = FakeOpenAI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
