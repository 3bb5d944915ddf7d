"""Turn a shopper's chat message into constraints (an :class:`Intent`) and reactions.

The rule-based parser always runs: price phrases (:mod:`agent.prices`) become bounds, and the
shop's vocabulary (:class:`IntentVocab`: its categories, colours and materials with synonyms,
phrases and plurals, built from the catalog and config by ``shelfwise.vocabulary``) names
the wanted and refused facts; a word the vocabulary does not know stays in the search query,
so a catalog without jackets never gets a "jackets" filter. A chat model, when given, fills
a JSON schema over the shop's vocabulary (:mod:`agent.intent_llm`, which documents how its
answer is checked and merged with the rules'); invalid output keeps the rule-based result and
is counted in :data:`INTENT_STATS`. A ``previous`` intent is merged: follow-ups such as
"cheaper", "not leather", "more like the second one" or "show me others" refine the last
request (the assistant resolves what they refer to, :mod:`agent.conversation`). Word forms
(singular, plural) come from the ``inflect`` library.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from agent.prices import parse_prices
from agent.words import DEFAULT_COLOURS, DEFAULT_MATERIALS

if TYPE_CHECKING:  # LangChain costs ~0.4 s of import; only model calls need it
    from langchain_core.language_models import BaseChatModel

logger = logging.getLogger(__name__)

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
_PICK = r"(?:#\s?(\d+)|(?:number|no\.?|item|option)\s?(\d+)|(?:the\s+)?(" + "|".join(
    _ORDINALS) + r")(?:\s+one)?|\b(\d+)\b)"
_PURCHASE_RE = r"\b(?:buy|purchase|order|take|add)\s+(?:me\s+)?" + _PICK
_CLICK_RE = r"\b(?:like|love|open|view|details\s+(?:of|on|for))\s+" + _PICK
_REF = r"(?:#\s?(\d+)|(?:number|no\.?|item|option)\s?(\d+)|(?:the\s+)?(" + "|".join(
    _ORDINALS) + r")(?:\s+one)?)"
"""A shown product by position, without bare numbers (``cheaper than 50`` is a price)."""
_OTHERS_RE = (r"\b(?:(?:some|any|the|show me)\s+)?(?:others|other ones|other options|"
              r"something else|anything else|something different|different ones|"
              r"more options|more of (?:these|them|those)|next ones?|new ones)\b|"
              r"^\s*(?:show me\s+)?(?:more|others?)(?:\s+please)?\s*[.!?]*\s*$")
_SEARCH_WORDS = frozenset({"more", "similar", "something", "anything", "others", "things",
                           "stuff", "items", "ones"})
_TOKEN = re.compile(r"[a-z0-9][a-z0-9\-'&]*")
_NEGATORS = frozenset({"not", "no", "without", "except", "non", "avoid", "nothing"})
_MAX_PHRASE = 4
"""Longest vocabulary phrase (in words) the parser looks for."""


def word_forms(phrase: str) -> set[str]:
    """Singular and plural forms of a word or phrase (its last word is inflected).

    ``"rain jacket"`` → ``{"rain jacket", "rain jackets"}``; ``"scarves"`` → ``{"scarves",
    "scarf"}``; ``"accessory"`` → ``{"accessory", "accessories"}``. Forms come from the
    ``inflect`` library (:func:`agent.words.forms`).
    """
    from agent.words import forms

    words = phrase.lower().split()
    if not words:
        return set()
    head = " ".join(words[:-1])
    return {f"{head} {f}".strip() for f in forms(words[-1]) | {words[-1]}}


def singular(phrase: str) -> str:
    """The singular of a noun phrase (its last word, by ``inflect``): ``"scarves"`` → ``"scarf"``.

    Case is kept except on the inflected word; a singular word is returned unchanged.
    """
    from agent.words import singular as one

    words = phrase.split(" ")
    last = one(words[-1])
    return " ".join([*words[:-1], words[-1] if last == words[-1].lower() else last])


def plural(phrase: str, count: int = 2) -> str:
    """A noun phrase agreeing with ``count`` (last word inflected by ``inflect``).

    ``plural("rain jacket", 8)`` → ``"rain jackets"``; ``plural("scarves", 1)`` → ``"scarf"``.
    """
    from agent.words import ENGINE

    one = singular(phrase)
    if count == 1:
        return one
    words = one.split(" ")
    try:
        many = str(ENGINE.plural_noun(words[-1]) or words[-1])
    except Exception:  # noqa: BLE001 - inflect rejects odd tokens; keep the word
        many = words[-1]
    return " ".join([*words[:-1], many])


@dataclass(frozen=True)
class IntentVocab:
    """The words the intent parser recognises, all from the shop (catalog and config).

    Nothing here names a shop's categories: the application layer builds the vocabulary from
    the catalog (``shelfwise.vocabulary``). Without one, no word is a category and the
    message's words go to the search query; colours and materials fall back to generic
    English word lists (:data:`agent.words.DEFAULT_COLOURS` / ``DEFAULT_MATERIALS``), so
    that "not red" or "no leather" still exclude products whose facts name them.
    Entries may be phrases ("rain jacket"); singular and plural forms are matched.
    """

    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Canonical category (exactly as the catalog names it) → lower-case words and phrases
    that name it (``{category: (its singular, its head word, each configured synonym)}``)."""
    colours: frozenset[str] = frozenset(DEFAULT_COLOURS)
    """Colour words and phrases (lower case)."""
    materials: frozenset[str] = frozenset(DEFAULT_MATERIALS)
    """Material words and phrases (lower case)."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Synonym → the colour or material it stands for (``"crimson": "red"``)."""

    @classmethod
    def from_lists(cls, categories: Iterable[str], colours: Iterable[str],
                   materials: Iterable[str],
                   synonyms: Mapping[str, Iterable[str]] | None = None) -> IntentVocab:
        """Build from plain lists.

        Args:
            categories: canonical category names, as the catalog names them.
            colours: colour words.
            materials: material words.
            synonyms: words per canonical category (matched case-insensitively to it).

        Returns:
            The vocabulary.

        """
        syn = {str(k).lower(): tuple(str(w).lower() for w in v)
               for k, v in (synonyms or {}).items()}
        cats = {c: tuple(dict.fromkeys(syn.get(c.lower(), ()))) for c in categories}
        return cls(cats, frozenset(x.lower() for x in colours),
                   frozenset(x.lower() for x in materials))

    def lookup(self) -> dict[str, str]:
        """Every recognised category word or phrase (singular and plural forms) → category.

        A canonical name wins over another category's synonym; between synonyms, the first
        category listed wins.
        """
        return dict(self._phrases()["category"])

    def _phrases(self) -> dict[str, dict[str, str]]:
        cached = self.__dict__.get("_phrase_cache")
        if cached is not None:
            return cached
        cats: dict[str, str] = {}
        for canon in self.categories:
            for form in word_forms(canon):
                cats.setdefault(form, canon)
        for canon, syns in self.categories.items():
            for word in syns:
                for form in word_forms(word):
                    cats.setdefault(form, canon)
        out = {"category": cats}
        for kind, words in (("colour", self.colours), ("material", self.materials)):
            table = {w: w for w in words}
            for alias, value in self.aliases.items():
                if value in words:
                    table.setdefault(alias, value)
            out[kind] = table
        object.__setattr__(self, "_phrase_cache", out)  # frozen: cache the derived table
        return out

    def category_of(self, word: str) -> str | None:
        """The canonical category a word or phrase names, or None."""
        return self._phrases()["category"].get(" ".join(word.lower().split()))

    def find(self, tokens: Sequence[str]) -> list[tuple[int, int, str, str]]:
        """Vocabulary phrases in a token list, longest match first, left to right.

        Args:
            tokens: lower-case words of a message.

        Returns:
            ``(start, end, kind, canonical)`` per match; ``kind`` is ``colour``,
            ``material`` or ``category`` (colours and materials win over categories when a
            phrase is both).

        """
        tables = self._phrases()
        out: list[tuple[int, int, str, str]] = []
        i = 0
        while i < len(tokens):
            for n in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
                phrase = " ".join(tokens[i:i + n])
                kind = next((k for k in ("colour", "material", "category")
                             if phrase in tables[k]), None)
                if kind is not None:
                    out.append((i, i + n, kind, tables[kind][phrase]))
                    i += n
                    break
            else:
                i += 1
        return out


