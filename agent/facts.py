"""Typed facts about one product for one shopper: the only things a reason may state.

:func:`extract_facts` reads the product's own data (title, category, attributes, brand,
phrases of its description, price) and the shopper's context (query words, the budget of the
parsed intent, products in the shopper's history when there are any) and returns
:class:`Fact` records. :mod:`agent.reasons` turns chosen facts into a sentence and
:mod:`agent.claims` checks free-form sentences against :func:`support_for`.

Product text is data: description sentences that look like instructions or chat turns
(:func:`looks_like_instruction`) are dropped, and every phrase taken from product copy is
reduced to one short line of plain words (:func:`clean_phrase`), so no line break, role
marker or command can reach a reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from agent.products import ProductView, format_price
from agent.prompts import sanitize_data
from agent.words import singular, word_forms, words

FactKind = Literal["price", "budget", "query", "history", "feature", "use", "style", "brand",
                   "attribute"]
Relation = Literal["bought", "viewed", "shown"]

# Attribute keys that name the head of the sentence ("red striped cotton scarf") rather than
# a fact of their own; common feed column names (Merchant Center: color, material, pattern).
_HEAD_KEYS = ("colour", "color", "pattern", "material")
_SKIP_KEYS = frozenset({"kind", "brand", "style", "id", "sku", "gtin", "mpn", "url", "link",
                        "image", "image_url", "title", "description", "price", "currency",
                        "availability", "in_stock", "category"})
_PLAIN_PATTERNS = frozenset({"solid", "plain", "none", "n/a", ""})
# Product copy that speaks to the reader of a prompt rather than about the product.
_INSTRUCTION = re.compile(
    r"\b(?:system|assistant|user|human|ai)\s*:|<\|?|\|>|\[/?inst\]|https?://|www\.|[{}<>]|"
    r"\b(?:ignore|disregard|forget|override|jailbreak|prompts?|instructions?|"
    r"say|respond|reply|repeat|pretend|roleplay|you\s+must|you\s+are\s+(?:an?|now))\b",
    re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n\r]+")
_FEATURE_LEAD = re.compile(
    r"\b(?:features?|details?|includes?|including|comes with|with|featuring)\s*:?\s+"
    r"(?P<x>[^.;:!?]+)", re.IGNORECASE)
_USE_LEAD = re.compile(r"\b(?:for|suits)\s+(?P<u>[^.;:,!?]+)", re.IGNORECASE)
# A clause that starts with one of these says something about the reader or refers back;
# it is not a feature phrase ("…, it suits weekends", "for anyone who loves …").
_NOT_PHRASE = frozenset("it its this that these those which who whom whose they them you your "
                        "we our us anyone everyone someone he she his her every each any all"
                        .split())
_LEADING = frozenset("a an the".split())
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9 &'\-/.%+]")


@dataclass(frozen=True)
class HistoryItem:
    """One product from the shopper's own history."""

    product: ProductView
    """The product."""
    relation: Relation = "viewed"
    """``bought`` (purchased), ``viewed`` (any other interaction) or ``shown`` (earlier in
    this conversation)."""


@dataclass(frozen=True)
class ShopperContext:
    """What a reason may say about the shopper: their words, budget and history."""

    query: str | None = None
    """The shopper's request, as typed."""
    budget: float | None = None
    """Highest price the shopper asked for (the parsed intent's ``max_price``); None: none."""
    history: tuple[HistoryItem, ...] = ()
    """Products the shopper bought or looked at, most recent last; empty for a new shopper."""
    key: str = ""
    """Stable id of the shopper or conversation; picks the wording so that repeated requests
    read the same."""

    @classmethod
    def of(cls, query: str | None = None, *, budget: float | None = None,
           history: Sequence[ProductView | HistoryItem] = (), relation: Relation = "viewed",
           key: str = "") -> ShopperContext:
        """Build a context; plain products in ``history`` get ``relation``."""
        items = tuple(h if isinstance(h, HistoryItem) else HistoryItem(ProductView.from_any(h),
                                                                        relation)
                      for h in history)
        return cls(query, budget, items, key)


@dataclass(frozen=True)
class Fact:
    """One statement a reason may make, with the values its wording needs."""

    kind: FactKind
    """What sort of fact."""
    slots: tuple[tuple[str, str], ...]
    """Template values, e.g. ``(("diff", "$12"), ("budget", "$50"))``."""
    rank: int = 0
    """Default priority when no model chooses (lower first): personal facts lead."""

    def get(self, name: str) -> str:
        """The value of slot ``name`` (KeyError when absent)."""
        return dict(self.slots)[name]

    @property
    def summary(self) -> str:
        """A short plain description (used in prompts and logs), e.g. ``budget: $12 under $50``."""
        return f"{self.kind}: " + ", ".join(v for _, v in self.slots)


