"""Language-model reranking of a policy's slate, with propensities that stay computable.

Two ways to ask the model (``mode``):

* ``"score"`` (LlamaRec-style): candidates are labelled ``A, B, C…`` in one prompt; one
  forward pass gives the next-token log-probabilities of the labels, which become the model's
  scores. Needs a chat model with ``next_token_logprobs(messages, candidates)`` (see
  :class:`agent.llm.LlamaCppChatModel`).
* ``"generate"``: the model writes a ranking such as ``"C, A, B"``, parsed strictly: unknown
  labels, duplicates, garbage and (by default) partial rankings are rejected. A label's
  model score is ``n_labels - rank``.
* ``"auto"``: score mode when the chat model supports it, else generate mode.

Any failure (timeout, exception, unusable answer) falls back to the policy's order with
``fallback=True`` and a reason; fallbacks are counted in :class:`RerankStats` and logged.

The model never decides the order alone: both score vectors are z-normalised and blended,
``final = (1 - w) * policy + w * llm``. The served order can be sampled Plackett-Luce from the
blend (:func:`sample_order`) with a seeded generator, so every served position has a
propensity and off-policy evaluation stays valid. Prompt text and the model's answers are
cached by prompt hash.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from agent.products import ProductView, format_price
from agent.prompts import load_prompt, prompt_hash, render_prompt, sanitize_data
from encoders.errors import ConfigError

logger = logging.getLogger(__name__)

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
Mode = Literal["auto", "score", "generate"]
_MODES = ("auto", "score", "generate")
_LIST_LINE = re.compile(
    r"^\s*(?:ranking\s*:\s*)?\[?\s*([A-Z](?:\s*(?:,|>)\s*[A-Z])*)\s*\]?\s*\.?\s*$", re.IGNORECASE)


class RerankFailure(Exception):
    """Internal: the model's answer cannot be used; ``reason`` is the fallback reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class RerankResult:
    """What :meth:`Reranker.rerank` decided. Arrays are indexed like the input ``products``."""

    order: list[int]
    """Served order: ``k`` positions into ``products``, best first."""
    scores: np.ndarray
    """(n,) float64 blended score of each product (z-normalised policy only on fallback)."""
    llm_scores: np.ndarray | None
    """(n,) float64 model score of each product, or None on fallback."""
    fallback: bool
    """True when the model's answer was not used and ``order`` follows the policy."""
    fallback_reason: str | None
    """Why it fell back: ``timeout``, ``error``, ``empty``, ``unparseable``, ``unknown_label``,
    ``duplicate_label``, ``partial_ranking``, ``invalid_scores``; None otherwise."""
    mode_used: str
    """``"score"``, ``"generate"`` or ``"none"`` (nothing to rerank)."""
    propensities: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """(k,) probability of each served position given the earlier ones (Plackett-Luce on
    ``scores``); all ones when the order was taken greedily (no ``rng``)."""
    prompt_hash: str | None = None
    """Hash of the prompt when the model was asked (logged with the impression)."""
    latency_s: float = 0.0
    """Seconds spent waiting for the model (0 on a cache hit)."""


@dataclass
class RerankStats:
    """Counters of one :class:`Reranker` (thread-safe updates)."""

    calls: int = 0
    """rerank() calls with at least one product."""
    llm_calls: int = 0
    """Calls that reached the model (cache misses)."""
    cache_hits: int = 0
    """Calls answered from the cache."""
    fallbacks: Counter[str] = field(default_factory=Counter)
    """Fallbacks by reason."""
    modes: Counter[str] = field(default_factory=Counter)
    """Calls by mode used."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def fallback_total(self) -> int:
        """All fallbacks, whatever the reason."""
        return sum(self.fallbacks.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict snapshot (for metrics endpoints and reports)."""
        with self._lock:
            return {"calls": self.calls, "llm_calls": self.llm_calls,
                    "cache_hits": self.cache_hits, "fallbacks": dict(self.fallbacks),
                    "modes": dict(self.modes)}