@dataclass(frozen=True)
class Reaction:
    """A shopper's reaction to a shown product, by its 1-based position in the last slate."""

    kind: Literal["click", "purchase"]
    """``click`` (like, open, show) or ``purchase`` (buy, add to cart)."""
    pick: int
    """1-based position in the last slate shown; ``-1`` for "the last one"."""


@dataclass(frozen=True)
class Intent:
    """Constraints and preferences expressed in chat (all optional)."""

    categories: frozenset[str] = frozenset()
    """Canonical categories wanted."""
    colours: frozenset[str] = frozenset()
    """Colours wanted."""
    materials: frozenset[str] = frozenset()
    """Materials wanted."""
    exclude_colours: frozenset[str] = frozenset()
    """Colours refused ("no red")."""
    exclude_materials: frozenset[str] = frozenset()
    """Materials refused ("not leather")."""
    max_price: float | None = None
    """Upper price bound (inclusive)."""
    min_price: float | None = None
    """Lower price bound (inclusive)."""
    cheaper: bool = False
    """The shopper asked for cheaper options than those shown."""
    more_like: int | None = None
    """1-based position of a shown product to find similar ones ("more like #3")."""
    query: str = ""
    """Free-text search query (the message minus the parsed constraints)."""
    reactions: tuple[Reaction, ...] = ()
    """Reactions in the same message ("I like the second one")."""
    similar_to: str | None = None
    """Product id that ``more_like`` refers to (resolved by the assistant from its last slate)."""
    cheaper_than: int | None = None
    """1-based position of a shown product the shopper wants cheaper than ("cheaper than the
    second one"); None with ``cheaper``: cheaper than the cheapest shown."""
    others: bool = False
    """The shopper asked for other products than those shown ("show me others")."""
    exclude_ids: frozenset[str] = frozenset()
    """Products not to show (set by the assistant: the shown ones for ``others``)."""
    source: Literal["rule", "model"] = "rule"
    """Who parsed the message: ``rule`` (the rule parser alone) or ``model`` (the chat
    model's structured answer added to it, see :mod:`agent.intent_llm`)."""

    def merge(self, previous: Intent | None) -> Intent:
        """Apply this follow-up on top of ``previous`` (which may be None).

        New categories / colours / materials replace the old ones when given; exclusions
        accumulate (and a newly wanted value is no longer excluded); price bounds are kept
        unless restated (a kept bound that contradicts a restated one is dropped: "over 100"
        then "under 50" means under 50); ``cheaper``, ``cheaper_than``, ``more_like``,
        ``others``, ``exclude_ids``, ``similar_to``, ``source`` and ``reactions`` are per
        message. A message that names other categories than before starts a new request:
        the earlier price bounds and wanted colours and materials (said about the other
        products) are dropped, the exclusions ("not red") stay.
        """
        if previous is None:
            return self
        if self.categories and previous.categories and self.categories != previous.categories:
            previous = Intent(exclude_colours=previous.exclude_colours,
                              exclude_materials=previous.exclude_materials)
        hi = self.max_price if self.max_price is not None else previous.max_price
        lo = self.min_price if self.min_price is not None else previous.min_price
        if lo is not None and hi is not None and lo > hi:
            if self.max_price is None:
                hi = None
            else:
                lo = None
        ex_c = (previous.exclude_colours - self.colours) | self.exclude_colours
        ex_m = (previous.exclude_materials - self.materials) | self.exclude_materials
        return Intent(
            categories=self.categories or previous.categories,
            colours=(self.colours or previous.colours) - ex_c,
            materials=(self.materials or previous.materials) - ex_m,
            exclude_colours=ex_c, exclude_materials=ex_m,
            max_price=hi, min_price=lo, cheaper=self.cheaper, more_like=self.more_like,
            query=self.query or previous.query, reactions=self.reactions,
            similar_to=self.similar_to, cheaper_than=self.cheaper_than, others=self.others,
            exclude_ids=self.exclude_ids, source=self.source)


