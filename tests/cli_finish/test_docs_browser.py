"""``/docs`` renders FastAPI's OpenAPI 3.1 schema offline, in a real headless Chromium."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser  # skipped without Chromium (tests/conftest.py)

OPERATIONS = ("/recommend", "/chat", "/feedback", "/products/{product_id}", "/health",
              "/metrics")



def _render(context, url: str) -> tuple[str, list[str], list[str]]:
    """Open ``url``/docs; the page text once the operations are drawn, page errors, and the
    hosts of every request the page made (to prove nothing left the machine)."""
    page = context.new_page()
    errors: list[str] = []
    hosts: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: hosts.append(req.url.split("/")[2]))
    response = page.goto(url + "/docs")
    assert response is not None and response.status == 200
    page.wait_for_selector(".opblock", timeout=30_000)
    page.wait_for_function(
        f"() => document.querySelectorAll('.opblock').length >= {len(OPERATIONS)}",
        timeout=30_000)
    text = page.locator("body").inner_text()
    page.close()
    return text, errors, hosts


def test_docs_render_every_operation_offline(browser, make_app, serve_in_thread):
    url, _ = serve_in_thread(make_app(allowed_hosts=["localhost", "127.0.0.1", "[::1]"]))
    context = browser.new_context()
    try:
        text, errors, hosts = _render(context, url)
    finally:
        context.close()
    assert "Unable to render this definition" not in text
    assert "shelfwise" in text and "OAS 3.1" in text
    for path in OPERATIONS:
        assert path in text, path
    assert not errors
    assert set(hosts) == {url.split("/")[2]}  # no CDN: every file came from the server


def test_docs_with_a_key_render_after_basic_auth(browser, make_app, serve_in_thread):
    url, _ = serve_in_thread(make_app(api_key="s3cret"))
    refused = browser.new_context()
    try:
        for path in ("/docs", "/openapi.json"):
            r = refused.request.get(url + path)
            assert r.status == 401 and "Basic" in r.headers["www-authenticate"]
        # a browser without the key gets the challenge and no page
        with pytest.raises(Exception, match="ERR_INVALID_AUTH_CREDENTIALS"):
            refused.new_page().goto(url + "/docs")
    finally:
        refused.close()
    # what a person does: the browser asks, they type the key as the password
    context = browser.new_context(http_credentials={"username": "me", "password": "s3cret"})
    try:
        text, errors, _ = _render(context, url)
    finally:
        context.close()
    assert "Unable to render this definition" not in text
    for path in OPERATIONS:
        assert path in text, path
    assert not errors
