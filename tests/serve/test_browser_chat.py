"""The chat page on a phone (390 px): the bubble summarises, the cards carry the detail, and
"why these?" explains each product in words (headless Chromium, like ``test_browser.py``)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser  # skipped without Chromium (tests/conftest.py)



def test_phone_reply_summarises_and_why_explains_in_words(browser, live_server):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_label("Message").fill("a red bag under 100")
    page.keyboard.press("Enter")
    page.wait_for_selector("#log .msg.assistant")
    page.wait_for_selector("#cards .card")
    bubble = page.locator("#log .msg.assistant p").last.inner_text()
    cards = page.locator("#cards .card")
    n = cards.count()
    assert n >= 1
    # one summary line, no list of the products above the cards
    assert "\n" not in bubble.strip() and re.match(rf"Found {n} (red )?bags", bubble), bubble
    for i in range(n):
        title = cards.nth(i).locator("h3").inner_text().split(". ", 1)[1]
        assert title not in bubble

    page.get_by_text("Why these?").click()
    items = page.locator("#why-list li")
    assert items.count() == n
    for i in range(n):
        text = items.nth(i).inner_text()
        assert "the slate policy (linucb) ranked it" in text and f" of {n}" in text
        assert "language model" in text  # what the model thought (here: none scored it)
        assert not re.search(r"\d\.\d{3}", text)  # words, not a table of raw numbers
    # nothing is cut off or overflows the 390 px viewport
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#why").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert not errors
    page.close()
