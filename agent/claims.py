"""Claim-level checker: every content word of a reason must be supported.

A sentence is split into words; function words (a short stop list) and the frame words of the
constructed wordings (``prompts/reason_phrases.txt``) carry no claim. Every other word, in
any inflected form (:mod:`agent.words`), must occur in the product's own data (title,
category, attribute names and values, description sentences that are data) or in the
shopper's context: history words ("bought", "looked at", the names of history products) only
when the shopper has such a history, budget words only when a budget was given, the
shopper's own words only inside quotes. Every number must be the product's price, the budget,
the difference between them, a number of the product's own text or a history product's price.
Unsupported words are reported as phrases (runs of adjacent unsupported words), e.g.
``"variety of colors"``.

There is deliberately no list of colours or materials: a word is supported because the
product's data contains it, not because it is in a category the checker knows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from agent.facts import ProductFacts, ShopperContext, extract_facts, looks_like_instruction
from agent.products import ProductView
from agent.reasons import frame_words
from agent.words import forms, word_forms, words

# Function words: they state nothing about a product.
STOP_WORDS = frozenset("""
a an the this that these those it its it's they them their there here
and or but so as if then than also both either too very just really quite
of in on at to for from by with into onto over about per via out up
is are was were be been being am has have had do does did can could will would
should may might must shall get gets got make makes made come comes came
you your yours you're you've we our us i me my
which who whom whose what when where while how
one ones any some each every all more most
good great nice choice pick option fits fit fitting because
cost costs price priced
""".split())
# Words that claim a history (only true when the shopper has one).
HISTORY_WORDS = frozenset("bought purchased ordered looked viewed saw "
                          "seen earlier before previously history past recently recent last "
                          "again".split())
# Words that link the product to a history product ("goes with", "same colour as").
LINK_WORDS = frozenset("same also goes pairs pair match matches matching like similar "
                       "complements".split())
# Words that claim a budget (only true when the shopper gave one the price is within).
BUDGET_WORDS = frozenset("budget afford affordable spend set".split())
_NUMBER = re.compile(r"(?<![a-z0-9])[$€£¥]?\s?(\d[\d,]*(?:\.\d+)?)")
_QUOTED = re.compile(r"[\"“”‘’']([^\"“”‘’']{1,80})[\"“”‘’']")
_BAD_FORMAT = re.compile(r"[\r\n]|<\|?|\|>|\b(?:system|assistant|user|human)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Support:
    """What may be said about one product for one shopper."""

    words: frozenset[str]
    """Supported word forms."""
    numbers: tuple[float, ...]
    """Supported amounts."""
    quoted: frozenset[str]
    """Word forms of the shopper's own words (allowed inside quotes only)."""
    frame: frozenset[str]
    """Words that carry no claim."""
    shared: frozenset[str] = frozenset()
    """Word forms of what the product shares with a history product (colour, style…)."""
    keys: frozenset[str] = frozenset()
    """Attribute names of the product (``colour``, ``style``): not claims by themselves."""
    history: frozenset[str] = frozenset()
    """Words only history products have: allowed only in a clause that names the history."""


def _numbers(text: str) -> list[float]:
    out = []
    for m in _NUMBER.finditer(text or ""):
        try:
            out.append(float(m.group(1).replace(",", "")))
        except ValueError:
            continue
    return out


