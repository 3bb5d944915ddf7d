"""Vectorised shopper simulator: many sessions step together in numpy.

:class:`SimBatch` holds ``b`` sessions; every array is batch-first. :class:`ShopperSimEnv`
(the Gymnasium env) is a ``b = 1`` wrapper around it, so both share one model:

A RecSim-interest-evolution-like model (Ie et al., 2019):

* every product ``j`` has a latent quality ``q_j`` (:func:`~shelfwise.sim.shoppers.
  product_quality`: price band plus a fixed brand offset; budget = clickbait, premium = good);
* core utility of product ``j`` for shopper ``s`` =
  ``Σ_g taste_g[s, value_g(j)]`` (category, colour, style, material)
  ``- price_sensitivity[s] * log(price_j / median price)`` (cheap items attract)
  ``+ intent bonuses`` (category, colour, material; penalty above a price cap)
  ``- boredom_weight * boredom[s, (category, colour)(j)]``;
  the *click* utility adds ``- clickbait_appeal * q_j`` (low quality looks attractive);
* choice: conditional logit over the slate (click utilities) with position multipliers and a
  no-click option; a click becomes a purchase with probability
  ``sigmoid(purchase_bias + core u - ps * log price)``;
* long-term effects: each step costs ``step_cost`` of the session's time budget
  (``no_click_cost`` more after an empty slate); a click refunds
  ``click_refund * sigmoid(core u) + quality_budget * q_j``, so satisfying (high-quality)
  clicks extend the session and clickbait shortens it, the trade-off a myopic click
  maximiser gets wrong; tastes drift toward clicked attributes; mild boredom accumulates on
  shown and clicked (category, colour) pairs and decays; an optional ``repetition_cost``
  (off by default) charges slates of near-duplicates;
* state: recency-weighted mean of clicked product vectors (seeded with ``seed_history``
  products the shopper liked before the session), mixed with the intent query's vector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelfwise.errors import ConfigError
from shelfwise.sim.choice import (
    choice_probabilities,
    position_weights,
    sample_choice,
    sigmoid,
)
from shelfwise.sim.config import SimConfig
from shelfwise.sim.shoppers import (
    QueryEncoder,
    Shoppers,
    SimCatalog,
    matches_intent,
    product_quality,
    sample_shoppers,
)

CandidateFn = Callable[[np.ndarray, int], np.ndarray]
"""``(state (d,), n) -> int (<= n,)`` product rows (e.g. FAISS retrieval); negatives are
ignored, duplicates dropped, and the list is topped up with random products to ``n``."""

PolicyFn = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
"""``(states (b, d), candidates (b, n, d), rng) -> actions int (b, k)`` distinct positions."""


@dataclass(frozen=True)
class StepResult:
    """Outcome of one :meth:`SimBatch.step` for all ``b`` sessions.

    Rows of sessions that were already done before the step hold ``-1`` / 0 / False.

    Attributes:
        rewards: ``float64 (b,)``.
        clicked_rank: ``int64 (b,)`` slate rank clicked, ``-1`` for none.
        clicked_row: ``int64 (b,)`` product row clicked, ``-1`` for none.
        purchased: ``bool (b,)``.
        price: ``float64 (b,)`` price of the clicked item, 0 without click.
        terminated: ``bool (b,)`` budget ran out at this step.
        truncated: ``bool (b,)`` ``max_steps`` reached at this step.

    """

    rewards: np.ndarray
    clicked_rank: np.ndarray
    clicked_row: np.ndarray
    purchased: np.ndarray
    price: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


@dataclass(frozen=True)
class SessionStats:
    """Per-session totals returned by :meth:`SimBatch.run` / :func:`run_sessions`.

    Attributes:
        returns: ``float64 (b,)`` sum of rewards.
        clicks: ``int64 (b,)`` number of clicks.
        purchases: ``int64 (b,)`` number of purchases.
        purchase_value: ``float64 (b,)`` summed price of purchases.
        lengths: ``int64 (b,)`` steps taken.
        intent_clicks: ``int64 (b,)`` clicks on items in the session's intent category.
        has_intent: ``bool (b,)`` whether the session had an intent.
        seconds: wall time of the run.

    """

    returns: np.ndarray
    clicks: np.ndarray
    purchases: np.ndarray
    purchase_value: np.ndarray
    lengths: np.ndarray
    intent_clicks: np.ndarray
    has_intent: np.ndarray
    seconds: float


class SimBatch:
    """``b`` shopper sessions simulated in lock step (see the module docstring for the model).

    Observation per session: ``states[s]`` ``float32 (d,)`` and ``candidates[s]``
    ``float32 (n, d)`` = ``product_vectors[candidate_ids[s]]``. Candidate order: the
    ``n - n_random_candidates`` retrieved products by descending score, then the random ones.

    Args:
        latent: latent table (``shoppers.LATENT_COLUMNS``), row ``i`` ↔ ``product_vectors[i]``.
        product_vectors: ``(P, d)`` L2-normalised product vectors.
        config: simulator settings; defaults to ``SimConfig()``.
        query_encoder: encodes intent texts into the product space; ``None``: intents stay
            latent (they change utilities but not the state vector).
        candidate_fn: per-session retrieval ``(state (d,), n) -> rows``; ``None`` = exact top
            dot product over ``product_vectors`` plus ``n_random_candidates`` random products.

    Raises:
        CatalogError: invalid latent table or vectors.
        ConfigError: the catalogue is smaller than ``n_candidates``.

    """

    def __init__(
        self,
        latent: pd.DataFrame,
        product_vectors: np.ndarray,
        config: SimConfig | None = None,
        *,
        query_encoder: QueryEncoder | None = None,
        candidate_fn: CandidateFn | None = None,
    ) -> None:
        self.config = config if config is not None else SimConfig()
        self.catalog = SimCatalog.from_latent(latent, product_vectors)
        self.quality: np.ndarray = product_quality(latent.reset_index(drop=True), self.config)
        """``float64 (P,)`` latent product quality (never observed by policies)."""
        if self.catalog.n_products < self.config.n_candidates:
            raise ConfigError(
                f"n_candidates ({self.config.n_candidates}) exceeds the catalogue size "
                f"({self.catalog.n_products} products)"
            )
        self.query_encoder = query_encoder
        self.candidate_fn = candidate_fn
        self._query_cache: dict[str, np.ndarray] = {}
        self._weights = position_weights(self.config.k, self.config.position_bias)
        self._hist_decay = 0.5 ** (1.0 / self.config.history_half_life)
        self.n_sessions = 0
        self.policy_rows: np.ndarray = np.zeros(0, dtype=np.int64)
        """Sessions served by the current ``policy_fn`` call in :meth:`run` (all after reset)."""

    # ------------------------------------------------------------------ lifecycle
    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Start ``n_sessions`` new sessions: draw shoppers, build states and candidates.

        Args:
            n_sessions: batch size ``b`` (>= 1).
            rng: the source of randomness for shoppers and the first candidates.

        Raises:
            ConfigError: ``n_sessions`` < 1.

        """
        if n_sessions < 1:
            raise ConfigError(f"n_sessions must be >= 1, got {n_sessions}")
        cat, cfg, b = self.catalog, self.config, n_sessions
        self.n_sessions = b
        self.shoppers: Shoppers = sample_shoppers(
            cat, cfg, b, rng, self.query_encoder, self._query_cache
        )
        self.boredom = np.zeros((b, cat.n_pairs), dtype=np.float64)
        self.hist_sum = np.zeros((b, cat.dim), dtype=np.float64)
        self.hist_weight = np.zeros(b, dtype=np.float64)
        self.budget = np.full(b, cfg.budget, dtype=np.float64)
        self.steps = np.zeros(b, dtype=np.int64)
        self.done = np.zeros(b, dtype=bool)
        self.states = np.zeros((b, cat.dim), dtype=np.float32)
        self.candidate_ids = np.zeros((b, cfg.n_candidates), dtype=np.int64)
        self.policy_rows = np.arange(b)
        self._seed_history(rng)
        self._update_states(np.arange(b))
        self._refresh_candidates(np.arange(b), rng)

    def _seed_history(self, rng: np.random.Generator) -> None:
        """Seed each click history with products the shopper liked before the session.

        ``seed_history`` products per shopper are drawn from ``softmax(click utility)`` over
        the catalogue (without replacement, Gumbel top-k), oldest first.
        """
        h = self.config.seed_history
        if h == 0:
            return
        b, p = self.n_sessions, self.catalog.n_products
        h = min(h, p)
        for lo in range(0, b, 500):
            sess = np.arange(lo, min(b, lo + 500))
            u = self.utilities(sess, np.broadcast_to(np.arange(p), (sess.size, p)))
            keys = u + rng.gumbel(size=u.shape)
            liked = np.argpartition(-keys, h - 1, axis=1)[:, :h]
            for j in range(h):
                self.hist_sum[sess] *= self._hist_decay
                self.hist_weight[sess] *= self._hist_decay
                self.hist_sum[sess] += self.catalog.vectors[liked[:, j]]
                self.hist_weight[sess] += 1.0

    @property
    def candidates(self) -> np.ndarray:
        """``float32 (b, n, d)`` vectors of the current candidates."""
        return self.catalog.vectors[self.candidate_ids]

    @property
    def active(self) -> np.ndarray:
        """``bool (b,)`` sessions not yet done."""
        return ~self.done

    # ------------------------------------------------------------------ model
    def utilities(self, sessions: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Compute the true current utility (before position bias) of products for sessions.

        Args:
            sessions: ``int (m,)`` session indices.
            rows: ``int (m, c)`` product rows.

        Returns:
            ``float64 (m, c)``: taste + price + intent terms minus current boredom, minus
            ``clickbait_appeal * quality`` (the click utility; see :meth:`core_utilities`).

        """
        rows = np.asarray(rows, dtype=np.int64)
        return self.core_utilities(sessions, rows) - self.config.clickbait_appeal * self.quality[
            rows]

    def core_utilities(self, sessions: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Utility without the clickbait appeal (what satisfaction and purchases use)."""
        cat, cfg, sh = self.catalog, self.config, self.shoppers
        s = np.asarray(sessions, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        sc = s[:, None]
        u = np.zeros(rows.shape, dtype=np.float64)
        for taste, codes in zip(sh.taste, cat.codes, strict=True):
            u += taste[sc, codes[rows]]
        u -= sh.price_sensitivity[sc] * cat.log_price[rows]
        intent = sh.has_intent[sc]
        bonus = cfg.intent_bonus * (cat.codes[0][rows] == sh.intent_category[sc])
        colour = sh.intent_colour[sc]
        bonus = bonus + cfg.intent_attribute_bonus * (
            (cat.codes[1][rows] == colour) & (colour >= 0)
        )
        material = sh.intent_material[sc]
        bonus = bonus + cfg.intent_attribute_bonus * (
            (cat.codes[3][rows] == material) & (material >= 0)
        )
        bonus = bonus - cfg.intent_price_penalty * (cat.price[rows] > sh.intent_max_price[sc])
        u += np.where(intent, bonus, 0.0)
        u -= cfg.boredom_weight * self.boredom[sc, cat.pair[rows]]
        return u

    def oracle_scores(self, session_idx: int, candidate_rows: np.ndarray) -> np.ndarray:
        """Return the true current utility of products for one session (boredom included).

        Args:
            session_idx: session index in ``[0, b)``.
            candidate_rows: ``int (c,)`` product rows (e.g. ``candidate_ids[session_idx]``).

        Returns:
            ``float64 (c,)``.

        """
        rows = np.asarray(candidate_rows, dtype=np.int64).reshape(1, -1)
        return self.utilities(np.array([session_idx]), rows)[0]

    def oracle_utilities(self, sessions: np.ndarray | None = None) -> np.ndarray:
        """Return the true current utility of sessions' current candidates.

        Args:
            sessions: ``int (m,)`` session indices; default ``self.policy_rows`` (all sessions
                outside :meth:`run`, the running ones inside it).

        Returns:
            ``float64 (m, n)``.

        """
        rows = self.policy_rows if sessions is None else np.asarray(sessions, dtype=np.int64)
        return self.utilities(rows, self.candidate_ids[rows])

    # ------------------------------------------------------------------ step
    def validate_actions(self, actions: np.ndarray) -> np.ndarray:
        """Check a ``(b, k)`` action array; rows of done sessions are not checked.

        Raises:
            ConfigError (a ``ValueError``): wrong shape or dtype, out-of-range or duplicate
                positions; the message quotes the offending action.

        """
        b, k, n = self.n_sessions, self.config.k, self.config.n_candidates
        arr = np.asarray(actions)
        if arr.shape != (b, k):
            raise ConfigError(f"action: expected shape ({b}, {k}), got {arr.shape}")
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                raise ConfigError(f"action: positions must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        live = np.flatnonzero(~self.done)
        sub = arr[live]
        bad = np.flatnonzero(((sub < 0) | (sub >= n)).any(axis=1))
        if bad.size:
            i = int(live[bad[0]])
            raise ConfigError(
                f"action {arr[i].tolist()} (session {i}): positions must be in [0, {n})"
            )
        srt = np.sort(sub, axis=1)
        dup = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        if dup.size:
            i = int(live[dup[0]])
            raise ConfigError(
                f"action {arr[i].tolist()} (session {i}): duplicate positions; a slate shows "
                f"{k} distinct candidates"
            )
        return arr

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> StepResult:
        """Show each active session its slate and advance it one step.

        Args:
            actions: ``int (b, k)`` distinct candidate positions per session, best rank first;
                rows of done sessions are ignored.
            rng: the source of randomness for choices, purchases and new candidates.

        Returns:
            The per-session outcome; states and candidates are updated in place.

        Raises:
            ConfigError: invalid actions (see :meth:`validate_actions`).

        """
        cat, cfg, sh = self.catalog, self.config, self.shoppers
        actions = self.validate_actions(actions)
        b = self.n_sessions
        rewards = np.zeros(b)
        clicked_rank = np.full(b, -1, dtype=np.int64)
        clicked_row = np.full(b, -1, dtype=np.int64)
        purchased = np.zeros(b, dtype=bool)
        price = np.zeros(b)
        terminated = np.zeros(b, dtype=bool)
        truncated = np.zeros(b, dtype=bool)
        live = np.flatnonzero(~self.done)
        if live.size == 0:
            return StepResult(
                rewards, clicked_rank, clicked_row, purchased, price, terminated, truncated
            )

        shown = self.candidate_ids[live[:, None], actions[live]]  # (m, k)
        u = self.utilities(live, shown)
        probs = choice_probabilities(u, self._weights, cfg.no_click_utility)
        rank = sample_choice(probs, rng)
        clicked = rank >= 0
        c_idx = np.flatnonzero(clicked)
        c_sess = live[c_idx]
        c_rows = shown[c_idx, rank[c_idx]]
        c_quality = self.quality[c_rows]
        c_util = u[c_idx, rank[c_idx]] + cfg.clickbait_appeal * c_quality  # core utility
        c_price = cat.price[c_rows]
        p_buy = sigmoid(
            cfg.purchase_bias + c_util - sh.price_sensitivity[c_sess] * cat.log_price[c_rows]
        )
        buy = rng.random(c_idx.size) < p_buy

        clicked_rank[live] = rank
        clicked_row[c_sess] = c_rows
        price[c_sess] = c_price
        purchased[c_sess] = buy
        if cfg.reward == "clicks":
            rewards[c_sess] = 1.0
        else:
            rewards[c_sess] = np.where(buy, c_price, 0.0)

        # Boredom: decay, then every showing and every click of a (category, colour) pair adds.
        self.boredom[live] *= cfg.boredom_decay
        np.add.at(
            self.boredom,
            (np.repeat(live, shown.shape[1]), cat.pair[shown].ravel()),
            cfg.boredom_shown,
        )
        np.add.at(self.boredom, (c_sess, cat.pair[c_rows]), cfg.boredom_click)

        # Taste drift toward the clicked item's attribute values.
        if cfg.drift_rate > 0 and c_sess.size:
            target = 2.0 * cfg.taste_scale
            for taste, codes in zip(sh.taste, cat.codes, strict=True):
                taste[c_sess] *= 1.0 - cfg.drift_rate
                taste[c_sess, codes[c_rows]] += cfg.drift_rate * target

        # Click history (recency-weighted mean of clicked vectors).
        self.hist_sum[live] *= self._hist_decay
        self.hist_weight[live] *= self._hist_decay
        self.hist_sum[c_sess] += cat.vectors[c_rows]
        self.hist_weight[c_sess] += 1.0

        # Time budget: empty slates cost more, satisfying clicks refund part of the step and
        # high-quality ones more (clickbait, q < 0, drains it): the long-term effect.
        cost = np.full(live.size, cfg.step_cost)
        cost[~clicked] += cfg.no_click_cost
        cost[c_idx] -= cfg.click_refund * sigmoid(c_util) + cfg.quality_budget * c_quality
        # Slates of near-duplicates tire the shopper whatever the click: a long-term cost that
        # per-item (myopic) scoring does not see.
        pairs = np.sort(cat.pair[shown], axis=1)
        repeats = (pairs[:, 1:] == pairs[:, :-1]).sum(axis=1)
        cost += cfg.repetition_cost * repeats
        self.budget[live] -= cost
        self.steps[live] += 1
        term = self.budget[live] <= 0.0
        trunc = ~term & (self.steps[live] >= cfg.max_steps)
        terminated[live] = term
        truncated[live] = trunc
        self.done[live] = term | trunc

        self._update_states(live)
        still = live[~(term | trunc)]
        if still.size:
            self._refresh_candidates(still, rng)
        return StepResult(
            rewards, clicked_rank, clicked_row, purchased, price, terminated, truncated
        )

    # ------------------------------------------------------------------ helpers
    def _update_states(self, sessions: np.ndarray) -> None:
        cat, cfg, sh = self.catalog, self.config, self.shoppers
        has_hist = self.hist_weight[sessions] > 0
        hist = self.hist_sum[sessions] / np.maximum(self.hist_weight[sessions], 1e-12)[:, None]
        hist /= np.maximum(np.linalg.norm(hist, axis=1, keepdims=True), 1e-12)
        query = sh.query_vector[sessions].astype(np.float64)
        has_q = sh.has_query[sessions]
        w = np.where(has_hist & has_q, cfg.query_weight, np.where(has_q, 1.0, 0.0))[:, None]
        state = w * query + (1.0 - w) * hist
        cold = ~has_hist & ~has_q
        state[cold] = cat.cold_vector
        state /= np.maximum(np.linalg.norm(state, axis=1, keepdims=True), 1e-12)
        self.states[sessions] = np.clip(state, -1.0, 1.0).astype(np.float32)

    def _refresh_candidates(self, sessions: np.ndarray, rng: np.random.Generator) -> None:
        cat, cfg = self.catalog, self.config
        n, p = cfg.n_candidates, cat.n_products
        if self.candidate_fn is not None:
            for s in sessions:
                self.candidate_ids[s] = self._custom_candidates(
                    self.candidate_fn, self.states[s], rng
                )
            return
        n_top = n - cfg.n_random_candidates
        m = sessions.size
        scores = self.states[sessions] @ cat.vectors.T  # (m, P)
        if n_top < p:
            top = np.argpartition(-scores, n_top - 1, axis=1)[:, :n_top]
        else:
            top = np.broadcast_to(np.arange(p), (m, p)).copy()
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        if cfg.n_random_candidates:
            top = np.concatenate([top, self._random_rows(top, rng)], axis=1)
        self.candidate_ids[sessions] = top

    def _random_rows(self, taken: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n_random_candidates`` distinct rows per session, none in ``taken`` (m, t)."""
        m, r, p = taken.shape[0], self.config.n_random_candidates, self.catalog.n_products
        if p >= 4 * (taken.shape[1] + r):
            # Rejection sampling: redraw the rows with any collision (cheap when p >> n).
            rand = rng.integers(0, p, size=(m, r))
            for _ in range(64):
                merged = np.sort(np.concatenate([taken, rand], axis=1), axis=1)
                clash = (merged[:, 1:] == merged[:, :-1]).any(axis=1)
                if not clash.any():
                    return rand
                rand[clash] = rng.integers(0, p, size=(int(clash.sum()), r))
        keys = rng.random((m, p))
        np.put_along_axis(keys, taken, np.inf, axis=1)
        return np.argpartition(keys, r - 1, axis=1)[:, :r]

    def _custom_candidates(
        self, fn: CandidateFn, state: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        n, p = self.config.n_candidates, self.catalog.n_products
        got = np.asarray(fn(state.copy(), n)).ravel()
        if got.size and got.dtype.kind not in "iu":
            raise ConfigError(f"candidate_fn: must return integer rows, got dtype {got.dtype}")
        got = got.astype(np.int64)
        if np.any(got >= p):
            raise ConfigError(f"candidate_fn: returned row {int(got.max())} >= {p} products")
        got = got[got >= 0]
        _, first = np.unique(got, return_index=True)
        rows = got[np.sort(first)][:n]
        if rows.size < n:
            pool = np.setdiff1d(np.arange(p), rows, assume_unique=False)
            extra = rng.choice(pool, size=n - rows.size, replace=False)
            rows = np.concatenate([rows, extra])
        return rows

    # ------------------------------------------------------------------ rollout
    def run(self, policy_fn: PolicyFn, n_sessions: int, seed: int | None = 0) -> SessionStats:
        """Roll out ``n_sessions`` sessions to the end under ``policy_fn``.

        The seed is split into independent streams for shoppers, dynamics and the policy, so
        two policies run with the same seed meet the same shoppers (common random numbers).
        ``policy_fn`` is called each step with the rows of the sessions still running
        (``m <= b`` rows, in session order; their indices are in ``self.policy_rows``).

        Args:
            policy_fn: ``(states (b, d), candidates (b, n, d), rng) -> int (b, k)``.
            n_sessions: batch size ``b``.
            seed: seed of the run.

        Returns:
            Per-session totals.

        """
        import time

        start = time.perf_counter()
        shopper_rng, sim_rng, policy_rng = np.random.default_rng(seed).spawn(3)
        self.reset(n_sessions, shopper_rng)
        b = n_sessions
        returns = np.zeros(b)
        clicks = np.zeros(b, dtype=np.int64)
        purchases = np.zeros(b, dtype=np.int64)
        value = np.zeros(b)
        intent_clicks = np.zeros(b, dtype=np.int64)
        sessions = np.arange(b)
        actions = np.zeros((b, self.config.k), dtype=np.int64)
        while not self.done.all():
            live = np.flatnonzero(~self.done)
            self.policy_rows = live
            out = policy_fn(
                self.states[live], self.catalog.vectors[self.candidate_ids[live]], policy_rng
            )
            actions[:] = np.arange(self.config.k)
            actions[live] = out
            res = self.step(actions, sim_rng)
            returns += res.rewards
            clicked = res.clicked_row >= 0
            clicks += clicked
            purchases += res.purchased
            value += np.where(res.purchased, res.price, 0.0)
            rows = np.maximum(res.clicked_row, 0)[:, None]
            intent_clicks += (
                clicked & matches_intent(self.catalog, self.shoppers, sessions, rows)[:, 0]
            )
        self.policy_rows = np.arange(b)
        return SessionStats(
            returns=returns,
            clicks=clicks,
            purchases=purchases,
            purchase_value=value,
            lengths=self.steps.copy(),
            intent_clicks=intent_clicks,
            has_intent=self.shoppers.has_intent.copy(),
            seconds=time.perf_counter() - start,
        )


def run_sessions(
    policy_fn: PolicyFn,
    n_sessions: int,
    seed: int | None,
    k: int | None = None,
    *,
    latent: pd.DataFrame,
    product_vectors: np.ndarray,
    config: SimConfig | None = None,
    query_encoder: QueryEncoder | None = None,
    candidate_fn: CandidateFn | None = None,
) -> SessionStats:
    """Build a :class:`SimBatch` and roll out ``n_sessions`` sessions under ``policy_fn``.

    Args:
        policy_fn: ``(states (b, d), candidates (b, n, d), rng) -> int (b, k)``.
        n_sessions: number of sessions ``b``.
        seed: seed of the run.
        k: slate size; overrides ``config.k`` when given.
        latent: latent table of the demo store.
        product_vectors: ``(P, d)`` product vectors.
        config: simulator settings.
        query_encoder: see :class:`SimBatch`.
        candidate_fn: see :class:`SimBatch`.

    Returns:
        Per-session returns, clicks, purchases, purchase value, lengths.

    """
    cfg = config if config is not None else SimConfig()
    if k is not None and k != cfg.k:
        cfg = SimConfig(**{**cfg.model_dump(), "k": k})
    sim = SimBatch(
        latent, product_vectors, cfg, query_encoder=query_encoder, candidate_fn=candidate_fn
    )
    return sim.run(policy_fn, n_sessions, seed)


def random_policy(k: int) -> PolicyFn:
    """Uniformly random slates of ``k`` distinct positions (a baseline)."""

    def policy(states: np.ndarray, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        keys = rng.random(candidates.shape[:2])
        return np.argpartition(keys, k - 1, axis=1)[:, :k]

    return policy


def oracle_policy(sim: SimBatch, *, diverse: bool = False, quality: float = 0.0) -> PolicyFn:
    """Policy that reads the simulator's true current utilities (an upper-bound baseline).

    Args:
        sim: the simulator whose sessions the policy serves.
        diverse: ``False``: top-k current utility (myopic; near-duplicates allowed).
            ``True``: greedy top utility with at most one item per (category, colour) pair,
            which spares the shopper boredom.
        quality: weight of the products' latent quality added to the click utility.
            ``0``: a myopic click maximiser (it favours clickbait); ``> 0``: quality-aware,
            trading some immediate appeal for longer sessions.

    Returns:
        A ``PolicyFn`` for ``sim.run``.

    """
    k = sim.config.k

    def policy(states: np.ndarray, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = sim.oracle_utilities()
        if quality:
            u = u + quality * sim.quality[sim.candidate_ids[sim.policy_rows]]
        if not diverse:
            top = np.argpartition(-u, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(u, top, axis=1), axis=1)
            return np.take_along_axis(top, order, axis=1)
        pairs = sim.catalog.pair[sim.candidate_ids[sim.policy_rows]]
        u = u.copy()
        out = np.empty((u.shape[0], k), dtype=np.int64)
        rows = np.arange(u.shape[0])
        for r in range(k):
            best = np.argmax(u, axis=1)
            out[:, r] = best
            same = pairs == pairs[rows, best][:, None]
            # Same-pair items fall behind every fresh pair but stay eligible as a fallback.
            u = np.where(same, u - 1e6, u)
            u[rows, best] = -np.inf
        return out

    return policy
