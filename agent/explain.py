"""One grounded reason per recommended product.

A language model may write the reason, but every sentence is checked against the product's
own facts (:func:`check_grounding`): a colour, material, pattern or category word the product
does not have, a price-level claim ("affordable", "high price") its text does not make, or
a price with a currency that does not match the product's price (±1 %), rejects it. A rejected
or missing sentence is replaced by a template reason built from the product's facts and the
shopper's own words, e.g. ``"Black leather bag at $89, matches 'leather'."``. Without a chat
model, the template is always used.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agent.products import ProductView, currency_symbols, format_price
from agent.prompts import load_prompt, render_prompt, sanitize_data
from agent.rerank import LABELS, product_line

logger = logging.getLogger(__name__)

# Generic English word lists, not any shop's: the grounding check must also catch a colour
# or material the catalog never uses (a model inventing "teal" for a black bag), and a catalog
# whose colours live only in titles still needs "red" to be known as a colour. The shop's own
# values (``shelfwise.vocabulary``) are added to these; categories come only from the shop.
DEFAULT_COLOURS = ("black", "white", "grey", "gray", "red", "blue", "navy", "green", "yellow",
                   "orange", "pink", "purple", "brown", "beige", "cream", "gold", "silver",
                   "tan", "burgundy", "olive", "teal")
DEFAULT_MATERIALS = ("leather", "cotton", "wool", "silk", "linen", "denim", "polyester",
                     "nylon", "suede", "cashmere", "canvas", "velvet", "metal", "wood",
                     "plastic", "rubber", "ceramic", "glass", "bamboo", "fleece")
DEFAULT_PATTERNS = ("striped", "checked", "plaid", "floral", "polka", "solid", "camouflage",
                    "paisley", "herringbone")
_STOPWORDS = frozenset("a an the and or for with in on of to my me i im i'm want need looking "
                       "some something show find please under below over above than less more "
                       "like not no any cheap cheaper good nice new".split())
_WORD = re.compile(r"[a-z][a-z\-']*")
_AMOUNT = re.compile(r"(?P<sym>[$€£¥])\s?(?P<a>\d[\d,]*(?:\.\d+)?)|(?P<b>\d[\d,]*(?:\.\d+)?)\s?"
                     r"(?P<code>usd|eur|gbp|jpy|chf|dollars?|euros?|pounds?)\b", re.IGNORECASE)
# Claims about how cheap or dear a product is ("affordable", "a high price point"): the
# product's facts carry no price scale, so such a claim passes only when the product's own
# text states it (a "budget" line, a "luxury" description).
_PRICE_LEVEL = re.compile(
    r"\b(?:cheap(?:er|est)?|affordabl[ey]|inexpensive|budget|bargain|expensive|pricey|pricy|"
    r"costly|premium|luxur(?:y|ious)|high[- ]end|(?:high|low)(?:er|est)?[- ](?:price|cost)\w*)\b",
    re.IGNORECASE)
_WORD_CURRENCY = {"dollar": "USD", "dollars": "USD", "euro": "EUR", "euros": "EUR",
                  "pound": "GBP", "pounds": "GBP"}


def singular(word: str) -> str:
    """Crude singular: ``bags → bag``, ``dresses → dress``, ``shoes → shoe``."""
    w = word.lower()
    if len(w) > 4 and w.endswith(("sses", "shes", "ches", "xes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


@dataclass(frozen=True)
class GroundingVocab:
    """Words the grounding check knows; a text may only use those the product has."""

    colours: frozenset[str] = frozenset(DEFAULT_COLOURS)
    """Colour words."""
    materials: frozenset[str] = frozenset(DEFAULT_MATERIALS)
    """Material words."""
    categories: frozenset[str] = frozenset()
    """Category words of the shop (singular or plural; compared after a crude
    singularisation); none by default: only the catalog knows its categories."""
    patterns: frozenset[str] = frozenset(DEFAULT_PATTERNS)
    """Pattern words."""

    @classmethod
    def from_lists(cls, *, colours: Sequence[str] = DEFAULT_COLOURS,
                   materials: Sequence[str] = DEFAULT_MATERIALS,
                   categories: Sequence[str] = (),
                   patterns: Sequence[str] = DEFAULT_PATTERNS) -> GroundingVocab:
        """Build from plain lists (e.g. ``shelfwise.vocabulary.ShopVocabulary.grounding``)."""
        low = lambda xs: frozenset(x.lower() for x in xs)  # noqa: E731
        return cls(low(colours), low(materials), low(categories), low(patterns))


@dataclass(frozen=True)
class Explanation:
    """One reason shown next to a product."""

    text: str
    """The sentence."""
    grounded: bool
    """True when it passed :func:`check_grounding` (templates always do)."""
    source: Literal["llm", "template"]
    """Who wrote it."""
    problems: tuple[str, ...] = ()
    """Why the model's sentence was rejected (empty when it was used)."""