def support_for(product: ProductView | ProductFacts,
                shopper: ShopperContext | None = None) -> Support:
    """The words and numbers a sentence about ``product`` for ``shopper`` may use.

    Args:
        product: the product (or its already extracted facts).
        shopper: the shopper's words, budget and history.

    Returns:
        The :class:`Support`.

    """
    shopper = shopper or ShopperContext()
    pf = product if isinstance(product, ProductFacts) else extract_facts(product, shopper)
    p = pf.product
    attrs = {str(k): str(v) for k, v in dict(p.attributes or {}).items()}
    keys = " ".join(attrs)
    if "color" in attrs or "colour" in attrs:
        keys += " colour color"
    texts = [p.title, p.category, keys, " ".join(attrs.values()), pf.noun,
             " ".join(pf.descriptors), *pf.clean_description,
             *(v for f in pf.facts if f.kind != "history" for k, v in f.slots)]
    supported = set(word_forms(" ".join(t for t in texts if not looks_like_instruction(t))))
    nums = [float(p.price)] if float(p.price) > 0 else []
    nums += _numbers(" ".join(pf.clean_description + (p.title,) + tuple(attrs.values())))
    frame = set(frame_words() | STOP_WORDS) - HISTORY_WORDS - BUDGET_WORDS
    if shopper.budget is not None and 0 < float(p.price) <= shopper.budget:
        frame |= BUDGET_WORDS - {"affordable"}
        nums += [shopper.budget, shopper.budget - float(p.price),
                 round(shopper.budget - float(p.price))]
    history_words: set[str] = set(word_forms(" ".join(
        v for f in pf.facts if f.kind == "history" for k, v in f.slots
        if k not in ("rel", "link"))))
    relations = {h.relation for h in shopper.history}
    if relations:
        gated = {"looked", "viewed", "saw", "seen", "earlier", "before", "previously",
                 "history", "past", "recently", "recent", "last", "again"}
        if "bought" in relations:
            gated |= {"bought", "purchased", "ordered"}
        frame |= gated
        for h in shopper.history:
            hp = h.product
            history_words |= word_forms(" ".join([hp.title, hp.category,
                                                  *map(str, dict(hp.attributes or {}).values())]))
            if float(hp.price) > 0:
                nums.append(float(hp.price))
    quoted = word_forms(shopper.query or "")
    return Support(frozenset(supported), tuple(nums), frozenset(quoted), frozenset(frame),
                   _shared_with_history(p, shopper), word_forms(keys),
                   frozenset(history_words - supported))


def _shared_with_history(p: ProductView, shopper: ShopperContext) -> frozenset[str]:
    """Attribute values the product shares with a history product (what links them)."""
    mine = {str(k).lower(): str(v).lower() for k, v in dict(p.attributes or {}).items()}
    out: set[str] = set()
    for h in shopper.history:
        for k, v in dict(h.product.attributes or {}).items():
            if mine.get(str(k).lower()) == str(v).lower():
                out |= word_forms(str(v))
        if h.product.category.strip().lower() == p.category.strip().lower():
            out |= word_forms(p.category)
    return frozenset(out)


def _supported_word(w: str, sup: Support, allowed: frozenset[str]) -> bool:
    w = w.strip("'-")
    if w.endswith("'s"):
        w = w[:-2]
    if not w or w in STOP_WORDS:
        return True
    if w[0].isdigit():
        return True  # numbers are checked on their own
    f = forms(w)
    if f & sup.frame or f & sup.words or f & allowed:
        return True
    if "-" in w:
        parts = [x for x in w.split("-") if x]
        return bool(parts) and all(_supported_word(x, sup, allowed) for x in parts)
    return False


def _runs(tokens: list[str], bad: list[bool]) -> Iterable[str]:
    run: list[str] = []
    for t, b in zip(tokens, bad, strict=True):
        if b:
            run.append(t)
        elif run and t in STOP_WORDS and len(run) < 6:
            run.append(t)  # "variety of colors" stays one phrase
        elif run:
            while run and run[-1] in STOP_WORDS:
                run.pop()
            yield " ".join(run)
            run = []
    while run and run[-1] in STOP_WORDS:
        run.pop()
    if run:
        yield " ".join(run)


_CLAUSE = re.compile(r"[;:!?()]|[.,](?!\d)|\s[-–—]\s")
# "your search for X", "you asked for X", "the X you asked for", "your X style": X must be the
# shopper's own words (or a budget / request word of the wordings).
_SEARCH_FOR = re.compile(r"\b(?:search(?:ed)?|request|asked|looking|wanted|want)\s+for\s+"
                         r"(?P<x>[^,;:.!?()]+)", re.IGNORECASE)
_ASKED = re.compile(r"\bthe\s+(?P<x>[^,;:.!?()]+?)\s+you\s+(?:asked|searched|wanted)",
                    re.IGNORECASE)
_YOUR = re.compile(r"\byour\s+(?P<x>[^,;:.!?()]+)", re.IGNORECASE)
_SHOPPER_NOUNS = frozenset("budget search request".split())