@dataclass(frozen=True)
class ProductFacts:
    """Everything a reason about one product may say."""

    product: ProductView
    """The product."""
    noun: str
    """What it is (``"crossbody bag"``; the ``kind`` attribute or the singular category)."""
    descriptors: tuple[str, ...]
    """Colour, pattern and material words in front of the noun."""
    price: str | None
    """Formatted price; None when the price is not positive (a reason never says "costs 0")."""
    facts: tuple[Fact, ...]
    """Optional facts, in default order."""
    clean_description: tuple[str, ...] = field(default=())
    """Description sentences kept as data (instruction-like ones dropped)."""


def looks_like_instruction(text: str) -> bool:
    """True when product copy addresses a model or a reader (role markers, commands, links).

    Args:
        text: one sentence of merchant text.

    Returns:
        Whether the sentence must not be used as a fact or as support.

    """
    return bool(_INSTRUCTION.search(text or ""))


def clean_phrase(text: str, max_words: int = 6, max_chars: int = 48) -> str | None:
    """One short line of plain words from product text, or None when unusable.

    Args:
        text: merchant text.
        max_words: most words kept (longer phrases are rejected, not cut).
        max_chars: most characters.

    Returns:
        The phrase (no line breaks, quotes, brackets or role markers), or None.

    """
    raw = sanitize_data(text, 400)
    if not raw or looks_like_instruction(raw):
        return None
    s = re.sub(r"\s+", " ", _UNSAFE_CHARS.sub(" ", raw)).strip(" -/.,&'")
    parts = s.split()
    while parts and parts[0].lower() in _LEADING:
        parts = parts[1:]
    if not parts or len(parts) > max_words:
        return None
    s = " ".join(parts)
    return s if len(s) <= max_chars else None


def description_sentences(description: str) -> tuple[str, ...]:
    """Sentences of a description that are data about the product (instruction-like dropped)."""
    out = []
    for m in _SENTENCE.finditer(sanitize_data(description, 2000).replace(" | ", ". ")):
        s = m.group(0).strip()
        if s and not looks_like_instruction(s):
            out.append(s)
    return tuple(out)


def _attrs(product: ProductView) -> dict[str, str]:
    return {str(k).strip().lower(): str(v).strip() for k, v in
            dict(product.attributes or {}).items() if str(v).strip()}


def _phrases(text: str, max_words: int) -> list[str]:
    """Comma/``and``-separated items of a clause, stopping at one that refers back."""
    out = []
    for item in re.split(r",|;|\band\b|\bor\b", text):
        first = (item.strip().split() or [""])[0].lower()
        if first in _NOT_PHRASE:
            break
        p = clean_phrase(item, max_words)
        if p and not (set(words(p)) & _NOT_PHRASE):
            out.append(p)
    return out


def _features(sentences: Sequence[str]) -> tuple[list[str], list[str]]:
    feats: list[str] = []
    uses: list[str] = []
    for s in sentences:
        for m in _FEATURE_LEAD.finditer(s):
            x = re.split(r"\bfor\b|\bsuits\b", m.group("x"), maxsplit=1)[0]
            feats += [p for p in _phrases(x, 4) if p.lower() not in (f.lower() for f in feats)]
        for m in _USE_LEAD.finditer(s):
            u = m.group("u").strip()
            if (set(words(u)) & _NOT_PHRASE) or len(u.split()) > 4 or \
                    not any(len(w) > 3 and w.isalpha() for w in words(u)):
                continue
            p = clean_phrase(u, 4)
            if p and p.lower() not in (x.lower() for x in uses):
                uses.append(p)
    return feats, uses


def short_name(product: ProductView) -> str:
    """How a reason names another product: brand + kind (``"Quill crossbody bag"``) or its title."""
    a = _attrs(product)
    noun = a.get("kind") or singular(product.category)
    brand = a.get("brand")
    name = clean_phrase(f"{brand} {noun}" if brand else str(product.title), 6, 48)
    return name or clean_phrase(noun, 4) or "item"


def _query_matches(query: str, product: ProductView) -> list[str]:
    """Words of the query that the product's title, category or attributes contain."""
    a = _attrs(product)
    have = word_forms(" ".join([product.title, product.category, *a.values()]))
    out: list[str] = []
    for w in words(query):
        if len(w) > 2 and not w[0].isdigit() and w not in _QUERY_STOP and w not in out \
                and (word_forms(w) & have):
            out.append(w)
    return out