@dataclass
class ExplainStats:
    """Counters of one :class:`Explainer`."""

    llm_used: int = 0
    """Model sentences that passed the check."""
    template_used: int = 0
    """Template sentences served."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Model sentences replaced by a template, by reason (``ungrounded``, ``error``,
    ``missing``, ``empty``; ``not_asked`` for products past ``llm_top`` on the fast path)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


def _product_facts(product: ProductView) -> tuple[set[str], str]:
    text = " ".join([product.title, product.category, product.description or "",
                     *[f"{k} {v}" for k, v in dict(product.attributes or {}).items()]]).lower()
    return {singular(w) for w in _WORD.findall(text)} | set(_WORD.findall(text)), text


def check_grounding(text: str, product: ProductView,
                    vocab: GroundingVocab | None = None) -> list[str]:
    """Problems of a sentence about ``product`` (empty list: grounded).

    Flags colour / material / pattern / category words the product's title, category,
    description and attributes do not contain, price-level claims ("affordable", "a high
    price point") its own text does not make, and amounts with a currency (``$120``,
    ``95 EUR``) that differ from the product's price by more than 1 % or use another currency.

    Args:
        text: the sentence to check.
        product: the product it is about.
        vocab: known words (default lists when None).

    Returns:
        Human-readable problems, e.g. ``"colour 'red' is not a fact of the product"``.

    """
    vocab = vocab or GroundingVocab()
    facts, fact_text = _product_facts(product)
    problems = []
    words = _WORD.findall((text or "").lower())
    seen: set[str] = set()
    for w in words:
        s = singular(w)
        for kind, vs in (("colour", vocab.colours), ("material", vocab.materials),
                         ("pattern", vocab.patterns), ("category", vocab.categories)):
            known = {singular(v) for v in vs}
            if (w in vs or s in known) and s not in facts and w not in facts and s not in seen:
                seen.add(s)
                problems.append(f"{kind} {w!r} is not a fact of the product")
    for m in _PRICE_LEVEL.finditer(text or ""):
        claim = m.group(0).lower()
        if claim not in fact_text and claim.replace("-", " ") not in fact_text:
            problems.append(f"price level {claim!r} is not a fact of the product")
    symbols = {v: k for k, v in currency_symbols().items()}
    for m in _AMOUNT.finditer(text or ""):
        raw = m.group("a") or m.group("b")
        amount = float(raw.replace(",", ""))
        if m.group("sym"):
            cur = symbols.get(m.group("sym"), "?")
        else:
            code = m.group("code").lower()
            cur = _WORD_CURRENCY.get(code, code.upper())
        want = float(product.price)
        if cur != str(product.currency).upper():
            problems.append(f"price {m.group(0)!r} is in {cur}, the product is priced in "
                            f"{product.currency}")
        elif abs(amount - want) > 0.01 * max(abs(want), 1e-9):
            problems.append(f"price {m.group(0)!r} does not match the product's price "
                            f"{format_price(want, product.currency)}")
    return problems


def template_reason(query: str | None, product: ProductView,
                    history_summary: str | None = None) -> str:
    """Build a reason only from product facts and the shopper's own words.

    Args:
        query: the shopper's request.
        product: the product.
        history_summary: used when the query shares no word with the product.

    Returns:
        E.g. ``"Black leather bag at $89, matches 'leather'."``.

    """
    attrs = {k.lower(): v for k, v in dict(product.attributes or {}).items()}
    head = " ".join(x for x in (attrs.get("colour") or attrs.get("color"), attrs.get("material"),
                                singular(product.category)) if x)
    head = sanitize_data(head, 80)
    head = head[:1].upper() + head[1:]
    price = format_price(float(product.price), str(product.currency))
    facts, _ = _product_facts(product)
    matched = []
    for w in _WORD.findall((query or "").lower()):
        if w not in _STOPWORDS and len(w) > 2 and (w in facts or singular(w) in facts) \
                and w not in matched:
            matched.append(w)
    if matched:
        return f"{head} at {price}, matches " + ", ".join(f"'{w}'" for w in matched[:3]) + "."
    if history_summary:
        return f"{head} at {price}, similar to what you viewed before."
    return f"{head} at {price}."


def _content(answer: object) -> str:
    c = getattr(answer, "content", answer)
    return c if isinstance(c, str) else str(c)


class Explainer:
    """Write one grounded reason per product, with a language model or from templates.

    Chat models with a ``complete(messages, prefill, max_tokens=, stop=)`` method (the local
    :class:`agent.llm.LlamaCppChatModel`) take the fast path of :meth:`explain_many`: one tiny
    call per product for the first ``llm_top`` products (fixed system prompt + instructions
    first, so llama.cpp reuses their KV cache; the answer is prefilled with
    ``"This <noun> is a good pick because it"`` and capped at ``max_tokens``), grounded
    templates for the rest. A small local model writes one short sentence reliably but ignores
    multi-line formats, and each model reason costs ~0.3-0.6 s on 2 CPU cores, so only the top
    of the slate (what the shopper reads first) gets model reasons within the latency budget.
    Other chat models get one call for the whole slate (lines ``"A: sentence"``).

    Args:
        chat_model: any LangChain chat model, or None for template reasons only.
        vocab: words the grounding check knows (default lists).
        max_chars: longest reason kept from the model.
        llm_top: fast path only: products (served order) whose reason the model writes.
        max_tokens: fast path only: most tokens generated per reason.

    """

    def __init__(self, chat_model: BaseChatModel | None = None, *,
                 vocab: GroundingVocab | None = None, max_chars: int = 200,
                 llm_top: int = 2, max_tokens: int = 20) -> None:
        if llm_top < 0 or max_tokens < 1:
            raise ValueError(f"llm_top must be >= 0 and max_tokens >= 1, got {llm_top}, "
                             f"{max_tokens}")
        self.chat_model = chat_model
        self.vocab = vocab or GroundingVocab()
        self.max_chars = max_chars
        self.llm_top = llm_top
        self.max_tokens = max_tokens
        self.stats = ExplainStats()

    def _template(self, query: str | None, product: ProductView, history: str | None,
                  reason: str | None, problems: Sequence[str] = ()) -> Explanation:
        with self.stats._lock:
            self.stats.template_used += 1
            if reason:
                self.stats.rejected[reason] += 1
        if reason:
            logger.info("explanation for %s replaced by template (%s): %s", product.id, reason,
                        "; ".join(problems))
        return Explanation(template_reason(query, product, history), True, "template",
                           tuple(problems))

    def _judge(self, text: str, query: str | None, product: ProductView,
               history: str | None) -> Explanation:
        text = sanitize_data(text.strip().strip('"'), self.max_chars)
        if not text:
            return self._template(query, product, history, "empty")
        problems = check_grounding(text, product, self.vocab)
        if problems:
            return self._template(query, product, history, "ungrounded", problems)
        with self.stats._lock:
            self.stats.llm_used += 1
        return Explanation(text, True, "llm")

    def _system(self) -> SystemMessage:
        return SystemMessage(content=load_prompt("system").strip())

    def explain(self, query: str | None, product: ProductView,
                history_summary: str | None = None) -> Explanation:
        """One reason for one product.

        Args:
            query: the shopper's request.
            product: the product.
            history_summary: short summary of the shopper's history.

        Returns:
            The model's sentence if grounded, else a template reason.

        """
        if self.chat_model is None:
            return self._template(query, product, history_summary, None)
        if callable(getattr(self.chat_model, "complete", None)):
            return self._explain_fast(query, product, history_summary)
        user = render_prompt("explain", query=sanitize_data(query or "(none)", 300),
                             history_summary=sanitize_data(history_summary or "(none)", 300),
                             product=product_line("A", product)[3:])
        try:
            answer = _content(self.chat_model.invoke([self._system(), HumanMessage(user)]))
        except Exception as exc:  # a failing model never blocks a reason
            return self._template(query, product, history_summary, "error", [repr(exc)])
        first = next((ln for ln in answer.splitlines() if ln.strip()), "")
        return self._judge(first, query, product, history_summary)

    def _explain_fast(self, query: str | None, product: ProductView,
                      history: str | None) -> Explanation:
        """One short model sentence via ``chat_model.complete`` (prefilled, capped, cached)."""
        user = render_prompt("explain", query=sanitize_data(query or "(none)", 300),
                             history_summary=sanitize_data(history or "(none)", 300),
                             product=product_line("A", product)[3:])
        attrs = {str(k).lower(): v for k, v in dict(product.attributes or {}).items()}
        noun = sanitize_data(str(attrs.get("kind") or singular(product.category)), 30)
        prefill = f"This {noun} is a good pick because it"
        try:
            out = self.chat_model.complete(  # type: ignore[union-attr]
                [self._system(), HumanMessage(user)], prefill, max_tokens=self.max_tokens,
                stop=["\n", "<|im_end|>"])
        except Exception as exc:  # a failing model never blocks a reason
            return self._template(query, product, history, "error", [repr(exc)])
        out = str(out or "")
        if not out.strip():
            return self._template(query, product, history, "empty")
        sentence = re.split(r"(?<=[.!?])\s", prefill + out, maxsplit=1)[0].strip()
        if not sentence.endswith((".", "!", "?")):
            cut = sentence.rsplit(",", 1)[0] if "," in sentence[len(prefill):] else sentence
            sentence = cut.rstrip(" ,;:-") + "."
        return self._judge(sentence, query, product, history)

    def explain_many(self, query: str | None, products: Sequence[ProductView],
                     history_summary: str | None = None) -> list[Explanation]:
        """One reason per product from a single model call (lines ``"A: sentence"``).

        Args:
            query: the shopper's request.
            products: at most 26 products, labelled ``A, B, …`` in this order.
            history_summary: short summary of the shopper's history.

        Returns:
            One :class:`Explanation` per product, in input order.

        """
        products = list(products)
        if self.chat_model is None or not products:
            return [self._template(query, p, history_summary, None) for p in products]
        if callable(getattr(self.chat_model, "complete", None)):
            return [self._explain_fast(query, p, history_summary) if i < self.llm_top
                    else self._template(query, p, history_summary, "not_asked")
                    for i, p in enumerate(products)]
        labels = LABELS[: min(len(products), len(LABELS))]
        user = render_prompt(
            "explain_many", query=sanitize_data(query or "(none)", 300),
            history_summary=sanitize_data(history_summary or "(none)", 300),
            products="\n".join(product_line(lab, p) for lab, p in
                               zip(labels, products, strict=False)),
            labels=", ".join(labels))
        try:
            answer = _content(self.chat_model.invoke([self._system(), HumanMessage(user)]))
        except Exception as exc:
            return [self._template(query, p, history_summary, "error", [repr(exc)])
                    for p in products]
        lines: dict[str, str] = {}
        for ln in answer.splitlines():
            m = re.match(r"^\s*\(?([A-Z])[\):.\-]\s*(.+)$", ln)
            if m and m.group(1) in labels and m.group(1) not in lines:
                lines[m.group(1)] = m.group(2)
        out = []
        for i, p in enumerate(products):
            lab = labels[i] if i < len(labels) else None
            if lab is None or lab not in lines:
                out.append(self._template(query, p, history_summary, "missing"))
            else:
                out.append(self._judge(lines[lab], query, p, history_summary))
        return out
