"""Price phrases in a shopper's message → price bounds.

Recognised forms (case-insensitive, one table of rules, :data:`PRICE_RULES`):

- upper bounds: "under 50", "below $50", "less than 50", "cheaper than 50", "max 50",
  "up to 50", "at most 50", "no more than 50", "not over 50", "within 50", "< 50",
  "my budget of 50", "budget 50", "budget is €50", "50 or less", "50 and under", "50 max";
- lower bounds: "over 20", "above 20", "more than 20", "at least 20", "min 20", "from 20",
  "starting at 20", "not under 20", "> 20", "20 or more", "20 and up", "20+";
- ranges: "between 20 and 40", "from 20 to 40", "20-40", "20 to 40", "$20–$40";
- "around 30" (also "about", "approximately", "roughly", "~"): the band
  ``[30 * (1 - AROUND_BAND), 30 * (1 + AROUND_BAND)]``, i.e. ±20 %.

Amounts may carry a currency symbol or word before or after them ("$50", "50 USD", "EUR 50",
"50 euros", "50 bucks"), thousand separators ("1,299", "1.299,00", "1,299.50") and a ``k``
suffix ("under 2k" = 2000). A separator followed by exactly three digits is a thousands
separator, otherwise the last separator is the decimal point ("12,50" = 12.5). A number
followed by a unit ("30 litres", "2 person", "100 m") is not a price; neither is a bare
range right after "size". The currency itself is not checked against the shop's: shoppers
name amounts in the currency they see.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

AROUND_BAND = 0.2
"""Half-width of the "around N" band, as a fraction of N (±20 %)."""

_SYM = r"[$€£¥₹]"
_CODE = (r"(?:usd|eur|gbp|jpy|chf|cad|aud|sek|nok|dkk|pln|inr|dollars?|euros?|pounds?|"
         r"bucks|quid)")
_UNITS = (r"(?:l|litres?|liters?|ml|cl|cm|mm|m|km|inch(?:es)?|ft|feet|kg|g|lbs?|oz|"
          r"people|persons?|pieces?|pcs|packs?|pairs?|gb|tb|mb|w|watts?|volts?|mah|hours?|"
          r"days?|weeks?|years?|months?|%|°|pockets?|compartments?|seats?|slots?|items?|"
          r"colou?rs?|sizes?|cups?|burners?|zones?|drawers?|doors?|shelves|wheels?)")
# bounded repeats: a long run of digits cannot make the matcher backtrack quadratically
_AMOUNT = r"\d{1,3}(?:[,.]\d{3}){1,4}(?:[.,]\d{1,2})?|\d{1,12}(?:[.,]\d{1,2})?"


def _money(name: str) -> str:
    """Regex of one amount with an optional currency before or after (named group ``name``)."""
    return (rf"(?:{_SYM}\s?|\b{_CODE}\s?)?(?P<{name}>{_AMOUNT})(?P<{name}_k>\s?k\b)?"
            rf"(?:\s?{_SYM}|\s?{_CODE}\b)?(?!\d|[.,]\d)(?!\s?{_UNITS}(?![\w\-]))")


_A, _B = _money("a"), _money("b")
_DASH = r"\s*(?:-|–|—|to|until|till)\s*"
_NOT_SIZE = r"(?<!size )(?<!sizes )"

Kind = Literal["max", "min", "range", "around"]

PRICE_RULES: tuple[tuple[Kind, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in [
        ("range", rf"\bbetween\s+{_A}\s+(?:and|to|-|–)\s+{_B}"),
        ("range", rf"\bfrom\s+{_A}{_DASH}{_B}"),
        ("max", rf"\b(?:(?:my|a|the|our)\s+)?budget\s*(?:of|is|:|=)?\s*(?:(?:about|around|"
                rf"roughly|approximately|approx\.?)\s+)?{_A}"),
        ("max", rf"\bnot\s+(?:over|above|more\s+than|higher\s+than)\s*{_A}"),
        ("min", rf"\bnot\s+(?:under|below|less\s+than|lower\s+than|cheaper\s+than)\s*{_A}"),
        ("around", rf"(?:\b(?:around|about|approximately|approx\.?|roughly|circa|close\s+to|"
                   rf"in\s+the\s+region\s+of)\s*|~\s*){_A}"),
        ("max", rf"(?:\b(?:under|below|less\s+than|cheaper\s+than|lower\s+than|max(?:imum)?|"
                rf"at\s+most|up\s+to|no\s+more\s+than|within|spend(?:ing)?\s+up\s+to|"
                rf"(?:not|no)\s+exceeding)\s*:?\s*|<=?\s*|≤\s*){_A}"),
        ("min", rf"(?:\b(?:over|above|more\s+than|higher\s+than|at\s+least|min(?:imum)?|"
                rf"from|starting\s+(?:at|from)|no\s+less\s+than)\s*:?\s*|>=?\s*|≥\s*){_A}"),
        ("range", rf"{_NOT_SIZE}(?<![\w.,]){_A}{_DASH}{_B}"),
        ("max", rf"(?<![\w.,]){_A}\s+(?:(?:or|and)\s+(?:less|under|below|cheaper|lower)|"
                rf"max(?:imum)?|tops|at\s+most)\b"),
        ("min", rf"(?<![\w.,]){_A}\s*(?:(?:or|and)\s+(?:more|over|above|up|higher)\b|\+)"),
    ]
)
"""``(kind, pattern)`` in priority order; a matched span is consumed before later rules run."""


@dataclass(frozen=True)
class PriceBounds:
    """Price bounds found in a message."""

    min_price: float | None = None
    """Lower bound (inclusive), or None."""
    max_price: float | None = None
    """Upper bound (inclusive), or None."""
    rest: str = ""
    """The message with the price phrases blanked out."""


def parse_amount(raw: str, thousands: bool = False) -> float:
    """``"1,299.50"`` → 1299.5, ``"1.299,00"`` → 1299.0, ``"12,50"`` → 12.5.

    Args:
        raw: digits with ``,`` / ``.`` separators (as matched by the amount pattern).
        thousands: multiply by 1000 (a ``k`` suffix).

    Returns:
        The amount (may be ``inf`` for absurdly long digit strings).

    """
    last = max(raw.rfind(","), raw.rfind("."))
    if last >= 0 and len(raw) - last - 1 != 3:
        value = float(raw[:last].replace(",", "").replace(".", "") + "." + raw[last + 1:])
    else:
        value = float(raw.replace(",", "").replace(".", ""))
    return value * 1000.0 if thousands else value


def _value(m: re.Match[str], name: str) -> float:
    return parse_amount(m.group(name), bool(m.group(f"{name}_k")))


def parse_prices(text: str) -> PriceBounds:
    """Price bounds of a shopper's message (see the module docstring for the forms).

    Later phrases of the same kind override earlier ones; bounds given in the wrong order
    ("under 20 over 40") are swapped. Non-finite amounts are ignored.

    Args:
        text: the message (untrusted).

    Returns:
        The bounds and the message without the price phrases.

    """
    rest = text or ""
    lo: float | None = None
    hi: float | None = None
    for kind, pattern in PRICE_RULES:
        for m in list(pattern.finditer(rest)):
            a = _value(m, "a")
            b = _value(m, "b") if kind == "range" else a
            if not (math.isfinite(a) and math.isfinite(b)):
                continue
            if kind == "range":
                lo, hi = min(a, b), max(a, b)
            elif kind == "around":
                lo, hi = a * (1.0 - AROUND_BAND), a * (1.0 + AROUND_BAND)
            elif kind == "max":
                hi = a
            else:
                lo = a
            rest = rest[:m.start()] + " " * (m.end() - m.start()) + rest[m.end():]
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    return PriceBounds(lo, hi, rest)