def zscore(x: np.ndarray) -> np.ndarray:
    """Standardise a score vector; constant (or length-1) vectors map to zeros.

    Args:
        x: (n,) scores.

    Returns:
        (n,) float64 with mean 0 and standard deviation 1 (or all zeros).

    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x
    sd = float(x.std())
    return np.zeros_like(x) if sd < 1e-12 else (x - x.mean()) / sd


def blend_scores(policy_scores: np.ndarray, llm_scores: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * z(policy) + weight * z(llm)``.

    Args:
        policy_scores: (n,) the policy's scores.
        llm_scores: (n,) the model's scores.
        weight: model weight in ``[0, 1]``.

    Returns:
        (n,) float64 blended scores.

    """
    return (1.0 - weight) * zscore(policy_scores) + weight * zscore(llm_scores)


def plackett_luce_propensities(scores: np.ndarray, order: Sequence[int],
                               temperature: float = 1.0) -> np.ndarray:
    """Probability of each position of ``order`` under Plackett-Luce sampling from ``scores``.

    Position ``j``'s propensity is ``exp(s_j / T) / sum(exp(s_i / T) for i not yet placed)``;
    their product is the probability of the whole ordered slate.

    Args:
        scores: (n,) scores of all products.
        order: (k,) distinct positions into ``scores``.
        temperature: ``T > 0``.

    Returns:
        (k,) float64 conditional probabilities.

    Raises:
        ConfigError: ``temperature <= 0`` or ``order`` repeats or leaves the range.

    """
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    s = np.asarray(scores, dtype=np.float64) / temperature
    idx = [int(i) for i in order]
    if len(set(idx)) != len(idx) or any(i < 0 or i >= s.size for i in idx):
        raise ConfigError(f"order must be distinct positions in [0, {s.size}), got {idx}")
    remaining = np.ones(s.size, dtype=bool)
    out = np.empty(len(idx))
    for j, i in enumerate(idx):
        live = s[remaining]
        top = live.max()
        out[j] = np.exp(s[i] - top) / np.exp(live - top).sum()
        remaining[i] = False
    return out


def sample_order(blended: np.ndarray, k: int, rng: np.random.Generator,
                 temperature: float = 1.0) -> tuple[list[int], np.ndarray]:
    """Sample a served order Plackett-Luce from blended scores (Gumbel top-k).

    Args:
        blended: (n,) scores.
        k: slate length (clipped to ``n``).
        rng: the seeded generator (explicit randomness, replayable).
        temperature: ``T > 0``; small values approach the greedy order.

    Returns:
        ``(order, propensities)``: ``k`` positions into ``blended`` and their (k,)
        conditional probabilities (see :func:`plackett_luce_propensities`).

    Raises:
        ConfigError: ``k < 1`` or ``temperature <= 0``.

    """
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    s = np.asarray(blended, dtype=np.float64)
    keys = s / temperature + rng.gumbel(size=s.shape)
    order = [int(i) for i in np.argsort(-keys, kind="stable")[: min(k, s.size)]]
    return order, plackett_luce_propensities(s, order, temperature)


KEY_ATTRIBUTES = ("colour", "color", "material", "pattern", "kind", "size")
"""Attributes shown in a compact product descriptor, most useful first."""


def product_line(label: str, product: ProductView, max_chars: int = 0,
                 max_attributes: int = 2) -> str:
    """One compact, sanitized line describing a product inside a prompt's data block.

    Prompt length is what the small local model pays for (prompt evaluation dominates a
    rerank call), so the line holds only the label, title, price and at most
    ``max_attributes`` key attributes (colour, material, pattern, kind, size in that order)
    whose value the title does not already say (``pattern: solid`` is skipped); the category
    is added when the title lacks it. The merchant's description is left out unless
    ``max_chars > 0``.

    Args:
        label: ``"A"``, ``"B"``…
        product: the product (untrusted text is sanitized).
        max_chars: longest description snippet (0: no description).
        max_attributes: most attributes listed.

    Returns:
        E.g. ``"A) Quill Black Suede Backpack | $96.99 | pattern: checked | bags"``.

    """
    title = sanitize_data(product.title, 80)
    low_title = title.lower()
    attrs = {str(k).lower(): v for k, v in dict(product.attributes or {}).items()}
    keys = [k for k in KEY_ATTRIBUTES if k in attrs]
    shown = []
    for k in keys:
        v = sanitize_data(attrs[k], 30)
        if v and v.lower() not in low_title and v.lower() not in ("solid", "none", "n/a"):
            shown.append(f"{sanitize_data(k, 20)}: {v}")
        if len(shown) >= max_attributes:
            break
    parts = [title, format_price(float(product.price), str(getattr(product, "currency", "USD")))]
    parts += shown
    cat = sanitize_data(product.category, 40)
    if cat and cat.lower().rstrip("s") not in low_title:
        parts.append(cat)
    desc = sanitize_data(getattr(product, "description", ""), max_chars) if max_chars > 0 else ""
    if desc:
        parts.append(desc)
    return f"{label}) " + " | ".join(parts)


