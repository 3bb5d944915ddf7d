"""Sponsored slots: a slate layout in which some positions show paid products (ads).

A shop names its ad positions (``[sponsored] positions = [2, 6]``, 0-based slots; default
none, so a shop without ads is served exactly as before). Products carry a ``sponsored`` flag
and a ``bid`` (cost per click) in the catalog. With positions configured, a slate of ``k``
items is laid out as:

1. **which slots are ads** is fixed by the counts alone: the configured positions below ``k``,
   as many as there are sponsored candidates (earliest positions first). A position with no
   sponsored candidate left falls back to organic. If the organic candidates are too few for
   the organic slots, the last organic slots are filled from the sponsored pool and labelled
   as ads (every shown ad is labelled, never hidden among organic results);
2. **organic slots** are filled, in display order, by a Plackett-Luce draw over the *organic*
   candidates from the policy's own logits (sponsored products never appear in organic slots);
3. **sponsored slots** are filled by a Plackett-Luce draw over the *sponsored* candidates from
   ``policy logits + bid_weight * log(bid)``: ``bid_weight = 0`` ranks ads by relevance alone,
   ``1`` by expected revenue (``P(click) * bid``, the eCPM ranking of ad auctions), values in
   between squash the bids (Lahaie & Pennock, 2007).

Propensities are logged like every other slot: the propensity of the item at slot ``j`` is its
probability given the items at slots ``< j`` (within its own pool; the two draws are
independent given the policy's logits and, for mixture policies such as LinTS, the mixture is
taken over the whole slate), so the product of a slate's propensities is its probability, as
for :meth:`agent.policy.SlatePolicy.select`. :meth:`SponsoredLayout.action_dist` gives the
position-wise marginals ``(n, k)`` that :mod:`shelfwise.evaluate` reads, so the off-policy
estimators cover sponsored slots.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError

__all__ = ["MIN_BID", "LaidOutSlate", "SponsoredLayout", "layout_propensities"]

MIN_BID = 1e-6
"""Bids below this count as this in ``log(bid)`` (a zero bid keeps a finite, tiny weight)."""


@dataclass(frozen=True)
class LaidOutSlate:
    """A slate with sponsored slots.

    Attributes:
        slate: an :class:`agent.policy.Slate`: ``item_ids`` int64 ``(k,)`` positions into the
            candidate matrix in display order, ``scores`` float64 ``(k,)`` the logits each item
            was drawn from (bid blend included for ads), ``propensities`` float64 ``(k,)``.
        ads: bool ``(k,)``: True where the slot shows a sponsored product as an ad.

    """

    slate: Any
    ads: np.ndarray


def _as_positions(value: Iterable[Any] | None) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        raise ConfigError(f"sponsored positions must be a list of slot numbers, got {value!r}")
    out: list[int] = []
    for p in value:
        if isinstance(p, bool) or not isinstance(p, int | np.integer) or int(p) < 0:
            raise ConfigError(f"sponsored positions must be 0-based slot numbers >= 0, got {p!r}")
        out.append(int(p))
    if len(set(out)) != len(out):
        raise ConfigError(f"sponsored positions must be distinct, got {out}")
    return tuple(sorted(out))


@dataclass(frozen=True)
class SponsoredLayout:
    """Where ads go in a slate and how they are ranked (see the module docstring).

    Args:
        positions: 0-based slots reserved for ads; empty = no ads (the default).
        bid_weight: exponent of the bid in the ads' weights, ``>= 0``, finite.

    Raises:
        ConfigError: a negative, repeated or non-integer position, or a bad ``bid_weight``.

    """

    positions: tuple[int, ...] = ()
    bid_weight: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", _as_positions(self.positions))
        try:
            w = float(self.bid_weight)
        except (TypeError, ValueError):
            raise ConfigError(f"sponsored bid_weight must be a number, got "
                              f"{self.bid_weight!r}") from None
        if not math.isfinite(w) or w < 0:
            raise ConfigError(f"sponsored bid_weight must be finite and >= 0, got {w}")
        object.__setattr__(self, "bid_weight", w)

    @classmethod
    def from_config(cls, config: Any) -> SponsoredLayout:
        """Build from the ``[sponsored]`` config section (or a mapping of its keys).

        Args:
            config: a :class:`shelfwise.config.SponsoredConfig`, or a mapping with
                ``positions`` and ``bid_weight``.
        """
        if isinstance(config, Mapping):
            bad = sorted(set(config) - {"positions", "bid_weight"})
            if bad:
                raise ConfigError(f"unknown [sponsored] key(s) {bad}; valid keys: positions, "
                                  "bid_weight")
            return cls(tuple(config.get("positions", ())), config.get("bid_weight", 0.0))
        return cls(tuple(config.positions), float(config.bid_weight))

    @property
    def enabled(self) -> bool:
        """Whether any slot is reserved for ads."""
        return bool(self.positions)

    # ------------------------------------------------------------------ structure
    def ad_slots(self, k: int, n_organic: int, n_sponsored: int) -> np.ndarray:
        """Which of ``k`` slots show ads, given the pool sizes.

        Args:
            k: slate size, ``<= n_organic + n_sponsored``.
            n_organic: organic candidates.
            n_sponsored: sponsored candidates.

        Returns:
            bool ``(k,)``; exactly ``k - min(k, n_organic)`` or more slots are ads, and never
            more than ``n_sponsored``.

        Raises:
            ConfigError: ``k`` exceeds the candidates.

        """
        if k > n_organic + n_sponsored:
            raise ConfigError(f"k ({k}) exceeds the {n_organic + n_sponsored} candidates")
        ads = np.zeros(k, dtype=bool)
        usable = [p for p in self.positions if p < k][:n_sponsored]
        ads[usable] = True
        short = int(k - ads.sum()) - n_organic
        if short > 0:  # too few organic products: the last organic slots show (labelled) ads
            free = np.flatnonzero(~ads)
            ads[free[-short:]] = True
        return ads

    def pool_logits(self, logits: np.ndarray, sponsored: np.ndarray,
                    bids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Split policy logits into the organic and the sponsored pool's logits.

        Args:
            logits: float ``(n,)`` or ``(m, n)`` (an equal mixture of ``m`` components).
            sponsored: bool ``(n,)``: which candidates are sponsored.
            bids: float ``(n,)`` cost per click (read for sponsored candidates only); may be
                None when ``bid_weight == 0``.

        Returns:
            ``(organic (m, n), ads (m, n))``: ``-inf`` outside each pool; the ads' logits add
            ``bid_weight * log(max(bid, MIN_BID))``.

        Raises:
            ConfigError: shapes that disagree, or missing/negative/non-finite bids.

        """
        lg = np.atleast_2d(np.asarray(logits, dtype=np.float64))
        sp = np.asarray(sponsored, dtype=bool).reshape(-1)
        if sp.shape[0] != lg.shape[1]:
            raise ConfigError(f"sponsored has {sp.shape[0]} flags for {lg.shape[1]} candidates")
        organic = np.where(sp[None, :], -np.inf, lg)
        ads = np.where(sp[None, :], lg, -np.inf)
        if self.bid_weight and sp.any():
            if bids is None:
                raise ConfigError("bid_weight > 0 needs the candidates' bids")
            b = np.asarray(bids, dtype=np.float64).reshape(-1)
            if b.shape[0] != sp.shape[0]:
                raise ConfigError(f"bids has {b.shape[0]} values for {sp.shape[0]} candidates")
            if not np.all(np.isfinite(b[sp])) or np.any(b[sp] < 0):
                raise ConfigError("bids of sponsored candidates must be finite and >= 0")
            boost = self.bid_weight * np.log(np.maximum(np.where(sp, b, 1.0), MIN_BID))
            ads = ads + boost[None, :]
        return organic, ads

    # ------------------------------------------------------------------ acting
    def select(self, logits: np.ndarray, sponsored: np.ndarray, k: int,
               rng: np.random.Generator, *, bids: np.ndarray | None = None,
               policy: str = "policy", version: str = "0") -> LaidOutSlate:
        """Lay out and sample one slate.

        Args:
            logits: the policy's Plackett-Luce logits over the candidates, ``(n,)`` or
                ``(m, n)`` (e.g. ``SlatePolicy.logits``, or the served blend with a prior).
            sponsored: bool ``(n,)``.
            k: slate size, ``1 <= k <= n``.
            rng: all randomness of the draw.
            bids: float ``(n,)`` cost per click (needed when ``bid_weight > 0``).
            policy: name logged with the slate.
            version: policy version logged with the slate.

        Returns:
            The slate (conditional per-slot propensities) and its ad flags.

        Raises:
            ConfigError: ``k`` out of range or inputs that disagree.

        """
        from agent.policy.base import Slate, sample_plackett_luce

        org, adl = self.pool_logits(logits, sponsored, bids)
        n = org.shape[1]
        if isinstance(k, bool) or not 1 <= int(k) <= n:
            raise ConfigError(f"k must be between 1 and the number of candidates ({n}), got {k}")
        sp = np.asarray(sponsored, dtype=bool).reshape(-1)
        n_sp = int(sp.sum())
        ads = self.ad_slots(int(k), n - n_sp, n_sp) if self.enabled else np.zeros(k, bool)
        if not self.enabled:
            # no ad slots: every candidate competes for every slot, as without this layout
            org = np.atleast_2d(np.asarray(logits, dtype=np.float64))
        comp = int(rng.integers(org.shape[0])) if org.shape[0] > 1 else 0
        n_ads = int(ads.sum())
        org_draw = sample_plackett_luce(org[comp], int(k) - n_ads, rng)
        ad_draw = sample_plackett_luce(adl[comp], n_ads, rng) if n_ads else org_draw[:0]
        order = np.empty(int(k), dtype=np.int64)
        order[~ads] = org_draw
        order[ads] = ad_draw
        props = layout_propensities(org, adl, order, ads)
        props = np.clip(props, np.finfo(np.float64).tiny, 1.0)
        both = np.where(ads[:, None], adl[:, order].T, org[:, order].T)  # (k, m)
        scores = both.mean(axis=1)
        slate = Slate(item_ids=order, scores=scores, propensities=props, policy=policy,
                      version=version)
        return LaidOutSlate(slate, ads)

    def action_dist(self, logits: np.ndarray, sponsored: np.ndarray, k: int, *,
                    bids: np.ndarray | None = None, n_samples: int = 4000,
                    seed: int = 0) -> np.ndarray:
        """Position-wise marginals of :meth:`select`: ``P(candidate a at slot p)``.

        Exact where :func:`agent.policy.base.plackett_luce_marginals` is (a pool's first two
        draws of a single logit vector), else Monte Carlo with a fixed seed.

        Returns:
            float64 ``(n, k)`` (the layout :mod:`shelfwise.evaluate` reads); each column sums
            to 1.

        """
        from agent.policy.base import plackett_luce_marginals

        org, adl = self.pool_logits(logits, sponsored, bids)
        n = org.shape[1]
        sp = np.asarray(sponsored, dtype=bool).reshape(-1)
        n_sp = int(sp.sum())
        if not self.enabled:
            lg = np.atleast_2d(np.asarray(logits, dtype=np.float64))
            return plackett_luce_marginals(lg, k, n_samples=n_samples, seed=seed).T.copy()
        ads = self.ad_slots(int(k), n - n_sp, n_sp)
        out = np.zeros((n, int(k)))
        for pool, lg in ((False, org), (True, adl)):
            slots = np.flatnonzero(ads == pool)
            if slots.size:
                marg = plackett_luce_marginals(lg, int(slots.size), n_samples=n_samples,
                                               seed=seed)
                out[:, slots] = marg.T
        return out


