"""The web page labels ads "Sponsored" (headless Chromium; the API answer is stubbed)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.browser  # skipped without Chromium (tests/conftest.py)


def _item(i: int, sponsored: bool) -> dict:
    product = {"id": f"p{i}", "title": f"Bag {i}", "description": "", "category": "bags",
               "price": 10.0 + i, "currency": "USD", "attributes": {}, "in_stock": True,
               "image_url": None, "url": None, "sponsored": sponsored, "bid": 0.4}
    return {"product": product, "position": i, "reason": "A bag.", "score": 0.0,
            "policy_score": 0.0, "llm_score": None, "propensity": 0.5, "sponsored": sponsored}


def test_sponsored_cards_are_labelled(browser):
    from shelfwise.serve.app import STATIC_DIR

    answer = {"conversation_id": "c", "reply": "Here.", "events_logged": 0, "slate": {
        "slate_id": "s", "user_id": "u", "policy": "greedy", "policy_version": "1",
        "query": "bag", "reranked": False, "llm_fallback": False,
        "items": [_item(0, False), _item(1, True), _item(2, False)]}}

    def serve(route, request):
        path = request.url.split("shop.test", 1)[1].split("?")[0]
        if path == "/chat":
            return route.fulfill(status=200, content_type="application/json",
                                 body=json.dumps(answer))
        name = "index.html" if path == "/" else path.removeprefix("/static/")
        file = STATIC_DIR / name
        if not file.is_file():
            return route.fulfill(status=404, body="")
        kind = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
        return route.fulfill(status=200, body=file.read_bytes(),
                             content_type=kind.get(file.suffix, "application/octet-stream"))

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route("http://shop.test/**", serve)
    page.goto("http://shop.test/")
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_label("Message").fill("a bag")
    page.keyboard.press("Enter")
    page.wait_for_selector("#cards .card")
    cards = page.locator("#cards .card")
    assert cards.count() == 3
    labels = [cards.nth(i).locator(".sponsored-label").count() for i in range(3)]
    assert labels == [0, 1, 0]
    assert cards.nth(1).locator(".sponsored-label").inner_text() == "Sponsored"
    assert errors == []
    page.close()