def parse_ranking(text: str, labels: Sequence[str]) -> list[str]:
    """Parse a generated ranking like ``"C, A, B"`` strictly.

    The first non-empty line that is a label list is used (``"Ranking: C, A, B."``,
    ``"[C, A, B]"`` and ``"C > A > B"`` are accepted).

    Args:
        text: the model's answer.
        labels: the labels that were offered.

    Returns:
        The labels, best first (every offered label exactly once).

    Raises:
        RerankFailure: ``empty``, ``unparseable``, ``unknown_label``, ``duplicate_label`` or
            ``partial_ranking``.

    """
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        raise RerankFailure("empty", "the model answered nothing")
    for line in lines:
        m = _LIST_LINE.match(line)
        if m is None:
            continue
        got = [t.upper() for t in re.findall(r"[A-Za-z]", m.group(1))]
        unknown = [g for g in got if g not in labels]
        if unknown:
            raise RerankFailure("unknown_label", f"labels {unknown} were not offered")
        if len(set(got)) != len(got):
            raise RerankFailure("duplicate_label", f"answer repeats a label: {line!r}")
        if len(got) != len(labels):
            raise RerankFailure("partial_ranking", f"{len(got)} of {len(labels)} labels")
        return got
    raise RerankFailure("unparseable", f"no label list in {text[:80]!r}")


