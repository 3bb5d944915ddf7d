"""The chat shopping assistant: message → intent → slate → rerank → grounded reasons.

The assistant holds per-conversation state (last slate shown, products seen since the last
new request, last intent), resolves follow-ups against what was shown ("cheaper", "not
leather", "more like the second one", "show me others": :mod:`agent.conversation`), records
reactions ("add #2 to cart") through the shop's tools, answers messages that are not shopping
requests with a short fixed answer and no slate (:mod:`agent.small_talk`), and never lets
text change its rules: hard constraints (exclusions, price bounds, shown products) are applied
in code after the tools return, the language model only contributes a bounded, blended score
(:class:`agent.rerank.Reranker`), and reasons are grounding-checked
(:class:`agent.explain.Explainer`). Product text in a reply is rendered as data
(:mod:`agent.display`: one line, quoted, no role labels), so a title cannot forge a turn.
The shop itself sits behind :class:`ShopTools`, which the application layer implements
(``agent`` does not import ``shelfwise``).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.language_models import BaseChatModel

from agent.conversation import product_phrases, resolve, summary
from agent.display import as_data, quote
from agent.explain import Explainer
from agent.intent import Intent, IntentVocab, Reaction, parse_intent, parse_reaction
from agent.products import ProductView, format_price
from agent.rerank import Reranker
from agent.small_talk import classify
from encoders.errors import ConfigError


@runtime_checkable
class ShopSlate(Protocol):
    """What :meth:`ShopTools.recommend` returns."""

    slate_id: str | None
    products: Sequence[ProductView]
    policy_scores: Sequence[float]


@runtime_checkable
class ShopTools(Protocol):
    """The shop as the assistant sees it (implemented by the application layer)."""

    def search(self, intent: Intent, k: int) -> list[tuple[ProductView, float]]:
        """Products matching ``intent`` with a relevance score, best first."""
        ...

    def recommend(self, conversation_id: str, intent: Intent, k: int, *,
                  user_id: str | None = None) -> ShopSlate:
        """Return a policy-chosen slate for ``user_id`` (default: the conversation id).

        The slate is logged as an impression.
        """
        ...

    def details(self, product_id: str) -> ProductView | None:
        """One product, or None when unknown."""
        ...

    def compare(self, ids: Sequence[str]) -> str:
        """Return a short factual comparison of products."""
        ...

    def record(self, slate_id: str, product_id: str, kind: str) -> None:
        """Log a ``click`` or ``purchase`` of a product shown in a slate."""
        ...


@dataclass(frozen=True)
class RecordedReaction:
    """A reaction the assistant logged."""

    kind: str
    """``click`` or ``purchase``."""
    pick: int
    """1-based position the shopper named."""
    product_id: str
    """The product at that position."""
    slate_id: str
    """The slate it was shown in."""


@dataclass(frozen=True)
class AssistantReply:
    """One answer of the assistant."""

    text: str
    """What the shopper reads."""
    products: list[ProductView]
    """Products shown, in served order (empty when the message only reacted)."""
    reasons: list[str]
    """One grounded reason per product."""
    slate_id: str | None
    """Slate of the products shown (None when none)."""
    intent: Intent
    """The merged intent this answer used."""
    reactions_recorded: list[RecordedReaction] = field(default_factory=list)
    """Reactions logged through ``ShopTools.record``."""
    rerank_fallback: bool | None = None
    """None: no reranker; else whether it fell back to the policy order."""
    summary: str = ""
    """One line for a chat bubble ("Found 8 rain jackets up to $150."); ``text`` adds the
    numbered list."""
    kind: str = "shopping"
    """What the message was (:data:`agent.small_talk.MessageKind`); only ``shopping`` gets
    products."""
    anchor: ProductView | None = None
    """The product "more like …" anchored on, or None."""
    dropped: list[str] = field(default_factory=list)
    """Earlier filters dropped because the anchor breaks them."""

    def intent_dict(self) -> dict[str, Any]:
        """The parsed intent this reply served, JSON-ready (what ``/chat`` returns).

        Keys: ``query``, ``categories``, ``colours``, ``materials``, ``exclude_colours``,
        ``exclude_materials``, ``min_price``, ``max_price``, ``cheaper``, ``others``,
        ``anchor`` (``{"id", "title", "price"}`` of "more like …", or None), ``dropped``,
        ``excluded_ids`` (shown before, left out), ``kind`` and ``source`` (``rule`` or
        ``model``).
        """
        it = self.intent
        anchor = None if self.anchor is None else {
            "id": self.anchor.id, "title": as_data(self.anchor.title, 200),
            "price": float(self.anchor.price)}
        return {
            "query": it.query, "categories": sorted(it.categories),
            "colours": sorted(it.colours), "materials": sorted(it.materials),
            "exclude_colours": sorted(it.exclude_colours),
            "exclude_materials": sorted(it.exclude_materials),
            "min_price": it.min_price, "max_price": it.max_price, "cheaper": it.cheaper,
            "others": it.others, "anchor": anchor, "dropped": list(self.dropped),
            "excluded_ids": sorted(it.exclude_ids - ({it.similar_to} if it.similar_to else set())),
            "kind": self.kind, "source": it.source,
        }


@dataclass
class _Conversation:
    intent: Intent | None = None
    slate_id: str | None = None
    shown: list[ProductView] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    """Ids shown since the last new request (what "show me others" leaves out)."""
    user_id: str | None = None


def product_words(product: ProductView) -> set[str]:
    """Lower-case words and phrases (up to 3 words) of a product's title and attribute values.

    Its stated facts: ``{"olive", "green", "olive green", …}``.
    """
    return product_phrases(product)


def violates(intent: Intent, product: ProductView) -> str | None:
    """Return the hard constraint of ``intent`` that ``product`` breaks, or None.

    Checks price bounds and excluded colours / materials against the product's attributes
    and title (category wishes are left to retrieval; they are preferences, not filters),
    products excluded by id (shown before, "show me others") and the anchor of "more like".

    Args:
        intent: the shopper's constraints.
        product: a candidate.

    Returns:
        A short description of the violated constraint, or None.

    """
    price = float(product.price)
    if intent.max_price is not None and price > intent.max_price + 1e-9:
        return f"price {price} > {intent.max_price}"
    if intent.min_price is not None and price < intent.min_price - 1e-9:
        return f"price {price} < {intent.min_price}"
    if product.id in intent.exclude_ids or product.id == intent.similar_to:
        return "already shown" if product.id != intent.similar_to else "the anchor itself"
    words = product_words(product)
    for c in intent.exclude_colours:
        if c in words:
            return f"colour {c} excluded"
    for m in intent.exclude_materials:
        if m in words:
            return f"material {m} excluded"
    return None


class ShoppingAssistant:
    """A chat assistant over :class:`ShopTools`.

    Args:
        tools: the shop.
        reranker: optional LLM reranker (None: the policy's order is served).
        explainer: writes reasons (default: template reasons, no model).
        vocab: words the intent parser knows.
        intent_model: optional chat model for JSON intent extraction.
        k: products per answer.
        max_conversations: conversations kept in memory (least recently used dropped).

    """

    def __init__(self, tools: ShopTools, reranker: Reranker | None = None,
                 explainer: Explainer | None = None, vocab: IntentVocab | None = None, *,
                 intent_model: BaseChatModel | None = None, k: int = 5,
                 max_conversations: int = 1000) -> None:
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        self.tools = tools
        self.reranker = reranker
        self.explainer = explainer or Explainer(None)
        self.vocab = vocab or IntentVocab()
        self.intent_model = intent_model
        self.k = k
        self.max_conversations = max_conversations
        self._convs: OrderedDict[str, _Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def _conv(self, conversation_id: str) -> _Conversation:
        with self._lock:
            conv = self._convs.pop(conversation_id, None) or _Conversation()
            self._convs[conversation_id] = conv
            while len(self._convs) > self.max_conversations:
                self._convs.popitem(last=False)
            return conv

    def reset(self, conversation_id: str) -> None:
        """Forget a conversation's state."""
        with self._lock:
            self._convs.pop(conversation_id, None)

    def respond(self, conversation_id: str, message: str,
                user_id: str | None = None) -> AssistantReply:
        """Answer one shopper message.

        Args:
            conversation_id: identifies the conversation (state is kept per id).
            message: the shopper's text (untrusted).
            user_id: the shopper, whose history personalises the slate; remembered for the
                conversation once given (default: the conversation id stands for the shopper).

        Returns:
            The :class:`AssistantReply`.

        Raises:
            ConfigError: empty ``conversation_id``.

        """
        if not conversation_id:
            raise ConfigError("conversation_id must be a non-empty string")
        conv = self._conv(conversation_id)
        if user_id:
            conv.user_id = user_id
        verdict = classify(message, chat_model=self.intent_model,
                           looks_like_shopping=self._looks_like_shopping(message))
        if verdict.answer is not None:
            # not a shopping request: a fixed answer, no slate, the conversation's state kept
            return AssistantReply(verdict.answer, [], [], None, Intent(),
                                  summary=verdict.answer, kind=verdict.kind)
        intent = parse_intent(message, vocab=self.vocab, chat_model=self.intent_model,
                              previous=conv.intent)
        recorded = self._record(conv, intent.reactions)
        if recorded and not _asks_for_products(message, intent, conv.intent):
            text = "; ".join(f"{'Added to cart' if r.kind == 'purchase' else 'Noted'}: "
                             f"#{r.pick} {quote(_title(conv, r.product_id), 60)}"
                             for r in recorded) + "."
            conv.intent = intent
            return AssistantReply(text, [], [], conv.slate_id, intent, recorded, summary=text)
        res = resolve(intent, conv.shown, conv.seen)
        intent = res.intent

        slate = self.tools.recommend(conversation_id, intent, self.k,
                                     user_id=conv.user_id or conversation_id)
        pairs = [(ProductView.from_any(p), float(s)) for p, s in
                 zip(slate.products, slate.policy_scores, strict=True)]
        pairs = [(p, s) for p, s in pairs if violates(intent, p) is None]
        products = [p for p, _ in pairs]
        fallback: bool | None = None
        if self.reranker is not None and products:
            res_rr = self.reranker.rerank(intent.query or message, _summary(conv), products,
                                          np.array([s for _, s in pairs]),
                                          min(self.k, len(products)))
            products = [products[i] for i in res_rr.order]
            fallback = res_rr.fallback
        else:
            products = products[: self.k]
        # personal reasons from what this shopper really has: the budget they named and the
        # products shown earlier in this conversation (never an invented history)
        from agent.facts import ShopperContext

        shopper = ShopperContext.of(intent.query or message, budget=intent.max_price,
                                    history=list(conv.shown)[:5], relation="shown",
                                    key=conversation_id)
        reasons = [as_data(e.text, 300) for e in self.explainer.explain_many(
            intent.query or message, products, _summary(conv), shopper=shopper)]
        n_others = len(conv.seen) if intent.others else 0
        line = summary(res, products, others=n_others)
        new_request = not (intent.others or intent.cheaper or intent.more_like is not None)
        seen = [] if new_request else list(conv.seen)
        seen += [p.id for p in products if p.id not in seen]
        # the served intent is remembered without its per-message references: a later
        # "not red" keeps the anchor's category and price bounds, not the anchor
        conv.intent = replace(intent, exclude_ids=frozenset(), others=False)
        conv.slate_id = slate.slate_id if products else conv.slate_id
        conv.shown = products or conv.shown
        conv.seen = seen
        return AssistantReply(_render(line, products, reasons), products, reasons,
                              slate.slate_id if products else None, intent, recorded, fallback,
                              summary=line, anchor=res.anchor, dropped=list(res.dropped))

    def _looks_like_shopping(self, message: str) -> bool:
        """A catalog word, a price, a pick or a refinement in the message."""
        from agent.prices import parse_prices

        intent = parse_intent(message, vocab=self.vocab)
        return bool(intent.categories or intent.colours or intent.materials
                    or intent.exclude_colours or intent.exclude_materials or intent.cheaper
                    or intent.more_like is not None or intent.others
                    or parse_reaction(message)
                    or parse_prices(message).max_price is not None
                    or parse_prices(message).min_price is not None)

    def _record(self, conv: _Conversation, reactions: Sequence[Reaction]) -> list[RecordedReaction]:
        out = []
        for r in reactions:
            idx = len(conv.shown) - 1 if r.pick == -1 else r.pick - 1
            if conv.slate_id is None or not 0 <= idx < len(conv.shown):
                continue  # nothing shown at that position: ignore rather than guess
            pid = conv.shown[idx].id
            self.tools.record(conv.slate_id, pid, r.kind)
            out.append(RecordedReaction(r.kind, r.pick, pid, conv.slate_id))
        return out


def _title(conv: _Conversation, product_id: str) -> str:
    return next((p.title for p in conv.shown if p.id == product_id), product_id)


def _asks_for_products(message: str, intent: Intent, previous: Intent | None) -> bool:
    if intent.cheaper or intent.more_like is not None or intent.others:
        return True
    prev = previous or Intent()
    if replace(intent, reactions=(), query="", source="rule") != replace(
            prev, reactions=(), query="", cheaper=False, more_like=None, similar_to=None,
            cheaper_than=None, others=False, exclude_ids=frozenset(), source="rule"):
        return True
    words = set(re.findall(r"[a-z]+", message.lower())) - _FILLER
    return bool(words - set(re.findall(r"[a-z]+", prev.query.lower())))


_FILLER = frozenset("i i'll ill we the a an one it that this to my cart basket me please and also "
                    "add buy take like love open view order purchase want would thanks thank you "
                    "first second third fourth fifth sixth seventh eighth ninth tenth last "
                    "number item option details of on for great nice ok okay".split())


def _summary(conv: _Conversation) -> str:
    if not conv.shown:
        return ""
    return "recently shown: " + "; ".join(as_data(p.title, 80) for p in conv.shown[:5])


def _render(line: str, products: Sequence[ProductView], reasons: Sequence[str]) -> str:
    """The summary line, then one line per product (title quoted as data, reason one line)."""
    lines = [f"{i}. {quote(p.title)} — {format_price(float(p.price), p.currency)} — {r}"
             for i, (p, r) in enumerate(zip(products, reasons, strict=True), start=1)]
    return "\n".join([line, *lines])
