"""The recommendation facade: retrieve → policy → (language-model rerank) → log the impression.

Every surface that shows slates (the HTTP server, ``shelfwise batch``, the chat assistant) goes
through :class:`Recommender`, so that each slate is chosen, explained and logged the same way:

1. the shopper's history (organic interactions imported by ``shelfwise ingest-events`` and
   clicks and purchases of served slates, from the event log) and optional query text become a
   user state (``Engine.user_state``);
2. the index returns ``n_candidates`` products that pass the filters (``Engine.candidates``);
3. the slate policy picks ``k`` of them (``SlatePolicy.select``); the propensity logged for
   each is its position-wise marginal P(item at this slot) under the policy's distribution
   (:func:`shelfwise.candidates.slot_marginals`: exact for the first slot, Monte Carlo after),
   which is what position-based off-policy estimators divide by;
4. if a reranker is set, the language model scores the slate for the query and writes one
   reason per item; the served order is then *sampled* Plackett-Luce from the blend of the
   policy's and the model's scores, so that every served position still has a computable
   propensity (approximately: P(the policy showed the item) is taken as its marginal at the
   slot the policy drew, times the blend's marginal for the served slot, see
   :func:`plackett_luce_marginals`);
5. the impression (items, positions, propensities, policy version, state and candidate ids
   for replay, prompt hash) is written to the event log before the slate is returned.

Sponsored slots. With ``[sponsored] positions`` configured (:mod:`shelfwise.sponsored`), step 3
lays the slate out: sponsored candidates (the catalog's ``sponsored`` flag) fill the ad
positions, drawn from the policy's logits blended with their bids, and organic candidates fill
the other slots; every slot logs its Plackett-Luce draw probability within its pool (a
conditional probability, not yet the position-wise marginal of the other slots). Ads are
products the index retrieved for the request (relevance first); a position without a
sponsored candidate falls back to an organic product. A language model reorders only the
organic slots (ads keep their positions). Each served item says whether it is an ad
(``RecommendedItem.sponsored``).

Feedback (:meth:`Recommender.feedback`) writes a click or purchase, idempotent by event id, and
updates the policy online. Policy calls are serialised by one lock (``select`` reads what
``update`` writes), so concurrent requests never see a half-updated policy. Long-lived
recommenders (server, chat) call :meth:`Recommender.enable_checkpoints`: online updates are
then written to disk periodically and on :meth:`Recommender.close_checkpoints`, and reloaded
on the next start (:mod:`shelfwise.online_checkpoints`).

This module knows nothing about HTTP; the server maps its errors to status codes.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from shelfwise.errors import ConfigError, EventLogError, PolicyError, ShelfwiseError

if TYPE_CHECKING:
    from shelfwise.events import EventStore

__all__ = [
    "DEFAULT_LLM_WEIGHT",
    "FeedbackKind",
    "FeedbackResult",
    "RecommendResponse",
    "RecommendedItem",
    "Recommender",
    "UnknownProductError",
    "UnknownSlateError",
    "plackett_luce_marginals",
    "template_reason",
]

DEFAULT_LLM_WEIGHT = 0.0
"""Weight of the language model's score in the served blend (see benchmarks/reports/llm.md)."""

FeedbackKind = Literal["click", "purchase"]
"""The reactions a shopper can send back for a shown product."""


class UnknownProductError(ShelfwiseError, KeyError):
    """A product id is not in the catalog."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownSlateError(ShelfwiseError, KeyError):
    """A slate id was never logged as an impression."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class RecommendedItem:
    """One product of a served slate."""

    product: Any
    """The :class:`shelfwise.catalog.Product`."""
    score: float
    """The score the served order was sampled from (blend of policy and model when reranked)."""
    policy_score: float
    """The slate policy's score of this product."""
    llm_score: float | None
    """The language model's score, or None when no model touched the slate (or it fell back)."""
    reason: str
    """One short reason, grounded in the product's own facts."""
    position: int
    """0-based slot in the served slate."""
    propensity: float
    """Probability that this product was served at this position (logged for evaluation)."""
    reason_source: str = "template"
    """Who wrote ``reason``: ``llm`` (passed the grounding check) or ``template``."""
    sponsored: bool = False
    """True when the product fills a sponsored slot (an ad, labelled "Sponsored")."""