def layout_propensities(organic: np.ndarray, ads_logits: np.ndarray, order: np.ndarray,
                        ads: np.ndarray) -> np.ndarray:
    """Per-slot propensities of a laid-out slate, in display order.

    Slot ``j``'s item is drawn from its pool (organic or ads) without the pool's earlier
    items; for an ``m``-component mixture the prefix probabilities are averaged over the
    components (so each propensity is ``P(slots <= j) / P(slots < j)``).

    Args:
        organic: float ``(m, n)`` organic pool logits (``-inf`` outside the pool).
        ads_logits: float ``(m, n)`` ad pool logits (``-inf`` outside the pool).
        order: int ``(k,)`` candidate positions in display order.
        ads: bool ``(k,)`` which slots draw from the ad pool.

    Returns:
        float64 ``(k,)`` in ``[0, 1]``; their product is the slate's probability.

    """
    pools = (np.atleast_2d(np.asarray(organic, np.float64)),
             np.atleast_2d(np.asarray(ads_logits, np.float64)))
    alive = [np.isfinite(p) for p in pools]
    m = pools[0].shape[0]
    log_prefix = np.zeros(m)
    prev = 0.0
    props = np.empty(len(order))
    for j, a in enumerate(np.asarray(order, dtype=np.int64)):
        w = int(bool(ads[j]))
        lg, live = pools[w], alive[w]
        rem = np.where(live, lg, -np.inf)
        mx = np.max(rem, axis=1, keepdims=True)
        mx = np.where(np.isfinite(mx), mx, 0.0)
        with np.errstate(divide="ignore"):
            lse = mx[:, 0] + np.log(np.sum(np.exp(rem - mx), axis=1))
        log_prefix = log_prefix + lg[:, a] - lse
        live[:, a] = False
        top = np.max(log_prefix)
        cur = top + np.log(np.mean(np.exp(log_prefix - top))) if np.isfinite(top) else -np.inf
        props[j] = np.exp(cur - prev) if np.isfinite(cur) else 0.0
        prev = cur
    return np.clip(props, 0.0, 1.0)