def _attribute_numbers(text: str, p: ProductView) -> list[str]:
    """A number next to an attribute name must be that attribute's number.

    "a 1.3 kg capacity" for a product with ``capacity = 45 L`` and ``weight = 1.3 kg`` uses
    only supported words and numbers; the pairing is the claim.
    """
    attrs = {str(k).lower(): str(v) for k, v in dict(p.attributes or {}).items()}
    numeric = {k: _numbers(v) for k, v in attrs.items() if _numbers(v)}
    out = []
    for clause in _CLAUSE.split(text):
        nums = _numbers(clause)
        if not nums:
            continue
        cforms = word_forms(clause)
        for key, want in numeric.items():
            if not (forms(words(key)[-1]) & cforms if words(key) else False):
                continue
            for n in nums:
                if not any(abs(n - w) < 1e-9 for w in want) and any(
                        abs(n - w) < 1e-9 for k2, ws in numeric.items() if k2 != key
                        for w in ws):
                    out.append(f"number {n:g} is not the product's {key}")
    return out


def _shopper_claims(text: str, sup: Support) -> list[str]:
    """Claims about what the shopper said must use the shopper's words."""
    out = []
    for rx in (_SEARCH_FOR, _ASKED, _YOUR):
        for m in rx.finditer(text):
            toks = words(m.group("x"))
            if rx is _SEARCH_FOR or rx is _YOUR:
                cut = []
                for t in toks:  # the phrase ends at the first function word after a content word
                    if t in STOP_WORDS and cut and (t != "for" or rx is _YOUR):
                        break
                    cut.append(t)
                toks = cut
            for t in toks:
                if t in STOP_WORDS or t[0].isdigit() or forms(t) & sup.quoted or \
                        t in _SHOPPER_NOUNS:
                    continue
                out.append(f"{t!r} is not something the shopper said")
    return out


def _link_problems(text: str, sup: Support) -> list[str]:
    """A sentence that links the product to a history product must name only what they share.

    The words after "same" / "also" (up to the next function word) are the shared value
    ("same red colour as", "also casual"); attribute names ("colour") are skipped.
    """
    if not any(forms(t) & sup.shared for t in words(text)):
        return ["link to a history product names nothing they share"]
    out = []
    for clause in re.split(r"[,;:.!?()]|\s[-–—]\s", text):
        tokens = words(clause)
        for i, t in enumerate(tokens):
            if t not in ("same", "also"):
                continue
            for w in tokens[i + 1: i + 4]:
                if w in STOP_WORDS or w == "as":
                    break
                if w in sup.keys:
                    continue
                if not forms(w) & sup.shared:
                    out.append(f"{w!r} is not shared with the history product")
    return out


def check_claims(text: str, product: ProductView | ProductFacts,
                 shopper: ShopperContext | None = None) -> list[str]:
    """Problems of a sentence about ``product`` for ``shopper`` (empty list: every claim holds).

    Args:
        text: the sentence.
        product: the product (or its extracted facts).
        shopper: the shopper's context (None: nothing known, so no history or budget claims).

    Returns:
        Human-readable problems, e.g. ``"unsupported: 'variety of colors'"``,
        ``"number 0 is not the price, the budget or a number of the product"``.

    """
    problems: list[str] = []
    text = text or ""
    if _BAD_FORMAT.search(text):
        problems.append("line break, chat-template token or role marker in the reason")
    if looks_like_instruction(text):
        problems.append("reads like an instruction, not a fact")
    sup = support_for(product, shopper)
    allowed: set[str] = set()
    for m in _QUOTED.finditer(text):
        span = word_forms(m.group(1))
        if span and all(forms(w) & sup.quoted for w in words(m.group(1))):
            allowed |= span
    tokens: list[str] = []
    bad: list[bool] = []
    for clause in _CLAUSE.split(text):
        ctoks = words(clause)
        here = frozenset(allowed | (sup.history if set(ctoks) & HISTORY_WORDS else set()))
        tokens += ctoks
        bad += [not _supported_word(t, sup, here) for t in ctoks]
    problems += [f"unsupported: {r!r}" for r in _runs(tokens, bad)]
    problems += _shopper_claims(text, sup)
    problems += _attribute_numbers(text, product if isinstance(product, ProductView)
                                   else product.product)
    if set(tokens) & HISTORY_WORDS and set(tokens) & LINK_WORDS:
        problems += _link_problems(text, sup)
    for n in _numbers(text):
        if not any(abs(n - x) <= max(0.01 * abs(x), 0.005) or
                   (abs(n - round(x)) < 1e-9 and abs(x - round(x)) < 0.5 and n > 0)
                   for x in sup.numbers):
            problems.append(f"number {n:g} is not the price, the budget or a number of the "
                            "product")
    return problems
