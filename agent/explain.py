"""One reason per recommended product, grounded by construction.

By default a reason is *built*, not written: :func:`agent.facts.extract_facts` lists what is
true of the product for this shopper (its attributes, description phrases, price against the
shopper's budget, the link to the query or to a product in the shopper's own history), a
language model (when there is one) chooses which of those facts to state
(:class:`agent.reasons.FactChooser`), and :func:`agent.reasons.build_reason` words them from
``prompts/reason_phrases.txt``; such a sentence can state nothing else. Only a model declared
capable (``Explainer(..., capable=True)``; off for SmolLM2-135M and Gemma 3 270M) writes free
text, and every sentence it writes passes :func:`agent.claims.check_claims`, which covers
every content word; a sentence with an unsupported claim is replaced by the constructed
reason and counted (``stats.rejected["unsupported"]``).

:func:`check_grounding` (the older word-list check of colours, materials, patterns,
categories and prices) is kept for callers that use it; the explainer no longer relies on it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agent.claims import check_claims
from agent.facts import Fact, ProductFacts, ShopperContext, extract_facts
from agent.products import ProductView, currency_symbols, format_price
from agent.prompts import load_prompt, render_prompt, sanitize_data
from agent.reasons import (
    FactChooser,
    build_reason,
    default_choice,
    fact_phrase,
    wording_seed,
)
from agent.rerank import LABELS, product_line
from agent.words import (  # fallback English word lists; the shop's own values are added
    DEFAULT_COLOURS,
    DEFAULT_MATERIALS,
    DEFAULT_PATTERNS,
)
from agent.words import singular as _singular

logger = logging.getLogger(__name__)

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
    """Singular of an English noun from ``inflect``: ``scarves → scarf``, ``bags → bag``.

    Kept under this name for :mod:`shelfwise.lexical` and :mod:`shelfwise.vocabulary`; see
    :func:`agent.words.singular`.
    """
    return _singular(word)


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
    """True when every claim is supported (constructed reasons always are)."""
    source: Literal["llm", "chosen", "template"]
    """Who decided what it says: ``llm`` wrote it (a capable model, claim-checked),
    ``chosen`` the model chose the facts of a constructed sentence, ``template`` constructed
    without a model."""
    problems: tuple[str, ...] = ()
    """Why a model's sentence was rejected (empty when it was used)."""
    facts: tuple[str, ...] = ()
    """The optional facts a constructed reason states (:attr:`agent.facts.Fact.summary`)."""
    wording: str = ""
    """The wordings of a constructed reason (its skeleton, for measuring variety)."""


