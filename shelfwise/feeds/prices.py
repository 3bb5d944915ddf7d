"""Prices with a currency in the forms shops write them, and availability words.

Prices: ``"15.00 USD"``, ``"USD 15"``, ``"$15"``, ``"£9.99"``, ``"12,50 €"``, ``"1.299,00 EUR"``,
``"1,299.00"``, ``"1 299,00 kr SEK"``, plain numbers. The decimal separator is the last of
``.``/``,`` when both appear; a lone ``,`` followed by one or two digits is a decimal comma
(``12,50``) and followed by exactly three digits a thousands separator (``1,299``); a lone
``.`` is always a decimal point (``1.299`` is one point two nine nine: write ``1.299,00`` for
thousands). An ISO 4217 code names the currency; a symbol does only when nothing more
precise is known (``$`` reads as USD unless the row or file says CAD, AUD...).

Availability: ``in_stock``/``in stock``/``available`` -> in stock; ``out_of_stock``,
``out of stock``, ``sold out``, ``discontinued`` -> not; **``preorder`` and ``backorder`` ->
not in stock** (they cannot be shipped now; the word itself is kept by the caller as the
``availability`` attribute so that the shop can still show it); booleans (true/false, yes/no,
1/0); whole-number quantities (``> 0`` in stock).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from shelfwise.errors import CatalogError

SYMBOLS = {
    "$": "USD",
    "US$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "₫": "VND",
    "₱": "PHP",
    "฿": "THB",
    "zł": "PLN",
    "kr": "SEK",
    "Kč": "CZK",
    "Fr.": "CHF",
    "CHF": "CHF",
    "R$": "BRL",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "MX$": "MXN",
}
"""Currency symbols and the ISO code each stands for when nothing more precise is known."""

COMMON_CODES = frozenset(
    "USD EUR GBP JPY CNY INR CAD AUD NZD CHF SEK NOK DKK PLN CZK HUF RON BGN TRY ILS ZAR BRL "
    "MXN ARS CLP COP PEN KRW HKD SGD TWD THB MYR IDR PHP VND AED SAR QAR KWD EGP NGN KES RUB "
    "UAH ISK".split()
)
"""ISO 4217 codes also recognised in lower case (``"12 eur"``); upper-case codes always are."""

_CODE = re.compile(r"\b([A-Z]{3})\b")
_SYMBOL_RE = re.compile(
    "|".join(re.escape(s) for s in sorted(SYMBOLS, key=len, reverse=True)), re.IGNORECASE
)
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009'’]+")
_NUMBER = re.compile(r"^[+-]?(\d[\d.,]*)$")
_PLAIN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_MAX_PRICE_CHARS = 64
_HINT = " (with an optional currency, e.g. '15.00 USD')"
_NOT_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


@dataclass(frozen=True)
class Price:
    """A parsed price.

    Attributes:
        amount: The number (finite, may be negative: callers check the sign).
        currency: ISO 4217 code from the text, or ``None`` when the text had none.
        from_symbol: ``currency`` came from a symbol such as ``$`` (a weaker hint than a code).
    """

    amount: float
    currency: str | None
    from_symbol: bool = False


class PriceError(CatalogError):
    """A price or availability value that cannot be read; the message says what was given."""


def _number(text: str, original: str) -> float:
    if _PLAIN.match(text):
        value = float(text)
    else:
        match = _NUMBER.match(text)
        if not match:
            raise PriceError(f"must be a number, got {original!r}{_HINT}")
        sign = -1.0 if text.startswith("-") else 1.0
        digits = match.group(1)
        dot, comma = digits.rfind("."), digits.rfind(",")
        if dot >= 0 and comma >= 0:
            decimal = "." if dot > comma else ","
            thousands = "," if decimal == "." else "."
            digits = digits.replace(thousands, "").replace(decimal, ".")
        elif comma >= 0:
            tail = digits[comma + 1 :]
            if digits.count(",") == 1 and 1 <= len(tail) <= 2:
                digits = digits.replace(",", ".")
            elif all(len(g) == 3 for g in digits.split(",")[1:]):
                digits = digits.replace(",", "")
            else:
                raise PriceError(f"ambiguous number {original!r}: write it like 1299.00")
        elif digits.count(".") > 1:
            if not all(len(g) == 3 for g in digits.split(".")[1:]):
                raise PriceError(f"ambiguous number {original!r}: write it like 1299.00")
            digits = digits.replace(".", "")
        if digits.endswith("."):
            digits += "0"
        value = sign * float(digits)
    if not math.isfinite(value):
        raise PriceError(f"must be a finite number, got {original!r}")
    return value


def parse_price(value: Any) -> Price:
    """Read a price cell: a number, or text with an optional currency code or symbol.

    Args:
        value: ``int``/``float`` or text such as ``"1.299,00 EUR"``.

    Returns:
        The amount and the currency found in the text (``None`` if none).

    Raises:
        PriceError: empty, not a number, infinite/NaN, too long, or two different
            currencies in one cell.
    """
    if isinstance(value, bool):
        raise PriceError(f"must be a number, got {value!r}")
    if isinstance(value, int):
        try:
            amount = float(value)
        except OverflowError:
            raise PriceError(
                "must be a finite number, got an integer too large for a float"
            ) from None
        return Price(amount, None)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PriceError(f"must be a finite number, got {value!r}")
        return Price(value, None)
    if not isinstance(value, str):
        raise PriceError(f"must be a number, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise PriceError("is missing or empty")
    if text.lower() in _NOT_FINITE:
        raise PriceError(f"must be a finite number, got {value!r}")
    if len(text) > _MAX_PRICE_CHARS:
        raise PriceError(f"must be a number, got a {len(text)}-character text")
    currency: str | None = None
    from_symbol = False
    codes = set(_CODE.findall(text)) | {c for c in _CODE.findall(text.upper()) if c in COMMON_CODES}
    # A word such as "CHF" may be both a symbol and a code: codes win, symbols only fill in.
    symbols = {
        SYMBOLS[m.group(0)] if m.group(0) in SYMBOLS else _symbol_ci(m.group(0))
        for m in _SYMBOL_RE.finditer(text)
    }
    if len(codes) > 1:
        raise PriceError(f"names two currencies ({', '.join(sorted(codes))}): {value!r}")
    if codes:
        currency = codes.pop()
    elif symbols:
        if len(symbols) > 1:
            raise PriceError(f"names two currencies ({', '.join(sorted(symbols))}): {value!r}")
        currency = symbols.pop()
        from_symbol = True
    rest = _SYMBOL_RE.sub(" ", text)
    if currency is not None and not from_symbol:
        rest = re.sub(rf"\b{currency}\b", " ", rest, flags=re.IGNORECASE)
    rest = _SPACES.sub("", rest)
    rest = re.sub(r"[.,][-–]$", "", rest)  # Swiss "12.-"
    if not rest:
        raise PriceError(f"must be a number, got {value!r}{_HINT}")
    return Price(_number(rest, value), currency, from_symbol)


def _symbol_ci(found: str) -> str:
    for symbol, code in SYMBOLS.items():
        if symbol.lower() == found.lower():
            return code
    return found.upper()


_IN = {"in_stock", "instock", "in stock", "available", "available for order", "in-stock"}
_OUT = {
    "out_of_stock",
    "outofstock",
    "out of stock",
    "out-of-stock",
    "sold out",
    "sold_out",
    "soldout",
    "discontinued",
    "unavailable",
    "not available",
}
_LATER = {
    "preorder",
    "pre-order",
    "pre_order",
    "backorder",
    "back-order",
    "back_order",
    "backordered",
}
_TRUE = {"true", "yes", "y", "t", "1"}
_FALSE = {"false", "no", "n", "f", "0"}


def parse_availability(value: Any) -> tuple[bool, str | None]:
    """Read an availability / in-stock cell.

    Args:
        value: A boolean, a quantity, or a word (see the module docstring).

    Returns:
        ``(in_stock, word)``: ``word`` is the normalised availability word (``"in_stock"``,
        ``"out_of_stock"``, ``"preorder"``, ``"backorder"``) when the cell was one, else ``None``.
        An empty cell is ``(True, None)``.

    Raises:
        PriceError: a value that is none of these.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True, None
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value != int(value):
            raise PriceError(f"must be a whole quantity or true/false, got {value!r}")
        return value > 0, None
    if not isinstance(value, str):
        raise PriceError(f"must be an availability word or true/false, got {value!r}")
    text = " ".join(value.strip().lower().split())
    if not text:
        return True, None
    if text in _TRUE | _FALSE:
        return text in _TRUE, None
    if text in _IN:
        return True, "in_stock"
    if text in _OUT:
        return False, "out_of_stock"
    if text in _LATER:
        return False, "preorder" if text.startswith("pre") else "backorder"
    if re.fullmatch(r"[+-]?\d{1,12}", text):
        return int(text) > 0, None
    shown = value if len(value) <= 40 else value[:40] + "…"
    raise PriceError(
        f"must be true or false, got {shown!r} (or a quantity, or one of in_stock, "
        "out_of_stock, preorder, backorder)"
    )
