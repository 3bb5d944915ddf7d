"""Follow-ups that refer to what the shopper was shown, and the one-line summary of a reply.

:func:`resolve` turns a parsed follow-up into hard constraints over the last slate:

- **"cheaper"**: strictly below the price of the product referred to ("cheaper than the
  second one"), else strictly below the cheapest product shown, so nothing shown comes back;
  a stated upper bound that is already lower is kept.
- **"not red"**: an exclusion (parsed by :mod:`agent.intent`; every product whose title or
  attribute values name the colour is left out).
- **"more like the second one"**: anchors on that product. The slate is built around its
  vector (``similar_to``), in its category; the anchor itself is never shown; earlier filters
  the anchor breaks are dropped (a price bound it is outside of, a wanted colour or material
  it lacks, an exclusion it has, another category) and listed in
  :attr:`Resolution.dropped`, so the reply can say "Like the “Quill crossbody”: … (dropped:
  under $50)".
- **"show me others"**: every product shown since the last new request is excluded, the
  filters stay.

A reference to a position that was not shown (nothing shown yet, "the ninth" of five) is
ignored and noted, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from agent.display import quote
from agent.intent import Intent, singular
from agent.products import ProductView, format_price

__all__ = ["Resolution", "has_phrase", "product_phrases", "resolve", "summary"]


CHEAPER_BY = 1e-6
"""How far below the reference price "cheaper" caps (above the 1e-9 tolerance of inclusive
bounds, below any currency's smallest unit): the reference product itself is left out."""


def product_phrases(product: ProductView, max_words: int = 3) -> set[str]:
    """Lower-case words and word sequences (up to ``max_words``) of a product's facts.

    Title and attribute values, so that "olive green" matches as one phrase.
    """
    out: set[str] = set()
    values = [str(v) for v in dict(product.attributes or {}).values()]
    for text in (product.title, *values):
        words = re.findall(r"[a-z0-9]+", str(text).lower())
        for n in range(1, max_words + 1):
            out.update(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    return out


def has_phrase(product: ProductView, phrase: str) -> bool:
    """Whether the product's title or an attribute value contains ``phrase`` (word-wise)."""
    words = re.findall(r"[a-z0-9]+", phrase.lower())
    return bool(words) and " ".join(words) in product_phrases(product, max(len(words), 1))


@dataclass(frozen=True)
class Resolution:
    """A follow-up resolved against the last slate."""

    intent: Intent
    """The intent to serve (references turned into bounds, anchors, exclusions)."""
    anchor: ProductView | None = None
    """The product "more like …" refers to, or None."""
    cheaper_than: ProductView | None = None
    """The product "cheaper" was measured against (the one named, else the cheapest shown)."""
    dropped: list[str] = field(default_factory=list)
    """Earlier filters dropped because the anchor breaks them ("under $50", "red")."""
    unresolved: str | None = None
    """A reference that named nothing shown ("#9"), or None."""


def _pick(shown: Sequence[ProductView], pick: int | None) -> ProductView | None:
    if pick is None or not shown:
        return None
    idx = len(shown) - 1 if pick == -1 else pick - 1
    return shown[idx] if 0 <= idx < len(shown) else None


def resolve(intent: Intent, shown: Sequence[ProductView], seen: Sequence[str] = (),
            currency: str | None = None) -> Resolution:
    """Resolve "cheaper", "more like #n" and "others" against the last slate.

    Args:
        intent: the merged intent of the message (from :func:`agent.intent.parse_intent`).
        shown: the last slate shown, in served order.
        seen: ids of every product shown since the shopper's last new request.
        currency: currency of prices in notes (default: the first shown product's).

    Returns:
        The :class:`Resolution`.
    """
    unresolved = None
    cheaper_ref = None
    if intent.cheaper and shown:
        cheaper_ref = _pick(shown, intent.cheaper_than) if intent.cheaper_than is not None \
            else min(shown, key=lambda p: float(p.price))
        if cheaper_ref is None:
            unresolved = f"#{intent.cheaper_than}"
        else:
            cap = float(cheaper_ref.price) - CHEAPER_BY
            hi = cap if intent.max_price is None else min(intent.max_price, cap)
            lo = intent.min_price if intent.min_price is None or intent.min_price <= hi else None
            intent = replace(intent, max_price=hi, min_price=lo)
    anchor = None
    dropped: list[str] = []
    if intent.more_like is not None:
        anchor = _pick(shown, intent.more_like)
        if anchor is None:
            unresolved = f"#{intent.more_like}" if intent.more_like != -1 else "the last one"
        else:
            intent, dropped = _anchor(intent, anchor, currency or anchor.currency)
    if intent.others and seen:
        intent = replace(intent, exclude_ids=intent.exclude_ids | frozenset(seen))
    return Resolution(intent, anchor, cheaper_ref, dropped, unresolved)


def _anchor(intent: Intent, anchor: ProductView, currency: str) -> tuple[Intent, list[str]]:
    """Anchor on ``anchor``: drop the earlier filters it breaks, keep the rest."""
    dropped: list[str] = []
    price = float(anchor.price)
    hi, lo = intent.max_price, intent.min_price
    if hi is not None and price > hi + 1e-9:
        dropped.append(f"under {format_price(hi, currency)}")
        hi = None
    if lo is not None and price < lo - 1e-9:
        dropped.append(f"over {format_price(lo, currency)}")
        lo = None
    colours = frozenset(c for c in intent.colours if has_phrase(anchor, c))
    materials = frozenset(m for m in intent.materials if has_phrase(anchor, m))
    dropped += sorted((intent.colours - colours) | (intent.materials - materials))
    ex_c = frozenset(c for c in intent.exclude_colours if not has_phrase(anchor, c))
    ex_m = frozenset(m for m in intent.exclude_materials if not has_phrase(anchor, m))
    dropped += [f"not {w}" for w in sorted((intent.exclude_colours - ex_c)
                                           | (intent.exclude_materials - ex_m))]
    other_cats = sorted(c for c in intent.categories if c != anchor.category)
    dropped += other_cats
    return replace(intent, similar_to=anchor.id, categories=frozenset({anchor.category}),
                   colours=colours, materials=materials, exclude_colours=ex_c,
                   exclude_materials=ex_m, max_price=hi, min_price=lo, query=anchor.title,
                   exclude_ids=intent.exclude_ids | {anchor.id}), dropped


def _noun(intent: Intent, n: int) -> str:
    if len(intent.categories) == 1:
        name = next(iter(intent.categories)).split(">")[-1].strip()
        name = name.lower() if name[:1].isupper() and name[1:2].islower() else name
        # a catalog names its categories in plural or as mass nouns ("Cookware"): kept as
        # they are for several products, inflected to the singular for one
        return singular(name) if n == 1 else name
    return "product" if n == 1 else "products"


def _price_bits(intent: Intent, currency: str) -> list[str]:
    lo, hi = intent.min_price, intent.max_price
    upper = f"up to {format_price(hi, currency)}" if hi is not None else ""
    if hi is not None and abs(hi * 100 - round(hi * 100)) > 1e-7:
        upper = f"under {format_price(round(hi, 2), currency)}"  # a "cheaper" cap: strictly below
    if lo is not None and hi is not None:
        return [f"from {format_price(lo, currency)} {upper}"]
    if hi is not None:
        return [upper]
    if lo is not None:
        return [f"from {format_price(lo, currency)}"]
    return []


def summary(res: Resolution, products: Sequence[ProductView], *, others: int = 0) -> str:
    """One line that says what the slate is, for a chat bubble.

    E.g. "Found 8 rain jackets up to $150, not red." The cards carry the products; this line
    never lists them.

    Args:
        res: the resolved intent of the reply.
        products: the products shown.
        others: how many earlier products "show me others" left out.

    Returns:
        The line (product titles quoted as data).
    """
    intent = res.intent
    currency = products[0].currency if products else (
        res.anchor.currency if res.anchor else "USD")
    n = len(products)
    wanted = sorted(intent.colours) + sorted(intent.materials)
    # a wanted colour or material is said only when every product shown has it (the shop
    # relaxes it when too few products do)
    held = [w for w in wanted if all(has_phrase(p, w) for p in products)]
    adjectives = " ".join(held)
    noun = _noun(intent, max(n, 2) if n == 0 else n)
    what = f"{adjectives} {noun}".strip()
    bits: list[str] = []
    if res.cheaper_than is not None and res.anchor is None:
        bits.append(f"cheaper than {quote(res.cheaper_than.title, 60)} "
                    f"({format_price(float(res.cheaper_than.price), currency)})")
    else:
        bits += _price_bits(intent, currency)
    excluded = sorted(intent.exclude_colours | intent.exclude_materials)
    if excluded:
        bits.append("not " + ", ".join(excluded))
    relaxed = [w for w in wanted if w not in held]
    if relaxed and n:
        bits.append(f"not all {' or '.join(relaxed)} (too few match)")
    # "8 kites up to $60, not red" / "8 kites, not red"
    priced = bool(bits) and bits[0].startswith(("up to", "under", "from", "cheaper"))
    tail = ((" " if priced else ", ") + ", ".join(bits)) if bits else ""
    if res.anchor is not None:
        head = f"Like the {quote(res.anchor.title, 60)}: "
        body = (f"{n} similar {what}{tail}" if n else f"nothing similar{tail} is left")
        note = f" (dropped: {', '.join(res.dropped)})" if res.dropped else ""
        line = head + body + note + "."
    elif n == 0:
        line = f"I found no {what}{tail}; try fewer constraints."
    elif what in ("product", "products") and intent.query and res.anchor is None:
        words = re.sub(r"^(?:(?:for|with|to|a|an|the|some)\s+)+", "", intent.query.strip(),
                       flags=re.IGNORECASE) or intent.query
        line = f"Found {n} {'other ' if others else ''}{what} for {quote(words, 60)}{tail}."
    else:
        line = f"Found {n} {'other ' if others else ''}{what}{tail}."
    if others:
        line += f" The {others} shown before are left out."
    if res.unresolved:
        line = f"I showed nothing at {res.unresolved}, so I left that out. " + line
    return line[:1].upper() + line[1:]