@dataclass(frozen=True)
class RecommendResponse:
    """A served slate. ``slate_id`` is None only when no product passed the filters."""

    slate_id: str | None
    user_id: str
    items: list[RecommendedItem]
    policy: str
    policy_version: str
    query: str | None = None
    reranked: bool = False
    """True when a language model reordered the slate (and did not fall back)."""
    llm_fallback: bool = False
    """True when a reranker was configured but fell back to the policy's order."""
    event_id: str | None = None
    """Event id of the logged impression."""
    prompt_hash: str | None = None
    """Hash of the rerank prompt when a language model reordered the slate (also logged)."""


@dataclass(frozen=True)
class FeedbackResult:
    """What :meth:`Recommender.feedback` did."""

    event_id: str
    slate_id: str
    product_id: str
    kind: str
    position: int
    value: float
    new: bool
    """False when this event id was already logged (a retry); nothing changed then."""
    policy_updated: bool
    """True when the policy learned from this event online."""


@dataclass
class _SlateContext:
    """What an online update needs from a served slate (kept in a bounded in-memory cache)."""

    user_id: str
    state: np.ndarray
    candidates: np.ndarray
    slate: Any
    item_ids: tuple[str, ...]
    updated_once: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def template_reason(product: Any, query: str | None = None) -> str:
    """A plain reason built only from the product's own facts (never states anything else).

    Args:
        product: a :class:`shelfwise.catalog.Product`.
        query: the shopper's words, quoted back when given.
    """
    # it used to end in "close to what you looked at before" for every request without a
    # query, shoppers without a history included; the constructed reason states no history
    from agent.explain import template_reason as constructed_reason
    from agent.products import ProductView

    return constructed_reason(query, ProductView.from_any(product))


def plackett_luce_marginals(scores: np.ndarray, *, temperature: float = 1.0,
                            n_samples: int = 4000, rng: np.random.Generator) -> np.ndarray:
    """Position marginals of a Plackett-Luce ranking, ``(k, k)``: ``[i, j] = P(item i at slot j)``.

    Estimated with ``n_samples`` Gumbel-top-k draws (exact for k <= 1); each row sums to 1.
    Marginals are floored at ``1 / n_samples`` so that a served position never logs 0.

    Args:
        scores: ``(k,)`` float scores (log-weights before the temperature).
        temperature: > 0; lower makes the order more deterministic.
        n_samples: Monte Carlo draws.
        rng: the random generator.
    """
    s = np.asarray(scores, dtype=np.float64) / float(temperature)
    k = s.shape[0]
    if k <= 1:
        return np.ones((k, k))
    gumbel = rng.gumbel(size=(n_samples, k))
    order = np.argsort(-(s[None, :] + gumbel), axis=1)  # (n, k): slot -> item
    counts = np.zeros((k, k))
    for slot in range(k):
        counts[:, slot] = np.bincount(order[:, slot], minlength=k)
    marg = np.maximum(counts / n_samples, 1.0 / n_samples)
    return marg / marg.sum(axis=1, keepdims=True)


def _zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


