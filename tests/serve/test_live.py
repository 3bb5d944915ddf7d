"""Real sockets: the ``shelfwise serve`` command in a subprocess, and concurrent feedback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shelfwise.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cli_serve_answers_health_and_recommend(demo_copy, tmp_path):
    port = _free_port()
    env = {**os.environ, "SHELFWISE_API_KEY": "k-123", "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "server.log").open("w+")
    cmd = [sys.executable, "-m", "shelfwise", "serve", "--workspace", str(demo_copy.root),
           "--port", str(port), "--no-llm", "--policy", "greedy", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=Path(__file__).resolve().parents[2])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"shelfwise serve exited with {proc.returncode}:\n{log.read()}")
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("shelfwise serve did not answer within 120 s")
                time.sleep(0.25)
        assert health.status_code == 200
        assert health.json()["auth"] is True and health.json()["policy"] == "greedy"
        denied = httpx.post(f"{base}/recommend", json={"user_id": "u"}, timeout=30)
        assert denied.status_code == 401
        r = httpx.post(f"{base}/recommend", json={"user_id": "u", "query": "linen shirt",
                                                  "k": 3},
                       headers={"X-API-Key": "k-123"}, timeout=30)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == 3 and r.json()["slate_id"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_cli_refuses_public_host_without_key(host, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SHELFWISE_API_KEY", raising=False)
    code = main(["serve", "--workspace", str(tmp_path / "ws"), "--host", host, "--no-llm"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"refusing to serve on {host!r} without an API key" in err
    assert not (tmp_path / "ws").exists()  # refused before anything was opened


def test_cli_rejects_empty_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHELFWISE_API_KEY", "  ")
    assert main(["serve", "--workspace", str(tmp_path / "ws"), "--no-llm"]) == 2
    assert "--api-key (or $SHELFWISE_API_KEY) is empty" in capsys.readouterr().err


def test_loopback_detection():
    from shelfwise.serve.server import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("[::1]") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("::")
    assert not is_loopback("10.1.2.3") and not is_loopback("no-such-host.invalid")


def test_live_server_health_and_recommend(live_server):
    with httpx.Client(base_url=live_server, timeout=30) as c:
        assert c.get("/health").json()["status"] == "ok"
        r = c.post("/recommend", json={"user_id": "u-live", "query": "wool scarf", "k": 2})
        assert r.status_code == 200 and len(r.json()["items"]) == 2


def test_concurrent_feedback_logs_exactly_the_acknowledged_events(live_server, service):
    """8 threads × 10 posts (each thread also retries some of its events) over real sockets."""
    n_threads, per_thread = 8, 10
    with httpx.Client(base_url=live_server, timeout=60) as c:
        slates = [c.post("/recommend", json={"user_id": f"u-conc-{i}", "k": 5}).json()
                  for i in range(n_threads)]
    acked: list[tuple[str, bool, str]] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n_threads)

    def worker(i: int) -> None:
        slate = slates[i]
        sent: list[dict] = []
        with httpx.Client(base_url=live_server, timeout=60) as c:
            start.wait()
            for j in range(per_thread):
                if j % 4 == 3:  # a retry of an earlier event of this thread
                    body = sent[j // 4]
                else:
                    item = slate["items"][j % len(slate["items"])]
                    body = {"event_id": f"conc-{i}-{j}-{uuid.uuid4().hex[:6]}",
                            "slate_id": slate["slate_id"],
                            "product_id": item["product"]["id"],
                            "kind": "purchase" if j % 3 == 0 else "click"}
                    sent.append(body)
                r = c.post("/feedback", json=body)
                with lock:
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text}")
                    else:
                        acked.append((body["event_id"], r.json()["duplicate"], body["kind"]))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(acked) == n_threads * per_thread
    new = {(eid, kind) for eid, dup, kind in acked if not dup}
    assert len(new) == sum(1 for _, dup, _ in acked if not dup)  # each event new exactly once
    assert {(eid, kind) for eid, _, kind in acked} == new  # every retry was a duplicate

    store = service.recommender.events
    logged = set()
    for s in slates:
        logged |= {(e.event_id, "click") for e in store.clicks(s["slate_id"])}
        logged |= {(e.event_id, "purchase") for e in store.purchases(s["slate_id"])}
    assert logged == new
    with httpx.Client(base_url=live_server, timeout=30) as c:  # the policy still serves
        assert c.post("/recommend", json={"user_id": "u-conc-0", "k": 3}).status_code == 200
