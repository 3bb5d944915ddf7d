"""Fixtures of the reason tests: the labelled set and its records as products and contexts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.facts import HistoryItem, ShopperContext
from agent.products import ProductView

DATA = Path(__file__).parent / "data"


def as_product(d: dict[str, Any]) -> ProductView:
    """A record's product dict as a :class:`ProductView`."""
    return ProductView(str(d["id"]), str(d["title"]), str(d["category"]), float(d["price"]),
                       str(d["currency"]), dict(d["attributes"]), str(d["description"]))


def as_shopper(d: dict[str, Any]) -> ShopperContext:
    """A record's shopper dict as a :class:`ShopperContext`."""
    return ShopperContext(d["query"], d["budget"], tuple(
        HistoryItem(as_product(h["product"]), h["relation"]) for h in d["history"]))


@pytest.fixture(scope="session")
def labelled() -> list[dict[str, Any]]:
    """The labelled reasons (``data/labelled_reasons.jsonl``, written by ``make_labelled.py``)."""
    with open(DATA / "labelled_reasons.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def outdoor() -> list[ProductView]:
    """The non-demo catalog: 41 outdoor and kitchen products priced in EUR."""
    with open(DATA / "outdoor_catalog.jsonl", encoding="utf-8") as f:
        return [as_product(json.loads(line)) for line in f if line.strip()]


@pytest.fixture()
def convert() -> tuple[Any, Any]:
    """The record converters ``(as_product, as_shopper)``."""
    return as_product, as_shopper