class Recommender:
    """Retrieve, choose, rerank, explain and log slates; learn from feedback.

    Args:
        engine: a :class:`shelfwise.engine.Engine` (``catalog``, ``user_state``, ``candidates``).
        policy: a :class:`agent.policy.SlatePolicy`.
        event_store: where impressions, clicks and purchases go.
        reranker: an :class:`agent.rerank.Reranker`, or None to serve the policy's order.
        n_candidates: products retrieved from the index per request.
        llm_weight: weight of the model's (standardised) score in the blend, in ``[0, 1]``.
        temperature: Plackett-Luce temperature of the served order when reranked.
        history_size: most recent distinct products per shopper used for the user state.
        update_online: call ``policy.update`` on each new click or purchase.
        click_reward: reward of a click for online updates.
        purchase_reward: reward of a purchase for online updates (plus ``purchase_value_weight``
            times its value).
        purchase_value_weight: weight of the purchase value in the reward.
        log_candidates: store the state vector and candidate ids in each impression (replay).
        context_cache: served slates kept in memory for online updates.
        encoder_version: logged with each impression.
        index_version: logged with each impression.
        explain: ``(product, query) -> str`` reason writer used when ``explainer`` is None.
        explainer: an :class:`agent.explain.Explainer`; when set, reasons come from its
            ``explain_many`` (grounding-checked; model sentences that fail the check are
            replaced by templates and counted in ``reason_fallbacks``).
        sponsored: a :class:`shelfwise.sponsored.SponsoredLayout`; None reads the
            ``[sponsored]`` section of the engine's workspace config (no positions: no ads).
    """

    def __init__(self, engine: Any, policy: Any, event_store: EventStore, reranker: Any = None,
                 *, n_candidates: int = 100, llm_weight: float = DEFAULT_LLM_WEIGHT,
                 temperature: float = 0.5,
                 history_size: int = 50, update_online: bool = True, click_reward: float = 1.0,
                 purchase_reward: float = 1.0, purchase_value_weight: float = 0.0,
                 log_candidates: bool = True, context_cache: int = 4096,
                 encoder_version: str = "", index_version: str = "",
                 explain: Callable[[Any, str | None], str] | None = None,
                 explainer: Any = None, sponsored: Any = None) -> None:
        if n_candidates < 1:
            raise ConfigError(f"n_candidates must be >= 1, got {n_candidates}")
        if not 0.0 <= llm_weight <= 1.0:
            raise ConfigError(f"llm_weight must be in [0, 1], got {llm_weight}")
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        self.engine = engine
        self.policy = policy
        self.events = event_store
        self.reranker = reranker
        self.n_candidates = int(n_candidates)
        self.llm_weight = float(llm_weight)
        self.temperature = float(temperature)
        self.history_size = int(history_size)
        self.update_online = bool(update_online)
        self.click_reward = float(click_reward)
        self.purchase_reward = float(purchase_reward)
        self.purchase_value_weight = float(purchase_value_weight)
        self.log_candidates = bool(log_candidates)
        self.encoder_version = encoder_version or _model_names(engine)
        self.index_version = index_version
        self.explain = explain or template_reason
        self.explainer = explainer
        self._sponsored = sponsored
        self._policy_lock = threading.RLock()
        self._contexts: OrderedDict[str, _SlateContext] = OrderedDict()
        self._contexts_max = int(context_cache)
        self._contexts_lock = threading.Lock()
        self._seed_lock = threading.Lock()
        self._seeds = np.random.SeedSequence()
        self.llm_fallbacks = 0
        """Slates where the reranker fell back to the policy's order."""
        self.policy_updates = 0
        """Online ``policy.update`` calls made."""
        self.reason_fallbacks = 0
        """Reasons the explainer's model was asked for but that were served as templates."""
        self.checkpoints: Any = None
        """The :class:`shelfwise.online_checkpoints.OnlineCheckpoints` of the online updates,
        once :meth:`enable_checkpoints` is called."""

    # -- helpers -----------------------------------------------------------------------------

    @property
    def catalog(self) -> Any:
        """The engine's catalog store."""
        return self.engine.catalog

    @property
    def sponsored(self) -> Any:
        """The :class:`shelfwise.sponsored.SponsoredLayout` of served slates.

        Read once from the ``[sponsored]`` section of the engine's workspace config when none
        was given (an engine without a workspace: no sponsored positions).

        Raises:
            ConfigError: an invalid ``[sponsored]`` section.
        """
        if self._sponsored is None:
            from shelfwise.sponsored import SponsoredLayout

            ws = getattr(self.engine, "workspace", None)
            path = getattr(ws, "config_file", None)
            if path is None:
                self._sponsored = SponsoredLayout()
            else:
                from shelfwise.config import load_config

                self._sponsored = SponsoredLayout.from_config(load_config(path).sponsored)
        return self._sponsored

    def _sponsored_flags(self, cand_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(sponsored bool (n,), bids float64 (n,))`` of the candidates, from the catalog."""
        found = {p.id: p for p in self.catalog.by_ids(cand_ids)}
        flags = np.array([bool(getattr(found.get(c), "sponsored", False)) for c in cand_ids])
        bids = np.array([float(getattr(found.get(c), "bid", 0.0) or 0.0) for c in cand_ids])
        return flags, bids

    def product(self, product_id: str) -> Any:
        """The product with this id.

        Raises:
            UnknownProductError: no such product in the catalog.
        """
        try:
            product = self.catalog.get(product_id)
        except (KeyError, ShelfwiseError):
            product = None
        if product is None:
            raise UnknownProductError(f"unknown product id {product_id!r}")
        return product

    def _next_rng(self) -> np.random.Generator:
        with self._seed_lock:
            child = self._seeds.spawn(1)[0]
        return np.random.default_rng(child)

    def history(self, user_id: str) -> list[str]:
        """The products the shopper interacted with, oldest first (the last ``history_size``).

        Read from the event log on every call, so a reaction logged a moment ago (here, by
        another server process, or by ``shelfwise ingest-events``) counts at once. Organic and
        served interactions count alike: imported views, clicks, add-to-carts and purchases,
        and clicks and purchases of served slates (see :meth:`EventStore.user_history`); each
        product once, at the place of its latest interaction.
        """
        return self._load_history(user_id)

    def _load_history(self, user_id: str) -> list[str]:
        # One indexed query per request (well under a millisecond on a large log); no cache
        # that could go stale when another process writes to the log.
        return list(self.events.user_history(user_id, self.history_size))

    def _remember(self, user_id: str, product_id: str) -> None:
        """Nothing to do: the history is read from the log, where the event was just written."""

    # -- serving -----------------------------------------------------------------------------

    def recommend(self, user_id: str, query: str | None = None, filters: Any = None, k: int = 10,
                  rng: np.random.Generator | None = None, *, session_id: str | None = None,
                  exclude_ids: Sequence[str] = (),
                  similar_to: str | None = None) -> RecommendResponse:
        """Choose, explain and log a slate of up to ``k`` products for ``user_id``.

        Args:
            user_id: the shopper (history comes from the event log).
            query: what the shopper asked for, if anything.
            filters: an :class:`index.SearchFilter` (category, price, stock, excluded ids).
            k: slate size, >= 1.
            rng: randomness of the policy and the served order; default a fresh child seed.
            session_id: logged with the impression.
            exclude_ids: products never to show (added to ``filters.exclude_ids``).
            similar_to: a product id; the state is pulled toward its vector ("more like
                this") and the product itself is not shown.

        Returns:
            The slate; ``slate_id`` is None and ``items`` empty when nothing passes the filters.

        Raises:
            ConfigError: ``k`` < 1 or an empty ``user_id``.
            UnknownProductError: ``similar_to`` is not in the catalog.
        """
        from shelfwise.threads import one_thread

        with one_thread():  # small arrays: one thread is faster (see shelfwise.threads)
            return self._recommend(user_id, query, filters, k, rng, session_id=session_id,
                                   exclude_ids=exclude_ids, similar_to=similar_to)

    def _recommend(self, user_id: str, query: str | None, filters: Any, k: int,
                   rng: np.random.Generator | None, *, session_id: str | None,
                   exclude_ids: Sequence[str], similar_to: str | None) -> RecommendResponse:
        if not isinstance(user_id, str) or not user_id:
            raise ConfigError("user_id must be a non-empty string")
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        query = query.strip() if query and query.strip() else None
        rng = rng if rng is not None else self._next_rng()
        if similar_to is not None:
            self.product(similar_to)
            exclude_ids = (*exclude_ids, similar_to)
        if exclude_ids:
            filters = _with_excluded(filters, exclude_ids)
        history = self.history(user_id)
        state = np.asarray(self.engine.user_state(history, query), dtype=np.float32)
        if similar_to is not None:
            anchor = np.asarray(self.engine.index.vector(similar_to), dtype=np.float32)
            mixed = anchor + 0.5 * state
            state = (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(np.float32)
        cset = None
        if hasattr(self.engine, "candidate_set"):
            # named sources (content, behaviour, item-to-item, popular), history excluded
            cset = self.engine.candidate_set(state, history, max(self.n_candidates, k), filters,
                                             query=query is not None)
            cand_ids, feats = list(cset.ids), cset.vectors
        else:
            cand_ids, feats = self.engine.candidates(state, max(self.n_candidates, k), filters)
        cand_ids = [c for c in cand_ids if c is not None]
        feats = np.asarray(feats, dtype=np.float32)[: len(cand_ids)]
        name = str(getattr(self.policy, "name", type(self.policy).__name__))
        version = str(getattr(self.policy, "version", "0"))
        if not cand_ids:
            return RecommendResponse(None, user_id, [], name, version, query)
        k_eff = min(k, len(cand_ids))
        layout = self.sponsored
        ads = np.zeros(k_eff, dtype=bool)
        flags = bids = None
        if layout.enabled:
            flags, bids = self._sponsored_flags(cand_ids)
        with self._policy_lock:
            if flags is not None and flags.any():
                slate, ads = self._laid_out(layout, state, feats, cset, flags, bids, k_eff, rng)
            elif cset is not None:
                from shelfwise.candidates import select_with_prior

                # source scores enter as a fitted prior on the policy's own logits
                slate = select_with_prior(
                    self.policy, state, feats, cset.prior, k_eff, rng,
                    temperature=self.engine.candidate_sources.config.temperature,
                    policy_scale=self.engine.candidate_sources.policy_scale)
            else:
                slate = self.policy.select(state, feats, k_eff, rng)
                if getattr(slate, "marginals", None) is None and hasattr(self.policy, "logits"):
                    from shelfwise.candidates import slot_marginals

                    slate.marginals, _ = slot_marginals(
                        self.policy.logits(state, feats, rng), slate.item_ids, rng)
            name = str(getattr(slate, "policy", name) or name)
            version = str(getattr(slate, "version", version) or version)
        chosen = [int(i) for i in np.asarray(slate.item_ids)]
        pol_scores = np.asarray(slate.scores, dtype=np.float64)
        # the log holds position-wise marginals P(item at slot), what position-based OPE
        # divides by; the ad layout logs each slot's draw probability within its pool
        marg_or_props = getattr(slate, "marginals", None)
        pol_props = np.asarray(slate.propensities if marg_or_props is None else marg_or_props,
                               dtype=np.float64)
        products = [self.product(cand_ids[i]) for i in chosen]

        order = np.arange(len(chosen))
        served_scores = pol_scores.copy()
        props = pol_props.copy()
        llm_scores: np.ndarray | None = None
        prompt_hash: str | None = None
        reranked = fallback = False
        summary = self._user_summary(user_id) if self.reranker is not None or \
            self.explainer is not None else None
        if self.reranker is not None:
            from agent.rerank import sample_order

            # ads keep their slots: the model reorders the organic items among organic slots
            org = np.flatnonzero(~ads)
            sub = [products[i] for i in org]
            # the recommender owns the blend and the served order; the reranker only scores
            result = self.reranker.rerank(query, summary, sub, pol_scores[org], len(sub)) \
                if len(sub) else None
            fallback = bool(getattr(result, "fallback", False))
            raw = getattr(result, "llm_scores", None)
            if result is None:
                pass
            elif fallback or raw is None or np.asarray(raw).shape != (len(sub),):
                fallback = True
                with self._contexts_lock:
                    self.llm_fallbacks += 1
            else:
                sub_llm = np.asarray(raw, dtype=np.float64)  # indexed like ``sub``
                blend = ((1.0 - self.llm_weight) * _zscore(pol_scores[org])
                         + self.llm_weight * _zscore(sub_llm))
                served, _ = sample_order(blend, len(sub), rng, self.temperature)
                sub_order = np.asarray(served)
                marg = plackett_luce_marginals(blend, temperature=self.temperature, rng=rng)
                # P(item at slot) = P(policy showed the item) * P(the blend put it there | set)
                sub_props = np.array([pol_props[org[i]] * marg[i, slot]
                                      for slot, i in enumerate(sub_order)])
                order[org] = org[sub_order]
                props[org[sub_order]] = sub_props
                served_scores[org] = blend
                llm_scores = np.full(len(products), np.nan)
                llm_scores[org] = sub_llm
                reranked = True
                prompt_hash = _prompt_hash(result, query)
        reasons, sources = self._reasons(query, [products[i] for i in order], summary,
                                         user_id=user_id,
                                         budget=getattr(filters, "max_price", None))
        reasons = [reasons[int(np.flatnonzero(order == i)[0])] for i in range(len(products))]
        sources = [sources[int(np.flatnonzero(order == i)[0])] for i in range(len(products))]

        slate_id = uuid.uuid4().hex
        event_id = uuid.uuid4().hex
        served = [int(i) for i in order]
        item_ids = tuple(products[i].id for i in served)
        imp_props = tuple(float(min(max(props[i], 1e-12), 1.0)) for i in served)
        ad_info = None
        if ads.any():  # which served slots are ads, and the bids they were served with
            slot_bids = [float(bids[chosen[i]]) if ads[slot] and bids is not None else 0.0
                         for slot, i in enumerate(served)]
            ad_info = (tuple(bool(a) for a in ads), tuple(slot_bids))
        self._log_impression(event_id, slate_id, user_id, session_id, item_ids, imp_props,
                             tuple(float(served_scores[i]) for i in served), name, version,
                             prompt_hash, query, state, cand_ids, cset, ad_info)
        self._remember_context(slate_id, _SlateContext(user_id, state, feats, slate,
                                                       tuple(p.id for p in products)))
        items = [RecommendedItem(
            product=products[i], score=float(served_scores[i]),
            policy_score=float(pol_scores[i]),
            llm_score=None if llm_scores is None or np.isnan(llm_scores[i])
            else float(llm_scores[i]),
            reason=reasons[i], position=slot, propensity=imp_props[slot],
            reason_source=sources[i], sponsored=bool(ads[slot]))
            for slot, i in enumerate(served)]
        return RecommendResponse(slate_id, user_id, items, name, version, query, reranked,
                                 fallback, event_id, prompt_hash)

    def _laid_out(self, layout: Any, state: np.ndarray, feats: np.ndarray, cset: Any,
                  flags: np.ndarray, bids: np.ndarray, k: int,
                  rng: np.random.Generator) -> tuple[Any, np.ndarray]:
        """A slate with sponsored slots: ``(Slate, ads bool (k,))`` (call under the lock).

        The logits are the ones the plain path samples from: the policy's own, plus the
        candidate sources' prior over the temperature when there is one.
        """
        from shelfwise.candidates import policy_logits

        logits = policy_logits(self.policy, state, feats, rng)
        temperature = 1.0
        if cset is not None and getattr(self.policy, "name", "") != "random" and \
                cset.prior is not None:
            src = self.engine.candidate_sources
            temperature = float(src.config.temperature)
            logits = (float(src.policy_scale) * logits
                      + np.asarray(cset.prior, np.float64)[None, :]) / temperature
        laid = layout.select(logits, flags, k, rng, bids=bids,
                             policy=str(getattr(self.policy, "name", "policy")),
                             version=str(getattr(self.policy, "version", "0")))
        slate = laid.slate
        slate.scores = np.asarray(slate.scores, dtype=np.float64) * temperature
        return slate, laid.ads

    def _reasons(self, query: str | None, products: list[Any], summary: str | None, *,
                 user_id: str | None = None,
                 budget: float | None = None) -> tuple[list[str], list[str]]:
        """One reason per product (served order) and who decided it.

        Sources are ``llm``, ``chosen`` or ``template``; only a history the shopper really
        has reaches the explainer.
        """
        if self.explainer is None:
            return [self.explain(p, query) for p in products], ["template"] * len(products)
        from agent.facts import ShopperContext
        from agent.products import ProductView

        views = [ProductView.from_any(p) for p in products]
        history = []
        for pid in (self.history(user_id)[-5:] if user_id else []):
            try:
                history.append(ProductView.from_any(self.product(pid)))
            except UnknownProductError:
                continue
        shopper = ShopperContext.of(query, budget=budget, history=history, key=user_id or "")
        out = self.explainer.explain_many(query, views, summary, shopper=shopper)
        asked = getattr(self.explainer, "chat_model", None) is not None
        n_template = sum(e.source == "template" for e in out)
        if asked and n_template:
            with self._contexts_lock:
                self.reason_fallbacks += n_template
        return [e.text for e in out], [e.source for e in out]

    def _user_summary(self, user_id: str) -> str:
        recent = self.history(user_id)[-5:]
        if not recent:
            return "a new shopper with no history"
        titles = []
        for pid in reversed(recent):
            try:
                titles.append(self.product(pid).title)
            except UnknownProductError:
                continue
        return "recently looked at: " + "; ".join(titles)

    def _log_impression(self, event_id: str, slate_id: str, user_id: str,
                        session_id: str | None, item_ids: tuple[str, ...],
                        propensities: tuple[float, ...], scores: tuple[float, ...], policy: str,
                        version: str, prompt_hash: str | None, query: str | None,
                        state: np.ndarray, cand_ids: list[str], cset: Any = None,
                        ad_info: tuple[tuple[bool, ...], tuple[float, ...]] | None = None) -> None:
        from shelfwise.events import Impression

        replay: dict[str, Any] = {}
        if self.log_candidates:
            replay = {"state": state, "candidate_ids": tuple(cand_ids)}
            if cset is not None and len(cset) == len(cand_ids) and \
                    "candidate_sources" in Impression.__dataclass_fields__:
                from shelfwise.candidates import SOURCES

                # provenance and source scores of every candidate (policy features, replay)
                replay.update(candidate_sources=cset.source_labels(),
                              source_scores=cset.scores, source_names=SOURCES)
        if ad_info is not None:
            replay.update(ads=ad_info[0], ad_bids=ad_info[1])
        self.events.log_impression(Impression(
            event_id=event_id, slate_id=slate_id, user_id=user_id, session_id=session_id,
            item_ids=item_ids, propensities=propensities, policy=policy, policy_version=version,
            scores=scores, encoder_version=self.encoder_version, index_version=self.index_version,
            prompt_hash=prompt_hash, query=query, **replay))

    def _remember_context(self, slate_id: str, ctx: _SlateContext) -> None:
        with self._contexts_lock:
            self._contexts[slate_id] = ctx
            while len(self._contexts) > self._contexts_max:
                self._contexts.popitem(last=False)

    # -- feedback ----------------------------------------------------------------------------

    def feedback(self, event_id: str, slate_id: str, product_id: str, kind: FeedbackKind,
                 *, value: float | None = None, quantity: int = 1,
                 time: float | None = None) -> FeedbackResult:
        """Log a click or purchase of a shown product and update the policy online.

        Idempotent by ``event_id``: sending the same event again returns ``new=False`` and
        changes nothing (neither the log nor the policy).

        Args:
            event_id: the client's id for this reaction (retry with the same id).
            slate_id: the served slate.
            product_id: a product of that slate.
            kind: ``click`` or ``purchase``.
            value: purchase value; default the product's price times ``quantity``.
            quantity: items bought (purchases only), >= 1.
            time: unix seconds; default now.

        Raises:
            ConfigError: an invalid kind, quantity, or a product that the slate did not show.
            UnknownSlateError: ``slate_id`` was never served.
            UnknownProductError: ``product_id`` is not in the catalog.
            EventLogError: ``event_id`` is already taken by a different event.
        """
        from shelfwise.events import Click, Purchase

        if kind not in ("click", "purchase"):
            raise ConfigError(f"kind must be 'click' or 'purchase', got {kind!r}")
        if quantity < 1:
            raise ConfigError(f"quantity must be >= 1, got {quantity}")
        product = self.product(product_id)
        impression = self._impression(slate_id)
        if product_id not in impression.item_ids:
            raise ConfigError(f"product {product_id!r} was not shown in slate {slate_id!r}")
        slot = impression.item_ids.index(product_id)
        position = int(impression.positions[slot])
        extra: dict[str, Any] = {} if time is None else {"time": float(time)}
        if kind == "click":
            amount = 1.0 if value is None else float(value)
            new = self.events.log_click(Click(event_id, slate_id, impression.user_id, product_id,
                                              position, amount, **extra))
        else:
            amount = float(product.price) * quantity if value is None else float(value)
            new = self.events.log_purchase(Purchase(event_id, slate_id, impression.user_id,
                                                    product_id, position, amount, **extra))
        updated = False
        if new:
            self._remember(impression.user_id, product_id)
            if self.update_online:
                updated = self._update_policy(slate_id, product_id, kind, amount)
        return FeedbackResult(event_id, slate_id, product_id, kind, position, amount, new,
                              updated)

    def _impression(self, slate_id: str) -> Any:
        getter = getattr(self.events, "impression", None)
        if getter is not None:
            imp = getter(slate_id)
        else:
            try:
                imp = self.events.feedback_for(slate_id).impression
            except EventLogError:
                imp = None
        if imp is None:
            raise UnknownSlateError(f"unknown slate_id {slate_id!r}")
        return imp

    def _update_policy(self, slate_id: str, product_id: str, kind: str, amount: float) -> bool:
        with self._contexts_lock:
            ctx = self._contexts.get(slate_id)
        if ctx is None:
            return False  # served before a restart or evicted: the offline trainer learns it
        reward = self.click_reward if kind == "click" else (
            self.purchase_reward + self.purchase_value_weight * amount)
        j = ctx.item_ids.index(product_id)
        with ctx.lock:
            first = not ctx.updated_once
            ctx.updated_once = True
        fb = self._feedback_record(ctx, j, reward, whole_slate=first)
        with self._policy_lock:
            self.policy.update([fb])
            self.policy_updates += 1
        if self.checkpoints is not None:
            self.checkpoints.updated()
        return True

    # -- checkpoints of online updates -------------------------------------------------------

    def enable_checkpoints(self, folder: str | Path, *, every: int = 100,
                           seconds: float = 60.0, load: bool = True) -> bool:
        """Save online policy updates periodically and on :meth:`close_checkpoints`; reload them.

        The file is ``folder/<version of the current policy>.npz``: when it exists (this
        same base policy was served and updated before) the policy is replaced by it. See
        :mod:`shelfwise.online_checkpoints`.

        Args:
            folder: where checkpoints live (the workspace's ``policies/online``).
            every: save after this many unsaved updates.
            seconds: save this long after an unsaved update at the latest.
            load: reload the saved updates of this base policy when present.

        Returns:
            True when saved updates were loaded.

        Raises:
            ConfigError: bad ``every`` / ``seconds``.
            PolicyError: the saved checkpoint exists but is invalid (the message names it).
        """
        from shelfwise.online_checkpoints import OnlineCheckpoints

        if self.checkpoints is not None:
            self.close_checkpoints()
            self.checkpoints = None
        with self._policy_lock:
            base = str(getattr(self.policy, "version", "") or "")
            ckpt = OnlineCheckpoints(folder, base, self._write_policy, every=every,
                                     seconds=seconds)
            try:
                loaded = ckpt.load() if load else None
            except ShelfwiseError as exc:
                raise type(exc)(f"{exc}; delete {ckpt.path} to start from the base policy "
                                "without its saved online updates") from exc
            if loaded is not None:
                if getattr(loaded, "name", None) != getattr(self.policy, "name", None):
                    raise PolicyError(f"{ckpt.path}: holds policy {loaded.name!r}, not "
                                      f"{self.policy.name!r}")
                self.policy = loaded
            self.checkpoints = ckpt
        ckpt.start()
        return loaded is not None

    def _write_policy(self, path: Path) -> None:
        from agent.policy import save_policy

        with self._policy_lock:  # select and update wait: the file is one consistent policy
            save_policy(self.policy, path)

    def save_checkpoint(self) -> Path | None:
        """Write unsaved online updates now; returns the file written, else None."""
        return None if self.checkpoints is None else self.checkpoints.save_now()

    def close_checkpoints(self) -> Path | None:
        """Stop periodic saves and write what is unsaved (call on shutdown).

        The checkpoints stay configured: ``self.checkpoints.start()`` resumes periodic saves.
        """
        return None if self.checkpoints is None else self.checkpoints.close()

    @staticmethod
    def _feedback_record(ctx: _SlateContext, j: int, reward: float, *, whole_slate: bool) -> Any:
        """Build the policy feedback of one reaction.

        The first reaction to a slate teaches the whole slate (others unclicked); later ones
        only their own item, so that no shown item is counted as a miss twice.
        """
        from agent.policy import Feedback, Slate

        slate = ctx.slate
        k = len(ctx.item_ids)
        if whole_slate:
            clicks = np.zeros(k, dtype=bool)
            rewards = np.zeros(k, dtype=np.float64)
            clicks[j] = True
            rewards[j] = reward
            sub = slate
        else:
            clicks = np.array([True])
            rewards = np.array([reward], dtype=np.float64)
            sub = Slate(item_ids=np.asarray(slate.item_ids)[[j]],
                        scores=np.asarray(slate.scores)[[j]],
                        propensities=np.asarray(slate.propensities)[[j]],
                        policy=slate.policy, version=slate.version)
        return Feedback(state=ctx.state, candidates=ctx.candidates, slate=sub, clicks=clicks,
                        rewards=rewards, next_state=None, done=True)


def _with_excluded(filters: Any, exclude_ids: Sequence[str]) -> Any:
    from dataclasses import replace

    from index import SearchFilter

    base = filters if filters is not None else SearchFilter()
    return replace(base, exclude_ids=frozenset(base.exclude_ids) | frozenset(exclude_ids))


def _model_names(engine: Any) -> str:
    names = []
    for attr in ("text_encoder", "image_encoder"):
        enc = getattr(engine, attr, None)
        if enc is not None and getattr(enc, "name", None):
            names.append(str(enc.name))
    return "+".join(names)


def _prompt_hash(result: Any, query: str | None) -> str:
    given = getattr(result, "prompt_hash", None)
    if given:
        return str(given)
    return hashlib.sha256(f"rerank:{query}".encode()).hexdigest()[:16]
