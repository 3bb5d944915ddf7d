"""The shopper simulator with sponsored slots: ads, ad revenue and annoyance.

:class:`SponsoredSimBatch` is a :class:`~shelfwise.sim.vector_env.SimBatch` whose catalogue has
sponsored products with bids (:func:`~shelfwise.sim.shoppers.sponsored_catalog`: a seeded
share ``SimConfig.sponsored_share``, or the latent table's own ``sponsored``/``bid`` columns)
and whose slates have ad ranks (``SimConfig.sponsored_positions``). A sponsored product shown
at an ad rank is an *ad*:

* a click on it earns its bid (the ``ad_revenue`` reward component);
* when it is irrelevant to the shopper (core utility below ``SimConfig.sponsored_relevance``)
  the shopper is annoyed: the session's time budget loses ``SimConfig.sponsored_annoyance``
  per irrelevant ad, so sessions end sooner (the long-term cost of ads).

Each step's reward is a :class:`~shelfwise.rewards.RewardWeights` weighting of the step's
:class:`~shelfwise.rewards.RewardComponents` (default: the simulator's own ``SimConfig.reward``,
so with no ads the rewards are those of the plain simulator); the components of the last step
are in :attr:`SponsoredSimBatch.last_components` and per-session totals in
:attr:`SponsoredSimBatch.totals`.

:func:`layout_policy_fn` drives a :class:`agent.policy.SlatePolicy` through a
:class:`~shelfwise.sponsored.SponsoredLayout` (organic slots from organic candidates, ad slots
from sponsored ones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from shelfwise.rewards import RewardComponents, RewardWeights, step_components
from shelfwise.sim.config import SimConfig
from shelfwise.sim.shoppers import QueryEncoder, irrelevant_ads, sponsored_catalog
from shelfwise.sim.vector_env import CandidateFn, PolicyFn, SessionStats, SimBatch, StepResult
from shelfwise.sponsored import LaidOutSlate, SponsoredLayout

__all__ = ["COMPONENTS", "SponsoredSimBatch", "layout_policy_fn"]

COMPONENTS: tuple[str, ...] = ("click", "purchase", "purchase_value", "ad_revenue", "retention",
                               "annoyance")
"""Per-session totals kept in :attr:`SponsoredSimBatch.totals`."""


class SponsoredSimBatch(SimBatch):
    """``b`` shopper sessions with sponsored products, ad ranks and annoyance.

    Args:
        latent: latent table (row ``i`` = ``product_vectors[i]``); optional ``sponsored``
            and ``bid`` columns.
        product_vectors: ``(P, d)`` product vectors.
        config: simulator settings (the ``sponsored_*`` and ``bid_range`` fields).
        reward: weighting of the reward components; default
            ``RewardWeights.for_sim(config.reward)``.
        query_encoder: see :class:`SimBatch`.
        candidate_fn: see :class:`SimBatch`.

    Raises:
        CatalogError: invalid latent table, vectors, or ``sponsored``/``bid`` columns.
        ConfigError: the catalogue is smaller than ``n_candidates``.

    """

    def __init__(self, latent: pd.DataFrame, product_vectors: np.ndarray,
                 config: SimConfig | None = None, *, reward: RewardWeights | None = None,
                 query_encoder: QueryEncoder | None = None,
                 candidate_fn: CandidateFn | None = None) -> None:
        super().__init__(latent, product_vectors, config, query_encoder=query_encoder,
                         candidate_fn=candidate_fn)
        self.sponsored, self.bids = sponsored_catalog(latent.reset_index(drop=True), self.config)
        """``bool (P,)`` sponsored products and ``float64 (P,)`` their bids (0 if organic)."""
        self.reward_weights = reward if reward is not None else RewardWeights.for_sim(
            self.config.reward)
        self.ad_ranks = np.zeros(self.config.k, dtype=bool)
        """``bool (k,)`` slate ranks that show ads."""
        self.ad_ranks[list(self.config.sponsored_positions)] = True
        self.last_components: RewardComponents | None = None
        """The reward components of the last :meth:`step`."""
        self.last_ads: np.ndarray = np.zeros((0, self.config.k), dtype=bool)
        """``bool (b, k)`` which ranks showed an ad at the last step."""
        self.totals: dict[str, np.ndarray] = {}
        """Per-session sums of every component since :meth:`reset` (``COMPONENTS``)."""

    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Start ``n_sessions`` sessions (see :meth:`SimBatch.reset`) and zero the totals."""
        super().reset(n_sessions, rng)
        self.totals = {name: np.zeros(n_sessions) for name in COMPONENTS}
        self.last_components = None
        self.last_ads = np.zeros((n_sessions, self.config.k), dtype=bool)

    def ads_shown(self, sessions: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Which shown items are ads: sponsored products at ad ranks.

        Args:
            sessions: int ``(m,)`` session indices.
            actions: int ``(m, k)`` candidate positions shown.

        Returns:
            bool ``(m, k)``.

        """
        shown = self.candidate_ids[np.asarray(sessions)[:, None], np.asarray(actions)]
        return self.sponsored[shown] & self.ad_ranks[None, :]

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> StepResult:
        """Advance every active session one step (see the module docstring for the ads).

        Clicked ads earn their bid; irrelevant ads drain the session's budget.

        Returns:
            The step (``rewards`` = the weighted components).

        Raises:
            ConfigError: invalid actions.

        """
        cfg = self.config
        acts = self.validate_actions(actions)
        b = self.n_sessions
        live = np.flatnonzero(~self.done)
        was_live = ~self.done.copy()
        ads = np.zeros((b, cfg.k), dtype=bool)
        annoy = np.zeros(b)
        if live.size and self.ad_ranks.any():
            ads[live] = self.ads_shown(live, acts[live])
            if ads[live].any():
                shown = self.candidate_ids[live[:, None], acts[live]]
                # before the step: clicks change boredom and tastes
                annoy[live] = irrelevant_ads(self.core_utilities(live, shown), ads[live], cfg)
        res = super().step(acts, rng)
        term, trunc = res.terminated.copy(), res.truncated.copy()
        if annoy.any() and cfg.sponsored_annoyance > 0:
            self.budget[live] -= cfg.sponsored_annoyance * annoy[live]
            ended = live[(self.budget[live] <= 0.0) & ~term[live]]
            term[ended] = True
            trunc[ended] = False
            self.done[ended] = True
        res = replace(res, terminated=term, truncated=trunc)
        comp = step_components(res, active=was_live, bids=self.bids, ads=ads, annoyance=annoy)
        self.last_components = comp
        self.last_ads = ads
        for name in COMPONENTS:
            self.totals[name] += getattr(comp, name)
        return replace(res, rewards=np.where(was_live, self.reward_weights.combine(comp), 0.0))

    def run_components(self, policy_fn: PolicyFn, n_sessions: int,
                       seed: int | None = 0) -> tuple[SessionStats, dict[str, np.ndarray]]:
        """Roll out ``n_sessions`` sessions (see :meth:`SimBatch.run`).

        Returns:
            ``(stats, totals)``: the session stats and per-session sums of every component,
            float64 ``(b,)`` each (``COMPONENTS``).

        """
        stats = self.run(policy_fn, n_sessions, seed)
        return stats, {k: v.copy() for k, v in self.totals.items()}


def layout_policy_fn(sim: SponsoredSimBatch, policy: Any, layout: SponsoredLayout, *,
                     on_slate: Callable[[int, np.ndarray, LaidOutSlate], None] | None = None
                     ) -> PolicyFn:
    """A ``PolicyFn`` that serves ``policy`` through ``layout`` in ``sim``.

    Each session's candidates are split by ``sim.sponsored``; the policy's logits
    (``policy.logits(state, candidates, rng)``) rank the organic pool, and blended with
    ``sim.bids`` the ads' pool (:meth:`SponsoredLayout.select`).

    Args:
        sim: the simulator (its ``policy_rows`` and ``candidate_ids`` say whose candidates).
        policy: an :class:`agent.policy.SlatePolicy`.
        layout: where ads go; use ``SponsoredLayout(sim.config.sponsored_positions, ...)``
            so that the simulator labels the same ranks as ads.
        on_slate: called with ``(session, logits (m, n), laid-out slate)`` for every slate
            (e.g. to log propensities for off-policy evaluation).

    Returns:
        ``(states (m, d), candidates (m, n, d), rng) -> int (m, k)``.

    """
    k = sim.config.k

    def fn(states: np.ndarray, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rows = sim.policy_rows
        out = np.empty((states.shape[0], k), dtype=np.int64)
        for i in range(states.shape[0]):
            ids = sim.candidate_ids[rows[i]]
            logits = np.atleast_2d(policy.logits(states[i], candidates[i], rng))
            laid = layout.select(logits, sim.sponsored[ids], k, rng, bids=sim.bids[ids],
                                 policy=str(getattr(policy, "name", "policy")))
            out[i] = laid.slate.item_ids
            if on_slate is not None:
                on_slate(int(rows[i]), logits, laid)
        return out

    return fn
