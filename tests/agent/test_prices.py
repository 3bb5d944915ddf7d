"""Price phrases → price bounds (agent.prices), one table of messages and known answers."""

from __future__ import annotations

import pytest

from agent.intent import parse_intent
from agent.prices import AROUND_BAND, parse_amount, parse_prices

CASES = [
    # upper bounds
    ("under 50", None, 50.0),
    ("below $50", None, 50.0),
    ("less than 50", None, 50.0),
    ("cheaper than 30 please", None, 30.0),
    ("max 50", None, 50.0),
    ("maximum: 50", None, 50.0),
    ("up to 50", None, 50.0),
    ("at most 50", None, 50.0),
    ("no more than 45 dollars", None, 45.0),
    ("not over 50", None, 50.0),
    ("< 50", None, 50.0),
    ("my budget of 50", None, 50.0),
    ("budget 50", None, 50.0),
    ("my budget is €50", None, 50.0),
    ("a budget of about 80", None, 80.0),
    ("50 or less", None, 50.0),
    ("50 and under", None, 50.0),
    ("USD 75 max", None, 75.0),
    ("under 50 bucks", None, 50.0),
    ("under 50, not leather", None, 50.0),
    ("jackets under 150 in red", None, 150.0),
    ("under 2k", None, 2000.0),
    # lower bounds
    ("over 20", 20.0, None),
    ("more than 20", 20.0, None),
    ("at least 20", 20.0, None),
    ("above £20", 20.0, None),
    ("from 20", 20.0, None),
    ("starting at 15", 15.0, None),
    ("not under 20", 20.0, None),
    ("20 or more", 20.0, None),
    ("20 and up", 20.0, None),
    ("20+", 20.0, None),
    # ranges
    ("between 20 and 40", 20.0, 40.0),
    ("between 40 and 20", 20.0, 40.0),
    ("from 20 to 40", 20.0, 40.0),
    ("20-40", 20.0, 40.0),
    ("20 to 40 euros", 20.0, 40.0),
    ("$20–$40", 20.0, 40.0),
    ("over 20 and under 40", 20.0, 40.0),
    ("between $1,000 and $2,500", 1000.0, 2500.0),
    # around: ±AROUND_BAND (20 %)
    ("around 30", 30 * (1 - AROUND_BAND), 30 * (1 + AROUND_BAND)),
    ("about $100", 80.0, 120.0),
    ("~30", 24.0, 36.0),
    # currencies and separators
    ("under 1,299.50 EUR", None, 1299.5),
    ("under €1.299,00", None, 1299.0),
    ("under 12,50", None, 12.5),
    ("under 50€", None, 50.0),
    # numbers that are not prices
    ("at least 2 pockets", None, None),
    ("30l backpack", None, None),
    ("2-person tent", None, None),
    ("size 10-12 shirt", None, None),
    ("over 18 years", None, None),
    ("more like #3", None, None),
    ("buy 2", None, None),
    ("under " + "9" * 400, None, None),
]


@pytest.mark.parametrize(("message", "lo", "hi"), CASES)
def test_price_phrases(message: str, lo: float | None, hi: float | None) -> None:
    got = parse_prices(message)
    assert (got.min_price, got.max_price) == (pytest.approx(lo), pytest.approx(hi)), message


@pytest.mark.parametrize(("message", "lo", "hi"), CASES)
def test_intent_uses_the_same_price_rules(message: str, lo: float | None,
                                          hi: float | None) -> None:
    intent = parse_intent(message)
    assert (intent.min_price, intent.max_price) == (pytest.approx(lo), pytest.approx(hi))


def test_price_phrases_leave_the_rest_of_the_message() -> None:
    got = parse_prices("waterproof jacket under $150 please")
    assert got.rest.split() == ["waterproof", "jacket", "please"]
    assert parse_intent("waterproof jacket under $150 please").query == "waterproof jacket"


@pytest.mark.parametrize(("raw", "value"), [
    ("50", 50.0), ("1,299", 1299.0), ("1.299", 1299.0), ("1,299.50", 1299.5),
    ("1.299,50", 1299.5), ("12,5", 12.5), ("0.99", 0.99), ("1,000,000", 1e6)])
def test_amounts(raw: str, value: float) -> None:
    assert parse_amount(raw) == pytest.approx(value)


@pytest.mark.timeout(2)  # a hang guard against catastrophic regex backtracking, not a speed test
def test_long_digit_runs_do_not_hang() -> None:
    parse_prices("under " + "1," * 20000 + " and 20-" * 5000)