class Reranker:
    """Rerank a slate with a LangChain chat model, blended with the policy and bounded by it.

    Args:
        chat_model: any LangChain chat model; score mode needs ``next_token_logprobs``.
        mode: ``"auto"``, ``"score"`` or ``"generate"``.
        blend_weight: model weight ``w`` in ``final = (1 - w) * z(policy) + w * z(llm)``.
        timeout_s: seconds to wait for the model before falling back (the call is abandoned,
            not killed: it finishes in its worker thread).
        max_candidates: products shown to the model (the policy's best; at most 26 labels).
            Products not shown get the lowest shown model score.
        complete_partial: in generate mode, complete a partial ranking with the remaining
            labels in policy order instead of falling back.
        cache_size: model answers kept per prompt hash (0 disables the cache).
        description_chars: longest snippet of each product's description shown to the model
            (0: none, the default; the prompt grows by ~20 tokens per product per 80 chars).

    """

    def __init__(self, chat_model: BaseChatModel, *, mode: Mode = "auto",
                 blend_weight: float = 0.3, timeout_s: float = 10.0, max_candidates: int = 20,
                 complete_partial: bool = False, cache_size: int = 256,
                 description_chars: int = 0) -> None:
        if mode not in _MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose one of: {', '.join(_MODES)}")
        if not 0.0 <= blend_weight <= 1.0:
            raise ConfigError(f"blend_weight must be in [0, 1], got {blend_weight}")
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")
        if not 1 <= max_candidates <= len(LABELS):
            raise ConfigError(f"max_candidates must be in [1, {len(LABELS)}], got {max_candidates}")
        if description_chars < 0:
            raise ConfigError(f"description_chars must be >= 0, got {description_chars}")
        if mode == "score" and not callable(getattr(chat_model, "next_token_logprobs", None)):
            raise ConfigError(f"mode 'score' needs a chat_model with next_token_logprobs; "
                              f"{type(chat_model).__name__} has none (use mode='generate')")
        self.chat_model = chat_model
        self.mode: Mode = mode
        self.blend_weight = blend_weight
        self.timeout_s = timeout_s
        self.max_candidates = max_candidates
        self.complete_partial = complete_partial
        self.cache_size = cache_size
        self.description_chars = int(description_chars)
        self.stats = RerankStats()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def resolved_mode(self) -> str:
        """The mode actually used: ``"auto"`` resolved against the chat model."""
        if self.mode != "auto":
            return self.mode
        has = callable(getattr(self.chat_model, "next_token_logprobs", None))
        return "score" if has else "generate"

    def build_messages(self, mode: str, query: str | None, user_summary: str | None,
                       products: Sequence[ProductView]) -> list[BaseMessage]:
        """Build the system and user messages for one rerank call.

        Args:
            mode: ``"score"`` or ``"generate"``.
            query: the shopper's request (untrusted).
            user_summary: short history summary (untrusted).
            products: the products shown to the model, labelled in this order.

        Returns:
            ``[SystemMessage, HumanMessage]``.

        """
        labels = LABELS[: len(products)]
        values = {
            "query": sanitize_data(query or "(none)", 300),
            "user_summary": sanitize_data(user_summary or "(none)", 300),
            "products": "\n".join(product_line(lab, p, max_chars=self.description_chars)
                                  for lab, p in zip(labels, products, strict=True)),
            "labels": ", ".join(labels),
        }
        if mode == "generate":
            values["example"] = ", ".join(reversed(labels))
        user = render_prompt("rerank_score" if mode == "score" else "rerank_generate", **values)
        return [SystemMessage(content=load_prompt("system").strip()), HumanMessage(content=user)]

    def rerank(self, query: str | None, user_summary: str | None,
               products: Sequence[ProductView], policy_scores: np.ndarray, k: int, *,
               rng: np.random.Generator | None = None, temperature: float = 1.0) -> RerankResult:
        """Reorder ``products`` with the model, blended with the policy's scores.

        Args:
            query: the shopper's request (may be None).
            user_summary: short description of the shopper's history (may be None).
            products: the slate to rerank (``ProductView`` or any object with its attributes).
            policy_scores: (n,) the policy's score of each product.
            k: products to serve (clipped to ``n``).
            rng: when given, the served order is sampled Plackett-Luce from the blended
                scores and ``propensities`` are its probabilities; else the greedy order.
            temperature: Plackett-Luce temperature (with ``rng``).

        Returns:
            The :class:`RerankResult`.

        Raises:
            ConfigError: ``policy_scores`` does not match ``products`` or ``k < 1``.

        """
        pol = np.asarray(policy_scores, dtype=np.float64).reshape(-1)
        n = len(products)
        if pol.shape[0] != n:
            raise ConfigError(f"policy_scores has {pol.shape[0]} entries for {n} products")
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        if n == 0:
            return RerankResult([], pol, None, False, None, "none", np.zeros(0))
        if not np.all(np.isfinite(pol)):
            raise ConfigError("policy_scores must be finite")
        mode = self.resolved_mode
        with self.stats._lock:
            self.stats.calls += 1
            self.stats.modes[mode] += 1
        shown = [int(i) for i in np.argsort(-pol, kind="stable")[: self.max_candidates]]
        shown.sort()  # keep the caller's order in the prompt: no position hint from the policy
        messages = self.build_messages(mode, query, user_summary, [products[i] for i in shown])
        phash = prompt_hash(mode, *(str(m.content) for m in messages))
        start = time.perf_counter()
        try:
            shown_scores = self._cached_or_ask(phash, mode, messages, len(shown), pol[shown])
        except RerankFailure as exc:
            return self._fallback(pol, k, exc.reason, str(exc), mode, rng, temperature, phash)
        latency = time.perf_counter() - start
        llm = np.full(n, float(shown_scores.min()))
        llm[shown] = shown_scores
        blended = blend_scores(pol, llm, self.blend_weight)
        order, props = self._order(blended, k, rng, temperature)
        return RerankResult(order, blended, llm, False, None, mode, props, phash, latency)

    # -- internals ---------------------------------------------------------------------------

    def _order(self, scores: np.ndarray, k: int, rng: np.random.Generator | None,
               temperature: float) -> tuple[list[int], np.ndarray]:
        if rng is not None:
            return sample_order(scores, k, rng, temperature)
        order = [int(i) for i in np.argsort(-scores, kind="stable")[:k]]
        return order, np.ones(len(order))

    def _fallback(self, pol: np.ndarray, k: int, reason: str, detail: str, mode: str,
                  rng: np.random.Generator | None, temperature: float,
                  phash: str | None) -> RerankResult:
        with self.stats._lock:
            self.stats.fallbacks[reason] += 1
        logger.warning("rerank fell back to the policy order (mode=%s, reason=%s): %s",
                       mode, reason, detail)
        z = zscore(pol)
        order, props = self._order(z, k, rng, temperature)
        return RerankResult(order, z, None, True, reason, mode, props, phash)

    def _cached_or_ask(self, phash: str, mode: str, messages: list[BaseMessage], n_shown: int,
                       shown_pol: np.ndarray) -> np.ndarray:
        if self.cache_size > 0:
            with self._cache_lock:
                hit = self._cache.get(phash)
                if hit is not None:
                    self._cache.move_to_end(phash)
            if hit is not None:
                with self.stats._lock:
                    self.stats.cache_hits += 1
                return hit.copy()
        with self.stats._lock:
            self.stats.llm_calls += 1
        scores = self._ask(mode, messages, n_shown, shown_pol)
        if self.cache_size > 0:
            with self._cache_lock:
                self._cache[phash] = scores.copy()
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return scores

    def _ask(self, mode: str, messages: list[BaseMessage], n_shown: int,
             shown_pol: np.ndarray) -> np.ndarray:
        labels = list(LABELS[:n_shown])
        if mode == "score":
            out = self._with_timeout(lambda: self.chat_model.next_token_logprobs(  # type: ignore[attr-defined]
                messages, labels))
            try:
                scores = np.array([float(out[lab]) for lab in labels])
            except (KeyError, TypeError, ValueError) as exc:
                raise RerankFailure("invalid_scores", f"bad logprobs {out!r:.80}") from exc
            if not np.all(np.isfinite(scores)):
                raise RerankFailure("invalid_scores", "non-finite log-probabilities")
            return scores
        answer = self._with_timeout(lambda: self.chat_model.invoke(messages))
        text = answer.content if isinstance(getattr(answer, "content", None), str) else str(
            getattr(answer, "content", answer))
        try:
            ranked = parse_ranking(text, labels)
        except RerankFailure as exc:
            if exc.reason != "partial_ranking" or not self.complete_partial:
                raise
            ranked = self._complete(text, labels, shown_pol)
        rank = {lab: r for r, lab in enumerate(ranked)}
        return np.array([float(n_shown - rank[lab]) for lab in labels])

    @staticmethod
    def _complete(text: str, labels: list[str], shown_pol: np.ndarray) -> list[str]:
        """Partial ranking + the missing labels in policy order (``complete_partial=True``)."""
        for line in text.splitlines():
            m = _LIST_LINE.match(line.strip())
            if m:
                got = [t.upper() for t in re.findall(r"[A-Za-z]", m.group(1))]
                rest = [labels[i] for i in np.argsort(-shown_pol, kind="stable")
                        if labels[i] not in got]
                return got + rest
        raise RerankFailure("partial_ranking", "cannot re-read the partial ranking")

    def _with_timeout(self, fn: Any) -> Any:
        pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rerank")
        try:
            future = pool.submit(fn)
            return future.result(timeout=self.timeout_s)
        except cf.TimeoutError as exc:
            raise RerankFailure("timeout", f"no answer within {self.timeout_s}s") from exc
        except RerankFailure:
            raise
        except Exception as exc:  # any backend error becomes a counted fallback
            raise RerankFailure("error", f"{type(exc).__name__}: {exc}") from exc
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
