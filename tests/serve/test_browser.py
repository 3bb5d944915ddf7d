"""The web chat page in a real headless Chromium (Debian's /usr/bin/chromium, via Playwright)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser  # skipped without Chromium (tests/conftest.py)



def test_chat_cards_and_buy_reach_the_event_log(browser, live_server, serve_ws):
    from shelfwise.events import SQLiteEventStore

    page = browser.new_page(viewport={"width": 375, "height": 740})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-ready='true']")
    assert page.get_by_label("Message").is_visible()

    # keyboard only: type and press Enter
    page.get_by_label("Message").fill("a red leather handbag")
    page.keyboard.press("Enter")
    page.wait_for_selector("#log .msg.assistant")
    page.wait_for_selector("#cards .card img")
    cards = page.locator("#cards .card")
    assert cards.count() >= 1
    page.wait_for_function(
        "() => [...document.querySelectorAll('#cards .card img')]"
        ".every(i => i.complete && i.naturalWidth > 0)", timeout=15_000)
    first = cards.nth(0)
    assert first.locator(".price").inner_text().strip()
    assert first.locator(".reason").inner_text().strip()
    # nothing overflows the 375 px viewport horizontally
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # "why these?" explains each product in words
    page.get_by_text("Why these?").click()
    assert "linucb" in page.locator("#why-caption").inner_text()
    assert page.locator("#why-list li").count() == cards.count()

    product_id = first.get_attribute("data-product-id")

    def purchases_of(pid: str) -> int:
        # the workspace is shared with other serve tests, which may have bought it before
        store = SQLiteEventStore(serve_ws.events_db)
        try:
            return sum(p.product_id == pid for p in store.purchases())
        finally:
            store.close()

    before = purchases_of(product_id)
    first.get_by_role("button", name="Buy").click()
    page.wait_for_function("() => document.getElementById('status').textContent"
                           ".startsWith('Bought')", timeout=15_000)
    assert first.get_by_role("button", name="Buy").inner_text() == "Bought"
    assert not errors

    assert purchases_of(product_id) == before + 1
    page.close()
