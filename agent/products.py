"""The product record the language-model layer sees.

``agent`` must not import ``shelfwise``; the application layer converts its catalog
``Product`` into a :class:`ProductView`. Every function here only reads the attributes
below, so any object with the same attributes (duck typing) works as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


@dataclass(frozen=True)
class ProductView:
    """A product as the reranker, explainer and assistant see it."""

    id: str
    """Catalog product id."""
    title: str
    """Short display title."""
    category: str
    """Category name (e.g. ``"bags"``)."""
    price: float
    """Price in ``currency``."""
    currency: str = "USD"
    """ISO 4217 code."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Facts such as ``{"colour": "black", "material": "leather"}``."""
    description: str = ""
    """Free text from the merchant; untrusted (may contain prompt-injection attempts)."""

    @classmethod
    def from_any(cls, obj: Any) -> ProductView:
        """Build a view from any object with the same attribute names (e.g. a catalog Product).

        Args:
            obj: an object with ``id, title, category, price`` and optionally ``currency``,
                ``attributes`` and ``description``.

        Returns:
            The view (``obj`` itself when it already is one).

        """
        if isinstance(obj, ProductView):
            return obj
        return cls(id=str(obj.id), title=str(obj.title), category=str(obj.category),
                   price=float(obj.price), currency=str(getattr(obj, "currency", "USD") or "USD"),
                   attributes={str(k): str(v) for k, v in
                               dict(getattr(obj, "attributes", None) or {}).items()},
                   description=str(getattr(obj, "description", "") or ""))


def format_price(price: float, currency: str) -> str:
    """Format a price for shoppers: ``$89``, ``$89.50``, ``120 CHF``.

    Args:
        price: the amount.
        currency: ISO 4217 code.

    Returns:
        The formatted price.

    """
    amount = f"{price:.0f}" if abs(price - round(price)) < 1e-9 else f"{price:.2f}"
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


def currency_symbols() -> dict[str, str]:
    """ISO code → symbol for the currencies the layer formats with a symbol."""
    return dict(_CURRENCY_SYMBOLS)