@dataclass
class ExplainStats:
    """Counters of one :class:`Explainer`."""

    llm_used: int = 0
    """Model-written sentences that passed the claim check."""
    chosen_used: int = 0
    """Constructed sentences whose facts the model chose."""
    template_used: int = 0
    """Constructed sentences with the default choice of facts."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Model output not used, by reason: ``unsupported`` (a claim the facts do not support),
    ``error``, ``missing``, ``empty``; ``not_asked`` for products past ``llm_top``."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def model_share(self) -> float:
        """Share of reasons the model chose or wrote."""
        n = self.llm_used + self.chosen_used + self.template_used
        return (self.llm_used + self.chosen_used) / n if n else 0.0


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
    """A constructed reason from the product's facts and the shopper's words, without a model.

    Args:
        query: the shopper's request.
        product: the product.
        history_summary: ignored: a free-text summary cannot show which history exists, and a
            reason never mentions a history it cannot name (pass a
            :class:`agent.facts.ShopperContext` to :meth:`Explainer.explain` for that).

    Returns:
        E.g. ``"Black leather bag at $89, matches your search for leather bag."``.

    """
    shopper = ShopperContext(query=query)
    pf = extract_facts(ProductView.from_any(product), shopper)
    return build_reason(pf, default_choice(pf), wording_seed(pf.product.id, shopper)).text


def _content(answer: object) -> str:
    c = getattr(answer, "content", answer)
    return c if isinstance(c, str) else str(c)


def _context(query: str | None, shopper: ShopperContext | None) -> ShopperContext:
    if shopper is None:
        return ShopperContext(query=query)
    return shopper if shopper.query is not None or query is None else replace(shopper,
                                                                              query=query)


class Explainer:
    """One reason per product: constructed from chosen facts, or written by a capable model.

    With a chat model, the first ``llm_top`` products of a slate (served order) get the
    model's choice of facts: one forward pass per product with
    ``next_token_logprobs`` (:class:`agent.llm.LlamaCppChatModel`), one short answer with
    other models. With ``capable=True`` the model writes the sentence instead (one prefilled,
    capped ``complete`` call per product on llama.cpp, one call per slate otherwise), and
    each sentence passes :func:`agent.claims.check_claims` or is replaced by the constructed
    reason.

    Args:
        chat_model: any LangChain chat model, or None for constructed reasons only.
        vocab: words of the legacy :func:`check_grounding` (kept for callers; not used here).
        max_chars: longest reason kept from the model.
        llm_top: products per slate (served order) for which the model is asked (default 3:
            one fact choice costs ~0.2-0.4 s of one CPU thread with SmolLM2-135M, so the
            model chooses for the top of the slate, what the shopper reads first).
        max_tokens: free-form fast path only: most tokens generated per reason.
        capable: the model may write free text (default False: small local models only
            choose facts).
        facts_per_reason: optional facts a constructed reason states (besides what the
            product is and its price).

    """

    def __init__(self, chat_model: BaseChatModel | None = None, *,
                 vocab: GroundingVocab | None = None, max_chars: int = 200,
                 llm_top: int = 3, max_tokens: int = 24, capable: bool = False,
                 facts_per_reason: int = 2) -> None:
        if llm_top < 0 or max_tokens < 1 or facts_per_reason < 0:
            raise ValueError(f"llm_top and facts_per_reason must be >= 0 and max_tokens >= 1, "
                             f"got {llm_top}, {facts_per_reason}, {max_tokens}")
        self.chat_model = chat_model
        self.vocab = vocab or GroundingVocab()
        self.max_chars = max_chars
        self.llm_top = llm_top
        self.max_tokens = max_tokens
        self.capable = capable
        self.k = facts_per_reason
        self.stats = ExplainStats()
        self._chooser = FactChooser(chat_model, facts_per_reason) if chat_model is not None \
            else None

    # -- constructed reasons -----------------------------------------------------------------

    def _count(self, what: str, rejected: str | None = None, n: int = 1) -> None:
        with self.stats._lock:
            setattr(self.stats, what, getattr(self.stats, what) + n)
            if rejected:
                self.stats.rejected[rejected] += n

    def _constructed(self, pf: ProductFacts, shopper: ShopperContext, position: int,
                     ask: bool, rejected: str | None = None,
                     problems: Sequence[str] = ()) -> Explanation:
        chosen: list[Fact] | None = None
        source: Literal["chosen", "template"] = "template"
        if ask and self._chooser is not None and len(default_choice(pf, 99)) > self.k > 0:
            try:
                chosen = self._chooser.choose(pf, shopper)
                source = "chosen"
            except Exception as exc:  # a failing model never blocks a reason
                logger.info("fact choice for %s failed: %r", pf.product.id, exc)
                rejected = rejected or "error"
        if chosen is None:
            chosen = default_choice(pf, self.k)
        elif len(chosen) < self.k:  # a model that named fewer facts: fill in the default order
            chosen += [f for f in default_choice(pf, 99)
                       if f.kind not in {c.kind for c in chosen}][: self.k - len(chosen)]
        built = build_reason(pf, chosen, wording_seed(pf.product.id, shopper, position))
        bad = check_claims(built.text, pf, shopper)
        if bad:  # cannot happen by construction; state only what the product is if it does
            logger.warning("constructed reason for %s failed the claim check: %s",
                           pf.product.id, "; ".join(bad))
            built = build_reason(pf, [], wording_seed(pf.product.id, shopper, position))
            rejected = rejected or "constructed_unsupported"
        self._count("chosen_used" if source == "chosen" else "template_used", rejected)
        if rejected and problems:
            logger.info("model reason for %s replaced (%s): %s", pf.product.id, rejected,
                        "; ".join(problems))
        return Explanation(built.text, True, source, tuple(problems),
                           tuple(f.summary for f in built.facts), built.wording)

    # -- free text from a capable model ------------------------------------------------------

    def _judge(self, text: str, pf: ProductFacts, shopper: ShopperContext,
               position: int) -> Explanation:
        text = sanitize_data(text.strip().strip('"'), self.max_chars)
        if not text:
            return self._constructed(pf, shopper, position, False, "empty")
        problems = check_claims(text, pf, shopper)
        if problems:  # a rejected sentence is a fallback: no second model call
            return self._constructed(pf, shopper, position, False, "unsupported", problems)
        self._count("llm_used")
        return Explanation(text, True, "llm")

    def _system(self) -> SystemMessage:
        return SystemMessage(content=load_prompt("system").strip())

    def _user(self, pf: ProductFacts, shopper: ShopperContext, history_summary: str | None) -> str:
        facts = "; ".join(fact_phrase(f) for f in pf.facts) or "(none)"
        history = history_summary if shopper.history else None
        return render_prompt("explain", query=sanitize_data(shopper.query or "(none)", 300),
                             history_summary=sanitize_data(history or "(none)", 300),
                             product=product_line("A", pf.product)[3:],
                             facts=sanitize_data(facts, 600))

    def _write(self, pf: ProductFacts, shopper: ShopperContext, history_summary: str | None,
               position: int) -> Explanation:
        """One free-text sentence from a capable model, claim-checked."""
        user = self._user(pf, shopper, history_summary)
        model = self.chat_model
        try:
            if callable(getattr(model, "complete", None)):
                prefill = f"This {pf.noun} is a good pick because it"
                out = str(model.complete(  # type: ignore[union-attr]
                    [self._system(), HumanMessage(user)], prefill, max_tokens=self.max_tokens,
                    stop=["\n", "<|im_end|>"]) or "")
                if not out.strip():
                    return self._constructed(pf, shopper, position, False, "empty")
                sentence = re.split(r"(?<=[.!?])\s", prefill + out, maxsplit=1)[0].strip()
                if not sentence.endswith((".", "!", "?")):
                    cut = sentence.rsplit(",", 1)[0] if "," in sentence[len(prefill):] \
                        else sentence
                    sentence = cut.rstrip(" ,;:-") + "."
            else:
                answer = _content(model.invoke([self._system(), HumanMessage(user)]))  # type: ignore[union-attr]
                sentence = next((ln for ln in answer.splitlines() if ln.strip()), "")
        except Exception as exc:  # a failing model never blocks a reason
            return self._constructed(pf, shopper, position, False, "error", [repr(exc)])
        return self._judge(sentence, pf, shopper, position)

    # -- public ------------------------------------------------------------------------------

    def explain(self, query: str | None, product: ProductView,
                history_summary: str | None = None, *, shopper: ShopperContext | None = None,
                position: int = 0) -> Explanation:
        """One reason for one product.

        Args:
            query: the shopper's request.
            product: the product.
            history_summary: free-text summary of the shopper's history (prompt only; a
                history is mentioned only when ``shopper.history`` holds it).
            shopper: the shopper's budget and history (None: only ``query`` is known).
            position: place in the slate (varies the wording between neighbours).

        Returns:
            The reason.

        """
        ctx = _context(query, shopper)
        pf = extract_facts(ProductView.from_any(product), ctx)
        if self.chat_model is not None and self.capable:
            return self._write(pf, ctx, history_summary, position)
        return self._constructed(pf, ctx, position, self.chat_model is not None)

    def explain_many(self, query: str | None, products: Sequence[ProductView],
                     history_summary: str | None = None, *,
                     shopper: ShopperContext | None = None) -> list[Explanation]:
        """One reason per product, in input (served) order.

        Args:
            query: the shopper's request.
            products: the slate, best first.
            history_summary: free-text summary of the shopper's history (prompt only).
            shopper: the shopper's budget and history (None: only ``query`` is known).

        Returns:
            One :class:`Explanation` per product.

        """
        ctx = _context(query, shopper)
        pfs = [extract_facts(ProductView.from_any(p), ctx) for p in products]
        model = self.chat_model
        if model is None or not pfs:
            return [self._constructed(pf, ctx, i, False) for i, pf in enumerate(pfs)]
        if not self.capable:
            return [self._constructed(pf, ctx, i, i < self.llm_top,
                                      None if i < self.llm_top else "not_asked")
                    for i, pf in enumerate(pfs)]
        if callable(getattr(model, "complete", None)):
            return [self._write(pf, ctx, history_summary, i) if i < self.llm_top
                    else self._constructed(pf, ctx, i, False, "not_asked")
                    for i, pf in enumerate(pfs)]
        return self._write_many(pfs, ctx, history_summary)

    def _write_many(self, pfs: Sequence[ProductFacts], ctx: ShopperContext,
                    history_summary: str | None) -> list[Explanation]:
        """A capable model without ``complete``: one call for the slate (``"A: sentence"``)."""
        labels = LABELS[: min(len(pfs), len(LABELS))]
        history = history_summary if ctx.history else None
        user = render_prompt(
            "explain_many", query=sanitize_data(ctx.query or "(none)", 300),
            history_summary=sanitize_data(history or "(none)", 300),
            products="\n".join(product_line(lab, pf.product) for lab, pf in
                               zip(labels, pfs, strict=False)),
            labels=", ".join(labels))
        try:
            answer = _content(self.chat_model.invoke(  # type: ignore[union-attr]
                [self._system(), HumanMessage(user)]))
        except Exception as exc:
            return [self._constructed(pf, ctx, i, False, "error", [repr(exc)])
                    for i, pf in enumerate(pfs)]
        lines: dict[str, str] = {}
        for ln in answer.splitlines():
            m = re.match(r"^\s*\(?([A-Z])[\):.\-]\s*(.+)$", ln)
            if m and m.group(1) in labels and m.group(1) not in lines:
                lines[m.group(1)] = m.group(2)
        out = []
        for i, pf in enumerate(pfs):
            lab = labels[i] if i < len(labels) else None
            if lab is None or lab not in lines:
                out.append(self._constructed(pf, ctx, i, False, "missing"))
            else:
                out.append(self._judge(lines[lab], pf, ctx, i))
        return out