_QUERY_STOP = frozenset("a an the and or for with in on of to my me i im i'm want need looking "
                        "some something show find please under below over above than less "
                        "more like not no any cheap cheaper good nice new one that this these "
                        "those is are it its can you get buy".split())


def _history_fact(product: ProductView, history: Sequence[HistoryItem]) -> Fact | None:
    """The most recent history product this one shares a colour, style or material with."""
    mine = _attrs(product)
    for item in reversed(list(history)[-5:]):
        other = item.product
        if other.id == product.id:
            continue
        theirs = _attrs(other)
        for key in ("colour", "color", "style", "material", "brand"):
            v = mine.get(key)
            if v and theirs.get(key, "").lower() == v.lower():
                value = clean_phrase(v, 3)
                if not value:
                    continue
                same_cat = other.category.strip().lower() == product.category.strip().lower()
                return Fact("history", (("other", short_name(other)), ("rel", item.relation),
                                        ("key", "colour" if key == "color" else key),
                                        ("value", value if key == "brand" else value.lower()),
                                        ("link", "like" if same_cat else "pair")), rank=0)
    return None


def _noun(product: ProductView, a: dict[str, str]) -> str:
    """What the product is: its ``kind``, else its title without the brand, else its category."""
    if a.get("kind") and (k := clean_phrase(a["kind"], 4)):
        return k
    title = str(product.title)
    brand = a.get("brand", "")
    if brand and title.lower().startswith(brand.lower()):
        title = title[len(brand):]
    t = clean_phrase(title, 6)
    if t:
        return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in t.split())
    return clean_phrase(singular(product.category), 4) or "item"


def extract_facts(product: ProductView, shopper: ShopperContext | None = None) -> ProductFacts:
    """Typed facts of ``product`` for ``shopper``.

    Args:
        product: the product.
        shopper: the shopper's words, budget and history (None: nothing known).

    Returns:
        The noun, head descriptors, price and optional facts (personal ones first).

    """
    shopper = shopper or ShopperContext()
    a = _attrs(product)
    noun = _noun(product, a)
    desc: list[str] = []
    for key in _HEAD_KEYS:
        v = a.get(key)
        if v and not (key == "pattern" and v.lower() in _PLAIN_PATTERNS):
            p = clean_phrase(v, 3)
            if p and not set(words(p)) & set(words(noun)) and \
                    p.lower() not in (d.lower() for d in desc):
                desc.append(p.lower())
    price_ok = float(product.price) > 0
    price = format_price(float(product.price), str(product.currency)) if price_ok else None
    facts: list[Fact] = []
    budget = shopper.budget
    if price_ok and budget is not None and budget > 0 and float(product.price) <= budget:
        diff = budget - float(product.price)
        cur = str(product.currency)
        if diff >= 1:
            facts.append(Fact("budget", (("diff", format_price(round(diff), cur)),
                                         ("budget", format_price(budget, cur))), rank=0))
        else:
            facts.append(Fact("budget", (("budget", format_price(budget, cur)),), rank=0))
    hist = _history_fact(product, shopper.history) if shopper.history else None
    if hist is not None:
        facts.append(hist)
    matched = _query_matches(shopper.query or "", product)
    if matched:
        facts.append(Fact("query", (("words", " ".join(matched[:3])),), rank=1))
    sentences = description_sentences(product.description or "")
    feats, uses = _features(sentences)
    head_words = word_forms(" ".join([noun, *desc, *a.keys()]))
    for f in [f for f in feats if not word_forms(f) <= head_words][:3]:
        facts.append(Fact("feature", (("value", f.lower()),), rank=2))
    for u in uses[:1]:
        facts.append(Fact("use", (("value", u.lower()),), rank=3))
    if a.get("style") and (s := clean_phrase(a["style"], 2)):
        facts.append(Fact("style", (("value", s.lower()),), rank=4))
    if a.get("brand") and (b := clean_phrase(a["brand"], 4)):
        facts.append(Fact("brand", (("value", b),), rank=5))
    for key, v in a.items():
        if key in _SKIP_KEYS or key in _HEAD_KEYS or len(facts) >= 9:
            continue
        k, val = clean_phrase(key.replace("_", " "), 3), clean_phrase(v, 4)
        if k and val:
            facts.append(Fact("attribute", (("key", k.lower()), ("value", val)), rank=4))
    facts.sort(key=lambda f: f.rank)
    return ProductFacts(product, noun, tuple(desc), price, tuple(facts), sentences)
