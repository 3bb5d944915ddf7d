"""The server's guards: Host-header check, keyed docs, API keys validated at start-up."""

from __future__ import annotations

import base64

import httpx
import pytest
from fastapi.testclient import TestClient

from shelfwise.cli import main
from shelfwise.errors import ConfigError
from shelfwise.serve.server import allowed_hosts_for

LOOPBACK = ["localhost", "127.0.0.1", "[::1]"]


# -- which hosts a server answers ----------------------------------------------------------


@pytest.mark.parametrize(("host", "key", "extra", "expected"), [
    ("127.0.0.1", None, (), LOOPBACK),
    ("::1", None, (), LOOPBACK),
    ("localhost", None, ("shop.example",), [*LOOPBACK, "shop.example"]),
    ("127.0.0.2", None, (), [*LOOPBACK, "127.0.0.2"]),
    ("0.0.0.0", None, ("*.example.com",), [*LOOPBACK, "*.example.com"]),
    ("::", None, (), LOOPBACK),
    ("fe80::1", None, (), [*LOOPBACK, "[fe80::1]"]),
    ("0.0.0.0", "k3y", (), None),  # with a key: no Host check unless hosts are named
    ("0.0.0.0", "k3y", ("Shop.Example",), [*LOOPBACK, "shop.example"]),
])
def test_allowed_hosts_for(host, key, extra, expected):
    assert allowed_hosts_for(host, key, extra) == expected


@pytest.mark.parametrize(("extra", "match"), [
    (["shop.*"], "a wildcard must be"),
    (["*shop.example"], "a wildcard must be"),
    (["shop.example:8000"], "without a port"),
])
def test_bad_allowed_host_patterns(extra, match):
    with pytest.raises(ConfigError, match=match):
        allowed_hosts_for("127.0.0.1", None, extra)


@pytest.mark.parametrize(("host_header", "status"), [
    ("127.0.0.1:8000", 200),
    ("localhost:8000", 200),
    ("LOCALHOST", 200),
    ("[::1]:8000", 200),
    ("127.0.0.1", 200),
    ("evil.example", 400),          # DNS rebinding: the attacker's name
    ("evil.example:8000", 400),
    ("127.0.0.1.evil.example", 400),
    ("localhost.", 400),
    ("[::2]:8000", 400),
])
def test_host_header_check(make_app, host_header, status):
    with TestClient(make_app(allowed_hosts=LOOPBACK), base_url="http://127.0.0.1:8000") as c:
        for path in ("/health", "/", "/docs", "/openapi.json"):
            r = c.get(path, headers={"Host": host_header})
            assert r.status_code == status, (path, host_header, r.text)
            if status == 400:
                assert r.text == "Invalid host header"


def test_host_header_check_on_a_real_server(make_app, serve_in_thread):
    """Through uvicorn, as a browser after DNS rebinding would send it."""
    url, _ = serve_in_thread(make_app(allowed_hosts=LOOPBACK))
    port = url.rsplit(":", 1)[1]
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"Host": f"localhost:{port}"}).status_code == 200
        bad = c.get("/health", headers={"Host": f"rebind.evil.example:{port}"})
        assert bad.status_code == 400


def test_no_host_check_unless_asked(make_app):
    with TestClient(make_app()) as c:  # the library default: the caller decides
        assert c.get("/health", headers={"Host": "anything.example"}).status_code == 200


# -- docs and schema behind the key -------------------------------------------------------


def _basic(password: str, user: str = "me") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_docs_need_the_key_when_one_is_set(make_app, path):
    with TestClient(make_app(api_key="s3cret")) as c:
        r = c.get(path)
        assert r.status_code == 401
        assert "the API docs need the API key" in r.json()["detail"]
        assert r.headers["www-authenticate"] == 'Basic realm="shelfwise API"'
        for headers in ({"X-API-Key": "wrong"}, _basic("wrong"), {"Authorization": "Basic !!"},
                        {"Authorization": "Bearer s3cret"}):
            assert c.get(path, headers=headers).status_code == 401, headers
        assert c.get(path, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get(path, headers=_basic("s3cret")).status_code == 200
        assert c.get(path, headers=_basic("s3cret", user="")).status_code == 200


def test_docs_open_without_a_key(make_app):
    with TestClient(make_app()) as c:
        assert c.get("/docs").status_code == 200
        schema = c.get("/openapi.json").json()
        assert schema["openapi"].startswith("3.1")
        assert "/recommend" in schema["paths"] and "/openapi.json" not in schema["paths"]
        # the health check and the page stay open either way
        assert c.get("/health").status_code == 200


def test_docs_page_uses_the_bundled_swagger_ui_5(make_app):
    from shelfwise.serve.security import docs_assets_dir

    assets = docs_assets_dir()
    assert assets is not None, "fastapi-offline is not installed"
    with TestClient(make_app()) as c:
        page = c.get("/docs").text
        assert "cdn." not in page and "/docs-assets/swagger-ui-bundle.js" in page
        bundle = c.get("/docs-assets/swagger-ui-bundle.js")
        assert bundle.status_code == 200
        # Swagger UI 5 is the first major version that reads OpenAPI 3.1 (FastAPI's schema)
        assert b"isOAS31" in bundle.content


# -- API keys at start-up ------------------------------------------------------------------


@pytest.mark.parametrize(("key", "what"), [
    ("clé-secrète", "character 3 of 11 is a non-ASCII character (U+00E9)"),
    ("k\u200bey", "character 2 of 4 is a non-ASCII character (U+200B)"),
    ("two words", "character 4 of 9 is a space"),
    ("tab\there", "character 4 of 8 is a control character"),
])
def test_create_app_refuses_keys_a_header_cannot_carry(make_app, key, what):
    with pytest.raises(ConfigError, match="api_key must be printable ASCII") as info:
        make_app(api_key=key)
    assert what in str(info.value)
    assert key not in str(info.value)  # the message never repeats the key


@pytest.mark.parametrize("key", ["clé", "ключ", "key\x7f"])
def test_serve_refuses_a_non_ascii_key_before_loading(key, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHELFWISE_API_KEY", key)
    code = main(["serve", "--workspace", str(tmp_path / "ws"), "--no-llm"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: --api-key (or $SHELFWISE_API_KEY) must be printable ASCII")
    assert "Traceback" not in err
    assert not (tmp_path / "ws").exists()  # refused before anything was opened


def test_serve_refuses_a_bad_allowed_host_before_loading(tmp_path, capsys):
    code = main(["serve", "--workspace", str(tmp_path / "ws"), "--no-llm",
                 "--allowed-host", "shop.example:80"])
    assert code == 2
    assert "without a port" in capsys.readouterr().err
    assert not (tmp_path / "ws").exists()


def test_printable_ascii_keys_work(make_app):
    key = "A-z_0.9~!#$%&'*+^`|"
    with TestClient(make_app(api_key=key)) as c:
        assert c.get("/openapi.json", headers={"X-API-Key": key}).status_code == 200