@dataclass
class IntentStats:
    """Counters of the model-assisted parser."""

    llm_used: int = 0
    """Model answers that validated and were used."""
    llm_invalid: Counter[str] = field(default_factory=Counter)
    """Model answers rejected, by reason (``json``, ``schema``, ``error``), and answers whose
    values outside the shop's vocabulary were dropped (``vocab``)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


INTENT_STATS = IntentStats()
"""Process-wide counters of :func:`parse_intent` (model answers used / rejected)."""


def _pick_value(m: re.Match[str]) -> int | None:
    for g in m.groups():
        if g:
            return _ORDINALS[g.lower()] if g.lower() in _ORDINALS else int(g)
    return None


def parse_reaction(message: str) -> list[Reaction]:
    """Reactions to shown products in a message.

    ``"I like the second one"`` / ``"open 3"`` / ``"show me #2"`` → click;
    ``"add #4 to cart"`` / ``"buy 2"`` / ``"I'll take the first one"`` → purchase.

    Args:
        message: the shopper's message.

    Returns:
        Reactions in message order (possibly empty).

    """
    text = (message or "").lower()
    out: list[Reaction] = []
    patterns: list[tuple[Literal["click", "purchase"], str]] = [
        ("purchase", _PURCHASE_RE), ("click", _CLICK_RE)]
    spans: list[tuple[int, Reaction]] = []
    for kind, pat in patterns:
        for m in re.finditer(pat, text):
            before = text[: m.start()].split()
            if kind == "click" and m.group(0).startswith("like") and (
                    not before or before[-1] in _SEARCH_WORDS):
                continue  # "like #3" / "more like #3" ask for similar products, not a click
            v = _pick_value(m)
            if v is not None and v != 0:
                spans.append((m.start(), Reaction(kind, v)))
    for _, r in sorted(spans, key=lambda t: t[0]):
        if r not in out:
            out.append(r)
    return out


def _rule_intent(message: str, vocab: IntentVocab) -> Intent:
    text = (message or "").lower()
    prices = parse_prices(text)
    rest = prices.rest
    cheaper = bool(re.search(r"\b(?:cheaper|less expensive|lower price|more affordable)\b",
                             text)) and not re.search(r"cheaper than\s*\$?\d", text)
    cheaper_than = None
    m = re.search(r"\b(?:cheaper|less expensive|more affordable)\s+than\s+" + _REF, rest)
    if m:
        cheaper, cheaper_than = True, _pick_value(m)
        rest = rest.replace(m.group(0), " ")
    others = False
    m = re.search(_OTHERS_RE, rest)
    if m:
        others = True
        rest = rest.replace(m.group(0), " ")
    more_like = None
    m = re.search(r"\b(?:more|similar|others?)\s+(?:like|to)\s+" + _PICK, rest) or \
        re.search(r"^\s*like\s+" + _PICK + r"\s*$", rest)
    if m:
        more_like = _pick_value(m)
        rest = rest.replace(m.group(0), " ")

    spans = list(_TOKEN.finditer(rest))
    words = [t.group(0) for t in spans]
    # clause of each word: a negation ("no black, polyester") ends at punctuation
    clause = [len(re.findall(r"[,;.!?]", rest[: t.start()])) for t in spans]
    negated: set[int] = set()
    for i, w in enumerate(words):
        if w in _NEGATORS:
            negated.update(j for j in range(i + 1, min(i + 3, len(words)))
                           if clause[j] == clause[i])
        if w in ("but", "and") and i in negated:
            negated.discard(i)
            negated.discard(i + 1)
    cats: set[str] = set()
    cols: set[str] = set()
    mats: set[str] = set()
    ex_c: set[str] = set()
    ex_m: set[str] = set()
    refused: list[str] = []
    for start, end, kind, canon in vocab.find(words):
        neg = start in negated
        if neg:
            refused.append(" ".join(words[start:end]))
        if kind == "colour":
            (ex_c if neg else cols).add(canon)
        elif kind == "material":
            (ex_m if neg else mats).add(canon)
        elif not neg:
            cats.add(canon)
    min_price, max_price = prices.min_price, prices.max_price
    for w in refused:
        rest = re.sub(rf"\b(?:not|no|without|except|avoid)\s+{re.escape(w)}\b", " ", rest)
    for pat in (_PURCHASE_RE, _CLICK_RE):
        rest = re.sub(pat, " ", rest)
    rest = re.sub(r"\bto (?:my |the )?(?:cart|basket)\b", " ", rest)
    rest = re.sub(r"\b(?:cheaper|please|show me|i want|i'm looking for|looking for|"
                  r"something|anything)\b", " ", rest)
    query = re.sub(r"\s+", " ", re.sub(r"[^\w\s\-']", " ", rest)).strip()
    return Intent(frozenset(cats), frozenset(cols), frozenset(mats), frozenset(ex_c),
                  frozenset(ex_m), max_price, min_price, cheaper, more_like, query,
                  tuple(parse_reaction(message)), cheaper_than=cheaper_than, others=others)


def parse_intent(message: str, *, vocab: IntentVocab | None = None,
                 chat_model: BaseChatModel | None = None,
                 previous: Intent | None = None) -> Intent:
    """Parse a chat message into an :class:`Intent`, merged onto ``previous``.

    Args:
        message: the shopper's message (untrusted).
        vocab: categories, colours, materials and synonyms (defaults when None).
        chat_model: optional LangChain chat model for structured extraction
            (:func:`agent.intent_llm.model_intent`); its answer is checked against the
            vocabulary and the message and merged by :func:`agent.intent_llm.merge_model_intent`
            (the rules win on what they found).
        previous: the conversation's last intent, or None.

    Returns:
        The merged intent.

    """
    vocab = vocab or IntentVocab()
    intent = _rule_intent(message, vocab)
    if chat_model is not None:
        from agent.intent_llm import merge_model_intent, model_intent

        answer = model_intent(message, vocab, chat_model)
        if answer is not None:
            intent = merge_model_intent(intent, answer, message)
    return intent.merge(previous)
