"""The HTTP API in-process (FastAPI TestClient), ``--no-llm`` wiring over a demo-store copy."""

from __future__ import annotations

import uuid

import pytest

from shelfwise.errors import ConfigError


def _slate(client, **extra):
    body = {"user_id": "u-api", "query": "red leather handbag", "k": 4, **extra}
    r = client.post("/recommend", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _eid() -> str:
    return uuid.uuid4().hex


# -- endpoints ------------------------------------------------------------------------------


def test_recommend_returns_logged_slate_with_reasons(client, service):
    s = _slate(client)
    assert s["slate_id"] and s["user_id"] == "u-api" and s["policy"] == "linucb"
    assert s["query"] == "red leather handbag" and s["reranked"] is False
    assert len(s["items"]) == 4
    for pos, item in enumerate(s["items"]):
        assert item["position"] == pos
        assert item["reason"]
        assert 0 < item["propensity"] <= 1
        assert item["llm_score"] is None
        assert item["product"]["image_url"] == f"/products/{item['product']['id']}/image"
    imp = service.recommender.events.impression(s["slate_id"])
    assert list(imp.item_ids) == [i["product"]["id"] for i in s["items"]]


def test_recommend_applies_filters(client):
    s = _slate(client, k=6, filters={"categories": ["bags"], "max_price": 100.0,
                                     "in_stock_only": True})
    assert s["items"]
    for item in s["items"]:
        p = item["product"]
        assert p["category"] == "bags" and p["price"] <= 100.0 and p["in_stock"]


def test_recommend_without_matches_has_no_slate(client):
    s = _slate(client, filters={"min_price": 1e9})
    assert s["slate_id"] is None and s["items"] == []


def test_chat_replies_with_a_slate_that_takes_feedback(client):
    r = client.post("/chat", json={"conversation_id": "c-api", "message": "a black jacket"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["conversation_id"] == "c-api" and body["reply"]
    slate = body["slate"]
    assert slate and slate["slate_id"] and slate["items"]
    item = slate["items"][0]
    fb = client.post("/feedback", json={"event_id": _eid(), "slate_id": slate["slate_id"],
                                        "product_id": item["product"]["id"], "kind": "click"})
    assert fb.status_code == 200, fb.text
    assert fb.json()["duplicate"] is False


def test_feedback_is_idempotent(client, service):
    s = _slate(client)
    pid = s["items"][1]["product"]["id"]
    body = {"event_id": _eid(), "slate_id": s["slate_id"], "product_id": pid,
            "kind": "purchase", "quantity": 2}
    first = client.post("/feedback", json=body)
    again = client.post("/feedback", json=body)
    assert first.status_code == again.status_code == 200
    one, two = first.json(), again.json()
    assert one["duplicate"] is False and two["duplicate"] is True
    assert one["position"] == 1 and one["value"] == pytest.approx(2 * s["items"][1]["product"]
                                                                   ["price"])
    assert one["policy_updated"] is True and two["policy_updated"] is False
    bought = service.recommender.events.purchases(s["slate_id"])
    assert [(p.event_id, p.product_id) for p in bought] == [(body["event_id"], pid)]


def test_product_and_image(client):
    r = client.get("/products/p0001")
    assert r.status_code == 200
    p = r.json()
    assert p["id"] == "p0001" and p["title"] and p["price"] > 0
    img = client.get(p["image_url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert img.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["products"] == 2000 and h["policy"] == "linucb"
    assert h["reranker"] is False and h["auth"] is False


def test_metrics_count_requests_and_feedback(client):
    s = _slate(client)
    client.post("/feedback", json={"event_id": _eid(), "slate_id": s["slate_id"],
                                   "product_id": s["items"][0]["product"]["id"],
                                   "kind": "click"})
    client.get("/products/nope")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'shelfwise_http_requests_total{method="POST",route="/recommend",status="200"}' in text
    assert ('shelfwise_http_requests_total{method="GET",route="/products/{product_id}",'
            'status="404"}') in text
    assert 'shelfwise_http_request_duration_seconds_bucket{' in text
    assert 'shelfwise_feedback_total{duplicate="false",kind="click"}' in text
    assert 'shelfwise_rerank_fallbacks_total{endpoint="recommend"} 0.0' in text


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'aria-live="polite"' in page.text and '<label for="message"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_openapi_lists_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/recommend", "/chat", "/feedback", "/products/{product_id}",
                 "/products/{product_id}/image", "/health", "/metrics"):
        assert path in paths


def test_swagger_docs_are_served_without_a_cdn(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "cdn." not in page.text and "/docs-assets/swagger-ui-bundle.js" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        r = client.get(f"/docs-assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000


# -- bad requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/recommend", {}, "user_id: field required"),
    ("/recommend", {"user_id": "u", "k": 0}, "k: Input should be greater than or equal to 1"),
    ("/recommend", {"user_id": "u", "colour": "red"}, "colour: unknown field"),
    ("/recommend", {"user_id": "u", "filters": {"min_price": 50, "max_price": 10}},
     "min_price (50.0) is above max_price (10.0)"),
    ("/chat", {"conversation_id": "c"}, "message: field required"),
    ("/chat", {"conversation_id": "c", "message": ""}, "message: String should have at least"),
    ("/feedback", {"slate_id": "s", "product_id": "p", "kind": "click"},
     "event_id: field required"),
    ("/feedback", {"event_id": "e", "slate_id": "s", "product_id": "p", "kind": "like"},
     "kind: Input should be 'click' or 'purchase'"),
])
def test_invalid_bodies_get_422_naming_the_field(client, path, body, message):
    r = client.post(path, json=body)
    assert r.status_code == 422
    assert message in r.json()["message"]


def test_malformed_json_gets_422(client):
    r = client.post("/recommend", content=b"{not json", headers={"content-type":
                                                                 "application/json"})
    assert r.status_code == 422
    assert "malformed JSON" in r.json()["message"]


def test_unknown_product_404(client):
    for path in ("/products/nope", "/products/nope/image"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json()["detail"] == "unknown product id 'nope'"


def test_unknown_slate_404(client):
    r = client.post("/feedback", json={"event_id": _eid(), "slate_id": "no-such-slate",
                                       "product_id": "p0001", "kind": "click"})
    assert r.status_code == 404
    assert r.json()["detail"] == "unknown slate_id 'no-such-slate'"


def test_product_not_in_slate_422(client):
    s = _slate(client, k=1)
    shown = s["items"][0]["product"]["id"]
    other = "p0001" if shown != "p0001" else "p0002"
    r = client.post("/feedback", json={"event_id": _eid(), "slate_id": s["slate_id"],
                                       "product_id": other, "kind": "click"})
    assert r.status_code == 422
    assert r.json()["detail"] == f"product {other!r} was not shown in slate {s['slate_id']!r}"


def test_reused_event_id_with_other_content_409(client):
    s = _slate(client)
    eid = _eid()
    ok = client.post("/feedback", json={"event_id": eid, "slate_id": s["slate_id"],
                                        "product_id": s["items"][0]["product"]["id"],
                                        "kind": "click"})
    clash = client.post("/feedback", json={"event_id": eid, "slate_id": s["slate_id"],
                                           "product_id": s["items"][1]["product"]["id"],
                                           "kind": "click"})
    assert ok.status_code == 200 and clash.status_code == 409
    assert "already logged with different content" in clash.json()["detail"]


def test_oversized_body_413(service):
    from fastapi.testclient import TestClient

    from shelfwise.serve import create_app

    with TestClient(create_app(service, max_body_bytes=1024)) as c:
        r = c.post("/chat", json={"conversation_id": "c", "message": "x" * 2000})
        assert r.status_code == 413
        assert r.json()["detail"].endswith("bytes; the limit is 1024 bytes")

        def chunks():  # no Content-Length: the limit still holds while streaming
            for _ in range(4):
                yield b"x" * 512

        r = c.post("/chat", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert "more than" in r.json()["detail"]
        assert c.post("/recommend", json={"user_id": "u", "k": 1}).status_code == 200


@pytest.fixture()
def keyed(service):
    from fastapi.testclient import TestClient

    from shelfwise.serve import create_app

    with TestClient(create_app(service, api_key="s3cret")) as c:
        yield c


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "missing API key: send it in the X-API-Key header"),
    ({"X-API-Key": "wrong"}, "wrong API key in the X-API-Key header"),
])
def test_api_key_required(keyed, headers, message):
    for method, path, body in (("POST", "/recommend", {"user_id": "u"}),
                               ("POST", "/chat", {"conversation_id": "c", "message": "hi"}),
                               ("POST", "/feedback", {}), ("GET", "/products/p0001", None),
                               ("GET", "/products/p0001/image", None), ("GET", "/metrics", None)):
        r = keyed.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, path
        assert r.json()["detail"] == message
        assert r.headers["www-authenticate"] == "ApiKey"


def test_api_key_accepted_and_open_paths(keyed):
    assert keyed.get("/health").json()["auth"] is True
    assert keyed.get("/").status_code == 200
    r = keyed.post("/recommend", json={"user_id": "u", "k": 2}, headers={"X-API-Key": "s3cret"})
    assert r.status_code == 200 and len(r.json()["items"]) == 2


def test_create_app_rejects_bad_settings(service):
    from shelfwise.serve import create_app

    with pytest.raises(ConfigError, match="api_key must not be empty"):
        create_app(service, api_key=" ")
    with pytest.raises(ConfigError, match="max_body_bytes must be >= 1"):
        create_app(service, max_body_bytes=0)


def test_chat_through_the_shop_assistant_keeps_constraints_and_records_reactions(client,
                                                                                  service):
    from shelfwise.serve.wiring import AssistantChat

    if not isinstance(service.chat_backend, AssistantChat):
        pytest.skip("shelfwise.shop is not importable: /chat uses QueryChat")
    r = client.post("/chat", json={"conversation_id": "c-shop", "message": "a jacket under 100"})
    assert r.status_code == 200, r.text
    slate = r.json()["slate"]
    assert slate["items"]
    for item in slate["items"]:
        assert item["product"]["category"] == "jackets" and item["product"]["price"] <= 100
        assert 0 < item["propensity"] <= 1 and item["reason"]
    first = slate["items"][0]["product"]["id"]
    r = client.post("/chat", json={"conversation_id": "c-shop", "message": "buy #1"})
    assert r.status_code == 200 and r.json()["events_logged"] == 1 and r.json()["slate"] is None
    bought = service.recommender.events.purchases(slate["slate_id"])
    assert [p.product_id for p in bought] == [first]


def test_chat_slate_is_logged_for_the_given_user(client, service):
    r = client.post("/chat", json={"conversation_id": "c-user", "message": "a red bag",
                                   "user_id": "shopper-42"})
    assert r.status_code == 200, r.text
    slate = r.json()["slate"]
    assert slate["user_id"] == "shopper-42"
    assert service.recommender.events.impression(slate["slate_id"]).user_id == "shopper-42"
    r = client.post("/chat", json={"conversation_id": "c-user", "message": "cheaper"})
    assert r.json()["slate"]["user_id"] == "shopper-42"  # remembered for the conversation
