"""The one shape every feed reader gives the catalog validator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_CATEGORY = "uncategorized"
"""Category of a feed product that names none (Merchant Center and Shopify make it optional)."""

COLOUR_KEYS = frozenset({"color", "colour", "colors", "colours"})
"""Attribute names stored under shelfwise's own key ``colour`` (the chat and reranker read it)."""


@dataclass
class FeedRecord:
    """One product as a reader understood it, before validation.

    Attributes:
        number: 1-based row (or XML item) number in the file, named in errors.
        values: Product fields by shelfwise name: ``id``, ``title``, ``description``,
            ``category``, ``price``, ``sale_price``, ``currency``, ``attributes`` (dict or
            JSON text), ``attr_<name>``, ``image``, ``url``, ``in_stock`` (bool, quantity or
            availability word). Values are still raw (text with currency, HTML...).
        raw: The cells as read, written to the rejects file when the record is refused.
        error: ``(field, reason)`` when the reader already knows the record is bad.
        skip: Why the record is deliberately not loaded (a Shopify draft), never an error.
        unit: ``"row"`` or ``"item"`` (XML), for messages.
        columns: Field -> the file's own column name where they differ (``in_stock`` ->
            ``availability``), so that errors name what the user sees in the file.
    """

    number: int
    values: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict)
    error: tuple[str, str] | None = None
    skip: str | None = None
    unit: str = "row"
    columns: dict[str, str] = field(default_factory=dict)


def attribute_key(name: str) -> str:
    """The attribute name for a feed's column or option name (``Color`` -> ``colour``)."""
    from shelfwise.feeds.columns import normalize_header

    key = normalize_header(name)
    return "colour" if key in COLOUR_KEYS else key


def category_from_path(path: str) -> str:
    """The last segment of a category path, lower case: ``"Apparel > Jackets"`` -> ``"jackets"``.

    Returns ``""`` for an empty path or a bare numeric taxonomy id (``"1604"``).
    """
    last = path.split(">")[-1].strip().lower()
    last = " ".join(last.split())
    return "" if last.isdigit() else last
